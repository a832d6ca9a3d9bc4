// Detection mAP (ActivityNet protocol and the W-TALC/FAC-Net variants) on encoded columnar input.
// Semantics: shared/research/evaluation.md §2 and §6; this is the kernel behind wtal.eval.evaluate_detection.
#pragma once

#include <cstdint>
#include <vector>

namespace wtal::cpu {

enum class MatchRule : int {
  kBestIoU = 0,   // highest-tIoU free GT of the same (class, video), falling back to the next best (official)
  kFirstFit = 1,  // first free GT in class-GT order with tIoU >= thr (W-TALC detectionMAP.py)
};

enum class APKind : int {
  kInterpolated = 0,     // VOC all-point: sum over recall steps of the monotone precision envelope
  kNonInterpolated = 1,  // sum of precision at each TP rank / npos (W-TALC)
};

struct DetectionMapOptions {
  MatchRule match = MatchRule::kBestIoU;
  // Best-IoU rule only: among GT with equal tIoU, true = the later GT row is tried first (the reversed
  // numpy argsort of the official code), false = the earlier row (FAC-Net's strict `>` scan).
  bool candidate_ties_later_first = true;
  APKind ap = APKind::kInterpolated;
  // false: continuous tIoU with NaN-propagating min/max (official; 0/0 = NaN counts as a match).
  // true: segments are integer snippet ranges [s, e) stored as doubles; |A∩B| / |A∪B| of the sets,
  //       empty ranges have size 0 and an empty union gives tIoU 0.
  bool discrete = false;
  // Ranking used when no explicit order is given: descending score, NaN scores first or last,
  // equal scores by descending (later row first) or ascending input position.
  bool nan_score_first = true;
  bool score_ties_later_first = true;
  int num_threads = 0;  // 0 = std::thread::hardware_concurrency()
  // Tests: use the 64-bit class-local indices that classes with 2**31 or more predictions need.
  bool wide_indices = false;
};

// Optional inputs and outputs of detection_map beyond the APs (all off by default). Every row here is an
// input row number (prediction or GT), never a class-local index or a renumbered video id.
struct DetectionMapExtras {
  // Best-IoU rule: explicit GT candidate orders for some predictions. Prediction row
  // override_rows[k] (strictly ascending) tries the GT of its (class, video) in the order
  // override_order[override_offsets[k] .. override_offsets[k + 1]): a permutation of the indices of that
  // group's GT in row order (what `tiou.argsort()[::-1]` returns for the group's tIoU array).
  int64_t num_overrides = 0;
  const int64_t* override_rows = nullptr;
  const int64_t* override_offsets = nullptr;  // [num_overrides + 1]
  const int64_t* override_order = nullptr;
  // Out (if not nullptr), ascending: the rows of the predictions (best-IoU rule, no override) whose
  // candidate GT include two with exactly equal tIoU (== or both NaN) that passes some threshold, i.e.
  // the predictions whose result can depend on how equal tIoU values are ordered.
  std::vector<int64_t>* tie_rows = nullptr;
  // Out (if not nullptr): [num_thresholds, num_pred] row-major, the GT row each prediction matched at
  // each threshold, -1 where it matched none.
  int64_t* matched_gt = nullptr;
};

// Average precision of every (threshold, class).
//
// gt_*:   [num_gt] rows; gt_video in [0, num_videos), gt_label in [0, num_classes). Class-GT order
//         (the tie order of candidate GT and the list order of first-fit) is the row order.
// pred_*: [num_pred] rows; pred_video in [-1, num_videos) (-1: a video without GT, always an FP),
//         pred_label in [-1, num_classes) (-1: row ignored). num_videos only bounds the ids: memory
//         scales with the number of distinct GT videos, so a sparse id space costs nothing.
// order:  nullptr, or a permutation of [0, num_pred): the predictions of each class are ranked in the
//         order in which they appear in `order` (lets callers reproduce numpy's own argsort bit for bit).
// thresholds: [num_thresholds], compared as given (`tiou >= thr` for first-fit; `!(tiou < thr)` for
//         best-IoU, so a NaN tIoU passes as in the official code).
// ap:     output [num_thresholds, num_classes] row-major; a class without predictions gets 0.
// Sums use numpy's pairwise summation so the APs equal numpy's `np.sum` bit for bit.
// extras: see DetectionMapExtras (may be nullptr).
// Throws std::invalid_argument for ids out of range, an invalid order or invalid overrides.
void detection_map(int64_t num_gt, const int64_t* gt_video, const int64_t* gt_label,
                   const double* gt_start, const double* gt_end, int64_t num_pred,
                   const int64_t* pred_video, const int64_t* pred_label, const double* pred_start,
                   const double* pred_end, const double* pred_score, const int64_t* order,
                   int64_t num_thresholds, const double* thresholds, int64_t num_classes,
                   int64_t num_videos, const DetectionMapOptions& options, double* ap,
                   const DetectionMapExtras* extras = nullptr);

// numpy's pairwise summation of a contiguous float64 array (the algorithm of `np.sum`).
double pairwise_sum(const double* a, int64_t n);

}  // namespace wtal::cpu
