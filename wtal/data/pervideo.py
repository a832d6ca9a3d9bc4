"""Reader for per-video feature folders with an ActivityNet-style ``gt.json`` and split files.

Layouts found automatically (``{split}`` is the split name from ``split_<split>.txt`` or the subset in
``gt.json``; ``{stream}`` is ``rgb`` / ``flow``):

    {split}/{video}.npy                      ACM-Net (FAC-Net's ActivityNet1.3 runs): joint [T, 2048]
    features/{split}/{stream}/{video}.npy    BaSNet, UM: separate [T, 1024] streams
    {split}/{stream}/{video}.npy
    features/{split}/{video}.npy
    {stream}/{video}.npy, features/{stream}/{video}.npy
    {video}.npy, features/{video}.npy, i3d_features/{video}.npy   ActionFormer-style flat folder

or give ``feature_pattern`` explicitly (placeholders ``{split}``, ``{stream}``, ``{video}`` and
``{index}``, the 1-based position of the video in its split file, as DGAM's numbered files use).
Feature files are plain ``.npy`` arrays ``[T, D]`` (never unpickled); they are read lazily, and their
shapes are checked up front from the ``.npy`` headers.
"""
from __future__ import annotations

import glob
import json
import math
import os
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from wtal.data.dataset import (I3D_SECONDS_PER_SNIPPET, DatasetError, FeatureSource, VideoDataset, as_number,
                               check_features, check_file, multi_hot, read_text, split_streams)
from wtal.safe_npy import load_npy, npy_header

JOINT_PATTERNS = ("{split}/{video}.npy", "features/{split}/{video}.npy", "{video}.npy", "features/{video}.npy",
                  "i3d_features/{video}.npy")
STREAM_PATTERNS = ("features/{split}/{stream}/{video}.npy", "{split}/{stream}/{video}.npy",
                   "{stream}/{video}.npy", "features/{stream}/{video}.npy")


# ---------------------------------------------------------------------------------------------------
# annotations


class _VideoRecord:
    __slots__ = ("name", "subset", "duration", "segments")

    def __init__(self, name, subset, duration, segments):
        self.name = name
        self.subset = subset
        self.duration = duration
        self.segments = segments  # list of (t_start, t_end, label)


def read_annotation_json(path: str | os.PathLike) -> tuple[dict[str, _VideoRecord], list[str] | None]:
    """Parse an ActivityNet-style annotation file.

    Accepts the official/BaSNet/DGAM form ``{"database": {video: {"subset", "duration"?,
    "annotations": [{"label", "segment": [s, e]}]}}, "class-list"?}`` (segments may be strings) and the
    BSN ``anet_anno_action.json`` form ``{video: {"duration_second", "annotations"}}`` (no subsets).

    Returns:
        ``{video: record}`` and the class list from HAM-Net's ``"class-list"`` key (or None).
    """
    path = check_file(path, "annotation file")
    text = read_text(path, "annotation file")
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: expected a JSON object")
    db = obj.get("database", obj)
    if not isinstance(db, dict):
        raise DatasetError(f"{path}: 'database' must be an object of videos")
    class_list = None
    if isinstance(obj.get("class-list"), dict):
        cl = obj["class-list"]
        try:
            class_list = [str(cl[k]) for k in sorted(cl, key=lambda k: int(k))]
        except ValueError:
            raise DatasetError(f"{path}: 'class-list' keys must be class indices, got {sorted(cl)[:3]}") from None
    elif isinstance(obj.get("class-list"), list):
        class_list = [str(c) for c in obj["class-list"]]
    records: dict[str, _VideoRecord] = {}
    for vid, v in db.items():
        if vid in ("class-list", "version", "taxonomy") and "database" not in obj:
            continue
        if not isinstance(v, dict) or not isinstance(v.get("annotations"), list):
            raise DatasetError(f"{path}: entry {vid!r} has no 'annotations' list")
        records[str(vid)] = _VideoRecord(str(vid), v.get("subset"), _duration(v, path, vid),
                                         [_annotation(a, path, vid, k) for k, a in enumerate(v["annotations"])])
    if not records:
        raise DatasetError(f"{path}: no videos")
    return records, class_list


