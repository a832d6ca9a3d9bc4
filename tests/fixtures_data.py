"""Builders of fixture datasets in every real on-disk format, from the real annotations in tests/data,
with random features (small D) written at test time. Reusable by other tests and benchmarks:

    from fixtures_data import build_wtalc, build_pervideo, build_activitynet, write_py2_npy

All builders take a destination folder (``tmp_path``) and return the paths a reader needs.
"""
from __future__ import annotations

import csv
import io
import json
import os
import pickle
import shutil
import struct

import numpy as np
from numpy.lib import format as npy_format

HERE = os.path.dirname(os.path.abspath(__file__))
THUMOS_ANN = os.path.join(HERE, "data", "thumos14_reduced")
ANET12_ANN = os.path.join(HERE, "data", "activitynet12_subset")
ANET13_JSON = os.path.join(HERE, "data", "activitynet13_subset", "anet_anno_action.json")
ANET13_CSV = os.path.join(HERE, "data", "activitynet13_subset", "video_info_new.csv")
SPS = 16.0 / 25.0


# ---------------------------------------------------------------------------------------------------
# Python-2 style pickles (what the W-TALC files really are)


class _Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes bytes as Python-2 ``str`` (SHORT_BINSTRING/BINSTRING), like the
    pickles numpy wrote under Python 2."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj):
        obj = bytes(obj)
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def _py2ify(x):
    if isinstance(x, str):
        return x.encode("latin1")
    if isinstance(x, list):
        return [_py2ify(v) for v in x]
    if isinstance(x, tuple):
        return tuple(_py2ify(v) for v in x)
    return x


def write_py2_npy(path, arr: np.ndarray) -> None:
    """Write an object array as a Python-2 numpy would have: ``.npy`` v1.0 header + protocol-2 pickle
    with ``numpy.core.multiarray`` globals and str data (no ``_codecs.encode``)."""
    assert arr.dtype == object
    conv = np.empty(arr.shape, dtype=object)
    for i, v in enumerate(arr.ravel()):
        conv.ravel()[i] = _py2ify(v)
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(conv)
    data = buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"_codecs" not in data
    with open(path, "wb") as f:
        npy_format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": arr.shape})
        f.write(data)


def object_array(items) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for i, x in enumerate(items):
        out[i] = x
    return out


def random_features(num_snippets, D: int, seed: int = 0, dtype=np.float32) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((int(t), D)).astype(dtype) for t in num_snippets]


def snippets_for(durations, sps: float = SPS, max_snippets: int | None = None) -> np.ndarray:
    t = np.maximum(1, np.floor(np.asarray(durations, dtype=np.float64) * 1.0 / sps)).astype(int)
    return t if max_snippets is None else np.minimum(t, max_snippets)


# ---------------------------------------------------------------------------------------------------
# W-TALC pair


def build_wtalc(dest, ann_src: str = THUMOS_ANN, name: str = "Thumos14reduced", D: int = 16, seed: int = 0,
                max_snippets: int | None = 64, py2: bool = True, annotations_beside: bool = False):
    """``<dest>/<name>-I3D-JOINTFeatures.npy`` (Py2 object pickle) + ``<dest>/<name>-Annotations/``.

    Returns ``(root, features, num_snippets)`` where ``features`` is the list written.
    """
    dest = os.fspath(dest)
    ann = dest if annotations_beside else os.path.join(dest, f"{name}-Annotations")
    os.makedirs(ann, exist_ok=True)
    for f in os.listdir(ann_src):
        shutil.copy(os.path.join(ann_src, f), os.path.join(ann, f))
    from wtal.safe_npy import load_npy

    dur = load_npy(os.path.join(ann, "duration.npy")).reshape(-1)
    T = snippets_for(dur, max_snippets=max_snippets)
    feats = random_features(T, D, seed)
    path = os.path.join(dest, f"{name}-I3D-JOINTFeatures.npy")
    arr = object_array(feats)
    if py2:
        write_py2_npy(path, arr)
    else:
        np.save(path, arr, allow_pickle=True)
    return dest, feats, T


