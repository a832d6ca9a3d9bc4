#include "bindings.h"
#include "bindings/common.h"

namespace wtal::bind {
void bind_upsample(py::module_& m) {}
}  // namespace wtal::bind
