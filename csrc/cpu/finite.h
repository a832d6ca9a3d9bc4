// Finiteness checks of the valid prefixes of padded [B, T, C] batches (shared by the kernels that
// validate their inputs and by the `first_non_finite` binding).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "cpu/parallel.h"

namespace wtal::cpu {

// True iff v[0, n) holds no NaN or inf: an exponent test on the bits, which vectorizes (std::isfinite
// does not without -ffast-math).
template <typename V>
inline bool all_finite(const V* v, int64_t n) {
  using U = std::conditional_t<sizeof(V) == 4, uint32_t, uint64_t>;
  constexpr U exp_mask = static_cast<U>(sizeof(V) == 4 ? 0x7F800000ull : 0x7FF0000000000000ull);
  U bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    U u;
    std::memcpy(&u, v + i, sizeof u);
    bad |= static_cast<U>((u & exp_mask) == exp_mask);
  }
  return bad == 0;
}

// First (row, position) with a NaN or inf in the valid prefixes (t < lengths[b]) of a [B, T, C]
// array, rows in parallel; {-1, -1} if none.
template <typename V>
std::pair<int64_t, int64_t> first_non_finite(const V* v, int64_t B, int64_t T, int64_t C, const int64_t* lengths) {
  std::vector<int64_t> bad(static_cast<size_t>(B), -1);
  int64_t work = 0;
  for (int64_t b = 0; b < B; ++b) work += lengths[b] * C;
  run_parallel(B, work, 0, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      const V* row = v + b * T * C;
      const int64_t n = lengths[b] * C;
      if (all_finite(row, n)) continue;
      for (int64_t i = 0; i < n; ++i) {
        if (!all_finite(row + i, 1)) {
          bad[b] = i / C;
          break;
        }
      }
    }
  }, int64_t{1} << 20);
  for (int64_t b = 0; b < B; ++b) {
    if (bad[b] >= 0) return {b, bad[b]};
  }
  return {-1, -1};
}

}  // namespace wtal::cpu
