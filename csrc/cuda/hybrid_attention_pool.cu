// CUDA kernels of hybrid_attention_pool (semantics: csrc/cpu/hybrid_attention_pool.h).
// Forward: (1) per-video attention threshold, (2) per-snippet class minimum (include_min), (3) one block
// per (video, tile of classes) computes the four variants on the fly from the staged CAS tile and runs
// the exact radix select of topk_select.cuh for all four at once. Backward: one warp per snippet
// recomputes the variants bit-identically (--fmad=false), rebuilds the four selections from the saved
// cutoffs and writes the whole gradient row (no atomics, deterministic).
#include <algorithm>

#include "cuda/common.cuh"
#include "cuda/cuda_api.h"
#include "cuda/topk_select.cuh"

namespace wtal::cuda {
namespace {

using namespace pool;

// Per-snippet masks, literally as ADL.forward / _multiply compute them (same code in forward and backward).
template <typename V>
struct Masks {
  V a, keep, ad, h;
  __device__ __forceinline__ Masks(V a_, V thr) : a(a_) {
    keep = (a < thr) ? V(1) : V(0);
    ad = keep * a;
    h = (ad > V(0)) ? V(1) : V(0);
  }
  __device__ __forceinline__ V variant(int j, V s, V m) const {
    switch (j) {
      case 0: return s;
      case 1: return a * s;
      case 2: return ad * (s - m) + m;
      default: return h * (s - m) + m;
    }
  }
};

template <typename V>
__device__ __forceinline__ void min_combine(V& v, int& i, V v2, int i2) {
  // NaN wins (as torch.min), then the smaller value, then the lower class index
  const bool n1 = isnan(v), n2 = isnan(v2);
  bool take;
  if (n1 || n2) take = n2 && (!n1 || i2 < i);
  else take = v2 < v || (v2 == v && i2 < i);
  if (take) {
    v = v2;
    i = i2;
  }
}

// Warp-wide min over the C1 classes of one row; every lane returns the result.
template <typename In, typename V>
__device__ __forceinline__ void row_min(const In* row, int64_t C1, V& m, int& argmin) {
  const int lane = threadIdx.x & 31;
  m = to_v<V>(row[0]);
  argmin = 0;
  for (int64_t c = lane; c < C1; c += 32) min_combine(m, argmin, to_v<V>(row[c]), static_cast<int>(c));
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const V v2 = __shfl_xor_sync(0xFFFFFFFFu, m, off);
    const int i2 = __shfl_xor_sync(0xFFFFFFFFu, argmin, off);
    min_combine(m, argmin, v2, i2);
  }
}

template <typename In, typename V>
__global__ void __launch_bounds__(kThreads) threshold_kernel(const In* __restrict__ attention, int64_t T,
                                                             const int64_t* __restrict__ lengths, double gamma,
                                                             int mode, V* __restrict__ thr) {
  __shared__ V smx[kWarps], smn[kWarps];
  const int64_t b = blockIdx.x;
  const int64_t len = length_of(lengths, b, T);
  const In* a = attention + b * T;
  V mx = to_v<V>(a[0]), mn = mx;
  for (int64_t t = threadIdx.x; t < len; t += kThreads) {
    const V v = to_v<V>(a[t]);
    mx = (mx < v) ? v : mx;
    mn = (v < mn) ? v : mn;
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const V x = __shfl_xor_sync(0xFFFFFFFFu, mx, off), y = __shfl_xor_sync(0xFFFFFFFFu, mn, off);
    mx = (mx < x) ? x : mx;
    mn = (y < mn) ? y : mn;
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) {
    smx[warp] = mx;
    smn[warp] = mn;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kWarps; ++w) {
      mx = (mx < smx[w]) ? smx[w] : mx;
      mn = (smn[w] < mn) ? smn[w] : mn;
    }
    const V g = static_cast<V>(gamma);
    thr[b] = mode == 0 ? (mx - mn) * g + mn : mx * g;
  }
}

