"""Plain-Python oracles of the authors' post-processing pipelines (one video, one class, one threshold
at a time), re-implemented from the published code for the tests and benchmarks of ``wtal.localize``.

* :func:`hamnet_oracle` — asrafulashiq/hamnet ``system/tester.py`` + ``utils/utils.py``
  (``get_cls_score``, ``get_proposal_oic``, ``grouping``, ``soft_nms``);
  research/seed_models.md §1.4.
* :func:`facnet_oracle` — LeonHLJ/FAC-Net ``evaluation/detectionMAP.py`` (``getActLoc``,
  ``NonMaximumSuppression``, ``filter_segments``, ``IntergrateSegs``, ``getTwoStreamDetectionMAP``);
  §2.4.
* :func:`bm_oracle` — the BM/STPN test path as coded in bfshi/DGAM ``lib/core/function.py
  test_final`` + ``lib/utils/utils.py`` (``get_wtCAM``, ``upgrade_resolution``, ``get_tempseg_list``,
  ``get_temp_proposal``, ``integrated_prop``, ``nms_prop``); §4.5.

Each takes a padded batch only for convenience and immediately loops over videos, slicing the valid
prefix of every row, exactly as the repositories see one video at a time. Each returns a list of rows
``(video, label, t_start, t_end, score)`` in the authors' output order.

Where the repositories' code is ambiguous or crashes, the oracle makes the choice documented on the
function (all of them are also documented in ``wtal.localize``):
* numpy's default ``argsort``/``sort`` are not stable for large inputs; the oracles use stable sorts,
  which equals the authors' behaviour for the small groups (<= 16 elements) where numpy's quicksort is
  an insertion sort.
* computations are in float64 (the authors mix float32 torch outputs with float64 numpy).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Row = tuple  # (video, label, t_start, t_end, score)


# ----------------------------------------------------------------------------------------------------
# shared helpers (the repositories' idioms)
# ----------------------------------------------------------------------------------------------------
def group_consecutive(idx: np.ndarray) -> list[np.ndarray]:
    """The ``grouping`` idiom: split sorted indices where they stop being consecutive."""
    return np.split(idx, np.where(np.diff(idx) != 1)[0] + 1)


def _sps(seconds_per_snippet, B: int) -> np.ndarray:
    s = np.asarray(seconds_per_snippet, dtype=np.float64)
    return np.broadcast_to(s, (B,)) if s.ndim == 0 else s


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


# ----------------------------------------------------------------------------------------------------
# HAM-Net
# ----------------------------------------------------------------------------------------------------
def hamnet_soft_nms(dets: list[list[float]], sigma: float = 0.3, *, tie_break: str = "authors"):
    """Gaussian soft-NMS of HAM-Net: ``dets`` rows ``[class, score, t_start, t_end]``; nothing is
    removed, every row comes back (in selection order) with its decayed score. One numpy step per
    selected row, as the repository's ``soft_nms``.

    ``tie_break="authors"``: the repository picks ``np.argmax`` (first maximum) of the working array
    after swapping the selected row into slot 0 and dropping it, which moves the previous slot-0 row
    into the selected row's place. ``tie_break="stable"``: first maximum in input order (wtal's NMS).
    """
    work = np.array(dets, dtype=np.float64).reshape(-1, 4)
    work = np.concatenate([work, (work[:, 3] - work[:, 2] + 1)[:, None]], axis=1)
    out = []
    while work.shape[0] > 0:
        m = int(np.argmax(work[:, 1]))
        if tie_break == "authors":
            work[[0, m], :] = work[[m, 0], :]
        else:
            work = np.concatenate([work[m:m + 1], work[:m], work[m + 1:]])
        out.append(work[0, :4].tolist())
        lo = np.maximum(work[0, 2], work[1:, 2])
        hi = np.minimum(work[0, 3], work[1:, 3])
        inter = np.maximum(hi - lo + 1, 0.0)
        iou = inter / (work[0, 4] + work[1:, 4] - inter)
        work[1:, 1] *= np.exp(-(iou * iou) / sigma)
        work = work[1:]
    for o in out:
        o[0] = int(o[0])
    return out


def hamnet_tie_sensitive(dets: list[list[float]]) -> bool:
    """True if, at some step of HAM-Net's soft-NMS, two rows with different segments share the
    maximum score (then the authors' swap-based tie order and the stable order can differ)."""
    work = [list(d) for d in dets]
    while work:
        scores = np.array([w[1] for w in work])
        top = np.flatnonzero(scores == scores.max())
        segs = {(work[i][2], work[i][3]) for i in top}
        if len(segs) > 1:
            return True
        m = int(top[0])
        t = work.pop(m)
        for r in work:
            lo, hi = max(t[2], r[2]), min(t[3], r[3])
            inter = max(hi - lo + 1.0, 0.0)
            iou = inter / ((t[3] - t[2] + 1.0) + (r[3] - r[2] + 1.0) - inter)
            r[1] = r[1] * math.exp(-(iou * iou) / 0.3)
    return False


def hamnet_oracle(cas, attention, lengths, videos: Sequence[str], classes: Sequence[str],
                  seconds_per_snippet, *, rat: int = 10, class_threshold: float = 0.2,
                  thresholds=None, gamma: float = 0.2, outer_ratio: float = 0.25, sigma: float = 0.3,
                  tie_break: str = "authors", info: dict | None = None) -> list[Row]:
    """HAM-Net test path: ``cas`` [B, T, C+1] logits (background last), ``attention`` [B, T]."""
    cas = np.asarray(cas, dtype=np.float64)
    attention = np.asarray(attention, dtype=np.float64)
    thresholds = np.linspace(0.1, 0.9, 10) if thresholds is None else np.asarray(thresholds, np.float64)
    sps = _sps(seconds_per_snippet, cas.shape[0])
    rows: list[Row] = []
    tie = False
    for b in range(cas.shape[0]):
        T = int(lengths[b])
        elem = cas[b, :T]
        atn = attention[b, :T]
        if np.isnan(elem).any() or np.isnan(atn).any():
            raise ValueError("NaN input")
        logits = elem * atn[:, None]                      # s_supp, background column included
        k = max(1, int(T // rat))
        topk = -np.sort(-logits, axis=0)[:k]
        video_score = _softmax(topk.mean(axis=0))[:-1]
        pred = np.where(video_score >= class_threshold)[0]
        if len(pred) == 0:
            continue
        per_class: dict[int, list] = {}
        for thr in thresholds:
            positions = np.where(atn > thr)[0]            # the same positions for every class
            if not positions.any():                       # `if temp_list.any()` (index 0 only: dropped)
                continue
            groups = group_consecutive(positions)
            for c in pred:
                cas_c = logits[:, c]
                for g in groups:
                    inner = np.mean(cas_c[g])
                    n = len(g)
                    outer_s = max(0, int(g[0] - outer_ratio * n))
                    outer_e = min(int(T - 1), int(g[-1] + outer_ratio * n))
                    outer_idx = list(range(outer_s, int(g[0]))) + list(range(int(g[-1] + 1), outer_e + 1))
                    outer = 0 if len(outer_idx) == 0 else np.mean(cas_c[outer_idx])
                    score = inner - outer + gamma * video_score[c]
                    per_class.setdefault(int(c), []).append(
                        [int(c), score, g[0] * sps[b], (g[-1] + 1) * sps[b]])
        for c, dets in per_class.items():
            if info is not None:
                tie = tie or hamnet_tie_sensitive(dets)
            for d in hamnet_soft_nms(dets, sigma, tie_break=tie_break):
                rows.append((videos[b], classes[d[0]], float(d[2]), float(d[3]), float(d[1])))
    if info is not None:
        info["tie_sensitive"] = tie
    return rows


# ----------------------------------------------------------------------------------------------------
# FAC-Net
# ----------------------------------------------------------------------------------------------------
def facnet_nms(props: list[list[float]], threshold: float) -> list[int]:
    """FAC-Net ``NonMaximumSuppression``: rows ``[video, s, e, score]``; overlap of the picked row with
    another = (plus-one intersection) / (plus-one length of the other); remove when > threshold.
    Picks the last index of an ascending (stable) argsort, i.e. ties go to the later row."""
    if len(props) == 0:
        return []
    a = np.asarray(props, dtype=np.float64)
    s, e, sc = a[:, 1], a[:, 2], a[:, 3]
    area = e - s + 1
    idxs = np.argsort(sc, kind="stable")
    pick = []
    while len(idxs) > 0:
        last = len(idxs) - 1
        i = idxs[last]
        pick.append(int(i))
        l = np.maximum(0, np.minimum(e[i], e[idxs[:last]]) - np.maximum(s[i], s[idxs[:last]]) + 1)
        overlap = l / area[idxs[:last]]
        idxs = np.delete(idxs, np.concatenate(([last], np.where(overlap > threshold)[0])))
    return pick


def _facnet_stream(cas, video_scores, lengths, thresholds, class_idx, *, class_threshold,
                   min_len, outer_ratio, outer_weight, nms_threshold, ambiguous, sps):
    """``getActLoc`` of one stream: dict (video, class) -> list of [video, s, e+1, score] in pick order."""
    out: dict[tuple[int, int], list] = {}
    for c in class_idx:
        for i in range(cas.shape[0]):
            T = int(lengths[i])
            vid_cas = cas[i, :T, c]
            if np.isnan(vid_cas).any() or np.isnan(video_scores[i]).any():
                raise ValueError("NaN input")
            if video_scores[i][c] < class_threshold:
                continue
            props = []
            for thr in thresholds:
                padded = np.concatenate([np.zeros(1), (vid_cas > thr).astype("float32"), np.zeros(1)])
                diff = [padded[t] - padded[t - 1] for t in range(1, len(padded))]
                starts = [t for t, d in enumerate(diff) if d == 1]
                ends = [t for t, d in enumerate(diff) if d == -1]
                for s, e in zip(starts, ends):
                    n = e - s
                    if n >= min_len:
                        inner = np.mean(vid_cas[s:e + 1])
                        outer_s = max(0, int(s - outer_ratio * n))
                        outer_e = min(int(T - 1), int(e + outer_ratio * n + 1))
                        outer_idx = list(range(outer_s, int(s))) + list(range(int(e + 1), outer_e))
                        outer = 0 if len(outer_idx) == 0 else np.mean(vid_cas[outer_idx])
                        props.append([i, s, e + 1, inner - outer_weight * outer])
            picked = [props[k] for k in facnet_nms(props, nms_threshold)]
            if ambiguous is not None:
                picked = [p for p in picked if not _ambiguous_hit(p, ambiguous.get(i, ()), 1.0 / sps[i])]
            if picked:
                out[(i, int(c))] = picked
    return out


def _ambiguous_hit(p, segs, factor) -> bool:
    """``filter_segments``: any snippet shared with an ambiguous segment of the same video."""
    pd = set(range(int(p[1]), int(p[2])))
    for a0, a1 in segs:
        gt = set(range(int(round(float(a0) * factor)), int(round(float(a1) * factor))))
        if len(gt.intersection(pd)) / max(1, len(gt.union(pd))) > 0:
            return True
    return False


def facnet_oracle(cas_rgb, video_scores_rgb, cas_flow, video_scores_flow, lengths,
                  videos: Sequence[str], classes: Sequence[str], seconds_per_snippet, *,
                  class_threshold: float = 0.1, thresholds=None, min_len: int = 3,
                  outer_ratio: float = 0.25, outer_weight: float = 0.6, nms_threshold: float = 0.2,
                  rgb_scale: float = 0.1, fusion_threshold: float = 0.9, class_subset=None,
                  ambiguous: dict | None = None, units: str = "seconds") -> list[Row]:
    """FAC-Net test path. ``cas_*`` [B, T, C+1] snippet softmax, ``video_scores_*`` [B, C+1] ``ca_pred``.

    Pass ``cas_rgb=None`` or ``cas_flow=None`` for the single-stream path (no RGB scaling, no fusion).
    ``ambiguous``: {video index: [(t0, t1), ...]} seconds, filtered with factor 1/seconds_per_snippet.
    Departures from the repository (documented in wtal.localize.facnet): all B videos are fused (the
    code hard-codes 212), a class without proposals in one stream does not crash the fusion.
    """
    thresholds = np.arange(0.03, 0.055, 0.005) if thresholds is None else np.asarray(thresholds, np.float64)
    streams = []
    ref = cas_rgb if cas_rgb is not None else cas_flow
    C = np.asarray(ref).shape[2] - 1
    class_idx = list(range(C)) if class_subset is None else sorted(classes.index(c) for c in class_subset)
    sps = _sps(seconds_per_snippet, np.asarray(ref).shape[0])
    kw = dict(class_threshold=class_threshold, min_len=min_len, outer_ratio=outer_ratio,
              outer_weight=outer_weight, nms_threshold=nms_threshold, ambiguous=ambiguous, sps=sps)
    two = cas_rgb is not None and cas_flow is not None
    if cas_rgb is not None:
        c = np.asarray(cas_rgb, np.float64)
        t = thresholds
        if two:
            c, t = c * rgb_scale, thresholds * rgb_scale
        streams.append(_facnet_stream(c, np.asarray(video_scores_rgb, np.float64), lengths, t,
                                      class_idx, **kw))
    if cas_flow is not None:
        streams.append(_facnet_stream(np.asarray(cas_flow, np.float64),
                                      np.asarray(video_scores_flow, np.float64), lengths, thresholds,
                                      class_idx, **kw))
    if two:
        rgb, flow = streams
        merged = {}
        for key in set(rgb) | set(flow):
            if key in rgb and key in flow:
                fused = rgb[key] + flow[key]
                merged[key] = [fused[k] for k in facnet_nms(fused, fusion_threshold)]
            else:
                merged[key] = rgb.get(key, flow.get(key))
    else:
        merged = streams[0]
    rows: list[Row] = []
    for (i, c) in sorted(merged, key=lambda k: (k[1], k[0])):   # the repository's class-major order
        f = 1.0 if units == "snippets" else float(sps[i])
        for p in merged[(i, c)]:
            rows.append((videos[i], classes[c], p[1] * f, p[2] * f, float(p[3])))
    return rows


# ----------------------------------------------------------------------------------------------------
# BM (DGAM test_final reading)
# ----------------------------------------------------------------------------------------------------
def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def bm_upsample(arr: np.ndarray, scale: int) -> np.ndarray:
    """``upgrade_resolution``: scipy interp1d linear with extrapolation at np.arange(0, T, 1/scale).
    A length-1 sequence (which interp1d refuses) is held constant."""
    from scipy.interpolate import interp1d

    x_new = np.arange(0, arr.shape[0], 1 / scale)
    if arr.shape[0] == 1:
        return np.repeat(arr, len(x_new), axis=0)
    f = interp1d(np.arange(0, arr.shape[0]), arr, kind="linear", axis=0, fill_value="extrapolate")
    return f(x_new)


def _bm_predict(vs: np.ndarray, class_threshold: float) -> np.ndarray:
    if vs.max() > class_threshold:
        return np.where(vs > class_threshold)[0]
    return np.array([int(np.argmax(vs))])


def _bm_stream(tcam_self, tcam_other, att, pred, *, alpha, scale, thr, smooth_sigma, t_factor,
               outer_weight):
    """``get_wtCAM`` + ``interpolated_wtCAM`` + ``get_tempseg_list`` + ``get_temp_proposal``."""
    from scipy.ndimage import gaussian_filter1d

    att = att[:, None]
    wt = att * _expit(tcam_self)
    signal = wt[:, pred]
    sub = att * _expit(tcam_other)
    score = (att * (alpha * wt + (1 - alpha) * sub))[:, pred]
    up = bm_upsample(np.stack([signal, score], axis=2), scale)     # [L, P, 2]
    up_att = bm_upsample(att, scale)                                # [L, 1]
    L = up.shape[0]
    out = []
    for i, c in enumerate(pred):
        sig = 0.8 * up[:, i, 0] + 0.2 * up_att[:, 0] * up_att[:, 0]
        if smooth_sigma is not None:
            sig = gaussian_filter1d(sig, sigma=smooth_sigma)
        positions = np.where(sig > thr)[0]
        props = []
        if positions.any():
            for g in group_consecutive(positions):
                q = g.size // 4 + 1
                if g[0] > 0:
                    left = np.mean(up[range(max(0, g[0] - q), g[0]), i, 1])
                else:
                    left = 0
                if g[-1] < L - 1:
                    right = np.mean(up[range(g[-1] + 1, min(L, g[-1] + 1 + q)), i, 1])
                else:
                    right = 0
                s = np.mean(up[g, i, 1]) - outer_weight * (left + right)
                props.append((int(c), float(s), g[0] * t_factor, (g[-1] + 1) * t_factor))
        out.append(props)
    return out


def bm_nms(props: list[tuple], iou_threshold: float) -> list[int]:
    """``nms_prop`` (torchvision.ops.nms on fake boxes): rows already sorted by descending score;
    greedy in that order (stable), remove when IoU > threshold. float64 here (the repository casts to
    float32 tensors; see wtal.localize.bm)."""
    keep, removed = [], [False] * len(props)
    for i in range(len(props)):
        if removed[i]:
            continue
        keep.append(i)
        for j in range(i + 1, len(props)):
            if removed[j]:
                continue
            lo = max(props[i][2], props[j][2])
            hi = min(props[i][3], props[j][3])
            inter = max(0.0, hi - lo)
            union = (props[i][3] - props[i][2]) + (props[j][3] - props[j][2]) - inter
            if union > 0 and inter / union > iou_threshold:
                removed[j] = True
    return keep


def bm_oracle(tcam_rgb, attention_rgb, video_scores_rgb, tcam_flow, attention_flow, video_scores_flow,
              lengths, videos: Sequence[str], classes: Sequence[str], seconds_per_snippet, *,
              class_threshold: float = 0.1, alpha_rgb: float = 0.35, alpha_flow: float = 0.65,
              threshold_rgb: float = 0.03, threshold_flow: float = 0.08, scale: int = 20,
              smooth_sigma: float | None = None, outer_weight: float = 0.3,
              fusion_iou: float = 0.5) -> list[Row]:
    """BM two-stream test path. ``tcam_*`` [B, T, C] T-CAM logits, ``attention_*`` [B, T],
    ``video_scores_*`` [B, C] class probabilities (softmax over C+1, background dropped)."""
    tr, tf = np.asarray(tcam_rgb, np.float64), np.asarray(tcam_flow, np.float64)
    ar, af = np.asarray(attention_rgb, np.float64), np.asarray(attention_flow, np.float64)
    vr, vf = np.asarray(video_scores_rgb, np.float64), np.asarray(video_scores_flow, np.float64)
    sps = _sps(seconds_per_snippet, tr.shape[0])
    rows: list[Row] = []
    for b in range(tr.shape[0]):
        T = int(lengths[b])
        for x in (tr[b, :T], tf[b, :T], ar[b, :T], af[b, :T], vr[b], vf[b]):
            if np.isnan(x).any():
                raise ValueError("NaN input")
        t_factor = float(sps[b]) / scale
        rp, fp = _bm_predict(vr[b], class_threshold), _bm_predict(vf[b], class_threshold)
        r_check, f_check = bool(rp.any()), bool(fp.any())    # `if pred.any()`: [0] alone is dropped
        common = dict(scale=scale, smooth_sigma=smooth_sigma, t_factor=t_factor, outer_weight=outer_weight)
        rprop = _bm_stream(tr[b, :T], tf[b, :T], ar[b, :T], rp, alpha=alpha_rgb, thr=threshold_rgb,
                           **common) if r_check else None
        fprop = _bm_stream(tf[b, :T], tr[b, :T], af[b, :T], fp, alpha=alpha_flow, thr=threshold_flow,
                           **common) if f_check else None
        if r_check and f_check:
            out = []
            rl, fl = list(rp), list(fp)
            for c in range(tr.shape[2]):
                if c in rl and c in fl:
                    fused = set(rprop[rl.index(c)]) | set(fprop[fl.index(c)])
                    # np.sort(view(f8,f8,f8,f8), order=['f1'])[::-1]: descending score, remaining
                    # fields (class, t_start, t_end) break ties, also reversed.
                    fused = sorted(fused, key=lambda p: (p[1], p[0], p[2], p[3]), reverse=True)
                    out += [fused[k] for k in bm_nms(fused, fusion_iou)]
                elif c in rl:
                    out += rprop[rl.index(c)]
                elif c in fl:
                    out += fprop[fl.index(c)]
        elif r_check:
            out = [p for props in rprop for p in props]
        elif f_check:
            out = [p for props in fprop for p in props]
        else:
            out = []
        for p in out:
            rows.append((videos[b], classes[p[0]], float(p[2]), float(p[3]), float(p[1])))
    return rows


# ----------------------------------------------------------------------------------------------------
# realistic random batches (tests and benchmarks)
# ----------------------------------------------------------------------------------------------------
def smooth_noise(rng: np.random.Generator, B: int, T: int, width: float) -> np.ndarray:
    """[B, T] smooth zero-mean unit-variance noise (Gaussian-filtered white noise)."""
    from scipy.ndimage import gaussian_filter1d

    z = gaussian_filter1d(rng.standard_normal((B, T)), sigma=width, axis=1, mode="reflect")
    sd = z.std(axis=1, keepdims=True)
    return np.clip(z / np.where(sd > 1e-6, sd, 1.0), -8.0, 8.0)   # short rows: nearly constant


def make_hamnet_batch(lengths, num_classes: int, seed: int = 0, *, width: float = 6.0,
                      present: tuple[int, int] = (1, 3), dtype=np.float32):
    """(cas [B, T, C+1], attention [B, T]) shaped like HAM-Net outputs: attention is smooth (runs of
    tens of snippets at most thresholds), 1-3 "present" classes per video with high logits, so a few
    classes pass the 0.2 video-score threshold. Padding holds zeros."""
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, dtype=np.int64)
    B, T, C = len(lengths), int(lengths.max()), num_classes
    att = 1.0 / (1.0 + np.exp(-2.2 * smooth_noise(rng, B, T, width)))
    cas = rng.normal(-1.0, 0.7, size=(B, T, C + 1))
    cas[..., C] = rng.normal(0.0, 0.5, size=(B, T))
    for b in range(B):
        k = rng.integers(present[0], present[1] + 1)
        cls = rng.choice(C, size=min(k, C), replace=False)
        cas[b, :, cls] += 4.0 + 0.8 * smooth_noise(rng, len(cls), T, width)
    mask = np.arange(T)[None, :] < lengths[:, None]
    cas[~mask] = 0.0
    att[~mask] = 0.0
    return cas.astype(dtype), att.astype(dtype)


def thumos14_test_lengths(root: str | None = None) -> tuple[list[str], np.ndarray]:
    """Names and T = round(duration * 25 / 16) of the 212 THUMOS14 test videos (W-TALC fixture)."""
    import os

    from wtal.safe_npy import load_npy, to_str

    root = root or os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "thumos14_reduced")
    names = np.array([to_str(v) for v in load_npy(os.path.join(root, "videoname.npy"))])
    subset = np.array([to_str(v) for v in load_npy(os.path.join(root, "subset.npy"))])
    dur = load_npy(os.path.join(root, "duration.npy")).astype(np.float64).reshape(-1)
    m = subset == "test"
    return list(names[m]), np.round(dur[m] * 25 / 16).astype(np.int64)


# ----------------------------------------------------------------------------------------------------
# comparisons (tests)
# ----------------------------------------------------------------------------------------------------
RTOL = 1e-6
ATOL = 1e-12


def rows_of(det) -> list[tuple]:
    return list(zip(det.video.tolist(), det.label.tolist(), det.t_start.tolist(), det.t_end.tolist(),
                    det.score.tolist()))


def assert_same_detections(det, expected: list[tuple], *, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Same multiset of (video, label, t_start, t_end) exactly; scores matched within rtol/atol."""
    got = sorted(rows_of(det))
    exp = sorted(expected)
    assert len(got) == len(exp), f"{len(got)} detections, oracle has {len(exp)}"
    for g, e in zip(got, exp):
        assert g[:4] == e[:4], f"segment {g[:4]} != oracle {e[:4]}"
        assert abs(g[4] - e[4]) <= rtol * abs(e[4]) + atol, f"score {g[4]!r} != oracle {e[4]!r} for {g[:4]}"


def assert_canonical_order(det, videos, classes) -> None:
    """Video in batch order, class index ascending, score descending."""
    vi = {v: i for i, v in enumerate(videos)}
    ci = {c: i for i, c in enumerate(classes)}
    keys = [(vi[v], ci[l], -s) for v, l, s in zip(det.video, det.label, det.score)]
    assert keys == sorted(keys)


def names(B: int, C: int) -> tuple[list[str], list[str]]:
    return [f"video_{b:03d}" for b in range(B)], [f"class_{c}" for c in range(C)]


def pad_tail(x: np.ndarray, lengths: np.ndarray, value: float) -> np.ndarray:
    x = x.copy()
    T = x.shape[1]
    m = np.arange(T)[None, :] >= np.asarray(lengths)[:, None]
    x[m] = value
    return x


def make_facnet_stream(lengths, num_classes: int, seed: int = 0, *, width: float = 5.0):
    """(cas [B, T, C+1] snippet softmax, video_scores [B, C+1]) shaped like one FAC-Net stream:
    probabilities near 1/(C+1) with smooth bumps for 1-3 present classes, which cross the 0.03-0.05
    thresholds in runs of tens of snippets; ``ca_pred`` puts those classes above 0.1."""
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, dtype=np.int64)
    B, T, C = len(lengths), int(lengths.max()), num_classes
    logits = rng.normal(0.0, 0.15, size=(B, T, C + 1))
    vs = rng.uniform(0.0, 0.05, size=(B, C + 1))
    for b in range(B):
        cls = rng.choice(C, size=min(int(rng.integers(1, 4)), C), replace=False)
        logits[b, :, cls] += 0.9 * smooth_noise(rng, len(cls), T, width)
        vs[b, cls] = rng.uniform(0.1, 0.6, size=len(cls))
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    cas = e / e.sum(axis=2, keepdims=True)
    cas[np.arange(T)[None, :] >= lengths[:, None]] = 0.0
    return cas.astype(np.float32), (vs / vs.sum(axis=1, keepdims=True) * 1.5).clip(0, 1).astype(np.float32)


def make_bm_batch(lengths, num_classes: int, seed: int = 0, *, width: float = 4.0):
    """Two streams (tcam [B, T, C], attention [B, T], video_scores [B, C]) x 2 shaped like BM outputs."""
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, dtype=np.int64)
    B, T, C = len(lengths), int(lengths.max()), num_classes
    out = []
    present = [rng.choice(C, size=min(int(rng.integers(1, 3)), C), replace=False) for _ in range(B)]
    for _ in range(2):
        tcam = rng.normal(-3.0, 1.0, size=(B, T, C))
        att = 1.0 / (1.0 + np.exp(-2.5 * smooth_noise(rng, B, T, width) + 0.5))
        vs = rng.uniform(0.0, 0.05, size=(B, C))
        for b in range(B):
            tcam[b, :, present[b]] += 4.0 + smooth_noise(rng, len(present[b]), T, width)
            vs[b, present[b]] = rng.uniform(0.15, 0.7, size=len(present[b]))
        mask = np.arange(T)[None, :] >= lengths[:, None]
        tcam[mask] = 0.0
        att[mask] = 0.0
        out += [tcam.astype(np.float32), att.astype(np.float32), vs.astype(np.float32)]
    return tuple(out)


def activitynet13_validation_lengths(path: str | None = None) -> tuple[list[str], np.ndarray]:
    """Names and T = max(1, round(seconds * 25 / 16)) of the 4,728 ActivityNet 1.3 validation videos
    (benchmarks/data/activitynet13_validation_durations.csv)."""
    import os

    path = path or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks",
                                "data", "activitynet13_validation_durations.csv")
    names, secs = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or line.startswith("video,"):
                continue
            n, s = line.strip().split(",")
            names.append(n)
            secs.append(float(s))
    return names, np.maximum(1, np.round(np.asarray(secs) * 25 / 16)).astype(np.int64)
