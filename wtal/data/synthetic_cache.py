"""On-disk cache of synthetic datasets, in the per-video layout ``load_pervideo`` reads.

``<cache_dir>/<name>-<hash of the generation parameters>/`` holds ``gt.json`` (ActivityNet style, with
durations and HAM-Net's ``class-list``), ``split_<subset>.txt``, ``<subset>/<video>.npy`` and
``synthetic.json`` (the parameters). It is written into a temporary sibling folder and renamed into place
once complete, so an interrupted write never leaves a half-written cache, and concurrent writers are safe
(the loser's rename fails and it reads the winner's copy).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Callable

import numpy as np

from wtal.data.dataset import DatasetError, VideoDataset


def cache_path(cache_dir: str | os.PathLike, params: dict) -> str:
    from wtal.data.synthetic import params_hash

    return os.path.join(os.fspath(cache_dir), f"synthetic-{params['kind']}-{params_hash(params)}")


def write_pervideo(ds: VideoDataset, out: str, extra: dict | None = None) -> None:
    """Write ``ds`` (joint features) in the per-video layout into the (new or empty) folder ``out``."""
    os.makedirs(out, exist_ok=True)
    order = list(dict.fromkeys(ds.subsets))
    a = ds.annotations
    database = {}
    for i, v in enumerate(ds.videos):
        rows = np.flatnonzero(a["video"] == i)
        database[v] = {
            "subset": ds.subsets[i],
            "duration": float(ds.durations[i]),
            "annotations": [{"label": ds.classes[a["label"][k]],
                             "segment": [float(a["t_start"][k]), float(a["t_end"][k])]} for k in rows],
        }
    gt = {"version": "wtal-synthetic", "database": database,
          "class-list": {str(k): c for k, c in enumerate(ds.classes)}}
    with open(os.path.join(out, "gt.json"), "w", encoding="utf-8") as f:
        json.dump(gt, f)
    for s in order:
        os.makedirs(os.path.join(out, s), exist_ok=True)
        with open(os.path.join(out, f"split_{s}.txt"), "w", encoding="utf-8") as f:
            f.write("".join(ds.videos[i] + "\n" for i in range(len(ds)) if ds.subsets[i] == s))
    joint = ds.with_modality("joint")
    for i, v in enumerate(ds.videos):
        np.save(os.path.join(out, ds.subsets[i], v + ".npy"), joint.features(i))
    meta = dict(extra or {}, subsets=order, seconds_per_snippet=ds.seconds_per_snippet,
                train_subset=ds.train_subset, test_subset=ds.test_subset, name=ds.name)
    with open(os.path.join(out, "synthetic.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, sort_keys=True)


def read_cache(path: str, modality: str) -> VideoDataset:
    from wtal.data.pervideo import load_pervideo

    meta_path = os.path.join(path, "synthetic.json")
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"missing cache manifest: {meta_path}") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{meta_path}: corrupt cache manifest ({exc}); delete {path}") from exc
    splits = {s: f"split_{s}.txt" for s in meta["subsets"]}
    return load_pervideo(path, splits=splits, feature_pattern="{split}/{video}.npy", modality=modality,
                         seconds_per_snippet=meta["seconds_per_snippet"], name=meta["name"],
                         train_subset=meta["train_subset"], test_subset=meta["test_subset"])


def load_or_write_cache(cache_dir: str | os.PathLike, params: dict, generate: Callable[[], VideoDataset],
                        modality: str = "joint") -> VideoDataset:
    """Read the cached dataset for ``params``, generating and writing it first when absent."""
    path = cache_path(cache_dir, params)
    if not os.path.isdir(path):
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=parent)
        try:
            write_pervideo(generate(), tmp, extra={"params": params})
            try:
                os.rename(tmp, path)
            except OSError:
                if not os.path.isdir(path):
                    raise
                # another process finished first: use its copy
        finally:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
    return read_cache(path, modality)


__all__ = ["load_or_write_cache", "write_pervideo", "read_cache", "cache_path"]
