// Detection mAP kernel. The per-class work (ranking, greedy matching per threshold, AP) is independent
// across classes, so classes are spread over std::thread workers (largest classes first).
#include "cpu/detection_map.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
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
  int64_t video;  // dense id of a video with ground truth (VideoMap), else -1
};

struct PredBuckets {
  std::vector<int64_t> offsets;  // [num_classes + 1]
  std::vector<PredRec> recs;     // per class: input order, or the order given by `order`
  std::vector<int64_t> rows;     // input row of each record; filled only when `with_rows`
};

// Runs fn(i) for i in [0, n) on n threads (the caller's thread takes i = 0). fn must not throw.
template <typename Fn>
void run_parallel(int64_t n, Fn fn) {
  if (n <= 1) {
    fn(0);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  for (int64_t i = 1; i < n; ++i) pool.emplace_back([&fn, i]() { fn(i); });
  fn(0);
  for (auto& th : pool) th.join();
}

// Dense ids of the videos that have ground truth (0..K-1 in ascending caller id) and -1 for the others:
// only they can hold a true positive, and the caller's id space may be sparse (any num_videos is valid),
// so per-thread tables are sized by K instead of num_videos.
class VideoMap {
 public:
  VideoMap(const int64_t* gt_video, int64_t num_gt, int64_t num_pred) : ids_(gt_video, gt_video + num_gt) {
    std::sort(ids_.begin(), ids_.end());
    ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
    // Factorized ids are dense: a direct table when it is no larger than the inputs, else binary search.
    if (!ids_.empty() && ids_.back() < 4 * (num_gt + num_pred) + 1024) {
      table_.assign(static_cast<size_t>(ids_.back() + 1), -1);
      for (size_t k = 0; k < ids_.size(); ++k) table_[ids_[k]] = static_cast<int64_t>(k);
    }
  }
  int64_t size() const { return static_cast<int64_t>(ids_.size()); }
  // v in [-1, num_videos) (validated by the caller)
  int64_t operator()(int64_t v) const {
    if (v < 0) return -1;
    if (!table_.empty()) return v < static_cast<int64_t>(table_.size()) ? table_[v] : -1;
    auto it = std::lower_bound(ids_.begin(), ids_.end(), v);
    return it != ids_.end() && *it == v ? static_cast<int64_t>(it - ids_.begin()) : -1;
  }

 private:
  std::vector<int64_t> ids_, table_;
};

// Validates the prediction ids and copies the predictions into per-class buckets, in parallel over
// contiguous chunks of the (ordered) rows; chunk i's rows of a class precede chunk i+1's, so each
// bucket keeps the sequence order. Returns the first invalid row (or -1) in *bad_row.
PredBuckets bucket_predictions(int64_t n, const int64_t* order, const int64_t* label, const int64_t* video,
                               const double* start, const double* end, const double* score,
                               int64_t num_classes, int64_t num_videos, const VideoMap& local_video,
                               int64_t nchunks, bool with_rows, int64_t* bad_row) {
  PredBuckets b;
  const int64_t C = num_classes;
  std::vector<int64_t> count(static_cast<size_t>(nchunks * (C + 1)), 0);
  std::vector<int64_t> first_bad(static_cast<size_t>(nchunks), -1);
  auto lo = [&](int64_t i) { return n * i / nchunks; };
  run_parallel(nchunks, [&](int64_t i) {
    int64_t* cnt = count.data() + i * (C + 1);
    for (int64_t k = lo(i); k < lo(i + 1); ++k) {
      const int64_t row = order ? order[k] : k;  // `order` was checked to be a permutation
      const int64_t g = label[row], v = video[row];
      if (g < -1 || g >= C || v < -1 || v >= num_videos) {
        first_bad[i] = row;
        return;
      }
      ++cnt[g + 1];  // slot 0 counts ignored rows
    }
  });
  *bad_row = -1;
  for (int64_t i = 0; i < nchunks; ++i) {
    if (first_bad[i] >= 0) {
      *bad_row = first_bad[i];
      return b;
    }
  }
  // offsets[c] = start of class c; chunk i of class c starts after chunks < i of that class.
  b.offsets.assign(C + 1, 0);
  std::vector<int64_t> fill(static_cast<size_t>(nchunks * C), 0);
  int64_t total = 0;
  for (int64_t c = 0; c < C; ++c) {
    b.offsets[c] = total;
    for (int64_t i = 0; i < nchunks; ++i) {
      fill[i * C + c] = total;
      total += count[i * (C + 1) + c + 1];
    }
  }
  b.offsets[C] = total;
  b.recs.resize(static_cast<size_t>(total));
  if (with_rows) b.rows.resize(static_cast<size_t>(total));
  run_parallel(nchunks, [&](int64_t i) {
    int64_t* f = fill.data() + i * C;
    PredRec* out = b.recs.data();
    int64_t* out_rows = with_rows ? b.rows.data() : nullptr;
    for (int64_t k = lo(i); k < lo(i + 1); ++k) {
      const int64_t row = order ? order[k] : k;
      const int64_t g = label[row];
      if (g < 0) continue;
      if (out_rows) out_rows[f[g]] = row;
      out[f[g]++] = PredRec{score[row], start[row], end[row], local_video(video[row])};
    }
  });
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
  int64_t N;  // number of prediction rows (stride of matched_gt)
  // A tIoU v passes some threshold iff !(v < thr[t]) for some t: v is NaN, a threshold is NaN, or
  // v >= the smallest threshold.
  bool any_nan_thr;
  double min_thr;
};

inline bool passes_some_threshold(const Inputs& in, double v) {
  return v != v || in.any_nan_thr || !(v < in.min_thr);
}

// Per-thread scratch of process_class. I indexes the predictions and GT of one class: int32_t normally
// (half the memory traffic of the sort), int64_t when a class has 2**31 or more of either.
template <typename I>
struct Scratch {
  explicit Scratch(int64_t num_videos) : video_slot(num_videos, -1) {}
  std::vector<I> video_slot;   // video -> index into `ranges` for the current class, else -1
  std::vector<I> gt_by_video;  // class-local GT indices sorted by (video, row)
  std::vector<std::pair<I, I>> ranges;
  // Candidates: predictions on a video that has GT of the class (only they can be TPs).
  std::vector<uint64_t> keys, keys_tmp;  // rank keys (ascending = better)
  std::vector<I> vals, vals_tmp;         // record index
  std::vector<I> tb, tb_tmp;             // tie rank (ascending = better among equal keys)
  // Other predictions: FPs at every threshold; only their number ahead of each TP matters.
  std::vector<uint64_t> other_key;
  std::vector<I> other_tb;
  std::vector<I> mark_of;  // candidate rank -> index among TP candidates, or -1
  std::vector<uint64_t> mark_key;
  std::vector<I> mark_tb;
  std::vector<int64_t> ahead;     // per TP candidate: number of other predictions ranked above
  std::vector<I> tp_rank;         // [T, npos]: candidate ranks of the true positives, ascending
  std::vector<I> tp_count;        // [T]
  std::vector<uint64_t> taken;    // [words, npos]: bit t of word w = GT taken at threshold 64w + t
  std::vector<double> iou;
  std::vector<I> local;
  std::vector<I> cand;
  std::vector<double> mprec, mrec, terms;
  std::vector<uint8_t> seen;      // [n]: candidate indices already given by an override (validation)
  std::vector<int64_t> tie_rows;  // this worker's candidate-tie sites: input rows, hence int64 for every I
};

// Maps a score to an unsigned key whose ascending order is the ranking order: descending score,
// NaN first (key 0) or last (all ones), which no real double reaches; -0.0 and 0.0 are the same score.
inline uint64_t rank_key(double v, bool nan_first) {
  if (is_nan(v)) return nan_first ? 0 : ~uint64_t{0};
  if (v == 0.0) v = 0.0;
  uint64_t u;
  std::memcpy(&u, &v, sizeof u);
  u = (u >> 63) ? ~u : (u | 0x8000000000000000ULL);  // ascending order of the double
  return ~u;
}

// Stable LSD radix sort of (keys, vals, tb) by keys, 8 bits per pass; passes where every key has the
// same digit are skipped (scores in [0, 1] share their top bytes).
template <typename I>
void radix_sort(Scratch<I>& s) {
  using U = std::make_unsigned_t<I>;
  const size_t n = s.keys.size();
  s.keys_tmp.resize(n);
  s.vals_tmp.resize(n);
  s.tb_tmp.resize(n);
  U hist[8][256] = {};
  for (size_t i = 0; i < n; ++i) {
    const uint64_t k = s.keys[i];
    for (int p = 0; p < 8; ++p) ++hist[p][(k >> (8 * p)) & 255];
  }
  for (int p = 0; p < 8; ++p) {
    U* h = hist[p];
    if (h[(s.keys[0] >> (8 * p)) & 255] == n) continue;
    U sum = 0;
    for (int d = 0; d < 256; ++d) {
      const U c = h[d];
      h[d] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; ++i) {
      const U pos = h[(s.keys[i] >> (8 * p)) & 255]++;
      s.keys_tmp[pos] = s.keys[i];
      s.vals_tmp[pos] = s.vals[i];
      s.tb_tmp[pos] = s.tb[i];
    }
    s.keys.swap(s.keys_tmp);
    s.vals.swap(s.vals_tmp);
    s.tb.swap(s.tb_tmp);
  }
}

template <typename I>
void sort_candidates(Scratch<I>& s) {
  const size_t n = s.keys.size();
  if (n >= 64) {
    radix_sort(s);
    return;
  }
  for (size_t i = 1; i < n; ++i) {  // small: stable insertion sort, same order as the radix sort
    const uint64_t k = s.keys[i];
    const I v = s.vals[i], t = s.tb[i];
    size_t j = i;
    for (; j > 0 && s.keys[j - 1] > k; --j) {
      s.keys[j] = s.keys[j - 1];
      s.vals[j] = s.vals[j - 1];
      s.tb[j] = s.tb[j - 1];
    }
    s.keys[j] = k;
    s.vals[j] = v;
    s.tb[j] = t;
  }
}

// The caller's GT candidate order for prediction `row` (an input row), or nullptr (binary search in the
// sorted rows). n: the number of GT of its (class, video), compared in int64 with the caller's length.
const int64_t* find_override(const DetectionMapExtras& ex, int64_t row, int64_t n) {
  const int64_t* end = ex.override_rows + ex.num_overrides;
  const int64_t* it = std::lower_bound(ex.override_rows, end, row);
  if (it == end || *it != row) return nullptr;
  const int64_t k = it - ex.override_rows;
  if (ex.override_offsets[k + 1] - ex.override_offsets[k] != n) {
    throw std::invalid_argument("candidate order of prediction row " + std::to_string(row) + " has " +
                                std::to_string(ex.override_offsets[k + 1] - ex.override_offsets[k]) +
                                " entries but its video has " + std::to_string(n) + " GT of its class");
  }
  return ex.override_order + ex.override_offsets[k];
}

template <typename I>
void process_class(const Inputs& in, const DetectionMapOptions& opt, const DetectionMapExtras& ex, int64_t c,
                   const PredBuckets& preds, const Csr& gts, Scratch<I>& s, double* ap) {
  const int64_t T = in.T;
  const I P = static_cast<I>(preds.offsets[c + 1] - preds.offsets[c]);
  const PredRec* recs = preds.recs.data() + preds.offsets[c];
  const int64_t* rec_rows = preds.rows.empty() ? nullptr : preds.rows.data() + preds.offsets[c];
  const int64_t npos = gts.offsets[c + 1] - gts.offsets[c];
  if (P == 0) {
    for (int64_t t = 0; t < T; ++t) ap[t * in.C + c] = 0.0;
    return;
  }
  const int64_t* grows = gts.items.data() + gts.offsets[c];

  // Group the class's GT by video, keeping class-GT order inside a video.
  s.gt_by_video.resize(npos);
  std::iota(s.gt_by_video.begin(), s.gt_by_video.end(), 0);
  std::stable_sort(s.gt_by_video.begin(), s.gt_by_video.end(), [&](I a, I b) {
    return in.gt_video[grows[a]] < in.gt_video[grows[b]];
  });
  s.ranges.clear();
  for (int64_t k = 0; k < npos;) {
    int64_t v = in.gt_video[grows[s.gt_by_video[k]]];
    int64_t e = k + 1;
    while (e < npos && in.gt_video[grows[s.gt_by_video[e]]] == v) ++e;
    s.video_slot[v] = static_cast<I>(s.ranges.size());
    s.ranges.emplace_back(static_cast<I>(k), static_cast<I>(e));
    k = e;
  }

  // Ranking = ascending (key, tie rank). Records are in input order (or in the caller's order, then
  // key = position). Equal scores: the later row first (tie rank = P-1-position) or the earlier one.
  // Only candidates are sorted; the others are counted against the TPs afterwards.
  s.keys.clear();
  s.vals.clear();
  s.tb.clear();
  s.other_key.clear();
  s.other_tb.clear();
  const bool later_first = opt.score_ties_later_first && !in.explicit_order;
  for (I i = 0; i < P; ++i) {
    const I k = later_first ? P - 1 - i : i;  // feed in tie-rank order: the sort is stable
    const PredRec& r = recs[k];
    const uint64_t key = in.explicit_order ? static_cast<uint64_t>(k) : rank_key(r.score, opt.nan_score_first);
    if (r.video >= 0 && s.video_slot[r.video] >= 0) {
      s.keys.push_back(key);
      s.vals.push_back(k);
      s.tb.push_back(i);
    } else {
      s.other_key.push_back(key);
      s.other_tb.push_back(i);
    }
  }
  if (!in.explicit_order) sort_candidates(s);
  const I NC = static_cast<I>(s.keys.size());

  s.tp_rank.resize(static_cast<size_t>(T * npos));
  s.tp_count.assign(static_cast<size_t>(T), 0);
  const int64_t words = (T + 63) / 64;
  s.taken.assign(static_cast<size_t>(words * npos), 0);
  s.mark_of.assign(static_cast<size_t>(NC), -1);
  I* tp_rank = s.tp_rank.data();
  I* tp_count = s.tp_count.data();
  const bool best = opt.match == MatchRule::kBestIoU;
  I max_n = 0;
  for (const auto& rg : s.ranges) max_n = std::max(max_n, rg.second - rg.first);
  s.iou.resize(max_n);
  s.local.resize(max_n);
  s.cand.resize(max_n);
  for (I r = 0; r < NC; ++r) {
    const PredRec& pr = recs[s.vals[r]];
    const I slot = s.video_slot[pr.video];
    const I b = s.ranges[slot].first, n = s.ranges[slot].second - b;
    const double ps = pr.start, pe = pr.end;
    for (I k = 0; k < n; ++k) {
      const I j = s.gt_by_video[b + k];
      const int64_t g = grows[j];
      s.local[k] = j;
      s.iou[k] = opt.discrete ? discrete_iou(ps, pe, in.gt_start[g], in.gt_end[g])
                              : continuous_iou(ps, pe, in.gt_start[g], in.gt_end[g]);
    }
    for (I k = 0; k < n; ++k) s.cand[k] = k;
    const int64_t row = rec_rows ? rec_rows[s.vals[r]] : -1;  // input row (overrides, ties, matches)
    const int64_t* given = best && n > 1 && ex.num_overrides ? find_override(ex, row, n) : nullptr;
    if (given) {
      s.seen.assign(static_cast<size_t>(n), 0);
      for (I k = 0; k < n; ++k) {
        const int64_t j = given[k];
        if (j < 0 || j >= n || s.seen[j]) {
          throw std::invalid_argument("candidate order of prediction row " + std::to_string(row) +
                                      " is not a permutation of range(" + std::to_string(n) + ")");
        }
        s.seen[j] = 1;
        s.cand[k] = static_cast<I>(j);
      }
    } else if (best && n > 1) {
      // Candidates by tIoU descending, NaN first; equal tIoU by GT row (later first = reversed argsort).
      const double* iou = s.iou.data();
      const bool gt_later_first = opt.candidate_ties_later_first;
      std::sort(s.cand.begin(), s.cand.begin() + n, [iou, gt_later_first](I x, I y) {
        const bool nx = is_nan(iou[x]), ny = is_nan(iou[y]);
        if (nx != ny) return nx;
        if (!nx && iou[x] != iou[y]) return iou[x] > iou[y];
        return gt_later_first ? x > y : x < y;
      });
      if (ex.tie_rows) {
        // Sorted, so equal values are neighbours; ties below every threshold never decide anything.
        for (I k = 0; k + 1 < n; ++k) {
          const double a = iou[s.cand[k]], b = iou[s.cand[k + 1]];
          if ((a == b || (is_nan(a) && is_nan(b))) && passes_some_threshold(in, a)) {
            s.tie_rows.push_back(row);
            break;
          }
        }
      }
    }
    bool any = false;
    // All thresholds of a 64-bit word at once. Best-IoU: walking the sorted candidates, the official
    // loop stops with an FP at the first tIoU < thr and skips locked GT, i.e. the first *free*
    // candidate decides (TP iff !(tIoU < thr), so NaN passes). First-fit: the first free GT in
    // annotation order with tIoU >= thr is taken; the others do not decide.
    for (int64_t w = 0; w < words; ++w) {
      const int64_t t0 = 64 * w;
      const int tn = static_cast<int>(std::min<int64_t>(64, T - t0));
      const uint64_t all = tn == 64 ? ~uint64_t{0} : ((uint64_t{1} << tn) - 1);
      uint64_t* tk = s.taken.data() + w * npos;
      uint64_t undecided = all, hit = 0;
      for (I k = 0; k < n && undecided; ++k) {
        const I ci = s.cand[k];
        const double v = s.iou[ci];
        uint64_t pass = 0;
        if (best) {
          for (int t = 0; t < tn; ++t) pass |= static_cast<uint64_t>(!(v < in.thr[t0 + t])) << t;
        } else {
          for (int t = 0; t < tn; ++t) pass |= static_cast<uint64_t>(v >= in.thr[t0 + t]) << t;
        }
        const I j = s.local[ci];
        const uint64_t free = undecided & ~tk[j];
        const uint64_t take = free & pass;
        tk[j] |= take;
        hit |= take;
        if (take && ex.matched_gt) {
          for (uint64_t m = take; m; m &= m - 1) {
            ex.matched_gt[(t0 + __builtin_ctzll(m)) * in.N + row] = grows[j];
          }
        }
        undecided &= best ? ~free : ~take;
      }
      if (hit) {
        any = true;
        for (uint64_t m = hit; m; m &= m - 1) {
          const int64_t t = t0 + __builtin_ctzll(m);
          tp_rank[t * npos + tp_count[t]++] = r;
        }
      }
    }
    if (any) {
      s.mark_of[r] = static_cast<I>(s.mark_key.size());
      s.mark_key.push_back(s.keys[r]);
      s.mark_tb.push_back(s.tb[r]);
    }
  }
  for (const auto& rg : s.ranges) s.video_slot[in.gt_video[grows[s.gt_by_video[rg.first]]]] = -1;

  // Number of other (never matching) predictions ranked above each TP candidate: TP candidates are
  // few (<= T * npos) and already in rank order, so one binary search per other prediction.
  const size_t M = s.mark_key.size();
  s.ahead.assign(M + 1, 0);
  if (M > 0) {
    const uint64_t* mk = s.mark_key.data();
    const I* mt = s.mark_tb.data();
    for (size_t i = 0; i < s.other_key.size(); ++i) {
      const uint64_t k = s.other_key[i];
      const uint64_t* first = mk;  // branch-free lower_bound on the key
      for (size_t len = M; len > 1;) {
        const size_t half = len / 2;
        first = first[half] < k ? first + half : first;
        len -= half;
      }
      size_t lo = static_cast<size_t>(first - mk) + (*first < k);
      const I t = s.other_tb[i];
      while (lo < M && mk[lo] == k && mt[lo] < t) ++lo;  // equal scores: tie rank decides
      ++s.ahead[lo];
    }
    for (size_t m = 1; m < M; ++m) s.ahead[m] += s.ahead[m - 1];
  }
  s.mark_key.clear();
  s.mark_tb.clear();

  // AP from the TP ranks alone. Precision only rises at a TP (tp/(tp+fp) falls with every FP), so the
  // official envelope max_{j >= i} prec[j] over all ranks equals the running maximum over the TP ranks
  // (and the final 0); recall changes exactly at TPs (plus the appended recall-1 point). The terms are
  // the official ones in the official order, summed pairwise like np.sum, hence bitwise equal.
  const double npos_d = static_cast<double>(npos);
  for (int64_t t = 0; t < T; ++t) {
    const I K = tp_count[t];
    const I* cranks = tp_rank + t * npos;
    double result;
    if (opt.ap == APKind::kInterpolated) {
      s.mprec.resize(K + 1);
      s.mrec.resize(K + 1);
      for (I k = 0; k < K; ++k) {
        const int64_t rank = cranks[k] + s.ahead[s.mark_of[cranks[k]]];  // rank among all P
        const double tp = static_cast<double>(k + 1);
        const double fp = static_cast<double>(rank - k);  // FPs ranked before this TP
        s.mrec[k] = tp / npos_d;
        s.mprec[k] = tp / (tp + fp);
      }
      s.mprec[K] = 0.0;  // the appended (recall 1, precision 0) point
      for (I k = K - 1; k >= 0; --k) {
        if (s.mprec[k + 1] > s.mprec[k]) s.mprec[k] = s.mprec[k + 1];
      }
      s.terms.resize(K);
      double prev = 0.0;
      for (I k = 0; k < K; ++k) {
        s.terms[k] = (s.mrec[k] - prev) * s.mprec[k];
        prev = s.mrec[k];
      }
      if (prev != 1.0) s.terms.push_back((1.0 - prev) * 0.0);
      result = pairwise_sum(s.terms.data(), static_cast<int64_t>(s.terms.size()));
    } else {
      // W-TALC: np.sum over all P ranks of precision * tp (zeros at FPs keep numpy's blocking).
      s.terms.assign(static_cast<size_t>(P), 0.0);
      for (I k = 0; k < K; ++k) {
        const int64_t rank = cranks[k] + s.ahead[s.mark_of[cranks[k]]];
        const double tp = static_cast<double>(k + 1);
        const double fp = static_cast<double>(rank - k);
        s.terms[rank] = (tp / (fp + tp)) * 1.0;
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
                   int64_t num_videos, const DetectionMapOptions& options, double* ap,
                   const DetectionMapExtras* extras) {
  const DetectionMapExtras ex = extras ? *extras : DetectionMapExtras{};
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
  if (order) {
    std::vector<uint8_t> seen(num_pred, 0);
    for (int64_t k = 0; k < num_pred; ++k) {
      const int64_t row = order[k];
      if (row < 0 || row >= num_pred || seen[row]) bad("order must be a permutation of range(num_pred)");
      seen[row] = 1;
    }
  }
  if (ex.num_overrides < 0) bad("detection_map: num_overrides must be non-negative");
  for (int64_t k = 0; k < ex.num_overrides; ++k) {
    if (ex.override_rows[k] < 0 || ex.override_rows[k] >= num_pred) {
      bad("candidate order row " + std::to_string(ex.override_rows[k]) + " is outside [0, " +
          std::to_string(num_pred) + ")");
    }
    if (k > 0 && ex.override_rows[k] <= ex.override_rows[k - 1]) bad("candidate order rows must be strictly ascending");
    if (ex.override_offsets[k + 1] < ex.override_offsets[k]) bad("candidate order offsets must be non-decreasing");
  }
  if (ex.num_overrides && ex.override_offsets[0] != 0) bad("candidate order offsets must start at 0");
  if (ex.matched_gt) std::fill(ex.matched_gt, ex.matched_gt + num_thresholds * num_pred, int64_t{-1});
  if (ex.tie_rows) ex.tie_rows->clear();
  const Csr gts = bucket_rows(num_gt, gt_label, num_classes);
  for (int64_t c = 0; c < num_classes; ++c) {
    if (gts.offsets[c + 1] == gts.offsets[c]) {
      bad("class " + std::to_string(c) + " has no ground truth; every evaluated class needs at least one");
    }
  }
  if (num_classes == 0 || num_thresholds == 0) return;
  int64_t nthreads = options.num_threads > 0 ? options.num_threads
                                             : static_cast<int64_t>(std::thread::hardware_concurrency());
  // A thread only pays off with enough work: on a busy machine a worker can wait milliseconds for a core.
  nthreads = std::max<int64_t>(1, std::min<int64_t>({nthreads, num_classes, 1 + num_pred / 50000}));
  const VideoMap local_video(gt_video, num_gt, num_pred);
  std::vector<int64_t> gt_local(static_cast<size_t>(num_gt));
  for (int64_t i = 0; i < num_gt; ++i) gt_local[i] = local_video(gt_video[i]);
  int64_t bad_row = -1;
  const bool with_rows = ex.num_overrides > 0 || ex.tie_rows || ex.matched_gt;
  const PredBuckets preds = bucket_predictions(num_pred, order, pred_label, pred_video, pred_start, pred_end,
                                               pred_score, num_classes, num_videos, local_video, nthreads,
                                               with_rows, &bad_row);
  if (bad_row >= 0) {
    bad("prediction row " + std::to_string(bad_row) + ": pred_label = " + std::to_string(pred_label[bad_row]) +
        " must be in [-1, " + std::to_string(num_classes) + ") and pred_video = " +
        std::to_string(pred_video[bad_row]) + " in [-1, " + std::to_string(num_videos) + ")");
  }
  bool any_nan_thr = false;
  double min_thr = 0.0;
  bool have_thr = false;
  for (int64_t t = 0; t < num_thresholds; ++t) {
    const double v = thresholds[t];
    if (is_nan(v)) any_nan_thr = true;
    else if (!have_thr || v < min_thr) min_thr = v, have_thr = true;
  }
  const Inputs in{gt_local.data(), gt_start, gt_end, order != nullptr, num_thresholds, thresholds, num_classes,
                  num_pred, any_nan_thr, min_thr};

  // Largest classes first so the last class to finish is a small one.
  std::vector<int64_t> class_order(num_classes);
  std::iota(class_order.begin(), class_order.end(), 0);
  std::stable_sort(class_order.begin(), class_order.end(), [&](int64_t a, int64_t b) {
    return preds.offsets[a + 1] - preds.offsets[a] > preds.offsets[b + 1] - preds.offsets[b];
  });
  // 32-bit class-local indices unless a class has 2**31 - 1 or more predictions or GT rows (the
  // candidate ranks, tie ranks and GT indices of one class are stored in I).
  int64_t largest = 0;
  for (int64_t c = 0; c < num_classes; ++c) {
    largest = std::max({largest, preds.offsets[c + 1] - preds.offsets[c], gts.offsets[c + 1] - gts.offsets[c]});
  }
  const bool wide = options.wide_indices || largest >= INT32_MAX;

  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  std::mutex merge;
  auto work = [&](auto index_type) {
    using I = decltype(index_type);
    try {
      Scratch<I> scratch(local_video.size());
      for (int64_t k; (k = next.fetch_add(1)) < num_classes && !failed.load();) {
        process_class<I>(in, options, ex, class_order[k], preds, gts, scratch, ap);
      }
      if (ex.tie_rows && !scratch.tie_rows.empty()) {
        std::lock_guard<std::mutex> lock(merge);
        ex.tie_rows->insert(ex.tie_rows->end(), scratch.tie_rows.begin(), scratch.tie_rows.end());
      }
    } catch (...) {
      if (!failed.exchange(true)) error = std::current_exception();
    }
  };
  run_parallel(nthreads, [&](int64_t) { wide ? work(int64_t{}) : work(int32_t{}); });
  if (error) std::rethrow_exception(error);
  if (ex.tie_rows) std::sort(ex.tie_rows->begin(), ex.tie_rows->end());
}

}  // namespace wtal::cpu
