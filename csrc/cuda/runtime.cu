#include <stdexcept>
#include <string>

#include "cuda/common.cuh"
#include "cuda/cuda_api.h"

namespace wtal::cuda {

std::string status() {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err == cudaErrorInsufficientDriver || err == cudaErrorNoDevice) {
    cudaGetLastError();
    // The static runtime reports a missing driver as "insufficient driver" (research/build.md pitfall 13).
    return err == cudaErrorNoDevice ? "no CUDA device found" : "no usable CUDA driver (cudaErrorInsufficientDriver)";
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
  }
  return n > 0 ? "ok" : "no CUDA device found";
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

void synchronize(int device) {
  // Check the index before touching the runtime, so a bad argument (or a machine without a driver) is
  // a named error instead of whatever cudaGetDevice reports.
  const int n = device_count();
  if (device < 0 || device >= n) {
    throw std::invalid_argument("cuda_synchronize: device must be in [0, " + std::to_string(n) + "), got " +
                                std::to_string(device) + " (" + status() + ")");
  }
  DeviceGuard guard(device);
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace wtal::cuda
