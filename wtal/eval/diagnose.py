"""Error diagnosis of a temporal action detector (DETAD: Alwassel et al., "Diagnosing Error in Temporal
Action Detectors", ECCV 2018; HumamAlwassel/DETAD ``src/false_positive_analysis.py``,
``src/false_negative_analysis.py``, ``src/action_detector_diagnosis.py``), at DETAD's settings.

**False positives.** Each class keeps its ``10 * G_j`` best-scored predictions (``G_j``: its number of GT;
DETAD's ``limit_factor=10``). They are matched as the official evaluator matches (best free GT of the
same class and video, tIoU ``>=`` each threshold). A prediction that matches no GT at a threshold is,
judged by the GT of its video (any class) with the highest tIoU:

* *double detection*: that tIoU ``>=`` the threshold and the GT has the predicted label (the GT was taken);
* *wrong label*: that tIoU ``>=`` the threshold, another label;
* *localization*: ``0.1 <=`` that tIoU ``<`` the threshold, the predicted label;
* *confusion*: ``0.1 <=`` that tIoU ``<`` the threshold, another label;
* *background*: that tIoU ``< 0.1``, or the video has no GT.

Reported per threshold and averaged over thresholds: the counts and fractions of each type among the
kept predictions; the *false positive profile* (DETAD's figure): the breakdown of the ``k``-th block of
``G_j`` predictions of each class in score order (``1G`` ... ``10G``); and the *removing error impact*:
average-mAP\\ :sub:`N` gain when the predictions of one error type are removed (matches unchanged).
mAP\\ :sub:`N` is DETAD's normalised mAP: precision ``= rec * N / (rec * N + fp)`` with ``N`` the
average number of GT per class.

**False negatives.** All predictions are matched; a true positive whose normalised precision is
``<= 0.05`` is discarded (DETAD's ``minimum_normalized_precision_threshold_for_detection``); every GT
left unmatched is a false negative. The false-negative rate is reported per bin of the GT's *length*
(seconds), *coverage* (length / video duration; needs the durations) and *number of instances* (GT of
the same class in the video), with DETAD's bins (right-closed, the first bin also closed on the left).

Departures from DETAD's code, all documented and deliberate: the average number of GT per class is a
true division (DETAD's Python-2 ``/`` of two ints floors it); an unmatched prediction on a video
without GT is always background (DETAD's loop reuses the previous video's GT for the second and later
ones, a bug); ties follow ``tie_policy`` of the evaluation (DETAD's pandas sorts do not give a
reproducible tie order), and the profile's score blocks use the evaluation's ranking (DETAD re-sorts
with pandas' ``sort_values``, which may order equal scores differently); a GT with unknown video duration is kept and left out of the coverage bins
only (DETAD needs every coverage and drops GT with coverage > 1, as wtal does where it is known).

Nothing here imports matplotlib except :func:`plot_diagnosis`.
"""
from __future__ import annotations

import io as _bytes_io
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

__all__ = ["DETAD_SETTINGS", "DetadSettings", "Diagnosis", "ERROR_TYPES", "diagnose_detection",
           "plot_diagnosis", "write_diagnosis"]

#: Column order of every per-type array: code 0 is a true positive, 1..5 DETAD's error types.
ERROR_TYPES = ("true_positive", "double_detection", "wrong_label", "localization", "confusion", "background")
_ERROR_TITLES = ("True Positive", "Double Detection Err", "Wrong Label Err", "Localization Err", "Confusion Err",
                 "Background Err")
_ERROR_COLORS = ("#33a02c", "#b2df8a", "#1f78b4", "#fb9a99", "#e31a1c", "#a6cee3")  # DETAD's


@dataclass(frozen=True)
class DetadSettings:
    """DETAD's settings for one dataset (``src/false_*_analysis.py main``).

    Attributes:
        tiou_thresholds: float64 thresholds of both analyses.
        bins: characteristic -> (bin edges, bin labels) of the false-negative analysis.
        limit_factor: predictions kept per class in the false-positive analysis, per GT of the class.
        min_tiou: smallest tIoU of a localization or confusion error (below: background).
        fp_min_precision: normalised precision at or below which a TP is discarded (FP analysis).
        fn_min_precision: same, false-negative analysis.
    """

    tiou_thresholds: tuple[float, ...]
    bins: Mapping[str, tuple[tuple[float, ...], tuple[str, ...]]]
    limit_factor: int = 10
    min_tiou: float = 0.1
    fp_min_precision: float = 0.0
    fn_min_precision: float = 0.05


