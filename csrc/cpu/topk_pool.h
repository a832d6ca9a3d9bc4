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
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace wtal::cpu {

namespace pool_detail {

// a ranks strictly above b in descending order with NaN largest.
template <typename V>
inline bool greater(V a, V b) {
  if (std::isnan(a)) return !std::isnan(b);
  return a > b;  // false when b is NaN
}

template <typename V>
struct Item {
  V v;
  int32_t t;
};

// Strict weak order: a comes before b in the top-k order.
template <typename V>
inline bool before(const Item<V>& a, const Item<V>& b) {
  if (greater(a.v, b.v)) return true;
  if (greater(b.v, a.v)) return false;
  return a.t < b.t;
}

// True iff (v, t) is at or before the cutoff (cv, ct), i.e. it was selected.
template <typename V>
inline bool selected(V v, int32_t t, V cv, int32_t ct) {
  if (greater(v, cv)) return true;
  if (greater(cv, v)) return false;
  return t <= ct;
}

// Partially orders items[0..n) so that items[0..k) are the selected ones; returns their sum in double
// and leaves the cutoff (the k-th element of the order) in items[k - 1]. Requires 1 <= k <= n.
template <typename V>
inline double select_topk(Item<V>* items, int64_t n, int64_t k) {
  std::nth_element(items, items + (k - 1), items + n, before<V>);
  double sum = 0.0;
  for (int64_t i = 0; i < k; ++i) sum += static_cast<double>(items[i].v);
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

// Runs fn(begin, end) over [0, n) on up to hardware_concurrency std::threads; work is the rough number
// of element operations, used to stay single-threaded on small inputs.
template <typename F>
void parallel_for(int64_t n, int64_t work, F&& fn) {
  const int64_t hw = std::max(1u, std::thread::hardware_concurrency());
  const int64_t nt = std::min<int64_t>({hw, n, work / (int64_t{1} << 16) + 1});
  if (nt <= 1) {
    if (n > 0) fn(int64_t{0}, n);
    return;
  }
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(nt);
  const int64_t chunk = (n + nt - 1) / nt;
  for (int64_t i = 0; i < nt; ++i) {
    const int64_t lo = i * chunk, hi = std::min(n, lo + chunk);
    if (lo >= hi) break;
    threads.emplace_back([&, i, lo, hi] {
      try {
        fn(lo, hi);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
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

}  // namespace wtal::cpu
