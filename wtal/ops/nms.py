"""Greedy 1-D non-maximum suppression (hard, Gaussian and linear soft-NMS), batched over groups.

One call handles every (video, class) group of a dataset: pass ``groups`` (e.g. ``video * C + class``)
and NMS runs independently inside each group, in parallel over groups (CPU threads, or one CUDA block
per group for CUDA tensors).

Reproducing the published post-processing (``research/evaluation.md`` §4): pass the settings of
:func:`nms_settings`, e.g. ``nms(segs, scores, groups=g, **nms_settings("hamnet"))``.

=====================  ========  =================  =======  ===========================================
preset                 method    overlap            thr      other settings / notes
=====================  ========  =================  =======  ===========================================
``actionformer``       gaussian  iou, eps 1e-6      (0.1)    sigma 0.5, min_score 0.001, max_num 200,
                                                             always_keep_top (THUMOS ``thumos_i3d.yaml``)
``actionformer_anet``  gaussian  iou, eps 1e-6      (0.1)    sigma 0.75, min_score 0.001, max_num 100
``actionformer_hard``  hard      iou, eps 1e-6      0.1      ``score > 0.001`` pre-filter, max_num 200
``basnet``             hard      plus_one           0.7      suppress ``iou >= 0.7``
``um``                 hard      plus_one           0.6      suppress ``iou >= 0.6``
``hamnet``             gaussian  plus_one           (0.7)    sigma 0.3; every segment is kept, decayed
``facnet``             hard      inter_over_other   0.2      strict ``overlap > 0.2`` (suppress_equal off)
``facnet_fusion``      hard      inter_over_other   0.9      RGB/flow fusion NMS of FAC-Net
=====================  ========  =================  =======  ===========================================

(thr) in parentheses: passed by the repository but ignored by the Gaussian decay.

What the presets do not reproduce: tie order (the repositories use numpy/torch sorts that are not
stable, or argmax over arrays they permute while running; wtal breaks ties by input index), and
ActionFormer's float32 arithmetic (wtal computes in float64). Steps around NMS (ActionFormer's pre-NMS
top-k and score filter, its merge and re-sort of the classes of a video, segment voting; FAC-Net's
ambiguous-segment filter) belong to the callers (``wtal.localize``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from wtal._ext import _C
from wtal.ops._arrays import check_choice, check_float, check_positive_int, float_array, int_array
from wtal.ops._device import is_torch

__all__ = ["nms", "nms_settings", "NMS_PRESETS"]

METHODS = {"hard": 0, "gaussian": 1, "linear": 2}
OVERLAPS = {"iou": 0, "plus_one": 1, "inter_over_other": 2}

# ActionFormer's hard path keeps `score > min_score`; nms keeps `score >= min_score`. For float64 scores
# the two agree when min_score is replaced by the next float64 above it.
_AF_STRICT_MIN = float(np.nextafter(0.001, np.inf))

NMS_PRESETS: dict[str, dict[str, Any]] = {
    # happyharrycn/actionformer_release: libs/utils/csrc/nms_cpu.cpp softnms_1d_cpu (method 2) via
    # libs/utils/nms.py SoftNMSop, configs/thumos_i3d.yaml (multiclass: groups = video * C + class).
    "actionformer": dict(method="gaussian", overlap="iou", length_eps=1e-6, iou_threshold=0.1, sigma=0.5,
                         min_score=0.001, max_num=200, always_keep_top=True, suppress_equal=True),
    # configs/anet_tsp.yaml: class-agnostic (groups = video), sigma 0.75, 100 segments.
    "actionformer_anet": dict(method="gaussian", overlap="iou", length_eps=1e-6, iou_threshold=0.1, sigma=0.75,
                              min_score=0.001, max_num=100, always_keep_top=True, suppress_equal=True),
    # nms_1d_cpu via NMSop (use_soft_nms=False): `scores > min_score` pre-filter, drop iou >= thr.
    "actionformer_hard": dict(method="hard", overlap="iou", length_eps=1e-6, iou_threshold=0.1,
                              min_score=_AF_STRICT_MIN, max_num=200, suppress_equal=True),
    # Pilhyeon/BaSNet-pytorch utils.py nms (test.py: 0.7), per video and class.
    "basnet": dict(method="hard", overlap="plus_one", iou_threshold=0.7, suppress_equal=True),
    # UM (Pilhyeon/WTAL-Uncertainty-Modeling) utils.py nms (test.py: 0.6).
    "um": dict(method="hard", overlap="plus_one", iou_threshold=0.6, suppress_equal=True),
    # asrafulashiq/hamnet utils/utils.py soft_nms (system/tester.py: iou_thr 0.7, sigma 0.3).
    "hamnet": dict(method="gaussian", overlap="plus_one", iou_threshold=0.7, sigma=0.3, suppress_equal=False),
    # LeonHLJ/FAC-Net evaluation/detectionMAP.py NonMaximumSuppression(…, 0.2), snippet units.
    "facnet": dict(method="hard", overlap="inter_over_other", iou_threshold=0.2, suppress_equal=False),
    # FAC-Net IntergrateSegs (two-stream fusion): the same NMS at 0.9.
    "facnet_fusion": dict(method="hard", overlap="inter_over_other", iou_threshold=0.9, suppress_equal=False),
}


#: Longest segment accepted (csrc/cpu/nms.h kNmsMaxLength): two lengths plus length_eps still fit a
#: float64, so the IoU union never overflows to inf (which would turn an IoU of 1 into 0).
MAX_SEGMENT_LENGTH = 2.0 ** 1020

_NMS_KEYWORDS = ("iou_threshold", "method", "sigma", "min_score", "max_num", "overlap", "suppress_equal",
                 "always_keep_top", "length_eps")


def nms_settings(name: str, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of :func:`nms` that reproduce a repository's NMS (see the module table).

    Returns a fresh dict, e.g. ``nms_settings("hamnet") == {"method": "gaussian", "overlap": "plus_one",
    "iou_threshold": 0.7, "sigma": 0.3, "suppress_equal": False}``; ``overrides`` replace entries
    (``nms_settings("um", iou_threshold=0.5)``). Use as ``nms(segs, scores, groups=g, **settings)``.

    Raises:
        ValueError: unknown preset ``name`` or an override that is not an :func:`nms` keyword.
    """
    check_choice(name, "name", tuple(NMS_PRESETS))
    unknown = sorted(set(overrides) - set(_NMS_KEYWORDS))
    if unknown:
        raise ValueError(f"overrides must be nms keywords {list(_NMS_KEYWORDS)}, got {unknown}")
    return {**NMS_PRESETS[name], **overrides}


