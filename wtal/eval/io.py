"""Read and write detection ground truth and predictions.

Formats:

* ActivityNet ground-truth JSON ``{"database": {video: {"subset", "duration", "annotations":
  [{"label", "segment": [s, e]}]}}}`` (also the database-less ``anet_anno_action.json`` layout of
  BMN/ActionFormer, and HAM-Net's extra ``"class-list"`` key);
* ActivityNet results JSON ``{"version", "results": {video: [{"label", "score", "segment": [s, e]}]},
  "external_data": {}}``;
* W-TALC / 3C-Net annotation folders (``segments.npy``, ``labels.npy``, ``videoname.npy``,
  ``subset.npy``, optional ``duration.npy``), read with the restricted unpickler of
  :mod:`wtal.safe_npy`;
* W-TALC's ``Ambiguous_test.txt`` (``video start end`` per line, any whitespace);
* ``.parquet`` / ``.csv`` / ``.npz`` tables of predictions or ground truth, one row per instance
  (:mod:`wtal.eval.columnar`; ActionFormer's ``video-id``, ``t-start``, ``t-end`` names accepted).

Results and ground-truth JSON files are parsed by a C++ reader (``wtal._C.parse_results_json``) that
puts arrays of predictions/annotations straight into float64 / label-code columns, without a Python
object per row, and builds everything else as ``json.loads`` would (duplicate keys: last wins;
numbers: Python's ``float()`` of json's value, bit for bit). Arrays it does not recognise (a string
score, a segment of three numbers, a missing key ...) are built as JSON and checked value by value as
before, and a malformed or non-UTF-8 file is handed to ``json.loads``, so every message is unchanged.

Everything is returned as *columns*: a ``dict`` of equally long 1-D numpy arrays, ``video`` and
``label`` as object arrays (``str``, or ``int`` labels where the file has integer labels),
``t_start``/``t_end``/``score`` as float64, in file order. Loading follows the official ActivityNet
code (``float()`` on each segment boundary, so ``"88.6"`` is read as 88.6; scores and segments are
kept as given, including NaN, inf, reversed and zero-length segments: rejecting those is the job of
the evaluator's strict mode). Structural problems (malformed JSON, missing keys, a segment that is not
two numbers, a non-numeric value) raise ``ValueError`` naming the file, the video and the field; a
missing file raises ``FileNotFoundError`` naming it.

This module imports neither torch nor pandas; pandas DataFrames (and objects with ``to_columns()``,
e.g. :class:`wtal.localize.Detections`) are accepted where columns are.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from wtal._atomic import atomic_write_text
from wtal.eval.columnar import is_columnar_file, read_columns

GT_COLUMNS = ("video", "t_start", "t_end", "label")
PRED_COLUMNS = ("video", "t_start", "t_end", "label", "score")


@dataclass(frozen=True)
class GroundTruthInfo:
    """Per-video information that the instance columns cannot carry.

    Attributes:
        videos: object [V], every selected video in file order, including videos without annotations.
        subsets: object [V], each video's subset (``None`` where the file gives none).
        durations: float64 [V], each video's duration in seconds (``"duration"`` or
            ``"duration_second"``; ``duration.npy`` for W-TALC), NaN where unknown.
        classes: the file's class list in index order (HAM-Net's ``"class-list"``; W-TALC's
            ``classlist.npy``), or ``None`` if the source has none.
    """

    videos: np.ndarray
    subsets: np.ndarray
    durations: np.ndarray
    classes: list[str] | None = None


# --------------------------------------------------------------------------------------------------
# small helpers


def _fspath(path: Any, what: str) -> str:
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"{what} must be a path, a parsed JSON dict or columns, got {type(path).__name__}") \
            from None


def _read_bytes(path: str) -> bytes:
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a directory, not a file")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; errors name the file (and the line and column for malformed JSON).

    Python's ``json`` reads the non-standard ``NaN``/``Infinity`` tokens; they are kept.
    """
    p = _fspath(path, "path")
    return _loads(_read_bytes(p), p)


def _loads(data: bytes, p: str) -> Any:
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p}: not UTF-8/16/32 text ({exc.reason} at byte {exc.start})") from exc
    except RecursionError:
        raise ValueError(f"{p}: malformed JSON: nested too deeply") from None


def _scalar(x: Any) -> float:
    """``float(x)`` as the official code does, but only for numbers and numeric strings."""
    if isinstance(x, (bool, np.bool_)):
        raise ValueError(f"expected a number, got the boolean {x!r}")
    if isinstance(x, (int, float, np.integer, np.floating)):
        try:
            return float(x)
        except OverflowError:
            raise ValueError(f"the number {x!r} is out of float64 range") from None
    if isinstance(x, str):
        try:
            return float(x)
        except ValueError:
            raise ValueError(f"expected a number, got the non-numeric string {x!r}") from None
    raise ValueError(f"expected a number, got {type(x).__name__} {_short(x)}")


