#include "cpu/feature_lcs.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "cpu/finite.h"
#include "cpu/parallel.h"

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define WTAL_LCS_X86 1
#include <immintrin.h>
#else
#define WTAL_LCS_X86 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WTAL_LCS_PREFETCH(p) __builtin_prefetch((p), 0, 2)
#else
#define WTAL_LCS_PREFETCH(p) ((void)(p))
#endif

namespace wtal::cpu {
namespace {

constexpr int kMaxTile = 4;     // register tiles are at most kMaxTile x kMaxTile cells
constexpr int64_t kStrip = 64;  // rows of the outer range whose matches are held at once

// One instruction set's tiles (feature_lcs_kernels.inc); lanes32 = 0 and no tile32 where it does not screen.
struct LcsKernels {
  const char* name = "";
  int lanes64 = 0, lanes32 = 0;
  int tr = 0, tc = 0;  // the full tile: tr rows x tc columns (as many accumulators as the registers hold)
  // [rows - 1][cols - 1](x rows, y rows, D, out, prefetch start, prefetch lines): out[i * cols + j] = x[i] . y[j]
  void (*tile32[kMaxTile][kMaxTile])(const float* const*, const float* const*, int64_t, float*, const char*,
                                     int64_t) = {};
  void (*tile64f[kMaxTile][kMaxTile])(const float* const*, const float* const*, int64_t, double*, const char*,
                                      int64_t) = {};
  void (*tile64d[kMaxTile][kMaxTile])(const double* const*, const double* const*, int64_t, double*, const char*,
                                      int64_t) = {};
  double (*dot64f)(const float*, const float*, int64_t) = nullptr;  // one cell of tile64f, bit for bit
  double (*dot64d)(const double*, const double*, int64_t) = nullptr;
  double (*sumsq64f)(const float*, int64_t) = nullptr;
  double (*sumsq64d)(const double*, int64_t) = nullptr;
};

// Portable: 4 float64 lanes as plain arrays (multiply, then add: two roundings per step), no screening.
namespace portable {
struct Ops {
  static constexpr int L64 = 4, TR = 4, TC = 4;
  struct V64 {
    double v[4];
  };
  static V64 zero64() { return V64{{0.0, 0.0, 0.0, 0.0}}; }
  template <typename T>
  static V64 load64(const T* p) {
    return V64{{static_cast<double>(p[0]), static_cast<double>(p[1]), static_cast<double>(p[2]),
                static_cast<double>(p[3])}};
  }
  template <typename T>
  static V64 load64(const T* p, int n) {
    V64 r = zero64();
    for (int l = 0; l < n; ++l) r.v[l] = static_cast<double>(p[l]);
    return r;
  }
  static V64 fma64(const V64& a, const V64& b, const V64& c) {
    V64 r;
    for (int l = 0; l < 4; ++l) r.v[l] = a.v[l] * b.v[l] + c.v[l];
    return r;
  }
  static double sum64(const V64& a) { return (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]); }
};
#define WTAL_LCS_SCREENS 0
#include "cpu/feature_lcs_kernels.inc"
#undef WTAL_LCS_SCREENS
}  // namespace portable

#if WTAL_LCS_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace avx2 {
alignas(32) constexpr int32_t kMask32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
alignas(32) constexpr int64_t kMask64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
struct Ops {
  static constexpr int L32 = 8, L64 = 4;
  static constexpr int TR = 4, TC = 3;  // 12 accumulators + 3 + 1 operands in 16 registers
  using V32 = __m256;
  using V64 = __m256d;
  static inline V32 zero32() { return _mm256_setzero_ps(); }
  static inline V32 load32(const float* p) { return _mm256_loadu_ps(p); }
  static inline V32 load32(const float* p, int n) {
    return _mm256_maskload_ps(p, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask32 + 8 - n)));
  }
  static inline V32 fma32(V32 a, V32 b, V32 c) { return _mm256_fmadd_ps(a, b, c); }
  static inline float sum32(V32 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
  static inline V64 zero64() { return _mm256_setzero_pd(); }
  static inline V64 load64(const double* p) { return _mm256_loadu_pd(p); }
  static inline V64 load64(const double* p, int n) {
    return _mm256_maskload_pd(p, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask64 + 4 - n)));
  }
  static inline V64 load64(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
  static inline V64 load64(const float* p, int n) {
    return _mm256_cvtps_pd(_mm_maskload_ps(p, _mm_loadu_si128(reinterpret_cast<const __m128i*>(kMask32 + 8 - n))));
  }
  static inline V64 fma64(V64 a, V64 b, V64 c) { return _mm256_fmadd_pd(a, b, c); }
  static inline double sum64(V64 v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
  }
};
#define WTAL_LCS_SCREENS 1
#include "cpu/feature_lcs_kernels.inc"
#undef WTAL_LCS_SCREENS
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f")
// GCC 12 warns about the deliberately undefined vectors inside its own AVX-512 intrinsics.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace avx512 {
struct Ops {
  static constexpr int L32 = 16, L64 = 8;
  static constexpr int TR = 4, TC = 4;  // 16 accumulators + 4 + 1 operands of 32 registers
  using V32 = __m512;
  using V64 = __m512d;
  static inline __mmask16 mask16(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static inline V32 zero32() { return _mm512_setzero_ps(); }
  static inline V32 load32(const float* p) { return _mm512_loadu_ps(p); }
  static inline V32 load32(const float* p, int n) { return _mm512_maskz_loadu_ps(mask16(n), p); }
  static inline V32 fma32(V32 a, V32 b, V32 c) { return _mm512_fmadd_ps(a, b, c); }
  static inline float sum32(V32 v) { return _mm512_reduce_add_ps(v); }
  static inline V64 zero64() { return _mm512_setzero_pd(); }
  static inline V64 load64(const double* p) { return _mm512_loadu_pd(p); }
  static inline V64 load64(const double* p, int n) {
    return _mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << n) - 1u), p);
  }
  static inline V64 load64(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
  // A masked 16-lane load (AVX-512F only; masked-off lanes are not read), then the low 8 lanes.
  static inline V64 load64(const float* p, int n) {
    return _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps(mask16(n), p)));
  }
  static inline V64 fma64(V64 a, V64 b, V64 c) { return _mm512_fmadd_pd(a, b, c); }
  static inline double sum64(V64 v) { return _mm512_reduce_add_pd(v); }
};
#define WTAL_LCS_SCREENS 1
#include "cpu/feature_lcs_kernels.inc"
#undef WTAL_LCS_SCREENS
}  // namespace avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif
#endif  // WTAL_LCS_X86

