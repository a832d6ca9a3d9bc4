#include "cpu/topk_pool.h"

#include <atomic>
#include <utility>

namespace wtal::cpu {

using namespace pool_detail;

template <typename T>
void topk_pool_forward(const T* x, int64_t B, int64_t Tn, int64_t C, const int64_t* lengths, int64_t k,
                       int64_t ratio, T* out, T* cut_val, int32_t* cut_idx) {
  check_pool_args(B, Tn, lengths, k, ratio);
  parallel_for(B * C, B * Tn * C * 8, [&](int64_t lo, int64_t hi) {
    std::vector<typename Rank<T>::type> ranks(static_cast<size_t>(Tn));
    for (int64_t bc = lo; bc < hi; ++bc) {
      const int64_t b = bc / C, c = bc % C;
      const int64_t len = lengths ? lengths[b] : Tn;
      const int64_t kb = k_of(len, k, ratio);
      const T* col = x + b * Tn * C + c;
      for (int64_t t = 0; t < len; ++t) ranks[t] = Rank<T>::make(col[t * C], static_cast<int32_t>(t));
      const double sum = select_topk<T>(ranks.data(), len, kb);
      out[bc] = static_cast<T>(sum / static_cast<double>(kb));
      cut_val[bc] = Rank<T>::value(ranks[kb - 1]);
      cut_idx[bc] = Rank<T>::time(ranks[kb - 1]);
    }
  });
}

template <typename T>
void topk_pool_backward(const T* grad, const T* x, int64_t B, int64_t Tn, int64_t C, const int64_t* lengths,
                        int64_t k, int64_t ratio, const T* cut_val, const int32_t* cut_idx, T* grad_x) {
  check_pool_args(B, Tn, lengths, k, ratio);
  parallel_for(B, B * Tn * C * 4, [&](int64_t lo, int64_t hi) {
    std::vector<T> gk(static_cast<size_t>(C));
    std::vector<typename Rank<T>::type> cut(static_cast<size_t>(C));
    for (int64_t b = lo; b < hi; ++b) {
      const int64_t len = lengths ? lengths[b] : Tn;
      const T kb = static_cast<T>(k_of(len, k, ratio));
      // mean's backward divides the incoming gradient by k (as torch does) before the scatter
      for (int64_t c = 0; c < C; ++c) gk[c] = grad[b * C + c] / kb;
      for (int64_t c = 0; c < C; ++c) cut[c] = Rank<T>::make(cut_val[b * C + c], cut_idx[b * C + c]);
      for (int64_t t = 0; t < Tn; ++t) {
        const T* row = x + (b * Tn + t) * C;
        T* grow = grad_x + (b * Tn + t) * C;
        if (t >= len) {
          std::fill(grow, grow + C, T(0));
          continue;
        }
        const int32_t ti = static_cast<int32_t>(t);
        for (int64_t c = 0; c < C; ++c) grow[c] = selected(Rank<T>::make(row[c], ti), cut[c]) ? gk[c] : T(0);
      }
    }
  });
}

namespace {

// Calls fn(b, scratch) for every row b < B on up to hardware_concurrency threads; rows are handed out
// longest first from a shared counter (row costs follow the ragged lengths, so fixed chunks would
// leave one thread with most of the work). Scratch is per thread.
template <typename F>
void for_rows_dynamic(int64_t B, const int64_t* lengths, int64_t work, F&& fn) {
  std::vector<int64_t> order(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) order[b] = b;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
  const int64_t hw = std::max(1u, std::thread::hardware_concurrency());
  const int64_t nt = std::min<int64_t>({hw, B, work / (int64_t{1} << 20) + 1});
  std::atomic<int64_t> next{0};
  std::vector<std::exception_ptr> errors(static_cast<size_t>(std::max<int64_t>(nt, 1)));
  auto worker = [&](int64_t id) {
    std::vector<double> scratch;
    try {
      for (int64_t i = next.fetch_add(1); i < B; i = next.fetch_add(1)) fn(order[i], scratch);
    } catch (...) {
      errors[id] = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (int64_t id = 1; id < nt; ++id) threads.emplace_back(worker, id);
  worker(0);
  for (auto& th : threads) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// First (row, position) with a non-finite value in the valid prefixes of a [B, T, C] array, rows in
// parallel; {-1, -1} if none.
template <typename V>
std::pair<int64_t, int64_t> first_non_finite(const V* v, int64_t B, int64_t T, int64_t C, const int64_t* lengths) {
  std::vector<int64_t> bad(static_cast<size_t>(B), -1);
  int64_t work = 0;
  for (int64_t b = 0; b < B; ++b) work += lengths[b] * C;
  parallel_for(B, work, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      const V* row = v + b * T * C;
      const int64_t n = lengths[b] * C;
      bool ok = true;
      for (int64_t i = 0; i < n; ++i) ok &= std::isfinite(row[i]);  // branch-free: the common case
      if (ok) continue;
      for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(row[i])) {
          bad[b] = i / C;
          break;
        }
      }
    }
  });
  for (int64_t b = 0; b < B; ++b) {
    if (bad[b] >= 0) return {b, bad[b]};
  }
  return {-1, -1};
}

// Branch-free Lomuto partition of v[0, n): moves the values `above` the pivot to the front and returns
// their count (the comparisons on these data are unpredictable; conditional moves are not).
template <bool kOrEqual>
inline int64_t partition_above(double* v, int64_t n, double pivot) {
  int64_t j = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = v[i];
    const bool up = kOrEqual ? x >= pivot : x > pivot;
    v[i] = v[j];
    v[j] = x;
    j += up;
  }
  return j;
}

