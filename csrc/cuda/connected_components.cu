// connected_components on the GPU: one warp per (row, threshold) pair walks the row 32 positions at a
// time; run starts/ends come from a ballot of `x > thr` and the previous position's bit. Pass 1 counts
// kept runs per pair and scans the counts (CUB); the caller reads the total (its only host sync) and
// allocates the outputs; pass 2 writes each run at its pair's offset, so the output is ordered by row,
// threshold, then time exactly as the CPU kernel's.
#include <cub/cub.cuh>

#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/cuda_api.h"

namespace wtal::cuda {
namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kBlock = 256;

__device__ inline bool above(double v, double thr) { return v > thr; }

// Run starting at t has >= min_len positions (it is maximal, so checking the next min_len suffices).
template <typename T>
__device__ bool long_enough_fwd(const T* row, int64_t t, int64_t L, double thr, int64_t min_len) {
  if (t + min_len > L) return false;
  for (int64_t k = 1; k < min_len; ++k)
    if (!above(static_cast<double>(row[t + k]), thr)) return false;
  return true;
}

// Run ending (exclusively) at t has >= min_len positions.
template <typename T>
__device__ bool long_enough_bwd(const T* row, int64_t t, double thr, int64_t min_len) {
  if (t - min_len < 0) return false;
  for (int64_t k = 2; k <= min_len; ++k)
    if (!above(static_cast<double>(row[t - k]), thr)) return false;
  return true;
}

__device__ inline bool row_ok(const int64_t* rs, const int64_t* rl, int64_t n, int64_t size, int64_t max_len) {
  const int64_t s = rs[n], L = rl[n];
  return L >= 0 && L <= max_len && s >= 0 && s + L <= size;
}

template <typename T>
__global__ void cc_count_kernel(const T* __restrict__ x, int64_t size, int64_t max_len, const int64_t* rs,
                                const int64_t* rl, int64_t N, const double* thr, int64_t M, int64_t min_len,
                                bool drop0, int64_t* counts, unsigned long long* flag) {
  const int lane = threadIdx.x & 31;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int64_t nwarps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  const int64_t P = N * M;
  for (int64_t p = warp; p < P; p += nwarps) {  // warp-uniform loop
    const int64_t n = p / M, m = p % M;
    if (!row_ok(rs, rl, n, size, max_len)) {
      if (lane == 0) {
        counts[p] = 0;
        atomicOr(flag, 2ull);
      }
      continue;
    }
    const T* row = x + rs[n];
    const int64_t L = rl[n];
    const double th = thr[m];
    if (th != th) {
      if (lane == 0) atomicOr(flag, 4ull);  // NaN threshold
    }
    int64_t kept = 0, n_above = 0;
    bool carry = false, nan_seen = false, first_above = false;
    for (int64_t base = 0; base < L; base += 32) {
      const int64_t t = base + lane;
      bool a = false;
      if (t < L) {
        const double v = static_cast<double>(row[t]);
        nan_seen |= (v != v);
        a = above(v, th);
      }
      const unsigned mask = __ballot_sync(kFull, a);
      if (base == 0) first_above = mask & 1u;
      const bool prev = lane == 0 ? carry : ((mask >> (lane - 1)) & 1u);
      const bool keep = a && !prev && (min_len <= 1 || long_enough_fwd(row, t, L, th, min_len));
      kept += __popc(__ballot_sync(kFull, keep));
      n_above += __popc(mask);
      carry = (mask >> 31) & 1u;
    }
    if (drop0 && n_above == 1 && first_above) kept = 0;  // HAM-Net's `if temp_list.any()`
    if (__any_sync(kFull, nan_seen) && lane == 0) atomicOr(flag, 1ull);
    if (lane == 0) counts[p] = kept;
  }
}

template <typename T>
__global__ void cc_fill_kernel(const T* __restrict__ x, const int64_t* rs, const int64_t* rl, int64_t N,
                               const double* thr, int64_t M, int64_t min_len, const int64_t* offsets,
                               int64_t* out_row, int64_t* out_tix, int64_t* out_start, int64_t* out_end) {
  const int lane = threadIdx.x & 31;
  const unsigned lt = (1u << lane) - 1u;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int64_t nwarps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  const int64_t P = N * M;
  for (int64_t p = warp; p < P; p += nwarps) {
    const int64_t off = offsets[p], cnt = offsets[p + 1] - off;
    if (cnt <= 0) continue;  // no runs, an invalid row, or a dropped index-0-only pair
    const int64_t n = p / M, m = p % M;
    const T* row = x + rs[n];
    const int64_t L = rl[n];
    const double th = thr[m];
    int64_t ns = 0, ne = 0;
    bool carry = false;
    // Positions 0..L inclusive: position L (never above) closes a run that reaches the row's end.
    for (int64_t base = 0; base <= L; base += 32) {
      const int64_t t = base + lane;
      const bool a = t < L && above(static_cast<double>(row[t]), th);
      const unsigned mask = __ballot_sync(kFull, a);
      const bool prev = lane == 0 ? carry : ((mask >> (lane - 1)) & 1u);
      const bool ks = a && !prev && (min_len <= 1 || long_enough_fwd(row, t, L, th, min_len));
      const bool ke = !a && prev && (min_len <= 1 || long_enough_bwd(row, t, th, min_len));
      const unsigned ms = __ballot_sync(kFull, ks), me = __ballot_sync(kFull, ke);
      if (ks) {
        const int64_t k = ns + __popc(ms & lt);
        if (k < cnt) {
          out_row[off + k] = n;
          out_tix[off + k] = m;
          out_start[off + k] = t;
        }
      }
      if (ke) {
        const int64_t k = ne + __popc(me & lt);
        if (k < cnt) out_end[off + k] = t;
      }
      ns += __popc(ms);
      ne += __popc(me);
      carry = (mask >> 31) & 1u;
    }
  }
}

int pair_grid(int64_t pairs) { return grid_size(pairs * 32, kBlock); }

}  // namespace