bool cpu_has(LcsIsa isa) {
  if (isa == LcsIsa::portable) return true;
#if WTAL_LCS_X86
  __builtin_cpu_init();
  if (isa == LcsIsa::avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == LcsIsa::avx512) return __builtin_cpu_supports("avx512f");
#endif
  return false;
}

const LcsKernels& kernels_for(LcsIsa isa) {
  static const LcsKernels k_portable = portable::make_kernels("portable");
#if WTAL_LCS_X86
  static const LcsKernels k_avx2 = avx2::make_kernels("avx2");
  static const LcsKernels k_avx512 = avx512::make_kernels("avx512");
#endif
  if (isa == LcsIsa::automatic) {
    for (LcsIsa c : {LcsIsa::avx512, LcsIsa::avx2})
      if (cpu_has(c)) return kernels_for(c);
    return k_portable;
  }
  if (!cpu_has(isa)) {
    throw std::invalid_argument("isa: this build or CPU cannot run instruction set " +
                                std::to_string(static_cast<int>(isa)));
  }
#if WTAL_LCS_X86
  if (isa == LcsIsa::avx512) return k_avx512;
  if (isa == LcsIsa::avx2) return k_avx2;
#endif
  return k_portable;
}

// gamma_n = n u / (1 - n u): the relative bound of n roundings (Higham, Accuracy and Stability, §3.1).
double gamma_n(double n, double u) { return n * u / (1.0 - n * u); }

// Cells whose float32 cosine lies farther than this from the threshold are decided by it. Each float32
// dot has |s32 - dot| <= gamma(ceil(D / L32) + L32 - 1) * sum|x_k y_k| <= gamma * |x| |y| (Cauchy-Schwarz),
// plus at most 2^-150 for each of its ~D + L32 roundings in float32's subnormal range, which is
// <= (D + 64) 2^-69 relative to |x| |y| >= 2^-80 for screenable rows (norm >= 2^-40). The
// float64 cosine deviates from the exact one by at most gamma64(ceil(D / L64) + L64 + 8) plus the norm,
// product and division roundings, all inside the 4 * gamma64 term.
double screen_margin(int64_t D, int lanes32, int lanes64) {
  const double d = static_cast<double>(D);
  const double n32 = std::ceil(d / lanes32) + lanes32 - 1;
  const double n64 = std::ceil(d / lanes64) + lanes64 + 8;
  return gamma_n(n32, 0x1p-24) * (1.0 + 1e-9) + 4.0 * gamma_n(n64, 0x1p-53) + (d + 64.0) * 0x1p-69;
}