def _short(x: Any, n: int = 40) -> str:
    r = repr(x)
    return r if len(r) <= n else r[: n - 3] + "..."


def _float_column(values: list, where: Callable[[int], str]) -> np.ndarray:
    """Convert raw JSON values to float64; ``where(i)`` names the i-th value in error messages."""
    types = set(map(type, values))
    if types <= {float, int}:
        try:
            return np.array(values, dtype=np.float64)
        except OverflowError:
            pass  # an int beyond float64: find it below
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        try:
            out[i] = _scalar(v)
        except ValueError as exc:
            raise ValueError(f"{where(i)}: {exc}") from None
    return out


def _key(x: Any, field: str, where: str) -> str | int:
    """A video id or label: ``str`` or ``int`` (numpy strings/ints and UTF-8 bytes are converted)."""
    if isinstance(x, str):
        return str(x)
    if isinstance(x, (bytes, np.bytes_)):
        try:
            return bytes(x).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{where}: {field} {_short(x)} is not UTF-8") from None
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        return int(x)
    raise ValueError(f"{where}: {field} must be a string or an integer, got {type(x).__name__} {_short(x)}")


def _key_column(values: list, field: str, where: Callable[[int], str]) -> np.ndarray:
    types = set(map(type, values))
    if not types <= {str, int}:
        values = [_key(v, field, where(i)) for i, v in enumerate(values)]
        types = set(map(type, values))
    if len(types) > 1:
        first_int = next(i for i, v in enumerate(values) if isinstance(v, int))
        first_str = next(i for i, v in enumerate(values) if isinstance(v, str))
        raise ValueError(f"{where(max(first_int, first_str))}: {field} values mix strings and integers "
                         f"({values[first_str]!r} and {values[first_int]!r})")
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _pair(seg: Any, where: str) -> tuple[Any, Any]:
    if isinstance(seg, (list, tuple)) or (isinstance(seg, np.ndarray) and seg.ndim == 1):
        if len(seg) == 2:
            return seg[0], seg[1]
        raise ValueError(f"{where}: \"segment\" must be [start, end], got {len(seg)} values {_short(seg)}")
    raise ValueError(f"{where}: \"segment\" must be [start, end], got {type(seg).__name__} {_short(seg)}")


def _is_columnar(obj: Any) -> bool:
    if hasattr(obj, "to_columns") and callable(obj.to_columns):
        return True
    if hasattr(obj, "columns") and hasattr(obj, "to_numpy"):  # pandas DataFrame, without importing pandas
        return True
    return isinstance(obj, Mapping) and "video" in obj and "t_start" in obj


def columns_from(obj: Any, required: Sequence[str], name: str = "columns") -> dict[str, np.ndarray]:
    """Normalise a columnar input (dict of arrays, DataFrame, ``Detections``) to fresh numpy columns.

    Extra columns (e.g. ``subset``) are copied as well. ``video``/``label`` become object arrays of
    ``str`` or ``int``; the time and score columns become float64 (numbers and numeric strings only).
    The caller's arrays are never modified or aliased.

    Raises:
        ValueError: a required column is missing, the columns differ in length, or a value is invalid.
    """
    if hasattr(obj, "to_columns") and callable(obj.to_columns):
        obj = obj.to_columns()
    if hasattr(obj, "columns") and hasattr(obj, "to_numpy") and not isinstance(obj, Mapping):
        raw = {str(c): obj[c].to_numpy() for c in obj.columns}
    elif isinstance(obj, Mapping):
        raw = dict(obj)
    else:
        raise TypeError(f"{name} must be a mapping of columns or a DataFrame, got {type(obj).__name__}")
    missing = [c for c in required if c not in raw]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(repr(c) for c in missing)} "
                         f"(need {', '.join(required)})")
    out: dict[str, np.ndarray] = {}
    n = None
    for key, col in raw.items():
        if hasattr(col, "detach") and hasattr(col, "cpu"):  # torch tensor
            col = col.detach().cpu().numpy()
        arr = np.asarray(col)
        if arr.ndim != 1:
            raise ValueError(f"{name}: column {key!r} must be 1-D, got shape {list(arr.shape)}")
        if n is None:
            n = len(arr)
        elif len(arr) != n:
            raise ValueError(f"{name}: column {key!r} has {len(arr)} rows, expected {n}")
        where = (lambda k: (lambda i: f"{name}: row {i}, column {k!r}"))(key)
        if key in ("video", "label"):
            out[key] = _key_column(arr.tolist(), key, where)
        elif key in ("t_start", "t_end", "score"):
            if arr.dtype.kind == "f":
                out[key] = arr.astype(np.float64, copy=True)
            elif arr.dtype.kind in "iu":
                out[key] = arr.astype(np.float64)
            else:
                out[key] = _float_column(arr.tolist(), where)
        else:
            out[key] = arr.copy()
    return out