template <typename In, typename V>
__global__ void __launch_bounds__(kThreads) rowmin_kernel(const In* __restrict__ cas, int64_t B, int64_t T,
                                                          int64_t C1, const int64_t* __restrict__ lengths,
                                                          V* __restrict__ mins) {
  const int64_t rows = B * T;
  for (int64_t r = (blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x) / 32; r < rows;
       r += static_cast<int64_t>(gridDim.x) * kWarps) {
    const int64_t b = r / T, t = r % T;
    if (t >= length_of(lengths, b, T)) continue;  // warp-uniform
    V m;
    int argmin;
    row_min<In, V>(cas + r * C1, C1, m, argmin);
    if ((threadIdx.x & 31) == 0) mins[r] = m;
  }
}

template <typename In, typename V, typename A, bool Staged>
__global__ void __launch_bounds__(kThreads) forward_kernel(const In* __restrict__ cas, const In* __restrict__ attention,
                                                           int64_t B, int64_t T, int64_t C1,
                                                           const int64_t* __restrict__ lengths, int64_t ratio,
                                                           bool include_min, const V* __restrict__ thr,
                                                           const V* __restrict__ mins, int CT, In* __restrict__ pooled,
                                                           V* __restrict__ cut_val, int32_t* __restrict__ cut_idx) {
  using K = typename KeyT<V>::type;
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t ntiles = (C1 + CT - 1) / CT;
  const int64_t b = blockIdx.x / ntiles;
  const int64_t c0 = (blockIdx.x % ntiles) * CT;
  const int nct = static_cast<int>(C1 - c0 < CT ? C1 - c0 : CT);
  const int64_t len = length_of(lengths, b, T);
  const int64_t kb = k_of(len, 0, ratio);
  const int CTP = CT + 1;
  V* tile;
  K* prefix;
  int* krem;
  uint32_t* hist;
  Smem<V>::carve(smem, T, CT, 4, Staged, tile, prefix, krem, hist);

  const In* sb = cas + b * T * C1 + c0;
  const In* ab = attention + b * T;
  const V* mb = mins + b * T;
  const V th = thr[b];
  if (Staged) {
    const int cl = threadIdx.x % CT;
    if (cl < nct) {
      for (int64_t t = threadIdx.x / CT; t < len; t += kThreads / CT) tile[t * CTP + cl] = to_v<V>(sb[t * C1 + cl]);
    }
    __syncthreads();
  }
  auto get = [&](int j, int64_t t, int cl) -> V {
    const V s = Staged ? tile[t * CTP + cl] : to_v<V>(sb[t * C1 + cl]);
    if (j == 0) return s;
    const Masks<V> mk(to_v<V>(ab[t]), th);
    return mk.variant(j, s, include_min ? mb[t] : V(0));
  };
  radix_select<V, 4>(get, len, CT, nct, kb, prefix, krem, hist);
  const int64_t BC = B * C1;
  auto emit = [&](int j, int cl, A sum, V cv, int ct) {
    const int64_t o = j * BC + b * C1 + c0 + cl;
    pooled[o] = from_acc<In>(static_cast<double>(sum) / static_cast<double>(kb));
    cut_val[o] = cv;
    cut_idx[o] = ct;
  };
  finish_select<V, A, 4>(get, len, CT, nct, prefix, krem, emit);
}

