// HAM-Net's hybrid attention pooling (CPU kernels): the four top-k pooled score sets of the authors'
// training loss in one pass over the CAS (asrafulashiq/hamnet system/system_th.py, `ADL.forward`,
// `_multiply`, `topkloss`).
//
// Per video b (valid steps t < len_b), with s = cas[b] [T, C1] and a = attention[b] [T]:
//   thr  = (max_t a - min_t a) * gamma + min_t a      (threshold_mode 0, "range")
//        = max_t a * gamma                             (threshold_mode 1, "max")
//   ad   = 1[a < thr] * a                              (semi-soft: keeps the snippets BELOW thr)
//   h    = 1[ad > 0]                                   (hard)
//   m    = min_c s[t, c] if include_min else 0        (per snippet, over classes)
//   base = topk(s), soft = topk(a * s), semi_soft = topk(ad * (s - m) + m), hard = topk(h * (s - m) + m)
// with k_b = max(1, len_b / ratio) and the top-k order of topk_pool.h (ties: lowest time index).
// The gradient treats 1[a < thr] and h as constants and flows through m to the argmin class (lowest
// index on ties), as autograd does on the authors' code.
#pragma once
#include <cstdint>

namespace wtal::cpu {

// cas: [B, T, C1]; attention: [B, T]; lengths: [B] or nullptr.
// pooled, cut_val: [4, B, C1] (base, soft, semi_soft, hard); cut_idx: [4, B, C1]; thr: [B].
template <typename T>
void hybrid_attention_pool_forward(const T* cas, const T* attention, int64_t B, int64_t Tn, int64_t C1,
                                   const int64_t* lengths, double gamma, int64_t ratio, bool include_min,
                                   int threshold_mode, T* pooled, T* thr, T* cut_val, int32_t* cut_idx);

// grad: [4, B, C1] -> grad_cas: [B, T, C1], grad_attention: [B, T] (padded steps get 0).
template <typename T>
void hybrid_attention_pool_backward(const T* grad, const T* cas, const T* attention, int64_t B, int64_t Tn,
                                    int64_t C1, const int64_t* lengths, int64_t ratio, bool include_min,
                                    const T* thr, const T* cut_val, const int32_t* cut_idx, T* grad_cas,
                                    T* grad_attention);

}  // namespace wtal::cpu
