// Detection mAP kernel. The per-class work (ranking, greedy matching per threshold, AP) is independent
// across classes, so classes are spread over std::thread workers (largest classes first).
#include "cpu/detection_map.h"

#include <algorithm>
#include <atomic>
#include <cstring>
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

// Stable bucketing of rows 0..n-1 by their group id (rows with group -1 are dropped).
Csr bucket_rows(int64_t n, const int64_t* group, int64_t num_groups) {
  Csr csr;
  csr.offsets.assign(num_groups + 1, 0);
  for (int64_t row = 0; row < n; ++row) {
    if (group[row] >= 0) ++csr.offsets[group[row] + 1];
  }
  for (int64_t g = 0; g < num_groups; ++g) csr.offsets[g + 1] += csr.offsets[g];
  csr.items.resize(csr.offsets[num_groups]);
  std::vector<int64_t> fill(csr.offsets.begin(), csr.offsets.end() - 1);
  for (int64_t row = 0; row < n; ++row) {
    if (group[row] >= 0) csr.items[fill[group[row]]++] = row;
  }
  return csr;
}

// One prediction, copied next to the other predictions of its class: the per-class passes then
// touch a few hundred KB instead of gathering from the full columns (random access dominated).
struct PredRec {
  double score;
  double start;
  double end;
  int64_t video;
};

struct PredBuckets {
  std::vector<int64_t> offsets;  // [num_classes + 1]
  std::vector<PredRec> recs;     // per class: input order, or the order given by `order`
};

PredBuckets bucket_predictions(int64_t n, const int64_t* order, const int64_t* label, const int64_t* video,
                               const double* start, const double* end, const double* score,
                               int64_t num_classes) {
  PredBuckets b;
  b.offsets.assign(num_classes + 1, 0);
  for (int64_t row = 0; row < n; ++row) {
    if (label[row] >= 0) ++b.offsets[label[row] + 1];
  }
  for (int64_t g = 0; g < num_classes; ++g) b.offsets[g + 1] += b.offsets[g];
  b.recs.resize(b.offsets[num_classes]);
  std::vector<int64_t> fill(b.offsets.begin(), b.offsets.end() - 1);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t row = order ? order[k] : k;
    const int64_t g = label[row];
    if (g >= 0) b.recs[fill[g]++] = PredRec{score[row], start[row], end[row], video[row]};
  }
  return b;
}

struct Inputs {
  const int64_t* gt_video;
  const double* gt_start;
  const double* gt_end;
  bool explicit_order;
  int64_t T;
  const double* thr;
  int64_t C;
};

struct Scratch {
  explicit Scratch(int64_t num_videos) : video_slot(num_videos, -1) {}
  std::vector<int32_t> video_slot;  // video -> index into `ranges` for the current class, else -1
  std::vector<int32_t> ranked;  // class-local record indices in rank order
  std::vector<uint64_t> keys, keys_tmp;
  std::vector<int32_t> vals, vals_tmp;
  std::vector<int32_t> nan_rows;
  std::vector<int32_t> gt_by_video;  // class-local GT indices sorted by (video, row)
  std::vector<std::pair<int32_t, int32_t>> ranges;
  std::vector<int32_t> tp_rank;   // [T, npos]: ranks of the true positives, ascending
  std::vector<int32_t> tp_count;  // [T]
  std::vector<uint8_t> taken;     // [T, npos]
  std::vector<double> iou;
  std::vector<int32_t> local;
  std::vector<int32_t> cand;
  std::vector<double> mprec, mrec, terms;
};

// Maps a non-NaN double to an unsigned key whose ascending order is the double's descending order;
// -0.0 and 0.0 get the same key (they are equal scores, so the tie rule applies).
inline uint64_t descending_key(double v) {
  if (v == 0.0) v = 0.0;
  uint64_t u;
  std::memcpy(&u, &v, sizeof u);
  u = (u >> 63) ? ~u : (u | 0x8000000000000000ULL);
  return ~u;
}

