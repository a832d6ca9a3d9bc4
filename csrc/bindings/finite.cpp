// Binding of first_non_finite: the C++ finiteness check of padded batches, for Python callers that
// validate CPU inputs (a torch.isfinite pass over a [B, T, C] batch costs tens of ms at one thread).
#include "bindings.h"
#include "bindings/common.h"
#include "cpu/finite.h"

namespace wtal::bind {
namespace {

template <typename V>
py::object first_non_finite_impl(const py::array& x, const py::array& lengths) {
  const int64_t B = x.shape(0), T = x.shape(1), C = T > 0 && B > 0 ? x.size() / (B * T) : 0;
  const int64_t* len = cdata<int64_t>(lengths);
  for (int64_t b = 0; b < B; ++b) {
    if (len[b] < 0 || len[b] > T) {
      throw py::value_error("lengths must lie in [0, T] = [0, " + std::to_string(T) + "], got lengths[" +
                            std::to_string(b) + "] = " + std::to_string(len[b]));
    }
  }
  std::pair<int64_t, int64_t> at{-1, -1};
  {
    py::gil_scoped_release nogil;
    at = cpu::first_non_finite(cdata<V>(x), B, T, C, len);
  }
  if (at.first < 0) return py::none();
  return py::make_tuple(at.first, at.second);
}

}  // namespace

void bind_finite(py::module_& m) {
  m.def(
      "first_non_finite",
      [](const py::array& x, const py::array& lengths) -> py::object {
        if (x.ndim() < 2) throw py::value_error("x must be [N, T, ...], got shape " + shape_str(x));
        check_array<int64_t>(lengths, "lengths", 1);
        check_dim(lengths, "lengths", 0, x.shape(0), "N");
        if (is_f32(x)) {
          check_array<float>(x, "x");
          return first_non_finite_impl<float>(x, lengths);
        }
        check_array<double>(x, "x");
        return first_non_finite_impl<double>(x, lengths);
      },
      py::arg("x"), py::arg("lengths"),
      "(row, position) of the first NaN or inf in x[n, :lengths[n]] (x: [N, T, ...] float32/float64,\n"
      "C-contiguous), rows in order; None if there is none.");
}

}  // namespace wtal::bind
