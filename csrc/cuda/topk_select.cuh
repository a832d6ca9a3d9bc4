// Block-wide exact top-k selection over time for a tile of classes, shared by topk_pool.cu and
// hybrid_attention_pool.cu. Semantics match csrc/cpu/topk_pool.h exactly: descending order with NaN
// largest and -0 == +0, ties broken by the lowest time index; the selection is returned as its cutoff
// (the k-th element: value and time index) and the sum of the selected values.
//
// Algorithm: MSD radix select on order-preserving integer keys (8-bit digits, one shared-memory
// histogram per (variant, class) pair), then one warp per pair scans time in order to sum the values
// above the k-th key and to take the first r ties, which fixes the tie cutoff deterministically.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace wtal::cuda::pool {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRadix = 256;
constexpr int kHistStride = kRadix + 1;  // odd row stride: equal digits of different classes use different banks

template <typename V> struct KeyT;
template <> struct KeyT<float> { using type = uint32_t; static constexpr int bits = 32; };
template <> struct KeyT<double> { using type = unsigned long long; static constexpr int bits = 64; };

__device__ __forceinline__ uint32_t order_key(float v) {
  if (isnan(v)) return 0xFFFFFFFFu;
  uint32_t u = (v == 0.0f) ? 0u : __float_as_uint(v);  // -0 -> +0
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ unsigned long long order_key(double v) {
  if (isnan(v)) return 0xFFFFFFFFFFFFFFFFull;
  unsigned long long u = (v == 0.0) ? 0ull : static_cast<unsigned long long>(__double_as_longlong(v));
  return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
}

template <typename V> __device__ __forceinline__ V to_v(float x) { return static_cast<V>(x); }
template <typename V> __device__ __forceinline__ V to_v(double x) { return static_cast<V>(x); }
template <typename V> __device__ __forceinline__ V to_v(__half x) { return static_cast<V>(__half2float(x)); }
template <typename V> __device__ __forceinline__ V to_v(__nv_bfloat16 x) { return static_cast<V>(__bfloat162float(x)); }

template <typename Out> __device__ __forceinline__ Out from_acc(double x) { return static_cast<Out>(x); }
template <> __device__ __forceinline__ __half from_acc<__half>(double x) { return __float2half_rn(static_cast<float>(x)); }
template <> __device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(double x) {
  return __float2bfloat16_rn(static_cast<float>(x));
}

__device__ __forceinline__ int64_t k_of(int64_t len, int64_t k, int64_t ratio) {
  if (k > 0) return len < k ? len : k;
  const int64_t kb = len / ratio;
  return kb < 1 ? 1 : kb;
}

__device__ __forceinline__ int64_t length_of(const int64_t* lengths, int64_t b, int64_t T) {
  if (!lengths) return T;
  const int64_t n = lengths[b];
  return n < 1 ? 1 : (n > T ? T : n);  // validated on the host; clamped here only to stay in bounds
}

// Shared-memory layout of one block (bytes): tile (optional) | prefix keys | remaining ranks | histograms.
template <typename V>
struct Smem {
  using K = typename KeyT<V>::type;
  __host__ __device__ static size_t tile_bytes(int64_t T, int CT, bool staged) {
    return staged ? ((static_cast<size_t>(T) * (CT + 1) * sizeof(V) + 15) / 16) * 16 : 0;
  }
  __host__ __device__ static size_t bytes(int64_t T, int CT, int NV, bool staged) {
    const size_t pairs = static_cast<size_t>(NV) * CT;
    return tile_bytes(T, CT, staged) + pairs * sizeof(K) + ((pairs * sizeof(int) + 15) / 16) * 16 +
           pairs * kHistStride * sizeof(uint32_t);
  }
  // Carves the dynamic shared memory of a block into the four arrays (same layout as bytes()).
  __device__ static void carve(unsigned char* smem, int64_t T, int CT, int NV, bool staged, V*& tile, K*& prefix,
                               int*& krem, uint32_t*& hist) {
    const size_t pairs = static_cast<size_t>(NV) * CT;
    tile = reinterpret_cast<V*>(smem);
    prefix = reinterpret_cast<K*>(smem + tile_bytes(T, CT, staged));
    krem = reinterpret_cast<int*>(prefix + pairs);
    hist = reinterpret_cast<uint32_t*>(reinterpret_cast<unsigned char*>(krem) + ((pairs * sizeof(int) + 15) / 16) * 16);
  }
};

// Runs the radix passes for NV variants x CT classes of the tile (classes cl >= nct are skipped).
// get(j, t, cl) returns the value of variant j at time t and tile class cl. On return prefix[p] holds
// the exact key of the kb-th element of pair p = j * CT + cl and krem[p] the number r >= 1 of elements
// with that key to take (lowest time indices first).
template <typename V, int NV, typename Get>
__device__ void radix_select(const Get& get, int64_t len, int CT, int nct, int64_t kb,
                             typename KeyT<V>::type* prefix, int* krem, uint32_t* hist) {
  using K = typename KeyT<V>::type;
  constexpr int kBits = KeyT<V>::bits;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int pairs = NV * CT;
  for (int p = tid; p < pairs; p += kThreads) {
    prefix[p] = 0;
    krem[p] = static_cast<int>(kb);
  }
  // kThreads is a multiple of CT: thread tid always handles class tid % CT, at times tid / CT + i * step
  const int cl = tid % CT;
  const int step = kThreads / CT;
  for (int shift = kBits - 8; shift >= 0; shift -= 8) {
    for (int i = tid; i < pairs * kHistStride; i += kThreads) hist[i] = 0;
    __syncthreads();
    if (cl < nct) {
      K pre[NV];
#pragma unroll
      for (int j = 0; j < NV; ++j) pre[j] = prefix[j * CT + cl];
      const bool first = shift == kBits - 8;
      for (int64_t t = tid / CT; t < len; t += step) {
#pragma unroll
        for (int j = 0; j < NV; ++j) {
          const K key = order_key(get(j, t, cl));
          if (first || (key >> (shift + 8)) == (pre[j] >> (shift + 8))) {
            atomicAdd(&hist[(j * CT + cl) * kHistStride + static_cast<int>((key >> shift) & 0xFF)], 1u);
          }
        }
      }
    }
    __syncthreads();
    for (int p = warp; p < pairs; p += kWarps) {
      if (p % CT >= nct) continue;
      const int need = krem[p];
      // lane l holds digits 255 - 8l ... 248 - 8l, so lanes run in descending digit order
      uint32_t cnt[8];
      uint32_t sum = 0;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        cnt[i] = hist[p * kHistStride + 255 - (lane * 8 + i)];
        sum += cnt[i];
      }
      uint32_t incl = sum;
#pragma unroll
      for (int off = 1; off < 32; off <<= 1) {
        const uint32_t v = __shfl_up_sync(0xFFFFFFFFu, incl, off);
        if (lane >= off) incl += v;
      }
      uint32_t excl = incl - sum;
      const bool hit = excl < static_cast<uint32_t>(need) && static_cast<uint32_t>(need) <= incl;
      if (hit) {
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          if (excl + cnt[i] >= static_cast<uint32_t>(need)) {
            const K digit = static_cast<K>(255 - (lane * 8 + i));
            prefix[p] |= digit << shift;
            krem[p] = need - static_cast<int>(excl);
            break;
          }
          excl += cnt[i];
        }
      }
      __syncwarp();
    }
    __syncthreads();
  }
}