template <typename In, typename V, typename A>
__global__ void __launch_bounds__(kThreads) backward_kernel(const In* __restrict__ grad, const In* __restrict__ cas,
                                                            const In* __restrict__ attention, int64_t B, int64_t T,
                                                            int64_t C1, const int64_t* __restrict__ lengths,
                                                            int64_t ratio, bool include_min, const V* __restrict__ thr,
                                                            const V* __restrict__ cut_val,
                                                            const int32_t* __restrict__ cut_idx,
                                                            In* __restrict__ grad_cas, In* __restrict__ grad_attention) {
  const int lane = threadIdx.x & 31;
  const int64_t rows = B * T, BC = B * C1;
  for (int64_t r = (blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x) / 32; r < rows;
       r += static_cast<int64_t>(gridDim.x) * kWarps) {
    const int64_t b = r / T, t = r % T;
    const int64_t len = length_of(lengths, b, T);
    const In* row = cas + r * C1;
    In* grow = grad_cas + r * C1;
    if (t >= len) {  // warp-uniform
      for (int64_t c = lane; c < C1; c += 32) grow[c] = from_acc<In>(0.0);
      if (lane == 0) grad_attention[r] = from_acc<In>(0.0);
      continue;
    }
    V m = 0;
    int argmin = 0;
    if (include_min) row_min<In, V>(row, C1, m, argmin);
    const Masks<V> mk(to_v<V>(attention[r]), thr[b]);
    const V kb = static_cast<V>(k_of(len, 0, ratio));
    A dmin = 0, da = 0, direct_at_argmin = 0;
    for (int64_t c = lane; c < C1; c += 32) {
      const V s = to_v<V>(row[c]);
      V w[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int64_t o = j * BC + b * C1 + c;
        const auto key = order_key(mk.variant(j, s, m));
        const auto cut = order_key(cut_val[o]);
        const bool sel = key > cut || (key == cut && t <= cut_idx[o]);
        w[j] = sel ? to_v<V>(grad[o]) / kb : V(0);
      }
      const A direct = A(w[0]) + A(w[1]) * A(mk.a) + A(w[2]) * A(mk.ad) + A(w[3]) * A(mk.h);
      if (include_min) dmin += A(w[2]) * (A(1) - A(mk.ad)) + A(w[3]) * (A(1) - A(mk.h));
      da += A(w[1]) * A(s) + A(w[2]) * A(mk.keep) * (A(s) - A(m));
      if (include_min && c == argmin) direct_at_argmin = direct;
      else grow[c] = from_acc<In>(static_cast<double>(direct));
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      dmin += __shfl_xor_sync(0xFFFFFFFFu, dmin, off);
      da += __shfl_xor_sync(0xFFFFFFFFu, da, off);
    }
    if (include_min && lane == argmin % 32) grow[argmin] = from_acc<In>(static_cast<double>(direct_at_argmin + dmin));
    if (lane == 0) grad_attention[r] = from_acc<In>(static_cast<double>(da));
  }
}

int row_grid(int64_t rows) { return grid_size((rows + kWarps - 1) / kWarps, 1, 65535 * 16); }

template <typename In, typename V, typename A>
void launch_forward(std::uintptr_t cas, std::uintptr_t attention, int64_t B, int64_t T, int64_t C1,
                    std::uintptr_t lengths, double gamma, int64_t ratio, bool include_min, int mode,
                    std::uintptr_t pooled, std::uintptr_t thr, std::uintptr_t cut_val, std::uintptr_t cut_idx,
                    std::uintptr_t scratch, cudaStream_t stream, int device) {
  const In* c = reinterpret_cast<const In*>(cas);
  const In* a = reinterpret_cast<const In*>(attention);
  const int64_t* L = reinterpret_cast<const int64_t*>(lengths);
  V* th = reinterpret_cast<V*>(thr);
  V* mins = reinterpret_cast<V*>(scratch);
  threshold_kernel<In, V><<<static_cast<unsigned>(B), kThreads, 0, stream>>>(a, T, L, gamma, mode, th);
  check_launch("hybrid_attention_pool threshold");
  if (include_min) {
    rowmin_kernel<In, V><<<row_grid(B * T), kThreads, 0, stream>>>(c, B, T, C1, L, mins);
    check_launch("hybrid_attention_pool rowmin");
  }
  const TilePlan plan = plan_tiles<V>(B, T, C1, 4, 8, sm_count(device), 112 * 1024);
  const int64_t blocks = B * ((C1 + plan.CT - 1) / plan.CT);
  auto kernel = plan.staged ? forward_kernel<In, V, A, true> : forward_kernel<In, V, A, false>;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(plan.smem)),
        "cudaFuncSetAttribute(hybrid_attention_pool)");
  kernel<<<static_cast<unsigned>(blocks), kThreads, plan.smem, stream>>>(
      c, a, B, T, C1, L, ratio, include_min, th, mins, plan.CT, reinterpret_cast<In*>(pooled),
      reinterpret_cast<V*>(cut_val), reinterpret_cast<int32_t*>(cut_idx));
  check_launch("hybrid_attention_pool forward");
}