def _duration(v: dict, path: str, vid: str) -> float | None:
    dur = v.get("duration", v.get("duration_second"))
    if dur is None:
        return None
    try:
        d = as_number(dur, "duration")
    except ValueError as exc:
        raise DatasetError(f"{path}: video {vid!r}: {exc}") from None
    if not (math.isfinite(d) and d > 0):
        raise DatasetError(f"{path}: video {vid!r} has duration {d!r}; durations must be finite seconds > 0")
    return d


def _annotation(a: Any, path: str, vid: str, k: int) -> tuple[float, float, str]:
    where = f"{path}: video {vid!r}, annotation {k}"
    if not isinstance(a, dict) or "segment" not in a or "label" not in a:
        raise DatasetError(f"{where}: expected {{'label': ..., 'segment': [start, end]}}, got {a!r:.100}")
    seg = a["segment"]
    if not isinstance(seg, (list, tuple)) or len(seg) != 2:
        raise DatasetError(f"{where}: segment must be [start, end], got {seg!r:.100}")
    try:
        s, e = (as_number(x, "segment boundary") for x in seg)
    except ValueError as exc:
        raise DatasetError(f"{where}: {exc}") from None
    if not (math.isfinite(s) and math.isfinite(e)):
        raise DatasetError(f"{where}: segment [{s!r}, {e!r}] has a non-finite boundary")
    if e < s:
        raise DatasetError(f"{where}: segment [{s!r}, {e!r}] ends before it starts (reversed)")
    return s, e, str(a["label"])


def read_list(path: str | os.PathLike, what: str = "split file") -> list[str]:
    """Non-empty stripped lines of a UTF-8 text file (video names, class names)."""
    items = [ln.strip() for ln in read_text(path, what).splitlines() if ln.strip()]
    path = os.fspath(path)
    if not items:
        raise DatasetError(f"{path}: empty {what}")
    return items


# ---------------------------------------------------------------------------------------------------
# features


