#include "cpu/segment_iou.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

namespace wtal::cpu {
namespace {

// numpy's maximum/minimum as measured (numpy 2.x, x86): a NaN in either argument is returned, and of two
// equal values (+0.0 and -0.0) the second one is. std::max/std::min would drop a NaN in the second
// argument, and the official evaluator's tIoU is NaN for NaN boundaries, so NaN must propagate exactly
// as numpy does; the zero rule makes even the sign of a 0 tIoU match (`clip(0)` is `maximum(x, 0)`).
inline double np_maximum(double x, double y) { return (x > y || std::isnan(x)) ? x : y; }
inline double np_minimum(double x, double y) { return (x < y || std::isnan(x)) ? x : y; }

template <typename T>
void rows(const T* a, int64_t lo, int64_t hi, const T* b, int64_t m, bool plus_one, double* out) {
  for (int64_t i = lo; i < hi; ++i) {
    const double as = static_cast<double>(a[2 * i]);
    const double ae = static_cast<double>(a[2 * i + 1]);
    double* row = out + i * m;
    if (!plus_one) {
      // Official: inter = (min(te, ce) - max(ts, cs)).clip(0); union = (ce - cs) + (te - ts) - inter.
      const double alen = ae - as;
      for (int64_t j = 0; j < m; ++j) {
        const double bs = static_cast<double>(b[2 * j]);
        const double be = static_cast<double>(b[2 * j + 1]);
        const double inter = np_maximum(np_minimum(ae, be) - np_maximum(as, bs), 0.0);
        row[j] = inter / ((be - bs) + alen - inter);
      }
    } else {
      // BaSNet/UM/HAM-Net: area = e - s + 1, inter = maximum(0.0, xx2 - xx1 + 1).
      const double alen = (ae - as) + 1.0;
      for (int64_t j = 0; j < m; ++j) {
        const double bs = static_cast<double>(b[2 * j]);
        const double be = static_cast<double>(b[2 * j + 1]);
        const double inter = np_maximum(0.0, (np_minimum(ae, be) - np_maximum(as, bs)) + 1.0);
        row[j] = inter / ((alen + ((be - bs) + 1.0)) - inter);
      }
    }
  }
}

}  // namespace

template <typename T>
void segment_iou(const T* a, int64_t n, const T* b, int64_t m, bool plus_one, double* out, int num_threads) {
  if (n <= 0 || m <= 0) return;
  int64_t nthreads = num_threads > 0 ? num_threads : static_cast<int64_t>(std::thread::hardware_concurrency());
  // Threads only pay off above ~1M pairs; below that the spawn cost dominates.
  constexpr int64_t kPairsPerThread = 1 << 20;
  nthreads = std::max<int64_t>(1, std::min({nthreads, n, (n * m) / kPairsPerThread}));
  if (nthreads == 1) {
    rows(a, 0, n, b, m, plus_one, out);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(nthreads);
  const int64_t chunk = (n + nthreads - 1) / nthreads;
  for (int64_t t = 0; t < nthreads; ++t) {
    const int64_t lo = t * chunk, hi = std::min(n, lo + chunk);
    if (lo >= hi) break;
    pool.emplace_back([=] { rows(a, lo, hi, b, m, plus_one, out); });
  }
  for (auto& th : pool) th.join();
}

template void segment_iou<float>(const float*, int64_t, const float*, int64_t, bool, double*, int);
template void segment_iou<double>(const double*, int64_t, const double*, int64_t, bool, double*, int);

}  // namespace wtal::cpu
