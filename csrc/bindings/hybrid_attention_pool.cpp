// Bindings of hybrid_attention_pool: CPU kernels on numpy arrays, CUDA launchers on raw device pointers.
#include <optional>

#include <pybind11/stl.h>

#include "bindings.h"
#include "bindings/common.h"
#include "cpu/hybrid_attention_pool.h"
#include "cuda/cuda_api.h"

namespace wtal::bind {
namespace {

void check_4bc(const py::array& a, const char* name, py::ssize_t B, py::ssize_t C1) {
  check_dim(a, name, 0, 4, "4 (base, soft, semi_soft, hard)");
  check_dim(a, name, 1, B, "B");
  check_dim(a, name, 2, C1, "C + 1");
}

template <typename T>
void forward_cpu(const py::array& cas, const py::array& attention, const std::optional<py::array>& lengths,
                 double gamma, int64_t ratio, bool include_min, int threshold_mode, py::array& pooled,
                 py::array& thr, py::array& cut_val, py::array& cut_idx) {
  check_array<T>(cas, "cas", 3);
  const int64_t B = cas.shape(0), Tn = cas.shape(1), C1 = cas.shape(2);
  check_array<T>(attention, "attention", 2);
  check_dim(attention, "attention", 0, B, "B");
  check_dim(attention, "attention", 1, Tn, "T");
  const int64_t* len = optional_lengths(lengths, B);
  check_array<T>(pooled, "pooled", 3, true);
  check_array<T>(cut_val, "cut_val", 3, true);
  check_array<int32_t>(cut_idx, "cut_idx", 3, true);
  check_4bc(pooled, "pooled", B, C1);
  check_4bc(cut_val, "cut_val", B, C1);
  check_4bc(cut_idx, "cut_idx", B, C1);
  check_array<T>(thr, "thr", 1, true);
  check_dim(thr, "thr", 0, B, "B");
  const T *cp = cdata<T>(cas), *ap = cdata<T>(attention);
  T *pp = mdata<T>(pooled), *tp = mdata<T>(thr), *cv = mdata<T>(cut_val);
  int32_t* ci = mdata<int32_t>(cut_idx);
  py::gil_scoped_release release;
  cpu::hybrid_attention_pool_forward<T>(cp, ap, B, Tn, C1, len, gamma, ratio, include_min, threshold_mode, pp, tp,
                                        cv, ci);
}

template <typename T>
void backward_cpu(const py::array& grad, const py::array& cas, const py::array& attention,
                  const std::optional<py::array>& lengths, int64_t ratio, bool include_min, const py::array& thr,
                  const py::array& cut_val, const py::array& cut_idx, py::array& grad_cas,
                  py::array& grad_attention) {
  check_array<T>(cas, "cas", 3);
  const int64_t B = cas.shape(0), Tn = cas.shape(1), C1 = cas.shape(2);
  check_array<T>(attention, "attention", 2);
  check_dim(attention, "attention", 0, B, "B");
  check_dim(attention, "attention", 1, Tn, "T");
  const int64_t* len = optional_lengths(lengths, B);
  check_array<T>(grad, "grad", 3);
  check_array<T>(cut_val, "cut_val", 3);
  check_array<int32_t>(cut_idx, "cut_idx", 3);
  check_4bc(grad, "grad", B, C1);
  check_4bc(cut_val, "cut_val", B, C1);
  check_4bc(cut_idx, "cut_idx", B, C1);
  check_array<T>(thr, "thr", 1);
  check_dim(thr, "thr", 0, B, "B");
  check_array<T>(grad_cas, "grad_cas", 3, true);
  for (int i = 0; i < 3; ++i) check_dim(grad_cas, "grad_cas", i, cas.shape(i), "the size of cas");
  check_array<T>(grad_attention, "grad_attention", 2, true);
  for (int i = 0; i < 2; ++i) check_dim(grad_attention, "grad_attention", i, attention.shape(i), "the size of attention");
  const T *gp = cdata<T>(grad), *cp = cdata<T>(cas), *ap = cdata<T>(attention), *tp = cdata<T>(thr),
          *cv = cdata<T>(cut_val);
  const int32_t* ci = cdata<int32_t>(cut_idx);
  T *gc = mdata<T>(grad_cas), *ga = mdata<T>(grad_attention);
  py::gil_scoped_release release;
  cpu::hybrid_attention_pool_backward<T>(gp, cp, ap, B, Tn, C1, len, ratio, include_min, tp, cv, ci, gc, ga);
}

}  // namespace

void bind_hybrid_attention_pool(py::module_& m) {
  m.def(
      "hybrid_attention_pool_forward_cpu",
      [](const py::array& cas, const py::array& attention, const std::optional<py::array>& lengths, double gamma,
         int64_t ratio, bool include_min, int threshold_mode, py::array pooled, py::array thr, py::array cut_val,
         py::array cut_idx) {
        if (is_f32(cas))
          forward_cpu<float>(cas, attention, lengths, gamma, ratio, include_min, threshold_mode, pooled, thr,
                             cut_val, cut_idx);
        else
          forward_cpu<double>(cas, attention, lengths, gamma, ratio, include_min, threshold_mode, pooled, thr,
                              cut_val, cut_idx);
      },
      py::arg("cas").noconvert(), py::arg("attention").noconvert(), py::arg("lengths").noconvert(),
      py::arg("gamma"), py::arg("ratio"), py::arg("include_min"), py::arg("threshold_mode"),
      py::arg("pooled").noconvert(), py::arg("thr").noconvert(), py::arg("cut_val").noconvert(),
      py::arg("cut_idx").noconvert(),
      "HAM-Net's four top-k pooled score sets into pooled [4, B, C1]; saves thr [B] and the cutoffs.");
  m.def(
      "hybrid_attention_pool_backward_cpu",
      [](const py::array& grad, const py::array& cas, const py::array& attention,
         const std::optional<py::array>& lengths, int64_t ratio, bool include_min, const py::array& thr,
         const py::array& cut_val, const py::array& cut_idx, py::array grad_cas, py::array grad_attention) {
        if (is_f32(cas))
          backward_cpu<float>(grad, cas, attention, lengths, ratio, include_min, thr, cut_val, cut_idx, grad_cas,
                              grad_attention);
        else
          backward_cpu<double>(grad, cas, attention, lengths, ratio, include_min, thr, cut_val, cut_idx, grad_cas,
                               grad_attention);
      },
      py::arg("grad").noconvert(), py::arg("cas").noconvert(), py::arg("attention").noconvert(),
      py::arg("lengths").noconvert(), py::arg("ratio"), py::arg("include_min"), py::arg("thr").noconvert(),
      py::arg("cut_val").noconvert(), py::arg("cut_idx").noconvert(), py::arg("grad_cas").noconvert(),
      py::arg("grad_attention").noconvert(), "Gradient of hybrid_attention_pool w.r.t. cas and attention.");
#ifdef WTAL_WITH_CUDA
  m.def(
      "hybrid_attention_pool_forward_cuda",
      [](int dtype, std::uintptr_t cas, std::uintptr_t attention, int64_t B, int64_t T, int64_t C1,
         std::uintptr_t lengths, double gamma, int64_t ratio, bool include_min, int threshold_mode,
         std::uintptr_t pooled, std::uintptr_t thr, std::uintptr_t cut_val, std::uintptr_t cut_idx,
         std::uintptr_t scratch, std::uintptr_t stream, int device) {
        check_pool_sizes(B, T, C1);
        checked_mul(4, checked_mul(B, C1, "B * C1"), "4 * B * C1");
        py::gil_scoped_release release;
        cuda::hybrid_attention_pool_forward(dtype, cas, attention, B, T, C1, lengths, gamma, ratio, include_min,
                                            threshold_mode, pooled, thr, cut_val, cut_idx, scratch, stream, device);
      },
      py::arg("dtype"), py::arg("cas"), py::arg("attention"), py::arg("B"), py::arg("T"), py::arg("C1"),
      py::arg("lengths"), py::arg("gamma"), py::arg("ratio"), py::arg("include_min"), py::arg("threshold_mode"),
      py::arg("pooled"), py::arg("thr"), py::arg("cut_val"), py::arg("cut_idx"), py::arg("scratch"),
      py::arg("stream"), py::arg("device"));
  m.def(
      "hybrid_attention_pool_backward_cuda",
      [](int dtype, std::uintptr_t grad, std::uintptr_t cas, std::uintptr_t attention, int64_t B, int64_t T,
         int64_t C1, std::uintptr_t lengths, int64_t ratio, bool include_min, std::uintptr_t thr,
         std::uintptr_t cut_val, std::uintptr_t cut_idx, std::uintptr_t grad_cas, std::uintptr_t grad_attention,
         std::uintptr_t stream, int device) {
        check_pool_sizes(B, T, C1);
        checked_mul(4, checked_mul(B, C1, "B * C1"), "4 * B * C1");
        py::gil_scoped_release release;
        cuda::hybrid_attention_pool_backward(dtype, grad, cas, attention, B, T, C1, lengths, ratio, include_min, thr,
                                             cut_val, cut_idx, grad_cas, grad_attention, stream, device);
      },
      py::arg("dtype"), py::arg("grad"), py::arg("cas"), py::arg("attention"), py::arg("B"), py::arg("T"),
      py::arg("C1"), py::arg("lengths"), py::arg("ratio"), py::arg("include_min"), py::arg("thr"), py::arg("cut_val"),
      py::arg("cut_idx"), py::arg("grad_cas"), py::arg("grad_attention"), py::arg("stream"), py::arg("device"));
#else
  m.def("hybrid_attention_pool_forward_cuda", [](py::args, py::kwargs) { throw_no_cuda("hybrid_attention_pool"); });
  m.def("hybrid_attention_pool_backward_cuda", [](py::args, py::kwargs) { throw_no_cuda("hybrid_attention_pool"); });
#endif
}

}  // namespace wtal::bind