template <typename In, typename V, typename A>
void launch_backward(std::uintptr_t grad, std::uintptr_t cas, std::uintptr_t attention, int64_t B, int64_t T,
                     int64_t C1, std::uintptr_t lengths, int64_t ratio, bool include_min, std::uintptr_t thr,
                     std::uintptr_t cut_val, std::uintptr_t cut_idx, std::uintptr_t grad_cas,
                     std::uintptr_t grad_attention, cudaStream_t stream) {
  backward_kernel<In, V, A><<<row_grid(B * T), kThreads, 0, stream>>>(
      reinterpret_cast<const In*>(grad), reinterpret_cast<const In*>(cas), reinterpret_cast<const In*>(attention),
      B, T, C1, reinterpret_cast<const int64_t*>(lengths), ratio, include_min, reinterpret_cast<const V*>(thr),
      reinterpret_cast<const V*>(cut_val), reinterpret_cast<const int32_t*>(cut_idx),
      reinterpret_cast<In*>(grad_cas), reinterpret_cast<In*>(grad_attention));
  check_launch("hybrid_attention_pool backward");
}

void check_args(int64_t B, int64_t T, int64_t C1, int64_t ratio, int mode) {
  if (ratio < 1) throw std::invalid_argument("ratio must be >= 1");
  if (mode != 0 && mode != 1) throw std::invalid_argument("threshold must be 'range' or 'max'");
  if (B > 0 && T < 1) throw std::invalid_argument("cas must have at least one time step (T >= 1)");
  if (B > 0 && C1 < 1) throw std::invalid_argument("cas must have at least one class (C + 1 >= 1)");
  if (T > INT32_MAX) throw std::invalid_argument("T must be < 2**31");
}

}  // namespace

void hybrid_attention_pool_forward(int dtype, std::uintptr_t cas, std::uintptr_t attention, int64_t B, int64_t T,
                                   int64_t C1, std::uintptr_t lengths, double gamma, int64_t ratio,
                                   bool include_min, int threshold_mode, std::uintptr_t pooled, std::uintptr_t thr,
                                   std::uintptr_t cut_val, std::uintptr_t cut_idx, std::uintptr_t scratch,
                                   std::uintptr_t stream, int device) {
  check_args(B, T, C1, ratio, threshold_mode);
  if (B == 0) return;
  DeviceGuard guard(device);
  cudaStream_t s = as_stream(stream);
#define WTAL_HYBRID_FWD(In, V, A)                                                                                 \
  launch_forward<In, V, A>(cas, attention, B, T, C1, lengths, gamma, ratio, include_min, threshold_mode, pooled, \
                           thr, cut_val, cut_idx, scratch, s, device)
  switch (dtype) {
    case 0: WTAL_HYBRID_FWD(float, float, double); break;
    case 1: WTAL_HYBRID_FWD(double, double, double); break;
    case 2: WTAL_HYBRID_FWD(__half, float, float); break;
    case 3: WTAL_HYBRID_FWD(__nv_bfloat16, float, float); break;
    default: throw std::invalid_argument("hybrid_attention_pool: unsupported dtype code " + std::to_string(dtype));
  }
#undef WTAL_HYBRID_FWD
}

void hybrid_attention_pool_backward(int dtype, std::uintptr_t grad, std::uintptr_t cas, std::uintptr_t attention,
                                    int64_t B, int64_t T, int64_t C1, std::uintptr_t lengths, int64_t ratio,
                                    bool include_min, std::uintptr_t thr, std::uintptr_t cut_val,
                                    std::uintptr_t cut_idx, std::uintptr_t grad_cas,
                                    std::uintptr_t grad_attention, std::uintptr_t stream, int device) {
  check_args(B, T, C1, ratio, 0);
  if (B * T == 0) return;
  DeviceGuard guard(device);
  cudaStream_t s = as_stream(stream);
#define WTAL_HYBRID_BWD(In, V, A)                                                                             \
  launch_backward<In, V, A>(grad, cas, attention, B, T, C1, lengths, ratio, include_min, thr, cut_val, cut_idx, \
                            grad_cas, grad_attention, s)
  switch (dtype) {
    case 0: WTAL_HYBRID_BWD(float, float, double); break;
    case 1: WTAL_HYBRID_BWD(double, double, double); break;
    case 2: WTAL_HYBRID_BWD(__half, float, float); break;
    case 3: WTAL_HYBRID_BWD(__nv_bfloat16, float, float); break;
    default: throw std::invalid_argument("hybrid_attention_pool: unsupported dtype code " + std::to_string(dtype));
  }
#undef WTAL_HYBRID_BWD
}

}  // namespace wtal::cuda