// Stable LSD radix sort of (keys, vals) by keys, 8 bits per pass; passes where every key has the same
// digit are skipped (scores in [0, 1] share their top bytes).
void radix_sort(std::vector<uint64_t>& keys, std::vector<int32_t>& vals, std::vector<uint64_t>& kt,
                std::vector<int32_t>& vt) {
  const size_t n = keys.size();
  kt.resize(n);
  vt.resize(n);
  std::vector<uint32_t> hist(8 * 256, 0);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t k = keys[i];
    for (int p = 0; p < 8; ++p) ++hist[p * 256 + ((k >> (8 * p)) & 255)];
  }
  for (int p = 0; p < 8; ++p) {
    uint32_t* h = hist.data() + p * 256;
    if (h[(keys[0] >> (8 * p)) & 255] == n) continue;
    uint32_t sum = 0;
    for (int d = 0; d < 256; ++d) {
      const uint32_t c = h[d];
      h[d] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; ++i) {
      const uint32_t pos = h[(keys[i] >> (8 * p)) & 255]++;
      kt[pos] = keys[i];
      vt[pos] = vals[i];
    }
    keys.swap(kt);
    vals.swap(vt);
  }
}

void rank_class(const DetectionMapOptions& opt, bool explicit_order, const PredRec* recs, int32_t P,
                Scratch& s) {
  s.ranked.resize(P);
  if (explicit_order) {
    std::iota(s.ranked.begin(), s.ranked.end(), 0);
    return;
  }
  s.ranked.clear();
  s.nan_rows.clear();
  s.keys.clear();
  s.vals.clear();
  // Records are in ascending input position. Feeding them to a stable sort in descending position
  // order makes equal scores come out later-row-first (the official tendency), ascending otherwise.
  const bool later_first = opt.score_ties_later_first;
  for (int32_t i = 0; i < P; ++i) {
    const int32_t k = later_first ? P - 1 - i : i;
    const double v = recs[k].score;
    if (is_nan(v)) {
      s.nan_rows.push_back(k);
    } else {
      s.keys.push_back(descending_key(v));
      s.vals.push_back(k);
    }
  }
  if (s.keys.size() >= 64) {
    radix_sort(s.keys, s.vals, s.keys_tmp, s.vals_tmp);
  } else {
    // Small classes: stable insertion sort, the same order as the radix sort.
    for (size_t i = 1; i < s.keys.size(); ++i) {
      const uint64_t k = s.keys[i];
      const int32_t v = s.vals[i];
      size_t j = i;
      for (; j > 0 && s.keys[j - 1] > k; --j) {
        s.keys[j] = s.keys[j - 1];
        s.vals[j] = s.vals[j - 1];
      }
      s.keys[j] = k;
      s.vals[j] = v;
    }
  }
  if (opt.nan_score_first) s.ranked.insert(s.ranked.end(), s.nan_rows.begin(), s.nan_rows.end());
  s.ranked.insert(s.ranked.end(), s.vals.begin(), s.vals.end());
  if (!opt.nan_score_first) s.ranked.insert(s.ranked.end(), s.nan_rows.begin(), s.nan_rows.end());
}