// Below 1 - this, every non-zero snippet matches itself. Its cell computes dot64(x, x) / (n * n) with
// n = sqrt(sumsq64(x)): two sums of the same non-negative terms x_k^2 in different orders, each within
// gamma(D + 16) of the exact one (float64 squares of float32 input are exact, float64 rows are in
// [2^-300, 2^300] after scaling, so underflow is below 2^-400 relative), then four roundings.
double self_match_margin(int64_t D) { return 4.0 * gamma_n(static_cast<double>(D) + 16.0, 0x1p-53) + 0x1p-48; }

constexpr uint8_t kScreen = 1;  // float32 screening is safe for this row

struct NonFinite {
  int64_t video, snippet;
};

// The rows of one video that a chunk of pairs uses: norm, screening flag and data pointer (into the
// features, or into a power-of-two-scaled copy for float64 rows of extreme norm), computed on first
// use.
template <typename T>
struct RowCache {
  const T* base = nullptr;  // features of the video
  int64_t D = 0, video = 0, lo = 0;
  const LcsKernels* K = nullptr;
  std::vector<uint8_t> ready, flags;
  std::vector<double> norm;
  std::vector<const T*> ptr;
  std::vector<std::vector<double>> scaled;

  void reset(const T* video_base, int64_t v, int64_t span_lo, int64_t span_hi) {
    base = video_base;
    video = v;
    lo = span_lo;
    const size_t n = static_cast<size_t>(span_hi - span_lo);
    ready.assign(n, 0);
    flags.resize(n);
    norm.resize(n);
    ptr.resize(n);
    scaled.clear();
  }

  double sumsq(const T* a) const {
    if constexpr (std::is_same_v<T, float>) return K->sumsq64f(a, D);
    else return K->sumsq64d(a, D);
  }

  void ensure(int64_t s, int64_t e) {
    for (int64_t t = s; t < e; ++t)
      if (!ready[t - lo]) compute(t);
  }

  // One pass over the row: its float64 sum of squares decides everything but the rare float64 row whose
  // squares overflow or underflow. Float32 squares and products cannot (at most 2^256 D, at least 2^-298 in
  // double), so there a non-finite sum means a NaN or inf in the row.
  void compute(int64_t t) {
    const size_t i = static_cast<size_t>(t - lo);
    const T* x = base + t * D;
    const T* p = x;
    double ss = sumsq(x);
    uint8_t f = 0;
    if constexpr (std::is_same_v<T, float>) {
      if (!std::isfinite(ss)) throw NonFinite{video, t};
      if (ss == 0.0 || (ss >= 0x1p-80 && ss <= 0x1p80)) f |= kScreen;  // |x| in [2^-40, 2^40]: see screen_margin
    } else if (!(ss >= 0x1p-600 && ss <= 0x1p600)) {
      if (!all_finite(x, D)) throw NonFinite{video, t};
      double m = 0.0;
      for (int64_t k = 0; k < D; ++k) m = std::max(m, std::fabs(x[k]));
      if (m != 0.0) {  // |x| outside [2^-300, 2^300]: scale to a largest magnitude in [0.5, 1)
        int e = 0;
        std::frexp(m, &e);
        std::vector<double> c(static_cast<size_t>(D));
        for (int64_t k = 0; k < D; ++k) c[k] = std::ldexp(x[k], -e);  // exact unless it lands below 2^-1022
        scaled.push_back(std::move(c));
        p = scaled.back().data();
        ss = sumsq(p);
      }
    }
    ptr[i] = p;
    flags[i] = f;
    norm[i] = std::sqrt(ss);
    ready[i] = 1;
  }

  bool is_ready(int64_t t) const { return ready[t - lo]; }
  const T* row(int64_t t) const { return ptr[t - lo]; }
  double nrm(int64_t t) const { return norm[t - lo]; }
  bool screenable(int64_t t) const { return flags[t - lo] & kScreen; }
};

