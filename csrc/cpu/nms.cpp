#include "cpu/nms.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace wtal::cpu {
namespace {

struct Candidate {
  double start, end, score;
  int64_t index;
};

// Greedy order: higher score first, ties to the lower input index (stable).
inline bool ranks_before(const Candidate& a, const Candidate& b) {
  return a.score > b.score || (a.score == b.score && a.index < b.index);
}

inline bool below_min(const NmsOptions& o, double score) { return o.has_min_score && score < o.min_score; }

// Hard NMS: scores never change, so one sort gives the greedy order. Suppressed candidates are removed
// (as in ActionFormer's nms_1d_cpu and BaSNet/UM/FAC-Net), not zeroed.
int64_t hard_group(std::vector<Candidate>& c, const NmsOptions& o, int64_t* keep, double* out_scores) {
  std::sort(c.begin(), c.end(), ranks_before);
  const int64_t n = static_cast<int64_t>(c.size());
  std::vector<char> alive(n, 1);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!alive[i]) continue;
    if (o.max_num > 0 && kept >= o.max_num) break;
    if (below_min(o, c[i].score) && !(kept == 0 && o.always_keep_top)) break;  // sorted: the rest are lower
    keep[kept] = c[i].index;
    out_scores[kept] = c[i].score;
    ++kept;
    const double si = c[i].start, ei = c[i].end;
    for (int64_t j = i + 1; j < n; ++j) {
      if (!alive[j]) continue;
      const double ov = nms_overlap(o.overlap, si, ei, c[j].start, c[j].end, o.length_eps);
      if (nms_hits(ov, o.iou_threshold, o.suppress_equal)) alive[j] = 0;
    }
  }
  return kept;
}

// Soft NMS: the argmax of the current scores is selected each step; every remaining candidate is decayed
// and, when min_score is set, discarded as soon as it falls below it (ActionFormer's softnms_1d_cpu order
// of operations; HAM-Net's soft_nms is the case without min_score).
int64_t soft_group(std::vector<Candidate>& c, const NmsOptions& o, int64_t* keep, double* out_scores) {
  int64_t kept = 0;
  while (!c.empty()) {
    if (o.max_num > 0 && kept >= o.max_num) break;
    size_t best = 0;
    for (size_t k = 1; k < c.size(); ++k) {
      if (ranks_before(c[k], c[best])) best = k;
    }
    const Candidate sel = c[best];
    if (below_min(o, sel.score) && !(kept == 0 && o.always_keep_top)) break;
    keep[kept] = sel.index;
    out_scores[kept] = sel.score;
    ++kept;
    c[best] = c.back();
    c.pop_back();
    for (size_t k = 0; k < c.size();) {
      Candidate& cand = c[k];
      // Both weights are exactly 1 at overlap 0 (exp(-0) and 1 - 0), so non-overlapping candidates keep
      // their score bit for bit and the exp is skipped for them without changing any result.
      const double ov = nms_overlap(o.overlap, sel.start, sel.end, cand.start, cand.end, o.length_eps);
      if (ov != 0.0) {
        cand.score *= nms_weight(o.method, ov, o.iou_threshold, o.suppress_equal, o.sigma);
      }
      if (below_min(o, cand.score)) {
        cand = c.back();
        c.pop_back();
      } else {
        ++k;
      }
    }
  }
  return kept;
}

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
  auto run_group = [&](int64_t g, std::vector<Candidate>& cand) {
    const int64_t lo = offsets[g], hi = offsets[g + 1];
    cand.clear();
    for (int64_t p = lo; p < hi; ++p) {
      const int64_t i = order[p];
      cand.push_back({static_cast<double>(segments[2 * i]), static_cast<double>(segments[2 * i + 1]),
                      static_cast<double>(scores[i]), i});
    }
    counts[g] = o.method == NmsMethod::kHard ? hard_group(cand, o, keep + lo, kept_scores + lo)
                                             : soft_group(cand, o, keep + lo, kept_scores + lo);
  };

  int64_t nthreads = num_threads > 0 ? num_threads : static_cast<int64_t>(std::thread::hardware_concurrency());
  // A thread per ~2k candidates at most: tiny batches are faster on the calling thread.
  nthreads = std::max<int64_t>(1, std::min({nthreads, num_groups, n / 2048 + 1}));
  if (nthreads == 1) {
    std::vector<Candidate> cand;
    for (int64_t g = 0; g < num_groups; ++g) run_group(g, cand);
  } else {
    // Group sizes are very uneven (a long video's class has thousands of proposals): hand out groups
    // dynamically instead of in fixed chunks.
    std::atomic<int64_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto worker = [&] {
      std::vector<Candidate> cand;
      try {
        for (int64_t g = next.fetch_add(1); g < num_groups; g = next.fetch_add(1)) run_group(g, cand);
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
