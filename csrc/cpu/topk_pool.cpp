#include "cpu/topk_pool.h"

#include "cpu/finite.h"

#include <atomic>
#include <limits>
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

// Branch-free out-of-place three-way partition of v[0, n) around p: values > p go to hi (returns
// their count in *a), values < p are compacted to the front of v itself (count in *b; each write
// lands at or before the position just read), values == p are dropped (n - a - b of them). Two
// stores per value and no loads from the outputs: no chain through memory, unlike an in-place swap.
inline void partition3(double* v, int64_t n, double p, double* hi, int64_t* a, int64_t* b) {
  int64_t na = 0, nb = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = v[i];
    hi[na] = x;
    v[nb] = x;
    na += x > p;
    nb += x < p;
  }
  *a = na;
  *b = nb;
}

inline double median3(double a, double b, double c) {
  return std::max(std::min(a, b), std::min(std::max(a, b), c));
}

// Quickselect for the k largest of v[0, n) (a multiset; 1 <= k <= n, no NaN) with partition3; v and
// tmp (n values) are both clobbered. The pivot is one of the values, so every step drops at least
// one. Returns the sum of the k largest when kSum, else the k-th largest value.
template <bool kSum>
inline double select_largest(double* v, int64_t n, int64_t k, double* tmp) {
  double sum = 0.0;
  while (k < n) {
    const double p = median3(v[0], v[n / 2], v[n - 1]);
    int64_t a, b;
    partition3(v, n, p, tmp, &a, &b);
    if (k <= a) {  // all k among the values > p, now in tmp
      std::swap(v, tmp);
      n = a;
      continue;
    }
    if (kSum) {
      for (int64_t i = 0; i < a; ++i) sum += tmp[i];
    }
    const int64_t e = n - a - b;
    if (k <= a + e) return kSum ? sum + static_cast<double>(k - a) * p : p;
    if (kSum) sum += static_cast<double>(e) * p;
    k -= a + e;
    n = b;
  }
  if (!kSum) return *std::min_element(v, v + n);
  for (int64_t i = 0; i < n; ++i) sum += v[i];
  return sum;
}

}  // namespace

template <typename TX, typename TS>
void scaled_topk_mean(const TX* x, const TS* scale, int64_t B, int64_t T, int64_t C, const int64_t* lengths,
                      int64_t ratio, double* out, const char* x_name, const char* scale_name) {
  check_pool_args(B, T, lengths, 0, ratio);
  if (B == 0) return;
  if (lengths == nullptr) throw std::invalid_argument("scaled_topk_mean needs lengths");
  std::vector<char> bad(static_cast<size_t>(B), 0);
  int64_t work = 0;
  for (int64_t b = 0; b < B; ++b) work += lengths[b] * C * 4;
  for_rows_dynamic(B, lengths, work, [&](int64_t b, std::vector<double>& mem) {
    const int64_t len = lengths[b], kb = k_of(len, 0, ratio);
    const TX* xb = x + b * T * C;
    const TS* sb = scale + b * T;
    if (!all_finite(sb, len) || !all_finite(xb, len * C)) {
      bad[b] = 1;  // reported below, in the documented order
      return;
    }
    // Per class, a pivot that the k-th largest value very likely reaches, from a strided sample: one
    // pass over the class's column then keeps only the values >= pivot (branch-free appends). When
    // at least k values pass, the k largest are all among them (the k-th largest is >= the pivot);
    // else the class is redone on its whole column. Short or top-heavy columns take every value.
    constexpr int64_t S = 64;
    const bool sampled = len >= 4 * S && 4 * kb <= len;
    mem.resize(static_cast<size_t>(C * (len + 1) + C * S + 2 * len));
    double* cand = mem.data();                  // [C, len]: candidates of class c at cand + c * len
    double* pivot = cand + C * len;             // [C]
    double* sample = pivot + C;                 // [C, S]
    double* sd = sample + C * S;                // [len]: the scale in double
    double* tmp = sd + len;                     // [len]: selection scratch
    std::fill(pivot, pivot + C, -std::numeric_limits<double>::infinity());
    if (sampled) {
      const int64_t stride = len / S;
      const int64_t r = std::min<int64_t>(S - 1, (kb * S) / len + 6);  // ~2 sampling sd above the k-th
      for (int64_t i = 0; i < S; ++i) {
        const double s = static_cast<double>(sb[i * stride]);
        const TX* row = xb + i * stride * C;
        for (int64_t c = 0; c < C; ++c) sample[c * S + i] = static_cast<double>(row[c]) * s;
      }
      for (int64_t c = 0; c < C; ++c) pivot[c] = select_largest<false>(sample + c * S, S, r + 1, tmp);
    }
    // One column at a time with the count in a register: the block is small enough to stay in cache,
    // and per-class counters in memory would chain every append through a store and a reload.
    for (int64_t t = 0; t < len; ++t) sd[t] = static_cast<double>(sb[t]);
    for (int64_t c = 0; c < C; ++c) {
      double* col = cand + c * len;
      const double piv = pivot[c];
      const TX* xc = xb + c;
      int64_t n = 0;
      for (int64_t t = 0; t < len; ++t) {
        const double v = static_cast<double>(xc[t * C]) * sd[t];
        col[n] = v;
        n += v >= piv;
      }
      if (n < kb) {  // the sampled pivot was above the k-th largest: take the whole column
        for (int64_t t = 0; t < len; ++t) col[t] = static_cast<double>(xc[t * C]) * sd[t];
        n = len;
      }
      out[b * C + c] = select_largest<true>(col, n, kb, tmp) / static_cast<double>(kb);
    }
  });
  for (int64_t b = 0; b < B; ++b) {
    if (!bad[b]) continue;
    for (const auto& [where, name] : {std::make_pair(first_non_finite(scale, B, T, 1, lengths), scale_name),
                                      std::make_pair(first_non_finite(x, B, T, C, lengths), x_name)}) {
      if (where.first >= 0) {
        throw std::invalid_argument(std::string(name) + " contains NaN or inf (row " +
                                    std::to_string(where.first) + ", position " + std::to_string(where.second) +
                                    ")");
      }
    }
  }
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