def _columnar_file(p: str, required: Sequence[str]) -> dict[str, np.ndarray]:
    """Columns of a ``.parquet`` / ``.csv`` / ``.npz`` file (:mod:`wtal.eval.columnar`)."""
    cols = read_columns(p)
    missing = [c for c in required if c not in cols]
    if missing:
        raise ValueError(f"{p}: missing column(s) {', '.join(repr(c) for c in missing)} (need "
                         f"{', '.join(required)}; ActionFormer's video-id, t-start, t-end are accepted too), "
                         f"found {', '.join(repr(c) for c in cols) or 'none'}")
    return cols


def _empty(cols: Sequence[str]) -> dict[str, np.ndarray]:
    return {c: (np.empty(0, dtype=object) if c in ("video", "label") else np.empty(0, dtype=np.float64))
            for c in cols}


class _Rows:
    """Where the C++ reader found an array of predictions / annotations: rows ``[start, start + count)``
    of the file's row columns; ``has_score``: every element has a ``"score"`` (else none has)."""

    __slots__ = ("start", "count", "has_score")

    def __init__(self, start: int, count: int, has_score: bool) -> None:
        self.start, self.count, self.has_score = start, count, has_score


@dataclass(frozen=True)
class _RowStore:
    """The row columns of a file read by ``wtal._C.parse_results_json``: ``t_start``, ``t_end``, ``score``
    float64 [R] and ``label`` int32 [R] indexing ``labels`` (its distinct str/int labels)."""

    columns: dict
    labels: list


def _read_json_rows(p: str) -> tuple[Any, _RowStore | None]:
    """Parse a results / ground-truth JSON file with the C++ reader (arrays of predictions or
    annotations become :class:`_Rows`); where it cannot decide (malformed JSON, not UTF-8, deep
    nesting) ``json.loads`` parses the file and reports the error, exactly as :func:`read_json`."""
    from wtal._ext import _C

    data = _read_bytes(p)
    parsed = _C.parse_results_json(data, _Rows)
    if parsed is None:
        return _loads(data, p), None
    doc, columns, labels = parsed
    return doc, _RowStore(columns, labels)


def _source(path_or_dict: Any, what: str) -> tuple[Any, str, _RowStore | None]:
    """Return (parsed object, name for messages, row store of the C++ reader or None)."""
    if isinstance(path_or_dict, Mapping):
        return path_or_dict, what, None
    p = _fspath(path_or_dict, what)
    doc, store = _read_json_rows(p)
    return doc, p, store


def _assemble(name: str, item: str, pieces: list, store: _RowStore | None, videos: list, starts: list,
              ends: list, labels: list, scores: list | None) -> dict[str, np.ndarray]:
    """Columns of a file's rows in file order.

    ``pieces`` lists ``(video, rows, a, b)`` per video: ``rows`` a :class:`_Rows` of ``store``, or None
    for rows ``a:b`` of the plain lists (arrays the C++ reader left as JSON). Without plain rows the
    columns are gathered from ``store`` with no Python object per row; otherwise every row goes through
    the per-value conversion (and its messages) as before.
    """
    with_score = scores is not None
    fields = PRED_COLUMNS if with_score else GT_COLUMNS
    if not videos:
        return _gather_rows(name, item, [(v, r) for v, r, _, _ in pieces], store, fields)
    if any(r is not None for _, r, _, _ in pieces):
        cols, table = store.columns, store.labels
        v2, s2, e2, l2, c2 = [], [], [], [], []
        for vid, r, a, b in pieces:
            if r is None:
                v2 += videos[a:b]
                s2 += starts[a:b]
                e2 += ends[a:b]
                l2 += labels[a:b]
                if with_score:
                    c2 += scores[a:b]
            else:
                sl = slice(r.start, r.start + r.count)
                v2 += [vid] * r.count
                s2 += cols["t_start"][sl].tolist()
                e2 += cols["t_end"][sl].tolist()
                l2 += [table[c] for c in cols["label"][sl].tolist()]
                if with_score:
                    c2 += cols["score"][sl].tolist()
        videos, starts, ends, labels, scores = v2, s2, e2, l2, (c2 if with_score else None)

    def where(kind: str) -> Callable[[int], str]:
        return lambda i: _row_where(name, videos, i, item, kind)

    out = {
        "video": _object(videos),
        "t_start": _float_column(starts, where("\"segment\"[0]")),
        "t_end": _float_column(ends, where("\"segment\"[1]")),
        "label": _key_column(labels, "\"label\"", where("\"label\"")),
    }
    if with_score:
        out["score"] = _float_column(scores, where("\"score\""))
    return out