inline double median3(double a, double b, double c) {
  return std::max(std::min(a, b), std::min(std::max(a, b), c));
}

// Reorders v[0, n) (no NaN) so that v[0, k) holds the k largest values (as a multiset), 1 <= k <= n.
inline void select_top(double* v, int64_t n, int64_t k) {
  while (n > 32 && k < n) {
    const double pivot = median3(v[0], v[n / 2], v[n - 1]);
    const int64_t gt = partition_above<false>(v, n, pivot);
    if (k <= gt) {
      n = gt;
      continue;
    }
    // [gt, n) is <= pivot and holds the pivot itself: split off the values equal to it (progress)
    const int64_t eq = gt + partition_above<true>(v + gt, n - gt, pivot);
    if (k <= eq) return;
    v += eq;
    n -= eq;
    k -= eq;
  }
  if (k < n) std::nth_element(v, v + (k - 1), v + n, std::greater<>());
}

// Sorts v[0, n) in descending order (no NaN): quicksort on branch-free partitions, a rank sort from
// 12 values down. Equal values may end up in any order, which does not change a sum of the values.
inline void sort_desc(double* v, int64_t n) {
  while (n > 12) {
    const double pivot = median3(v[0], v[n / 2], v[n - 1]);
    const int64_t gt = partition_above<false>(v, n, pivot);
    const int64_t eq = gt + partition_above<true>(v + gt, n - gt, pivot);
    sort_desc(v, gt);  // [gt, eq) equals the pivot: already in place
    v += eq;
    n -= eq;
  }
  // n <= 12: each value goes to its rank (larger values first, equal ones in input order), computed
  // with branch-free comparisons
  double out[12];
  for (int64_t i = 0; i < n; ++i) {
    const double x = v[i];
    int64_t r = 0;
    for (int64_t j = 0; j < n; ++j) r += (v[j] > x) | ((v[j] == x) & (j < i));
    out[r] = x;
  }
  std::copy(out, out + n, v);
}

