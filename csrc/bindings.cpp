// The one pybind11 module, wtal._C. Each op family registers itself from csrc/bindings/<family>.cpp.
#include "bindings.h"

#include <pybind11/stl.h>

#include <thread>

#include "bindings/common.h"
#include "cuda/cuda_api.h"

#ifndef WTAL_VERSION_INFO
#define WTAL_VERSION_INFO "unknown"
#endif
#ifndef WTAL_CXX_COMPILER
#define WTAL_CXX_COMPILER "unknown"
#endif

namespace {

py::dict build_info() {
  py::dict d;
  d["version"] = WTAL_VERSION_INFO;
  d["cxx_compiler"] = WTAL_CXX_COMPILER;
  d["cxx_standard"] = __cplusplus;
  d["hardware_threads"] = std::thread::hardware_concurrency();
  d["openmp"] = false;  // torch ships its own libgomp; the core uses std::thread (research/build.md pitfall 14)
#ifdef WTAL_WITH_CUDA
  d["cuda"] = true;
  d["cuda_version"] = WTAL_CUDA_VERSION;
  d["cuda_archs"] = WTAL_CUDA_ARCHS;
  d["cudart"] = "static (hidden symbols)";
#else
  d["cuda"] = false;
  d["cuda_version"] = py::none();
  d["cuda_archs"] = py::none();
  d["cudart"] = py::none();
#endif
  return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "wtal C++/CUDA kernels (torch-free core)";
  m.def("build_info", &build_info, "Compiler, CUDA version and architectures of this build.");
#ifdef WTAL_WITH_CUDA
  m.attr("cuda_compiled") = true;
  m.def("cuda_status", &wtal::cuda::status, "'ok' if a CUDA device is usable, else the reason.");
  m.def("cuda_device_count", &wtal::cuda::device_count);
  m.def("cuda_synchronize", &wtal::cuda::synchronize, py::arg("device"), py::call_guard<py::gil_scoped_release>());
#else
  m.attr("cuda_compiled") = false;
  m.def("cuda_status", []() { return std::string("wtal was built without CUDA kernels"); });
  m.def("cuda_device_count", []() { return 0; });
  m.def("cuda_synchronize", [](int) { wtal::bind::throw_no_cuda("cuda_synchronize"); }, py::arg("device"));
#endif
  wtal::bind::bind_segment_iou(m);
  wtal::bind::bind_nms(m);
  wtal::bind::bind_detection_map(m);
  wtal::bind::bind_connected_components(m);
  wtal::bind::bind_oic_scores(m);
  wtal::bind::bind_upsample(m);
  wtal::bind::bind_topk_pool(m);
  wtal::bind::bind_hybrid_attention_pool(m);
  wtal::bind::bind_finite(m);
  wtal::bind::bind_results_json(m);
  wtal::bind::bind_feature_lcs(m);
}
