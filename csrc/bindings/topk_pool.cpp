// Bindings of topk_pool: CPU kernels on numpy arrays, CUDA launchers on raw device pointers.
#include <optional>
#include <utility>

#include <pybind11/stl.h>

#include "bindings.h"
#include "bindings/common.h"
#include "cpu/topk_pool.h"
#include "cuda/cuda_api.h"

namespace wtal::bind {
namespace {

template <typename T>
void forward_cpu(const py::array& x, const std::optional<py::array>& lengths, int64_t k, int64_t ratio,
                 py::array& out, py::array& cut_val, py::array& cut_idx) {
  check_array<T>(x, "x", 3);
  const int64_t B = x.shape(0), Tn = x.shape(1), C = x.shape(2);
  const int64_t* len = optional_lengths(lengths, B);
  check_array<T>(out, "out", 2, true);
  check_array<T>(cut_val, "cut_val", 2, true);
  check_array<int32_t>(cut_idx, "cut_idx", 2, true);
  for (auto [a, name] : {std::pair<const py::array*, const char*>{&out, "out"}, {&cut_val, "cut_val"},
                          {&cut_idx, "cut_idx"}}) {
    check_dim(*a, name, 0, B, "B");
    check_dim(*a, name, 1, C, "C");
  }
  const T* xp = cdata<T>(x);
  T *op = mdata<T>(out), *cv = mdata<T>(cut_val);
  int32_t* ci = mdata<int32_t>(cut_idx);
  py::gil_scoped_release release;
  cpu::topk_pool_forward<T>(xp, B, Tn, C, len, k, ratio, op, cv, ci);
}

template <typename T>
void backward_cpu(const py::array& grad, const py::array& x, const std::optional<py::array>& lengths, int64_t k,
                  int64_t ratio, const py::array& cut_val, const py::array& cut_idx, py::array& grad_x) {
  check_array<T>(x, "x", 3);
  const int64_t B = x.shape(0), Tn = x.shape(1), C = x.shape(2);
  const int64_t* len = optional_lengths(lengths, B);
  check_array<T>(grad, "grad", 2);
  check_array<T>(cut_val, "cut_val", 2);
  check_array<int32_t>(cut_idx, "cut_idx", 2);
  for (auto [a, name] : {std::pair<const py::array*, const char*>{&grad, "grad"}, {&cut_val, "cut_val"},
                          {&cut_idx, "cut_idx"}}) {
    check_dim(*a, name, 0, B, "B");
    check_dim(*a, name, 1, C, "C");
  }
  check_array<T>(grad_x, "grad_x", 3, true);
  for (int i = 0; i < 3; ++i) check_dim(grad_x, "grad_x", i, x.shape(i), "the size of x");
  const T *gp = cdata<T>(grad), *xp = cdata<T>(x), *cv = cdata<T>(cut_val);
  const int32_t* ci = cdata<int32_t>(cut_idx);
  T* gx = mdata<T>(grad_x);
  py::gil_scoped_release release;
  cpu::topk_pool_backward<T>(gp, xp, B, Tn, C, len, k, ratio, cv, ci, gx);
}

template <typename TX, typename TS>
py::array_t<double> scaled_topk_mean_cpu(const py::array& x, const py::array& scale, const py::array& lengths,
                                         int64_t ratio) {
  check_array<TX>(x, "x", 3);
  const int64_t B = x.shape(0), Tn = x.shape(1), C = x.shape(2);
  check_array<TS>(scale, "scale", 2);
  check_dim(scale, "scale", 0, B, "B");
  check_dim(scale, "scale", 1, Tn, "T");
  const int64_t* len = optional_lengths(lengths, B);
  py::array_t<double> out({static_cast<py::ssize_t>(B), static_cast<py::ssize_t>(C)});
  const TX* xp = cdata<TX>(x);
  const TS* sp = cdata<TS>(scale);
  double* op = out.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::scaled_topk_mean<TX, TS>(xp, sp, B, Tn, C, len, ratio, op, "cas", "attention");
  }
  return out;
}

}  // namespace