_XS_XL = ("XS", "S", "M", "L", "XL")
DETAD_SETTINGS: dict[str, DetadSettings] = {
    "activitynet": DetadSettings(
        tuple(float(t) for t in np.linspace(0.5, 0.95, 10)),
        {"length": ((0.0, 30.0, 60.0, 120.0, 180.0, np.inf), _XS_XL),
         "coverage": (tuple(float(x) for x in np.linspace(0, 1.0, 6)), _XS_XL),
         "num_instances": ((-1.0, 1.0, 4.0, 8.0, np.inf), ("XS", "S", "M", "L"))}),
    "thumos14": DetadSettings(
        (0.5,),
        {"length": ((0.0, 3.0, 6.0, 12.0, 18.0, np.inf), _XS_XL),
         "coverage": ((0.0, 0.02, 0.04, 0.06, 0.08, 1.0), _XS_XL),
         "num_instances": ((-1.0, 1.0, 40.0, 80.0, np.inf), ("XS", "S", "M", "L"))}),
}


@dataclass(frozen=True)
class Diagnosis:
    """Result of :func:`diagnose_detection` (``T`` thresholds, the 6 codes of :data:`ERROR_TYPES`).

    Attributes:
        dataset: key of :data:`DETAD_SETTINGS` used.
        tiou: float64 [T].
        num_ground_truth: GT analysed (after DETAD's GT filter).
        average_instances_per_class: ``N`` of mAP_N.
        fp_num_predictions: predictions kept for the false-positive analysis (top ``10 G_j`` per class).
        fp_counts: int64 [T, 6], predictions of each type per threshold.
        fp_fractions: float64 [T, 6], ``fp_counts / fp_num_predictions``.
        fp_profile: float64 [B, 6], block ``b`` (``(b+1)G``): fraction of each type, averaged over T.
        fp_profile_sizes: int64 [B], predictions per block.
        average_mAP_N: average-mAP_N of the kept predictions.
        mAP_N_gain: error type -> average-mAP_N gain when its predictions are removed.
        fn: characteristic -> dict with ``edges``, ``labels``, ``gt_count [K]``, ``gt_fraction [K]``,
            ``fn_rate [T, K]`` and ``fn_rate_avg [K]`` (NaN for an empty bin); coverage is absent when
            no video duration is known.
        fn_num_predictions: predictions matched in the false-negative analysis.
        fn_rate: float64 [T], false negatives / GT per threshold.
    """

    dataset: str
    tiou: np.ndarray
    num_ground_truth: int
    average_instances_per_class: float
    fp_num_predictions: int
    fp_counts: np.ndarray
    fp_fractions: np.ndarray
    fp_profile: np.ndarray
    fp_profile_sizes: np.ndarray
    average_mAP_N: float
    mAP_N_gain: dict[str, float]
    fn: dict[str, dict[str, Any]]
    fn_num_predictions: int
    fn_rate: np.ndarray
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as ``None``)."""
        def clean(x: Any) -> Any:
            if isinstance(x, np.ndarray):
                return clean(x.tolist())
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, (float, np.floating)):
                return None if not np.isfinite(x) else float(x)
            if isinstance(x, np.integer):
                return int(x)
            return x

        T = len(self.tiou)
        return clean({
            "dataset": self.dataset, "tiou": self.tiou, "error_types": list(ERROR_TYPES),
            "num_ground_truth": self.num_ground_truth,
            "average_instances_per_class": self.average_instances_per_class,
            "false_positives": {
                "num_predictions": self.fp_num_predictions,
                "counts": {ERROR_TYPES[k]: self.fp_counts[:, k] for k in range(6)},
                "fractions": {ERROR_TYPES[k]: self.fp_fractions[:, k] for k in range(6)},
                "fractions_avg": {ERROR_TYPES[k]: float(self.fp_fractions[:, k].mean()) if T else np.nan
                                  for k in range(6)},
                "profile": {f"{b + 1}G": {ERROR_TYPES[k]: self.fp_profile[b, k] for k in range(6)}
                            for b in range(len(self.fp_profile))},
                "profile_sizes": self.fp_profile_sizes,
                "average_mAP_N": self.average_mAP_N,
                "average_mAP_N_gain": self.mAP_N_gain,
            },
            "false_negatives": {"num_predictions": self.fn_num_predictions, "rate": self.fn_rate,
                                "by_characteristic": self.fn},
            "notes": self.notes,
        })

    def summary(self) -> str:
        """A few lines: the error breakdown (average over thresholds) and the largest mAP_N gain."""
        frac = self.fp_fractions.mean(axis=0) if len(self.tiou) else np.zeros(6)
        parts = ", ".join(f"{ERROR_TYPES[k].replace('_', ' ')} {100 * frac[k]:.1f}%" for k in range(6))
        lines = [f"diagnosis ({self.dataset} settings, tIoU {', '.join(f'{t:g}' for t in self.tiou)}): "
                 f"top-{DETAD_SETTINGS[self.dataset].limit_factor}G predictions ({self.fp_num_predictions}): "
                 + parts]
        if self.mAP_N_gain:
            worst = max(self.mAP_N_gain, key=self.mAP_N_gain.get)
            lines.append(f"average-mAP_N {100 * self.average_mAP_N:.2f}%; removing {worst.replace('_', ' ')} "
                         f"errors adds {100 * self.mAP_N_gain[worst]:.2f} points; false negatives "
                         f"{100 * float(np.mean(self.fn_rate)):.1f}% of the GT")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------


def _curves(tp: np.ndarray, seg: np.ndarray, npos: np.ndarray, n_avg: float) -> tuple[np.ndarray, ...]:
    """Recall and DETAD's normalised precision ``rec * N / (rec * N + fp)`` along a ranked 0/1 sequence
    ``tp`` [P] whose predictions are grouped by class ``seg`` [P] (cumulative counts restart per class).
    Also returns where each class's run starts."""
    n = len(tp)
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]]) if n else np.zeros(0, np.int64)
    lengths = np.diff(np.r_[starts, n])
    t = tp.astype(np.float64)
    ctp, cfp = np.cumsum(t), np.cumsum(1.0 - t)
    tp_c = ctp - np.repeat(ctp[starts] - t[starts], lengths)  # exact: integer counts
    fp_c = cfp - np.repeat(cfp[starts] - (1.0 - t[starts]), lengths)
    rec = tp_c / npos[seg]
    prec = rec * n_avg / (rec * n_avg + fp_c)  # the denominator is >= 1 (every rank adds a TP or an FP)
    return rec, prec, starts