def wtalc_records(ann_src: str = THUMOS_ANN):
    """(videos, subsets, durations, segments, labels) from W-TALC annotation files, as str/float lists."""
    from wtal.safe_npy import load_npy, to_str

    videos = [to_str(v) for v in load_npy(os.path.join(ann_src, "videoname.npy"))]
    subsets = [to_str(v) for v in load_npy(os.path.join(ann_src, "subset.npy"))]
    dur = load_npy(os.path.join(ann_src, "duration.npy")).reshape(-1).astype(float).tolist()
    segs = [[[float(a), float(b)] for a, b in s] for s in load_npy(os.path.join(ann_src, "segments.npy"))]
    labs = [[to_str(x) for x in l] for l in load_npy(os.path.join(ann_src, "labels.npy"))]
    return videos, subsets, dur, segs, labs


# ---------------------------------------------------------------------------------------------------
# per-video folders

LAYOUTS = {
    "acmnet": "{split}/{video}.npy",
    "basnet": "features/{split}/{stream}/{video}.npy",
    "split_streams": "{split}/{stream}/{video}.npy",
    "flat": "features/{video}.npy",
    "flat_streams": "{stream}/{video}.npy",
}


def build_pervideo(dest, layout: str = "acmnet", D: int = 16, seed: int = 0, max_videos: int | None = 40,
                   max_snippets: int | None = 48, with_duration: bool = True, string_segments: bool = False,
                   with_splits: bool = True, class_list: bool = False):
    """A BaSNet/ACM-Net/ActionFormer-style folder from the THUMOS14 W-TALC annotations.

    ``split_train.txt`` holds THUMOS14 validation videos, ``split_test.txt`` test videos (as BaSNet's);
    ``gt.json`` is ActivityNet style with ``subset`` (validation/test), optional ``duration``, segments as
    numbers or DGAM-style strings, and optionally HAM-Net's ``class-list``.

    Returns ``(root, info)`` with ``info = {"videos", "splits", "num_snippets", "features"}`` in the order
    the reader will list them (train split first, then test).
    """
    dest = os.fspath(dest)
    videos, subsets, dur, segs, labs = wtalc_records()
    order = [i for i, s in enumerate(subsets) if s == "validation"] + [i for i, s in enumerate(subsets) if s == "test"]
    if max_videos is not None:
        tr = [i for i in order if subsets[i] == "validation"][: max_videos // 2]
        te = [i for i in order if subsets[i] == "test"][: max_videos - len(tr)]
        order = tr + te
    db = {}
    for i in order:
        entry = {"subset": subsets[i], "annotations": [
            {"label": l, "segment": [f"{a:.1f}", f"{b:.1f}"] if string_segments else [a, b]}
            for (a, b), l in zip(segs[i], labs[i])]}
        if with_duration:
            entry["duration"] = dur[i]
        db[videos[i]] = entry
    gt = {"database": db}
    if class_list:
        from wtal.safe_npy import load_npy, to_str

        cl = [to_str(c) for c in load_npy(os.path.join(THUMOS_ANN, "classlist.npy"))]
        gt["class-list"] = {str(k): c for k, c in enumerate(cl)}
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "gt.json"), "w") as f:
        json.dump(gt, f)
    split_of = {i: ("train" if subsets[i] == "validation" else "test") for i in order}
    if with_splits:
        for s in ("train", "test"):
            with open(os.path.join(dest, f"split_{s}.txt"), "w") as f:
                f.write("".join(videos[i] + "\n" for i in order if split_of[i] == s))
    T = snippets_for([dur[i] for i in order], max_snippets=max_snippets)
    feats = random_features(T, D, seed)
    pattern = LAYOUTS[layout]
    for k, i in enumerate(order):
        split = split_of[i] if with_splits else subsets[i]
        fill = dict(split=split, video=videos[i])
        if "{stream}" in pattern:
            for s, part in (("rgb", feats[k][:, : D // 2]), ("flow", feats[k][:, D // 2:])):
                p = os.path.join(dest, pattern.format(stream=s, **fill))
                os.makedirs(os.path.dirname(p), exist_ok=True)
                np.save(p, np.ascontiguousarray(part))
        else:
            p = os.path.join(dest, pattern.format(**fill))
            os.makedirs(os.path.dirname(p), exist_ok=True)
            np.save(p, feats[k])
    info = {"videos": [videos[i] for i in order],
            "splits": [split_of[i] if with_splits else subsets[i] for i in order],
            "num_snippets": T, "features": feats, "durations": [dur[i] for i in order]}
    return dest, info


# ---------------------------------------------------------------------------------------------------
# ActivityNet


def build_activitynet(dest, style: str = "bsn", D: int = 16, seed: int = 0, streams: bool = False,
                      strip_v_prefix_in_json: bool = False, max_snippets: int | None = 40):
    """ActivityNet1.3 annotations (a 60-video subset of BSN's ``anet_anno_action.json``) and features.

    ``style="bsn"``: the BSN JSON (no subsets) + ``video_info_new.csv``; ``style="official"``: an
    official-style ``{"database": ...}`` JSON with subsets and durations, keyed by YouTube id without
    the ``v_`` prefix when ``strip_v_prefix_in_json``. Features are ``v_<id>.npy`` (or ``rgb/``+``flow/``).

    Returns ``(json_path, features_dir, csv_path_or_None, info)``.
    """
    dest = os.fspath(dest)
    os.makedirs(dest, exist_ok=True)
    with open(ANET13_JSON) as f:
        bsn = json.load(f)
    with open(ANET13_CSV, newline="") as f:
        subset_of = {r["video"]: r["subset"] for r in csv.DictReader(f)}
    if style == "bsn":
        json_path = os.path.join(dest, "anet_anno_action.json")
        shutil.copy(ANET13_JSON, json_path)
        csv_path = os.path.join(dest, "video_info_new.csv")
        shutil.copy(ANET13_CSV, csv_path)
    elif style == "official":
        db = {}
        for v, e in bsn.items():
            key = v[2:] if strip_v_prefix_in_json else v
            db[key] = {"subset": subset_of[v], "duration": e["duration_second"], "annotations": e["annotations"],
                       "url": "https://www.youtube.com/watch?v=" + v[2:]}
        json_path = os.path.join(dest, "activity_net.v1-3.min.json")
        with open(json_path, "w") as f:
            json.dump({"version": "VERSION 1.3", "taxonomy": [], "database": db}, f)
        csv_path = None
    else:
        raise ValueError(style)
    fdir = os.path.join(dest, "features")
    videos = list(bsn)
    T = snippets_for([bsn[v]["duration_second"] for v in videos], max_snippets=max_snippets)
    feats = random_features(T, D, seed)
    for v, x in zip(videos, feats):
        if streams:
            for s, part in (("rgb", x[:, : D // 2]), ("flow", x[:, D // 2:])):
                os.makedirs(os.path.join(fdir, s), exist_ok=True)
                np.save(os.path.join(fdir, s, v + ".npy"), np.ascontiguousarray(part))
        else:
            os.makedirs(fdir, exist_ok=True)
            np.save(os.path.join(fdir, v + ".npy"), x)
    info = {"videos": videos, "subsets": [subset_of[v] for v in videos], "num_snippets": T, "features": feats,
            "annotations": bsn}
    return json_path, fdir, csv_path, info


__all__ = ["write_py2_npy", "build_wtalc", "build_pervideo", "build_activitynet", "wtalc_records",
           "random_features", "object_array", "THUMOS_ANN", "ANET12_ANN", "ANET13_JSON", "ANET13_CSV", "LAYOUTS"]
