#include "cpu/hybrid_attention_pool.h"

#include "cpu/topk_pool.h"

namespace wtal::cpu {

using namespace pool_detail;

namespace {

// Per-snippet quantities shared by forward and backward; computed by the same code in both so the
// backward recomputes bit-identical variant values (the build uses -ffp-contract=off).
template <typename T>
struct Snippet {
  T m;        // min over classes (0 without include_min)
  int64_t argmin;
  T a, keep;  // attention and 1[a < thr]
  T ad, h;    // semi-soft and hard attention
};

template <typename T>
inline Snippet<T> snippet(const T* row, int64_t C1, T a, T thr, bool include_min) {
  Snippet<T> p;
  p.m = T(0);
  p.argmin = 0;
  if (include_min) {
    // NaN propagates like torch.min; ties keep the lowest class index
    p.m = row[0];
    for (int64_t c = 1; c < C1 && !std::isnan(p.m); ++c) {
      if (std::isnan(row[c]) || row[c] < p.m) {
        p.m = row[c];
        p.argmin = c;
      }
    }
  }
  p.a = a;
  p.keep = (a < thr) ? T(1) : T(0);
  p.ad = p.keep * a;
  p.h = (p.ad > T(0)) ? T(1) : T(0);
  return p;
}

// Variant values at one (t, c), literally as the authors' expressions (`atn * (x - _min) + _min`).
template <typename T>
inline void variants(T s, const Snippet<T>& p, T v[4]) {
  v[0] = s;
  v[1] = p.a * s;
  v[2] = p.ad * (s - p.m) + p.m;
  v[3] = p.h * (s - p.m) + p.m;
}

template <typename T>
T threshold(const T* a, int64_t len, double gamma, int threshold_mode) {
  T mx = a[0], mn = a[0];
  for (int64_t t = 1; t < len; ++t) {
    mx = std::max(mx, a[t]);
    mn = std::min(mn, a[t]);
  }
  const T g = static_cast<T>(gamma);
  return threshold_mode == 0 ? (mx - mn) * g + mn : mx * g;
}

}  // namespace

template <typename T>
void hybrid_attention_pool_forward(const T* cas, const T* attention, int64_t B, int64_t Tn, int64_t C1,
                                   const int64_t* lengths, double gamma, int64_t ratio, bool include_min,
                                   int threshold_mode, T* pooled, T* thr, T* cut_val, int32_t* cut_idx) {
  check_pool_args(B, Tn, lengths, 0, ratio);
  if (threshold_mode != 0 && threshold_mode != 1) throw std::invalid_argument("threshold must be 'range' or 'max'");
  if (C1 < 1 && B > 0) throw std::invalid_argument("cas must have at least one class (C + 1 >= 1)");
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = lengths ? lengths[b] : Tn;
    thr[b] = threshold(attention + b * Tn, len, gamma, threshold_mode);
  }
  const int64_t BC = B * C1;
  parallel_for(B, B * Tn * C1 * 40, [&](int64_t lo, int64_t hi) {
    std::vector<Snippet<T>> snip(static_cast<size_t>(Tn));
    std::vector<typename Rank<T>::type> ranks[4];
    for (auto& r : ranks) r.resize(static_cast<size_t>(Tn));
    for (int64_t b = lo; b < hi; ++b) {
      const int64_t len = lengths ? lengths[b] : Tn;
      const int64_t kb = k_of(len, 0, ratio);
      const T* s = cas + b * Tn * C1;
      for (int64_t t = 0; t < len; ++t) snip[t] = snippet(s + t * C1, C1, attention[b * Tn + t], thr[b], include_min);
      for (int64_t c = 0; c < C1; ++c) {
        for (int64_t t = 0; t < len; ++t) {
          T v[4];
          variants(s[t * C1 + c], snip[t], v);
          for (int j = 0; j < 4; ++j) ranks[j][t] = Rank<T>::make(v[j], static_cast<int32_t>(t));
        }
        for (int j = 0; j < 4; ++j) {
          const double sum = select_topk<T>(ranks[j].data(), len, kb);
          const int64_t o = j * BC + b * C1 + c;
          pooled[o] = static_cast<T>(sum / static_cast<double>(kb));
          cut_val[o] = Rank<T>::value(ranks[j][kb - 1]);
          cut_idx[o] = Rank<T>::time(ranks[j][kb - 1]);
        }
      }
    }
  });
}

