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
// Sums come from compensated (double-double) prefix sums: a window's sum has ~1e-16 relative error with
// respect to the window's own magnitude (plus ~1e-32 of the row's), as accurate as a direct float64
// sum even on long rows or after large values. A row with values above 2**1018 / L (where a window
// sum or BM's left + right could overflow) is summed scaled by a power of two and the scores scaled
// back, so its windows keep their means (values below ~1e-290 in such a row lose precision to
// subnormals).
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define WTAL_OIC_HD __host__ __device__
#else
#define WTAL_OIC_HD
#endif

namespace wtal::cpu {

enum class OicVariant : int { hamnet = 0, facnet = 1, bm = 2 };

struct OicParams {
  OicVariant variant = OicVariant::hamnet;
  double outer_ratio = 0.25;
  double outer_weight = 1.0;
  int num_threads = 0;
};

namespace oic_detail {

WTAL_OIC_HD inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
WTAL_OIC_HD inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
// Python's int() of a float: truncation toward zero, saturated at +-2**62. Every window bound is clipped
// to [0, L] afterwards, so a huge (finite) ratio still gives Python's answer instead of an undefined
// double -> int64 conversion; +-inf (a product that overflowed) saturates the same way.
WTAL_OIC_HD inline int64_t py_int(double v) {
  const double lim = 4611686018427387904.0;  // 2**62
  if (v >= lim) return int64_t{1} << 62;
  if (v <= -lim) return -(int64_t{1} << 62);
  return static_cast<int64_t>(v);
}

// Score of segment [s, e) of a row of length L; sum(a, b) returns the float64 sum of row[a, b).
// Shared by the CPU and CUDA kernels so both use the same float64 operations in the same order.
template <class Sum>
WTAL_OIC_HD inline double score(const Sum& sum, int64_t L, int64_t s, int64_t e, int variant, double r, double w) {
  const int64_t n = e - s;
  const double dn = static_cast<double>(n);
  if (variant == 0) {  // hamnet
    const double inner = sum(s, e) / dn;
    const int64_t os = imax(0, py_int(static_cast<double>(s) - r * dn));
    const int64_t oe = imin(L - 1, py_int(static_cast<double>(e - 1) + r * dn)) + 1;
    const int64_t nl = imax(0, s - os), nr = imax(0, oe - e);
    double outer = 0.0;
    if (nl + nr > 0) outer = ((nl ? sum(os, s) : 0.0) + (nr ? sum(e, oe) : 0.0)) / static_cast<double>(nl + nr);
    return inner - w * outer;
  }
  if (variant == 1) {  // facnet
    const int64_t ie = imin(e + 1, L);
    const double inner = sum(s, ie) / static_cast<double>(ie - s);
    const int64_t os = imax(0, py_int(static_cast<double>(s) - r * dn));
    const int64_t oe = imin(L - 1, py_int((static_cast<double>(e) + r * dn) + 1.0));
    const int64_t nl = imax(0, s - os), nr = imax(0, oe - (e + 1));
    double outer = 0.0;
    if (nl + nr > 0) outer = ((nl ? sum(os, s) : 0.0) + (nr ? sum(e + 1, oe) : 0.0)) / static_cast<double>(nl + nr);
    return inner - w * outer;
  }
  // bm
  const double inner = sum(s, e) / dn;
  const int64_t k = py_int(r * dn) + 1;
  double left = 0.0, right = 0.0;
  if (s > 0) {
    const int64_t a = imax(0, s - k);
    left = sum(a, s) / static_cast<double>(s - a);
  }
  if (e < L) {
    const int64_t b = imin(L, e + k);
    right = sum(e, b) / static_cast<double>(b - e);
  }
  return inner - w * (left + right);
}

}  // namespace oic_detail

// Row r is the strided sequence cas[row_start[r] + t * stride], t < row_len[r], times
// scale[scale_start[r] + t] when scale is not null (the product in double: HAM-Net scores s = cas *
// attention straight from [B, T, C] and [B, T] without packing the rows). Throws std::invalid_argument
// for a segment outside its row or NaN/inf inside a used row (or a product cas * scale that overflows).
template <typename T, typename TS, typename TO>
void oic_scores(const T* cas, const int64_t* row_start, int64_t stride, const TS* scale, const int64_t* scale_start,
                const int64_t* row_len, int64_t n_rows, const int64_t* rows, const int64_t* starts,
                const int64_t* ends, int64_t n_segments, const OicParams& params, TO* out);

}  // namespace wtal::cpu
