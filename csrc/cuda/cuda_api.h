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

// ---- topk_pool / hybrid_attention_pool (csrc/cuda/topk_pool.cu, hybrid_attention_pool.cu) ----
// dtype codes: 0 float32, 1 float64, 2 float16, 3 bfloat16. Values are compared and accumulated in
// float32 for 16-bit inputs (cut_val and thr are then float32), in the input type otherwise.
// lengths: device int64 [B] or 0 (all T). Semantics: csrc/cpu/topk_pool.h, hybrid_attention_pool.h.
namespace wtal::cuda {

void topk_pool_forward(int dtype, std::uintptr_t x, int64_t B, int64_t T, int64_t C, std::uintptr_t lengths,
                       int64_t k, int64_t ratio, std::uintptr_t out, std::uintptr_t cut_val,
                       std::uintptr_t cut_idx, std::uintptr_t stream, int device);
void topk_pool_backward(int dtype, std::uintptr_t grad, std::uintptr_t x, int64_t B, int64_t T, int64_t C,
                        std::uintptr_t lengths, int64_t k, int64_t ratio, std::uintptr_t cut_val,
                        std::uintptr_t cut_idx, std::uintptr_t grad_x, std::uintptr_t stream, int device);
// scratch: device buffer of B*T elements of the compute type (per-snippet class minimum).
void hybrid_attention_pool_forward(int dtype, std::uintptr_t cas, std::uintptr_t attention, int64_t B, int64_t T,
                                   int64_t C1, std::uintptr_t lengths, double gamma, int64_t ratio,
                                   bool include_min, int threshold_mode, std::uintptr_t pooled, std::uintptr_t thr,
                                   std::uintptr_t cut_val, std::uintptr_t cut_idx, std::uintptr_t scratch,
                                   std::uintptr_t stream, int device);
void hybrid_attention_pool_backward(int dtype, std::uintptr_t grad, std::uintptr_t cas, std::uintptr_t attention,
                                    int64_t B, int64_t T, int64_t C1, std::uintptr_t lengths, int64_t ratio,
                                    bool include_min, std::uintptr_t thr, std::uintptr_t cut_val,
                                    std::uintptr_t cut_idx, std::uintptr_t grad_cas,
                                    std::uintptr_t grad_attention, std::uintptr_t stream, int device);

}  // namespace wtal::cuda
