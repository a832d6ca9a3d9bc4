"""Named evaluation protocols: the official ActivityNet metric and the variants WTAL repositories use.

Each :class:`Preset` says which repository (and file) it reproduces; the exact semantics of every
switch are in ``shared/research/evaluation.md`` §2 (official), §3 (derivatives) and §6 (spec). Threshold
arrays are stored as the exact float64 values the repository builds (``np.linspace(0.5, 0.95, 10)[8]``
is ``0.8999999999999999``; HAM-Net's ``np.arange(0.1, 0.75, 0.1)`` contains ``0.30000000000000004``):
a tIoU landing exactly on a "round" value is a TP under one repository and an FP under another.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = ["Preset", "PRESETS", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """One evaluation protocol.

    Attributes:
        name: key in :data:`PRESETS`.
        reproduces: repository, commit and file whose numbers this preset reproduces.
        tiou_thresholds: default thresholds, exact float64 values of the repository's array.
        iou: ``"continuous"`` (seconds, official formula, no ``+1``) or ``"snippet"`` (W-TALC:
            GT ``[round(s*f), round(e*f))``, predictions in snippets, IoU of the integer sets).
        match: ``"best"`` (highest-tIoU free GT, falling back to the next best; official) or
            ``"first"`` (first free GT in annotation order with IoU >= thr; W-TALC).
        candidate_ties: best-IoU matching only, how GT with equal tIoU are ordered: ``"later"``: the
            repository sorts candidates with ``tiou_arr.argsort()[::-1]`` (official code and its copies);
            ``tie_policy="numpy"`` calls numpy's argsort on that array, ``"stable"`` tries the later GT
            row first (a fixed rule). ``"earlier"``: FAC-Net's scan keeps the first GT with a strictly
            larger IoU (``if IoU > best_iou``), i.e. the earliest GT row among equals, under any policy.
        ap: ``"interpolated"`` (VOC all-point, official) or ``"noninterpolated"`` (W-TALC:
            ``sum(precision at each TP) / npos``).
        score_sort: how the repository ranks predictions: ``"reverse_argsort"``
            (``score.argsort()[::-1]``: NaN first, ties tend to put the later row first) or
            ``"argsort_negated"`` (``np.argsort(-score)``: NaN last, ties tend to keep the earlier row
            first). ``tie_policy="stable"`` fixes that rule; ``"numpy"`` calls numpy's sort.
        class_order: ``"first_appearance"`` (official: GT labels in order of first appearance) or
            ``"sorted"`` (ActionFormer's sorted label ids, W-TALC's sorted class names). Only the last
            ulp of the mean depends on it.
        unknown_labels: default handling of prediction labels without a GT class (``"raise"`` like the
            official ``KeyError``, or ``"ignore"``: dropped).
        min_gt_length: drop GT with ``t_end - t_start < min_gt_length`` (ActionFormer: 1e-3 s).
        duplicate_gt_tolerance: drop a GT whose label equals that of an earlier *kept* GT of the same
            video and whose both boundaries are within this many seconds of it (ActionFormer: 1e-3).
        only_videos_with_gt: predictions on videos without any GT are not evaluated (W-TALC/FAC-Net)
            instead of counting as false positives (official).
        snippets_per_second: snippet rate for ``iou="snippet"`` (25/16: I3D 16-frame snippets at 25 fps).
        ambiguous_filtering: whether an ``ambiguous=`` table is accepted: predictions overlapping
            (in snippets) any ambiguous segment of the same video are removed (W-TALC/FAC-Net).
    """

    name: str
    reproduces: str
    tiou_thresholds: tuple[float, ...]
    iou: Literal["continuous", "snippet"] = "continuous"
    match: Literal["best", "first"] = "best"
    candidate_ties: Literal["later", "earlier"] = "later"
    ap: Literal["interpolated", "noninterpolated"] = "interpolated"
    score_sort: Literal["reverse_argsort", "argsort_negated"] = "reverse_argsort"
    class_order: Literal["first_appearance", "sorted"] = "first_appearance"
    unknown_labels: Literal["raise", "ignore"] = "raise"
    min_gt_length: float | None = None
    duplicate_gt_tolerance: float | None = None
    only_videos_with_gt: bool = False
    snippets_per_second: float | None = None
    ambiguous_filtering: bool = False
    notes: str = field(default="", compare=False)

    def thresholds(self) -> np.ndarray:
        """The default thresholds as a fresh float64 array."""
        return np.array(self.tiou_thresholds, dtype=np.float64)


def _bits(a: np.ndarray) -> tuple[float, ...]:
    return tuple(float(x) for x in np.asarray(a, dtype=np.float64))


_ANET = "activitynet/ActivityNet@82304fa Evaluation/eval_detection.py (+ utils.py)"

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("anet", _ANET, _bits(np.linspace(0.5, 0.95, 10)),
               notes="Official ActivityNet detection mAP: average-mAP over np.linspace(0.5, 0.95, 10)."),
        Preset("actionformer",
               "happyharrycn/actionformer_release@61ea7eb libs/utils/metrics.py (THUMOS14 thresholds of "
               "libs/datasets/thumos14.py)",
               _bits(np.linspace(0.3, 0.7, 5)), class_order="sorted", unknown_labels="ignore",
               min_gt_length=1e-3, duplicate_gt_tolerance=1e-3,
               notes="Official matching/AP; GT shorter than 1e-3 s and near-duplicate GT removed; unknown "
                     "labels dropped (ActionFormer keeps them unmapped, which can collide with real ids)."),
        Preset("actionformer_anet",
               "happyharrycn/actionformer_release@61ea7eb libs/utils/metrics.py (ActivityNet thresholds of "
               "libs/datasets/anet.py)",
               _bits(np.linspace(0.5, 0.95, 10)), class_order="sorted", unknown_labels="ignore",
               min_gt_length=1e-3, duplicate_gt_tolerance=1e-3),
        Preset("basnet", "Pilhyeon/BaSNet-pytorch@c8c6bbd eval/eval_detection.py, test.py",
               _bits(np.linspace(0.1, 0.9, 9))),
        Preset("um", "Pilhyeon/WTAL-Uncertainty-Modeling@f8e52f5 eval/eval_detection.py, test.py",
               _bits(np.linspace(0.1, 0.7, 7))),
        Preset("hamnet", "asrafulashiq/hamnet@7894e05 eval/eval_detection.py, system/tester.py (THUMOS14)",
               _bits(np.arange(0.1, 0.75, 0.1))),
        Preset("hamnet_anet", "asrafulashiq/hamnet@7894e05 eval/eval_detection.py (ActivityNet)",
               _bits(np.arange(0.5, 1, 0.05))),
        Preset("wtalc", "sujoyp/wtalc-pytorch@81ea982 detectionMAP.py (getLocMAP, filter_segments)",
               (0.1, 0.2, 0.3, 0.4, 0.5), iou="snippet", match="first", ap="noninterpolated",
               score_sort="argsort_negated", class_order="sorted", only_videos_with_gt=True,
               snippets_per_second=25.0 / 16.0, ambiguous_filtering=True,
               notes="W-TALC's own detectionMAP.py, without its `return 0` bug (see "
                     "wtalc_zero_if_class_missing)."),
        Preset("facnet", "LeonHLJ/FAC-Net@c010886 evaluation/detectionMAP.py (getLocMAP, _ap_from_pr)",
               (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7), iou="snippet", match="best", candidate_ties="earlier",
               ap="interpolated", score_sort="argsort_negated", class_order="sorted",
               only_videos_with_gt=True, snippets_per_second=25.0 / 16.0, ambiguous_filtering=True,
               notes="FAC-Net's detectionMAP.py (best-IoU free GT, VOC AP), without its `return 0` bug."),
    ]
}


def get_preset(name: str | Preset) -> Preset:
    """Return the preset called ``name`` (or ``name`` itself if it is already a :class:`Preset`)."""
    if isinstance(name, Preset):
        return name
    if not isinstance(name, str):
        raise TypeError(f"preset must be a preset name or a Preset, got {type(name).__name__}")
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}") from None
