// Binding of oic_scores: CPU kernel on numpy arrays, CUDA launcher on device pointers.
#include "bindings.h"
#include "bindings/common.h"

#include <pybind11/stl.h>

#include <cmath>
#include <limits>

#include "cpu/oic_scores.h"
#include "cuda/cuda_api.h"

namespace wtal::bind {
namespace {

// TS = T and no scale: plain rows, output T; with a scale: products in double, output double.
template <typename T, typename TS, typename TO>
py::array oic_cpu(const py::array& cas, const py::array& row_start, int64_t stride, const py::array* scale,
                  const int64_t* scale_start, const py::array& row_len, const py::array& rows, const py::array& starts,
                  const py::array& ends, const cpu::OicParams& prm) {
  const int64_t R = row_len.shape(0), S = rows.shape(0);
  py::array_t<TO> out(S);
  const T* x = cdata<T>(cas);
  const TS* w = scale ? cdata<TS>(*scale) : nullptr;
  const int64_t *rs = cdata<int64_t>(row_start), *rl = cdata<int64_t>(row_len);
  const int64_t *ro = cdata<int64_t>(rows), *st = cdata<int64_t>(starts), *en = cdata<int64_t>(ends);
  TO* o = out.mutable_data();
  py::gil_scoped_release nogil;
  cpu::oic_scores<T, TS, TO>(x, rs, stride, w, scale_start, rl, R, ro, st, en, S, prm, o);
  return std::move(out);
}

// Any finite ratio is exact (the windows are clipped to the row); inf/NaN would reach int64 casts.
// Scratch of the CUDA path: row marks plus 16 * n_rows * (width + 1) bytes of prefix sums.
[[maybe_unused]] void check_oic_cuda_sizes(int64_t n_rows, int64_t width, int64_t n_segments) {
  check_at_least(n_rows, 0, "n_rows");
  check_at_least(width, 0, "width");
  check_at_least(n_segments, 0, "n_segments");
  checked_mul(checked_mul(n_rows, width + 1, "oic_scores: rows * (width + 1)"), 16, "oic_scores: scratch bytes");
}

void check_oic_params(double outer_ratio, double outer_weight) {
  if (!(outer_ratio >= 0.0 && outer_ratio <= std::numeric_limits<double>::max())) {
    throw py::value_error("outer_ratio must be a finite number >= 0, got " + std::to_string(outer_ratio));
  }
  if (!std::isfinite(outer_weight)) {
    throw py::value_error("outer_weight must be finite, got " + std::to_string(outer_weight));
  }
}

}  // namespace

void bind_oic_scores(py::module_& m) {
  m.def(
      "oic_scores",
      [](const py::array& cas, const py::array& row_start, const py::array& row_len, const py::array& rows,
         const py::array& starts, const py::array& ends, int variant, double outer_ratio, double outer_weight,
         int num_threads, int64_t stride, const std::optional<py::array>& scale,
         const std::optional<py::array>& scale_start) {
        check_array<int64_t>(row_start, "row_start", 1);
        check_array<int64_t>(row_len, "lengths", 1);
        check_array<int64_t>(rows, "rows", 1);
        check_array<int64_t>(starts, "starts", 1);
        check_array<int64_t>(ends, "ends", 1);
        if (row_start.shape(0) != row_len.shape(0)) {
          throw py::value_error("row_start and lengths must have the same size");
        }
        const py::ssize_t S = rows.shape(0);
        if (starts.shape(0) != S || ends.shape(0) != S) {
          throw py::value_error("rows, starts and ends must have the same size, got " + shape_str(rows) + ", " +
                                shape_str(starts) + ", " + shape_str(ends));
        }
        if (stride < 1) throw py::value_error("stride must be >= 1");
        if (scale.has_value() != scale_start.has_value()) {
          throw py::value_error("scale and scale_start must be given together");
        }
        const int64_t *rs = cdata<int64_t>(row_start), *rl = cdata<int64_t>(row_len);
        const int64_t* ss = nullptr;
        if (scale) {
          if (!is_f32(*scale)) check_array<double>(*scale, "scale", 1);
          else check_array<float>(*scale, "scale", 1);
          check_array<int64_t>(*scale_start, "scale_start", 1);
          if (scale_start->shape(0) != row_len.shape(0)) {
            throw py::value_error("scale_start and lengths must have the same size");
          }
          ss = cdata<int64_t>(*scale_start);
        }
        for (py::ssize_t r = 0; r < row_len.shape(0); ++r) {
          if (!strided_range_inside(rs[r], rl[r], stride, cas.size())) {
            throw py::value_error("row " + std::to_string(r) + " (row_start " + std::to_string(rs[r]) + ", length " +
                                  std::to_string(rl[r]) + ", stride " + std::to_string(stride) +
                                  ") lies outside cas (lengths)");
          }
          if (ss && !range_inside(ss[r], rl[r], scale->size())) {
            throw py::value_error("row " + std::to_string(r) + " (scale_start " + std::to_string(ss[r]) + ", length " +
                                  std::to_string(rl[r]) + ") lies outside scale (scale_start, lengths)");
          }
        }
        if (variant < 0 || variant > 2) throw py::value_error("variant must be 0 (hamnet), 1 (facnet) or 2 (bm)");
        check_oic_params(outer_ratio, outer_weight);
        cpu::OicParams prm;
        prm.variant = static_cast<cpu::OicVariant>(variant);
        prm.outer_ratio = outer_ratio;
        prm.outer_weight = outer_weight;
        prm.num_threads = num_threads;
        const bool f32 = is_f32(cas);
        if (f32) check_array<float>(cas, "cas", 1);
        else check_array<double>(cas, "cas", 1);
        const py::array* w = scale ? &*scale : nullptr;
        if (!w) {
          return f32 ? oic_cpu<float, float, float>(cas, row_start, stride, w, ss, row_len, rows, starts, ends, prm)
                     : oic_cpu<double, double, double>(cas, row_start, stride, w, ss, row_len, rows, starts, ends, prm);
        }
        if (f32) {
          return is_f32(*w) ? oic_cpu<float, float, double>(cas, row_start, stride, w, ss, row_len, rows, starts, ends, prm)
                            : oic_cpu<float, double, double>(cas, row_start, stride, w, ss, row_len, rows, starts, ends, prm);
        }
        return is_f32(*w) ? oic_cpu<double, float, double>(cas, row_start, stride, w, ss, row_len, rows, starts, ends, prm)
                          : oic_cpu<double, double, double>(cas, row_start, stride, w, ss, row_len, rows, starts, ends, prm);
      },
      py::arg("cas"), py::arg("row_start"), py::arg("lengths"), py::arg("rows"), py::arg("starts"), py::arg("ends"),
      py::arg("variant"), py::arg("outer_ratio"), py::arg("outer_weight"), py::arg("num_threads") = 0,
      py::arg("stride") = 1, py::arg("scale") = py::none(), py::arg("scale_start") = py::none(),
      "Outer-inner contrast score per segment; cas is flat, row r is cas[row_start[r] + t * stride] for\n"
      "t < lengths[r], times scale[scale_start[r] + t] (in float64, float64 output) when scale is given.");

#ifdef WTAL_WITH_CUDA
  m.def(
      "oic_scores_cuda_temp_bytes",
      [](bool is_double, int64_t n_rows, int64_t width) {
        check_oic_cuda_sizes(n_rows, width, 0);
        return cuda::oic_scores_temp_bytes(is_double, n_rows, width);
      },
      py::arg("is_double"), py::arg("n_rows"), py::arg("width"));
  m.def(
      "oic_scores_cuda",
      [](bool is_double, std::uintptr_t cas, int64_t n_rows, int64_t width, std::uintptr_t row_len, std::uintptr_t rows,
         std::uintptr_t starts, std::uintptr_t ends, int64_t n_segments, int variant, double outer_ratio,
         double outer_weight, std::uintptr_t out, std::uintptr_t temp, int64_t temp_bytes, std::uintptr_t flag,
         std::uintptr_t stream, int device) {
        check_oic_cuda_sizes(n_rows, width, n_segments);
        if (variant < 0 || variant > 2) throw py::value_error("variant must be 0 (hamnet), 1 (facnet) or 2 (bm)");
        check_oic_params(outer_ratio, outer_weight);
        py::gil_scoped_release nogil;
        cuda::oic_scores(is_double, cas, n_rows, width, row_len, rows, starts, ends, n_segments, variant, outer_ratio,
                         outer_weight, out, temp, temp_bytes, flag, stream, device);
      },
      py::arg("is_double"), py::arg("cas"), py::arg("n_rows"), py::arg("width"), py::arg("lengths"), py::arg("rows"),
      py::arg("starts"), py::arg("ends"), py::arg("n_segments"), py::arg("variant"), py::arg("outer_ratio"),
      py::arg("outer_weight"), py::arg("out"), py::arg("temp"), py::arg("temp_bytes"), py::arg("flag"),
      py::arg("stream"), py::arg("device"));
#else
  m.def("oic_scores_cuda_temp_bytes", [](py::args) -> int64_t { throw_no_cuda("oic_scores"); });
  m.def("oic_scores_cuda", [](py::args, py::kwargs) { throw_no_cuda("oic_scores"); });
#endif
}

}  // namespace wtal::bind
