"""Detection mAP: the official ActivityNet protocol and the WTAL variants, on a C++ kernel.

Semantics (``shared/research/evaluation.md`` §2, §6): per class, predictions are ranked by descending
score; each is matched greedily to a still-free GT of the same video and class with ``tIoU >= thr``
(inclusive), separately for every threshold; AP is the VOC all-point interpolated AP; mAP is the plain
mean over every class that has ground truth (a class without predictions counts as 0). Presets
(:mod:`wtal.eval.presets`) switch to the rules of other repositories.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

import numpy as np

from wtal.eval.presets import PRESETS, Preset, get_preset

__all__ = ["DetectionResult", "evaluate_detection"]

_GT_COLUMNS = ("video", "t_start", "t_end", "label")
_PRED_COLUMNS = ("video", "t_start", "t_end", "label", "score")
_AMBIGUOUS_COLUMNS = ("video", "t_start", "t_end")


@dataclass(frozen=True)
class DetectionResult:
    """Result of :func:`evaluate_detection`.

    Attributes:
        tiou: float64 [T], the thresholds exactly as used.
        ap: float64 [T, C], average precision per threshold and class.
        mAP: float64 [T], mean of ``ap`` over classes (``ap.mean(axis=1)``, as the official code).
        average_mAP: mean of ``mAP`` over thresholds.
        classes: the C evaluated classes (labels with ground truth), in the preset's class order.
        preset: name of the preset used.
        num_ground_truth: int64 [C], GT instances per class after the preset's GT cleaning.
        num_predictions: int64 [C], evaluated predictions per class (after filtering).

    The result also keeps (privately, for :meth:`diagnose`) references to the encoded columns it
    evaluated, so they live as long as the result does.
    """

    tiou: np.ndarray
    ap: np.ndarray
    mAP: np.ndarray
    average_mAP: float
    classes: list
    preset: str = "anet"
    num_ground_truth: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    num_predictions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _inputs: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """``{"tiou": [...], "mAP": [...], "average_mAP": x, "ap": {class: [...]}}`` (JSON-ready)."""
        return {
            "tiou": [float(t) for t in self.tiou],
            "mAP": [float(m) for m in self.mAP],
            "average_mAP": float(self.average_mAP),
            "ap": {c: [float(v) for v in self.ap[:, k]] for k, c in enumerate(self.classes)},
        }

    def to_table(self, per_class: bool = False) -> str:
        """A plain-text table: mAP (%) per threshold and the average; per-class AP rows if asked."""
        head = ["tIoU"] + [_fmt_thr(t) for t in self.tiou] + ["avg"]
        rows = [["mAP (%)"] + [f"{100 * m:.2f}" for m in self.mAP] + [f"{100 * self.average_mAP:.2f}"]]
        if per_class:
            for k, c in enumerate(self.classes):
                vals = self.ap[:, k]
                rows.append([str(c)] + [f"{100 * v:.2f}" for v in vals] + [f"{100 * float(np.mean(vals)):.2f}"])
        widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
        lines = [f"preset {self.preset}: {len(self.classes)} classes, {len(self.tiou)} tIoU thresholds"]
        for r in [head] + rows:
            lines.append("  ".join(r[0].ljust(widths[0]) if i == 0 else r[i].rjust(widths[i])
                                   for i in range(len(r))))
        return "\n".join(lines)

    def diagnose(self, dataset: str = "activitynet", *, durations: Any = None) -> Any:
        """DETAD's false-positive and false-negative analysis of the evaluated rows.

        See :func:`wtal.eval.diagnose.diagnose_detection` (``dataset``: ``"activitynet"`` or
        ``"thumos14"``, DETAD's settings; ``durations``: ``{video: seconds}`` for the coverage analysis
        when the ground truth was not read from a JSON file with durations).
        """
        from wtal.eval.diagnose import diagnose_detection

        return diagnose_detection(self, dataset, durations=durations)

    def __repr__(self) -> str:
        return (f"DetectionResult(preset={self.preset!r}, classes={len(self.classes)}, "
                f"tiou={[float(t) for t in self.tiou]}, mAP={[round(float(m), 6) for m in self.mAP]}, "
                f"average_mAP={self.average_mAP:.6f})")


def _fmt_thr(t: float) -> str:
    s = f"{t:.2f}"
    return s if float(s) == t else f"{t:.3g}"


# --------------------------------------------------------------------------------------------------
# input handling


def _is_json_like(obj: Any, key: str) -> bool:
    if isinstance(obj, (str, bytes, os.PathLike)):
        return True
    if isinstance(obj, Mapping):
        if key in obj:
            return True
        if "video" in obj and "t_start" in obj:
            return False
        # anet_anno_action.json style: {video: {"annotations": [...]}}
        return bool(obj) and all(isinstance(v, Mapping) for v in obj.values())
    return False


def _raw_columns(obj: Any, required: tuple[str, ...], name: str) -> dict[str, Any]:
    """Columns of a dict of arrays, a DataFrame or an object with ``to_columns()``; no conversion."""
    if hasattr(obj, "to_columns") and callable(obj.to_columns):
        obj = obj.to_columns()
    if hasattr(obj, "columns") and hasattr(obj, "to_numpy") and not isinstance(obj, Mapping):
        cols = {str(c): obj[c].to_numpy() for c in obj.columns}
    elif isinstance(obj, Mapping):
        cols = dict(obj)
    else:
        raise TypeError(f"{name} must be an ActivityNet JSON path or dict, or columns (a mapping of arrays or "
                        f"a DataFrame with {', '.join(required)}), got {type(obj).__name__}")
    missing = [c for c in required if c not in cols]
    if missing:
        raise ValueError(f"{name} is missing column(s) {', '.join(repr(c) for c in missing)} "
                         f"(needs {', '.join(required)})")
    out = {}
    n = None
    for c in required + (("subset",) if "subset" in cols else ()):
        v = cols[c]
        if hasattr(v, "detach") and hasattr(v, "cpu"):  # torch tensor
            v = v.detach().cpu().numpy()
        a = np.asarray(v)
        if a.ndim != 1:
            raise ValueError(f"{name}[{c!r}] must be 1-D, got shape {list(a.shape)}")
        if n is None:
            n = len(a)
        elif len(a) != n:
            raise ValueError(f"{name}[{c!r}] has {len(a)} rows but {name}[{required[0]!r}] has {n}")
        out[c] = a
    return out


def _load_gt(obj: Any, subset: str | None) -> tuple[dict[str, Any], dict | None]:
    """GT columns and, for a JSON file or dict, each video's duration (``{video: seconds}``, NaN unknown)."""
    if _is_json_like(obj, "database"):
        from wtal.eval import io as _io

        cols, info = _io.load_ground_truth(obj, subset=subset, return_info=True)
        return (_raw_columns(cols, _GT_COLUMNS, "ground_truth"),
                dict(zip(info.videos.tolist(), info.durations.tolist())))
    cols = _raw_columns(obj, _GT_COLUMNS, "ground_truth")
    if subset is not None:
        if "subset" not in cols:
            raise ValueError(f"subset={subset!r} was given but the ground_truth columns have no 'subset' column")
        keep = np.asarray(cols["subset"] == subset, dtype=bool)
        cols = {k: v[keep] for k, v in cols.items()}
    return cols, None


