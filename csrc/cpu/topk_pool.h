// Top-k temporal mean pooling over a padded batch [B, T, C] (CPU kernels).
//
// For each (b, c) the k_b largest values of x[b, :len_b, c] are averaged, with
//   k_b = min(k, len_b)           when k > 0 (fixed k), else
//   k_b = max(1, len_b / ratio)   (integer division; the MIL convention of HAM-Net and W-TALC).
// Order used for selection: descending value, NaN above +inf (as torch.topk/sort), -0 == +0, and ties
// broken by the lowest time index. The selection is saved compactly as the k_b-th element of that order
// per (b, c) (its value and its time index): element (t, v) is selected iff it ranks at or before that
// cutoff. Backward rebuilds the selection from x and the cutoff, so it is dense, deterministic and free
// of atomics.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cpu/parallel.h"

namespace wtal::cpu {

namespace pool_detail {

// Order-preserving unsigned keys: NaN above +inf (as torch.topk/sort), -0 == +0.
inline uint32_t order_key(float v) {
  if (std::isnan(v)) return 0xFFFFFFFFu;
  uint32_t u = 0;
  if (v != 0.0f) std::memcpy(&u, &v, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
inline uint64_t order_key(double v) {
  if (std::isnan(v)) return ~uint64_t{0};
  uint64_t u = 0;
  if (v != 0.0) std::memcpy(&u, &v, sizeof u);
  return (u & (uint64_t{1} << 63)) ? ~u : (u | (uint64_t{1} << 63));
}
inline float key_value(uint32_t k) {
  const uint32_t u = (k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k;
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}
inline double key_value(uint64_t k) {
  const uint64_t top = uint64_t{1} << 63;
  const uint64_t u = (k & top) ? (k & ~top) : ~k;
  double v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

// Rank of (value, time) in the top-k order as one totally ordered integer-like value: larger rank =
// earlier in the order (larger value, then lower time index). Plain integer compares keep the
// selection branch-light.
template <typename V>
struct Rank;
template <>
struct Rank<float> {
  using type = uint64_t;
  static type make(float v, int32_t t) {
    return (static_cast<uint64_t>(order_key(v)) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(t));
  }
  static float value(type r) { return key_value(static_cast<uint32_t>(r >> 32)); }
  static int32_t time(type r) { return static_cast<int32_t>(~static_cast<uint32_t>(r)); }
};
template <>
struct Rank<double> {
  struct type {
    uint64_t key;
    uint32_t inv_t;
    bool operator>(const type& o) const { return key > o.key || (key == o.key && inv_t > o.inv_t); }
  };
  static type make(double v, int32_t t) { return {order_key(v), ~static_cast<uint32_t>(t)}; }
  static double value(type r) { return key_value(r.key); }
  static int32_t time(type r) { return static_cast<int32_t>(~r.inv_t); }
};

// True iff rank r is at or before the cutoff rank, i.e. the element was selected.
template <typename R>
inline bool selected(const R& r, const R& cut) {
  return !(cut > r);
}

// Partially orders ranks[0..n) so that ranks[0..k) are the selected ones; returns their value sum in
// double and leaves the cutoff (the k-th element of the order) in ranks[k - 1]. Requires 1 <= k <= n.
template <typename V>
inline double select_topk(typename Rank<V>::type* ranks, int64_t n, int64_t k) {
  std::nth_element(ranks, ranks + (k - 1), ranks + n, std::greater<>());
  double sum = 0.0;
  for (int64_t i = 0; i < k; ++i) sum += static_cast<double>(Rank<V>::value(ranks[i]));
  return sum;
}

inline int64_t k_of(int64_t len, int64_t k, int64_t ratio) {
  return k > 0 ? std::min(k, len) : std::max<int64_t>(1, len / ratio);
}

// Validates k/ratio and lengths (each in [1, T]); throws std::invalid_argument naming the argument.
inline void check_pool_args(int64_t B, int64_t T, const int64_t* lengths, int64_t k, int64_t ratio) {
  if (k < 0 || (k == 0 && ratio < 1)) throw std::invalid_argument("k must be >= 1 or ratio must be >= 1");
  if (B > 0 && T < 1) throw std::invalid_argument("x must have at least one time step (T >= 1)");
  if (T > INT32_MAX) throw std::invalid_argument("T must be < 2**31");
  if (!lengths) return;
  for (int64_t b = 0; b < B; ++b) {
    if (lengths[b] < 1 || lengths[b] > T) {
      throw std::invalid_argument("lengths must be in [1, T] = [1, " + std::to_string(T) + "], got lengths[" +
                                  std::to_string(b) + "] = " + std::to_string(lengths[b]));
    }
  }
}

// Runs fn(begin, end) over [0, n) (cpu/parallel.h); work is the rough number of element operations:
// only split work worth ~1M element operations per thread.
template <typename F>
void parallel_for(int64_t n, int64_t work, F&& fn) {
  run_parallel(n, work + (int64_t{1} << 20), 0, std::forward<F>(fn), int64_t{1} << 20);
}

}  // namespace pool_detail

// x: [B, T, C]; lengths: [B] or nullptr (all T); exactly one of k > 0 or ratio >= 1 is used (k wins).
// out, cut_val: [B, C]; cut_idx: [B, C] (time index of the cutoff element).
template <typename T>
void topk_pool_forward(const T* x, int64_t B, int64_t Tn, int64_t C, const int64_t* lengths, int64_t k,
                       int64_t ratio, T* out, T* cut_val, int32_t* cut_idx);

// grad: [B, C] -> grad_x: [B, T, C] (every element written; padded steps get 0).
template <typename T>
void topk_pool_backward(const T* grad, const T* x, int64_t B, int64_t Tn, int64_t C, const int64_t* lengths,
                        int64_t k, int64_t ratio, const T* cut_val, const int32_t* cut_idx, T* grad_x);

// HAM-Net's video-score pooling without the softmax: out[b, c] (float64, [B, C]) is the mean of the
// k_b = max(1, len_b / ratio) largest products double(x[b, t, c]) * double(scale[b, t]) over t < len_b,
// summed in float64 in an unspecified order (within k_b ulp-sized roundings of numpy's sort + cumsum;
// the order of the sum is the only difference). x: [B, T, C], scale: [B, T], lengths: [B] in [1, T].
// Throws std::invalid_argument for NaN/inf inside a valid prefix, naming scale_name (checked first,
// all rows) or x_name and the first (row, position).
template <typename TX, typename TS>
void scaled_topk_mean(const TX* x, const TS* scale, int64_t B, int64_t T, int64_t C, const int64_t* lengths,
                      int64_t ratio, double* out, const char* x_name, const char* scale_name);

}  // namespace wtal::cpu