template <typename T>
struct PairSolver {
  const LcsKernels* K = nullptr;
  int64_t D = 0;
  double thr = 0.0, margin = 0.0;
  bool screen = false;
  std::vector<uint8_t> match;  // kStrip x ncols
  std::vector<int64_t> dp;     // ncols + 1
  std::vector<std::pair<int64_t, int64_t>> skipped;  // (row, col) of the strip's mirrored tiles
  // Rows the next pair reads first, as contiguous byte ranges, prefetched into L2 by the tiles (one line
  // per k-step), so that reading them from memory overlaps this pair's arithmetic: features are read
  // from memory about once, and that read would otherwise stall the row pass.
  std::vector<std::pair<const char*, int64_t>> pf;
  size_t pf_range = 0;
  int64_t pf_off = 0, pf_per_tile = 0;

  void plan_prefetch(const RowCache<T>& rc, int64_t xs, int64_t xe, int64_t ys, int64_t ye, int64_t tiles) {
    pf.clear();
    pf_range = 0;
    pf_off = 0;
    const int64_t row_bytes = D * static_cast<int64_t>(sizeof(T));
    int64_t lines = 0;
    for (int64_t t = std::min(xs, ys), hi = std::max(xe, ye); t < hi; ++t) {
      if (((t >= xs && t < xe) || (t >= ys && t < ye)) && !rc.is_ready(t)) {
        const char* p = reinterpret_cast<const char*>(rc.base + t * D);
        if (!pf.empty() && pf.back().first + pf.back().second == p) pf.back().second += row_bytes;
        else pf.emplace_back(p, row_bytes);
        lines += (row_bytes + 63) / 64;
      }
    }
    pf_per_tile = lines / std::max<int64_t>(tiles, 1) + 2;
  }

  // Up to `most` cache lines of the plan: (start, count) inside one range.
  std::pair<const char*, int64_t> take_prefetch(int64_t most) {
    if (pf_range >= pf.size()) return {nullptr, 0};
    const auto& [p, bytes] = pf[pf_range];
    const int64_t n = std::min({most, pf_per_tile, (bytes - pf_off + 63) / 64});
    const char* at = p + pf_off;
    pf_off += n * 64;
    if (pf_off >= bytes) pf_off = 0, ++pf_range;
    return {at, n};
  }

  bool decide64(double s, double P) const { return P == 0.0 ? 0.0 > thr : s / P > thr; }

