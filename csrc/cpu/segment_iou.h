// Pairwise temporal IoU of two sets of 1-D segments (CPU).
#pragma once

#include <cstdint>

namespace wtal::cpu {

// Continuous convention (ActivityNet `segment_iou`): inter = max(0, min(e) - max(s)),
// union = len_a + len_b - inter. Plus-one convention (BaSNet/UM/HAM-Net pixel style): +1 on both
// lengths and on the intersection. Computed in float64 with numpy's NaN and signed-zero semantics
// (see segment_iou.cpp). No validation of segment order: reversed and zero-length segments follow
// the formula (0/0 -> NaN, x/0 -> inf, negative unions -> negative or -0.0).
// a: [n, 2], b: [m, 2] row-major (start, end); out: [n, m] row-major.
template <typename T>
void segment_iou(const T* a, int64_t n, const T* b, int64_t m, bool plus_one, double* out, int num_threads);

}  // namespace wtal::cpu
