#include "bindings.h"
#include "bindings/common.h"

namespace wtal::bind {
void bind_topk_pool(py::module_& m) {}
}  // namespace wtal::bind
