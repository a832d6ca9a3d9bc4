#include "cpu/nms.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace wtal::cpu {
namespace {

struct Candidate {
  double start, end, score;
  int64_t index;
};

// Greedy order: higher score first, ties to the lower input index (stable).
inline bool ranks_before(double sa, int64_t ia, double sb, int64_t ib) {
  return sa > sb || (sa == sb && ia < ib);
}

inline bool below_min(const NmsOptions& o, double score) { return o.has_min_score && score < o.min_score; }

// One group. Hard NMS: candidates sorted by start; only candidates whose start lies in a window around the selected
// segment can have a nonzero overlap with it (see `window`); all others have overlap exactly 0, which
// neither suppresses them (unless the threshold itself is 0, handled separately) nor changes their score
// (both soft weights are exactly 1 at overlap 0). Visiting only the window therefore gives bit-identical
// results to the all-pairs loop of the repositories, in O(n log n + overlapping pairs) instead of O(n^2).
// Soft NMS: candidates in input order with precomputed lists of overlapping pairs (build_neighbors).
class Group {
 public:
  explicit Group(const NmsOptions& o) : o_(o) {}

  // Loads one group (in input order); hard NMS sorts it by start for window(). The buffers keep their
  // capacity from group to group.
  void load(std::vector<Candidate>& c, bool sort_by_start) {
    n_ = static_cast<int64_t>(c.size());
    if (sort_by_start) {
      std::sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) { return a.start < b.start; });
    }
    st_.resize(n_);
    en_.resize(n_);
    sc_.resize(n_);
    idx_.resize(n_);
    alive_.assign(n_, 1);
    max_len_ = 0.0;
    for (int64_t p = 0; p < n_; ++p) {
      st_[p] = c[p].start;
      en_[p] = c[p].end;
      sc_[p] = c[p].score;
      idx_[p] = c[p].index;
      max_len_ = std::max(max_len_, en_[p] - st_[p]);
    }
    // +1 conventions see segments up to 1 apart; everything else needs a positive intersection.
    reach_ = o_.overlap == NmsOverlap::kIoU ? 0.0 : 1.0;
  }

  int64_t hard(int64_t* keep, double* out_scores) {
    std::vector<int64_t> order(n_);
    std::iota(order.begin(), order.end(), int64_t{0});
    std::sort(order.begin(), order.end(),
              [this](int64_t a, int64_t b) { return ranks_before(sc_[a], idx_[a], sc_[b], idx_[b]); });
    // A threshold that overlap 0 already reaches suppresses every other candidate of the group.
    const bool zero_hits = nms_hits(0.0, o_.iou_threshold, o_.suppress_equal);
    int64_t kept = 0;
    for (const int64_t i : order) {
      if (!alive_[i]) continue;
      if (o_.max_num > 0 && kept >= o_.max_num) break;
      if (below_min(o_, sc_[i]) && !(kept == 0 && o_.always_keep_top)) break;  // sorted: the rest are lower
      keep[kept] = idx_[i];
      out_scores[kept] = sc_[i];
      ++kept;
      alive_[i] = 0;
      if (zero_hits) break;
      int64_t lo, hi;
      window(i, &lo, &hi);
      for (int64_t j = lo; j < hi; ++j) {
        if (!alive_[j]) continue;
        const double ov = nms_overlap(o_.overlap, st_[i], en_[i], st_[j], en_[j], o_.length_eps);
        if (nms_hits(ov, o_.iou_threshold, o_.suppress_equal)) alive_[j] = 0;
      }
    }
    return kept;
  }

  // Soft NMS (ActionFormer softnms_1d_cpu order of operations; HAM-Net soft_nms without min_score):
  // select the argmax of the current scores, decay every remaining candidate, and when min_score is set
  // discard each candidate as soon as its score is below it. The argmax comes from an indexed max-heap
  // ordered by each candidate's key (score when last placed). Decays that lower a score leave the key as
  // an upper bound and are re-placed only if the candidate reaches the top (lazy); decays that raise a
  // (negative) score are re-placed at once, so the top's key is always >= every current score.
  int64_t soft(int64_t* keep, double* out_scores) {
    build_neighbors();
    return n_ <= kLinearMax ? soft_linear(keep, out_scores) : soft_heap(keep, out_scores);
  }

  // Groups up to this size select by a linear scan over the current scores (two SIMD-friendly passes
  // per selection); larger ones use the heap, whose cost does not grow with n per selection.
  static constexpr int64_t kLinearMax = 512;

  // The same selection rule as soft_heap (highest current score, ties to the lowest input index) with
  // the current scores in cur_ (-inf once selected or discarded: every live score is finite). -0.0 and
  // +0.0 compare equal here as in ranks_before.
  int64_t soft_linear(int64_t* keep, double* out_scores) {
    const double ninf = -std::numeric_limits<double>::infinity();
    cur_.assign(sc_.begin(), sc_.end());
    double* cur = cur_.data();
    int64_t kept = 0;
    while (kept < n_) {
      if (o_.max_num > 0 && kept >= o_.max_num) break;
      const double m = max_of(cur, n_);
      if (m == ninf) break;
      const int64_t i = first_equal(cur, n_, m);  // positions are in input order: the first maximum wins ties
      if (below_min(o_, m) && !(kept == 0 && o_.always_keep_top)) break;
      keep[kept] = idx_[i];
      out_scores[kept] = sc_[i];
      ++kept;
      alive_[i] = 0;
      cur[i] = ninf;
      for (int64_t e = nb_off_[i]; e < nb_off_[i + 1]; ++e) {
        const int64_t j = nb_[e].other;
        if (!alive_[j]) continue;
        sc_[j] *= nms_weight(o_.method, nb_[e].overlap, o_.iou_threshold, o_.suppress_equal, o_.sigma);
        cur[j] = sc_[j];
        if (below_min(o_, sc_[j])) {
          alive_[j] = 0;
          cur[j] = ninf;
        }
      }
      if (kept == 1 && o_.has_min_score) {
        for (int64_t j = 0; j < n_; ++j) {
          if (alive_[j] && below_min(o_, sc_[j])) {
            alive_[j] = 0;
            cur[j] = ninf;
          }
        }
      }
    }
    return kept;
  }

  // Maximum of v[0, n) (no NaN; -inf when n == 0). Which of +0.0 and -0.0 it returns does not matter:
  // the caller finds the position with ==, for which they are equal.
  static double max_of(const double* v, int64_t n) {
    const double ninf = -std::numeric_limits<double>::infinity();
    int64_t p = 0;
    double m = ninf;
#if defined(__SSE2__)
    __m128d a = _mm_set1_pd(ninf), b = a, c = a, d = a;
    for (; p + 8 <= n; p += 8) {
      a = _mm_max_pd(a, _mm_loadu_pd(v + p));
      b = _mm_max_pd(b, _mm_loadu_pd(v + p + 2));
      c = _mm_max_pd(c, _mm_loadu_pd(v + p + 4));
      d = _mm_max_pd(d, _mm_loadu_pd(v + p + 6));
    }
    a = _mm_max_pd(_mm_max_pd(a, b), _mm_max_pd(c, d));
    m = std::max(_mm_cvtsd_f64(a), _mm_cvtsd_f64(_mm_unpackhi_pd(a, a)));
#endif
    for (; p < n; ++p) m = v[p] > m ? v[p] : m;
    return m;
  }

  // First position of m in v[0, n) (m is present).
  static int64_t first_equal(const double* v, int64_t n, double m) {
    int64_t p = 0;
#if defined(__SSE2__)
    const __m128d mm = _mm_set1_pd(m);
    for (; p + 4 <= n; p += 4) {
      const int bits = _mm_movemask_pd(_mm_cmpeq_pd(_mm_loadu_pd(v + p), mm)) |
                       (_mm_movemask_pd(_mm_cmpeq_pd(_mm_loadu_pd(v + p + 2), mm)) << 2);
      if (bits) return p + __builtin_ctz(static_cast<unsigned>(bits));
    }
#endif
    while (v[p] != m) ++p;
    return p;
  }

  int64_t soft_heap(int64_t* keep, double* out_scores) {
    heap_.resize(n_);
    where_.resize(n_);
    key_ = sc_;
    for (int64_t p = 0; p < n_; ++p) heap_[p] = where_[p] = p;
    size_ = n_;
    for (int64_t h = size_ / 2 - 1; h >= 0; --h) sift_down(h);
    int64_t kept = 0;
    while (size_ > 0) {
      if (o_.max_num > 0 && kept >= o_.max_num) break;
      int64_t i = heap_[0];
      while (key_[i] != sc_[i]) {  // stale: refresh and let the true maximum surface
        key_[i] = sc_[i];
        sift_down(0);
        i = heap_[0];
      }
      if (below_min(o_, sc_[i]) && !(kept == 0 && o_.always_keep_top)) break;
      keep[kept] = idx_[i];
      out_scores[kept] = sc_[i];
      ++kept;
      erase(i);
      for (int64_t e = nb_off_[i]; e < nb_off_[i + 1]; ++e) {
        const int64_t j = nb_[e].other;
        if (!alive_[j]) continue;
        sc_[j] *= nms_weight(o_.method, nb_[e].overlap, o_.iou_threshold, o_.suppress_equal, o_.sigma);
        if (below_min(o_, sc_[j])) {
          erase(j);
        } else if (sc_[j] > key_[j]) {
          key_[j] = sc_[j];
          sift_up(where_[j]);
        }
      }
      if (kept == 1 && o_.has_min_score) {
        // The repositories test every remaining candidate after each selection; undecayed ones can only
        // fail the first time, so one sweep after the first selection is equivalent.
        for (int64_t j = 0; j < n_; ++j) {
          if (alive_[j] && below_min(o_, sc_[j])) erase(j);
        }
      }
    }
    return kept;
  }

 private:
  // [lo, hi) of start-sorted positions that may overlap segment i (a superset; exact overlap decides).
  // Upper side: a candidate starting after end_i (+1 for the plus-one measures) has intersection <= 0
  // even after rounding. Lower side: one starting more than max_len (+1) before start_i ends before it;
  // the slack absorbs rounding in max_len and in the bound itself.
  void window(int64_t i, int64_t* lo, int64_t* hi) const {
    const double upper = en_[i] + reach_;
    const double slack = 1e-6 * (1.0 + std::fabs(st_[i]) + max_len_);
    const double lower = st_[i] - max_len_ - reach_ - slack;
    *lo = std::lower_bound(st_.begin(), st_.end(), lower) - st_.begin();
    *hi = std::upper_bound(st_.begin(), st_.end(), upper) - st_.begin();
  }

  // Soft NMS (candidates in input order): window() of a group with one long segment spans almost the
  // whole group, and most of its visits find overlap 0 behind unpredictable branches. Instead, one sweep
  // over the candidates in start order lists, for each p, the candidates q with a nonzero overlap when
  // p is selected, computed by the same expression (nms_overlap(p, q)) as the window loop: decays are
  // bit-identical and cost O(overlapping pairs). A pair can overlap only if the later-starting one starts
  // at most end + reach after the other's end (the upper side of window()). iou and plus_one are
  // symmetric expressions (min/max and a commutative sum), so their overlap is computed once per pair.
  void build_neighbors() {
    perm_.resize(n_);
    std::iota(perm_.begin(), perm_.end(), int64_t{0});
    std::sort(perm_.begin(), perm_.end(), [this](int64_t a, int64_t b) { return st_[a] < st_[b]; });
    sorted_st_.resize(n_);
    for (int64_t a = 0; a < n_; ++a) sorted_st_[a] = st_[perm_[a]];
    const bool symmetric = o_.overlap != NmsOverlap::kInterOverOther;
    // Examined pairs in sweep order with both directed overlaps, degrees counted on the way, then a
    // counting sort into CSR lists (entries with a zero overlap are dropped).
    edges_.clear();
    nb_off_.assign(n_ + 1, 0);
    int64_t* deg = nb_off_.data() + 1;
    for (int64_t a = 0; a < n_; ++a) {
      const int64_t p = perm_[a];
      const double sp = st_[p], ep = en_[p];
      const double upper = ep + reach_;
      for (int64_t b = a + 1; b < n_ && sorted_st_[b] <= upper; ++b) {
        const int64_t q = perm_[b];
        const double pq = nms_overlap(o_.overlap, sp, ep, st_[q], en_[q], o_.length_eps);
        const double qp = symmetric ? pq : nms_overlap(o_.overlap, st_[q], en_[q], sp, ep, o_.length_eps);
        edges_.push_back({p, q, pq, qp});
        deg[p] += pq != 0.0;
        deg[q] += qp != 0.0;
      }
    }
    for (int64_t p = 0; p < n_; ++p) nb_off_[p + 1] += nb_off_[p];
    nb_.resize(nb_off_[n_]);
    fill_.assign(nb_off_.begin(), nb_off_.end() - 1);
    for (const Edge& e : edges_) {
      if (e.pq != 0.0) nb_[fill_[e.p]++] = {e.q, e.pq};
      if (e.qp != 0.0) nb_[fill_[e.q]++] = {e.p, e.qp};
    }
  }

  bool above(int64_t a, int64_t b) const { return ranks_before(key_[a], idx_[a], key_[b], idx_[b]); }

  void place(int64_t h, int64_t p) {
    heap_[h] = p;
    where_[p] = h;
  }

  void sift_up(int64_t h) {
    const int64_t p = heap_[h];
    while (h > 0) {
      const int64_t parent = (h - 1) / 2;
      if (!above(p, heap_[parent])) break;
      place(h, heap_[parent]);
      h = parent;
    }
    place(h, p);
  }

  void sift_down(int64_t h) {
    const int64_t p = heap_[h];
    while (true) {
      int64_t child = 2 * h + 1;
      if (child >= size_) break;
      if (child + 1 < size_ && above(heap_[child + 1], heap_[child])) ++child;
      if (!above(heap_[child], p)) break;
      place(h, heap_[child]);
      h = child;
    }
    place(h, p);
  }

  void erase(int64_t p) {
    alive_[p] = 0;
    const int64_t h = where_[p];
    --size_;
    if (h == size_) return;
    const int64_t moved = heap_[size_];
    place(h, moved);
    sift_up(h);
    sift_down(where_[moved]);
  }

  const NmsOptions& o_;
  int64_t n_ = 0;
  std::vector<double> st_, en_, sc_, key_, cur_;
  std::vector<int64_t> idx_;
  std::vector<char> alive_;
  std::vector<int64_t> heap_, where_;
  struct Edge {  // an examined pair: overlap of q when p is selected (pq) and the reverse (qp)
    int64_t p, q;
    double pq, qp;
  };
  struct Neighbor {
    int64_t other;
    double overlap;
  };
  std::vector<Edge> edges_;
  std::vector<Neighbor> nb_;
  std::vector<int64_t> nb_off_, fill_, perm_;
  std::vector<double> sorted_st_;
  int64_t size_ = 0;
  double max_len_ = 0.0, reach_ = 0.0;
};

