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

// Calls emit(start, end) for every kept run of row x[0, len) at threshold thr.
template <typename T, class Emit>
inline void for_each_run(const T* x, int64_t len, double thr, const CCOptions& opt, Emit&& emit) {
  if (opt.drop_index0_only_runs && len >= 1 && static_cast<double>(x[0]) > thr &&
      (len == 1 || !(static_cast<double>(x[1]) > thr))) {
    bool other = false;
    for (int64_t t = 2; t < len && !other; ++t) other = static_cast<double>(x[t]) > thr;
    if (!other) return;  // the above-threshold index set is exactly {0}
  }
  int64_t t = 0;
  while (t < len) {
    while (t < len && !(static_cast<double>(x[t]) > thr)) ++t;
    if (t == len) break;
    const int64_t s = t;
    while (t < len && static_cast<double>(x[t]) > thr) ++t;
    if (t - s >= opt.min_len) emit(s, t);
  }
}

template <typename T>
void check_row(const T* x, int64_t len, int64_t n) {
  if (len < 0) {
    throw std::invalid_argument("lengths must be >= 0, got " + std::to_string(len) + " for row " + std::to_string(n));
  }
  for (int64_t t = 0; t < len; ++t) {
    if (std::isnan(x[t])) {
      throw std::invalid_argument("signal contains NaN (row " + std::to_string(n) + ", position " +
                                  std::to_string(t) + ")");
    }
  }
}

}  // namespace

template <typename T>
void cc_count(const T* signal, const int64_t* row_start, const int64_t* row_len, int64_t n_rows,
              const double* thresholds, int64_t n_thresholds, const CCOptions& opt, int64_t* offsets) {
  const int64_t M = n_thresholds;
  int64_t work = 0;
  for (int64_t n = 0; n < n_rows; ++n) work += std::max<int64_t>(row_len[n], 0) * std::max<int64_t>(M, 1);
  run_parallel(n_rows, work, opt.num_threads, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const T* x = signal + row_start[n];
      check_row(x, row_len[n], n);
      for (int64_t m = 0; m < M; ++m) {
        int64_t c = 0;
        for_each_run(x, row_len[n], thresholds[m], opt, [&](int64_t, int64_t) { ++c; });
        offsets[n * M + m] = c;
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
  int64_t work = 0;
  for (int64_t n = 0; n < n_rows; ++n) work += std::max<int64_t>(row_len[n], 0) * std::max<int64_t>(M, 1);
  run_parallel(n_rows, work, opt.num_threads, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const T* x = signal + row_start[n];
      for (int64_t m = 0; m < M; ++m) {
        int64_t k = offsets[n * M + m];
        const int64_t stop = offsets[n * M + m + 1];
        for_each_run(x, row_len[n], thresholds[m], opt, [&](int64_t s, int64_t t) {
          if (k < stop) {  // guards against inputs changed between the passes
            row[k] = n;
            threshold_index[k] = m;
            start[k] = s;
            end[k] = t;
          }
          ++k;
        });
      }
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