int64_t connected_components_temp_bytes(int64_t num_pairs) {
  size_t bytes = 0;
  check(cub::DeviceScan::ExclusiveSum(nullptr, bytes, static_cast<const int64_t*>(nullptr),
                                      static_cast<int64_t*>(nullptr), static_cast<int64_t>(num_pairs + 1)),
        "cub::DeviceScan::ExclusiveSum (size query)");
  return static_cast<int64_t>(bytes);
}

void connected_components_count(bool is_double, std::uintptr_t signal, int64_t signal_size, int64_t max_len,
                                std::uintptr_t row_start, std::uintptr_t row_len, int64_t n_rows,
                                std::uintptr_t thresholds, int64_t n_thresholds, int64_t min_len, bool drop0,
                                std::uintptr_t meta, std::uintptr_t temp, int64_t temp_bytes, std::uintptr_t stream,
                                int device) {
  DeviceGuard guard(device);
  cudaStream_t s = as_stream(stream);
  const int64_t P = n_rows * n_thresholds;
  int64_t* counts = reinterpret_cast<int64_t*>(meta);
  int64_t* offsets = counts + P + 1;
  auto* flag = reinterpret_cast<unsigned long long*>(counts + 2 * P + 2);
  const auto* rs = reinterpret_cast<const int64_t*>(row_start);
  const auto* rl = reinterpret_cast<const int64_t*>(row_len);
  const auto* thr = reinterpret_cast<const double*>(thresholds);
  if (P > 0) {
    if (is_double) {
      cc_count_kernel<double><<<pair_grid(P), kBlock, 0, s>>>(reinterpret_cast<const double*>(signal), signal_size,
                                                              max_len, rs, rl, n_rows, thr, n_thresholds, min_len,
                                                              drop0, counts, flag);
    } else {
      cc_count_kernel<float><<<pair_grid(P), kBlock, 0, s>>>(reinterpret_cast<const float*>(signal), signal_size,
                                                             max_len, rs, rl, n_rows, thr, n_thresholds, min_len,
                                                             drop0, counts, flag);
    }
    check_launch("cc_count_kernel");
  }
  size_t bytes = static_cast<size_t>(temp_bytes);
  check(cub::DeviceScan::ExclusiveSum(reinterpret_cast<void*>(temp), bytes, counts, offsets, P + 1, s),
        "cub::DeviceScan::ExclusiveSum");
}

void connected_components_fill(bool is_double, std::uintptr_t signal, std::uintptr_t row_start,
                               std::uintptr_t row_len, int64_t n_rows, std::uintptr_t thresholds,
                               int64_t n_thresholds, int64_t min_len, bool drop0, std::uintptr_t meta,
                               std::uintptr_t row, std::uintptr_t threshold_index, std::uintptr_t start,
                               std::uintptr_t end, std::uintptr_t stream, int device) {
  const int64_t P = n_rows * n_thresholds;
  if (P == 0) return;
  DeviceGuard guard(device);
  cudaStream_t s = as_stream(stream);
  const int64_t* offsets = reinterpret_cast<const int64_t*>(meta) + P + 1;
  const auto* rs = reinterpret_cast<const int64_t*>(row_start);
  const auto* rl = reinterpret_cast<const int64_t*>(row_len);
  const auto* thr = reinterpret_cast<const double*>(thresholds);
  auto* o_row = reinterpret_cast<int64_t*>(row);
  auto* o_tix = reinterpret_cast<int64_t*>(threshold_index);
  auto* o_start = reinterpret_cast<int64_t*>(start);
  auto* o_end = reinterpret_cast<int64_t*>(end);
  if (is_double) {
    cc_fill_kernel<double><<<pair_grid(P), kBlock, 0, s>>>(reinterpret_cast<const double*>(signal), rs, rl, n_rows,
                                                           thr, n_thresholds, min_len, offsets, o_row, o_tix, o_start,
                                                           o_end);
  } else {
    cc_fill_kernel<float><<<pair_grid(P), kBlock, 0, s>>>(reinterpret_cast<const float*>(signal), rs, rl, n_rows,
                                                          thr, n_thresholds, min_len, offsets, o_row, o_tix, o_start,
                                                          o_end);
  }
  check_launch("cc_fill_kernel");
  (void)drop0;  // dropped pairs have count 0 in the offsets
}

}  // namespace wtal::cuda
