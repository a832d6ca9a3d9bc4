// oic_scores on the GPU: mark the rows that segments use, build those rows' double-double prefix sums
// (for both dtypes; cpu/oic_scores.h says why) with a block-wide CUB scan, then one thread per segment
// evaluates the variant's windows with the same host/device function as the CPU.
#include <cub/cub.cuh>

#include <cstdint>

#include "cpu/oic_scores.h"
#include "cuda/common.cuh"
#include "cuda/cuda_api.h"

namespace wtal::cuda {
namespace {

constexpr int kBlock = 256;

// hi + lo, kept normalised; addition via TwoSum so the scan keeps ~106 bits.
struct DD {
  double hi, lo;
};

__device__ inline DD dd_add(DD a, DD b) {
  const double s = a.hi + b.hi;
  const double bp = s - a.hi;
  const double err = (a.hi - (s - bp)) + (b.hi - bp);
  const double t = a.lo + b.lo + err;
  const double hi = s + t;
  return DD{hi, t - (hi - s)};
}

__device__ inline DD to_acc(float v) { return DD{static_cast<double>(v), 0.0}; }
__device__ inline DD to_acc(double v) { return DD{v, 0.0}; }

struct AccPlus {
  __device__ DD operator()(const DD& a, const DD& b) const { return dd_add(a, b); }
};

__host__ __device__ inline double diff(DD b, DD a) { return (b.hi - a.hi) + (b.lo - a.lo); }

__global__ void mark_rows_kernel(const int64_t* rows, int64_t S, int64_t R, unsigned char* used) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < S;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = rows[i];
    if (r >= 0 && r < R) used[r] = 1;
  }
}

// One block per row (grid-stride): P[r][0] = 0, P[r][t + 1] = sum of cas[r][0..t].
template <typename T>
__global__ void prefix_kernel(const T* __restrict__ cas, int64_t R, int64_t W, const int64_t* lengths,
                              const unsigned char* used, DD* prefix, unsigned long long* flag) {
  using Acc = DD;
  using BlockScan = cub::BlockScan<Acc, kBlock>;
  __shared__ typename BlockScan::TempStorage temp;
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
    const int64_t L = lengths[r];
    if (L < 0 || L > W) {
      if (threadIdx.x == 0) atomicOr(flag, 2ull);
      continue;
    }
    if (!used[r]) continue;
    const T* x = cas + r * W;
    Acc* P = prefix + r * (W + 1);
    Acc running{};
    if (threadIdx.x == 0) P[0] = running;
    bool bad_seen = false, big_seen = false;
    for (int64_t base = 0; base < L; base += kBlock) {
      const int64_t t = base + threadIdx.x;
      T v = T(0);
      if (t < L) {
        v = x[t];
        bad_seen |= !isfinite(static_cast<double>(v));
      }
      Acc a = to_acc(v);
      Acc total;
      BlockScan(temp).InclusiveScan(a, a, AccPlus(), total);
      __syncthreads();  // temp storage is reused by the next tile
      a = dd_add(running, a);
      if (t < L) {
        P[t + 1] = a;
        // window sums of such a row could overflow (the CPU kernel rescales it; see cpu/oic_scores.cpp)
        big_seen |= !(fabs(a.hi) <= 0x1p1019 && fabs(static_cast<double>(v)) <= 0x1p1019);
      }
      running = dd_add(running, total);
    }
    if (bad_seen) atomicOr(flag, 1ull);
    else if (big_seen) atomicOr(flag, 32ull);
  }
}

template <typename T>
struct RowSum {
  const DD* P;
  __host__ __device__ double operator()(int64_t a, int64_t b) const { return diff(P[b], P[a]); }
};