def nms(segments: Any, scores: Any, *, iou_threshold: float, method: str = "hard", sigma: float = 0.5,
        min_score: float | None = None, max_num: int | None = None, groups: Any = None,
        overlap: str = "iou", suppress_equal: bool = True, always_keep_top: bool = False,
        length_eps: float = 0.0, kept_order: str = "selection") -> tuple[Any, Any]:
    """Greedy NMS in descending score, independently inside each group.

    Args:
        segments: ``[N, 2]`` (start, end) with ``start <= end``, float32 or float64.
        scores: ``[N]`` float32 or float64.
        iou_threshold: overlap threshold of the hard and linear methods, in ``[0, 1]`` (ignored by
            ``"gaussian"``, which decays every candidate).
        method: ``"hard"`` removes every candidate whose overlap with a selected segment reaches the
            threshold; ``"gaussian"`` multiplies each remaining score by ``exp(-overlap**2 / sigma)`` after
            every selection; ``"linear"`` multiplies it by ``1 - overlap`` when the overlap reaches the
            threshold.
        sigma: Gaussian width, ``> 0``.
        min_score: after each selection, remaining candidates whose (decayed) score is ``< min_score`` are
            discarded, and a group's first selection must itself be ``>= min_score`` (unless
            ``always_keep_top``). ``None``: nothing is discarded by score.
        max_num: at most this many segments per group (the first ones selected). ``None``: no cap.
        groups: ``[N]`` integer group ids (e.g. ``video * num_classes + class``); ``None``: one group.
        overlap: ``"iou"`` (continuous tIoU, ``inter / (len_i + len_j - inter)``), ``"plus_one"``
            (BaSNet/UM/HAM-Net: ``+1`` on lengths and intersection), or ``"inter_over_other"`` (FAC-Net:
            plus-one intersection divided by the plus-one length of the *lower-ranked* candidate; not
            symmetric).
        suppress_equal: ``True``: act when ``overlap >= iou_threshold`` (BaSNet, UM, ActionFormer);
            ``False``: only when ``overlap > iou_threshold`` (FAC-Net; HAM-Net's linear/hard branches).
        always_keep_top: keep each group's first selection even if it is below ``min_score``; this
            reproduces ActionFormer's ``softnms_1d_cpu``, which never tests the first-selected segment.
        length_eps: added to each segment length in the union of ``overlap="iou"`` (ActionFormer uses
            ``1e-6``, which also keeps the IoU of two zero-length segments finite).
        kept_order: ``"selection"`` lists each group's survivors in selection order; ``"score"`` by
            descending final score, ties in selection order (soft decays can raise a later selection's
            negative score above an earlier one's, so the two differ).

    Returns:
        ``(keep, kept_scores)``: ``keep`` int64 ``[K]`` indexes the input, ordered by group id ascending,
        then by ``kept_order`` within the group; ``kept_scores`` ``[K]`` are the final scores (decayed,
        for soft methods) in the dtype of ``scores`` (computed in float64). numpy in, numpy out; torch in,
        torch out on the same device (CUDA tensors run the CUDA kernel).

    Ties and edges: the greedy step selects the highest current score, ties going to the lowest input
    index (stable). Zero-length segments are valid; two zero-length segments have IoU 0 (with
    ``length_eps == 0``). An overlap exactly equal to the threshold is suppressed iff ``suppress_equal``.
    Hard NMS removes suppressed candidates (it does not keep them with score 0). Empty input gives empty
    outputs.

    Cost: CPU, per group O(n log n + pairs that overlap) (candidates farther apart than the longest segment
    are never compared; their overlap is 0), groups spread over threads. CUDA, one thread block per group,
    O(n * selections / 256) per group: many groups run concurrently, one huge group uses one SM.

    Raises:
        ValueError: shapes disagree, NaN/inf in ``segments`` or ``scores``, a reversed segment
            (``end < start``), a segment longer than :data:`MAX_SEGMENT_LENGTH` (``2**1020``), group ids
            that do not fit int64, or an argument out of range; the message names the argument.
        TypeError: non-float ``segments``/``scores``, non-integer ``groups``, non-bool flags.
    """
    check_choice(method, "method", tuple(METHODS))
    check_choice(overlap, "overlap", tuple(OVERLAPS))
    iou_threshold = check_float(iou_threshold, "iou_threshold", lo=0.0, hi=1.0)
    sigma = check_float(sigma, "sigma")
    if not sigma > 0.0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if min_score is not None:
        min_score = check_float(min_score, "min_score")
    if max_num is not None:
        max_num = check_positive_int(max_num, "max_num")
    for flag, name in ((suppress_equal, "suppress_equal"), (always_keep_top, "always_keep_top")):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    length_eps = check_float(length_eps, "length_eps", lo=0.0, hi=MAX_SEGMENT_LENGTH)
    if length_eps != 0.0 and overlap != "iou":
        raise ValueError(f"length_eps applies to overlap='iou' only, got overlap={overlap!r}")
    check_choice(kept_order, "kept_order", ("selection", "score"))
    kwargs = dict(method=METHODS[method], overlap=OVERLAPS[overlap], iou_threshold=iou_threshold, sigma=sigma,
                  min_score=min_score, max_num=0 if max_num is None else max_num,
                  suppress_equal=bool(suppress_equal), always_keep_top=bool(always_keep_top),
                  length_eps=length_eps)

    if any(is_torch(x) and x.device.type == "cuda" for x in (segments, scores, groups) if x is not None):
        from wtal.ops._nms_cuda import nms_cuda

        keep, kept = nms_cuda(segments, scores, groups, **kwargs)
        return _order_by_score(keep, kept, groups) if kept_order == "score" else (keep, kept)

    segs = float_array(segments, "segments", ndim=2)
    if segs.shape[1] != 2:
        raise ValueError(f"segments must have shape [N, 2] (start, end), got {list(segs.shape)}")
    sc = float_array(scores, "scores", ndim=1)
    n = segs.shape[0]
    if sc.shape[0] != n:
        raise ValueError(f"scores must have shape [{n}] to match segments, got {list(sc.shape)}")
    check_segments_scores(segs, sc)
    g = None
    if groups is not None:
        g = int_array(groups, "groups", ndim=1)
        if g.shape[0] != n:
            raise ValueError(f"groups must have shape [{n}] to match segments, got {list(g.shape)}")
    out_dtype = sc.dtype
    if segs.dtype != sc.dtype:  # float32 -> float64 is exact
        segs, sc = segs.astype(np.float64), sc.astype(np.float64)
    keep, kept = _C.nms(segs, sc, g, **kwargs, order_by_score=kept_order == "score")
    kept = kept.astype(out_dtype, copy=False)
    if any(is_torch(x) for x in (segments, scores, groups)):
        import torch

        return torch.from_numpy(keep), torch.from_numpy(np.ascontiguousarray(kept))
    return keep, kept