template <typename T>
void hybrid_attention_pool_backward(const T* grad, const T* cas, const T* attention, int64_t B, int64_t Tn,
                                    int64_t C1, const int64_t* lengths, int64_t ratio, bool include_min,
                                    const T* thr, const T* cut_val, const int32_t* cut_idx, T* grad_cas,
                                    T* grad_attention) {
  check_pool_args(B, Tn, lengths, 0, ratio);
  const int64_t BC = B * C1;
  // double accumulation keeps float32 sums independent of the class count
  using Acc = double;
  parallel_for(B, B * Tn * C1 * 16, [&](int64_t lo, int64_t hi) {
    std::vector<T> gk(static_cast<size_t>(4 * C1));
    std::vector<typename Rank<T>::type> cut(static_cast<size_t>(4 * C1));
    for (int64_t b = lo; b < hi; ++b) {
      const int64_t len = lengths ? lengths[b] : Tn;
      const T kb = static_cast<T>(k_of(len, 0, ratio));
      for (int j = 0; j < 4; ++j) {
        for (int64_t c = 0; c < C1; ++c) {
          const int64_t o = j * BC + b * C1 + c;
          gk[j * C1 + c] = grad[o] / kb;
          cut[j * C1 + c] = Rank<T>::make(cut_val[o], cut_idx[o]);
        }
      }
      for (int64_t t = 0; t < Tn; ++t) {
        const T* row = cas + (b * Tn + t) * C1;
        T* grow = grad_cas + (b * Tn + t) * C1;
        if (t >= len) {
          std::fill(grow, grow + C1, T(0));
          grad_attention[b * Tn + t] = T(0);
          continue;
        }
        const Snippet<T> p = snippet(row, C1, attention[b * Tn + t], thr[b], include_min);
        const int32_t ti = static_cast<int32_t>(t);
        Acc dmin = 0, da = 0, direct_at_argmin = 0;
        for (int64_t c = 0; c < C1; ++c) {
          T v[4];
          variants(row[c], p, v);
          T w[4];
          for (int j = 0; j < 4; ++j) w[j] = selected(Rank<T>::make(v[j], ti), cut[j * C1 + c]) ? gk[j * C1 + c] : T(0);
          const Acc direct = Acc(w[0]) + Acc(w[1]) * Acc(p.a) + Acc(w[2]) * Acc(p.ad) + Acc(w[3]) * Acc(p.h);
          grow[c] = static_cast<T>(direct);
          if (c == p.argmin) direct_at_argmin = direct;
          if (include_min) dmin += Acc(w[2]) * (1 - Acc(p.ad)) + Acc(w[3]) * (1 - Acc(p.h));
          da += Acc(w[1]) * Acc(row[c]) + Acc(w[2]) * Acc(p.keep) * (Acc(row[c]) - Acc(p.m));
        }
        if (include_min) grow[p.argmin] = static_cast<T>(direct_at_argmin + dmin);
        grad_attention[b * Tn + t] = static_cast<T>(da);
      }
    }
  });
}

#define WTAL_HYBRID_INSTANTIATE(T)                                                                            \
  template void hybrid_attention_pool_forward<T>(const T*, const T*, int64_t, int64_t, int64_t, const int64_t*, \
                                                 double, int64_t, bool, int, T*, T*, T*, int32_t*);          \
  template void hybrid_attention_pool_backward<T>(const T*, const T*, const T*, int64_t, int64_t, int64_t,    \
                                                  const int64_t*, int64_t, bool, const T*, const T*,         \
                                                  const int32_t*, T*, T*);
WTAL_HYBRID_INSTANTIATE(float)
WTAL_HYBRID_INSTANTIATE(double)
#undef WTAL_HYBRID_INSTANTIATE

}  // namespace wtal::cpu
