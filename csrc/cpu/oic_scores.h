// Outer-inner contrast scores of segments against rows of a class activation sequence, O(1) per
// segment from per-row prefix sums.
//
// Row r of `cas` is cas[row_start[r], row_start[r] + row_len[r]); segment s is [starts[s], ends[s])
// of row rows[s] (end exclusive, 0 <= start < end <= row_len). The window conventions of each variant
// (research/seed_models.md §1.4, §2.4, §4.5; n = end - start, L = row length, r = outer_ratio,
// int() truncates toward zero as Python's does):
//   hamnet: inner [s, e); outer [max(0, int(s - r n)), s) U [e, min(L-1, int(e-1 + r n)) + 1);
//           score = inner - w * outer, outer = 0 when its window is empty.
//   facnet: inner [s, min(e+1, L)) (the authors' extra snippet); outer
//           [max(0, int(s - r n)), s) U [e+1, min(L-1, int(e + r n + 1))); score = inner - w * outer.
//   bm:     k = int(r n) + 1; left = mean [max(0, s-k), s) if s > 0 else 0; right = mean [e, min(L, e+k))
//           if e < L else 0; score = inner - w * (left + right).
// Sums use float64 prefix sums for float32 input and compensated (double-double) prefix sums for
// float64 input, so long rows do not lose the accuracy of a direct sum.
#pragma once
#include <cstdint>

namespace wtal::cpu {

enum class OicVariant : int { hamnet = 0, facnet = 1, bm = 2 };

struct OicParams {
  OicVariant variant = OicVariant::hamnet;
  double outer_ratio = 0.25;
  double outer_weight = 1.0;
  int num_threads = 0;
};

// Throws std::invalid_argument for a segment outside its row or NaN inside a used row.
template <typename T>
void oic_scores(const T* cas, const int64_t* row_start, const int64_t* row_len, int64_t n_rows,
                const int64_t* rows, const int64_t* starts, const int64_t* ends, int64_t n_segments,
                const OicParams& params, T* out);

}  // namespace wtal::cpu
