#include "bindings.h"
#include "bindings/common.h"

namespace wtal::bind {
void bind_oic_scores(py::module_& m) {}
}  // namespace wtal::bind
