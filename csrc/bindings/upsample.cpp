// Binding of upsample_linear and gaussian_smooth (CPU on numpy, CUDA on device pointers).
#include <algorithm>

#include "bindings.h"
#include "bindings/common.h"
#include "cpu/upsample.h"
#include "cuda/cuda_api.h"

namespace wtal::bind {
namespace {

void check_lengths(const py::array& lengths, py::ssize_t N, py::ssize_t T) {
  check_array<int64_t>(lengths, "lengths", 1);
  check_dim(lengths, "lengths", 0, N, "size N");
  const int64_t* l = cdata<int64_t>(lengths);
  for (py::ssize_t n = 0; n < N; ++n) {
    if (l[n] < 0 || l[n] > T) {
      throw py::value_error("lengths must lie in [0, T=" + std::to_string(T) + "], got " + std::to_string(l[n]) +
                            " at row " + std::to_string(n));
    }
  }
}

template <typename T, typename U>
py::tuple upsample_cpu(const py::array& x, const py::array& lengths, int64_t scale, int64_t width, int num_threads) {
  const int64_t N = x.shape(0), Tin = x.shape(1);
  auto y = new_array<U>({N, width}, "upsample_linear: rows * upsampled length (is scale too large?)");
  py::array_t<int64_t> nl(N);
  const T* xp = cdata<T>(x);
  const int64_t* lp = cdata<int64_t>(lengths);
  U* yp = y.mutable_data();
  int64_t* np_ = nl.mutable_data();
  {
    py::gil_scoped_release nogil;
    cpu::upsample_linear<T, U>(xp, lp, N, Tin, scale, yp, width, np_, num_threads);
  }
  return py::make_tuple(y, nl);
}

template <typename T>
py::array smooth_cpu(const py::array& x, const py::array& lengths, const py::array& weights, int num_threads) {
  const int64_t N = x.shape(0), Tin = x.shape(1);
  const int64_t radius = (weights.shape(0) - 1) / 2;
  py::array_t<T> y({static_cast<py::ssize_t>(N), static_cast<py::ssize_t>(Tin)});
  const T* xp = cdata<T>(x);
  const int64_t* lp = cdata<int64_t>(lengths);
  const double* wp = cdata<double>(weights);
  T* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    cpu::gaussian_smooth<T>(xp, lp, N, Tin, wp, radius, yp, num_threads);
  }
  return std::move(y);
}

// cpu::upsampled_length with its std::invalid_argument as ValueError (both name the argument).
int64_t upsampled_length(int64_t length, int64_t scale) {
  try {
    return cpu::upsampled_length(length, scale);
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
}

// The CUDA launchers index x [N, T], y [N, width] and weights [2 * radius + 1].
[[maybe_unused]] void check_cuda_rows(int64_t N, int64_t T, int64_t width, int64_t radius) {
  check_at_least(N, 0, "N");
  check_at_least(T, 0, "T");
  check_at_least(width, 0, "width");
  check_at_least(radius, 0, "radius");
  checked_mul(N, std::max(T, width), "rows * width");
}

}  // namespace

void bind_upsample(py::module_& m) {
  m.def("upsampled_length", &upsampled_length, py::arg("length"), py::arg("scale"),
        "len(np.arange(0, length, 1 / scale)); length >= 0, scale >= 1, length * scale <= 2**53.");
  m.def(
      "upsample_linear",
      [](const py::array& x, const py::array& lengths, int64_t scale, bool float64_out, int num_threads) {
        check_at_least(scale, 1, "scale");
        if (x.ndim() != 2) throw py::value_error("x must be 2-D [N, T], got shape " + shape_str(x));
        check_lengths(lengths, x.shape(0), x.shape(1));
        const int64_t width = upsampled_length(x.shape(1), scale);
        if (py::dtype::of<float>().is(x.dtype())) {
          check_array<float>(x, "x", 2);
          return float64_out ? upsample_cpu<float, double>(x, lengths, scale, width, num_threads)
                             : upsample_cpu<float, float>(x, lengths, scale, width, num_threads);
        }
        check_array<double>(x, "x", 2);
        return upsample_cpu<double, double>(x, lengths, scale, width, num_threads);
      },
      py::arg("x"), py::arg("lengths"), py::arg("scale"), py::arg("float64_out") = false, py::arg("num_threads") = 0,
      "scipy interp1d(kind='linear', fill_value='extrapolate') of each row at np.arange(0, L, 1/scale).");
  m.def(
      "gaussian_smooth",
      [](const py::array& x, const py::array& lengths, const py::array& weights, int num_threads) {
        if (x.ndim() != 2) throw py::value_error("x must be 2-D [N, T], got shape " + shape_str(x));
        check_lengths(lengths, x.shape(0), x.shape(1));
        check_array<double>(weights, "weights", 1);
        if (weights.shape(0) % 2 != 1) throw py::value_error("weights must have odd size 2 * radius + 1");
        if (py::dtype::of<float>().is(x.dtype())) {
          check_array<float>(x, "x", 2);
          return smooth_cpu<float>(x, lengths, weights, num_threads);
        }
        check_array<double>(x, "x", 2);
        return smooth_cpu<double>(x, lengths, weights, num_threads);
      },
      py::arg("x"), py::arg("lengths"), py::arg("weights"), py::arg("num_threads") = 0,
      "scipy.ndimage.correlate1d(row[:L], weights, mode='reflect') per row (symmetric weights); tail copied.");

#ifdef WTAL_WITH_CUDA
  m.def(
      "upsample_linear_cuda",
      [](int in_dtype, int out_dtype, std::uintptr_t x, std::uintptr_t lengths, int64_t N, int64_t T, int64_t scale,
         std::uintptr_t y, int64_t width, std::uintptr_t new_lengths, std::uintptr_t stream, int device) {
        check_cuda_rows(N, T, width, 0);
        if (width < upsampled_length(T, scale)) {
          throw py::value_error("width must be >= upsampled_length(T, scale)");
        }
        py::gil_scoped_release nogil;
        cuda::upsample_linear(in_dtype, out_dtype, x, lengths, N, T, scale, y, width, new_lengths, stream, device);
      },
      py::arg("in_is_double"), py::arg("out_is_double"), py::arg("x"), py::arg("lengths"), py::arg("N"), py::arg("T"),
      py::arg("scale"), py::arg("y"), py::arg("width"), py::arg("new_lengths"), py::arg("stream"), py::arg("device"));
  m.def(
      "gaussian_smooth_cuda",
      [](bool is_double, std::uintptr_t x, std::uintptr_t lengths, int64_t N, int64_t T, std::uintptr_t weights,
         int64_t radius, std::uintptr_t y, std::uintptr_t stream, int device) {
        check_cuda_rows(N, T, 0, radius);
        py::gil_scoped_release nogil;
        cuda::gaussian_smooth(is_double, x, lengths, N, T, weights, radius, y, stream, device);
      },
      py::arg("is_double"), py::arg("x"), py::arg("lengths"), py::arg("N"), py::arg("T"), py::arg("weights"),
      py::arg("radius"), py::arg("y"), py::arg("stream"), py::arg("device"));
#else
  m.def("upsample_linear_cuda", [](py::args, py::kwargs) { throw_no_cuda("upsample_linear"); });
  m.def("gaussian_smooth_cuda", [](py::args, py::kwargs) { throw_no_cuda("gaussian_smooth"); });
#endif
}

}  // namespace wtal::bind