def _load_pred(obj: Any) -> dict[str, Any]:
    if _is_json_like(obj, "results"):
        from wtal.eval import io as _io

        return _raw_columns(_io.load_predictions(obj), _PRED_COLUMNS, "predictions")
    return _raw_columns(obj, _PRED_COLUMNS, "predictions")


def _float_column(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype.kind == "b" or a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold numbers (float or int), got dtype {a.dtype}")
    # A deliberate C-contiguous float64 copy: the kernel never sees strided or float32 buffers.
    return np.ascontiguousarray(a, dtype=np.float64)


def _key_kind(a: np.ndarray, name: str) -> str:
    """"str" or "int" for a key column; object arrays are judged by their values."""
    k = a.dtype.kind
    if k in "US":
        return "str"
    if k in "iu":
        return "int"
    if k == "O":
        types = set(map(type, a.tolist()))  # C-level pass; the per-type checks below are few
        kinds = {_type_kind(t) for t in types}
        if None in kinds:
            bad = next(v for v in a.tolist() if _value_kind(v) is None)
            raise TypeError(f"{name} must hold str or int values, got {type(bad).__name__} ({bad!r})")
        if len(kinds) > 1:
            raise TypeError(f"{name} mixes str and int values")
        return kinds.pop() if kinds else "str"
    raise TypeError(f"{name} must hold str or int values, got dtype {a.dtype}")


def _type_kind(t: type) -> str | None:
    if issubclass(t, str):
        return "str"
    if issubclass(t, (int, np.integer)) and not issubclass(t, (bool, np.bool_)):
        return "int"
    return None


def _value_kind(v: Any) -> str | None:
    if isinstance(v, str):
        return "str"
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return "int"
    return None


def _normalise_keys(a: np.ndarray, kind: str) -> list:
    if a.dtype.kind == "S":
        return [x.decode() for x in a.tolist()]
    if kind == "int" and a.dtype.kind == "O":
        return [int(x) for x in a.tolist()]
    return a.tolist()


def _distinct(a: np.ndarray, name: str) -> tuple[np.ndarray, list, str]:
    """(codes [N], distinct values in order of first appearance, kind) of a key column (C++ hashing)."""
    from wtal._ext import _C

    if a.dtype.kind not in "USiuO":
        _key_kind(a[:0], name)  # raises the TypeError naming the column
    a = np.ascontiguousarray(a)
    codes, first = _C.factorize(a)
    uniq = a[first]
    kind = _key_kind(uniq, name)
    return codes, _normalise_keys(uniq, kind), kind


def _encode(gt: np.ndarray, pred: np.ndarray, field_name: str, sort_vocab: bool) -> tuple[list, np.ndarray, np.ndarray]:
    """Ids of GT values (first-appearance or sorted vocabulary) and of prediction values (-1: not in GT)."""
    gname, pname = f"ground_truth[{field_name!r}]", f"predictions[{field_name!r}]"
    gcodes, gvals, gkind = _distinct(gt, gname)
    vocab = list(dict.fromkeys(gvals))  # equal values held by distinct objects collapse here
    if sort_vocab:
        vocab = sorted(vocab)
    index = {v: i for i, v in enumerate(vocab)}
    gids = np.array([index[v] for v in gvals], dtype=np.int64)[gcodes]
    if len(pred) == 0:
        if pred.dtype.kind not in "USiuO":
            _key_kind(pred, pname)
        return vocab, gids, np.zeros(0, dtype=np.int64)
    pcodes, pvals, pkind = _distinct(pred, pname)
    if pkind != gkind and len(gt):
        raise TypeError(f"{pname} holds {pkind} values but {gname} holds {gkind} values; use the same kind")
    lut = np.array([index.get(v, -1) for v in pvals], dtype=np.int64)
    return vocab, gids, lut[pcodes]


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_finite(a: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        i = _first_bad(bad)
        what = "NaN" if np.isnan(a[i]) else "inf"
        raise ValueError(f"{name} contains {what} at row {i} ({int(bad.sum())} non-finite value(s) in all)")


def _check_segments(s: np.ndarray, e: np.ndarray, name: str) -> None:
    bad = ~(e > s)
    if bad.any():
        i = _first_bad(bad)
        kind = "zero-length" if e[i] == s[i] else "reversed"
        raise ValueError(f"{name}['t_end'] must be > {name}['t_start']: {kind} segment at row {i} "
                         f"([{float(s[i])!r}, {float(e[i])!r}]; {int(bad.sum())} such row(s)); "
                         f"pass official_compat=True to evaluate such segments as the official code does")


def _actionformer_clean(vid: np.ndarray, lab: np.ndarray, s: np.ndarray, e: np.ndarray,
                        min_len: float | None, tol: float | None) -> np.ndarray:
    """Keep-mask of ActionFormer's ``remove_duplicate_annotations`` (per video, in file order)."""
    keep = np.ones(len(vid), dtype=bool)
    if min_len is not None:
        keep &= (e - s) >= min_len
    if tol is None:
        return keep
    kept: dict[int, list[int]] = {}
    for i in np.flatnonzero(keep).tolist():
        prev = kept.setdefault(int(vid[i]), [])
        for j in prev:
            if abs(s[i] - s[j]) <= tol and abs(e[i] - e[j]) <= tol and lab[i] == lab[j]:
                keep[i] = False
                break
        else:
            prev.append(i)
    return keep


def _numpy_order(lab: np.ndarray, score: np.ndarray, num_classes: int, negated: bool) -> np.ndarray:
    """Per-class ranking with numpy's own (unstable, default-kind) argsort, as the repositories call it."""
    perm = np.argsort(lab, kind="stable")
    bounds = np.searchsorted(lab[perm], np.arange(-1, num_classes + 1))
    parts = [perm[bounds[0]:bounds[1]]]  # ignored rows (label -1): anywhere, the kernel skips them
    for c in range(num_classes):
        rows = perm[bounds[c + 1]:bounds[c + 2]]
        sc = score[rows]
        parts.append(rows[np.argsort(-sc)] if negated else rows[sc.argsort()[::-1]])
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.int64)


# --------------------------------------------------------------------------------------------------


def evaluate_detection(
    ground_truth: Any,
    predictions: Any,
    *,
    tiou_thresholds: Any = None,
    preset: str | Preset = "anet",
    tie_policy: Literal["stable", "numpy"] = "stable",
    subset: str | None = None,
    unknown_labels: Literal["raise", "ignore"] | None = None,
    validate: Literal["strict", "none"] = "strict",
    official_compat: bool = False,
    ambiguous: Any = None,
    prediction_units: Literal["seconds", "snippets"] = "seconds",
    wtalc_zero_if_class_missing: bool = False,
    num_threads: int = 0,
) -> DetectionResult:
    """Detection AP/mAP of ``predictions`` against ``ground_truth`` at several tIoU thresholds.

    Args:
        ground_truth: ActivityNet GT JSON (path or parsed dict, read by :func:`wtal.eval.io.load_ground_truth`)
            or columns (mapping of 1-D arrays / DataFrame): ``video``, ``t_start``, ``t_end``, ``label``
            [G] (+ ``subset`` for ``subset=`` filtering). Row order is the class-GT order of the spec.
        predictions: ActivityNet results JSON (path or dict) or columns ``video``, ``t_start``, ``t_end``,
            ``label``, ``score`` [N]. ``video``/``label`` are str or int, the same kind as in the GT.
            Predictions on videos without GT are false positives (W-TALC presets: not evaluated).
        tiou_thresholds: float64 [T], compared bit for bit (``np.linspace(0.5, 0.95, 10)[8]`` is
            ``0.8999999999999999``); default: the preset's array.
        preset: a name in :data:`wtal.eval.PRESETS` (``"anet"``: official ActivityNet) or a :class:`Preset`.
        tie_policy: how equal values are ordered, where the repository leaves it to numpy's sort.
            ``"numpy"``: numpy's own default (unstable, SIMD-dispatched) argsort, called as the repository
            calls it: per class on the scores (``score.argsort()[::-1]`` or ``np.argsort(-score)``), and,
            for the official family (``Preset.candidate_ties == "later"``), on each prediction's tIoU
            array (``tiou_arr.argsort()[::-1]`` over every GT of its class in its video, in GT row order;
            only predictions whose candidates hold exactly equal tIoU that passes a threshold take this
            slower path). Equals the repository's numbers on the same numpy build and CPU, provided the
            rows of each class are in the order the repository saw them (a results file's order). numpy's
            tie order changes between numpy versions and CPUs (numpy 2.4 with AVX2 or AVX-512 puts row 0
            first in ``np.array([.6, .6, 0, 0]).argsort()[::-1]``). ``"stable"`` (default): a fixed rule,
            deterministic everywhere, not "the official order" (there is none): among equal scores the
            later row ranks first and NaN first (official family), the earlier row first and NaN last
            (W-TALC family); among equal-tIoU candidate GT the later GT row is tried first (official
            family). FAC-Net's candidate scan (strict ``>``, earliest GT row) and W-TALC's first-fit
            do not sort, so they are the same under both. Both policies agree when no two scores and no
            two candidate tIoU values of a prediction are equal.
        subset: keep only GT videos of this subset (official default ``"validation"``; ``None``: all).
        unknown_labels: ``"raise"`` (official; ``ValueError`` listing them) or ``"ignore"`` (dropped) for
            prediction labels without a GT class; default: the preset's choice.
        validate: ``"strict"`` (default) rejects NaN/inf scores and times, reversed or zero-length
            segments, thresholds outside [0, 1], with a ``ValueError`` naming the field and row;
            ``"none"`` evaluates whatever is given.
        official_compat: reproduce the official evaluator on inputs strict mode rejects (implies
            ``validate="none"``): a NaN tIoU (0/0 from zero-length vs zero-length segments, a reversed
            prediction whose negative length cancels the GT's, a NaN boundary) counts as a match;
            reversed segments with negative union give tIoU -0.0 (no match); zero-length predictions
            inside a GT give 0; NaN scores rank first; negative times are not clipped; NaN thresholds
            match everything. Unknown labels still raise (the official ``KeyError``) unless ignored.
        ambiguous: W-TALC/FAC-Net presets: columns ``video``, ``t_start``, ``t_end`` (seconds, e.g.
            :func:`wtal.eval.io.load_ambiguous` of ``Ambiguous_test.txt``); a prediction with any snippet
            overlap with any ambiguous segment of its video (any class) is removed.
        prediction_units: snippet presets only: ``"seconds"`` converts prediction times with
            ``round(t * snippets_per_second)`` (the exact inverse of ``index / snippets_per_second``);
            ``"snippets"`` takes ``int(t)`` as W-TALC does with its snippet indices. GT is always in
            seconds and becomes ``[round(s * f), round(e * f))`` (Python/numpy round half to even).
        wtalc_zero_if_class_missing: opt-in reproduction of the W-TALC/FAC-Net bug ``if
            len(segment_predict) == 0: return 0``: if any evaluated class has no prediction left, mAP is
            0 at every threshold (per-class ``ap`` is still reported). Never on by default.
        num_threads: worker threads of the kernel (0: all hardware threads; classes run in parallel).

    Returns:
        :class:`DetectionResult` with ``ap [T, C]``, ``mAP [T]``, ``average_mAP`` and ``classes``.

    Raises:
        ValueError: missing columns, empty ground truth, unknown labels (``"raise"``), and in strict mode
            non-finite values, reversed or zero-length segments, thresholds outside [0, 1].
        TypeError: non-numeric times/scores, ids that are neither str nor int, str/int kind mismatch.
    """
    p = get_preset(preset)
    if tie_policy not in ("stable", "numpy"):
        raise ValueError(f"tie_policy must be 'stable' or 'numpy', got {tie_policy!r}")
    if validate not in ("strict", "none"):
        raise ValueError(f"validate must be 'strict' or 'none', got {validate!r}")
    if unknown_labels is None:
        unknown_labels = p.unknown_labels
    if unknown_labels not in ("raise", "ignore"):
        raise ValueError(f"unknown_labels must be 'raise' or 'ignore', got {unknown_labels!r}")
    if prediction_units not in ("seconds", "snippets"):
        raise ValueError(f"prediction_units must be 'seconds' or 'snippets', got {prediction_units!r}")
    if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)) or num_threads < 0:
        raise ValueError(f"num_threads must be an int >= 0, got {num_threads!r}")
    strict = validate == "strict" and not official_compat
    if ambiguous is not None and not p.ambiguous_filtering:
        raise ValueError(f"ambiguous= is part of the W-TALC/FAC-Net protocols; preset {p.name!r} does not use it")

    # thresholds
    thr_src = p.thresholds() if tiou_thresholds is None else tiou_thresholds
    if hasattr(thr_src, "detach") and hasattr(thr_src, "cpu"):
        thr_src = thr_src.detach().cpu().numpy()
    thr_arr = np.asarray(thr_src)
    if thr_arr.ndim == 0:
        thr_arr = thr_arr.reshape(1)
    if thr_arr.dtype.kind == "b" or thr_arr.dtype.kind not in "fiu":
        raise TypeError(f"tiou_thresholds must be numbers, got dtype {thr_arr.dtype}")
    if thr_arr.ndim != 1 or thr_arr.size == 0:
        raise ValueError(f"tiou_thresholds must be a non-empty 1-D array, got shape {list(thr_arr.shape)}")
    thr = np.array(thr_arr, dtype=np.float64)  # owned copy
    if strict:
        _check_finite(thr, "tiou_thresholds")
        if ((thr < 0) | (thr > 1)).any():
            raise ValueError(f"tiou_thresholds must lie in [0, 1], got {thr.tolist()}")

    gt, durations = _load_gt(ground_truth, subset)
    pr = _load_pred(predictions)
    if len(gt["video"]) == 0:
        raise ValueError("ground_truth is empty" + (f" for subset {subset!r}" if subset is not None else "")
                         + ": nothing to evaluate (mAP over zero classes is undefined)")

    gs = _float_column(gt["t_start"], "ground_truth['t_start']")
    ge = _float_column(gt["t_end"], "ground_truth['t_end']")
    ps = _float_column(pr["t_start"], "predictions['t_start']")
    pe = _float_column(pr["t_end"], "predictions['t_end']")
    sc = _float_column(pr["score"], "predictions['score']")
    if strict:
        for a, nm in ((gs, "ground_truth['t_start']"), (ge, "ground_truth['t_end']"),
                      (ps, "predictions['t_start']"), (pe, "predictions['t_end']"), (sc, "predictions['score']")):
            _check_finite(a, nm)

    sort_classes = p.class_order == "sorted"
    videos, gvid, pvid = _encode(gt["video"], pr["video"], "video", sort_vocab=False)
    # Class ids come from the GT that survives cleaning, so encode labels after it.
    if p.min_gt_length is not None or p.duplicate_gt_tolerance is not None:
        _, glab_all, _ = _encode(gt["label"], pr["label"][:0], "label", sort_vocab=False)
        keep = _actionformer_clean(gvid, glab_all, gs, ge, p.min_gt_length, p.duplicate_gt_tolerance)
        if not keep.all():
            gt = {k: v[keep] for k, v in gt.items()}
            gs, ge, gvid = gs[keep], ge[keep], gvid[keep]
        if len(gs) == 0:
            raise ValueError("ground_truth is empty after removing short and duplicate segments "
                             f"(preset {p.name!r}): nothing to evaluate")
    classes, glab, plab = _encode(gt["label"], pr["label"], "label", sort_vocab=sort_classes)
    if strict:
        _check_segments(gs, ge, "ground_truth")
        _check_segments(ps, pe, "predictions")

    unknown = plab < 0
    if unknown.any():
        if unknown_labels == "raise":
            raw = pr["label"]
            idx = np.flatnonzero(unknown)
            names = list(dict.fromkeys(raw[idx[:1000]].tolist()))
            raise ValueError(f"predictions['label'] has {int(unknown.sum())} row(s) whose label has no ground-truth "
                             f"class, first at row {int(idx[0])}: {names[:10]!r}; pass unknown_labels='ignore' "
                             "to drop them")
        plab = plab.copy()  # rows with label -1 are skipped by the kernel

    num_videos = len(videos)
    seconds = (gs, ge, ps, pe)  # before any snippet conversion (the error diagnosis works in seconds)
    if p.iou == "snippet":
        f = float(p.snippets_per_second)
        gs = np.round(gs * f)
        ge = np.round(ge * f)
        if prediction_units == "seconds":
            ps, pe = np.round(ps * f), np.round(pe * f)
        else:
            ps, pe = np.trunc(ps), np.trunc(pe)
        if ambiguous is not None:
            plab = _filter_ambiguous(ambiguous, videos, pvid, ps, pe, plab, f)
    if p.only_videos_with_gt:
        plab = np.where(pvid < 0, -1, plab)

    num_classes = len(classes)
    order = None
    if tie_policy == "numpy":
        order = _numpy_order(plab, sc, num_classes, negated=p.score_sort == "argsort_negated")

    enc = _Encoded(gvid=np.ascontiguousarray(gvid, dtype=np.int64), glab=np.ascontiguousarray(glab, dtype=np.int64),
                   gs=np.ascontiguousarray(gs), ge=np.ascontiguousarray(ge),
                   pvid=np.ascontiguousarray(pvid, dtype=np.int64), plab=np.ascontiguousarray(plab, dtype=np.int64),
                   ps=np.ascontiguousarray(ps), pe=np.ascontiguousarray(pe), score=sc,
                   num_classes=num_classes, num_videos=num_videos)
    ap = match_detections(enc, thr, p, order=order, tie_policy=tie_policy, num_threads=int(num_threads))

    npred = np.bincount(plab[plab >= 0], minlength=num_classes).astype(np.int64)
    ngt = np.bincount(glab, minlength=num_classes).astype(np.int64)
    mAP = ap.mean(axis=1)
    if wtalc_zero_if_class_missing and (npred == 0).any():
        mAP = np.zeros_like(mAP)
    sec = _Encoded(gvid=enc.gvid, glab=enc.glab, gs=np.ascontiguousarray(seconds[0]), ge=np.ascontiguousarray(seconds[1]),
                   pvid=enc.pvid, plab=enc.plab, ps=np.ascontiguousarray(seconds[2]),
                   pe=np.ascontiguousarray(seconds[3]), score=sc, num_classes=num_classes, num_videos=num_videos,
                   prediction_units=prediction_units if p.iou == "snippet" else "seconds", videos=videos)
    dur = None if durations is None else np.array([durations.get(v, np.nan) for v in videos], dtype=np.float64)
    return DetectionResult(tiou=thr, ap=ap, mAP=mAP, average_mAP=float(mAP.mean()), classes=list(classes),
                           preset=p.name, num_ground_truth=ngt, num_predictions=npred,
                           _inputs=_DiagnosisInputs(sec, tie_policy=tie_policy, num_threads=int(num_threads),
                                                    durations=dur))


