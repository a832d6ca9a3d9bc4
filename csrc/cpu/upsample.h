// Per-row linear upsampling and Gaussian smoothing of padded [N, T] score sequences, reproducing the
// STPN/BM lineage's scipy calls (research/seed_models.md §4.5):
//   upsample: scipy.interpolate.interp1d(np.arange(L), row[:L], kind="linear",
//             fill_value="extrapolate")(np.arange(0, L, 1 / scale))
//   smooth:   scipy.ndimage.gaussian_filter1d(row[:L], sigma) (mode "reflect"), weights from scipy's
//             formula computed by the caller (so they are bit-identical to scipy's).
#pragma once
#include <cstdint>

namespace wtal::cpu {

// len(np.arange(0, L, 1 / scale)): ceil(L / (1 / scale)) in float64, which is L * scale except for a
// few scales (49 is the smallest) where the rounding of 1 / scale adds one position. Needs L >= 0,
// scale >= 1 and L * scale <= kMaxUpsampledLength (throws std::invalid_argument otherwise).
int64_t upsampled_length(int64_t L, int64_t scale);

// Positions are computed as i / scale in float64, exact up to 2**53.
constexpr int64_t kMaxUpsampledLength = int64_t{1} << 53;

// y: [N, W] (W >= upsampled_length(T, scale)); positions at and beyond the row's new length are set
// to 0. A row of length 1 is constant (interp1d needs two points; constant is the only linear fit).
// scale 1 copies the row (HAM-Net's upgrade_resolution returns its input; interp1d at the integer
// grid could differ from it by one rounding).
template <typename T, typename U>
void upsample_linear(const T* x, const int64_t* lengths, int64_t N, int64_t T_in, int64_t scale, U* y,
                     int64_t W, int64_t* new_lengths, int num_threads);

// y: [N, T]; y[n, L:] = x[n, L:]. weights: the 2 * radius + 1 scipy Gaussian weights (symmetric).
template <typename T>
void gaussian_smooth(const T* x, const int64_t* lengths, int64_t N, int64_t T_in, const double* weights,
                     int64_t radius, T* y, int num_threads);

}  // namespace wtal::cpu
