// Batched greedy NMS on CUDA: one thread block per group. The caller (wtal/ops/_nms_cuda.py) sorts the
// candidates with torch by (group ascending, score descending, input index ascending) and passes the
// permutation; each block finds its group's extent by binary search on the sorted group ids and runs
// the same greedy loop as the CPU kernel with the same float64 overlap/decay expressions (cpu/nms.h),
// so both devices select the same segments. No host synchronisation: outputs are written in place
// (slot r of a group's range = its r-th selection, with valid = 1) and compacted by the caller.
#include <cstdint>
#include <limits>

#include "cpu/nms.h"
#include "cuda/common.cuh"
#include "cuda/cuda_api.h"

namespace wtal::cuda {
namespace {

using wtal::cpu::NmsMethod;
using wtal::cpu::NmsOptions;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

struct Best {
  double score;
  int64_t index;  // input index, the tie-breaker
  int64_t pos;    // sorted position; -1 = none
};

__device__ __forceinline__ bool better(const Best& a, const Best& b) {
  if (b.pos < 0) return a.pos >= 0;
  if (a.pos < 0) return false;
  return a.score > b.score || (a.score == b.score && a.index < b.index);
}

__device__ __forceinline__ Best shfl_down(const Best& v, int offset) {
  Best o;
  o.score = __shfl_down_sync(0xffffffffu, v.score, offset);
  o.index = __shfl_down_sync(0xffffffffu, v.index, offset);
  o.pos = __shfl_down_sync(0xffffffffu, v.pos, offset);
  return o;
}

// Block-wide argmax; every thread returns the winner.
__device__ Best block_best(Best v, Best* s_warp) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    Best o = shfl_down(v, offset);
    if (better(o, v)) v = o;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) s_warp[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kWarps ? s_warp[lane] : Best{0.0, 0, -1};
    for (int offset = 16; offset > 0; offset >>= 1) {
      Best o = shfl_down(v, offset);
      if (better(o, v)) v = o;
    }
    if (lane == 0) s_warp[0] = v;
  }
  __syncthreads();
  Best r = s_warp[0];
  __syncthreads();  // s_warp is reused by the next call
  return r;
}

__device__ __forceinline__ bool below_min(const NmsOptions& o, double s) { return o.has_min_score && s < o.min_score; }