@dataclass(frozen=True)
class _Encoded:
    """Encoded columns as the kernel takes them: int64 ids (video -1: no GT; label -1: not evaluated)."""

    gvid: np.ndarray
    glab: np.ndarray
    gs: np.ndarray
    ge: np.ndarray
    pvid: np.ndarray
    plab: np.ndarray
    ps: np.ndarray
    pe: np.ndarray
    score: np.ndarray
    num_classes: int
    num_videos: int
    prediction_units: str = "seconds"
    videos: list = field(default_factory=list)


@dataclass(frozen=True)
class _DiagnosisInputs:
    """What :meth:`DetectionResult.diagnose` needs: the evaluated rows in seconds, the tie policy and,
    when the GT came from a JSON file, each video's duration (float64 [V], NaN where unknown)."""

    columns: _Encoded
    tie_policy: str
    num_threads: int
    durations: np.ndarray | None = None


def _numpy_candidates(p: Preset, tie_policy: str) -> bool:
    """Whether the repository orders GT candidates with numpy's ``tiou.argsort()[::-1]`` (the official
    family: continuous tIoU, best-IoU matching); snippet-IoU repositories scan their GT lists instead."""
    return tie_policy == "numpy" and p.match == "best" and p.candidate_ties == "later" and p.iou == "continuous"