void bind_topk_pool(py::module_& m) {
  m.def(
      "scaled_topk_mean",
      [](const py::array& x, const py::array& scale, const py::array& lengths, int64_t ratio) {
        if (is_f32(x)) {
          return is_f32(scale) ? scaled_topk_mean_cpu<float, float>(x, scale, lengths, ratio)
                               : scaled_topk_mean_cpu<float, double>(x, scale, lengths, ratio);
        }
        return is_f32(scale) ? scaled_topk_mean_cpu<double, float>(x, scale, lengths, ratio)
                             : scaled_topk_mean_cpu<double, double>(x, scale, lengths, ratio);
      },
      py::arg("x"), py::arg("scale"), py::arg("lengths"), py::arg("ratio"),
      "HAM-Net video-score pooling (CPU): float64 [B, C] mean of the max(1, len // ratio) largest\n"
      "x[b, t, c] * scale[b, t] over t < len (float64; summation order unspecified). NaN/inf in a valid\n"
      "prefix raise ValueError naming 'attention' (scale) or 'cas' (x).");
  m.def(
      "topk_pool_forward_cpu",
      [](const py::array& x, const std::optional<py::array>& lengths, int64_t k, int64_t ratio, py::array out,
         py::array cut_val, py::array cut_idx) {
        if (is_f32(x)) forward_cpu<float>(x, lengths, k, ratio, out, cut_val, cut_idx);
        else forward_cpu<double>(x, lengths, k, ratio, out, cut_val, cut_idx);
      },
      py::arg("x").noconvert(), py::arg("lengths").noconvert(), py::arg("k"), py::arg("ratio"),
      py::arg("out").noconvert(), py::arg("cut_val").noconvert(), py::arg("cut_idx").noconvert(),
      "Top-k mean over time of x [B, T, C] into out [B, C]; saves the selection cutoff (cut_val, cut_idx).");
  m.def(
      "topk_pool_backward_cpu",
      [](const py::array& grad, const py::array& x, const std::optional<py::array>& lengths, int64_t k,
         int64_t ratio, const py::array& cut_val, const py::array& cut_idx, py::array grad_x) {
        if (is_f32(x)) backward_cpu<float>(grad, x, lengths, k, ratio, cut_val, cut_idx, grad_x);
        else backward_cpu<double>(grad, x, lengths, k, ratio, cut_val, cut_idx, grad_x);
      },
      py::arg("grad").noconvert(), py::arg("x").noconvert(), py::arg("lengths").noconvert(), py::arg("k"),
      py::arg("ratio"), py::arg("cut_val").noconvert(), py::arg("cut_idx").noconvert(),
      py::arg("grad_x").noconvert(), "Gradient of topk_pool: grad / k_b at the selected positions, 0 elsewhere.");
#ifdef WTAL_WITH_CUDA
  m.def(
      "topk_pool_forward_cuda",
      [](int dtype, std::uintptr_t x, int64_t B, int64_t T, int64_t C, std::uintptr_t lengths, int64_t k,
         int64_t ratio, std::uintptr_t out, std::uintptr_t cut_val, std::uintptr_t cut_idx, std::uintptr_t stream,
         int device) {
        check_pool_sizes(B, T, C);
        py::gil_scoped_release release;
        cuda::topk_pool_forward(dtype, x, B, T, C, lengths, k, ratio, out, cut_val, cut_idx, stream, device);
      },
      py::arg("dtype"), py::arg("x"), py::arg("B"), py::arg("T"), py::arg("C"), py::arg("lengths"), py::arg("k"),
      py::arg("ratio"), py::arg("out"), py::arg("cut_val"), py::arg("cut_idx"), py::arg("stream"), py::arg("device"));
  m.def(
      "topk_pool_backward_cuda",
      [](int dtype, std::uintptr_t grad, std::uintptr_t x, int64_t B, int64_t T, int64_t C, std::uintptr_t lengths,
         int64_t k, int64_t ratio, std::uintptr_t cut_val, std::uintptr_t cut_idx, std::uintptr_t grad_x,
         std::uintptr_t stream, int device) {
        check_pool_sizes(B, T, C);
        py::gil_scoped_release release;
        cuda::topk_pool_backward(dtype, grad, x, B, T, C, lengths, k, ratio, cut_val, cut_idx, grad_x, stream,
                                 device);
      },
      py::arg("dtype"), py::arg("grad"), py::arg("x"), py::arg("B"), py::arg("T"), py::arg("C"), py::arg("lengths"),
      py::arg("k"), py::arg("ratio"), py::arg("cut_val"), py::arg("cut_idx"), py::arg("grad_x"), py::arg("stream"),
      py::arg("device"));
#else
  m.def("topk_pool_forward_cuda", [](py::args, py::kwargs) { throw_no_cuda("topk_pool"); });
  m.def("topk_pool_backward_cuda", [](py::args, py::kwargs) { throw_no_cuda("topk_pool"); });
#endif
}

}  // namespace wtal::bind
