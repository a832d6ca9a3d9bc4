"""Reader for the W-TALC layout (W-TALC, 3C-Net, HAM-Net, FAC-Net):

    <root>/<Name>-I3D-JOINTFeatures.npy   object array (V,) of float [T_i, 2048] (RGB first, then flow)
    <root>/<Name>-Annotations/            videoname, subset, classlist, segments, labels, labels_all,
                                          duration .npy (+ Ambiguous_test.txt on THUMOS14)

FAC-Net keeps the annotation files next to the features (``<root>/*.npy``); that works too. All files are
read with the restricted unpickler ``wtal.safe_npy.load_npy`` (the object arrays are Python-2 pickles).
"""
from __future__ import annotations

import os

import numpy as np

from wtal.data.dataset import (I3D_SECONDS_PER_SNIPPET, ArraySource, DatasetError, VideoDataset, as_number,
                               check_durations, check_features, check_file, check_segments, multi_hot)
from wtal.data.pervideo import _majority
from wtal.safe_npy import load_npy, to_str

_REQUIRED = ("videoname", "subset", "classlist", "segments", "labels", "duration")


def load_wtalc(root: str | os.PathLike, name: str = "Thumos14reduced", *, feature_type: str = "I3D",
               modality: str = "joint", features_file: str | os.PathLike | None = None,
               annotation_dir: str | os.PathLike | None = None,
               seconds_per_snippet: float = I3D_SECONDS_PER_SNIPPET, stream_dims: tuple[int, int] | None = None,
               train_subset: str | None = None, test_subset: str | None = None) -> VideoDataset:
    """Read ``<root>/<name>-<feature_type>-JOINTFeatures.npy`` and ``<root>/<name>-Annotations/``.

    Args:
        root: folder holding the features file and the annotation folder.
        name: dataset name as in the file names (``"Thumos14reduced"``, ``"ActivityNet1.2"``).
        feature_type: the middle part of the features file name (``"I3D"``; W-TALC also ships ``"UNT"``).
        modality: ``"joint"`` (2048-d), ``"rgb"`` (first half) or ``"flow"`` (second half).
        features_file, annotation_dir: explicit paths overriding the names derived from ``root``/``name``.
            When ``<name>-Annotations/`` is absent the annotation files are looked for in ``root`` itself
            (FAC-Net's layout).
        seconds_per_snippet: 16/25 for the W-TALC I3D features.
        stream_dims: (rgb, flow) widths; default: two equal halves.
        train_subset, test_subset: subset names in the train/test roles; default: ``"validation"`` /
            ``"test"`` on THUMOS14 and ``"training"`` / ``"validation"`` on ActivityNet1.2.

    Video-level labels come from ``labels_all.npy`` (as in HAM-Net and FAC-Net), or from the unique
    instance labels when it is absent. Durations may be stored as ``(V, 1)`` (THUMOS14) or ``(V,)``
    (ActivityNet1.2). Segments are kept as annotated, including those that end after the duration.

    Raises:
        FileNotFoundError: a file is missing (the message names it).
        DatasetError: a file has the wrong shape or disagrees with the others (the message names it).
    """
    root = os.fspath(root)
    feat_path = os.fspath(features_file) if features_file is not None else os.path.join(
        root, f"{name}-{feature_type}-JOINTFeatures.npy")
    if annotation_dir is not None:
        ann = os.fspath(annotation_dir)
    else:
        ann = os.path.join(root, f"{name}-Annotations")
        if not os.path.isdir(ann) and os.path.isfile(os.path.join(root, "videoname.npy")):
            ann = root
    if not os.path.isdir(ann):
        raise FileNotFoundError(f"missing annotation folder: {ann}")
    path = {k: os.path.join(ann, k + ".npy") for k in _REQUIRED + ("labels_all",)}
    for k in _REQUIRED:
        check_file(path[k], "W-TALC annotation file")
    check_file(feat_path, "W-TALC features file")

    videos = [to_str(v) for v in _vector(path["videoname"])]
    V = len(videos)
    classes = [to_str(c) for c in _vector(path["classlist"])]
    if len(set(classes)) != len(classes):
        raise DatasetError(f"{path['classlist']}: duplicate class names")
    # HAM-Net sorts the class list; the files are already alphabetical, sorting keeps that contract.
    classes = sorted(classes)
    subsets = [to_str(s) for s in _vector(path["subset"])]
    segments = _vector(path["segments"])
    inst_labels = _label_rows(path["labels"], videos)
    dur = load_npy(path["duration"])
    if dur.ndim == 2 and dur.shape[1] == 1:
        dur = dur[:, 0]
    if dur.ndim != 1:
        raise DatasetError(f"{path['duration']}: expected shape (V,) or (V, 1), got {dur.shape}")
    if dur.dtype.kind not in "iuf":
        raise DatasetError(f"{path['duration']}: durations must be real numbers, got dtype {dur.dtype}")
    durations = dur.astype(np.float64)
    for key, n in (("subset", len(subsets)), ("segments", len(segments)), ("labels", len(inst_labels)),
                   ("duration", len(durations))):
        if n != V:
            raise DatasetError(f"{path[key]}: {n} entries but videoname.npy has {V} videos")
    check_durations(durations, videos, path["duration"])
    if os.path.isfile(path["labels_all"]):
        video_labels = _label_rows(path["labels_all"], videos)
        if len(video_labels) != V:
            raise DatasetError(f"{path['labels_all']}: {len(video_labels)} entries but videoname.npy has {V}")
        labels = multi_hot(video_labels, classes, origin=path["labels_all"], videos=videos)
    else:
        labels = multi_hot([sorted(set(r)) for r in inst_labels], classes, origin=path["labels"], videos=videos)
    class_index = {c: k for k, c in enumerate(classes)}
    ann_video, t0, t1, lab = [], [], [], []
    for i in range(V):
        segs = _sequence(segments[i], path["segments"], videos[i], "a list of [t_start, t_end] segments")
        if len(segs) != len(inst_labels[i]):
            raise DatasetError(f"{path['segments']}: video {videos[i]!r} has {len(segs)} segments but "
                               f"labels.npy lists {len(inst_labels[i])} labels")
        for seg, l in zip(segs, inst_labels[i]):
            if l not in class_index:
                raise DatasetError(f"{path['labels']}: unknown class {l!r} for video {videos[i]!r}")
            seg = _sequence(seg, path["segments"], videos[i], "[t_start, t_end]")
            try:
                if len(seg) != 2:
                    raise ValueError(f"a segment must be [t_start, t_end], got {seg!r:.80}")
                a, b = (as_number(x, "segment boundary") for x in seg)
            except ValueError as exc:
                raise DatasetError(f"{path['segments']}: video {videos[i]!r}: {exc}") from None
            ann_video.append(i)
            t0.append(a)
            t1.append(b)
            lab.append(class_index[l])
    check_segments(t0, t1, ann_video, videos, path["segments"])

    feats = load_npy(feat_path)
    if feats.dtype != object:
        if feats.ndim == 3:  # a dense (V, T, D) array, equal lengths
            feats = list(feats)
        else:
            raise DatasetError(f"{feat_path}: expected an object array of [T_i, D] arrays, got dtype "
                               f"{feats.dtype} with shape {feats.shape}")
    arrays = list(feats)
    if len(arrays) != V:
        raise DatasetError(f"{feat_path}: {len(arrays)} feature arrays but {path['videoname']} lists {V} videos")
    for i, x in enumerate(arrays):
        if not isinstance(x, np.ndarray):
            raise DatasetError(f"{feat_path}: features of video {videos[i]!r} (#{i}) are a {type(x).__name__}, "
                               "expected a [T, D] array")
        # float32 once, at load time, instead of on every access; NaN/inf/complex are refused here
        arrays[i] = check_features(x, feat_path, videos[i])
    D = _majority([x.shape[1] for x in arrays]) if arrays else None
    for i, x in enumerate(arrays):
        if x.shape[1] != D:
            raise DatasetError(f"{feat_path}: features of video {videos[i]!r} (#{i}) have dim {x.shape[1]}, "
                               f"expected {D} like the other videos")
    if D is None:
        raise DatasetError(f"{feat_path}: no videos")
    if not subsets:
        raise DatasetError(f"{path['subset']}: no videos")
    if train_subset is None and test_subset is None:
        present = set(subsets)
        if {"validation", "test"} <= present:
            train_subset, test_subset = "validation", "test"
        elif {"training", "validation"} <= present:
            train_subset, test_subset = "training", "validation"
    amb = os.path.join(ann, "Ambiguous_test.txt")
    return VideoDataset(
        name=name, classes=classes, videos=videos, subsets=subsets, labels=labels, durations=durations,
        source=ArraySource(arrays, stream_dims=_streams(D, stream_dims), origin=feat_path), joint_dim=D,
        annotations={"video": ann_video, "t_start": t0, "t_end": t1, "label": lab},
        seconds_per_snippet=seconds_per_snippet, modality=modality, stream_dims=_streams(D, stream_dims),
        train_subset=train_subset, test_subset=test_subset,
        ambiguous_file=amb if os.path.isfile(amb) else None, origin=feat_path)


def _sequence(x, path: str, video: str, what: str) -> list:
    if isinstance(x, (str, bytes)) or not isinstance(x, (list, tuple, np.ndarray)):
        raise DatasetError(f"{path}: video {video!r}: expected {what}, got {type(x).__name__} {x!r:.80}")
    return list(x)


def _label_rows(path: str, videos: list[str]) -> list[list[str]]:
    rows = _vector(path)
    return [[to_str(x) for x in _sequence(row, path, videos[i] if i < len(videos) else f"#{i}",
                                          "a list of class names")] for i, row in enumerate(rows)]


def _vector(path: str) -> np.ndarray:
    a = load_npy(path)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise DatasetError(f"{path}: expected a 1-D array, got shape {a.shape}")
    return a


def _streams(D: int, stream_dims):
    if stream_dims is not None:
        return (int(stream_dims[0]), int(stream_dims[1]))
    return (D // 2, D - D // 2)


__all__ = ["load_wtalc"]