def match_detections(enc: _Encoded, thr: np.ndarray, p: Preset, *, order: np.ndarray | None, tie_policy: str,
                     num_threads: int = 0, return_matches: bool = False) -> Any:
    """AP [T, C] of encoded columns under preset ``p`` (and, if asked, the matched GT row [T, N] or -1).

    Under ``tie_policy="numpy"`` with the official candidate rule, the kernel first reports the
    predictions whose candidate GT hold exactly equal tIoU that passes a threshold; only the rows of
    their classes are evaluated again, with numpy's own ``tiou.argsort()[::-1]`` of each such
    prediction's tIoU array (:func:`_numpy_candidate_orders`), so inputs without such ties cost one
    kernel pass as before.
    """
    from wtal._ext import _C

    reverse = p.score_sort == "reverse_argsort"
    args = (enc.gvid, enc.glab, enc.gs, enc.ge, enc.pvid, enc.plab, enc.ps, enc.pe, enc.score, order, thr,
            enc.num_classes, enc.num_videos)
    kw = dict(match=p.match, candidate_ties_later_first=p.candidate_ties == "later", ap=p.ap,
              discrete=p.iou == "snippet", nan_score_first=reverse, score_ties_later_first=reverse,
              num_threads=int(num_threads))
    numpy_candidates = _numpy_candidates(p, tie_policy)
    if not numpy_candidates and not return_matches:
        return _C.detection_map(*args, **kw)
    ap, sites, matched = _C.detection_map(*args, **kw, return_candidate_ties=numpy_candidates,
                                          return_matches=return_matches)
    if numpy_candidates and len(sites):
        affected = np.zeros(enc.num_classes + 1, dtype=bool)  # slot 0: label -1
        affected[enc.plab[sites] + 1] = True
        rows = np.flatnonzero(affected[enc.plab + 1])  # the affected classes' predictions, in row order
        new = np.full(len(enc.plab), -1, dtype=np.int64)
        new[rows] = np.arange(len(rows))
        sub_order = None if order is None else new[order][new[order] >= 0]
        site_rows, offsets, cand = _numpy_candidate_orders(enc, sites)
        redo = _C.detection_map(enc.gvid, enc.glab, enc.gs, enc.ge, enc.pvid[rows], enc.plab[rows], enc.ps[rows],
                                enc.pe[rows], enc.score[rows], sub_order, thr, enc.num_classes, enc.num_videos,
                                **kw, candidate_orders=(new[site_rows], offsets, cand),
                                return_matches=return_matches)
        if return_matches:
            redo, _, sub_matched = redo
            matched[:, rows] = sub_matched
        sel = affected[1:]
        ap[:, sel] = redo[:, sel]
    return (ap, matched) if return_matches else ap