def _gather_rows(name: str, item: str, runs: list, store: _RowStore | None,
                 fields: Sequence[str]) -> dict[str, np.ndarray]:
    """Columns of ``runs`` = ``[(video, _Rows)]`` in order, gathered from ``store`` (vectorised)."""
    if not runs:
        return _empty(fields)
    cols = store.columns
    counts = np.fromiter((r.count for _, r in runs), dtype=np.int64, count=len(runs))
    firsts = np.fromiter((r.start for _, r in runs), dtype=np.int64, count=len(runs))
    total = int(counts.sum())
    offsets = np.cumsum(counts) - counts
    if total == len(cols["t_start"]) and (firsts == offsets).all():
        idx = None  # the file's rows in file order: no gather (the usual case)
    else:  # a repeated video key replaced an earlier array (json: last value wins, first position)
        idx = np.repeat(firsts - offsets, counts) + np.arange(total)

    def take(a: np.ndarray) -> np.ndarray:
        return a if idx is None else a[idx]

    video = _object([v for v, _ in runs])[np.repeat(np.arange(len(runs)), counts)]
    codes = take(cols["label"])
    table = _object(store.labels)
    used = np.flatnonzero(np.bincount(codes, minlength=len(table)))
    is_int = np.array([type(table[k]) is int for k in range(len(table))], dtype=bool)
    if is_int[used].any() and not is_int[used].all():
        row_int = is_int[codes]
        first_int, first_str = int(np.argmax(row_int)), int(np.argmax(~row_int))
        field = "\"label\""
        raise ValueError(f"{_row_where(name, video, max(first_int, first_str), item, field)}: {field} values mix "
                         f"strings and integers ({table[codes[first_str]]!r} and {table[codes[first_int]]!r})")
    out = {"video": video, "t_start": take(cols["t_start"]), "t_end": take(cols["t_end"]),
           "label": table[codes]}
    if "score" in fields:
        out["score"] = take(cols["score"])
    return out


# --------------------------------------------------------------------------------------------------
# ActivityNet ground truth


def _class_list(data: Mapping, name: str) -> list[str] | None:
    cl = data.get("class-list")
    if cl is None:
        return None
    if isinstance(cl, Mapping):  # HAM-Net: {"0": "BaseballPitch", ...}
        try:
            items = sorted((int(k), v) for k, v in cl.items())
        except (TypeError, ValueError):
            raise ValueError(f"{name}: \"class-list\" keys must be integer class indices") from None
        return [str(v) for _, v in items]
    if isinstance(cl, list):
        return [str(v) for v in cl]
    raise ValueError(f"{name}: \"class-list\" must be a list or an index->name mapping, "
                     f"got {type(cl).__name__}")


