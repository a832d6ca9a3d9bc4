"""Dataset readers on fixtures built from the real annotations, in every on-disk format, and every
bad-input case (each error names the offending file)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from fixtures_data import (ANET12_ANN, LAYOUTS, build_activitynet, build_pervideo, build_wtalc, object_array,
                           write_py2_npy)
from wtal.data import DatasetError, load_activitynet, load_pervideo, load_wtalc
from wtal.safe_npy import load_npy

NAME = "Thumos14reduced"


# ---------------------------------------------------------------------------------------------------
# W-TALC


@pytest.fixture(scope="module")
def thumos_wtalc(tmp_path_factory):
    root, feats, T = build_wtalc(tmp_path_factory.mktemp("wtalc"), D=16)
    return Path(root), feats, T


def test_wtalc_thumos_reads_everything(thumos_wtalc):
    root, feats, T = thumos_wtalc
    ds = load_wtalc(root, NAME)
    assert len(ds) == 412 and ds.num_classes == 20 and ds.classes[0] == "BaseballPitch"
    assert ds.subsets.count("validation") == 200 and ds.subsets.count("test") == 212
    assert ds.train_subset == "validation" and ds.test_subset == "test"
    assert ds.videos[0] == "video_validation_0000051" and ds.durations.shape == (412,)
    assert ds.feature_dim == 16 and ds.seconds_per_snippet == pytest.approx(0.64)
    for i in (0, 200, 411):
        np.testing.assert_array_equal(ds.features(i), feats[i])
        assert ds.features(i).dtype == np.float32 and ds.num_snippets(i) == T[i]
    gt = ds.ground_truth("test")
    assert len(gt["t_start"]) == 3358 and gt["video"].dtype == object and isinstance(gt["label"][0], str)
    past = gt["t_end"] > ds.durations[[ds.video_index(v) for v in gt["video"]]]
    assert past.sum() == 26  # kept as annotated, not clipped
    assert len(ds.ground_truth("validation")["t_start"]) == 3007
    assert len(ds.ground_truth()["t_start"]) == 3358 + 3007
    # video-level labels from labels_all.npy; multi-label videos exist
    assert ds.labels.dtype == np.float32 and ds.labels.shape == (412, 20)
    from wtal.safe_npy import to_str

    la = load_npy(os.path.join(root, f"{NAME}-Annotations", "labels_all.npy"))
    ref = np.asarray([[float(c in {to_str(x) for x in row}) for c in ds.classes] for row in la], np.float32)
    np.testing.assert_array_equal(ds.labels, ref)
    assert (ds.labels.sum(1) > 1).sum() == 51
    # labels_all.npy is empty for video_test_0000270 (29 HammerThrow instances); kept as the authors read it
    assert [ds.videos[i] for i in np.flatnonzero(ds.labels.sum(1) == 0)] == ["video_test_0000270"]
    assert ds.ambiguous_file is not None and ds.ambiguous_file.endswith("Ambiguous_test.txt")
    rgb, flow = ds.with_modality("rgb"), ds.with_modality("flow")
    np.testing.assert_array_equal(rgb.features(3), feats[3][:, :8])
    np.testing.assert_array_equal(flow.features(3), feats[3][:, 8:])
    assert load_wtalc(root, NAME, modality="flow").feature_dim == 8


def test_wtalc_activitynet12_and_facnet_layout(tmp_path):
    root, feats, _ = build_wtalc(tmp_path / "a", ann_src=ANET12_ANN, name="ActivityNet1.2", D=12, py2=False)
    ds = load_wtalc(root, "ActivityNet1.2")
    assert len(ds) == 60 and ds.num_classes == 100 and ds.durations.shape == (60,)
    assert ds.train_subset == "training" and ds.test_subset == "validation"
    assert len(ds.indices("training")) == 40 and len(ds.indices("validation")) == 20
    np.testing.assert_array_equal(ds.features(59), feats[59])
    # FAC-Net keeps the annotation files beside the features
    root2, feats2, _ = build_wtalc(tmp_path / "b", D=8, annotations_beside=True, max_snippets=8)
    ds2 = load_wtalc(root2, NAME)
    assert len(ds2) == 412 and ds2.feature_dim == 8


def _copy(root, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(root, dst)
    return dst


def test_wtalc_missing_files_are_named(thumos_wtalc, tmp_path):
    root = _copy(thumos_wtalc[0], tmp_path)
    os.remove(root / f"{NAME}-Annotations" / "segments.npy")
    with pytest.raises(FileNotFoundError, match="segments.npy"):
        load_wtalc(root, NAME)
    with pytest.raises(FileNotFoundError, match="Nope-I3D-JOINTFeatures.npy|Nope-Annotations"):
        load_wtalc(root, "Nope")
    os.remove(root / f"{NAME}-I3D-JOINTFeatures.npy")
    shutil.copy(thumos_wtalc[0] / f"{NAME}-Annotations" / "segments.npy", root / f"{NAME}-Annotations")
    with pytest.raises(FileNotFoundError, match=f"{NAME}-I3D-JOINTFeatures.npy"):
        load_wtalc(root, NAME)


def _rewrite_features(root, feats):
    write_py2_npy(os.path.join(root, f"{NAME}-I3D-JOINTFeatures.npy"), object_array(feats))


def test_wtalc_bad_features(thumos_wtalc, tmp_path):
    root = _copy(thumos_wtalc[0], tmp_path)
    feats = list(thumos_wtalc[1])
    bad = feats.copy()
    bad[5] = np.zeros((bad[5].shape[0], 15), np.float32)
    _rewrite_features(root, bad)
    with pytest.raises(DatasetError, match=r"JOINTFeatures.npy: features of video 'video_validation_0000\d+' \(#5\) have dim 15"):
        load_wtalc(root, NAME)
    bad = feats.copy()
    bad[7] = np.zeros((0, 16), np.float32)
    _rewrite_features(root, bad)
    with pytest.raises(DatasetError, match=r"video 'video_validation_0000\d+' have shape \(0, 16\)"):
        load_wtalc(root, NAME)
    _rewrite_features(root, feats[:-1])
    with pytest.raises(DatasetError, match="411 feature arrays but .*videoname.npy lists 412 videos"):
        load_wtalc(root, NAME)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    np.save(os.path.join(root, f"{NAME}-I3D-JOINTFeatures.npy"), object_array([Evil()]), allow_pickle=True)
    with pytest.raises(ValueError, match="refusing to unpickle"):
        load_wtalc(root, NAME)


def test_wtalc_bad_annotations(thumos_wtalc, tmp_path):
    root = _copy(thumos_wtalc[0], tmp_path)
    ann = root / f"{NAME}-Annotations"
    labels = load_npy(ann / "labels.npy")
    bogus = [list(x) for x in labels]
    bogus[3] = ["Juggling"] * len(bogus[3])
    write_py2_npy(ann / "labels.npy", object_array(bogus))
    with pytest.raises(DatasetError, match=r"labels.npy: unknown class 'Juggling' for video"):
        load_wtalc(root, NAME)
    short = [list(x) for x in labels]
    short[4] = short[4][:-1]
    write_py2_npy(ann / "labels.npy", object_array(short))
    with pytest.raises(DatasetError, match=r"segments.npy: video .* has \d+ segments but labels.npy lists \d+ labels"):
        load_wtalc(root, NAME)
    write_py2_npy(ann / "labels.npy", object_array([list(x) for x in labels]))
    la = [list(x) for x in load_npy(ann / "labels_all.npy")]
    la[0] = ["Juggling"]
    write_py2_npy(ann / "labels_all.npy", object_array(la))
    with pytest.raises(DatasetError, match="labels_all.npy: unknown class 'Juggling'"):
        load_wtalc(root, NAME)
    os.remove(ann / "labels_all.npy")  # then video labels come from the instance labels
    ds = load_wtalc(root, NAME)
    assert ds.labels.shape == (412, 20)
    np.save(ann / "duration.npy", np.zeros((412, 2)))
    with pytest.raises(DatasetError, match=r"duration.npy: expected shape \(V,\) or \(V, 1\)"):
        load_wtalc(root, NAME)
    np.save(ann / "duration.npy", np.zeros(411))
    with pytest.raises(DatasetError, match="duration.npy: 411 entries but videoname.npy has 412"):
        load_wtalc(root, NAME)
    ds_sub = load_wtalc(thumos_wtalc[0], NAME)
    with pytest.raises(DatasetError, match="subset 'training' has no videos"):
        ds_sub.indices("training")


# ---------------------------------------------------------------------------------------------------
# per-video folders


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_pervideo_layouts(tmp_path, layout):
    root, info = build_pervideo(tmp_path, layout=layout, D=16)
    ds = load_pervideo(root)
    assert ds.videos == info["videos"] and ds.subsets == info["splits"]
    assert ds.train_subset == "train" and ds.test_subset == "test"
    assert ds.feature_dim == 16 and ds.stream_dims == (8, 8) and ds.num_classes <= 20
    for i in (0, 25, len(ds) - 1):
        np.testing.assert_array_equal(ds.features(i), info["features"][i])
        assert ds.num_snippets(i) == info["num_snippets"][i]
    np.testing.assert_allclose(ds.durations, info["durations"])
    rgb = load_pervideo(root, modality="rgb")
    np.testing.assert_array_equal(rgb.features(2), info["features"][2][:, :8])
    np.testing.assert_array_equal(ds.with_modality("flow").features(2), info["features"][2][:, 8:])
    gt = ds.ground_truth("test")
    assert len(gt["t_start"]) > 0 and set(gt["video"]) <= set(info["videos"][20:])


def test_pervideo_gt_variants(tmp_path):
    root, info = build_pervideo(tmp_path / "a", with_duration=False, string_segments=True, class_list=True)
    ds = load_pervideo(root)
    assert ds.num_classes == 20 and ds.classes[0] == "BaseballPitch"  # from HAM-Net's class-list
    np.testing.assert_allclose(ds.durations, np.asarray(info["num_snippets"]) * 0.64)  # no duration: T * sps
    assert ds.annotations["t_start"].dtype == np.float64
    # no split files: subsets from gt.json (ActionFormer-style flat folder)
    root2, info2 = build_pervideo(tmp_path / "b", layout="flat", with_splits=False)
    ds2 = load_pervideo(root2)
    assert set(ds2.subsets) == {"validation", "test"} and ds2.train_subset == "validation"
    # explicit split list and pattern
    ds3 = load_pervideo(root, splits=["test"], feature_pattern="{split}/{video}.npy", classes=ds.classes)
    assert set(ds3.subsets) == {"test"} and len(ds3) == 20


def test_pervideo_errors(tmp_path):
    root, info = build_pervideo(tmp_path / "a", layout="acmnet")
    v0 = info["videos"][0]
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_pervideo(root, gt="nope.json")
    with pytest.raises(FileNotFoundError, match="split_val.txt"):
        load_pervideo(root, splits=["val"])
    with pytest.raises(DatasetError, match="Juggling"):
        load_pervideo(root, classes=["Juggling"])
    os.remove(os.path.join(root, "train", v0 + ".npy"))
    with pytest.raises(FileNotFoundError, match=os.path.join("train", v0 + ".npy")):
        load_pervideo(root)
    with pytest.warns(UserWarning, match="skipped 1 videos"):
        ds = load_pervideo(root, missing="skip")
    assert v0 not in ds.videos and len(ds) == len(info["videos"]) - 1
    np.save(os.path.join(root, "train", v0 + ".npy"), np.zeros((5, 15), np.float32))
    with pytest.raises(DatasetError, match=rf"{v0}.npy: features of video '{v0}' have dim 15"):
        load_pervideo(root)
    np.save(os.path.join(root, "train", v0 + ".npy"), np.zeros((0, 16), np.float32))
    with pytest.raises(DatasetError, match=rf"{v0}.npy: features of video .* shape \(0, 16\)"):
        load_pervideo(root)
    np.save(os.path.join(root, "train", v0 + ".npy"), np.zeros((3, 16), np.float32))
    load_pervideo(root)
    # split files that disagree with gt.json or are empty
    with open(os.path.join(root, "split_test.txt"), "a") as f:
        f.write("video_test_9999999\n")
    with pytest.raises(DatasetError, match="split_test.txt: video 'video_test_9999999' is not in .*gt.json"):
        load_pervideo(root)
    open(os.path.join(root, "split_test.txt"), "w").close()
    with pytest.raises(DatasetError, match="split_test.txt: empty split file"):
        load_pervideo(root)
    # unknown class inside gt.json when the class list is fixed
    root2, info2 = build_pervideo(tmp_path / "b", class_list=True)
    with open(os.path.join(root2, "gt.json")) as f:
        gt = json.load(f)
    gt["database"][info2["videos"][1]]["annotations"][0]["label"] = "Juggling"
    with open(os.path.join(root2, "gt.json"), "w") as f:
        json.dump(gt, f)
    with pytest.raises(DatasetError, match=r"gt.json: unknown class 'Juggling' for video"):
        load_pervideo(root2)
    with open(os.path.join(root2, "gt.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(DatasetError, match="gt.json: not valid JSON"):
        load_pervideo(root2)


def test_pervideo_stream_mismatch(tmp_path):
    root, info = build_pervideo(tmp_path, layout="basnet")
    v = info["videos"][3]
    p = os.path.join(root, "features", "train", "flow", v + ".npy")
    np.save(p, np.zeros((info["num_snippets"][3] + 1, 8), np.float32))
    with pytest.raises(DatasetError, match=rf"rgb.*{v}.npy has \d+ snippets but .*flow.*{v}.npy has"):
        load_pervideo(root)


# ---------------------------------------------------------------------------------------------------
# ActivityNet JSON


def test_activitynet_bsn_style(tmp_path):
    ann, fdir, csv_path, info = build_activitynet(tmp_path, style="bsn")
    ds = load_activitynet(ann, fdir, video_info_csv=csv_path)
    assert len(ds) == 60 and ds.train_subset == "training" and ds.test_subset == "validation"
    assert len(ds.indices("training")) == 40 and len(ds.indices("validation")) == 20
    i = ds.video_index(info["videos"][0])
    np.testing.assert_array_equal(ds.features(i), info["features"][0])
    assert ds.durations[i] == pytest.approx(info["annotations"][info["videos"][0]]["duration_second"])
    assert ds.num_classes == len({a["label"] for v in info["annotations"].values() for a in v["annotations"]})
    n_inst = sum(len(info["annotations"][v]["annotations"]) for v in ds.videos)
    assert len(ds.ground_truth()["t_start"]) == n_inst
    # the testing subset (no labels) loads when asked for
    all_ds = load_activitynet(ann, fdir, video_info_csv=csv_path, subsets=None)
    assert len(all_ds) == 65 and all_ds.labels[all_ds.indices("testing")].sum() == 0
    assert all_ds.classes == ds.classes  # label columns do not depend on the subsets loaded
    with pytest.raises(DatasetError, match="anet_anno_action.json: 65 videos have no 'subset'.*video_info_csv"):
        load_activitynet(ann, fdir)
    with pytest.raises(DatasetError, match="subset 'nope' has no videos|no videos in subsets"):
        load_activitynet(ann, fdir, video_info_csv=csv_path, subsets=["nope"])
    with pytest.raises(DatasetError, match="unknown class"):
        load_activitynet(ann, fdir, video_info_csv=csv_path, classes=["Ballet"])
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_activitynet(ann, fdir, video_info_csv=tmp_path / "nope.csv")
    os.remove(os.path.join(fdir, info["videos"][0] + ".npy"))
    with pytest.raises(FileNotFoundError, match=info["videos"][0] + ".npy"):
        load_activitynet(ann, fdir, video_info_csv=csv_path)


def test_activitynet_official_style_with_streams(tmp_path):
    ann, fdir, _, info = build_activitynet(tmp_path, style="official", streams=True, strip_v_prefix_in_json=True)
    ds = load_activitynet(ann, fdir)
    assert len(ds) == 60 and ds.videos[0] == info["videos"][0][2:]  # JSON ids, files v_<id>.npy
    assert ds.stream_dims == (8, 8) and ds.feature_dim == 16
    np.testing.assert_array_equal(ds.features(0), info["features"][0])
    flow = load_activitynet(ann, fdir, modality="flow")
    np.testing.assert_array_equal(flow.features(0), info["features"][0][:, 8:])
    with pytest.raises(FileNotFoundError, match="missing feature folder"):
        load_activitynet(ann, tmp_path / "nofeatures")


def test_reader_dataset_feeds_clip_dataset(tmp_path):
    from wtal.data.torch_dataset import ClipDataset, pad_collate

    root, info = build_pervideo(tmp_path, layout="basnet")
    ds = load_pervideo(root)
    clips = ClipDataset(ds, ds.indices(ds.train_subset), num_segments=32, sampling="random", seed=0)
    batch = pad_collate([clips[k] for k in range(4)])
    assert batch["features"].shape == (4, 32, 16) and batch["labels"].shape == (4, ds.num_classes)


def test_pervideo_numbered_files_dgam_style(tmp_path):
    """``{index}`` = 1-based position in the split file (DGAM's ``{split}_data/{stream}_features/<i>.npy``)."""
    root, info = build_pervideo(tmp_path, layout="acmnet")
    pattern = "{split}_data/{stream}_features/{index}.npy"
    for split in ("train", "test"):
        with open(os.path.join(root, f"split_{split}.txt")) as f:
            names = [ln.strip() for ln in f if ln.strip()]
        for k, v in enumerate(names):
            x = np.load(os.path.join(root, split, v + ".npy"))
            for s, part in (("rgb", x[:, :8]), ("flow", x[:, 8:])):
                d = os.path.join(root, f"{split}_data", f"{s}_features")
                os.makedirs(d, exist_ok=True)
                np.save(os.path.join(d, f"{k + 1}.npy"), np.ascontiguousarray(part))
        shutil.rmtree(os.path.join(root, split))
    ds = load_pervideo(root, feature_pattern=pattern)
    assert ds.videos == info["videos"] and ds.stream_dims == (8, 8)
    for i in (0, 21, len(ds) - 1):
        np.testing.assert_array_equal(ds.features(i), info["features"][i])