  // Matches of the tile rows[0, mr) x cols[0, nc) (absolute snippets) into m[i * ld + j].
  void tile(const RowCache<T>& rc, const int64_t* rows, int mr, const int64_t* cols, int nc, uint8_t* m,
            int64_t ld) {
    const T* xr[kMaxTile];
    const T* yr[kMaxTile];
    bool screened = screen;
    for (int i = 0; i < mr; ++i) {
      xr[i] = rc.row(rows[i]);
      screened = screened && rc.screenable(rows[i]);
    }
    for (int j = 0; j < nc; ++j) {
      yr[j] = rc.row(cols[j]);
      screened = screened && rc.screenable(cols[j]);
    }
    if constexpr (std::is_same_v<T, float>) {
      if (screened) {
        float s[kMaxTile * kMaxTile];
        const auto [pfp, pfn] = take_prefetch(D / K->lanes32);
        K->tile32[mr - 1][nc - 1](xr, yr, D, s, pfp, pfn);
        for (int i = 0; i < mr; ++i) {
          for (int j = 0; j < nc; ++j) {
            const double P = rc.nrm(rows[i]) * rc.nrm(cols[j]);
            bool hit;
            if (P == 0.0) {
              hit = 0.0 > thr;
            } else {
              const double c = static_cast<double>(s[i * nc + j]) / P;
              if (c - thr > margin) hit = true;
              else if (thr - c > margin) hit = false;
              else hit = K->dot64f(xr[i], yr[j], D) / P > thr;
            }
            m[i * ld + j] = hit;
          }
        }
        return;
      }
    }
    double s[kMaxTile * kMaxTile];
    const auto [pfp, pfn] = take_prefetch(D / K->lanes64);
    if constexpr (std::is_same_v<T, float>) K->tile64f[mr - 1][nc - 1](xr, yr, D, s, pfp, pfn);
    else K->tile64d[mr - 1][nc - 1](xr, yr, D, s, pfp, pfn);
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < nc; ++j) m[i * ld + j] = decide64(s[i * nc + j], rc.nrm(rows[i]) * rc.nrm(cols[j]));
  }

  // LCS of rows [rs, re) and cols [cs, ce) of one video, re - rs >= ce - cs > 0 (memory O(kStrip * nc)).
  int64_t solve(const RowCache<T>& rc, int64_t rs, int64_t re, int64_t cs, int64_t ce) {
    const int64_t nc = ce - cs;
    // A cell (r, c) with both snippets in the overlap O = [olo, ohi) and c < r mirrors (c, r), which the same
    // strip computes when c is one of its rows: tiles made only of such cells are copied, not computed.
    // Row and column tiles start at olo (after one short tile) so that O's tiles sit on the diagonal.
    const int64_t olo = std::max(rs, cs), ohi = std::min(re, ce);
    const bool overlap = olo < ohi;
    const int64_t tr = K->tr, tc = K->tc;
    const int64_t roff = overlap ? (olo - rs) % tr : 0, coff = overlap ? (olo - cs) % tc : 0;
    match.resize(static_cast<size_t>(kStrip * nc));
    dp.assign(static_cast<size_t>(nc + 1), 0);
    skipped.clear();
    int64_t idx_r[kMaxTile], idx_c[kMaxTile];
    for (int64_t r0 = rs; r0 < re;) {
      int64_t t0 = r0;
      while (t0 < re) {  // the strip's row tiles [t0, t1), at most kStrip rows in all
        const int64_t t1 = std::min(re, t0 == rs && roff ? rs + roff : t0 + tr);
        if (t1 - r0 > kStrip) break;
        const int mr = static_cast<int>(t1 - t0);
        for (int i = 0; i < mr; ++i) idx_r[i] = t0 + i;
        for (int64_t c0 = cs; c0 < ce;) {
          const int64_t c1 = std::min(ce, c0 == cs && coff ? cs + coff : c0 + tc);
          if (overlap && c1 <= t0 && c0 >= std::max(olo, r0) && t1 <= ohi) {
            skipped.emplace_back(t0, c0);
          } else {
            const int nct = static_cast<int>(c1 - c0);
            for (int j = 0; j < nct; ++j) idx_c[j] = c0 + j;
            tile(rc, idx_r, mr, idx_c, nct, match.data() + (t0 - r0) * nc + (c0 - cs), nc);
          }
          c0 = c1;
        }
        t0 = t1;
      }
      const int64_t r1 = t0;
      for (const auto& [a, b] : skipped) {
        const int64_t a1 = std::min(r1, a + tr), b1 = std::min(ce, b + tc);
        for (int64_t r = a; r < a1; ++r)
          for (int64_t c = b; c < b1; ++c) match[(r - r0) * nc + (c - cs)] = match[(c - r0) * nc + (r - cs)];
      }
      skipped.clear();
      for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* mrow = match.data() + (r - r0) * nc;
        int64_t diag = 0, left = 0;  // dp[j] of the previous row, dp[j] of this row
        for (int64_t j = 0; j < nc; ++j) {
          const int64_t up = dp[j + 1];
          const int64_t v = mrow[j] ? diag + 1 : std::max(up, left);
          diag = up;
          dp[j + 1] = v;
          left = v;
        }
      }
      r0 = r1;
    }
    return dp[nc];
  }
};

struct Chunk {
  int64_t begin, end;  // into the sorted pair order
  int64_t video, lo, hi;  // the snippets its pairs use lie in [lo, hi)
};

// First NaN/inf, in (video, snippet) order, among the snippets some pair uses (the error path only).
template <typename T>
NonFinite first_non_finite_used(const T* features, int64_t T_, int64_t D, const int64_t* lengths, int64_t N,
                                const int64_t* video, const int64_t* as, const int64_t* ae, const int64_t* bs,
                                const int64_t* be, int64_t P) {
  std::vector<std::vector<int64_t>> cover(static_cast<size_t>(N));
  for (int64_t p = 0; p < P; ++p) {
    if (as[p] == ae[p] || bs[p] == be[p]) continue;
    auto& c = cover[video[p]];
    if (c.empty()) c.assign(static_cast<size_t>(lengths[video[p]] + 1), 0);
    ++c[as[p]], --c[ae[p]], ++c[bs[p]], --c[be[p]];
  }
  for (int64_t v = 0; v < N; ++v) {
    int64_t run = 0;
    for (size_t t = 0; t + 1 < cover[v].size(); ++t) {
      run += cover[v][t];
      if (run > 0 && !all_finite(features + (v * T_ + static_cast<int64_t>(t)) * D, D))
        return NonFinite{v, static_cast<int64_t>(t)};
    }
  }
  return NonFinite{-1, -1};
}

}  // namespace