// Scratch layout (caller-owned, n entries each, indexed by sorted position): start, end, score (float64),
// alive (uint8). Outputs: keep/score/valid at sorted positions [start, start + kept).
template <typename T>
__global__ void nms_groups_kernel(const T* __restrict__ segments, const T* __restrict__ scores,
                                  const int64_t* __restrict__ order, const int64_t* __restrict__ groups,
                                  int64_t n, NmsOptions o, double* __restrict__ seg_start,
                                  double* __restrict__ seg_end, double* work, uint8_t* alive_raw,
                                  int64_t* __restrict__ keep, double* __restrict__ kept_scores,
                                  uint8_t* __restrict__ valid) {
  __shared__ Best s_warp[kWarps];
  __shared__ int64_t s_end;
  volatile uint8_t* alive = alive_raw;
  volatile double* score = work;
  const int tid = threadIdx.x;

  for (int64_t first = blockIdx.x; first < n; first += gridDim.x) {
    if (groups == nullptr && first != 0) break;  // a single group starting at 0
    if (groups != nullptr && first > 0 && groups[first] == groups[first - 1]) continue;
    if (tid == 0) {
      int64_t lo = first + 1, hi = n;
      if (groups != nullptr) {  // first position after this group (ids sorted ascending)
        const int64_t key = groups[first];
        while (lo < hi) {
          const int64_t mid = lo + (hi - lo) / 2;
          if (groups[mid] == key) lo = mid + 1; else hi = mid;
        }
      } else {
        lo = n;
      }
      s_end = lo;
    }
    __syncthreads();
    const int64_t last = s_end;
    __syncthreads();

    for (int64_t p = first + tid; p < last; p += kThreads) {
      const int64_t i = order[p];
      seg_start[p] = static_cast<double>(segments[2 * i]);
      seg_end[p] = static_cast<double>(segments[2 * i + 1]);
      score[p] = static_cast<double>(scores[i]);
      alive[p] = 1;
    }
    __syncthreads();

    int64_t kept = 0;  // uniform across the block
    if (o.method == NmsMethod::kHard) {
      // Sorted order is the greedy order: walk it once, suppressing later candidates in parallel.
      for (int64_t i = first; i < last; ++i) {
        if (!alive[i]) continue;  // no writes happened since the last barrier: uniform
        if (o.max_num > 0 && kept >= o.max_num) break;
        const double si_score = score[i];
        if (below_min(o, si_score) && !(kept == 0 && o.always_keep_top)) break;
        if (tid == 0) {
          keep[first + kept] = order[i];
          kept_scores[first + kept] = si_score;
          valid[first + kept] = 1;
        }
        ++kept;
        const double si = seg_start[i], ei = seg_end[i];
        for (int64_t j = i + 1 + tid; j < last; j += kThreads) {
          if (!alive[j]) continue;
          const double ov = wtal::cpu::nms_overlap(o.overlap, si, ei, seg_start[j], seg_end[j], o.length_eps);
          if (wtal::cpu::nms_hits(ov, o.iou_threshold, o.suppress_equal)) alive[j] = 0;
        }
        __syncthreads();
      }
    } else {
      while (true) {
        if (o.max_num > 0 && kept >= o.max_num) break;
        Best b{0.0, 0, -1};
        for (int64_t p = first + tid; p < last; p += kThreads) {
          if (!alive[p]) continue;
          const Best c{score[p], order[p], p};
          if (better(c, b)) b = c;
        }
        b = block_best(b, s_warp);
        if (b.pos < 0) break;
        if (below_min(o, b.score) && !(kept == 0 && o.always_keep_top)) break;
        if (tid == 0) {
          keep[first + kept] = b.index;
          kept_scores[first + kept] = b.score;
          valid[first + kept] = 1;
        }
        ++kept;
        const double si = seg_start[b.pos], ei = seg_end[b.pos];
        for (int64_t p = first + tid; p < last; p += kThreads) {
          if (p == b.pos) {
            alive[p] = 0;
            continue;
          }
          if (!alive[p]) continue;
          const double ov = wtal::cpu::nms_overlap(o.overlap, si, ei, seg_start[p], seg_end[p], o.length_eps);
          double s = score[p];
          if (ov != 0.0) {  // weight is exactly 1 at overlap 0 (see cpu/nms.cpp)
            s *= wtal::cpu::nms_weight(o.method, ov, o.iou_threshold, o.suppress_equal, o.sigma);
            score[p] = s;
          }
          if (below_min(o, s)) alive[p] = 0;
        }
        __syncthreads();
      }
    }
    __syncthreads();
  }
}

}  // namespace

void nms(const void* segments, const void* scores, bool is_double, const int64_t* order, const int64_t* groups,
         int64_t n, const wtal::cpu::NmsOptions& options, double* scratch, uint8_t* alive, int64_t* keep,
         double* kept_scores, uint8_t* valid, std::uintptr_t stream, int device) {
  if (n <= 0) return;
  DeviceGuard guard(device);
  // Blocks stride over sorted positions and work where a group starts; more blocks than groups only
  // costs an early exit.
  const int grid = groups == nullptr ? 1 : static_cast<int>(n < 16384 ? n : 16384);
  double* seg_start = scratch;
  double* seg_end = scratch + n;
  double* work = scratch + 2 * n;
  if (is_double) {
    nms_groups_kernel<double><<<grid, kThreads, 0, as_stream(stream)>>>(
        static_cast<const double*>(segments), static_cast<const double*>(scores), order, groups, n, options,
        seg_start, seg_end, work, alive, keep, kept_scores, valid);
  } else {
    nms_groups_kernel<float><<<grid, kThreads, 0, as_stream(stream)>>>(
        static_cast<const float*>(segments), static_cast<const float*>(scores), order, groups, n, options,
        seg_start, seg_end, work, alive, keep, kept_scores, valid);
  }
  check_launch("nms_groups_kernel");
}

}  // namespace wtal::cuda