def _class_ap_n(tp: np.ndarray, seg: np.ndarray, num_classes: int, npos: np.ndarray, n_avg: float) -> np.ndarray:
    """AP_N [C] of every class: DETAD's ``interpolated_prec_rec`` (the official VOC all-point AP) of the
    normalised precision, all classes in one pass; a class without predictions gets 0."""
    ap = np.zeros(num_classes)
    if len(tp) == 0:
        return ap
    rec, prec, starts = _curves(tp, seg, npos, n_avg)
    # precision envelope max_{j >= i} within each class: a reversed running maximum, each class lifted
    # above the ones already passed (precision <= 1) so the maximum restarts at every class
    lift = 2.0 * (num_classes - 1 - seg[::-1])
    env = (np.maximum.accumulate(prec[::-1] + lift) - lift)[::-1]
    prev = np.r_[0.0, rec[:-1]]
    prev[starts] = 0.0
    # terms where recall does not change are 0; the official appended (1, 0) point adds 0
    return np.bincount(seg, weights=(rec - prev) * env, minlength=num_classes)


def _ranking(rows: np.ndarray, plab: np.ndarray, score: np.ndarray, tie_policy: str) -> np.ndarray:
    """``rows`` (each class's analysed rows in frame order) ranked per class as the official code ranks a
    class's frame: ``score.argsort()[::-1]`` (numpy) or descending score, NaN first, the later frame
    position first among equal scores (stable). Returns the rows grouped by class, each class ranked."""
    lab = plab[rows]
    pos = np.arange(len(rows))
    by_class = np.lexsort((pos, lab))  # class, then frame position
    rows, lab = rows[by_class], lab[by_class]
    if tie_policy == "numpy":
        bounds = np.flatnonzero(np.diff(lab)) + 1
        parts = [r[score[r].argsort()[::-1]] for r in np.split(rows, bounds)]
        return np.concatenate(parts) if parts else rows
    rows, lab = rows[::-1], lab[::-1]  # a stable sort of the reversed frame puts later positions first
    s = score[rows]
    nan = np.isnan(s)
    key = np.where(nan, -np.inf, -s)  # NaN first, then descending score (-0.0 and 0.0 tie)
    return rows[np.lexsort((key, lab))]


