// Longest common subsequence of two snippet ranges under a cosine-similarity match: AHLM's boundary
// refinement (ICCV 2023, end of §3.3: "calculate the cosine similarity of l_i and m_j ... and compare the
// results with a given threshold 0.65 to get the LCS of l_AC and l_BC").
//
// Pair p compares x = rows [a_start, a_end) and y = rows [b_start, b_end) of video video[p] of a padded
// [N, T, D] batch (end exclusive, 0 <= start <= end <= lengths[video]; an empty range gives 0). Snippets
// x_i and y_j match iff cos(x_i, y_j) > threshold (strict), where
//     cos = dot(x_i, y_j) / (|x_i| |y_j|),  |x| = sqrt(dot(x, x)),  and cos = 0 when either is a zero vector,
// evaluated in float64: the dot products and squared norms are accumulated in float64 (float32 input is
// widened, so every product is exact), then one float64 multiply and one divide. The result is the
// classic LCS length of the two sequences under that relation.
//
// Rounding: the float64 sums are formed in the order of the selected instruction set's lanes (8, 4 or 4
// lanes for avx512, avx2, portable), so a cosine within ~D * 2^-53 of the threshold may be decided
// differently from another summation order; every other decision is order-independent. When the float64
// value equals the threshold exactly (e.g. integer features with perfect-square norms and a cosine of
// exactly 0.65 = 260 / (20 * 20)), the snippets do not match.
//
// Speed: for float32 input the avx2/avx512 kernels first accumulate each dot product in float32 (FMA,
// lane-wise, known chain length), which bounds its error rigorously (gamma_n * |x| |y|); a cell whose
// float32 cosine lies farther than that bound (plus the float64 path's own bound) from the threshold is
// decided from it, because the float64 cosine then lies on the same side; the others are recomputed in
// float64. Results are therefore identical to the float64-only path (params.screen = false). Rows whose
// norm lies outside [2^-40, 2^40] always take the float64 path (float32 sums could overflow or
// underflow); float64 rows whose norm lies outside [2^-300, 2^300] are first scaled by a power of two
// (exact unless an element falls below 2^-1022), which leaves their cosines unchanged.
//
// Nested ranges (y inside x or x inside y, as AHLM's l_BC = [B, C) inside l_AC = [A, C)) have a closed
// form when threshold < 1 - ~1e-12 (D = 2048): every non-zero snippet matches itself (its float64 cosine
// is 1 within 4 * gamma(D + 16)), so the diagonal is an alignment of the inner range's non-zero snippets,
// and a zero vector matches nothing at threshold >= 0 (everything below 0). The LCS is then the inner
// length, less its zero vectors when threshold >= 0, and no dot product is computed (params.nested =
// false computes it anyway, for tests and benchmarks). NaN/inf in the rows is still rejected.
//
// Work is split into chunks of consecutive pairs of one video sorted by position, each chunk computing
// the norms of the rows it uses once (a row shared by two chunks of a long video is normalised in both),
// so features are read from memory about once. Memory: O(threads * (64 * min(la, lb) + span of a chunk))
// besides the output; the DP row is O(min(la, lb)) per pair.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wtal::cpu {

enum class LcsIsa : int { automatic = -1, portable = 0, avx2 = 1, avx512 = 2 };

struct FeatureLcsParams {
  double threshold = 0.65;
  int num_threads = 0;                  // <= 0: hardware_concurrency()
  LcsIsa isa = LcsIsa::automatic;       // automatic: the widest the CPU supports
  bool screen = true;                   // float32 screening pass (no effect on the results)
  bool nested = true;                   // closed form for nested ranges (no effect on the results)
};

// Names of the instruction sets this build and CPU can run, widest first ("avx512", "avx2", "portable").
std::vector<std::string> feature_lcs_isas();

// features: [N, T, D] C-contiguous; lengths [N] in [1, T]; the five pair arrays [P]; out [P].
// Throws std::invalid_argument for a range outside its video, a bad video index or length, a threshold
// outside [-1, 1], NaN/inf in a row some pair uses, or an ISA this CPU lacks.
template <typename T>
void feature_lcs(const T* features, int64_t N, int64_t T_, int64_t D, const int64_t* lengths, const int64_t* video,
                 const int64_t* a_start, const int64_t* a_end, const int64_t* b_start, const int64_t* b_end, int64_t P,
                 const FeatureLcsParams& params, int64_t* out);

}  // namespace wtal::cpu
