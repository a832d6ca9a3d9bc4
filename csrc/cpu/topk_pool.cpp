#include "cpu/topk_pool.h"

namespace wtal::cpu {

using namespace pool_detail;

template <typename T>
void topk_pool_forward(const T* x, int64_t B, int64_t Tn, int64_t C, const int64_t* lengths, int64_t k,
                       int64_t ratio, T* out, T* cut_val, int32_t* cut_idx) {
  check_pool_args(B, Tn, lengths, k, ratio);
  parallel_for(B * C, B * Tn * C * 8, [&](int64_t lo, int64_t hi) {
    std::vector<typename Rank<T>::type> ranks(static_cast<size_t>(Tn));
    for (int64_t bc = lo; bc < hi; ++bc) {
      const int64_t b = bc / C, c = bc % C;
      const int64_t len = lengths ? lengths[b] : Tn;
      const int64_t kb = k_of(len, k, ratio);
      const T* col = x + b * Tn * C + c;
      for (int64_t t = 0; t < len; ++t) ranks[t] = Rank<T>::make(col[t * C], static_cast<int32_t>(t));
      const double sum = select_topk<T>(ranks.data(), len, kb);
      out[bc] = static_cast<T>(sum / static_cast<double>(kb));
      cut_val[bc] = Rank<T>::value(ranks[kb - 1]);
      cut_idx[bc] = Rank<T>::time(ranks[kb - 1]);
    }
  });
}

template <typename T>
void topk_pool_backward(const T* grad, const T* x, int64_t B, int64_t Tn, int64_t C, const int64_t* lengths,
                        int64_t k, int64_t ratio, const T* cut_val, const int32_t* cut_idx, T* grad_x) {
  check_pool_args(B, Tn, lengths, k, ratio);
  parallel_for(B, B * Tn * C * 4, [&](int64_t lo, int64_t hi) {
    std::vector<T> gk(static_cast<size_t>(C));
    std::vector<typename Rank<T>::type> cut(static_cast<size_t>(C));
    for (int64_t b = lo; b < hi; ++b) {
      const int64_t len = lengths ? lengths[b] : Tn;
      const T kb = static_cast<T>(k_of(len, k, ratio));
      // mean's backward divides the incoming gradient by k (as torch does) before the scatter
      for (int64_t c = 0; c < C; ++c) gk[c] = grad[b * C + c] / kb;
      for (int64_t c = 0; c < C; ++c) cut[c] = Rank<T>::make(cut_val[b * C + c], cut_idx[b * C + c]);
      for (int64_t t = 0; t < Tn; ++t) {
        const T* row = x + (b * Tn + t) * C;
        T* grow = grad_x + (b * Tn + t) * C;
        if (t >= len) {
          std::fill(grow, grow + C, T(0));
          continue;
        }
        const int32_t ti = static_cast<int32_t>(t);
        for (int64_t c = 0; c < C; ++c) grow[c] = selected(Rank<T>::make(row[c], ti), cut[c]) ? gk[c] : T(0);
      }
    }
  });
}

template void topk_pool_forward<float>(const float*, int64_t, int64_t, int64_t, const int64_t*, int64_t, int64_t,
                                       float*, float*, int32_t*);
template void topk_pool_forward<double>(const double*, int64_t, int64_t, int64_t, const int64_t*, int64_t,
                                        int64_t, double*, double*, int32_t*);
template void topk_pool_backward<float>(const float*, const float*, int64_t, int64_t, int64_t, const int64_t*,
                                        int64_t, int64_t, const float*, const int32_t*, float*);
template void topk_pool_backward<double>(const double*, const double*, int64_t, int64_t, int64_t,
                                         const int64_t*, int64_t, int64_t, const double*, const int32_t*,
                                         double*);

}  // namespace wtal::cpu
