// One registration function per op family; each lives in csrc/bindings/<family>.cpp.
#pragma once
#include <pybind11/pybind11.h>

namespace wtal::bind {
void bind_segment_iou(pybind11::module_& m);
void bind_nms(pybind11::module_& m);
void bind_detection_map(pybind11::module_& m);
void bind_connected_components(pybind11::module_& m);
void bind_oic_scores(pybind11::module_& m);
void bind_upsample(pybind11::module_& m);
void bind_topk_pool(pybind11::module_& m);
void bind_hybrid_attention_pool(pybind11::module_& m);
void bind_finite(pybind11::module_& m);
void bind_results_json(pybind11::module_& m);
void bind_feature_lcs(pybind11::module_& m);
}  // namespace wtal::bind
