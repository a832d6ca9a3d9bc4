#include "cpu/upsample.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cpu/parallel.h"

namespace wtal::cpu {
namespace {

// scipy.ndimage "reflect" (half-sample symmetric, period 2L) for any offset, also beyond 2L.
inline int64_t reflect(int64_t i, int64_t L) {
  const int64_t period = 2 * L;
  i %= period;
  if (i < 0) i += period;
  return i < L ? i : period - 1 - i;
}

}  // namespace

int64_t upsampled_length(int64_t L, int64_t scale) {
  if (scale < 1) throw std::invalid_argument("scale must be >= 1, got " + std::to_string(scale));
  if (L < 0) throw std::invalid_argument("length must be >= 0, got " + std::to_string(L));
  if (L == 0) return 0;
  const double step = 1.0 / static_cast<double>(scale);
  const double n = std::ceil(static_cast<double>(L) / step);
  if (!(n <= static_cast<double>(kMaxUpsampledLength))) {
    throw std::invalid_argument("length * scale = " + std::to_string(L) + " * " + std::to_string(scale) +
                                " exceeds 2**53 positions (scale too large)");
  }
  return static_cast<int64_t>(n);
}

template <typename T, typename U>
void upsample_linear(const T* x, const int64_t* lengths, int64_t N, int64_t T_in, int64_t scale, U* y,
                     int64_t W, int64_t* new_lengths, int num_threads) {
  const double step = 1.0 / static_cast<double>(scale);
  run_parallel(N, saturating_product({N, W}), num_threads, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const T* xr = x + n * T_in;
      U* yr = y + n * W;
      const int64_t L = lengths[n];
      const int64_t NL = upsampled_length(L, scale);
      new_lengths[n] = NL;
      int64_t i = 0;
      if (scale == 1) {  // HAM-Net's upgrade_resolution returns its input for scale 1
        for (; i < L; ++i) yr[i] = static_cast<U>(xr[i]);
      } else if (L == 1) {
        for (; i < NL; ++i) yr[i] = static_cast<U>(xr[0]);
      } else if (L >= 2) {
        for (; i < NL; ++i) {
          // interp1d._call_linear: hi = clip(searchsorted(arange(L), xn), 1, L - 1), lo = hi - 1,
          // y = ((y[hi] - y[lo]) / (hi - lo)) * (xn - lo) + y[lo]; the difference is taken in the
          // input dtype, everything after in float64.
          const double xn = static_cast<double>(i) * step;
          int64_t hi = static_cast<int64_t>(std::ceil(xn));
          hi = std::min<int64_t>(std::max<int64_t>(hi, 1), L - 1);
          const int64_t lo = hi - 1;
          const T diff = static_cast<T>(xr[hi] - xr[lo]);
          const double slope = static_cast<double>(diff) / 1.0;
          yr[i] = static_cast<U>(slope * (xn - static_cast<double>(lo)) + static_cast<double>(xr[lo]));
        }
      }
      for (; i < W; ++i) yr[i] = U(0);
    }
  });
}

template <typename T>
void gaussian_smooth(const T* x, const int64_t* lengths, int64_t N, int64_t T_in, const double* weights,
                     int64_t radius, T* y, int num_threads) {
  const double* w = weights + radius;  // w[k] for k in [-radius, radius]
  run_parallel(N, saturating_product({N, T_in, radius + 1}), num_threads, [&](int64_t b, int64_t e) {
    std::vector<double> line, acc;
    for (int64_t n = b; n < e; ++n) {
      const T* xr = x + n * T_in;
      T* yr = y + n * T_in;
      const int64_t L = lengths[n];
      if (L > 0) {
        // Extended line in float64, as scipy's NI_LineBuffer holds it.
        line.resize(static_cast<size_t>(L + 2 * radius));
        for (int64_t i = -radius; i < L + radius; ++i) line[i + radius] = static_cast<double>(xr[reflect(i, L)]);
        const double* c = line.data() + radius;
        // NI_Correlate1D's symmetric branch for every output: centre first, then the pairs from the
        // outside in. Looping over taps outside and outputs inside keeps that order per output (so the
        // result stays bit-identical to scipy) while letting the compiler vectorise over outputs.
        acc.resize(static_cast<size_t>(L));
        double* a = acc.data();
        for (int64_t i = 0; i < L; ++i) a[i] = c[i] * w[0];
        for (int64_t k = -radius; k < 0; ++k) {
          const double wk = w[k];
          const double* lo = c + k;
          const double* hi = c - k;
          for (int64_t i = 0; i < L; ++i) a[i] += (lo[i] + hi[i]) * wk;
        }
        for (int64_t i = 0; i < L; ++i) yr[i] = static_cast<T>(a[i]);
      }
      for (int64_t i = std::max<int64_t>(L, 0); i < T_in; ++i) yr[i] = xr[i];
    }
  });
}

template void upsample_linear<float, float>(const float*, const int64_t*, int64_t, int64_t, int64_t, float*,
                                            int64_t, int64_t*, int);
template void upsample_linear<float, double>(const float*, const int64_t*, int64_t, int64_t, int64_t, double*,
                                             int64_t, int64_t*, int);
template void upsample_linear<double, double>(const double*, const int64_t*, int64_t, int64_t, int64_t,
                                              double*, int64_t, int64_t*, int);
template void gaussian_smooth<float>(const float*, const int64_t*, int64_t, int64_t, const double*, int64_t,
                                     float*, int);
template void gaussian_smooth<double>(const double*, const int64_t*, int64_t, int64_t, const double*, int64_t,
                                      double*, int);

}  // namespace wtal::cpu
