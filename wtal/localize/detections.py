"""Columnar detections and their ActivityNet results JSON.

A :class:`Detections` holds one row per detected segment: ``video`` and ``label`` (object arrays of
``str``), ``t_start``, ``t_end`` and ``score`` (float64). The profiles of :mod:`wtal.localize` return
one; :meth:`Detections.to_columns` feeds ``wtal.eval.evaluate_detection`` directly and
:meth:`Detections.write` produces the results file every WTAL evaluator reads::

    {"version": ..., "results": {video: [{"label", "score", "segment": [s, e]}]}, "external_data": {}}
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from wtal._atomic import atomic_write_text

DEFAULT_VERSION = "VERSION 1.3"

_FLOAT_COLUMNS = ("t_start", "t_end", "score")


def _str_column(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {list(arr.shape)}")
    out = np.empty(arr.shape[0], dtype=object)
    for i, v in enumerate(arr):
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        elif isinstance(v, np.str_):
            v = str(v)
        if not isinstance(v, str):
            raise TypeError(f"{name} must hold strings, got {type(v).__name__} at row {i}")
        out[i] = v
    return out


def _float_column(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {list(arr.shape)}")
    return arr


@dataclass(frozen=True, eq=False)
class Detections:
    """Detected segments of many videos, one row per segment (columnar).

    Attributes:
        video: [N] object array of ``str``, the video of each row.
        label: [N] object array of ``str``, the class name of each row.
        t_start: [N] float64 segment starts (seconds unless the producer says otherwise).
        t_end: [N] float64 segment ends.
        score: [N] float64 confidence.

    The constructor validates and converts its inputs (strings are decoded from ``bytes`` if needed,
    numbers become float64); rows keep the order they were given in. NaN values are refused.
    """

    video: np.ndarray
    label: np.ndarray
    t_start: np.ndarray
    t_end: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        cols = {
            "video": _str_column(self.video, "video"),
            "label": _str_column(self.label, "label"),
        }
        for name in _FLOAT_COLUMNS:
            cols[name] = _float_column(getattr(self, name), name)
        n = {k: v.shape[0] for k, v in cols.items()}
        if len(set(n.values())) != 1:
            raise ValueError(f"columns must have equal lengths, got {n}")
        for name in _FLOAT_COLUMNS:
            if cols[name].size and np.isnan(cols[name]).any():
                raise ValueError(f"{name} contains NaN")
        for k, v in cols.items():
            object.__setattr__(self, k, v)

    # construction ---------------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> "Detections":
        """No detections."""
        e = np.empty(0, dtype=object)
        z = np.empty(0, dtype=np.float64)
        return cls(e, e.copy(), z, z.copy(), z.copy())

    @classmethod
    def from_indices(cls, videos: Sequence[str], classes: Sequence[str], video_index: Any,
                     class_index: Any, t_start: Any, t_end: Any, score: Any) -> "Detections":
        """Build from integer video/class indices into the name lists ``videos`` and ``classes``."""
        vnames = _str_column(list(videos), "videos")
        cnames = _str_column(list(classes), "classes")
        vi = np.asarray(video_index, dtype=np.int64).reshape(-1)
        ci = np.asarray(class_index, dtype=np.int64).reshape(-1)
        if vi.size and (vi.min() < 0 or vi.max() >= len(vnames)):
            raise ValueError("video_index out of range of videos")
        if ci.size and (ci.min() < 0 or ci.max() >= len(cnames)):
            raise ValueError("class_index out of range of classes")
        cols = [_float_column(x, n) for x, n in ((t_start, "t_start"), (t_end, "t_end"), (score, "score"))]
        if not (vi.shape[0] == ci.shape[0] == cols[0].shape[0] == cols[1].shape[0] == cols[2].shape[0]):
            raise ValueError("video_index, class_index, t_start, t_end and score must have equal lengths")
        for c, n in zip(cols, ("t_start", "t_end", "score")):
            if c.size and np.isnan(c).any():
                raise ValueError(f"{n} contains NaN")
        return cls._unchecked(vnames[vi], cnames[ci], *cols)

    @classmethod
    def _unchecked(cls, video: np.ndarray, label: np.ndarray, t_start: np.ndarray, t_end: np.ndarray,
                   score: np.ndarray) -> "Detections":
        # Columns already validated by the caller (object arrays of str, float64): skip the per-row
        # string checks, which dominate for millions of rows.
        self = object.__new__(cls)
        for k, v in (("video", video), ("label", label), ("t_start", t_start), ("t_end", t_end),
                     ("score", score)):
            object.__setattr__(self, k, v)
        return self

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> "Detections":
        """Build from a mapping with keys ``video, label, t_start, t_end, score``."""
        missing = [k for k in ("video", "label", "t_start", "t_end", "score") if k not in columns]
        if missing:
            raise ValueError(f"columns is missing {missing}")
        return cls(columns["video"], columns["label"], columns["t_start"], columns["t_end"],
                   columns["score"])

    @classmethod
    def from_results_json(cls, data: Mapping[str, Any] | str | os.PathLike) -> "Detections":
        """Read an ActivityNet results JSON (path or parsed dict); rows follow the file order."""
        if not isinstance(data, Mapping):
            with open(data, encoding="utf-8") as f:
                data = json.load(f)
        if "results" not in data:
            raise ValueError("data has no 'results' key (not an ActivityNet results JSON)")
        v, l, s, e, sc = [], [], [], [], []
        for video, rows in data["results"].items():
            for r in rows:
                v.append(video)
                l.append(r["label"])
                s.append(float(r["segment"][0]))
                e.append(float(r["segment"][1]))
                sc.append(float(r["score"]))
        return cls(np.array(v, dtype=object), np.array(l, dtype=object), s, e, sc)

    @staticmethod
    def concat(parts: Iterable["Detections"]) -> "Detections":
        """Concatenate detections, keeping the order of ``parts`` and of the rows inside each."""
        parts = list(parts)
        if not parts:
            return Detections.empty()
        for p in parts:
            if not isinstance(p, Detections):
                raise TypeError(f"parts must hold Detections, got {type(p).__name__}")
        return Detections._unchecked(*(np.concatenate([getattr(p, k) for p in parts])
                                       for k in ("video", "label", "t_start", "t_end", "score")))

    # access ---------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.score.shape[0])

    def __repr__(self) -> str:
        nv = len(set(self.video.tolist()))
        return f"Detections({len(self)} segments in {nv} videos)"

    def to_columns(self) -> dict[str, np.ndarray]:
        """Dict of columns ``video, t_start, t_end, label, score`` (copies), the columnar input of
        ``wtal.eval.evaluate_detection``."""
        return {"video": self.video.copy(), "t_start": self.t_start.copy(), "t_end": self.t_end.copy(),
                "label": self.label.copy(), "score": self.score.copy()}

    def take(self, index: Any) -> "Detections":
        """Rows selected by an integer index array or a boolean mask, in that order."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ValueError(f"index mask must have shape [{len(self)}], got {list(idx.shape)}")
        elif idx.dtype.kind not in "iu":
            raise TypeError(f"index must be an integer array or boolean mask, got {idx.dtype}")
        return Detections._unchecked(self.video[idx], self.label[idx], self.t_start[idx],
                                     self.t_end[idx], self.score[idx])

    def for_videos(self, videos: str | Iterable[str]) -> "Detections":
        """Rows of one video (a ``str``) or of a set of videos, in their original order."""
        wanted = {videos} if isinstance(videos, str) else set(videos)
        mask = np.fromiter((v in wanted for v in self.video), dtype=bool, count=len(self))
        return self.take(mask)

    def sorted(self) -> "Detections":
        """Rows ordered by video, label, descending score, then start and end (a canonical order)."""
        order = np.lexsort((self.t_end, self.t_start, -self.score, self.label.astype(str),
                            self.video.astype(str)))
        return self.take(order)

    # output ---------------------------------------------------------------------------------------
    def to_results_json(self, version: str = DEFAULT_VERSION, *,
                        videos: Iterable[str] | None = None,
                        external_data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """ActivityNet results dict. Videos appear in first-appearance order, rows in stored order.

        Each (video, class) keeps its stored order; per class, a reader sees the rows grouped by video
        in the order the videos are listed (see :func:`wtal.eval.io.results_to_json_dict` for when that
        equals the stored per-class order, which decides how equal scores are ranked).

        Args:
            version: the ``"version"`` string.
            videos: if given, these videos are listed first (with ``[]`` when they have no detection),
                so a consumer sees every processed video; videos with detections not in it follow.
            external_data: the ``"external_data"`` object (default ``{}``).
        """
        results: dict[str, list] = {}
        if videos is not None:
            for v in videos:
                results.setdefault(str(v), [])
        ts, te, sc = self.t_start.tolist(), self.t_end.tolist(), self.score.tolist()
        for i, (v, l) in enumerate(zip(self.video.tolist(), self.label.tolist())):
            results.setdefault(v, []).append({"label": l, "score": sc[i], "segment": [ts[i], te[i]]})
        return {"version": version, "results": results,
                "external_data": dict(external_data) if external_data is not None else {}}

    def write(self, path: str | os.PathLike, version: str = DEFAULT_VERSION, *,
              videos: Iterable[str] | None = None) -> None:
        """Write the ActivityNet results JSON to ``path`` atomically (see :meth:`to_results_json`)."""
        text = json.dumps(self.to_results_json(version, videos=videos), allow_nan=False)
        atomic_write_text(path, text)