def load_ground_truth(path_or_dict: Any, subset: str | None = None, *,
                      return_info: bool = False) -> Any:
    """Load ActivityNet-style ground truth as columns.

    Args:
        path_or_dict: a JSON file path, the parsed dict, or columns (dict of arrays / DataFrame with
            ``video, t_start, t_end, label`` and, for ``subset`` filtering, ``subset``). The JSON has a
            top-level ``"database"`` (official; ``"taxonomy"``/``"version"`` are not required), or is
            itself the ``{video: {...}}`` mapping (``anet_anno_action.json``).
        subset: keep only videos whose ``"subset"`` equals this (the official evaluator's default is
            ``"validation"``); ``None`` keeps every video.
        return_info: also return a :class:`GroundTruthInfo` (per-video subset and duration, every
            selected video including those without annotations, and HAM-Net's ``"class-list"``).

    Returns:
        ``{"video": object [N], "t_start": float64 [N], "t_end": float64 [N], "label": object [N]}``
        in file order (videos, then annotations), or ``(columns, info)`` with ``return_info``.
        Segments are ``float()``-converted like the official code; nothing else is validated here.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: malformed JSON, a missing ``database``/``annotations``/``segment``/``label``, a
            segment that is not two numbers, or a ``subset`` that no video has.
    """
    name = "ground truth"
    if is_columnar_file(path_or_dict):
        name = os.fspath(path_or_dict)
        path_or_dict = _columnar_file(name, GT_COLUMNS)
    if _is_columnar(path_or_dict):
        cols = columns_from(path_or_dict, GT_COLUMNS, name)
        subsets = cols["subset"].tolist() if "subset" in cols else None
        if subset is not None:
            if subsets is None:
                raise ValueError(f"{name}: subset={subset!r} requested but the columns have no 'subset'")
            keep = np.array([s == subset for s in subsets], dtype=bool)
            if not keep.any():
                raise ValueError(f"{name}: no row has subset {subset!r} (present: "
                                 f"{', '.join(sorted(map(str, set(subsets))))})")
            cols = {k: v[keep] for k, v in cols.items()}
            subsets = None
        if return_info:
            first = dict.fromkeys(cols["video"].tolist())
            if subsets is not None:  # each video's subset: that of its first row
                for v, sub in zip(cols["video"].tolist(), subsets):
                    if first[v] is None:
                        first[v] = sub
            vsub = [subset] * len(first) if subsets is None else list(first.values())
            info = GroundTruthInfo(_object(list(first)), _object(vsub), np.full(len(first), np.nan), None)
            return cols, info
        return cols

    data, name, store = _source(path_or_dict, "ground truth")
    if not isinstance(data, Mapping):
        raise ValueError(f"{name}: expected a JSON object with a \"database\" key, got {type(data).__name__}")
    if "database" in data:
        db = data["database"]
        if not isinstance(db, Mapping):
            raise ValueError(f"{name}: \"database\" must be an object {{video: {{...}}}}, got {type(db).__name__}")
    elif data and all(isinstance(v, Mapping) and "annotations" in v for v in data.values()):
        db = data  # anet_anno_action.json: the database itself
    else:
        hint = " (this looks like a results file: pass it as predictions)" if "results" in data else ""
        raise ValueError(f"{name}: missing key \"database\"{hint}")
    classes = _class_list(data, name) if "database" in data else None

    pieces: list = []  # (video, _Rows | None, a, b) per video with annotations, in file order
    videos: list = []  # rows of the annotation arrays the C++ reader left as JSON
    starts: list = []
    ends: list = []
    labels: list = []
    info_videos: list = []
    info_subsets: list = []
    info_durations: list = []
    seen_subsets: set = set()
    for vid, entry in db.items():
        where_v = f"{name}: video {vid!r}"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where_v}: expected an object with \"annotations\", got {type(entry).__name__}")
        vsub = entry.get("subset")
        seen_subsets.add(vsub)
        if subset is not None and vsub != subset:
            continue
        if "annotations" not in entry:
            raise ValueError(f"{where_v}: missing key \"annotations\"")
        anns = entry["annotations"]
        rows = anns if type(anns) is _Rows else None
        if rows is None and not isinstance(anns, list):
            raise ValueError(f"{where_v}: \"annotations\" must be a list, got {type(anns).__name__}")
        vid_key = _key(vid, "video", where_v)
        info_videos.append(vid_key)
        info_subsets.append(vsub)
        dur = entry.get("duration", entry.get("duration_second"))
        if dur is None:
            info_durations.append(math.nan)
        else:
            try:
                info_durations.append(_scalar(dur))
            except ValueError as exc:
                raise ValueError(f"{where_v}: \"duration\": {exc}") from None
        if rows is not None:
            pieces.append((vid_key, rows, 0, 0))
            continue
        first = len(videos)
        for k, ann in enumerate(anns):
            if not isinstance(ann, Mapping):
                raise ValueError(f"{where_v}, annotation {k}: expected an object, got {type(ann).__name__}")
            for field in ("segment", "label"):
                if field not in ann:
                    raise ValueError(f"{where_v}, annotation {k}: missing key \"{field}\"")
            s, e = _pair(ann["segment"], f"{where_v}, annotation {k}")
            videos.append(vid_key)
            starts.append(s)
            ends.append(e)
            labels.append(ann["label"])
        if len(videos) > first:
            pieces.append((vid_key, None, first, len(videos)))

    if subset is not None and not info_videos:
        present = ", ".join(sorted(repr(s) for s in seen_subsets)) or "none"
        raise ValueError(f"{name}: no video has subset {subset!r} (subsets in the file: {present})")

    cols = _assemble(name, "annotation", pieces, store, videos, starts, ends, labels, None)
    if return_info:
        info = GroundTruthInfo(_object(info_videos), _object(info_subsets),
                               np.array(info_durations, dtype=np.float64), classes)
        return cols, info
    return cols


