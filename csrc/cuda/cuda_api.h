// Plain C++ declarations of the CUDA launchers and runtime helpers. No CUDA headers here, so the
// bindings compile without nvcc. Launchers take device pointers and a cudaStream_t passed as an
// integer (torch's current stream), and raise std::runtime_error on any CUDA error.
#pragma once
#include <cstdint>
#include <string>

namespace wtal::cuda {

// "ok" when a device is usable, else the CUDA runtime's reason (e.g. no driver).
std::string status();
int device_count();
// Blocks until the device is idle (used only by tests and benchmarks).
void synchronize(int device);

}  // namespace wtal::cuda
