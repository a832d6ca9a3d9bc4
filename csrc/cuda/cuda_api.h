// Plain C++ declarations of the CUDA launchers and runtime helpers. No CUDA headers here, so the
// bindings compile without nvcc. Launchers take device pointers and a cudaStream_t passed as an
// integer (torch's current stream), and raise std::runtime_error on any CUDA error.
#pragma once
#include <cstdint>
#include <string>

namespace wtal::cpu {
struct NmsOptions;
}  // namespace wtal::cpu

namespace wtal::cuda {

// "ok" when a device is usable, else the CUDA runtime's reason (e.g. no driver).
std::string status();
int device_count();
// Blocks until the device is idle (used only by tests and benchmarks).
void synchronize(int device);

// ---- nms (cuda/nms.cu) ----
// Batched greedy NMS, one block per group. `order` [n] sorts the candidates by (group asc, score desc,
// index asc); `groups` [n] are the group ids in that order (nullptr: one group). segments/scores are
// float32 or float64 (is_double) in input order. Caller-owned scratch: `scratch` 3n float64, `alive` n
// bytes; outputs (n each): keep, kept_scores, valid (must be zeroed): sorted position first + r holds the
// group's r-th selection and valid = 1. Asynchronous on `stream`.
void nms(const void* segments, const void* scores, bool is_double, const int64_t* order, const int64_t* groups,
         int64_t n, const wtal::cpu::NmsOptions& options, double* scratch, uint8_t* alive, int64_t* keep,
         double* kept_scores, uint8_t* valid, std::uintptr_t stream, int device);

}  // namespace wtal::cuda
