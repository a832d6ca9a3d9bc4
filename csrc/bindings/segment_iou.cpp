#include "cpu/segment_iou.h"

#include "bindings.h"
#include "bindings/common.h"

namespace wtal::bind {
namespace {

template <typename T>
py::array_t<double> segment_iou_impl(const py::array& a, const py::array& b, bool plus_one, int num_threads) {
  check_array<T>(a, "a", 2);
  check_array<T>(b, "b", 2);
  check_dim(a, "a", 1, 2, "size");
  check_dim(b, "b", 1, 2, "size");
  const int64_t n = a.shape(0), m = b.shape(0);
  auto out = new_array<double>({n, m}, "segment_iou: N * M");
  double* o = out.mutable_data();
  const T* pa = cdata<T>(a);
  const T* pb = cdata<T>(b);
  {
    py::gil_scoped_release release;
    wtal::cpu::segment_iou<T>(pa, n, pb, m, plus_one, o, num_threads);
  }
  return out;
}

}  // namespace

void bind_segment_iou(py::module_& m) {
  m.def(
      "segment_iou",
      [](const py::array& a, const py::array& b, bool plus_one, int num_threads) -> py::array_t<double> {
        if (!a.dtype().is(b.dtype())) {
          throw py::type_error("a and b must have the same dtype, got " + std::string(py::str(a.dtype())) +
                               " and " + std::string(py::str(b.dtype())));
        }
        if (py::dtype::of<float>().is(a.dtype())) return segment_iou_impl<float>(a, b, plus_one, num_threads);
        if (py::dtype::of<double>().is(a.dtype())) return segment_iou_impl<double>(a, b, plus_one, num_threads);
        throw py::type_error("a must have dtype float32 or float64, got " + std::string(py::str(a.dtype())));
      },
      py::arg("a"), py::arg("b"), py::arg("plus_one") = false, py::arg("num_threads") = 0,
      "Pairwise tIoU [N, M] (float64) of segments a [N, 2] and b [M, 2]; see wtal.ops.segment_iou.");
}

}  // namespace wtal::bind