template <typename T>
__global__ void score_kernel(int64_t R, int64_t W, const int64_t* lengths, const int64_t* rows,
                             const int64_t* starts, const int64_t* ends, int64_t S, int variant, double ratio,
                             double weight, const DD* prefix, T* out,
                             unsigned long long* flag) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < S;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = rows[i], s = starts[i], e = ends[i];
    unsigned long long bad = 0;
    if (r < 0 || r >= R) bad |= 4ull;
    else if (s < 0 || e <= s) bad |= 8ull;
    else if (lengths[r] < 0 || lengths[r] > W) bad |= 2ull;
    else if (e > lengths[r]) bad |= 16ull;
    if (bad) {
      atomicOr(flag, bad);
      out[i] = T(0);
      continue;
    }
    RowSum<T> sum{prefix + r * (W + 1)};
    out[i] = static_cast<T>(cpu::oic_detail::score(sum, lengths[r], s, e, variant, ratio, weight));
  }
}

size_t align_up(size_t v) { return (v + 255) & ~static_cast<size_t>(255); }

template <typename T>
void launch(std::uintptr_t cas, int64_t R, int64_t W, std::uintptr_t row_len, std::uintptr_t rows,
            std::uintptr_t starts, std::uintptr_t ends, int64_t S, int variant, double ratio, double weight,
            std::uintptr_t out, std::uintptr_t temp, std::uintptr_t flag_ptr, cudaStream_t s) {
  using Acc = DD;
  auto* used = reinterpret_cast<unsigned char*>(temp);
  auto* prefix = reinterpret_cast<Acc*>(temp + align_up(static_cast<size_t>(R)));
  auto* flag = reinterpret_cast<unsigned long long*>(flag_ptr);
  const auto* len = reinterpret_cast<const int64_t*>(row_len);
  const auto* ro = reinterpret_cast<const int64_t*>(rows);
  check(cudaMemsetAsync(used, 0, static_cast<size_t>(R), s), "cudaMemsetAsync(oic row marks)");
  if (S > 0) {
    mark_rows_kernel<<<grid_size(S, kBlock), kBlock, 0, s>>>(ro, S, R, used);
    check_launch("mark_rows_kernel");
  }
  const int row_blocks = static_cast<int>(R < 65535 * 4 ? R : 65535 * 4);
  prefix_kernel<T><<<row_blocks, kBlock, 0, s>>>(reinterpret_cast<const T*>(cas), R, W, len, used, prefix, flag);
  check_launch("prefix_kernel");
  if (S > 0) {
    score_kernel<T><<<grid_size(S, kBlock), kBlock, 0, s>>>(R, W, len, ro, reinterpret_cast<const int64_t*>(starts),
                                                           reinterpret_cast<const int64_t*>(ends), S, variant, ratio,
                                                           weight, prefix, reinterpret_cast<T*>(out), flag);
    check_launch("score_kernel");
  }
}

}  // namespace

int64_t oic_scores_temp_bytes(bool is_double, int64_t n_rows, int64_t width) {
  const size_t acc = sizeof(DD);
  return static_cast<int64_t>(align_up(static_cast<size_t>(n_rows)) +
                              static_cast<size_t>(n_rows) * static_cast<size_t>(width + 1) * acc);
}

void oic_scores(bool is_double, std::uintptr_t cas, int64_t n_rows, int64_t width, std::uintptr_t row_len,
                std::uintptr_t rows, std::uintptr_t starts, std::uintptr_t ends, int64_t n_segments, int variant,
                double outer_ratio, double outer_weight, std::uintptr_t out, std::uintptr_t temp, int64_t temp_bytes,
                std::uintptr_t flag, std::uintptr_t stream, int device) {
  if (n_rows == 0) return;
  if (temp_bytes < oic_scores_temp_bytes(is_double, n_rows, width)) {
    throw std::invalid_argument("oic_scores: scratch buffer too small");
  }
  DeviceGuard guard(device);
  cudaStream_t s = as_stream(stream);
  if (is_double) {
    launch<double>(cas, n_rows, width, row_len, rows, starts, ends, n_segments, variant, outer_ratio, outer_weight,
                   out, temp, flag, s);
  } else {
    launch<float>(cas, n_rows, width, row_len, rows, starts, ends, n_segments, variant, outer_ratio, outer_weight,
                  out, temp, flag, s);
  }
}

}  // namespace wtal::cuda