void process_class(const Inputs& in, const DetectionMapOptions& opt, int64_t c, const PredBuckets& preds,
                   const Csr& gts, Scratch& s, double* ap) {
  const int64_t T = in.T;
  const int64_t P = preds.offsets[c + 1] - preds.offsets[c];
  const PredRec* recs = preds.recs.data() + preds.offsets[c];
  const int64_t npos = gts.offsets[c + 1] - gts.offsets[c];
  if (P == 0) {
    for (int64_t t = 0; t < T; ++t) ap[t * in.C + c] = 0.0;
    return;
  }
  const int64_t* grows = gts.items.data() + gts.offsets[c];
  rank_class(opt, in.explicit_order, recs, static_cast<int32_t>(P), s);

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

  s.tp_rank.resize(static_cast<size_t>(T * npos));
  s.tp_count.assign(static_cast<size_t>(T), 0);
  s.taken.assign(static_cast<size_t>(T * npos), 0);
  int32_t* tp_rank = s.tp_rank.data();
  int32_t* tp_count = s.tp_count.data();
  uint8_t* taken = s.taken.data();
  const bool best = opt.match == MatchRule::kBestIoU;
  for (int64_t r = 0; r < P; ++r) {
    const PredRec& pr = recs[s.ranked[r]];
    const int64_t v = pr.video;
    const int32_t slot = v >= 0 ? s.video_slot[v] : -1;
    if (slot < 0) continue;  // no GT of this class in the video: FP at every threshold
    const int32_t b = s.ranges[slot].first, n = s.ranges[slot].second - b;
    const double ps = pr.start, pe = pr.end;
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
            tp_rank[t * npos + tp_count[t]++] = static_cast<int32_t>(r);
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
            tp_rank[t * npos + tp_count[t]++] = static_cast<int32_t>(r);
            break;
          }
        }
      }
    }
  }
  for (const auto& rg : s.ranges) s.video_slot[in.gt_video[grows[s.gt_by_video[rg.first]]]] = -1;

  // AP from the TP ranks alone. Precision only rises at a TP (tp/(tp+fp) falls with every FP), so the
  // official envelope max_{j >= i} prec[j] over all ranks equals the running maximum over the TP ranks
  // (and the final 0); recall changes exactly at TPs (plus the appended recall-1 point). The terms are
  // the official ones in the official order, summed pairwise like np.sum, hence bitwise equal.
  const double npos_d = static_cast<double>(npos);
  for (int64_t t = 0; t < T; ++t) {
    const int32_t K = tp_count[t];
    const int32_t* ranks = tp_rank + t * npos;
    double result;
    if (opt.ap == APKind::kInterpolated) {
      s.mprec.resize(K + 1);
      s.mrec.resize(K + 1);
      for (int32_t k = 0; k < K; ++k) {
        const double tp = static_cast<double>(k + 1);
        const double fp = static_cast<double>(ranks[k] - k);  // FPs ranked before this TP
        s.mrec[k] = tp / npos_d;
        s.mprec[k] = tp / (tp + fp);
      }
      s.mprec[K] = 0.0;  // the appended (recall 1, precision 0) point
      for (int32_t k = K - 1; k >= 0; --k) {
        if (s.mprec[k + 1] > s.mprec[k]) s.mprec[k] = s.mprec[k + 1];
      }
      s.terms.resize(K);
      double prev = 0.0;
      for (int32_t k = 0; k < K; ++k) {
        s.terms[k] = (s.mrec[k] - prev) * s.mprec[k];
        prev = s.mrec[k];
      }
      if (prev != 1.0) s.terms.push_back((1.0 - prev) * 0.0);
      result = pairwise_sum(s.terms.data(), static_cast<int64_t>(s.terms.size()));
    } else {
      // W-TALC: np.sum over all P ranks of precision * tp (zeros at FPs keep numpy's blocking).
      s.terms.assign(static_cast<size_t>(P), 0.0);
      for (int32_t k = 0; k < K; ++k) {
        const double tp = static_cast<double>(k + 1);
        const double fp = static_cast<double>(ranks[k] - k);
        s.terms[ranks[k]] = (tp / (fp + tp)) * 1.0;
      }
      result = K == 0 ? 0.0 : pairwise_sum(s.terms.data(), P) / npos_d;
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
  const Csr gts = bucket_rows(num_gt, gt_label, num_classes);
  for (int64_t c = 0; c < num_classes; ++c) {
    if (gts.offsets[c + 1] == gts.offsets[c]) {
      bad("class " + std::to_string(c) + " has no ground truth; every evaluated class needs at least one");
    }
  }
  if (num_classes == 0 || num_thresholds == 0) return;
  const PredBuckets preds = bucket_predictions(num_pred, order, pred_label, pred_video, pred_start, pred_end,
                                               pred_score, num_classes);
  const Inputs in{gt_video, gt_start, gt_end, order != nullptr, num_thresholds, thresholds, num_classes};

  // Largest classes first so the last class to finish is a small one.
  std::vector<int64_t> class_order(num_classes);
  std::iota(class_order.begin(), class_order.end(), 0);
  std::stable_sort(class_order.begin(), class_order.end(), [&](int64_t a, int64_t b) {
    return preds.offsets[a + 1] - preds.offsets[a] > preds.offsets[b + 1] - preds.offsets[b];
  });

  int64_t nthreads = options.num_threads > 0 ? options.num_threads
                                             : static_cast<int64_t>(std::thread::hardware_concurrency());
  // A thread only pays off with enough work: on a busy machine a worker can wait milliseconds for a core.
  nthreads = std::max<int64_t>(1, std::min<int64_t>({nthreads, num_classes, 1 + num_pred / 50000}));
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