std::vector<std::string> feature_lcs_isas() {
  std::vector<std::string> out;
  for (LcsIsa isa : {LcsIsa::avx512, LcsIsa::avx2, LcsIsa::portable})
    if (cpu_has(isa)) out.emplace_back(kernels_for(isa).name);
  return out;
}

template <typename T>
void feature_lcs(const T* features, int64_t N, int64_t T_, int64_t D, const int64_t* lengths, const int64_t* video,
                 const int64_t* a_start, const int64_t* a_end, const int64_t* b_start, const int64_t* b_end, int64_t P,
                 const FeatureLcsParams& params, int64_t* out) {
  if (N < 0 || T_ < 0 || D < 0 || P < 0) throw std::invalid_argument("feature_lcs: negative size");
  if (!(params.threshold >= -1.0 && params.threshold <= 1.0)) {
    throw std::invalid_argument("threshold must be finite and in [-1, 1], got " + std::to_string(params.threshold));
  }
  for (int64_t v = 0; v < N; ++v) {
    if (lengths[v] < 1 || lengths[v] > T_) {
      throw std::invalid_argument("lengths must lie in [1, T] = [1, " + std::to_string(T_) + "], got lengths[" +
                                  std::to_string(v) + "] = " + std::to_string(lengths[v]));
    }
  }
  // Checked before any subtraction, so no index arithmetic can overflow.
  for (int64_t p = 0; p < P; ++p) {
    const int64_t v = video[p];
    if (v < 0 || v >= N) {
      throw std::invalid_argument("video must index features (0 <= video < " + std::to_string(N) + "), got " +
                                  std::to_string(v) + " at pair " + std::to_string(p));
    }
    const int64_t L = lengths[v];
    const auto check = [&](int64_t s, int64_t e, const char* name) {
      if (s < 0 || e < s || e > L) {
        throw std::invalid_argument(std::string(name) + " range [" + std::to_string(s) + ", " + std::to_string(e) +
                                    ") of pair " + std::to_string(p) +
                                    " must satisfy 0 <= start <= end <= lengths[video] = " + std::to_string(L));
      }
    };
    check(a_start[p], a_end[p], "a_start/a_end");
    check(b_start[p], b_end[p], "b_start/b_end");
  }
  const LcsKernels& K = kernels_for(params.isa);
  const bool screen = params.screen && std::is_same_v<T, float> && K.lanes32 > 0 && D <= (int64_t{1} << 40);
  const double margin = screen ? screen_margin(D, K.lanes32, K.lanes64) : 0.0;
  const bool nested_exact = params.nested && params.threshold < 1.0 - self_match_margin(D);
  const auto nested = [&](int64_t p) {
    return nested_exact && ((b_start[p] >= a_start[p] && b_end[p] <= a_end[p]) ||
                            (a_start[p] >= b_start[p] && a_end[p] <= b_end[p]));
  };

  // Non-empty pairs sorted by (video, first snippet), so that a chunk's pairs share rows in cache.
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(P));
  for (int64_t p = 0; p < P; ++p) {
    out[p] = 0;
    if (a_end[p] > a_start[p] && b_end[p] > b_start[p]) order.push_back(p);
  }
  const auto lo_of = [&](int64_t p) { return std::min(a_start[p], b_start[p]); };
  std::sort(order.begin(), order.end(), [&](int64_t p, int64_t q) {
    if (video[p] != video[q]) return video[p] < video[q];
    if (lo_of(p) != lo_of(q)) return lo_of(p) < lo_of(q);
    return p < q;
  });
  // Work in multiply-adds, in double: la * lb * D can exceed int64 only for absurd sizes, but is never formed
  // in integers.
  const auto work_of = [&](int64_t p) {
    const double la = static_cast<double>(a_end[p] - a_start[p]), lb = static_cast<double>(b_end[p] - b_start[p]);
    return ((nested(p) ? 0.0 : la * lb) + la + lb) * static_cast<double>(std::max<int64_t>(D, 1));
  };
  double total = 0.0;
  for (int64_t p : order) total += work_of(p);
  const int hw = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int threads = params.num_threads > 0 ? params.num_threads : hw;
  const double target = total / (8.0 * threads);
  std::vector<Chunk> chunks;
  double acc = 0.0;
  for (size_t i = 0; i < order.size(); ++i) {
    const int64_t p = order[i];
    if (chunks.empty() || video[p] != chunks.back().video || acc >= target) {
      chunks.push_back(Chunk{static_cast<int64_t>(i), static_cast<int64_t>(i), video[p], lo_of(p), 0});
      acc = 0.0;
    }
    Chunk& c = chunks.back();
    c.end = static_cast<int64_t>(i) + 1;
    c.hi = std::max({c.hi, a_end[p], b_end[p]});
    acc += work_of(p);
  }
  // Largest chunks first (they are handed out dynamically), so the last ones to start are short.
  std::vector<double> chunk_work(chunks.size(), 0.0);
  for (size_t c = 0; c < chunks.size(); ++c)
    for (int64_t i = chunks[c].begin; i < chunks[c].end; ++i) chunk_work[c] += work_of(order[i]);
  std::vector<size_t> by_work(chunks.size());
  for (size_t c = 0; c < chunks.size(); ++c) by_work[c] = c;
  std::stable_sort(by_work.begin(), by_work.end(), [&](size_t a, size_t b) { return chunk_work[a] > chunk_work[b]; });

  std::atomic<size_t> next{0};
  const int64_t work_units = static_cast<int64_t>(std::min(total, 0x1p62));
  try {
    run_parallel(static_cast<int64_t>(chunks.size()), work_units, threads, [&](int64_t, int64_t) {
      RowCache<T> rc;
      rc.D = D;
      rc.K = &K;
      PairSolver<T> solver;
      solver.K = &K;
      solver.D = D;
      solver.thr = params.threshold;
      solver.margin = margin;
      solver.screen = screen;
      for (size_t n = next.fetch_add(1); n < chunks.size(); n = next.fetch_add(1)) {
        const Chunk& c = chunks[by_work[n]];
        rc.reset(features + c.video * T_ * D, c.video, c.lo, c.hi);
        for (int64_t i = c.begin; i < c.end; ++i) {
          const int64_t p = order[i];
          int64_t xs = a_start[p], xe = a_end[p], ys = b_start[p], ye = b_end[p];
          rc.ensure(xs, xe);
          rc.ensure(ys, ye);
          if (i + 1 < c.end) {
            const int64_t q = order[i + 1];
            const int64_t tiles = ((xe - xs + K.tr - 1) / K.tr) * ((ye - ys + K.tc - 1) / K.tc);
            solver.plan_prefetch(rc, a_start[q], a_end[q], b_start[q], b_end[q], tiles);
          } else {
            solver.plan_prefetch(rc, 0, 0, 0, 0, 1);
          }
          if (ye - ys > xe - xs) std::swap(xs, ys), std::swap(xe, ye);  // LCS and cosine are symmetric
          if (nested_exact && ys >= xs && ye <= xe) {
            int64_t zeros = 0;
            if (params.threshold >= 0.0)
              for (int64_t t = ys; t < ye; ++t) zeros += rc.nrm(t) == 0.0;
            out[p] = (ye - ys) - zeros;
          } else {
            out[p] = solver.solve(rc, xs, xe, ys, ye);
          }
        }
      }
    });
  } catch (const NonFinite&) {
    const NonFinite f =
        first_non_finite_used(features, T_, D, lengths, N, video, a_start, a_end, b_start, b_end, P);
    throw std::invalid_argument("features contains NaN or inf at video " + std::to_string(f.video) + ", snippet " +
                                std::to_string(f.snippet) + " (a snippet inside a pair's range)");
  }
}

template void feature_lcs<float>(const float*, int64_t, int64_t, int64_t, const int64_t*, const int64_t*,
                                 const int64_t*, const int64_t*, const int64_t*, const int64_t*, int64_t,
                                 const FeatureLcsParams&, int64_t*);
template void feature_lcs<double>(const double*, int64_t, int64_t, int64_t, const int64_t*, const int64_t*,
                                  const int64_t*, const int64_t*, const int64_t*, const int64_t*, int64_t,
                                  const FeatureLcsParams&, int64_t*);

}  // namespace wtal::cpu
