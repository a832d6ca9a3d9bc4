// upsample_linear and gaussian_smooth on the GPU: one thread per output element, the same float64
// operations in the same order as the CPU kernels (and scipy), so the results are bit-identical
// (nvcc runs with --fmad=false).
#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/cuda_api.h"

namespace wtal::cuda {
namespace {

constexpr int kBlock = 256;

__device__ inline int64_t up_len(int64_t L, double step) {
  return L <= 0 ? 0 : static_cast<int64_t>(ceil(static_cast<double>(L) / step));
}

template <typename T, typename U>
__global__ void upsample_kernel(const T* __restrict__ x, const int64_t* lengths, int64_t N, int64_t Tin,
                                int64_t scale, U* y, int64_t W, int64_t* new_lengths) {
  const double step = 1.0 / static_cast<double>(scale);
  const int64_t total = N * W;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / W, i = idx % W;
    const int64_t L = lengths[n];
    const int64_t NL = up_len(L, step);
    if (i == 0) new_lengths[n] = NL;
    const T* xr = x + n * Tin;
    U v = U(0);
    if (i < NL) {
      if (scale == 1) {  // identity, as HAM-Net's upgrade_resolution
        v = static_cast<U>(xr[i]);
      } else if (L == 1) {
        v = static_cast<U>(xr[0]);
      } else {
        const double xn = static_cast<double>(i) * step;
        int64_t hi = static_cast<int64_t>(ceil(xn));
        hi = hi < 1 ? 1 : (hi > L - 1 ? L - 1 : hi);
        const int64_t lo = hi - 1;
        const T d = static_cast<T>(xr[hi] - xr[lo]);
        const double slope = static_cast<double>(d) / 1.0;
        v = static_cast<U>(slope * (xn - static_cast<double>(lo)) + static_cast<double>(xr[lo]));
      }
    }
    y[idx] = v;
  }
}

__global__ void zero_lengths_kernel(int64_t N, int64_t* new_lengths) {  // rows when W == 0
  for (int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; n < N;
       n += static_cast<int64_t>(gridDim.x) * blockDim.x)
    new_lengths[n] = 0;
}

__device__ inline int64_t reflect(int64_t i, int64_t L) {
  const int64_t period = 2 * L;
  i %= period;
  if (i < 0) i += period;
  return i < L ? i : period - 1 - i;
}

template <typename T>
__global__ void smooth_kernel(const T* __restrict__ x, const int64_t* lengths, int64_t N, int64_t Tin,
                              const double* weights, int64_t radius, T* y) {
  const double* w = weights + radius;
  const int64_t total = N * Tin;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / Tin, i = idx % Tin;
    const int64_t L = lengths[n];
    const T* xr = x + n * Tin;
    if (i >= L) {
      y[idx] = xr[i];
      continue;
    }
    double acc = static_cast<double>(xr[i]) * w[0];
    for (int64_t k = -radius; k < 0; ++k) {
      acc += (static_cast<double>(xr[reflect(i + k, L)]) + static_cast<double>(xr[reflect(i - k, L)])) * w[k];
    }
    y[idx] = static_cast<T>(acc);
  }
}

}  // namespace

void upsample_linear(int in_is_double, int out_is_double, std::uintptr_t x, std::uintptr_t lengths, int64_t N,
                     int64_t T, int64_t scale, std::uintptr_t y, int64_t width, std::uintptr_t new_lengths,
                     std::uintptr_t stream, int device) {
  if (N == 0) return;
  DeviceGuard guard(device);
  cudaStream_t s = as_stream(stream);
  const auto* len = reinterpret_cast<const int64_t*>(lengths);
  auto* nl = reinterpret_cast<int64_t*>(new_lengths);
  if (width == 0) {
    zero_lengths_kernel<<<grid_size(N, kBlock), kBlock, 0, s>>>(N, nl);
    check_launch("zero_lengths_kernel");
    return;
  }
  const int grid = grid_size(N * width, kBlock);
  if (in_is_double) {
    upsample_kernel<double, double><<<grid, kBlock, 0, s>>>(reinterpret_cast<const double*>(x), len, N, T, scale,
                                                            reinterpret_cast<double*>(y), width, nl);
  } else if (out_is_double) {
    upsample_kernel<float, double><<<grid, kBlock, 0, s>>>(reinterpret_cast<const float*>(x), len, N, T, scale,
                                                           reinterpret_cast<double*>(y), width, nl);
  } else {
    upsample_kernel<float, float><<<grid, kBlock, 0, s>>>(reinterpret_cast<const float*>(x), len, N, T, scale,
                                                          reinterpret_cast<float*>(y), width, nl);
  }
  check_launch("upsample_kernel");
}

void gaussian_smooth(bool is_double, std::uintptr_t x, std::uintptr_t lengths, int64_t N, int64_t T,
                     std::uintptr_t weights, int64_t radius, std::uintptr_t y, std::uintptr_t stream, int device) {
  if (N * T == 0) return;
  DeviceGuard guard(device);
  cudaStream_t s = as_stream(stream);
  const int grid = grid_size(N * T, kBlock);
  const auto* len = reinterpret_cast<const int64_t*>(lengths);
  const auto* w = reinterpret_cast<const double*>(weights);
  if (is_double) {
    smooth_kernel<double><<<grid, kBlock, 0, s>>>(reinterpret_cast<const double*>(x), len, N, T, w, radius,
                                                  reinterpret_cast<double*>(y));
  } else {
    smooth_kernel<float><<<grid, kBlock, 0, s>>>(reinterpret_cast<const float*>(x), len, N, T, w, radius,
                                                 reinterpret_cast<float*>(y));
  }
  check_launch("smooth_kernel");
}

}  // namespace wtal::cuda
