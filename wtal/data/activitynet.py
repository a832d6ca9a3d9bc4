"""Reader for ActivityNet JSON annotations with a folder of per-video features.

Annotations: the official ``{"database": {id: {"subset", "duration", "annotations"}}}`` form, or BSN's
``anet_anno_action.json`` (``{v_id: {"duration_second", "annotations"}}``) whose subsets come from the
``video_info_new.csv`` that ships with it. Features: one ``.npy`` per video (``v_<id>.npy`` or
``<id>.npy``), joint or as rgb/flow subfolders, in any layout ``load_pervideo`` recognises.
"""
from __future__ import annotations

import csv
import io
import os
from typing import Sequence

from wtal.data.dataset import I3D_SECONDS_PER_SNIPPET, DatasetError, VideoDataset, check_file, read_text
from wtal.data.pervideo import _classes_arg, build_dataset, read_annotation_json


def read_video_info_csv(path: str | os.PathLike) -> dict[str, str]:
    """``{video: subset}`` from a BSN ``video_info_new.csv`` (columns ``video``, ``subset``, ...)."""
    path = check_file(path, "video info CSV")
    try:
        reader = csv.DictReader(io.StringIO(read_text(path, "video info CSV"), newline=""))
        if reader.fieldnames is None or "video" not in reader.fieldnames or "subset" not in reader.fieldnames:
            raise DatasetError(f"{path}: expected columns 'video' and 'subset', got {reader.fieldnames}")
        return {row["video"]: row["subset"] for row in reader}
    except csv.Error as exc:
        raise DatasetError(f"{path}: not a valid CSV file ({exc})") from None


def load_activitynet(annotation_json: str | os.PathLike, features_dir: str | os.PathLike, *,
                     video_info_csv: str | os.PathLike | None = None,
                     subsets: Sequence[str] | None = ("training", "validation"),
                     feature_pattern: str | None = None, streams: tuple[str, str] = ("rgb", "flow"),
                     modality: str = "joint", classes: Sequence[str] | str | None = None,
                     seconds_per_snippet: float = I3D_SECONDS_PER_SNIPPET,
                     stream_dims: tuple[int, int] | None = None, missing: str = "error",
                     name: str = "ActivityNet", train_subset: str | None = "training",
                     test_subset: str | None = "validation") -> VideoDataset:
    """Read ActivityNet annotations and per-video features.

    Args:
        annotation_json: official-style or BSN-style annotation file.
        features_dir: folder of per-video feature files (patterns as in ``load_pervideo``; ``{split}``
            is the subset name).
        video_info_csv: BSN ``video_info_new.csv`` giving the subset of each video (needed when the JSON
            has no ``subset`` fields; it wins over them when given).
        subsets: which subsets to load (``None`` = every subset present).
        classes: class names or a file with one per line; default: the sorted labels of **all** videos in
            the JSON, so the label columns do not depend on ``subsets``.
        missing: ``"error"`` or ``"skip"`` videos whose features are absent (ActivityNet downloads often
            miss a few percent of the videos).

    Raises:
        FileNotFoundError: a file or folder is missing (the message names it).
        DatasetError: no subset information, an empty selection, an unknown class, or bad features.
    """
    ann_path = os.fspath(annotation_json)
    records, class_list = read_annotation_json(ann_path)
    if video_info_csv is not None:
        info = read_video_info_csv(video_info_csv)
        for v, rec in records.items():
            if v in info:
                rec.subset = info[v]
            elif ("v_" + v) in info:
                rec.subset = info["v_" + v]
    no_subset = [v for v, r in records.items() if r.subset is None]
    if no_subset:
        raise DatasetError(f"{ann_path}: {len(no_subset)} videos have no 'subset' (e.g. {no_subset[:2]}); "
                           "pass video_info_csv (BSN's video_info_new.csv)")
    wanted = None if subsets is None else {str(s) for s in subsets}
    counters: dict[str, int] = {}
    entries = []
    for v, rec in records.items():
        if wanted is not None and rec.subset not in wanted:
            continue
        counters[rec.subset] = counters.get(rec.subset, 0) + 1
        entries.append((v, str(rec.subset), counters[rec.subset]))
    if not entries:
        present = sorted({str(r.subset) for r in records.values()})
        raise DatasetError(f"{ann_path}: no videos in subsets {sorted(wanted or [])} (subsets present: {present})")
    if wanted is not None:
        empty = sorted(wanted - set(counters))
        if empty:
            raise DatasetError(f"{ann_path}: subset {empty[0]!r} has no videos")
    cls = _classes_arg(classes, records, class_list, list(records))
    present = set(counters)
    return build_dataset(
        name=name, records=records, entries=entries, classes=cls, base=os.fspath(features_dir),
        feature_pattern=feature_pattern, streams=tuple(streams), missing=missing, modality=modality,
        seconds_per_snippet=seconds_per_snippet, stream_dims=stream_dims,
        train_subset=train_subset if train_subset in present else None,
        test_subset=test_subset if test_subset in present else None, ann_path=ann_path)


__all__ = ["load_activitynet", "read_video_info_csv"]
