// Binding of feature_lcs: the CPU kernel on C-contiguous numpy arrays (no CUDA kernel: see
// wtal/ops/feature_lcs.py).
#include "bindings.h"
#include "bindings/common.h"

#include <pybind11/stl.h>

#include "cpu/feature_lcs.h"

namespace wtal::bind {
namespace {

cpu::LcsIsa parse_isa(const std::string& isa) {
  if (isa == "auto") return cpu::LcsIsa::automatic;
  if (isa == "portable") return cpu::LcsIsa::portable;
  if (isa == "avx2") return cpu::LcsIsa::avx2;
  if (isa == "avx512") return cpu::LcsIsa::avx512;
  throw py::value_error("isa must be 'auto', 'avx512', 'avx2' or 'portable', got '" + isa + "'");
}

template <typename T>
py::array lcs_cpu(const py::array& features, const py::array& lengths, const py::array& video, const py::array& as,
                  const py::array& ae, const py::array& bs, const py::array& be, const cpu::FeatureLcsParams& prm) {
  const int64_t N = features.shape(0), T_ = features.shape(1), D = features.shape(2), P = video.shape(0);
  py::array_t<int64_t> out(P);
  const T* f = cdata<T>(features);
  const int64_t *len = cdata<int64_t>(lengths), *v = cdata<int64_t>(video);
  const int64_t *a0 = cdata<int64_t>(as), *a1 = cdata<int64_t>(ae), *b0 = cdata<int64_t>(bs), *b1 = cdata<int64_t>(be);
  int64_t* o = out.mutable_data();
  py::gil_scoped_release nogil;
  cpu::feature_lcs<T>(f, N, T_, D, len, v, a0, a1, b0, b1, P, prm, o);
  return std::move(out);
}

}  // namespace

void bind_feature_lcs(py::module_& m) {
  m.def(
      "feature_lcs",
      [](const py::array& features, const py::array& lengths, const py::array& video, const py::array& a_start,
         const py::array& a_end, const py::array& b_start, const py::array& b_end, double threshold, int num_threads,
         const std::string& isa, bool screen, bool nested) {
        const bool f32 = is_f32(features);
        if (f32) check_array<float>(features, "features", 3);
        else check_array<double>(features, "features", 3);
        check_array<int64_t>(lengths, "lengths", 1);
        check_dim(lengths, "lengths", 0, features.shape(0), "N");
        const char* names[] = {"video", "a_start", "a_end", "b_start", "b_end"};
        const py::array* pairs[] = {&video, &a_start, &a_end, &b_start, &b_end};
        for (int i = 0; i < 5; ++i) {
          check_array<int64_t>(*pairs[i], names[i], 1);
          check_dim(*pairs[i], names[i], 0, video.shape(0), "P");
        }
        cpu::FeatureLcsParams prm;
        prm.threshold = threshold;
        prm.num_threads = num_threads;
        prm.isa = parse_isa(isa);
        prm.screen = screen;
        prm.nested = nested;
        return f32 ? lcs_cpu<float>(features, lengths, video, a_start, a_end, b_start, b_end, prm)
                   : lcs_cpu<double>(features, lengths, video, a_start, a_end, b_start, b_end, prm);
      },
      py::arg("features"), py::arg("lengths"), py::arg("video"), py::arg("a_start"), py::arg("a_end"),
      py::arg("b_start"), py::arg("b_end"), py::arg("threshold"), py::arg("num_threads") = 0,
      py::arg("isa") = "auto", py::arg("screen") = true, py::arg("nested") = true,
      "LCS length per pair of features[video, a_start:a_end] and features[video, b_start:b_end] under\n"
      "cos > threshold (features [N, T, D] float32/float64; lengths and the pair arrays int64; all\n"
      "C-contiguous). isa, screen and nested select code paths without changing results (for tests and\n"
      "benchmarks).");
  m.def("feature_lcs_isas", &cpu::feature_lcs_isas,
        "Instruction sets feature_lcs can use on this CPU, widest first.");
}

}  // namespace wtal::bind