def _numpy_candidate_orders(enc: _Encoded, sites: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, offsets, order): ``tiou_arr.argsort()[::-1]`` of each site, as the official loop computes it.

    ``tiou_arr`` is built as the official ``segment_iou`` builds it: the prediction against every GT of
    its class in its video, in GT row order (``this_gt``), with the same float64 operations
    (``inter = (min(e) - max(s)).clip(0)``, ``union = (g_len + p_len) - inter``, ``inter / union``);
    each site's array is a fresh contiguous float64 array and is sorted by numpy's default argsort on
    its own, so the order is numpy's on this build and CPU.
    """
    V = np.int64(max(enc.num_videos, 1))
    gkey = enc.glab * V + enc.gvid
    perm = np.argsort(gkey, kind="stable")  # class, then video, then GT row
    sorted_key = gkey[perm]
    pkey = enc.plab[sites] * V + enc.pvid[sites]
    lo = np.searchsorted(sorted_key, pkey, side="left")
    cnt = np.searchsorted(sorted_key, pkey, side="right") - lo
    offsets = np.zeros(len(sites) + 1, dtype=np.int64)
    np.cumsum(cnt, out=offsets[1:])
    total = int(offsets[-1])
    site_of_pair = np.repeat(np.arange(len(sites)), cnt)
    g = perm[np.repeat(lo - offsets[:-1], cnt) + np.arange(total)]
    p = sites[site_of_pair]
    ps, pe, gs, ge = enc.ps[p], enc.pe[p], enc.gs[g], enc.ge[g]
    with np.errstate(invalid="ignore", divide="ignore"):
        inter = (np.minimum(pe, ge) - np.maximum(ps, gs)).clip(0)
        tiou = inter.astype(float) / ((ge - gs) + (pe - ps) - inter)
    bounds = offsets.tolist()
    order = np.empty(total, dtype=np.int64)
    for k in range(len(sites)):
        a, b = bounds[k], bounds[k + 1]
        order[a:b] = np.array(tiou[a:b]).argsort()[::-1]
    return np.ascontiguousarray(sites, dtype=np.int64), offsets, order


def _filter_ambiguous(ambiguous: Any, videos: list, pvid: np.ndarray, ps: np.ndarray, pe: np.ndarray,
                      plab: np.ndarray, f: float) -> np.ndarray:
    """Drop (label -1) predictions whose snippet range intersects an ambiguous range of their video."""
    if isinstance(ambiguous, (str, bytes, os.PathLike)):
        from wtal.eval import io as _io

        ambiguous = _io.load_ambiguous(ambiguous)
    amb = _raw_columns(ambiguous, _AMBIGUOUS_COLUMNS, "ambiguous")
    t0 = _float_column(amb["t_start"], "ambiguous['t_start']")
    t1 = _float_column(amb["t_end"], "ambiguous['t_end']")
    if len(t0) == 0:
        return plab
    # Entries that can never match are an error (NaN times, ids of the other kind) or a warning
    # (empty after rounding), never a silent no-op.
    for a, nm in ((t0, "ambiguous['t_start']"), (t1, "ambiguous['t_end']")):
        if np.isnan(a).any():
            i = int(np.flatnonzero(np.isnan(a))[0])
            raise ValueError(f"{nm} contains NaN at row {i} ({int(np.isnan(a).sum())} such row(s)); such an "
                             "ambiguous segment can never match a prediction")
    kind = "int" if videos and isinstance(videos[0], int) else "str"
    akind = _key_kind(np.asarray(amb["video"]), "ambiguous['video']")
    if akind != kind:
        raise TypeError(f"ambiguous['video'] holds {akind} values but ground_truth['video'] holds {kind} values; "
                        "use the same kind (no ambiguous segment could match)")
    a_s, a_e = np.round(t0 * f), np.round(t1 * f)
    empty = ~(a_s < a_e)
    if empty.any():
        warnings.warn(f"ambiguous: {int(empty.sum())} of {len(a_s)} segment(s) are empty or reversed after rounding "
                      f"to snippets (first at row {int(np.flatnonzero(empty)[0])}) and match no prediction",
                      stacklevel=3)
    index = {v: i for i, v in enumerate(videos)}
    avid = np.array([index.get(v, -1) for v in _normalise_keys(amb["video"], kind)], dtype=np.int64)
    perm = np.argsort(pvid, kind="stable")
    sv = pvid[perm]
    drop = np.zeros(len(pvid), dtype=bool)
    for k in np.flatnonzero(avid >= 0).tolist():
        lo, hi = np.searchsorted(sv, avid[k]), np.searchsorted(sv, avid[k], side="right")
        rows = perm[lo:hi]
        # |[ps, pe) ∩ [as, ae)| > 0 (W-TALC tests IoU > 0; an empty union never overlaps)
        hit = np.maximum(ps[rows], a_s[k]) < np.minimum(pe[rows], a_e[k])
        drop[rows[hit]] = True
    return np.where(drop, -1, plab)