def npy_shape(path: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an ``.npy`` header without reading the data; the header's size is checked
    against the file, so a truncated feature file is caught when the dataset is built."""
    try:
        h = npy_header(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"missing feature file: {path}") from None
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    return h.shape, h.dtype


class PerVideoSource(FeatureSource):
    """One ``.npy`` per video (``paths[i] = (joint,)``) or per video and stream (``(rgb, flow)``)."""

    def __init__(self, paths: Sequence[tuple[str, ...]], lengths: Sequence[int], stream_dims: tuple[int, int],
                 videos: Sequence[str] | None = None):
        self.paths = [tuple(p) for p in paths]
        self.lengths = [int(t) for t in lengths]
        self.stream_dims = stream_dims
        self.videos = [str(v) for v in videos] if videos is not None else [f"#{i}" for i in range(len(paths))]

    def __len__(self) -> int:
        return len(self.paths)

    def _read(self, i: int, path: str) -> np.ndarray:
        video = self.videos[i]
        try:
            x = load_npy(path)
        except ValueError as exc:
            raise DatasetError(f"{exc} (features of video {video!r})") from None
        x = check_features(x, path, video)
        if x.shape[0] != self.lengths[i]:
            raise DatasetError(f"{path}: features of video {video!r} have {x.shape[0]} snippets but the file had "
                               f"{self.lengths[i]} when the dataset was built (was it replaced?)")
        return x

    def load(self, i: int, modality: str) -> np.ndarray:
        p = self.paths[i]
        if len(p) == 1:
            x = split_streams(self._read(i, p[0]), modality, self.stream_dims)
        elif modality == "rgb":
            x = self._read(i, p[0])
        elif modality == "flow":
            x = self._read(i, p[1])
        else:
            x = np.concatenate([self._read(i, p[0]), self._read(i, p[1])], axis=1)
        return np.ascontiguousarray(x, dtype=np.float32)

    def num_snippets(self, i: int) -> int:
        return self.lengths[i]

    def describe(self, i: int) -> str:
        return " + ".join(self.paths[i])


def _majority(values):
    """Most frequent value (first seen wins ties), so an error names the odd file out."""
    counts: dict = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return max(counts, key=lambda v: counts[v])


def _name_variants(video: str) -> list[str]:
    # ActivityNet feature dumps name files v_<youtube id> while the official JSON uses the bare id.
    out = [video]
    out.append(video[2:] if video.startswith("v_") else "v_" + video)
    return out


def resolve_features(base: str, entries: Sequence[tuple[str, str, int]], *, feature_pattern: str | None,
                     streams: tuple[str, str], missing: str, origin: str
                     ) -> tuple[list[int], list[tuple[str, ...]], list[int], int, tuple[int, int]]:
    """Find and check the feature files of ``entries`` = ``(video, split, index_in_split)``.

    Returns:
        (kept entry positions, paths per kept video, T per kept video, joint D, stream dims).
    """
    if missing not in ("error", "skip"):
        raise ValueError(f"missing must be 'error' or 'skip', got {missing!r}")
    if not os.path.isdir(base):
        raise FileNotFoundError(f"missing feature folder: {base}")

    def paths_for(pattern, video, split, index):
        fill = dict(split=split, index=index)
        if "{stream}" in pattern:
            for name in _name_variants(video):
                ps = tuple(os.path.join(base, pattern.format(video=name, stream=s, **fill)) for s in streams)
                if all(os.path.isfile(p) for p in ps):
                    return ps
            return tuple(os.path.join(base, pattern.format(video=video, stream=s, **fill)) for s in streams)
        for name in _name_variants(video):
            p = os.path.join(base, pattern.format(video=name, **fill))
            if os.path.isfile(p):
                return (p,)
        return (os.path.join(base, pattern.format(video=video, **fill)),)

    if feature_pattern is None:
        candidates = JOINT_PATTERNS + STREAM_PATTERNS
        pattern = None
        for video, split, index in entries[: min(len(entries), 20)]:
            for cand in candidates:
                if all(os.path.isfile(p) for p in paths_for(cand, video, split, index)):
                    pattern = cand
                    break
            if pattern:
                break
        if pattern is None:
            v, s, _ = entries[0]
            tried = ", ".join(os.path.join(base, c.format(video=v, split=s, stream=streams[0], index=1))
                              for c in candidates[:4])
            raise FileNotFoundError(f"{origin}: no feature files found under {base} for video {v!r} "
                                    f"(tried {tried}, ...); pass feature_pattern")
    else:
        pattern = feature_pattern
    keep, paths, lengths, skipped, all_dims = [], [], [], [], []
    for k, (video, split, index) in enumerate(entries):
        ps = paths_for(pattern, video, split, index)
        absent = [p for p in ps if not os.path.isfile(p)]
        if absent:
            if missing == "skip":
                skipped.append(video)
                continue
            raise FileNotFoundError(f"missing feature file for video {video!r} ({split}): {absent[0]}")
        shapes = []
        for p in ps:
            try:
                shape, dtype = npy_shape(p)
            except DatasetError as exc:
                raise DatasetError(f"{exc} (features of video {video!r})") from None
            if dtype.kind not in "iuf" or len(shape) != 2 or shape[0] == 0 or shape[1] == 0:
                raise DatasetError(f"{p}: features of video {video!r} have shape {shape} and dtype {dtype}, "
                                   "expected a real-valued (float or int) [T, D] array with T, D > 0")
            shapes.append(shape)
        if len(shapes) == 2 and shapes[0][0] != shapes[1][0]:
            raise DatasetError(f"{ps[0]} has {shapes[0][0]} snippets but {ps[1]} has {shapes[1][0]} "
                               f"(video {video!r})")
        all_dims.append(tuple(s[1] for s in shapes))
        keep.append(k)
        paths.append(ps)
        lengths.append(shapes[0][0])
    if skipped:
        warnings.warn(f"{origin}: skipped {len(skipped)} videos without feature files (e.g. {skipped[:3]})",
                      stacklevel=3)
    if not keep:
        raise DatasetError(f"{origin}: no video has feature files under {base}")
    dims = _majority(all_dims)
    D = sum(dims)
    for k, d in enumerate(all_dims):
        if d != dims:
            video = entries[keep[k]][0]
            raise DatasetError(f"{paths[k][0]}: features of video {video!r} have dim {'+'.join(map(str, d))}, "
                               f"expected {'+'.join(map(str, dims))} like the other videos")
    stream_dims = (dims[0], dims[1]) if len(dims) == 2 else (D // 2, D - D // 2)
    return keep, paths, lengths, D, stream_dims


# ---------------------------------------------------------------------------------------------------


def build_dataset(*, name: str, records: Mapping[str, _VideoRecord], entries: Sequence[tuple[str, str, int]],
                  classes: Sequence[str], base: str, feature_pattern: str | None, streams: tuple[str, str],
                  missing: str, modality: str, seconds_per_snippet: float, stream_dims: tuple[int, int] | None,
                  train_subset: str | None, test_subset: str | None, ann_path: str,
                  all_segments_classes: bool = True) -> VideoDataset:
    keep, paths, lengths, D, dims = resolve_features(base, entries, feature_pattern=feature_pattern,
                                                     streams=streams, missing=missing, origin=ann_path)
    if stream_dims is not None:
        if sum(stream_dims) != D:
            raise DatasetError(f"{ann_path}: stream_dims {tuple(stream_dims)} do not add up to the feature dim {D}")
        dims = tuple(stream_dims)
    kept = [entries[k] for k in keep]
    videos = [v for v, _, _ in kept]
    subsets = [s for _, s, _ in kept]
    class_index = {c: k for k, c in enumerate(classes)}
    ann_video, t0, t1, lab, per_video_labels, durations = [], [], [], [], [], []
    for i, (v, s, _) in enumerate(kept):
        rec = records[v]
        names = []
        for a, b, l in rec.segments:
            if l not in class_index:
                raise DatasetError(f"{ann_path}: unknown class {l!r} for video {v!r} "
                                   f"({len(classes)} known classes, e.g. {list(classes)[:3]})")
            ann_video.append(i)
            t0.append(a)
            t1.append(b)
            lab.append(class_index[l])
            names.append(l)
        per_video_labels.append(sorted(set(names)))
        # Without a duration in the annotations, the features' extent is the best estimate.
        durations.append(rec.duration if rec.duration is not None else lengths[i] * seconds_per_snippet)
    labels = multi_hot(per_video_labels, classes, origin=ann_path, videos=videos)
    return VideoDataset(
        name=name, classes=list(classes), videos=videos, subsets=subsets, labels=labels,
        durations=np.asarray(durations, dtype=np.float64),
        source=PerVideoSource(paths, lengths, dims, videos), joint_dim=D,
        annotations={"video": ann_video, "t_start": t0, "t_end": t1, "label": lab},
        seconds_per_snippet=seconds_per_snippet, modality=modality, stream_dims=dims,
        train_subset=train_subset, test_subset=test_subset, origin=ann_path)


_ROLE_ORDER = {"train": 0, "training": 0, "val": 1, "valid": 1, "validation": 1, "test": 2, "testing": 2}


def _split_order(name: str) -> tuple[int, str]:
    """Train-like splits first, then validation, then test, then the rest alphabetically."""
    return (_ROLE_ORDER.get(name.lower(), 3), name)


def _classes_arg(classes, records, class_list, videos) -> list[str]:
    if classes is not None:
        if isinstance(classes, (str, os.PathLike)):
            return read_list(classes, "class list")
        return [str(c) for c in classes]
    if class_list is not None:
        return class_list
    # Alphabetical, as the W-TALC class lists and BaSNet's THUMOS class_dict are.
    return sorted({l for v in videos for _, _, l in records[v].segments})


def load_pervideo(root: str | os.PathLike, *, gt: str = "gt.json",
                  splits: Mapping[str, str] | Sequence[str] | None = None, feature_root: str | None = None,
                  feature_pattern: str | None = None, streams: tuple[str, str] = ("rgb", "flow"),
                  modality: str = "joint", classes: Sequence[str] | str | None = None,
                  seconds_per_snippet: float = I3D_SECONDS_PER_SNIPPET, stream_dims: tuple[int, int] | None = None,
                  missing: str = "error", name: str | None = None, train_subset: str | None = None,
                  test_subset: str | None = None) -> VideoDataset:
    """Read a BaSNet/UM/ACM-Net/ActionFormer-style folder (see the module docstring for layouts).

    Args:
        root: dataset folder holding ``gt.json`` and ``split_<name>.txt`` files.
        gt: annotation file, relative to ``root`` (or absolute).
        splits: ``{subset: split file}`` or a list of subset names (files ``split_<name>.txt``). Default:
            every ``split_*.txt`` in ``root``; without split files, the ``subset`` of each video in ``gt``.
        feature_root: folder the feature patterns are relative to (default ``root``).
        feature_pattern: explicit layout, e.g. ``"features/{split}/{stream}/{video}.npy"``.
        streams: folder names of the two streams for ``{stream}`` patterns (joined RGB first).
        modality: ``"joint"``, ``"rgb"`` or ``"flow"``.
        classes: class names (a list, or a text file with one per line); default: ``gt``'s HAM-Net
            ``"class-list"`` if present, else the sorted labels of the loaded videos.
        seconds_per_snippet: seconds per feature row (16/25 for I3D at 25 fps).
        missing: ``"error"`` (default) or ``"skip"`` (warn and drop videos without feature files).

    Durations come from ``gt`` (``duration`` or ``duration_second``); videos without one get
    ``T * seconds_per_snippet``.

    Raises:
        FileNotFoundError: gt, a split file or a feature file is missing (the message names it).
        DatasetError: an empty split, a split video absent from gt, an unknown class, or features of the
            wrong shape (the message names the file).
    """
    root = os.fspath(root)
    gt_path = gt if os.path.isabs(gt) else os.path.join(root, gt)
    records, class_list = read_annotation_json(gt_path)
    if splits is None:
        files = sorted(glob.glob(os.path.join(root, "split_*.txt")))
        found = {os.path.basename(f)[len("split_"):-len(".txt")]: f for f in files}
        splits = {s: found[s] for s in sorted(found, key=_split_order)}
    elif not isinstance(splits, Mapping):
        splits = {s: os.path.join(root, f"split_{s}.txt") for s in splits}
    else:
        splits = {s: (f if os.path.isabs(f) else os.path.join(root, f)) for s, f in splits.items()}
    entries: list[tuple[str, str, int]] = []
    if splits:
        for subset, f in splits.items():
            for k, v in enumerate(read_list(f)):
                if v not in records:
                    raise DatasetError(f"{f}: video {v!r} is not in {gt_path}")
                entries.append((v, subset, k + 1))
    else:
        counters: dict[str, int] = {}
        for v, rec in records.items():
            if rec.subset is None:
                raise DatasetError(f"{gt_path}: video {v!r} has no 'subset' and there are no split_*.txt "
                                   f"files in {root}")
            counters[rec.subset] = counters.get(rec.subset, 0) + 1
            entries.append((v, str(rec.subset), counters[rec.subset]))
    seen = set()
    for v, s, _ in entries:
        if v in seen:
            raise DatasetError(f"{root}: video {v!r} appears in more than one split")
        seen.add(v)
    cls = _classes_arg(classes, records, class_list, [v for v, _, _ in entries])
    return build_dataset(
        name=name or os.path.basename(os.path.normpath(root)), records=records, entries=entries, classes=cls,
        base=os.fspath(feature_root) if feature_root is not None else root, feature_pattern=feature_pattern,
        streams=tuple(streams), missing=missing, modality=modality, seconds_per_snippet=seconds_per_snippet,
        stream_dims=stream_dims, train_subset=train_subset, test_subset=test_subset, ann_path=gt_path)


__all__ = ["load_pervideo", "read_annotation_json", "read_list", "PerVideoSource", "JOINT_PATTERNS",
           "STREAM_PATTERNS"]