def _class_segments(ranked: np.ndarray, plab: np.ndarray, num_classes: int) -> np.ndarray:
    """Offsets [C + 1] of each class's block in ``ranked`` (grouped by class)."""
    return np.searchsorted(plab[ranked], np.arange(num_classes + 1))


def _top_gt(enc: Any, rows: np.ndarray, gt_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per prediction row: (has GT in its video, highest tIoU over the video's GT of any class, label of
    the first GT with that tIoU in GT row order; NaN tIoU counts as the highest, as ``argmax``/``max``)."""
    gv = enc.gvid[gt_rows]
    perm = np.argsort(gv, kind="stable")
    sorted_v = gv[perm]
    pv = enc.pvid[rows]
    lo = np.searchsorted(sorted_v, pv, side="left")
    cnt = np.where(pv >= 0, np.searchsorted(sorted_v, pv, side="right") - lo, 0)
    has = cnt > 0
    top = np.full(len(rows), -np.inf)
    top_label = np.full(len(rows), -1, dtype=np.int64)
    if not has.any():
        return has, top, top_label
    start = np.concatenate([[0], np.cumsum(cnt)[:-1]])
    which = np.repeat(np.arange(len(rows)), cnt)
    g = gt_rows[perm[np.repeat(lo - start, cnt) + np.arange(int(cnt.sum()))]]
    p = rows[which]
    inter = (np.minimum(enc.pe[p], enc.ge[g]) - np.maximum(enc.ps[p], enc.gs[g])).clip(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / ((enc.ge[g] - enc.gs[g]) + (enc.pe[p] - enc.ps[p]) - inter)
    key = np.where(np.isnan(iou), np.inf, iou)  # NaN wins max/argmax, as in numpy
    seg = np.flatnonzero(has)
    starts = start[seg]
    best = np.maximum.reduceat(key, starts)
    is_best = key == np.repeat(best, cnt[seg])
    first = np.flatnonzero(is_best)
    _, idx = np.unique(which[first], return_index=True)
    top[seg] = np.where(np.isinf(best), np.nan, best)
    top_label[seg] = enc.glab[g[first[idx]]]
    return has, top, top_label


def _bin(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """``pandas.cut(values, edges, include_lowest=True)`` bin index (right-closed), -1 outside or NaN."""
    e = np.asarray(edges, dtype=np.float64)
    k = np.searchsorted(e, values, side="left") - 1
    k = np.where(values == e[0], 0, k)
    ok = ~np.isnan(values) & (values >= e[0]) & (values <= e[-1])
    return np.where(ok, k, -1)


def diagnose_detection(result: Any, dataset: str = "activitynet", *, durations: Any = None) -> Diagnosis:
    """DETAD's false-positive and false-negative analysis of the rows a :class:`DetectionResult` evaluated.

    Args:
        result: what :func:`wtal.eval.evaluate_detection` returned (it keeps the evaluated rows: the
            preset's GT cleaning, ambiguous and video filters applied, times in seconds).
        dataset: ``"activitynet"`` (tIoU 0.5:0.95:10, length bins 0/30/60/120/180 s) or ``"thumos14"``
            (tIoU 0.5, length bins 0/3/6/12/18 s), DETAD's two settings (:data:`DETAD_SETTINGS`).
        durations: ``{video: seconds}`` for the coverage bins; default: the durations of the GT JSON the
            evaluation read (none for columnar GT: coverage is then left out, with a note).

    Returns:
        :class:`Diagnosis`.

    Raises:
        ValueError: unknown ``dataset``, a result without its inputs, or predictions in snippets.
    """
    from wtal.eval.detection import _Encoded, match_detections
    from wtal.eval.presets import PRESETS

    if dataset not in DETAD_SETTINGS:
        raise ValueError(f"dataset must be one of {sorted(DETAD_SETTINGS)}, got {dataset!r}")
    inputs = getattr(result, "_inputs", None)
    if inputs is None:
        raise ValueError("diagnose needs the DetectionResult returned by evaluate_detection (it keeps its inputs)")
    enc = inputs.columns
    if enc.prediction_units != "seconds":
        raise ValueError("diagnose works in seconds; evaluate with prediction_units='seconds' to diagnose")
    settings = DETAD_SETTINGS[dataset]
    thr = np.array(settings.tiou_thresholds, dtype=np.float64)
    T = len(thr)
    notes: list[str] = []

    dur = _durations(durations, enc.videos) if durations is not None else inputs.durations
    # DETAD's GT filter: length > 0 and (where known) coverage <= 1
    length = enc.ge - enc.gs
    coverage = length / dur[enc.gvid] if dur is not None else np.full(len(length), np.nan)
    with np.errstate(invalid="ignore"):
        keep_gt = (enc.gs < enc.ge) & ~(coverage > 1.0)
    gt_rows = np.flatnonzero(keep_gt)
    if len(gt_rows) < len(length):
        notes.append(f"{len(length) - len(gt_rows)} GT dropped (zero/negative length or coverage > 1)")
    # classes keep their ids; a class left without GT is not analysed
    npos = np.bincount(enc.glab[gt_rows], minlength=enc.num_classes)
    live = npos > 0
    if not live.any():
        raise ValueError("diagnose: no ground truth left after DETAD's GT filter")
    n_avg = len(gt_rows) / enc.num_classes
    plab = np.where((enc.plab >= 0) & live[np.maximum(enc.plab, 0)], enc.plab, -1)
    # the kernel needs GT in every class it evaluates: renumber the classes that keep GT
    remap = np.cumsum(live) - 1
    C = int(live.sum())
    sub = _Encoded(gvid=enc.gvid[gt_rows], glab=remap[enc.glab[gt_rows]], gs=enc.gs[gt_rows], ge=enc.ge[gt_rows],
                   pvid=enc.pvid, plab=np.where(plab >= 0, remap[np.maximum(plab, 0)], -1), ps=enc.ps,
                   pe=enc.pe, score=enc.score, num_classes=C, num_videos=enc.num_videos)
    npos = npos[live]
    anet = PRESETS["anet"]

    def matched_ranked(rows: np.ndarray, min_precision: float) -> tuple[np.ndarray, ...]:
        """Ranked rows (grouped by class), class offsets [C + 1], tp [T, len(rows)] in that order after
        DETAD's low-precision discard, and the kernel's matched GT [T, N]."""
        ranked = _ranking(rows, sub.plab, sub.score, inputs.tie_policy)
        analysed = np.zeros(len(sub.plab), dtype=bool)
        analysed[rows] = True
        order = np.concatenate([ranked, np.flatnonzero(~analysed)])  # the kernel ranks in this order
        only = _Encoded(**{**sub.__dict__, "plab": np.where(analysed, sub.plab, -1)})
        _, matched = match_detections(only, thr, anet, order=order, tie_policy=inputs.tie_policy,
                                      num_threads=inputs.num_threads, return_matches=True)
        seg = _class_segments(ranked, sub.plab, C)
        tp = matched[:, ranked] >= 0
        cls = sub.plab[ranked]
        for t in range(T):  # DETAD: TPs at or below the normalised-precision floor become FPs
            tp[t] &= ~(_curves(tp[t], cls, npos, n_avg)[1] <= min_precision)
        return ranked, seg, tp, matched

    # ---- false positives: the top limit_factor * G_j predictions of each class
    cand = np.flatnonzero((sub.plab >= 0) & ~np.isnan(sub.score))  # pandas' nlargest drops NaN scores
    by_score = cand[np.lexsort((cand, -sub.score[cand], sub.plab[cand]))]  # class, score desc, earlier row
    cls = sub.plab[by_score]
    first_of_class = np.searchsorted(cls, np.arange(C))
    rank_in_class = np.arange(len(by_score)) - first_of_class[cls]
    kept = by_score[rank_in_class < settings.limit_factor * npos[cls]]
    frame = kept  # DETAD's frame: per class, nlargest's order (descending score, earlier rows first)
    ranked, seg, tp, _ = matched_ranked(frame, settings.fp_min_precision)
    has_gt, top, top_label = _top_gt(sub, ranked, np.arange(len(sub.glab)))
    same = top_label == sub.plab[ranked]
    codes = np.empty((T, len(ranked)), dtype=np.int64)
    for t in range(T):
        with np.errstate(invalid="ignore"):
            above, near = top >= thr[t], top >= settings.min_tiou
        err = np.where(above, np.where(same, 1, 2), np.where(near, np.where(same, 3, 4), 5))
        codes[t] = np.where(tp[t], 0, np.where(has_gt, err, 5))
    counts = np.stack([np.bincount(codes[t], minlength=6) for t in range(T)]).astype(np.int64)
    n_fp = len(ranked)
    fractions = counts / n_fp if n_fp else np.zeros((T, 6))
    # profile: block b of each class = its ranks [b G_j, (b+1) G_j)
    cls_r = sub.plab[ranked]
    block = (np.arange(n_fp) - seg[cls_r]) // npos[cls_r] if n_fp else np.zeros(0, np.int64)
    B = settings.limit_factor
    profile = np.zeros((B, 6))
    sizes = np.bincount(block, minlength=B)[:B].astype(np.int64)
    for t in range(T):
        per = np.zeros((B, 6))
        np.add.at(per, (block, codes[t]), 1.0)
        profile += np.divide(per, sizes[:, None], out=np.zeros_like(per), where=sizes[:, None] > 0)
    profile /= max(T, 1)
    # average-mAP_N and the gain of removing each error type (DETAD: recomputed from the same matches)
    ap = np.stack([_class_ap_n(tp[t], cls_r, C, npos, n_avg) for t in range(T)])
    average_mAP_N = float(ap.mean())
    gains = {}
    for e in range(1, 6):
        ap_e = np.stack([_class_ap_n(tp[t][keep], cls_r[keep], C, npos, n_avg)
                         for t in range(T) for keep in [codes[t] != e]])
        gains[ERROR_TYPES[e]] = float(ap_e.mean()) - average_mAP_N

    # ---- false negatives: every prediction, TPs with normalised precision <= 0.05 discarded
    every = np.flatnonzero(sub.plab >= 0)
    ranked_fn, _, tp_fn, matched_fn = matched_ranked(every, settings.fn_min_precision)
    G = len(sub.glab)
    missed = np.ones((T, G), dtype=bool)
    for t in range(T):
        m = matched_fn[t, ranked_fn][tp_fn[t]]
        missed[t, m] = False
    gl = sub.ge - sub.gs
    chars = {"length": gl}
    if dur is not None and np.isfinite(dur[sub.gvid]).any():
        chars["coverage"] = gl / dur[sub.gvid]
    else:
        notes.append("coverage skipped: no video duration known (give durations= or a GT JSON with durations)")
    key = sub.gvid * np.int64(C) + sub.glab
    _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    chars["num_instances"] = cnt[inv].astype(np.float64)
    fn = {}
    for name, values in chars.items():
        edges, labels = settings.bins[name]
        k = _bin(values, edges)
        inside = k >= 0
        gt_count = np.bincount(k[inside], minlength=len(labels)).astype(np.int64)
        rate = np.full((T, len(labels)), np.nan)
        for t in range(T):
            miss = np.bincount(k[inside], weights=missed[t, inside].astype(np.float64), minlength=len(labels))
            np.divide(miss, gt_count, out=rate[t], where=gt_count > 0)
        total = gt_count.sum()
        fn[name] = {"edges": list(edges), "labels": list(labels), "gt_count": gt_count,
                    "gt_fraction": gt_count / total if total else np.zeros(len(labels)),
                    "fn_rate": rate, "fn_rate_avg": rate.mean(axis=0) if T else rate[:0].sum(axis=0)}
    return Diagnosis(dataset=dataset, tiou=thr, num_ground_truth=G, average_instances_per_class=float(n_avg),
                     fp_num_predictions=int(n_fp), fp_counts=counts, fp_fractions=fractions, fp_profile=profile,
                     fp_profile_sizes=sizes, average_mAP_N=average_mAP_N, mAP_N_gain=gains, fn=fn,
                     fn_num_predictions=int(len(every)), fn_rate=missed.mean(axis=1), notes=notes)


def _durations(durations: Any, videos: list) -> np.ndarray:
    if not isinstance(durations, Mapping):
        raise TypeError(f"durations must be a mapping {{video: seconds}}, got {type(durations).__name__}")
    out = np.array([float(durations.get(v, np.nan)) for v in videos], dtype=np.float64)
    if (out <= 0).any():
        v = videos[int(np.flatnonzero(out <= 0)[0])]
        raise ValueError(f"durations[{v!r}] must be > 0, got {durations[v]!r}")
    return out


# --------------------------------------------------------------------------------------------------
# output


def plot_diagnosis(diag: Diagnosis, directory: str | os.PathLike) -> list[str]:
    """Write ``false_positive_analysis.png`` and ``false_negative_analysis.png`` (DETAD's figures, as PNG).

    Raises:
        ImportError: matplotlib is not installed.
    """
    try:
        import matplotlib
    except ImportError:
        raise ImportError("the diagnosis plots need matplotlib, which is not installed (pip install matplotlib)") \
            from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from wtal._atomic import atomic_write_bytes

    out = []
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4), gridspec_kw={"width_ratios": [3, 2]})
    B = len(diag.fp_profile)
    x = np.arange(B)
    bottom = np.zeros(B)
    for k in range(6):
        vals = 100 * diag.fp_profile[:, k]
        ax1.bar(x, vals, bottom=bottom, color=_ERROR_COLORS[k], label=_ERROR_TITLES[k], width=0.85)
        bottom += vals
    ax1.set_xticks(x, [f"{b + 1}G" for b in range(B)])
    ax1.set_ylim(0, 100)
    ax1.set_xlabel("Top predictions")
    ax1.set_ylabel("Error breakdown (%)")
    ax1.set_title("False positive profile")
    ax1.legend(fontsize=7, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.08))
    names = list(diag.mAP_N_gain)
    gains = [100 * diag.mAP_N_gain[n] for n in names]
    bars = ax2.bar(np.arange(len(names)), gains, color=_ERROR_COLORS[1:1 + len(names)])
    for b_, g in zip(bars, gains):
        ax2.text(b_.get_x() + b_.get_width() / 2, b_.get_height(), f"{g:.1f}", ha="center", va="bottom", fontsize=8)
    ax2.set_xticks(np.arange(len(names)), [_ERROR_TITLES[ERROR_TYPES.index(n)] for n in names], rotation=30,
                   ha="right", fontsize=8)
    ax2.set_ylabel("Average-mAP$_N$ improvement (%)")
    ax2.set_title("Removing error impact")
    fig.tight_layout()
    out.append(_save(fig, directory, "false_positive_analysis.png", atomic_write_bytes))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(3.2 * max(len(diag.fn), 1), 3.5))
    pos = 0
    ticks, labels = [], []
    for j, (name, d) in enumerate(diag.fn.items()):
        rate = np.asarray(d["fn_rate_avg"], dtype=np.float64) * 100
        xs = np.arange(pos, pos + len(rate))
        shown = np.nan_to_num(rate)
        bars = ax.bar(xs, shown, color=plt.get_cmap("tab10")(j))
        for b_, r in zip(bars, rate):
            ax.text(b_.get_x() + b_.get_width() / 2, b_.get_height() + 1, "-" if np.isnan(r) else f"{r:.1f}",
                    ha="center", fontsize=8)
        ax.text(pos + (len(rate) - 1) / 2, 104, name.replace("_", " "), ha="center", fontsize=10)
        ticks += xs.tolist()
        labels += list(d["labels"])
        pos += len(rate) + 1
    ax.set_xticks(ticks, labels)
    ax.set_ylim(0, 110)
    ax.set_ylabel("False negative (%)")
    fig.tight_layout()
    out.append(_save(fig, directory, "false_negative_analysis.png", atomic_write_bytes))
    plt.close(fig)
    return out


def _save(fig: Any, directory: str | os.PathLike, name: str, write: Any) -> str:
    buf = _bytes_io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    path = os.path.join(os.fspath(directory), name)
    write(path, buf.getvalue())
    return path


def write_diagnosis(diag: Diagnosis, directory: str | os.PathLike, *, plots: bool = True) -> tuple[list[str], str]:
    """Write ``diagnosis.json`` (and the PNGs when ``plots`` and matplotlib is installed) into ``directory``.

    Returns:
        (files written, a note: ``""`` or why the plots were skipped).

    Raises:
        ValueError: ``directory`` exists and is not a directory, or cannot be created.
    """
    from wtal._atomic import atomic_write_text

    d = os.fspath(directory)
    if os.path.exists(d) and not os.path.isdir(d):
        raise ValueError(f"{d}: exists and is not a directory")
    try:
        os.makedirs(d, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{d}: cannot create the directory ({exc.strerror or exc})") from None
    path = os.path.join(d, "diagnosis.json")
    atomic_write_text(path, json.dumps(diag.to_dict(), indent=2) + "\n")
    files = [path]
    note = ""
    if plots:
        try:
            files += plot_diagnosis(diag, d)
        except ImportError:
            note = "plots skipped: matplotlib is not installed (pip install matplotlib)"
    return files, note