def _order_by_score(keep, kept, groups):
    """Torch (CUDA) twin of the CPU kernel's ``order_by_score``: within each group (groups ascending,
    as given), descending final score, ties in the given order."""
    import torch

    if keep.shape[0] < 2:
        return keep, kept
    o = torch.sort(kept, descending=True, stable=True).indices
    if groups is not None:
        g = torch.as_tensor(groups, device=keep.device).index_select(0, keep.index_select(0, o))
        o = o.index_select(0, torch.sort(g, stable=True).indices)
    return keep.index_select(0, o), kept.index_select(0, o)


def check_segments_scores(segs: np.ndarray, sc: np.ndarray) -> None:
    """Raise ValueError naming ``segments``/``scores`` for NaN/inf values or reversed segments."""
    if sc.size and not np.isfinite(sc).all():
        bad = int(np.flatnonzero(~np.isfinite(sc))[0])
        raise ValueError(f"scores must be finite, got {sc[bad]} at index {bad}")
    if segs.size and not np.isfinite(segs).all():
        bad = int(np.flatnonzero(~np.isfinite(segs).all(axis=1))[0])
        raise ValueError(f"segments must be finite, got {segs[bad].tolist()} in row {bad}")
    rev = segs[:, 1] < segs[:, 0]
    if rev.any():
        bad = int(np.flatnonzero(rev)[0])
        raise ValueError(f"segments must have start <= end, got {segs[bad].tolist()} in row {bad} "
                         f"(reversed segments are not valid proposals)")
    with np.errstate(over="ignore"):
        long_ = (segs[:, 1].astype(np.float64) - segs[:, 0]) > MAX_SEGMENT_LENGTH
    if long_.any():
        bad = int(np.flatnonzero(long_)[0])
        raise ValueError(f"segments must be shorter than 2**1020, got {segs[bad].tolist()} in row {bad} "
                         "(the IoU union of such segments overflows float64)")


