"""Reference detection-mAP evaluators, for tests and benchmarks only (never shipped).

``reference_map`` is a deliberately plain, loop-by-loop transcription of the specification in
``shared/research/evaluation.md`` §2/§6 (official ActivityNet) and of the W-TALC / FAC-Net rules of §3.
It works on Python lists of rows and is slow; it exists to be obviously right.

``numpy_map`` is the "independent numpy reference" of §5 (one process, numpy per prediction, official
semantics, stable tie order): the benchmark baseline.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

# ----------------------------------------------------------------------------------------------
# helpers written from the formulas


def _isnan(x: float) -> bool:
    return x != x


def _np_max(a: float, b: float) -> float:  # np.maximum: NaN propagates
    if _isnan(a):
        return a
    if _isnan(b):
        return b
    return a if a >= b else b


def _np_min(a: float, b: float) -> float:
    if _isnan(a):
        return a
    if _isnan(b):
        return b
    return a if a <= b else b


def official_tiou(p: tuple[float, float], g: tuple[float, float]) -> float:
    """Official segment_iou for one pair: inter = clip(min(e) - max(s), 0); union = len_g + len_p - inter."""
    inter = _np_min(p[1], g[1]) - _np_max(p[0], g[0])
    if not _isnan(inter) and inter < 0:
        inter = 0.0
    union = (g[1] - g[0]) + (p[1] - p[0]) - inter
    if union == 0:
        return math.nan  # 0/0 in IEEE arithmetic (inter is 0 whenever union is 0)
    return inter / union


def official_segment_iou(target_segment: np.ndarray, candidate_segments: np.ndarray) -> np.ndarray:
    """The official ``Evaluation/utils.py segment_iou``, operation for operation (numpy, float64)."""
    tt1 = np.maximum(target_segment[0], candidate_segments[:, 0])
    tt2 = np.minimum(target_segment[1], candidate_segments[:, 1])
    segments_intersection = (tt2 - tt1).clip(0)
    segments_union = (candidate_segments[:, 1] - candidate_segments[:, 0]) \
        + (target_segment[1] - target_segment[0]) - segments_intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return segments_intersection.astype(float) / segments_union


def snippet_iou(p: tuple[int, int], g: tuple[int, int]) -> float:
    """W-TALC: IoU of the snippet sets range(p0, p1) and range(g0, g1); empty union -> 0."""
    a, b = set(range(p[0], p[1])), set(range(g[0], g[1]))
    u = len(a | b)
    return len(a & b) / u if u else 0.0


def interpolated_ap(hits: Sequence[bool], npos: int) -> float:
    """VOC all-point AP of §2.5, literally (recall differences, precision envelope, np.sum)."""
    tp = fp = 0.0
    prec, rec = [], []
    for h in hits:
        if h:
            tp += 1.0
        else:
            fp += 1.0
        rec.append(tp / npos)
        prec.append(tp / (tp + fp))
    mprec = [0.0] + prec + [0.0]
    mrec = [0.0] + rec + [1.0]
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    terms = [(mrec[i] - mrec[i - 1]) * mprec[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1]]
    return float(np.sum(np.array(terms, dtype=np.float64)))


def noninterpolated_ap(hits: Sequence[bool], npos: int) -> float:
    """W-TALC: sum of precision at each TP rank / npos (0 if there is no TP)."""
    tp = fp = 0.0
    terms = []
    for h in hits:
        f = 1.0 if h else 0.0
        tp += f
        fp += 1.0 - f
        terms.append(tp / (fp + tp) * f)
    if tp == 0:
        return 0.0
    return float(np.sum(np.array(terms, dtype=np.float64))) / npos


def rank(scores: Sequence[float], *, family: str, tie_policy: str) -> list[int]:
    """Positions (into ``scores``) in ranking order.

    family "anet": the official ``argsort()[::-1]`` (NaN first; stable: later row first among ties).
    family "wtalc": ``np.argsort(-score)`` (NaN last; stable: earlier row first among ties).
    """
    n = len(scores)
    if tie_policy == "numpy":
        s = np.array(scores, dtype=np.float64)
        return [int(i) for i in (s.argsort()[::-1] if family == "anet" else np.argsort(-s))]
    if family == "anet":
        return sorted(range(n), key=lambda i: (0, 0.0, -i) if _isnan(scores[i]) else (1, -scores[i], -i))
    return sorted(range(n), key=lambda i: (1, 0.0, i) if _isnan(scores[i]) else (0, -scores[i], i))


# ----------------------------------------------------------------------------------------------
# the reference evaluator


def reference_map(gt: Sequence[tuple], pred: Sequence[tuple], thresholds: Sequence[float], *,
                  variant: str = "anet", tie_policy: str = "stable", unknown: str = "raise",
                  factor: float = 25.0 / 16.0, class_order: str | None = None) -> dict[str, Any]:
    """AP [T, C], mAP [T], classes and tp [T, C] (number of true positives).

    gt: rows ``(video, t_start, t_end, label)`` in seconds.
    pred: rows ``(video, t_start, t_end, label, score)``; seconds for "anet", snippet indices (ints,
        W-TALC's own prediction format) for "wtalc"/"facnet".
    variant: "anet" (official: continuous tIoU, best free GT with fallback, interpolated AP, predictions
        on videos without GT are FPs), "wtalc" (snippet IoU, first-fit in list order, non-interpolated AP,
        only videos with GT), "facnet" (snippet IoU, best IoU with strict ``>`` scan, interpolated AP,
        only videos with GT).
    """
    if class_order is None:
        class_order = "first_appearance" if variant == "anet" else "sorted"
    classes = list(dict.fromkeys(r[3] for r in gt))
    if class_order == "sorted":
        classes = sorted(classes)
    known = set(classes)
    bad = [r[3] for r in pred if r[3] not in known]
    if bad and unknown == "raise":
        raise KeyError(bad[0])
    gt_videos = {r[0] for r in gt}
    T = len(thresholds)
    ap = np.zeros((T, len(classes)))
    tp = np.zeros((T, len(classes)), dtype=np.int64)
    for c_idx, c in enumerate(classes):
        gts = [r for r in gt if r[3] == c]
        preds = [r for r in pred if r[3] == c]
        if variant != "anet":
            preds = [r for r in preds if r[0] in gt_videos]
        if not preds:
            continue
        order = rank([r[4] for r in preds], family="anet" if variant == "anet" else "wtalc",
                     tie_policy=tie_policy)
        ranked = [preds[i] for i in order]
        for t, thr in enumerate(thresholds):
            if variant == "anet":
                hits = _official_hits(gts, ranked, thr, tie_policy)
                ap[t, c_idx] = interpolated_ap(hits, len(gts))
            else:
                hits = _wtalc_hits(gts, ranked, thr, factor, best=variant == "facnet")
                ap[t, c_idx] = (interpolated_ap if variant == "facnet" else noninterpolated_ap)(hits, len(gts))
            tp[t, c_idx] = sum(hits)
    mAP = ap.mean(axis=1)
    return {"ap": ap, "mAP": mAP, "average_mAP": float(mAP.mean()), "classes": classes, "tp": tp}


def _official_hits(gts: list[tuple], ranked: list[tuple], thr: float, tie_policy: str = "stable") -> list[bool]:
    locked = [False] * len(gts)
    hits = []
    for p in ranked:
        same = [j for j, g in enumerate(gts) if g[0] == p[0]]  # this_gt: the video's GT in class-GT order
        if not same:
            hits.append(False)
            continue
        if tie_policy == "numpy":  # literally: tiou_arr = segment_iou(...); tiou_arr.argsort()[::-1]
            tiou_arr = official_segment_iou(np.array([p[1], p[2]], dtype=np.float64),
                                            np.array([[gts[j][1], gts[j][2]] for j in same], dtype=np.float64))
            iou = dict(zip(same, tiou_arr.tolist()))
            cand = [same[k] for k in tiou_arr.argsort()[::-1].tolist()]
        else:
            iou = {j: official_tiou((p[1], p[2]), (gts[j][1], gts[j][2])) for j in same}
            # wtal's fixed rule: descending tIoU, NaN first, equal tIoU: later GT row first
            cand = sorted(same, key=lambda j: (0, 0.0, -j) if _isnan(iou[j]) else (1, -iou[j], -j))
        hit = False
        for j in cand:
            if iou[j] < thr:
                break
            if locked[j]:
                continue
            locked[j] = True
            hit = True
            break
        hits.append(hit)
    return hits


def _wtalc_hits(gts: list[tuple], ranked: list[tuple], thr: float, factor: float, best: bool) -> list[bool]:
    segment_gt = [[g[0], int(round(g[1] * factor)), int(round(g[2] * factor))] for g in gts]
    hits = []
    for p in ranked:
        pr = (int(p[1]), int(p[2]))
        if not best:  # W-TALC: first GT in list order with IoU >= th, deleted once matched
            flag = False
            for j in range(len(segment_gt)):
                if segment_gt[j][0] == p[0] and snippet_iou(pr, (segment_gt[j][1], segment_gt[j][2])) >= thr:
                    del segment_gt[j]
                    flag = True
                    break
            hits.append(flag)
        else:  # FAC-Net: largest IoU (strict >, so the earliest among equals) over the remaining GT
            matched, best_iou, best_j = False, 0.0, -1
            for j in range(len(segment_gt)):
                if segment_gt[j][0] == p[0]:
                    v = snippet_iou(pr, (segment_gt[j][1], segment_gt[j][2]))
                    if v >= thr:
                        if not matched or v > best_iou:
                            best_iou, best_j = v, j
                        matched = True
            if matched:
                del segment_gt[best_j]
            hits.append(matched)
    return hits


def wtalc_filter_ambiguous(pred: Sequence[tuple], ambiguous: Sequence[tuple], factor: float = 25.0 / 16.0) -> list:
    """W-TALC filter_segments: drop predictions (snippet units) overlapping an ambiguous segment (seconds)."""
    out = []
    for p in pred:
        drop = False
        for a in ambiguous:
            if a[0] == p[0]:
                g = set(range(int(round(a[1] * factor)), int(round(a[2] * factor))))
                q = set(range(int(p[1]), int(p[2])))
                if g | q and len(g & q) / len(g | q) > 0:
                    drop = True
        if not drop:
            out.append(p)
    return out


def actionformer_clean(gt: Sequence[tuple], tol: float = 1e-3) -> list[tuple]:
    """ActionFormer remove_duplicate_annotations, per video in file order."""
    kept: list[tuple] = []
    for r in gt:
        valid = (r[2] - r[1]) >= tol
        for q in kept:
            if q[0] == r[0] and abs(r[1] - q[1]) <= tol and abs(r[2] - q[2]) <= tol and r[3] == q[3]:
                valid = False
                break
        if valid:
            kept.append(r)
    return kept


def rows_to_columns(rows: Sequence[tuple], with_score: bool) -> dict[str, np.ndarray]:
    names = ["video", "t_start", "t_end", "label"] + (["score"] if with_score else [])
    cols: dict[str, np.ndarray] = {}
    for k, nm in enumerate(names):
        vals = [r[k] for r in rows]
        cols[nm] = np.array(vals, dtype=object) if nm in ("video", "label") else np.array(vals, dtype=np.float64)
    return cols


# ----------------------------------------------------------------------------------------------
# vectorised numpy implementation of the official spec (benchmark baseline)


def numpy_map(gt: dict[str, np.ndarray], pred: dict[str, np.ndarray], thresholds: Any) -> dict[str, Any]:
    """Official ActivityNet mAP in vectorised numpy (stable tie order); columns as in wtal.

    One process. Per class: predictions ranked with ``np.argsort(kind="stable")[::-1]``; all
    (prediction, GT of the same video) pairs and their tIoU computed at once; candidates ordered with
    one lexsort; the greedy matching is a Python loop over the candidate pairs with every threshold
    handled at once as a bit mask; AP with array operations (np.sum, as the official code). Equals the
    official evaluator on tie-free inputs. Supports up to 62 thresholds.
    """
    thr = np.asarray(thresholds, dtype=np.float64)
    T = len(thr)
    full = (1 << T) - 1
    bits = (np.int64(1) << np.arange(T, dtype=np.int64))
    classes = list(dict.fromkeys(gt["label"].tolist()))
    cidx = {c: i for i, c in enumerate(classes)}
    glab = np.array([cidx[x] for x in gt["label"].tolist()], dtype=np.int64)
    plab = np.array([cidx.get(x, -1) for x in pred["label"].tolist()], dtype=np.int64)
    if (plab < 0).any():
        raise KeyError("prediction label without ground truth")
    vidx = {v: i for i, v in enumerate(dict.fromkeys(gt["video"].tolist()))}
    gvid = np.array([vidx[v] for v in gt["video"].tolist()], dtype=np.int64)
    pvid = np.array([vidx.get(v, -1) for v in pred["video"].tolist()], dtype=np.int64)
    gs_all, ge_all = np.asarray(gt["t_start"], np.float64), np.asarray(gt["t_end"], np.float64)
    ps_all, pe_all = np.asarray(pred["t_start"], np.float64), np.asarray(pred["t_end"], np.float64)
    sc_all = np.asarray(pred["score"], np.float64)
    ap = np.zeros((T, len(classes)))
    pred_perm = np.argsort(plab, kind="stable")
    pbounds = np.searchsorted(plab[pred_perm], np.arange(len(classes) + 1))
    gt_perm = np.lexsort((gvid, glab))  # by class, then video, then row
    gbounds = np.searchsorted(glab[gt_perm], np.arange(len(classes) + 1))
    for c in range(len(classes)):
        rows = pred_perm[pbounds[c]:pbounds[c + 1]]
        P = len(rows)
        if P == 0:
            continue
        gidx = gt_perm[gbounds[c]:gbounds[c + 1]]  # class GT sorted by video, row order inside a video
        npos = len(gidx)
        rows = rows[np.argsort(sc_all[rows], kind="stable")[::-1]]
        gv = gvid[gidx]
        pv = pvid[rows]
        lo = np.searchsorted(gv, pv, side="left")
        cnt = np.searchsorted(gv, pv, side="right") - lo
        total = int(cnt.sum())
        pr = np.repeat(np.arange(P), cnt)
        start = np.cumsum(cnt) - cnt
        pj = np.repeat(lo - start, cnt) + np.arange(total)  # position in gidx
        ps, pe = ps_all[rows][pr], pe_all[rows][pr]
        gs, ge = gs_all[gidx][pj], ge_all[gidx][pj]
        inter = (np.minimum(pe, ge) - np.maximum(ps, gs)).clip(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = inter / ((ge - gs) + (pe - ps) - inter)
        nan = np.isnan(iou)
        key = np.where(nan, -np.inf, -np.where(nan, 0.0, iou))
        o = np.lexsort((-gidx[pj], key, ~nan, pr))  # rank, NaN first, tIoU desc, later GT row first
        pr, pj, iou = pr[o], pj[o], iou[o]
        passes = ((~(iou[:, None] < thr[None, :])) * bits[None, :]).sum(axis=1)
        locked = [0] * npos
        tp_mask = [0] * P
        undecided = full
        last = -1
        for r, j, ok in zip(pr.tolist(), pj.tolist(), passes.tolist()):
            if r != last:
                undecided, last = full, r
            if not undecided:
                continue
            take = undecided & ok & ~locked[j]
            locked[j] |= take
            tp_mask[r] |= take
            undecided &= ok & ~take
        hits = ((np.array(tp_mask, dtype=np.int64)[None, :] >> np.arange(T)[:, None]) & 1).astype(np.float64)
        tp_c = np.cumsum(hits, axis=1)
        fp_c = np.cumsum(1.0 - hits, axis=1)
        rec = tp_c / npos
        prec = tp_c / (tp_c + fp_c)
        z = np.zeros((T, 1))
        mprec = np.maximum.accumulate(np.hstack([z, prec, z])[:, ::-1], axis=1)[:, ::-1]
        mrec = np.hstack([z, rec, z + 1.0])
        for t in range(T):
            idx = np.flatnonzero(mrec[t, 1:] != mrec[t, :-1]) + 1
            ap[t, c] = np.sum((mrec[t, idx] - mrec[t, idx - 1]) * mprec[t, idx])
    mAP = ap.mean(axis=1)
    return {"ap": ap, "mAP": mAP, "average_mAP": float(mAP.mean()), "classes": classes}