// Sum of the k largest of v[0, n) (1 <= k <= n, no NaN), added from the largest down; reorders v.
// Long columns are first filtered to the values >= a pivot taken from a strided sample (a branch-free
// pass); when at least k values pass, the k largest are all among them (the k-th largest is >= the
// pivot), so the sum is the same, and the selection runs on a fraction of the column.
inline double top_sum_desc(double* v, int64_t n, int64_t k, double* scratch) {
  constexpr int64_t S = 64;
  if (n >= 4 * S && 4 * k <= n) {
    double sample[S];
    const int64_t stride = n / S;
    for (int64_t i = 0; i < S; ++i) sample[i] = v[i * stride];
    const int64_t r = std::min<int64_t>(S - 1, (k * S) / n + 6);  // ~2 sampling sd above the k-th
    std::nth_element(sample, sample + r, sample + S, std::greater<>());
    const double pivot = sample[r];
    int64_t m = 0;
    for (int64_t i = 0; i < n; ++i) {
      scratch[m] = v[i];
      m += v[i] >= pivot;
    }
    if (m >= k) {
      v = scratch;
      n = m;
    }
  }
  select_top(v, n, k);
  sort_desc(v, k);
  double sum = 0.0;
  for (int64_t i = 0; i < k; ++i) sum += v[i];
  return sum;
}

}  // namespace

template <typename TX, typename TS>
void scaled_topk_mean(const TX* x, const TS* scale, int64_t B, int64_t T, int64_t C, const int64_t* lengths,
                      int64_t ratio, double* out, const char* x_name, const char* scale_name) {
  check_pool_args(B, T, lengths, 0, ratio);
  if (B == 0) return;
  if (lengths == nullptr) throw std::invalid_argument("scaled_topk_mean needs lengths");
  for (const auto& [bad, name] : {std::make_pair(first_non_finite(scale, B, T, 1, lengths), scale_name),
                                  std::make_pair(first_non_finite(x, B, T, C, lengths), x_name)}) {
    if (bad.first >= 0) {
      throw std::invalid_argument(std::string(name) + " contains NaN or inf (row " + std::to_string(bad.first) +
                                  ", position " + std::to_string(bad.second) + ")");
    }
  }
  int64_t work = 0;
  for (int64_t b = 0; b < B; ++b) work += lengths[b] * C * 8;
  for_rows_dynamic(B, lengths, work, [&](int64_t b, std::vector<double>& mem) {
    const int64_t len = lengths[b], kb = k_of(len, 0, ratio);
    mem.resize(static_cast<size_t>(len * (C + 1)));
    double* buf = mem.data();             // [C, len]
    double* scratch = buf + len * C;      // [len]
    // transpose to one contiguous column per class: selection then runs on unit-stride data
    for (int64_t t = 0; t < len; ++t) {
      const double s = static_cast<double>(scale[b * T + t]);
      const TX* row = x + (b * T + t) * C;
      for (int64_t c = 0; c < C; ++c) buf[c * len + t] = static_cast<double>(row[c]) * s;
    }
    for (int64_t c = 0; c < C; ++c) {
      out[b * C + c] = top_sum_desc(buf + c * len, len, kb, scratch) / static_cast<double>(kb);
    }
  });
}

#define WTAL_SCALED_TOPK(TX, TS)                                                                              \
  template void scaled_topk_mean<TX, TS>(const TX*, const TS*, int64_t, int64_t, int64_t, const int64_t*, int64_t, \
                                         double*, const char*, const char*);
WTAL_SCALED_TOPK(float, float)
WTAL_SCALED_TOPK(float, double)
WTAL_SCALED_TOPK(double, float)
WTAL_SCALED_TOPK(double, double)
#undef WTAL_SCALED_TOPK

template void topk_pool_forward<float>(const float*, int64_t, int64_t, int64_t, const int64_t*, int64_t, int64_t,
                                       float*, float*, int32_t*);
template void topk_pool_forward<double>(const double*, int64_t, int64_t, int64_t, const int64_t*, int64_t,
                                        int64_t, double*, double*, int32_t*);
template void topk_pool_backward<float>(const float*, const float*, int64_t, int64_t, int64_t, const int64_t*,
                                        int64_t, int64_t, const float*, const int32_t*, float*);
template void topk_pool_backward<double>(const double*, const double*, int64_t, int64_t, int64_t,
                                         const int64_t*, int64_t, int64_t, const double*, const int32_t*,
                                         double*);

}  // namespace wtal::cpu
