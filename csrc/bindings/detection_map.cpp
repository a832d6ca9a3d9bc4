#include "bindings.h"
#include "bindings/common.h"

namespace wtal::bind {
void bind_detection_map(py::module_& m) {}
}  // namespace wtal::bind
