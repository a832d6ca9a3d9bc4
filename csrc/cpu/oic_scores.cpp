#include "cpu/oic_scores.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cpu/parallel.h"

namespace wtal::cpu {
namespace {

// Unevaluated-sum pair hi + lo (Knuth's TwoSum keeps the rounding error of every addition).
struct DD {
  double hi = 0.0, lo = 0.0;
};

inline DD dd_add(DD a, double x) {
  const double s = a.hi + x;
  const double bp = s - a.hi;
  const double err = (a.hi - (s - bp)) + (x - bp);
  return DD{s, a.lo + err};
}

// Prefix sums of one row in double-double: sum[a, b) then has ~1e-16 relative error with respect to
// the window's own magnitude plus ~1e-32 of the row's, so a small-valued window after large values
// (softmax tails, long rows, offsets) keeps its accuracy, which a plain float64 prefix sum loses.
struct Prefix {
  std::vector<DD> p;
  // value(t) is the row's t-th value in double, t < len
  template <class Value>
  void build(const Value& value, int64_t len) {
    p.resize(static_cast<size_t>(len) + 1);
    DD acc{};
    p[0] = acc;
    for (int64_t t = 0; t < len; ++t) {
      acc = dd_add(acc, value(t));
      p[t + 1] = acc;
    }
  }
  double sum(int64_t a, int64_t b) const {  // sum of x[a, b), b >= a
    return (p[b].hi - p[a].hi) + (p[b].lo - p[a].lo);
  }
};

// The first NaN/inf of a used row, as std::invalid_argument naming the row and position.
template <class Value>
[[noreturn]] void throw_non_finite(const Value& value, int64_t L, int64_t r, bool scaled) {
  for (int64_t t = 0; t < L; ++t) {
    const double v = value(t);
    if (!std::isfinite(v)) {
      const std::string what = std::isnan(v) ? "NaN" : (v > 0 ? "inf" : "-inf");
      throw std::invalid_argument("cas contains " + what + (scaled ? " (cas * scale)" : "") + " (row " +
                                  std::to_string(r) + ", position " + std::to_string(t) +
                                  "); oic_scores needs finite scores in every row a segment uses");
    }
  }
  throw std::logic_error("oic_scores: non-finite value not found");
}

}  // namespace

template <typename T, typename TS, typename TO>
void oic_scores(const T* cas, const int64_t* row_start, int64_t stride, const TS* scale, const int64_t* scale_start,
                const int64_t* row_len, int64_t n_rows, const int64_t* rows, const int64_t* starts,
                const int64_t* ends, int64_t n_segments, const OicParams& params, TO* out) {
  // Group segments by row (counting sort) so each used row's prefix sums are built once, in a
  // per-thread buffer: memory stays O(threads * T) whatever the number of rows.
  std::vector<int64_t> first(static_cast<size_t>(n_rows) + 1, 0);
  for (int64_t i = 0; i < n_segments; ++i) {
    const int64_t r = rows[i];
    if (r < 0 || r >= n_rows) {
      throw std::invalid_argument("rows must index cas (0 <= row < " + std::to_string(n_rows) + "), got " +
                                  std::to_string(r) + " at segment " + std::to_string(i));
    }
    const int64_t L = row_len[r];
    if (starts[i] < 0 || ends[i] <= starts[i] || ends[i] > L) {
      throw std::invalid_argument("segment " + std::to_string(i) + " [" + std::to_string(starts[i]) + ", " +
                                  std::to_string(ends[i]) + ") must satisfy 0 <= start < end <= lengths[row] = " +
                                  std::to_string(L) + " (starts/ends)");
    }
    ++first[r + 1];
  }
  for (int64_t r = 0; r < n_rows; ++r) first[r + 1] += first[r];
  std::vector<int64_t> order(static_cast<size_t>(n_segments));
  {
    std::vector<int64_t> cursor(first.begin(), first.end() - 1);
    for (int64_t i = 0; i < n_segments; ++i) order[cursor[rows[i]]++] = i;
  }
  int64_t work = n_segments;
  for (int64_t r = 0; r < n_rows; ++r)
    if (first[r + 1] > first[r]) work += row_len[r];
  run_parallel(n_rows, work, params.num_threads, [&](int64_t b, int64_t e) {
    Prefix P;
    for (int64_t r = b; r < e; ++r) {
      if (first[r + 1] == first[r]) continue;
      const T* x = cas + row_start[r];
      const TS* w = scale ? scale + scale_start[r] : nullptr;
      const int64_t L = row_len[r];
      int bits = 0;  // L < 2**bits
      for (uint64_t n = static_cast<uint64_t>(L); n; n >>= 1) ++bits;
      // |values| <= limit keeps every partial sum, window sum, mean and BM's left + right below 2**1019;
      // the one compare also catches NaN and inf
      const double limit = std::ldexp(1.0, 1018 - bits);
      bool big = false;
      auto value = [&](int64_t t) {
        const double v = w ? static_cast<double>(x[t * stride]) * static_cast<double>(w[t])
                           : static_cast<double>(x[t * stride]);
        big |= !(std::fabs(v) <= limit);
        return v;
      };
      P.build(value, L);
      // Finite values near the top of the float64 range: a window sum p[b] - p[a] could overflow although
      // the score is finite. Sum the row scaled by 2**-shift (exact) and scale the scores back (exact
      // unless the score itself is beyond float64).
      int shift = 0;
      if (big) {
        double m = 0.0;
        for (int64_t t = 0; t < L; ++t) {
          const double v = value(t);
          if (!std::isfinite(v)) throw_non_finite(value, L, r, w != nullptr);
          m = std::max(m, std::fabs(v));
        }
        int e = 0;
        std::frexp(m, &e);  // m < 2**e, so |partial sums| < 2**(e + bits)
        shift = std::max(1, e + bits - 1018);
        const double scale_down = std::ldexp(1.0, -shift);
        P.build([&](int64_t t) { return value(t) * scale_down; }, L);
      }
      for (int64_t j = first[r]; j < first[r + 1]; ++j) {
        const int64_t i = order[j];
        const double sc = oic_detail::score([&P](int64_t a, int64_t b) { return P.sum(a, b); }, L, starts[i],
                                            ends[i], static_cast<int>(params.variant), params.outer_ratio,
                                            params.outer_weight);
        out[i] = static_cast<TO>(shift ? std::ldexp(sc, shift) : sc);
      }
    }
  });
}

#define WTAL_OIC(T, TS, TO)                                                                                \
  template void oic_scores<T, TS, TO>(const T*, const int64_t*, int64_t, const TS*, const int64_t*, const int64_t*, \
                                      int64_t, const int64_t*, const int64_t*, const int64_t*, int64_t,           \
                                      const OicParams&, TO*);
WTAL_OIC(float, float, float)
WTAL_OIC(double, double, double)
WTAL_OIC(float, float, double)
WTAL_OIC(float, double, double)
WTAL_OIC(double, float, double)
#undef WTAL_OIC

}  // namespace wtal::cpu
