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
  DeviceGuard guard(device);
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace wtal::cuda
