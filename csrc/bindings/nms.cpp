#include "cpu/nms.h"

#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>

#include "bindings.h"
#include "bindings/common.h"
#include "cuda/cuda_api.h"

namespace wtal::bind {
namespace {

wtal::cpu::NmsOptions make_options(int method, int overlap, double iou_threshold, double sigma,
                                   const std::optional<double>& min_score, int64_t max_num, bool suppress_equal,
                                   bool always_keep_top, double length_eps) {
  if (method < 0 || method > 2) throw py::value_error("method must be 0 (hard), 1 (gaussian) or 2 (linear)");
  if (overlap < 0 || overlap > 2) {
    throw py::value_error("overlap must be 0 (iou), 1 (plus_one) or 2 (inter_over_other)");
  }
  // NaN would make every comparison false (nothing suppressed, nothing dropped) without a word.
  if (std::isnan(iou_threshold)) throw py::value_error("iou_threshold must not be NaN");
  if (method == 1 && !(sigma > 0.0 && sigma <= std::numeric_limits<double>::max())) {
    throw py::value_error("sigma must be a finite number > 0, got " + std::to_string(sigma));
  }
  if (min_score && std::isnan(*min_score)) throw py::value_error("min_score must not be NaN");
  if (!(length_eps >= 0.0 && length_eps <= wtal::cpu::kNmsMaxLength)) {
    throw py::value_error("length_eps must lie in [0, 2**1020], got " + std::to_string(length_eps));
  }
  wtal::cpu::NmsOptions o;
  o.method = static_cast<wtal::cpu::NmsMethod>(method);
  o.overlap = static_cast<wtal::cpu::NmsOverlap>(overlap);
  o.iou_threshold = iou_threshold;
  o.sigma = sigma;
  o.has_min_score = min_score.has_value();
  o.min_score = min_score.value_or(0.0);
  o.max_num = max_num;
  o.suppress_equal = suppress_equal;
  o.always_keep_top = always_keep_top;
  o.length_eps = length_eps;
  return o;
}

template <typename T>
py::tuple nms_impl(const py::array& segments, const py::array& scores, const py::object& groups,
                   const wtal::cpu::NmsOptions& o, int num_threads) {
  check_array<T>(segments, "segments", 2);
  check_dim(segments, "segments", 1, 2, "size");
  check_array<T>(scores, "scores", 1);
  const int64_t n = segments.shape(0);
  check_dim(scores, "scores", 0, n, "length");
  const int64_t* g = nullptr;
  const std::optional<py::array> garr = optional_array(groups, "groups");
  if (garr) {
    check_array<int64_t>(*garr, "groups", 1);
    check_dim(*garr, "groups", 0, n, "length");
    g = cdata<int64_t>(*garr);
  }
  py::array_t<int64_t> keep(static_cast<py::ssize_t>(n));
  py::array_t<double> kept_scores(static_cast<py::ssize_t>(n));
  int64_t* pk = keep.mutable_data();
  double* ps = kept_scores.mutable_data();
  const T* pseg = cdata<T>(segments);
  const T* psc = cdata<T>(scores);
  int64_t k = 0;
  {
    py::gil_scoped_release release;
    // std::invalid_argument (NaN, reversed segments) reaches Python as ValueError.
    k = wtal::cpu::nms<T>(pseg, psc, g, n, o, pk, ps, num_threads);
  }
  keep.resize({static_cast<py::ssize_t>(k)});
  kept_scores.resize({static_cast<py::ssize_t>(k)});
  return py::make_tuple(keep, kept_scores);
}

}  // namespace

void bind_nms(py::module_& m) {
  m.def(
      "nms",
      [](const py::array& segments, const py::array& scores, const py::object& groups, int method, int overlap,
         double iou_threshold, double sigma, const std::optional<double>& min_score, int64_t max_num,
         bool suppress_equal, bool always_keep_top, double length_eps, int num_threads,
         bool order_by_score) -> py::tuple {
        auto o = make_options(method, overlap, iou_threshold, sigma, min_score, max_num, suppress_equal,
                              always_keep_top, length_eps);
        o.order_by_score = order_by_score;
        if (!segments.dtype().is(scores.dtype())) {
          throw py::type_error("segments and scores must have the same dtype, got " +
                               std::string(py::str(segments.dtype())) + " and " +
                               std::string(py::str(scores.dtype())));
        }
        if (py::dtype::of<float>().is(segments.dtype())) {
          return nms_impl<float>(segments, scores, groups, o, num_threads);
        }
        if (py::dtype::of<double>().is(segments.dtype())) {
          return nms_impl<double>(segments, scores, groups, o, num_threads);
        }
        throw py::type_error("segments must have dtype float32 or float64, got " +
                             std::string(py::str(segments.dtype())));
      },
      py::arg("segments"), py::arg("scores"), py::arg("groups"), py::arg("method"), py::arg("overlap"),
      py::arg("iou_threshold"), py::arg("sigma"), py::arg("min_score"), py::arg("max_num"),
      py::arg("suppress_equal"), py::arg("always_keep_top"), py::arg("length_eps"), py::arg("num_threads") = 0,
      py::arg("order_by_score") = false,
      "Batched greedy NMS on the CPU -> (keep int64 [K], scores float64 [K]); see wtal.ops.nms.");

  // CUDA entry point on raw device pointers (torch tensors' data_ptr()); wtal/ops/_nms_cuda.py sorts,
  // allocates the scratch and compacts the outputs.
  m.def(
      "nms_cuda",
      [](std::uintptr_t segments, std::uintptr_t scores, bool is_double, std::uintptr_t order, std::uintptr_t groups,
         int64_t n, int method, int overlap, double iou_threshold, double sigma,
         const std::optional<double>& min_score, int64_t max_num, bool suppress_equal, bool always_keep_top, double length_eps, std::uintptr_t scratch,
         std::uintptr_t alive, std::uintptr_t keep, std::uintptr_t kept_scores, std::uintptr_t valid,
         std::uintptr_t stream, int device) {
        const auto o = make_options(method, overlap, iou_threshold, sigma, min_score, max_num, suppress_equal,
                                    always_keep_top, length_eps);
        if (n < 0) throw py::value_error("n must be >= 0");
#ifdef WTAL_WITH_CUDA
        py::gil_scoped_release release;
        wtal::cuda::nms(reinterpret_cast<const void*>(segments), reinterpret_cast<const void*>(scores), is_double,
                        reinterpret_cast<const int64_t*>(order), reinterpret_cast<const int64_t*>(groups), n, o,
                        reinterpret_cast<double*>(scratch), reinterpret_cast<uint8_t*>(alive),
                        reinterpret_cast<int64_t*>(keep), reinterpret_cast<double*>(kept_scores),
                        reinterpret_cast<uint8_t*>(valid), stream, device);
#else
        throw_no_cuda("nms");
#endif
      },
      py::arg("segments"), py::arg("scores"), py::arg("is_double"), py::arg("order"), py::arg("groups"), py::arg("n"),
      py::arg("method"), py::arg("overlap"), py::arg("iou_threshold"), py::arg("sigma"), py::arg("min_score"),
      py::arg("max_num"), py::arg("suppress_equal"), py::arg("always_keep_top"), py::arg("length_eps"),
      py::arg("scratch"), py::arg("alive"), py::arg("keep"), py::arg("kept_scores"), py::arg("valid"),
      py::arg("stream"), py::arg("device"),
      "Batched NMS on CUDA device pointers (asynchronous on `stream`); use wtal.ops.nms.");
}

}  // namespace wtal::bind
