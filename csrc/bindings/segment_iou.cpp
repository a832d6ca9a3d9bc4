#include "bindings.h"
#include "bindings/common.h"

namespace wtal::bind {
void bind_segment_iou(py::module_& m) {}
}  // namespace wtal::bind
