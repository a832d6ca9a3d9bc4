#include "cpu/connected_components.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cpu/parallel.h"

namespace wtal::cpu {
namespace {

// The thresholds in ascending order, with the input index of each (stable for duplicates).
struct SortedThresholds {
  std::vector<double> value;
  std::vector<int64_t> index;
  int64_t size;
  SortedThresholds(const double* thr, int64_t M) : value(M), index(M), size(M) {
    for (int64_t m = 0; m < M; ++m) index[m] = m;
    std::stable_sort(index.begin(), index.end(), [thr](int64_t a, int64_t b) { return thr[a] < thr[b]; });
    for (int64_t j = 0; j < M; ++j) value[j] = thr[index[j]];
  }
};

// One sweep over row x[0, len) for all thresholds: level(t) = #{j : value[j] < x[t]} (so x[t] > value[j]
// exactly for j < level(t)); a rise of the level opens the runs of the thresholds passed, a fall
// closes them. Calls emit(j, start, end) for every maximal run at sorted threshold j, in the order of
// their ends, hence in time order for each j. O(len + level moves + runs), instead of one pass per
// threshold.
template <typename T, class Emit>
inline void sweep_row(const T* x, int64_t len, const SortedThresholds& th, int64_t* open, Emit&& emit) {
  const int64_t M = th.size;
  const double* v = th.value.data();
  int64_t prev = 0;
  for (int64_t t = 0; t < len; ++t) {
    const double xt = static_cast<double>(x[t]);
    // Score sequences are smooth: the level moves by a step or two, so walk from the previous one.
    int64_t lev = prev;
    while (lev < M && v[lev] < xt) ++lev;
    while (lev > 0 && !(v[lev - 1] < xt)) --lev;
    for (int64_t j = prev; j < lev; ++j) open[j] = t;
    for (int64_t j = lev; j < prev; ++j) emit(j, open[j], t);
    prev = lev;
  }
  for (int64_t j = 0; j < prev; ++j) emit(j, open[j], len);
}

template <typename T>
void check_row(const T* x, int64_t len, int64_t n) {
  if (len < 0) {
    throw std::invalid_argument("lengths must be >= 0, got " + std::to_string(len) + " for row " + std::to_string(n));
  }
  bool nan = false;
  for (int64_t t = 0; t < len; ++t) nan |= std::isnan(x[t]);
  if (!nan) return;
  for (int64_t t = 0; t < len; ++t) {
    if (std::isnan(x[t])) {
      throw std::invalid_argument("signal contains NaN (row " + std::to_string(n) + ", position " +
                                  std::to_string(t) + ")");
    }
  }
}

int64_t total_work(const int64_t* row_len, int64_t n_rows, int64_t M) {
  int64_t work = 0;
  for (int64_t n = 0; n < n_rows; ++n) work += std::max<int64_t>(row_len[n], 0) * std::max<int64_t>(M, 1);
  return work;
}

}  // namespace

template <typename T>
void cc_count(const T* signal, const int64_t* row_start, const int64_t* row_len, int64_t n_rows,
              const double* thresholds, int64_t n_thresholds, const CCOptions& opt, int64_t* offsets) {
  const int64_t M = n_thresholds;
  const SortedThresholds th(thresholds, M);
  run_parallel(n_rows, total_work(row_len, n_rows, M), opt.num_threads, [&](int64_t b, int64_t e) {
    // per sorted threshold: open run start, kept runs, all runs, whether the first run is [0, 1)
    std::vector<int64_t> open(M), kept(M), all(M), first01(M);
    for (int64_t n = b; n < e; ++n) {
      const T* x = signal + row_start[n];
      check_row(x, row_len[n], n);
      std::fill(kept.begin(), kept.end(), 0);
      std::fill(all.begin(), all.end(), 0);
      sweep_row(x, row_len[n], th, open.data(), [&](int64_t j, int64_t s, int64_t t) {
        if (all[j] == 0) first01[j] = s == 0 && t == 1;
        ++all[j];
        kept[j] += t - s >= opt.min_len;
      });
      for (int64_t j = 0; j < M; ++j) {
        // `if temp_list.any()`: the above-threshold index set is exactly {0}
        const bool drop = opt.drop_index0_only_runs && all[j] == 1 && first01[j];
        offsets[n * M + th.index[j]] = drop ? 0 : kept[j];
      }
    }
  });
  // Exclusive scan in place: offsets[p] = sum of counts before p; offsets[P] = total.
  const int64_t P = n_rows * M;
  int64_t acc = 0;
  for (int64_t p = 0; p < P; ++p) {
    const int64_t c = offsets[p];
    offsets[p] = acc;
    acc += c;
  }
  offsets[P] = acc;
}

template <typename T>
void cc_fill(const T* signal, const int64_t* row_start, const int64_t* row_len, int64_t n_rows,
             const double* thresholds, int64_t n_thresholds, const CCOptions& opt, const int64_t* offsets,
             int64_t* row, int64_t* threshold_index, int64_t* start, int64_t* end) {
  const int64_t M = n_thresholds;
  const SortedThresholds th(thresholds, M);
  run_parallel(n_rows, total_work(row_len, n_rows, M), opt.num_threads, [&](int64_t b, int64_t e) {
    std::vector<int64_t> open(M), cursor(M);
    for (int64_t n = b; n < e; ++n) {
      for (int64_t j = 0; j < M; ++j) cursor[j] = offsets[n * M + th.index[j]];
      sweep_row(signal + row_start[n], row_len[n], th, open.data(), [&](int64_t j, int64_t s, int64_t t) {
        if (t - s < opt.min_len) return;
        const int64_t m = th.index[j];
        const int64_t k = cursor[j]++;
        if (k < offsets[n * M + m + 1]) {  // a dropped index-0-only run has no slot (count 0)
          row[k] = n;
          threshold_index[k] = m;
          start[k] = s;
          end[k] = t;
        }
      });
    }
  });
}

#define WTAL_INSTANTIATE(T)                                                                               \
  template void cc_count<T>(const T*, const int64_t*, const int64_t*, int64_t, const double*, int64_t,  \
                            const CCOptions&, int64_t*);                                                \
  template void cc_fill<T>(const T*, const int64_t*, const int64_t*, int64_t, const double*, int64_t,   \
                           const CCOptions&, const int64_t*, int64_t*, int64_t*, int64_t*, int64_t*);
WTAL_INSTANTIATE(float)
WTAL_INSTANTIATE(double)
#undef WTAL_INSTANTIATE

}  // namespace wtal::cpu
