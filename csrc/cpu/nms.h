// Greedy 1-D non-maximum suppression (hard, Gaussian and linear soft-NMS), batched over groups.
// The overlap and decay helpers below are shared verbatim with csrc/cuda/nms.cu so that both
// devices evaluate the same float64 expressions in the same order.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define WTAL_HD __host__ __device__ __forceinline__
#else
#define WTAL_HD inline
#endif

namespace wtal::cpu {

enum class NmsMethod : int { kHard = 0, kGaussian = 1, kLinear = 2 };

// Longest segment (and largest length_eps) accepted: two lengths plus eps and +1 still fit in a float64,
// so the union in nms_overlap never overflows to inf (which would turn IoU 1 into 0).
constexpr double kNmsMaxLength = 0x1p1020;

// kIoU:            inter = max(0, min(e) - max(s)), union = (len_i + eps) + (len_j + eps) - inter;
//                  overlap 0 when union <= 0 (two zero-length segments with eps = 0).
// kPlusOne:        BaSNet/UM/HAM-Net: inter = max(0, min(e) - max(s) + 1), area = e - s + 1.
// kInterOverOther: FAC-Net: inter (plus-one) / area (plus-one) of the *other* (lower-ranked) segment.
enum class NmsOverlap : int { kIoU = 0, kPlusOne = 1, kInterOverOther = 2 };

struct NmsOptions {
  NmsMethod method = NmsMethod::kHard;
  NmsOverlap overlap = NmsOverlap::kIoU;
  double iou_threshold = 0.5;   // hard and linear only; Gaussian ignores it
  double sigma = 0.5;           // Gaussian: score *= exp(-overlap^2 / sigma)
  bool has_min_score = false;
  double min_score = 0.0;       // drop candidates whose (decayed) score is < min_score
  int64_t max_num = 0;          // per group; <= 0: unlimited
  bool suppress_equal = true;   // true: act when overlap >= threshold; false: when overlap > threshold
  bool always_keep_top = false; // keep each group's first selection even if below min_score (ActionFormer)
  double length_eps = 0.0;      // kIoU only: added to each length in the union (ActionFormer: 1e-6)
  bool order_by_score = false;  // output each group's survivors by descending final score (stable)
};

// Overlap of the selected segment (si, ei) with another candidate (sj, ej), in float64.
WTAL_HD double nms_overlap(NmsOverlap kind, double si, double ei, double sj, double ej, double eps) {
  const double lo = sj > si ? sj : si;
  const double hi = ej < ei ? ej : ei;
  if (kind == NmsOverlap::kIoU) {
    const double d = hi - lo;
    const double inter = d > 0.0 ? d : 0.0;
    const double uni = ((ei - si) + eps) + ((ej - sj) + eps) - inter;
    return uni > 0.0 ? inter / uni : 0.0;
  }
  const double d = (hi - lo) + 1.0;
  const double inter = d > 0.0 ? d : 0.0;
  const double area_j = (ej - sj) + 1.0;
  if (kind == NmsOverlap::kPlusOne) return inter / ((((ei - si) + 1.0) + area_j) - inter);
  return inter / area_j;
}

WTAL_HD bool nms_hits(double overlap, double threshold, bool suppress_equal) {
  return suppress_equal ? overlap >= threshold : overlap > threshold;
}

// Multiplicative score weight for a soft method (1 when nothing applies).
WTAL_HD double nms_weight(NmsMethod method, double overlap, double threshold, bool suppress_equal, double sigma) {
  if (method == NmsMethod::kGaussian) return exp(-(overlap * overlap) / sigma);
  return nms_hits(overlap, threshold, suppress_equal) ? 1.0 - overlap : 1.0;
}

// Runs NMS independently inside each group (groups == nullptr: one group) and writes the kept input
// indices and their final scores, ordered by group id ascending, then by selection order. Selection is
// greedy by current score, ties to the lowest input index. keep and kept_scores must hold n entries.
// Returns the number kept. Throws std::invalid_argument on NaN/inf values, reversed segments or segments
// longer than kNmsMaxLength.
template <typename T>
int64_t nms(const T* segments, const T* scores, const int64_t* groups, int64_t n, const NmsOptions& options,
            int64_t* keep, double* kept_scores, int num_threads);

}  // namespace wtal::cpu
