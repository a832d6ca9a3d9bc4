// CUDA kernels of topk_pool (semantics: csrc/cpu/topk_pool.h). Forward: one block per (video, tile of
// classes) stages the tile in shared memory and runs the exact radix select of topk_select.cuh.
// Backward: a dense elementwise pass that rebuilds the selection from x and the saved cutoff.
#include <algorithm>

#include "cuda/common.cuh"
#include "cuda/cuda_api.h"
#include "cuda/topk_select.cuh"

namespace wtal::cuda {
namespace {

using namespace pool;

template <typename In, typename V, typename A, bool Staged>
__global__ void __launch_bounds__(kThreads) topk_forward_kernel(const In* __restrict__ x, int64_t B, int64_t T,
                                                                int64_t C, const int64_t* __restrict__ lengths,
                                                                int64_t k, int64_t ratio, int CT,
                                                                In* __restrict__ out, V* __restrict__ cut_val,
                                                                int32_t* __restrict__ cut_idx) {
  using K = typename KeyT<V>::type;
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t ntiles = (C + CT - 1) / CT;
  const int64_t b = blockIdx.x / ntiles;
  const int64_t c0 = (blockIdx.x % ntiles) * CT;
  const int nct = static_cast<int>(C - c0 < CT ? C - c0 : CT);
  const int64_t len = length_of(lengths, b, T);
  const int64_t kb = k_of(len, k, ratio);
  const int CTP = CT + 1;  // padded row: the per-class time scans hit distinct banks

  V* tile;
  K* prefix;
  int* krem;
  uint32_t* hist;
  Smem<V>::carve(smem, T, CT, 1, Staged, tile, prefix, krem, hist);

  const In* xb = x + b * T * C + c0;
  if (Staged) {
    const int cl = threadIdx.x % CT;
    if (cl < nct) {
      for (int64_t t = threadIdx.x / CT; t < len; t += kThreads / CT) tile[t * CTP + cl] = to_v<V>(xb[t * C + cl]);
    }
    __syncthreads();
  }
  auto get = [&](int, int64_t t, int cl) -> V {
    if (Staged) return tile[t * CTP + cl];
    return to_v<V>(xb[t * C + cl]);
  };
  radix_select<V, 1>(get, len, CT, nct, kb, prefix, krem, hist);
  auto emit = [&](int, int cl, A sum, V cv, int ct) {
    const int64_t o = b * C + c0 + cl;
    out[o] = from_acc<In>(static_cast<double>(sum) / static_cast<double>(kb));
    cut_val[o] = cv;
    cut_idx[o] = ct;
  };
  finish_select<V, A, 1>(get, len, CT, nct, prefix, krem, emit);
}

// One warp per (b, t) row: the per-row index math is paid once per row, not per element.
template <typename In, typename V>
__global__ void __launch_bounds__(kThreads) topk_backward_kernel(const In* __restrict__ grad, const In* __restrict__ x,
                                                                 int64_t B, int64_t T, int64_t C,
                                                                 const int64_t* __restrict__ lengths, int64_t k,
                                                                 int64_t ratio, const V* __restrict__ cut_val,
                                                                 const int32_t* __restrict__ cut_idx,
                                                                 In* __restrict__ grad_x) {
  const int lane = threadIdx.x & 31;
  const int64_t rows = B * T;
  for (int64_t r = (blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x) / 32; r < rows;
       r += static_cast<int64_t>(gridDim.x) * kWarps) {
    const int64_t b = r / T, t = r % T;
    const int64_t len = length_of(lengths, b, T);
    const In* row = x + r * C;
    In* grow = grad_x + r * C;
    if (t >= len) {  // warp-uniform
      for (int64_t c = lane; c < C; c += 32) grow[c] = from_acc<In>(0.0);
      continue;
    }
    const V kb = static_cast<V>(k_of(len, k, ratio));
    for (int64_t c = lane; c < C; c += 32) {
      const int64_t o = b * C + c;
      const auto key = order_key(to_v<V>(row[c]));
      const auto cut = order_key(cut_val[o]);
      V g = 0;
      if (key > cut || (key == cut && t <= cut_idx[o])) g = to_v<V>(grad[o]) / kb;
      grow[c] = from_acc<In>(static_cast<double>(g));
    }
  }
}

template <typename In, typename V, typename A>
void launch_forward(std::uintptr_t x, int64_t B, int64_t T, int64_t C, std::uintptr_t lengths, int64_t k,
                    int64_t ratio, std::uintptr_t out, std::uintptr_t cut_val, std::uintptr_t cut_idx,
                    cudaStream_t stream, int device) {
  const TilePlan plan = plan_tiles<V>(B, T, C, 1, 32, sm_count(device), 96 * 1024);
  const int64_t blocks = B * ((C + plan.CT - 1) / plan.CT);
  auto kernel = plan.staged ? topk_forward_kernel<In, V, A, true> : topk_forward_kernel<In, V, A, false>;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(plan.smem)),
        "cudaFuncSetAttribute(topk_pool_forward)");
  kernel<<<static_cast<unsigned>(blocks), kThreads, plan.smem, stream>>>(
      reinterpret_cast<const In*>(x), B, T, C, reinterpret_cast<const int64_t*>(lengths), k, ratio, plan.CT,
      reinterpret_cast<In*>(out), reinterpret_cast<V*>(cut_val), reinterpret_cast<int32_t*>(cut_idx));
  check_launch("topk_pool_forward");
}

