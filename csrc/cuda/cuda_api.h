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

// ---- proposals: connected_components, oic_scores, upsample_linear, gaussian_smooth ----
// Pointers are device pointers passed as integers; `stream` is a cudaStream_t. Row n of a flat signal
// is [row_start[n], row_start[n] + row_len[n]); lengths outside [0, max_len] or rows outside the
// signal set bit 2 of the error flag instead of being read, NaN inside a row sets bit 1, a NaN
// threshold bit 4.

// CUB scratch bytes for connected_components_count with `num_pairs` = N * M.
int64_t connected_components_temp_bytes(int64_t num_pairs);
// meta: int64 [2P + 3], zero-filled by the caller: [0, P] run counts, [P + 1, 2P + 2] their exclusive
// scan (offsets; meta[2P + 1] = total), meta[2P + 2] error flags.
void connected_components_count(bool is_double, std::uintptr_t signal, int64_t signal_size, int64_t max_len,
                                std::uintptr_t row_start, std::uintptr_t row_len, int64_t n_rows,
                                std::uintptr_t thresholds, int64_t n_thresholds, int64_t min_len, bool drop0,
                                std::uintptr_t meta, std::uintptr_t temp, int64_t temp_bytes, std::uintptr_t stream,
                                int device);
// Writes the runs (row, threshold_index, start, end; int64 [total]) at the offsets in meta.
void connected_components_fill(bool is_double, std::uintptr_t signal, std::uintptr_t row_start,
                               std::uintptr_t row_len, int64_t n_rows, std::uintptr_t thresholds,
                               int64_t n_thresholds, int64_t min_len, bool drop0, std::uintptr_t meta,
                               std::uintptr_t row, std::uintptr_t threshold_index, std::uintptr_t start,
                               std::uintptr_t end, std::uintptr_t stream, int device);

// Scratch bytes for oic_scores on a padded [n_rows, width] cas (row-use marks + prefix sums).
int64_t oic_scores_temp_bytes(bool is_double, int64_t n_rows, int64_t width);
// cas: [n_rows, width]; out: [n_segments] in cas's dtype; flag: int64 [1] zeroed by the caller
// (bit 1 NaN/inf in a used row, 2 length outside [0, width], 4 row index, 8 start/end order, 16 end > length,
// 32 a used row holds values or partial sums above 2**1019, whose window sums could overflow).
void oic_scores(bool is_double, std::uintptr_t cas, int64_t n_rows, int64_t width, std::uintptr_t row_len,
                std::uintptr_t rows, std::uintptr_t starts, std::uintptr_t ends, int64_t n_segments, int variant,
                double outer_ratio, double outer_weight, std::uintptr_t out, std::uintptr_t temp, int64_t temp_bytes,
                std::uintptr_t flag, std::uintptr_t stream, int device);

// x: [N, T]; y: [N, width]; lengths were validated by the caller.
void upsample_linear(int in_is_double, int out_is_double, std::uintptr_t x, std::uintptr_t lengths, int64_t N,
                     int64_t T, int64_t scale, std::uintptr_t y, int64_t width, std::uintptr_t new_lengths,
                     std::uintptr_t stream, int device);
// x, y: [N, T]; weights: float64 [2 * radius + 1] on the device.
void gaussian_smooth(bool is_double, std::uintptr_t x, std::uintptr_t lengths, int64_t N, int64_t T,
                     std::uintptr_t weights, int64_t radius, std::uintptr_t y, std::uintptr_t stream, int device);

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
