#include "bindings.h"
#include "bindings/common.h"

namespace wtal::bind {
void bind_connected_components(py::module_& m) {}
}  // namespace wtal::bind