template <typename In, typename V>
void launch_backward(std::uintptr_t grad, std::uintptr_t x, int64_t B, int64_t T, int64_t C, std::uintptr_t lengths,
                     int64_t k, int64_t ratio, std::uintptr_t cut_val, std::uintptr_t cut_idx,
                     std::uintptr_t grad_x, cudaStream_t stream) {
  topk_backward_kernel<In, V><<<grid_size((B * T + kWarps - 1) / kWarps, 1, 65535 * 16), kThreads, 0, stream>>>(
      reinterpret_cast<const In*>(grad), reinterpret_cast<const In*>(x), B, T, C,
      reinterpret_cast<const int64_t*>(lengths), k, ratio, reinterpret_cast<const V*>(cut_val),
      reinterpret_cast<const int32_t*>(cut_idx), reinterpret_cast<In*>(grad_x));
  check_launch("topk_pool_backward");
}

void check_args(int64_t B, int64_t T, int64_t C, int64_t k, int64_t ratio) {
  if (k < 0 || (k == 0 && ratio < 1)) throw std::invalid_argument("k must be >= 1 or ratio must be >= 1");
  if (B > 0 && C > 0 && T < 1) throw std::invalid_argument("x must have at least one time step (T >= 1)");
  if (T > INT32_MAX) throw std::invalid_argument("T must be < 2**31");
}

}  // namespace

void topk_pool_forward(int dtype, std::uintptr_t x, int64_t B, int64_t T, int64_t C, std::uintptr_t lengths,
                       int64_t k, int64_t ratio, std::uintptr_t out, std::uintptr_t cut_val,
                       std::uintptr_t cut_idx, std::uintptr_t stream, int device) {
  check_args(B, T, C, k, ratio);
  if (B == 0 || C == 0) return;
  DeviceGuard guard(device);
  cudaStream_t s = as_stream(stream);
  switch (dtype) {
    case 0: launch_forward<float, float, double>(x, B, T, C, lengths, k, ratio, out, cut_val, cut_idx, s, device); break;
    case 1: launch_forward<double, double, double>(x, B, T, C, lengths, k, ratio, out, cut_val, cut_idx, s, device); break;
    case 2: launch_forward<__half, float, float>(x, B, T, C, lengths, k, ratio, out, cut_val, cut_idx, s, device); break;
    case 3: launch_forward<__nv_bfloat16, float, float>(x, B, T, C, lengths, k, ratio, out, cut_val, cut_idx, s, device); break;
    default: throw std::invalid_argument("topk_pool: unsupported dtype code " + std::to_string(dtype));
  }
}

void topk_pool_backward(int dtype, std::uintptr_t grad, std::uintptr_t x, int64_t B, int64_t T, int64_t C,
                        std::uintptr_t lengths, int64_t k, int64_t ratio, std::uintptr_t cut_val,
                        std::uintptr_t cut_idx, std::uintptr_t grad_x, std::uintptr_t stream, int device) {
  check_args(B, T, C, k, ratio);
  if (B * T * C == 0) return;
  DeviceGuard guard(device);
  cudaStream_t s = as_stream(stream);
  switch (dtype) {
    case 0: launch_backward<float, float>(grad, x, B, T, C, lengths, k, ratio, cut_val, cut_idx, grad_x, s); break;
    case 1: launch_backward<double, double>(grad, x, B, T, C, lengths, k, ratio, cut_val, cut_idx, grad_x, s); break;
    case 2: launch_backward<__half, float>(grad, x, B, T, C, lengths, k, ratio, cut_val, cut_idx, grad_x, s); break;
    case 3: launch_backward<__nv_bfloat16, float>(grad, x, B, T, C, lengths, k, ratio, cut_val, cut_idx, grad_x, s); break;
    default: throw std::invalid_argument("topk_pool: unsupported dtype code " + std::to_string(dtype));
  }
}

}  // namespace wtal::cuda