// One warp per pair: sums the selected values in time order (deterministic) and finds the cutoff.
// emit(p, sum, cut_value, cut_time) is called by lane 0.
template <typename V, typename A, int NV, typename Get, typename Emit>
__device__ void finish_select(const Get& get, int64_t len, int CT, int nct,
                              const typename KeyT<V>::type* prefix, const int* krem, const Emit& emit) {
  using K = typename KeyT<V>::type;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int p = warp; p < NV * CT; p += kWarps) {
    const int j = p / CT, cl = p % CT;
    if (cl >= nct) continue;
    const K kth = prefix[p];
    const int r = krem[p];
    A acc = 0;
    int seen = 0;
    V cut_v = 0;
    int cut_t = -1;
    for (int64_t base = 0; base < len; base += 32) {
      const int64_t t = base + lane;
      V v = 0;
      K key = 0;
      if (t < len) {
        v = get(j, t, cl);
        key = order_key(v);
      }
      const bool valid = t < len;
      const bool eq = valid && key == kth;
      const unsigned ties = __ballot_sync(0xFFFFFFFFu, eq);
      const int rank = seen + __popc(ties & ((1u << lane) - 1u)) + 1;  // 1-based rank among ties
      if (valid && (key > kth || (eq && rank <= r))) acc += static_cast<A>(v);
      if (eq && rank == r) {
        cut_v = v;
        cut_t = static_cast<int>(t);
      }
      seen += __popc(ties);
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xFFFFFFFFu, acc, off);
    // the lane that met the r-th tie broadcasts the cutoff
    const unsigned owner = __ballot_sync(0xFFFFFFFFu, cut_t >= 0);
    const int src = owner ? __ffs(owner) - 1 : 0;
    cut_v = __shfl_sync(0xFFFFFFFFu, cut_v, src);
    cut_t = __shfl_sync(0xFFFFFFFFu, cut_t, src);
    if (lane == 0) emit(j, cl, acc, cut_v, cut_t);
  }
}

// Picks the class-tile width CT (power of two, <= max_ct) and whether the tile fits in shared memory.
struct TilePlan {
  int CT;
  bool staged;
  size_t smem;
};

template <typename V>
TilePlan plan_tiles(int64_t B, int64_t T, int64_t C, int NV, int max_ct, int num_sms, size_t budget) {
  int CT = 1;
  while (CT < max_ct && CT < C) CT <<= 1;
  // keep the grid at least two blocks per SM when the batch is small
  while (CT > 1 && B * ((C + CT - 1) / CT) < 2 * static_cast<int64_t>(num_sms)) CT >>= 1;
  int ct = CT;
  while (ct > 1 && Smem<V>::bytes(T, ct, NV, true) > budget) ct >>= 1;
  if (Smem<V>::bytes(T, ct, NV, true) <= budget) return {ct, true, Smem<V>::bytes(T, ct, NV, true)};
  return {CT, false, Smem<V>::bytes(T, CT, NV, false)};
}

}  // namespace wtal::cuda::pool
