// Detection mAP kernel. The per-class work (ranking, greedy matching per threshold, AP) is independent
// across classes, so classes are spread over std::thread workers (largest classes first).
#include "cpu/detection_map.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace wtal::cpu {

double pairwise_sum(const double* a, int64_t n) {
  // Same blocking as numpy's DOUBLE_pairwise_sum (8 accumulators, blocks of 128), so the result is
  // bitwise what `np.sum` returns for the same contiguous array.
  if (n < 8) {
    double res = 0.;
    for (int64_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

namespace {

inline bool is_nan(double x) { return x != x; }

// np.maximum / np.minimum: a NaN operand propagates (std::max(0.0, NaN) would return 0.0 and turn the
// official "NaN boundary => match" into "no match").
inline double np_maximum(double a, double b) {
  if (is_nan(a)) return a;
  if (is_nan(b)) return b;
  return a >= b ? a : b;
}
inline double np_minimum(double a, double b) {
  if (is_nan(a)) return a;
  if (is_nan(b)) return b;
  return a <= b ? a : b;
}

// Official segment_iou, operation for operation: inter = clip(min(e) - max(s), 0),
// union = (gt_len + pred_len) - inter, tiou = inter / union (IEEE: 0/0 = NaN, 0/negative = -0.0).
inline double continuous_iou(double ps, double pe, double gs, double ge) {
  double inter = np_minimum(pe, ge) - np_maximum(ps, gs);
  if (!is_nan(inter) && inter < 0.0) inter = 0.0;
  double uni = (ge - gs) + (pe - ps) - inter;
  return inter / uni;
}

// |A∩B| / |A∪B| of the integer ranges [ps, pe) and [gs, ge) (values are whole numbers).
inline double discrete_iou(double ps, double pe, double gs, double ge) {
  double lp = pe > ps ? pe - ps : 0.0;
  double lg = ge > gs ? ge - gs : 0.0;
  double lo = ps > gs ? ps : gs;
  double hi = pe < ge ? pe : ge;
  double inter = hi > lo ? hi - lo : 0.0;
  double uni = lp + lg - inter;
  return uni > 0.0 ? inter / uni : 0.0;
}

struct Csr {
  std::vector<int64_t> offsets;  // [num_groups + 1]
  std::vector<int64_t> items;
};

// Stable bucketing of `sequence` (row ids) by their group id; rows with group -1 are dropped.
Csr bucket(int64_t n, const int64_t* sequence, const int64_t* group, int64_t num_groups) {
  Csr csr;
  csr.offsets.assign(num_groups + 1, 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t row = sequence ? sequence[k] : k;
    int64_t g = group[row];
    if (g >= 0) ++csr.offsets[g + 1];
  }
  for (int64_t g = 0; g < num_groups; ++g) csr.offsets[g + 1] += csr.offsets[g];
  csr.items.resize(csr.offsets[num_groups]);
  std::vector<int64_t> fill(csr.offsets.begin(), csr.offsets.end() - 1);
  for (int64_t k = 0; k < n; ++k) {
    int64_t row = sequence ? sequence[k] : k;
    int64_t g = group[row];
    if (g >= 0) csr.items[fill[g]++] = row;
  }
  return csr;
}

struct Inputs {
  const int64_t* gt_video;
  const double* gt_start;
  const double* gt_end;
  const int64_t* pred_video;
  const double* pred_start;
  const double* pred_end;
  const double* pred_score;
  bool explicit_order;
  int64_t T;
  const double* thr;
  int64_t C;
};

struct Scratch {
  explicit Scratch(int64_t num_videos) : video_slot(num_videos, -1) {}
  std::vector<int32_t> video_slot;  // video -> index into `ranges` for the current class, else -1
  std::vector<int64_t> ranked;
  std::vector<std::pair<double, int64_t>> keyed;
  std::vector<int64_t> nan_rows;
  std::vector<int32_t> gt_by_video;  // class-local GT indices sorted by (video, row)
  std::vector<std::pair<int32_t, int32_t>> ranges;
  std::vector<uint8_t> hit;    // [T, P]
  std::vector<uint8_t> taken;  // [T, npos]
  std::vector<double> iou;
  std::vector<int32_t> local;
  std::vector<int32_t> cand;
  std::vector<double> mprec, mrec, terms;
};

void rank_class(const Inputs& in, const DetectionMapOptions& opt, const int64_t* rows, int64_t P,
                Scratch& s) {
  s.ranked.clear();
  if (in.explicit_order) {
    s.ranked.assign(rows, rows + P);
    return;
  }
  s.keyed.clear();
  s.nan_rows.clear();
  for (int64_t k = 0; k < P; ++k) {
    int64_t row = rows[k];
    double v = in.pred_score[row];
    if (is_nan(v)) s.nan_rows.push_back(row);
    else s.keyed.emplace_back(v, row);
  }
  // Rows arrive in ascending input position; the comparator is a strict total order, so the result
  // does not depend on the sort algorithm.
  if (opt.score_ties_later_first) {
    std::sort(s.keyed.begin(), s.keyed.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second > b.second);
    });
    std::reverse(s.nan_rows.begin(), s.nan_rows.end());
  } else {
    std::sort(s.keyed.begin(), s.keyed.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
  }
  if (opt.nan_score_first) s.ranked.insert(s.ranked.end(), s.nan_rows.begin(), s.nan_rows.end());
  for (const auto& kv : s.keyed) s.ranked.push_back(kv.second);
  if (!opt.nan_score_first) s.ranked.insert(s.ranked.end(), s.nan_rows.begin(), s.nan_rows.end());
}

void process_class(const Inputs& in, const DetectionMapOptions& opt, int64_t c, const Csr& preds,
                   const Csr& gts, Scratch& s, double* ap) {
  const int64_t T = in.T;
  const int64_t P = preds.offsets[c + 1] - preds.offsets[c];
  const int64_t npos = gts.offsets[c + 1] - gts.offsets[c];
  if (P == 0) {
    for (int64_t t = 0; t < T; ++t) ap[t * in.C + c] = 0.0;
    return;
  }
  const int64_t* grows = gts.items.data() + gts.offsets[c];
  rank_class(in, opt, preds.items.data() + preds.offsets[c], P, s);

  // Group the class's GT by video, keeping class-GT order inside a video.
  s.gt_by_video.resize(npos);
  std::iota(s.gt_by_video.begin(), s.gt_by_video.end(), 0);
  std::stable_sort(s.gt_by_video.begin(), s.gt_by_video.end(), [&](int32_t a, int32_t b) {
    return in.gt_video[grows[a]] < in.gt_video[grows[b]];
  });
  s.ranges.clear();
  for (int64_t k = 0; k < npos;) {
    int64_t v = in.gt_video[grows[s.gt_by_video[k]]];
    int64_t e = k + 1;
    while (e < npos && in.gt_video[grows[s.gt_by_video[e]]] == v) ++e;
    s.video_slot[v] = static_cast<int32_t>(s.ranges.size());
    s.ranges.emplace_back(static_cast<int32_t>(k), static_cast<int32_t>(e));
    k = e;
  }

  s.hit.assign(static_cast<size_t>(T * P), 0);
  s.taken.assign(static_cast<size_t>(T * npos), 0);
  uint8_t* hit = s.hit.data();
  uint8_t* taken = s.taken.data();
  const bool best = opt.match == MatchRule::kBestIoU;
  for (int64_t r = 0; r < P; ++r) {
    const int64_t row = s.ranked[r];
    const int64_t v = in.pred_video[row];
    const int32_t slot = v >= 0 ? s.video_slot[v] : -1;
    if (slot < 0) continue;  // no GT of this class in the video: FP at every threshold
    const int32_t b = s.ranges[slot].first, n = s.ranges[slot].second - b;
    const double ps = in.pred_start[row], pe = in.pred_end[row];
    s.iou.resize(n);
    s.local.resize(n);
    for (int32_t k = 0; k < n; ++k) {
      const int32_t j = s.gt_by_video[b + k];
      const int64_t g = grows[j];
      s.local[k] = j;
      s.iou[k] = opt.discrete ? discrete_iou(ps, pe, in.gt_start[g], in.gt_end[g])
                              : continuous_iou(ps, pe, in.gt_start[g], in.gt_end[g]);
    }
    if (best) {
      // Candidates by tIoU descending, NaN first; equal tIoU by GT row (later first = reversed argsort).
      s.cand.resize(n);
      std::iota(s.cand.begin(), s.cand.end(), 0);
      if (n > 1) {
        const double* iou = s.iou.data();
        const bool later_first = opt.candidate_ties_later_first;
        std::sort(s.cand.begin(), s.cand.end(), [iou, later_first](int32_t x, int32_t y) {
          const bool nx = is_nan(iou[x]), ny = is_nan(iou[y]);
          if (nx != ny) return nx;
          if (!nx && iou[x] != iou[y]) return iou[x] > iou[y];
          return later_first ? x > y : x < y;
        });
      }
      // Walking the sorted candidates, the official loop stops with an FP at the first tIoU < thr and
      // skips locked GT; that equals "the first free candidate decides: TP iff !(tIoU < thr)".
      for (int64_t t = 0; t < T; ++t) {
        uint8_t* tk = taken + t * npos;
        for (int32_t k = 0; k < n; ++k) {
          const int32_t ci = s.cand[k];
          const int32_t j = s.local[ci];
          if (tk[j]) continue;
          if (!(s.iou[ci] < in.thr[t])) {
            tk[j] = 1;
            hit[t * P + r] = 1;
          }
          break;
        }
      }
    } else {
      for (int64_t t = 0; t < T; ++t) {
        uint8_t* tk = taken + t * npos;
        for (int32_t k = 0; k < n; ++k) {
          const int32_t j = s.local[k];
          if (!tk[j] && s.iou[k] >= in.thr[t]) {
            tk[j] = 1;
            hit[t * P + r] = 1;
            break;
          }
        }
      }
    }
  }
  for (const auto& rg : s.ranges) s.video_slot[in.gt_video[grows[s.gt_by_video[rg.first]]]] = -1;

  const double npos_d = static_cast<double>(npos);
  for (int64_t t = 0; t < T; ++t) {
    const uint8_t* h = hit + t * P;
    double tp = 0.0, fp = 0.0;
    double result;
    if (opt.ap == APKind::kInterpolated) {
      s.mprec.resize(P + 2);
      s.mrec.resize(P + 2);
      s.mprec[0] = 0.0;
      s.mrec[0] = 0.0;
      for (int64_t r = 0; r < P; ++r) {
        if (h[r]) tp += 1.0;
        else fp += 1.0;
        s.mrec[r + 1] = tp / npos_d;
        s.mprec[r + 1] = tp / (tp + fp);
      }
      s.mprec[P + 1] = 0.0;
      s.mrec[P + 1] = 1.0;
      for (int64_t i = P; i >= 0; --i) {
        if (s.mprec[i + 1] > s.mprec[i]) s.mprec[i] = s.mprec[i + 1];
      }
      s.terms.clear();
      for (int64_t i = 1; i <= P + 1; ++i) {
        if (s.mrec[i] != s.mrec[i - 1]) s.terms.push_back((s.mrec[i] - s.mrec[i - 1]) * s.mprec[i]);
      }
      result = pairwise_sum(s.terms.data(), static_cast<int64_t>(s.terms.size()));
    } else {
      s.terms.resize(P);
      for (int64_t r = 0; r < P; ++r) {
        const double f = h[r] ? 1.0 : 0.0;
        tp += f;
        fp += 1.0 - f;
        s.terms[r] = (tp / (fp + tp)) * f;
      }
      result = tp == 0.0 ? 0.0 : pairwise_sum(s.terms.data(), P) / npos_d;
    }
    ap[t * in.C + c] = result;
  }
}

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument(msg); }

}  // namespace

void detection_map(int64_t num_gt, const int64_t* gt_video, const int64_t* gt_label,
                   const double* gt_start, const double* gt_end, int64_t num_pred,
                   const int64_t* pred_video, const int64_t* pred_label, const double* pred_start,
                   const double* pred_end, const double* pred_score, const int64_t* order,
                   int64_t num_thresholds, const double* thresholds, int64_t num_classes,
                   int64_t num_videos, const DetectionMapOptions& options, double* ap) {
  if (num_gt < 0 || num_pred < 0 || num_thresholds < 0 || num_classes < 0 || num_videos < 0) {
    bad("detection_map: sizes must be non-negative");
  }
  for (int64_t i = 0; i < num_gt; ++i) {
    if (gt_label[i] < 0 || gt_label[i] >= num_classes) {
      bad("gt_label[" + std::to_string(i) + "] = " + std::to_string(gt_label[i]) + " is outside [0, " +
          std::to_string(num_classes) + ")");
    }
    if (gt_video[i] < 0 || gt_video[i] >= num_videos) {
      bad("gt_video[" + std::to_string(i) + "] = " + std::to_string(gt_video[i]) + " is outside [0, " +
          std::to_string(num_videos) + ")");
    }
  }
  for (int64_t i = 0; i < num_pred; ++i) {
    if (pred_label[i] < -1 || pred_label[i] >= num_classes) {
      bad("pred_label[" + std::to_string(i) + "] = " + std::to_string(pred_label[i]) +
          " is outside [-1, " + std::to_string(num_classes) + ")");
    }
    if (pred_video[i] < -1 || pred_video[i] >= num_videos) {
      bad("pred_video[" + std::to_string(i) + "] = " + std::to_string(pred_video[i]) +
          " is outside [-1, " + std::to_string(num_videos) + ")");
    }
  }
  if (order) {
    std::vector<uint8_t> seen(num_pred, 0);
    for (int64_t k = 0; k < num_pred; ++k) {
      const int64_t row = order[k];
      if (row < 0 || row >= num_pred || seen[row]) bad("order must be a permutation of range(num_pred)");
      seen[row] = 1;
    }
  }
  const Csr gts = bucket(num_gt, nullptr, gt_label, num_classes);
  for (int64_t c = 0; c < num_classes; ++c) {
    if (gts.offsets[c + 1] == gts.offsets[c]) {
      bad("class " + std::to_string(c) + " has no ground truth; every evaluated class needs at least one");
    }
  }
  if (num_classes == 0 || num_thresholds == 0) return;
  const Csr preds = bucket(num_pred, order, pred_label, num_classes);

  const Inputs in{gt_video, gt_start,   gt_end,  pred_video, pred_start, pred_end,
                  pred_score, order != nullptr, num_thresholds, thresholds, num_classes};

  // Largest classes first so the last class to finish is a small one.
  std::vector<int64_t> class_order(num_classes);
  std::iota(class_order.begin(), class_order.end(), 0);
  std::stable_sort(class_order.begin(), class_order.end(), [&](int64_t a, int64_t b) {
    return preds.offsets[a + 1] - preds.offsets[a] > preds.offsets[b + 1] - preds.offsets[b];
  });

  int64_t nthreads = options.num_threads > 0 ? options.num_threads
                                             : static_cast<int64_t>(std::thread::hardware_concurrency());
  nthreads = std::max<int64_t>(1, std::min<int64_t>(nthreads, num_classes));
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  auto worker = [&]() {
    try {
      Scratch scratch(num_videos);
      for (int64_t k; (k = next.fetch_add(1)) < num_classes && !failed.load();) {
        process_class(in, options, class_order[k], preds, gts, scratch, ap);
      }
    } catch (...) {
      if (!failed.exchange(true)) error = std::current_exception();
    }
  };
  if (nthreads == 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(nthreads - 1);
    for (int64_t i = 1; i < nthreads; ++i) pool.emplace_back(worker);
    worker();
    for (auto& th : pool) th.join();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace wtal::cpu