template <typename T>
void validate(const T* segments, const T* scores, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double s = static_cast<double>(segments[2 * i]), e = static_cast<double>(segments[2 * i + 1]);
    if (!std::isfinite(static_cast<double>(scores[i]))) {
      throw std::invalid_argument("scores must be finite, got " + std::to_string(scores[i]) + " at index " +
                                  std::to_string(i));
    }
    if (!std::isfinite(s) || !std::isfinite(e)) {
      throw std::invalid_argument("segments must be finite, got NaN or inf in row " + std::to_string(i));
    }
    if (e < s) {
      throw std::invalid_argument("segments must have start <= end, got [" + std::to_string(s) + ", " +
                                  std::to_string(e) + "] in row " + std::to_string(i));
    }
    if (!(e - s <= kNmsMaxLength)) {
      throw std::invalid_argument("segments must be shorter than 2**1020 (their IoU union would overflow float64), "
                                  "got [" + std::to_string(s) + ", " + std::to_string(e) + "] in row " +
                                  std::to_string(i));
    }
  }
}

}  // namespace

template <typename T>
int64_t nms(const T* segments, const T* scores, const int64_t* groups, int64_t n, const NmsOptions& o,
            int64_t* keep, double* kept_scores, int num_threads) {
  if (n < 0) throw std::invalid_argument("nms: negative size");
  if (o.method == NmsMethod::kGaussian && !(o.sigma > 0.0)) throw std::invalid_argument("sigma must be > 0");
  validate(segments, scores, n);
  if (n == 0) return 0;

  // Partition into groups (stable, so each group lists its members in input order).
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), int64_t{0});
  std::vector<int64_t> offsets{0};
  if (groups != nullptr) {
    if (!std::is_sorted(groups, groups + n)) {
      std::stable_sort(order.begin(), order.end(), [groups](int64_t a, int64_t b) { return groups[a] < groups[b]; });
    }
    for (int64_t p = 1; p < n; ++p) {
      if (groups[order[p]] != groups[order[p - 1]]) offsets.push_back(p);
    }
  }
  offsets.push_back(n);
  const int64_t num_groups = static_cast<int64_t>(offsets.size()) - 1;
  std::vector<int64_t> counts(num_groups, 0);

  // Each group writes into its own slice [offsets[g], offsets[g+1]) of the outputs; compacted below.
  auto run_group = [&](int64_t g, std::vector<Candidate>& cand, Group& group) {
    const int64_t lo = offsets[g], hi = offsets[g + 1];
    cand.clear();
    for (int64_t p = lo; p < hi; ++p) {
      const int64_t i = order[p];
      cand.push_back({static_cast<double>(segments[2 * i]), static_cast<double>(segments[2 * i + 1]),
                      static_cast<double>(scores[i]), i});
    }
    group.load(cand, o.method == NmsMethod::kHard);
    counts[g] = o.method == NmsMethod::kHard ? group.hard(keep + lo, kept_scores + lo)
                                             : group.soft(keep + lo, kept_scores + lo);
    if (o.order_by_score && counts[g] > 1) {
      // Soft decays can raise a later selection above an earlier one (negative scores): reorder the
      // group's survivors by final score, ties in selection order.
      std::vector<int64_t> sel(counts[g]), tmp_keep(counts[g]);
      std::vector<double> tmp_score(counts[g]);
      std::iota(sel.begin(), sel.end(), lo);
      std::stable_sort(sel.begin(), sel.end(), [&](int64_t a, int64_t b) { return kept_scores[a] > kept_scores[b]; });
      for (size_t q = 0; q < sel.size(); ++q) {
        tmp_keep[q] = keep[sel[q]];
        tmp_score[q] = kept_scores[sel[q]];
      }
      std::copy(tmp_keep.begin(), tmp_keep.end(), keep + lo);
      std::copy(tmp_score.begin(), tmp_score.end(), kept_scores + lo);
    }
  };

  int64_t nthreads = num_threads > 0 ? num_threads : static_cast<int64_t>(std::thread::hardware_concurrency());
  // A thread per ~2k candidates at most: tiny batches are faster on the calling thread.
  nthreads = std::max<int64_t>(1, std::min({nthreads, num_groups, n / 2048 + 1}));
  if (nthreads == 1) {
    std::vector<Candidate> cand;
    Group group(o);
    for (int64_t g = 0; g < num_groups; ++g) run_group(g, cand, group);
  } else {
    // Group sizes are very uneven (a long video's class has thousands of proposals): hand out groups
    // dynamically instead of in fixed chunks.
    // Largest groups first, so that no thread is left with a big one at the end.
    std::vector<int64_t> by_size(num_groups);
    std::iota(by_size.begin(), by_size.end(), int64_t{0});
    std::stable_sort(by_size.begin(), by_size.end(), [&](int64_t a, int64_t b) {
      return offsets[a + 1] - offsets[a] > offsets[b + 1] - offsets[b];
    });
    std::atomic<int64_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto worker = [&] {
      std::vector<Candidate> cand;
      Group group(o);
      try {
        for (int64_t i = next.fetch_add(1); i < num_groups; i = next.fetch_add(1)) run_group(by_size[i], cand, group);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    };
    std::vector<std::thread> pool;
    pool.reserve(nthreads - 1);
    for (int64_t t = 1; t < nthreads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& th : pool) th.join();
    if (error) std::rethrow_exception(error);
  }

  int64_t total = 0;
  for (int64_t g = 0; g < num_groups; ++g) {
    const int64_t lo = offsets[g], k = counts[g];
    if (lo != total && k > 0) {  // destination never overtakes the source: memmove is safe
      std::memmove(keep + total, keep + lo, sizeof(int64_t) * k);
      std::memmove(kept_scores + total, kept_scores + lo, sizeof(double) * k);
    }
    total += k;
  }
  return total;
}

template int64_t nms<float>(const float*, const float*, const int64_t*, int64_t, const NmsOptions&, int64_t*,
                            double*, int);
template int64_t nms<double>(const double*, const double*, const int64_t*, int64_t, const NmsOptions&, int64_t*,
                             double*, int);

}  // namespace wtal::cpu
