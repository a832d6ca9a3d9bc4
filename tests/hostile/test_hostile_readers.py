"""Broken dataset files are rejected when they are loaded, with a message naming the file and the
video or row (issue 13, item 1): wtal.data's three readers."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from wtal.data import DatasetError, load_activitynet, load_pervideo, load_wtalc


def gt_json(**v2) -> dict:
    videos = {"v1": {"subset": "train", "duration": 10.0, "annotations": [{"label": "A", "segment": [1.0, 2.0]}]},
              "v2": {"subset": "train", "duration": 8.0, "annotations": [{"label": "B", "segment": [0.5, 3.0]}]},
              "v3": {"subset": "test", "duration": 12.0, "annotations": [{"label": "A", "segment": [2.0, 4.0]}]}}
    videos["v2"].update(v2)
    return {"database": videos}


def pervideo(tmp_path, gt=None, feats=None, split_train: bytes = b"v1\nv2\n") -> str:
    root = tmp_path / "ds"
    root.mkdir(parents=True)
    g = gt_json() if gt is None else gt
    (root / "gt.json").write_bytes(g if isinstance(g, bytes) else json.dumps(g).encode())
    (root / "split_train.txt").write_bytes(split_train)
    (root / "split_test.txt").write_bytes(b"v3\n")
    feats = feats or {}
    for v, s in (("v1", "train"), ("v2", "train"), ("v3", "test")):
        (root / s).mkdir(exist_ok=True)
        np.save(root / s / f"{v}.npy", feats.get(v, np.ones((16, 4), np.float32)))
    return str(root)


def load_all(root, **kw):
    ds = load_pervideo(root, **kw)
    for i in range(len(ds)):
        ds.features(i)
    return ds


def test_truncated_per_video_feature_file(tmp_path):
    root = pervideo(tmp_path)
    p = os.path.join(root, "train", "v2.npy")
    data = open(p, "rb").read()
    open(p, "wb").write(data[:-40])
    # caught when the dataset is built (header size vs file size), before any training
    with pytest.raises(DatasetError, match=r"train/v2.npy: truncated or corrupt .npy file: .*\(features of video 'v2'\)"):
        load_pervideo(root)
    # and a file truncated or replaced after the dataset was built is caught when it is read
    open(p, "wb").write(data)
    ds = load_pervideo(root)
    open(p, "wb").write(data[:-40])
    with pytest.raises(DatasetError, match=r"v2.npy: truncated .*video 'v2'"):
        ds.features(ds.video_index("v2"))
    np.save(p, np.ones((9, 4), np.float32))
    with pytest.raises(DatasetError, match=r"v2.npy: features of video 'v2' have 9 snippets but the file had 16"):
        ds.features(ds.video_index("v2"))


def test_non_utf8_annotation_split_and_class_files(tmp_path):
    latin1 = json.dumps(gt_json()).replace('"B"', '"Caf\u00e9"').encode("latin1")
    with pytest.raises(DatasetError, match=r"gt.json: annotation file is not UTF-8 text \(byte 0xe9 at offset \d+"):
        load_pervideo(pervideo(tmp_path / "a", gt=latin1))
    with pytest.raises(DatasetError, match=r"split_train.txt: split file is not UTF-8 text .* line 2"):
        load_pervideo(pervideo(tmp_path / "b", split_train=b"v1\nv\xe92\n"))
    root = pervideo(tmp_path / "c")
    with open(os.path.join(root, "classes.txt"), "wb") as f:
        f.write(b"A\n\xff\n")
    with pytest.raises(DatasetError, match="classes.txt: class list is not UTF-8"):
        load_pervideo(root, classes=os.path.join(root, "classes.txt"))
    # a UTF-8 byte-order mark is fine
    root = pervideo(tmp_path / "d", gt=b"\xef\xbb\xbf" + json.dumps(gt_json()).encode())
    assert len(load_pervideo(root)) == 3


@pytest.mark.parametrize("duration, what", [
    (float("nan"), "nan"), (float("inf"), "inf"), (-3.0, "-3.0"), (0.0, "0.0"), ("abc", "'abc'"), ([1, 2], "list"),
    (True, "bool")])
def test_bad_durations(tmp_path, duration, what):
    with pytest.raises(DatasetError, match=rf"gt.json: video 'v2'.*{what}"):
        load_pervideo(pervideo(tmp_path, gt=gt_json(duration=duration)))


@pytest.mark.parametrize("segment, what", [
    ([5.0, 2.0], "ends before it starts"), ([float("nan"), 2.0], "non-finite"), ([1.0, float("inf")], "non-finite"),
    ("12", "must be \\[start, end\\]"), ([True, False], "must be a number"), ([1.0, 2.0, 3.0], "must be"),
    (["a", "b"], "must be a number"), (None, "must be")])
def test_bad_segments(tmp_path, segment, what):
    with pytest.raises(DatasetError, match=rf"gt.json: video 'v2', annotation 0: .*{what}"):
        load_pervideo(pervideo(tmp_path, gt=gt_json(annotations=[{"label": "B", "segment": segment}])))


def test_valid_edge_annotations_still_load(tmp_path):
    # numeric strings, zero-length segments (the real ActivityNet files have some) and missing durations
    ds = load_pervideo(pervideo(tmp_path, gt=gt_json(duration=None, annotations=[
        {"label": "B", "segment": ["1.5", "3"]}, {"label": "B", "segment": [2.0, 2.0]}])))
    i = ds.video_index("v2")
    assert ds.durations[i] == pytest.approx(16 * 0.64)
    assert sorted(ds.annotations["t_start"][ds.annotations["video"] == i].tolist()) == [1.5, 2.0]


@pytest.mark.parametrize("name, make", [
    ("NaN", lambda x: (x.__setitem__((3, 1), np.nan), x)[1]),
    ("inf", lambda x: (x.__setitem__((0, 0), np.inf), x)[1]),
    ("complex", lambda x: x.astype(np.complex64) + 1j),
    ("float64 beyond float32", lambda x: (lambda y: (y.__setitem__((2, 2), 1e300), y)[1])(x.astype(np.float64))),
    ("bool", lambda x: x > 0), ("strings", lambda x: x.astype("U8")), ("1-D", lambda x: x[:, 0]),
    ("no columns", lambda x: x[:, :0]),
])
def test_bad_feature_values_per_video(tmp_path, name, make):
    root = pervideo(tmp_path, feats={"v2": make(np.ones((16, 4), np.float32))})
    with pytest.raises(DatasetError, match=r"v2.npy: features of video 'v2'"):
        load_all(root)


def test_bad_feature_values_name_the_snippet(tmp_path):
    x = np.ones((16, 4), np.float32)
    x[7, 2] = np.nan
    root = pervideo(tmp_path, feats={"v3": x})
    ds = load_pervideo(root)
    with pytest.raises(DatasetError, match=r"test/v3.npy: features of video 'v3' contain nan at snippet 7, column 2"):
        ds.features(ds.video_index("v3"))


def _wtalc(tmp_path, **over) -> str:
    root = tmp_path / "wt"
    ann = root / "T-Annotations"
    ann.mkdir(parents=True)

    def objs(rows):
        a = np.empty(len(rows), dtype=object)
        for i, r in enumerate(rows):
            a[i] = r
        return a

    files = {"videoname": np.array([b"v1", b"v2", b"v3"]), "subset": np.array([b"validation", b"validation", b"test"]),
             "classlist": np.array([b"A", b"B"]), "segments": objs([[[1.0, 2.0]], [[0.5, 3.0]], [[2.0, 4.0]]]),
             "labels": objs([["A"], ["B"], ["A"]]), "duration": np.array([[10.0], [8.0], [12.0]]),
             "features": objs([np.ones((6, 4), np.float32) for _ in range(3)])}
    files.update({k: (objs(v) if isinstance(v, list) else v) for k, v in over.items()})
    for k, v in files.items():
        np.save(root / ("T-I3D-JOINTFeatures.npy" if k == "features" else f"T-Annotations/{k}.npy"), v,
                allow_pickle=True)
    return str(root)


def test_wtalc_nan_duration_reversed_segment_and_bad_features(tmp_path):
    with pytest.raises(DatasetError, match=r"duration.npy: video 'v2' has duration nan"):
        load_wtalc(_wtalc(tmp_path / "a", duration=np.array([[10.0], [np.nan], [12.0]])), "T")
    with pytest.raises(DatasetError, match=r"duration.npy: durations must be real numbers, got dtype complex"):
        load_wtalc(_wtalc(tmp_path / "b", duration=np.array([[10.0], [8 + 1j], [12.0]])), "T")
    with pytest.raises(DatasetError, match=r"segments.npy: video 'v2' has a reversed segment \[3.0, 0.5\]"):
        load_wtalc(_wtalc(tmp_path / "c", segments=[[[1.0, 2.0]], [[3.0, 0.5]], [[2.0, 4.0]]]), "T")
    with pytest.raises(DatasetError, match=r"segments.npy: video 'v2': expected a list of \[t_start, t_end\]"):
        load_wtalc(_wtalc(tmp_path / "d", segments=[[[1.0, 2.0]], 5.0, [[2.0, 4.0]]]), "T")
    with pytest.raises(DatasetError, match=r"labels.npy: video 'v2': expected a list of class names"):
        load_wtalc(_wtalc(tmp_path / "e", labels=[["A"], "B", ["A"]]), "T")
    feats = [np.ones((6, 4), np.float32), np.ones((6, 4), np.float32), np.ones((6, 4), np.float32)]
    feats[1][2, 3] = np.inf
    with pytest.raises(DatasetError, match=r"JOINTFeatures.npy: features of video 'v2' contain inf at snippet 2"):
        load_wtalc(_wtalc(tmp_path / "f", features=feats), "T")
    feats[1] = np.ones((6, 4), np.complex64)
    with pytest.raises(DatasetError, match=r"JOINTFeatures.npy: features of video 'v2' have dtype complex64"):
        load_wtalc(_wtalc(tmp_path / "g", features=feats), "T")


def test_activitynet_csv_and_json(tmp_path):
    root = pervideo(tmp_path)
    ann = tmp_path / "anno.json"
    ann.write_text(json.dumps({v: {"duration_second": 9.0, "annotations": [{"label": "A", "segment": [4.0, 1.0]}]}
                               for v in ("v1", "v2", "v3")}))
    csv = tmp_path / "info.csv"
    csv.write_bytes(b"video,subset\nv1,train\nv2,train\nv3,test\n")
    kw = dict(video_info_csv=csv, subsets=("train", "test"), feature_pattern="{split}/{video}.npy",
              train_subset="train", test_subset="test")
    with pytest.raises(DatasetError, match=r"anno.json: video 'v1', annotation 0: segment \[4.0, 1.0\] ends before"):
        load_activitynet(ann, root, **kw)
    ann.write_text(json.dumps({v: {"duration_second": 9.0, "annotations": []} for v in ("v1", "v2", "v3")}))
    csv.write_bytes(b"video,subset\nv1,train\nv\xe92,train\n")
    with pytest.raises(DatasetError, match=r"info.csv: video info CSV is not UTF-8"):
        load_activitynet(ann, root, **kw)