def _object(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _row_where(name: str, videos: list, i: int, item: str, field: str) -> str:
    """Locate flat row ``i`` as (video, index within the video) for an error message."""
    j = i
    while j > 0 and videos[j - 1] == videos[i]:
        j -= 1
    return f"{name}: video {videos[i]!r}, {item} {i - j}, {field}"


# --------------------------------------------------------------------------------------------------
# ActivityNet results (predictions)


def load_predictions(path_or_dict: Any) -> dict[str, np.ndarray]:
    """Load ActivityNet results JSON as columns.

    Only ``"results"`` is required (the official code also requires ``"version"`` and
    ``"external_data"``; derivatives do not). Every entry needs ``"label"``, ``"score"`` and
    ``"segment"``. Predictions are not filtered by subset (a prediction on a video without ground truth
    is a false positive, as in the official evaluator).

    Args:
        path_or_dict: a JSON file path, the parsed dict, or prediction columns (dict of arrays,
            DataFrame or ``Detections`` with ``video, t_start, t_end, label, score``).

    Returns:
        ``{"video", "t_start", "t_end", "label", "score"}`` columns (object/float64, length N), in file
        order. Scores and segments are ``float()``-converted; NaN and inf are kept.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: malformed JSON, a missing ``results``/``segment``/``label``/``score``, a segment that
            is not two numbers, or a non-numeric score or boundary.
    """
    if is_columnar_file(path_or_dict):
        name = os.fspath(path_or_dict)
        return columns_from(_columnar_file(name, PRED_COLUMNS), PRED_COLUMNS, name)
    if _is_columnar(path_or_dict):
        return columns_from(path_or_dict, PRED_COLUMNS, "predictions")
    data, name, store = _source(path_or_dict, "predictions")
    if not isinstance(data, Mapping):
        raise ValueError(f"{name}: expected a JSON object with a \"results\" key, got {type(data).__name__}")
    if "results" not in data:
        hint = " (this looks like a ground-truth file)" if "database" in data else ""
        raise ValueError(f"{name}: missing key \"results\"{hint}")
    results = data["results"]
    if not isinstance(results, Mapping):
        raise ValueError(f"{name}: \"results\" must be an object {{video: [...]}}, got {type(results).__name__}")

    pieces: list = []  # (video, _Rows | None, a, b) per video with predictions, in file order
    videos: list = []  # rows of the prediction arrays the C++ reader left as JSON
    starts: list = []
    ends: list = []
    labels: list = []
    scores: list = []
    for vid, entries in results.items():
        where_v = f"{name}: video {vid!r}"
        if type(entries) is _Rows:
            if not entries.has_score:
                raise ValueError(f"{where_v}, prediction 0: missing key \"score\"")
            pieces.append((vid, entries, 0, 0))
            continue
        if not isinstance(entries, list):
            raise ValueError(f"{where_v}: expected a list of predictions, got {type(entries).__name__}")
        vid_key = _key(vid, "video", where_v)
        first = len(videos)
        for k, p in enumerate(entries):
            try:
                seg = p["segment"]
                lab = p["label"]
                sc = p["score"]
            except (KeyError, TypeError, IndexError):
                if not isinstance(p, Mapping):
                    raise ValueError(f"{where_v}, prediction {k}: expected an object, got {type(p).__name__}") \
                        from None
                missing = next(f for f in ("segment", "label", "score") if f not in p)
                raise ValueError(f"{where_v}, prediction {k}: missing key \"{missing}\"") from None
            if type(seg) is list and len(seg) == 2:
                s, e = seg
            else:
                s, e = _pair(seg, f"{where_v}, prediction {k}")
            videos.append(vid_key)
            starts.append(s)
            ends.append(e)
            labels.append(lab)
            scores.append(sc)
        if len(videos) > first:
            pieces.append((vid_key, None, first, len(videos)))
    return _assemble(name, "prediction", pieces, store, videos, starts, ends, labels, scores)


def _results_columns(columns_or_detections: Any, allow_nan: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Validated prediction columns and the row order that groups them by video (first appearance)."""
    cols = columns_from(columns_or_detections, PRED_COLUMNS, "predictions")
    if not allow_nan:
        for key in ("t_start", "t_end", "score"):
            bad = ~np.isfinite(cols[key])
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"predictions: row {i} (video {cols['video'][i]!r}) has {key} = {cols[key][i]}; "
                                 "JSON has no NaN/inf (pass allow_nan=True to write Python's non-standard tokens)")
    keys = [str(v) for v in cols["video"].tolist()]
    first: dict[str, int] = {}
    group = np.fromiter((first.setdefault(k, len(first)) for k in keys), dtype=np.int64, count=len(keys))
    cols["video"] = _object(keys)
    return cols, np.argsort(group, kind="stable")


def results_to_json_dict(columns_or_detections: Any, *, version: str = "wtal",
                         external_data: Mapping | None = None,
                         allow_nan: bool = False) -> dict[str, Any]:
    """Build the ActivityNet results dict from prediction columns.

    Rows are grouped by video in order of first appearance; within a video they keep their input
    order, so every (video, class) keeps its input order. Reading the file back gives, per class, the
    input rows stably grouped by video: the input's own per-class order exactly when each video's rows
    are contiguous in the input (or, more generally, each class visits videos in first-appearance
    order). That order is what equal scores are ranked by (both tie policies), so only then does the
    file give the same tied APs as the columns it was written from. Video ids become JSON object keys,
    i.e. strings. Values are Python floats, so
    ``json.dumps`` writes the shortest repr that round-trips bit for bit.

    Args:
        columns_or_detections: columns ``video, t_start, t_end, label, score`` (dict of arrays,
            DataFrame) or an object with ``to_columns()`` such as ``Detections``.
        version: the ``"version"`` field.
        external_data: the ``"external_data"`` field (default ``{}``).
        allow_nan: permit NaN/inf scores and boundaries (written as the non-standard ``NaN``/
            ``Infinity`` tokens that Python's json reads back but strict JSON parsers reject).

    Raises:
        ValueError: a column is missing or invalid, or a value is NaN/inf without ``allow_nan``.
    """
    cols, order = _results_columns(columns_or_detections, allow_nan)
    video = cols["video"][order].tolist()
    ts = cols["t_start"][order].tolist()
    te = cols["t_end"][order].tolist()
    lab = cols["label"][order].tolist()
    sc = cols["score"][order].tolist()
    results: dict[str, list] = {}
    for v, s, e, la, c in zip(video, ts, te, lab, sc):
        lst = results.get(v)
        if lst is None:
            lst = results[v] = []
        lst.append({"label": la, "score": c, "segment": [s, e]})
    return {"version": version, "results": results,
            "external_data": dict(external_data) if external_data is not None else {}}


def _results_text(cols: dict[str, np.ndarray], order: np.ndarray, version: Any, external_data: Any) -> str:
    """JSON text equal to ``json.dumps(results_to_json_dict(...))`` for finite values, built without
    per-row dicts (2-3x faster at 1M rows); ``float.__repr__`` is what ``json`` writes for finite floats."""
    head = json.dumps({"version": version})[:-1]
    tail = ", \"external_data\": " + json.dumps(dict(external_data) if external_data is not None else {}) + "}"
    video = cols["video"][order].tolist()
    ts = cols["t_start"][order].tolist()
    te = cols["t_end"][order].tolist()
    lab = cols["label"][order].tolist()
    sc = cols["score"][order].tolist()
    fr = float.__repr__
    enc: dict = {}
    groups: list[str] = []
    rows: list[str] = []
    current = None
    for v, s, e, la, c in zip(video, ts, te, lab, sc):
        if v != current:
            if current is not None:
                groups.append(json.dumps(current) + ": [" + ", ".join(rows) + "]")
            current, rows = v, []
        L = enc.get(la)
        if L is None:
            L = enc[la] = json.dumps(la)
        rows.append(f'{{"label": {L}, "score": {fr(c)}, "segment": [{fr(s)}, {fr(e)}]}}')
    if current is not None:
        groups.append(json.dumps(current) + ": [" + ", ".join(rows) + "]")
    return head + ", \"results\": {" + ", ".join(groups) + "}" + tail


def write_results(path: str | os.PathLike, columns_or_detections: Any, *, version: str = "wtal",
                  external_data: Mapping | None = None, allow_nan: bool = False) -> None:
    """Write predictions as ActivityNet results JSON, atomically (the old file survives a failure).

    See :func:`results_to_json_dict` for the layout and arguments; reading the file back with
    :func:`load_predictions` gives bit-identical float64 columns (video ids as strings).
    """
    p = _fspath(path, "path")
    if allow_nan:
        text = json.dumps(results_to_json_dict(columns_or_detections, version=version,
                                               external_data=external_data, allow_nan=True))
    else:
        cols, order = _results_columns(columns_or_detections, allow_nan=False)
        text = _results_text(cols, order, version, external_data)
    atomic_write_text(p, text)


# --------------------------------------------------------------------------------------------------
# W-TALC annotation files


def load_ambiguous(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read W-TALC's ``Ambiguous_test.txt``: one ``video start end`` per line (any whitespace).

    Returns:
        ``{"video": object [N], "t_start": float64 [N], "t_end": float64 [N]}`` in file order. Blank
        lines are skipped.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a line does not have exactly three fields or a time is not a number.
    """
    p = _fspath(path, "path")
    raw = _read_bytes(p)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    videos: list = []
    starts: list = []
    ends: list = []
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise ValueError(f"{p}, line {lineno}: expected 'video start end', got {len(fields)} field(s) "
                             f"{_short(line.strip())}")
        try:
            s, e = float(fields[1]), float(fields[2])
        except ValueError:
            raise ValueError(f"{p}, line {lineno}: start/end must be numbers, got {fields[1]!r} {fields[2]!r}") \
                from None
        videos.append(fields[0])
        starts.append(s)
        ends.append(e)
    return {"video": _object(videos), "t_start": np.array(starts, dtype=np.float64),
            "t_end": np.array(ends, dtype=np.float64)}


def ground_truth_from_wtalc(annotation_dir: str | os.PathLike, subset: str | None = "test",
                            classes: Sequence[str] | None = None, *, return_info: bool = False) -> Any:
    """Ground truth from a W-TALC / 3C-Net annotation folder (``Thumos14reduced-Annotations/`` ...).

    Reads ``videoname.npy``, ``subset.npy``, ``segments.npy`` and ``labels.npy`` (and ``duration.npy``,
    ``classlist.npy`` when present) with the restricted unpickler; never ``allow_pickle=True``.

    Args:
        annotation_dir: the folder holding the ``.npy`` files.
        subset: keep videos of this subset (W-TALC evaluates THUMOS14 on ``"test"``, ActivityNet 1.2 on
            ``"validation"``); ``None`` keeps all.
        classes: if given, keep only instances whose label is in ``classes`` (e.g. the class list, to
            drop labels such as ``"Ambiguous"``); ``None`` keeps every label.
        return_info: also return a :class:`GroundTruthInfo` (videos of the subset in file order, with
            durations and ``classlist.npy`` as ``classes``).

    Returns:
        Columns ``video, t_start, t_end, label`` in file order (or ``(columns, info)``).

    Raises:
        FileNotFoundError: the folder or a required file is missing.
        ValueError: the arrays disagree in length, a video's segments and labels differ in number,
            a segment is not two numbers, or no video has ``subset``.
    """
    from wtal.safe_npy import load_npy, to_str

    d = _fspath(annotation_dir, "annotation_dir")
    if not os.path.isdir(d):
        raise FileNotFoundError(f"no such annotation folder: {d}")
    arrays = {}
    for key in ("videoname", "subset", "segments", "labels"):
        arrays[key] = load_npy(os.path.join(d, key + ".npy"))
    n = len(arrays["videoname"])
    for key, arr in arrays.items():
        if arr.ndim != 1 or len(arr) != n:
            raise ValueError(f"{os.path.join(d, key + '.npy')}: expected {n} entries (one per video in "
                             f"videoname.npy), got shape {list(arr.shape)}")
    dur_path = os.path.join(d, "duration.npy")
    durations = np.full(n, np.nan)
    if os.path.isfile(dur_path):
        dur = load_npy(dur_path)
        if dur.size != n:
            raise ValueError(f"{dur_path}: expected {n} durations, got shape {list(dur.shape)}")
        durations = np.asarray(dur, dtype=np.float64).reshape(n)
    class_list = None
    cl_path = os.path.join(d, "classlist.npy")
    if os.path.isfile(cl_path):
        class_list = [to_str(c) for c in load_npy(cl_path).reshape(-1)]
    keep_labels = None if classes is None else {to_str(c) for c in classes}

    names = [to_str(v) for v in arrays["videoname"]]
    subsets = [to_str(s) for s in arrays["subset"]]
    seg_path = os.path.join(d, "segments.npy")
    videos: list = []
    starts: list = []
    ends: list = []
    labels: list = []
    sel: list[int] = []
    for i in range(n):
        if subset is not None and subsets[i] != subset:
            continue
        sel.append(i)
        segs, labs = arrays["segments"][i], arrays["labels"][i]
        segs = [] if segs is None else list(segs)
        labs = [] if labs is None else list(labs)
        if len(segs) != len(labs):
            raise ValueError(f"{seg_path}: video {names[i]!r} has {len(segs)} segments but labels.npy has "
                             f"{len(labs)} labels")
        for k, (seg, lab) in enumerate(zip(segs, labs)):
            lab = to_str(lab)
            if keep_labels is not None and lab not in keep_labels:
                continue
            where = f"{seg_path}: video {names[i]!r}, segment {k}"
            s, e = _pair(seg, where)
            try:
                s, e = _scalar(s), _scalar(e)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            videos.append(names[i])
            starts.append(s)
            ends.append(e)
            labels.append(lab)
    if subset is not None and not sel:
        present = ", ".join(sorted(repr(s) for s in set(subsets))) or "none"
        raise ValueError(f"{d}: no video has subset {subset!r} (subsets: {present})")
    cols = {"video": _object(videos), "t_start": np.array(starts, dtype=np.float64),
            "t_end": np.array(ends, dtype=np.float64), "label": _object(labels)}
    if return_info:
        info = GroundTruthInfo(_object([names[i] for i in sel]), _object([subsets[i] for i in sel]),
                               durations[sel].copy(), class_list)
        return cols, info
    return cols


__all__ = [
    "GT_COLUMNS",
    "PRED_COLUMNS",
    "GroundTruthInfo",
    "columns_from",
    "ground_truth_from_wtalc",
    "load_ambiguous",
    "load_ground_truth",
    "load_predictions",
    "read_json",
    "results_to_json_dict",
    "write_results",
]
