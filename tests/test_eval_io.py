"""wtal.eval.io: ActivityNet JSON, W-TALC npy and Ambiguous_test.txt readers, atomic results writer."""
from __future__ import annotations

import collections
import json
import math
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtal.eval.io import (
    GroundTruthInfo,
    columns_from,
    ground_truth_from_wtalc,
    load_ambiguous,
    load_ground_truth,
    load_predictions,
    results_to_json_dict,
    write_results,
)

DATA = os.path.join(os.path.dirname(__file__), "data")
THUMOS_JSON = os.path.join(DATA, "thumos14_test_gt.json")
WTALC = os.path.join(DATA, "thumos14_reduced")
AMBIGUOUS = os.path.join(WTALC, "Ambiguous_test.txt")


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def _pred_doc(results, **extra):
    return {"version": "x", "results": results, "external_data": {}, **extra}


# ------------------------------------------------------------------------------------------------
# real annotation files


def test_thumos14_json_ground_truth_counts_and_string_segments():
    gt, info = load_ground_truth(THUMOS_JSON, return_info=True)
    assert isinstance(info, GroundTruthInfo)
    assert len(info.videos) == 210 and len(set(gt["video"])) == 210
    assert len(gt["video"]) == 3311
    assert len(set(gt["label"])) == 20 and "Ambiguous" not in set(gt["label"])
    assert gt["t_start"].dtype == np.float64 and gt["t_end"].dtype == np.float64
    assert gt["video"].dtype == object and gt["label"].dtype == object
    assert all(type(v) is str for v in gt["video"]) and all(type(v) is str for v in gt["label"])
    # first annotation of the file is ["88.6", "90.9"]: float() of the strings, as the official code does
    assert gt["video"][0] == "video_test_0000611"
    assert gt["t_start"][0] == float("88.6") and gt["t_end"][0] == float("90.9")
    assert gt["label"][0] == "GolfSwing"
    # the largest per-(video, class) group named in research/evaluation.md §7
    (video, _), count = collections.Counter(zip(gt["video"], gt["label"])).most_common(1)[0]
    assert (video, count) == ("video_test_0000716", 218)
    assert np.isnan(info.durations).all() and info.classes is None
    assert set(info.subsets) == {"test"}


def test_thumos14_json_matches_plain_parse():
    with open(THUMOS_JSON) as f:
        db = json.load(f)["database"]
    rows = [(v, float(a["segment"][0]), float(a["segment"][1]), a["label"])
            for v, e in db.items() for a in e["annotations"]]
    gt = load_ground_truth(THUMOS_JSON, subset="test")
    assert list(zip(gt["video"], gt["t_start"], gt["t_end"], gt["label"])) == rows


def test_subset_that_no_video_has_is_an_error():
    with pytest.raises(ValueError, match=r"thumos14_test_gt.json: no video has subset 'validation' .*'test'"):
        load_ground_truth(THUMOS_JSON, subset="validation")


def test_wtalc_ground_truth_counts_and_agreement_with_json():
    gt, info = ground_truth_from_wtalc(WTALC, return_info=True)
    assert len(info.videos) == 212 and len(set(gt["video"])) == 212
    assert len(gt["video"]) == 3358
    assert len(set(gt["label"])) == 20 and "Ambiguous" not in set(gt["label"])
    assert info.classes is not None and len(info.classes) == 20 and info.classes[0] == "BaseballPitch"
    assert np.isfinite(info.durations).all() and (info.durations > 0).all()
    assert set(info.subsets) == {"test"}
    # the JSON GT (BaSNet/UM) drops two videos; on the other 210 both files hold the same 3,311 instances
    js = load_ground_truth(THUMOS_JSON)
    extra = collections.Counter(v for v in gt["video"] if v not in set(js["video"]))
    assert extra == {"video_test_0000270": 29, "video_test_0001496": 18}
    both = set(js["video"])
    w_rows = collections.Counter((v, s, e, la) for v, s, e, la in
                                 zip(gt["video"], gt["t_start"], gt["t_end"], gt["label"]) if v in both)
    j_rows = collections.Counter(zip(js["video"], js["t_start"], js["t_end"], js["label"]))
    assert w_rows == j_rows


def test_wtalc_validation_subset_and_all():
    val, info = ground_truth_from_wtalc(WTALC, subset="validation", return_info=True)
    assert len(info.videos) == 200
    assert all(v.startswith("video_validation_") for v in val["video"])
    everything = ground_truth_from_wtalc(WTALC, subset=None)
    assert len(everything["video"]) == len(val["video"]) + 3358


def test_wtalc_classes_filter():
    gt = ground_truth_from_wtalc(WTALC, classes=["Diving", "CliffDiving"])
    assert set(gt["label"]) == {"Diving", "CliffDiving"}
    full = ground_truth_from_wtalc(WTALC)
    assert len(gt["video"]) == int(np.isin(full["label"], ["Diving", "CliffDiving"]).sum())


def test_load_ambiguous_real_file():
    amb = load_ambiguous(AMBIGUOUS)
    assert len(amb["video"]) == 99 and len(set(amb["video"])) == 37
    assert (amb["video"][0], amb["t_start"][0], amb["t_end"][0]) == ("video_test_0000278", 0.0, 1.4)
    assert (amb["video"][-1], amb["t_start"][-1], amb["t_end"][-1]) == ("video_test_0001549", 75.0, 100.2)
    assert amb["t_start"].dtype == np.float64


def test_load_ambiguous_any_whitespace_and_blank_lines(tmp_path):
    p = _write(tmp_path, "amb.txt", "v1  1.5 2.5\n\nv2\t3\t4\r\n   \nv1 10 12.25   \n")
    amb = load_ambiguous(p)
    assert amb["video"].tolist() == ["v1", "v2", "v1"]
    assert amb["t_start"].tolist() == [1.5, 3.0, 10.0] and amb["t_end"].tolist() == [2.5, 4.0, 12.25]
    empty = load_ambiguous(_write(tmp_path, "empty.txt", ""))
    assert len(empty["video"]) == 0 and empty["t_start"].dtype == np.float64


def test_load_ambiguous_errors(tmp_path):
    with pytest.raises(ValueError, match=r"bad\.txt, line 2: expected 'video start end', got 2"):
        load_ambiguous(_write(tmp_path, "bad.txt", "v1 1 2\nv2 3\n"))
    with pytest.raises(ValueError, match=r"bad2\.txt, line 1: start/end must be numbers"):
        load_ambiguous(_write(tmp_path, "bad2.txt", "v1 one 2\n"))
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_ambiguous(tmp_path / "nope.txt")


# ------------------------------------------------------------------------------------------------
# ground truth JSON variants


def test_ground_truth_variants_info_and_order():
    doc = {
        "version": "1.3", "taxonomy": [],
        "database": {
            "b": {"subset": "validation", "duration": 30.5,
                  "annotations": [{"label": "x", "segment": [1, 2]}, {"label": "y", "segment": ["3", 4.5]}]},
            "a": {"subset": "training", "duration": "12", "annotations": [{"label": "x", "segment": [0, 1]}]},
            "c": {"subset": "validation", "annotations": []},
            "d": {"subset": "testing", "annotations": [{"label": "x", "segment": "not read: other subset"}]},
        },
    }
    gt, info = load_ground_truth(doc, subset="validation", return_info=True)
    assert gt["video"].tolist() == ["b", "b"]
    assert gt["t_start"].tolist() == [1.0, 3.0] and gt["t_end"].tolist() == [2.0, 4.5]
    assert gt["label"].tolist() == ["x", "y"]
    assert info.videos.tolist() == ["b", "c"] and info.subsets.tolist() == ["validation", "validation"]
    assert info.durations[0] == 30.5 and math.isnan(info.durations[1])
    gt_all, info_all = load_ground_truth({"database": {k: v for k, v in doc["database"].items() if k != "d"}},
                                         return_info=True)
    assert gt_all["video"].tolist() == ["b", "b", "a"] and info_all.durations[1] == 12.0


def test_ground_truth_anet_anno_action_layout_and_class_list():
    anno = {"v_1": {"duration_second": 82.73, "annotations": [{"segment": [6.1, 77.7], "label": "Ballet"}]},
            "v_2": {"duration_second": 61.7, "annotations": []}}
    gt, info = load_ground_truth(anno, return_info=True)
    assert gt["video"].tolist() == ["v_1"] and info.durations.tolist() == [82.73, 61.7]
    hamnet = {"class-list": {"1": "B", "0": "A"}, "database": anno}
    assert load_ground_truth(hamnet, return_info=True)[1].classes == ["A", "B"]
    assert load_ground_truth({"class-list": ["A", "B"], "database": anno}, return_info=True)[1].classes == ["A", "B"]
    with pytest.raises(ValueError, match="class-list"):
        load_ground_truth({"class-list": {"a": "A"}, "database": anno})


def test_ground_truth_integer_labels_kept():
    gt = load_ground_truth({"database": {"v": {"annotations": [{"label": 3, "segment": [0, 1]}]}}})
    assert gt["label"].tolist() == [3] and type(gt["label"][0]) is int


def test_ground_truth_nan_and_reversed_segments_are_kept():
    # validation of values is the evaluator's strict mode; the loader keeps what the file says
    doc = {"database": {"v": {"annotations": [{"label": "x", "segment": ["nan", 1]},
                                              {"label": "x", "segment": [5, 2]},
                                              {"label": "x", "segment": [3, "inf"]}]}}}
    gt = load_ground_truth(doc)
    assert math.isnan(gt["t_start"][0]) and gt["t_start"][1] == 5.0 and gt["t_end"][2] == math.inf


def test_ground_truth_columns_input():
    cols = {"video": np.array(["a", "b"]), "t_start": [0, 1], "t_end": np.array([1.0, 2.0], np.float32),
            "label": ["x", "y"], "subset": ["test", "train"]}
    gt = load_ground_truth(cols, subset="test")
    assert gt["video"].tolist() == ["a"] and gt["t_start"].dtype == np.float64
    assert gt["video"].dtype == object and type(gt["video"][0]) is str
    with pytest.raises(ValueError, match="no 'subset'"):
        load_ground_truth({k: v for k, v in cols.items() if k != "subset"}, subset="test")
    with pytest.raises(ValueError, match="missing column.*'label'"):
        load_ground_truth({k: v for k, v in cols.items() if k != "label"})


def test_dataframe_input():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"video": ["a", "a"], "t_start": [0.0, 1.0], "t_end": [1.0, 2.0],
                       "label": ["x", "y"], "score": [0.5, 0.25]})
    pred = load_predictions(df)
    assert pred["score"].tolist() == [0.5, 0.25] and pred["video"].dtype == object
    gt = load_ground_truth(df.drop(columns="score"))
    assert gt["label"].tolist() == ["x", "y"]


def test_bytes_ids_are_decoded():
    pred = load_predictions({"video": np.array([b"video_test_0000004"]), "t_start": [1], "t_end": [2],
                             "label": [b"Diving"], "score": [0.5]})
    assert pred["video"].tolist() == ["video_test_0000004"] and pred["label"].tolist() == ["Diving"]
    with pytest.raises(ValueError, match=r"row 0, column 'label'.*not UTF-8"):
        load_predictions({"video": ["v"], "t_start": [1], "t_end": [2], "label": [b"\xff"], "score": [0.5]})


def test_columns_are_fresh_copies():
    t = np.array([0.0, 1.0])
    cols = columns_from({"video": ["a", "b"], "t_start": t, "t_end": t + 1, "label": ["x", "x"]},
                        ("video", "t_start", "t_end", "label"))
    cols["t_start"][0] = 99.0
    assert t[0] == 0.0


# ------------------------------------------------------------------------------------------------
# predictions: reading


def test_predictions_lenient_keys_string_values_and_nan_tokens(tmp_path):
    text = ('{"results": {"v1": [{"label": "x", "score": "0.5", "segment": ["1.25", "2"]},'
            ' {"label": "x", "score": NaN, "segment": [0, Infinity]}], "v2": []}}')
    pred = load_predictions(_write(tmp_path, "p.json", text))
    assert pred["video"].tolist() == ["v1", "v1"]
    assert pred["score"][0] == 0.5 and math.isnan(pred["score"][1])
    assert pred["t_start"].tolist() == [1.25, 0.0] and pred["t_end"][1] == math.inf
    assert set(pred) == {"video", "t_start", "t_end", "label", "score"}


def test_predictions_file_order_kept():
    res = {"z": [{"label": "b", "score": 0.1, "segment": [0, 1]}],
           "a": [{"label": "a", "score": 0.9, "segment": [2, 3]}, {"label": "b", "score": 0.2, "segment": [4, 5]}]}
    pred = load_predictions(_pred_doc(res))
    assert pred["video"].tolist() == ["z", "a", "a"] and pred["label"].tolist() == ["b", "a", "b"]


def test_empty_results():
    pred = load_predictions({"results": {}})
    assert all(len(v) == 0 for v in pred.values())
    assert pred["score"].dtype == np.float64 and pred["video"].dtype == object


# ------------------------------------------------------------------------------------------------
# writing and round trips

_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(rows=st.lists(st.tuples(st.sampled_from(["v1", "v2", "v3", "vidé\"o"]), _finite, _finite,
                               st.sampled_from(["A", "B c", "ünï"]), _finite), max_size=30))
def test_write_read_round_trip_bit_identical(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("rt") / "results.json"
    cols = {"video": np.array([r[0] for r in rows], dtype=object),
            "t_start": np.array([r[1] for r in rows], dtype=np.float64),
            "t_end": np.array([r[2] for r in rows], dtype=np.float64),
            "label": np.array([r[3] for r in rows], dtype=object),
            "score": np.array([r[4] for r in rows], dtype=np.float64)}
    write_results(path, cols)
    back = load_predictions(path)
    # grouping by first appearance of the video, input order inside a video
    first = {}
    for v in cols["video"]:
        first.setdefault(v, len(first))
    order = sorted(range(len(rows)), key=lambda i: first[cols["video"][i]])
    for key in ("t_start", "t_end", "score"):
        assert back[key].tobytes() == cols[key][order].tobytes()
    assert back["video"].tolist() == cols["video"][order].tolist()
    assert back["label"].tolist() == cols["label"][order].tolist()
    # the fast text writer produces exactly what json.dumps of the documented dict produces
    assert path.read_text() == json.dumps(results_to_json_dict(cols))


def test_round_trip_extreme_values(tmp_path):
    vals = np.array([5e-324, -0.0, 0.1, 1 / 3, 1e308, -1e-300, 0.8999999999999999, 2.0 ** 53 + 2])
    n = len(vals)
    cols = {"video": ["v"] * n, "t_start": vals, "t_end": vals[::-1].copy(), "label": [7] * n, "score": vals}
    write_results(tmp_path / "r.json", cols)
    back = load_predictions(tmp_path / "r.json")
    assert back["t_start"].tobytes() == vals.tobytes() and back["score"].tobytes() == vals.tobytes()
    assert back["label"].tolist() == [7] * n and type(back["label"][0]) is int


_TIE_GT = {"video": np.array([v for v in ("v1", "v2", "v3") for _ in range(6)], dtype=object),
           "t_start": np.array([2.0 * k for _ in range(3) for _ in range(2) for k in range(3)]),
           "t_end": np.array([2.0 * k + 2 for _ in range(3) for _ in range(2) for k in range(3)]),
           "label": np.array([c for _ in range(3) for c in ("A", "B") for _ in range(3)], dtype=object)}


@given(rows=st.lists(st.tuples(st.sampled_from(["v1", "v2", "v3", "v4"]), st.integers(0, 6),
                               st.sampled_from(["A", "B"]), st.sampled_from([0.5, 0.9])), min_size=1, max_size=25),
       grouped=st.booleans())
def test_written_file_keeps_the_per_class_order_that_ties_depend_on(tmp_path_factory, rows, grouped):
    """Rows keep their order within every (video, class); per class, re-reading gives the input order
    stably grouped by video (first appearance), so tied APs survive the file whenever the input lists
    each video's rows together."""
    from wtal.eval import evaluate_detection
    from wtal.localize.detections import Detections

    if grouped:
        first: dict = {}
        for r in rows:
            first.setdefault(r[0], len(first))
        rows = sorted(rows, key=lambda r: first[r[0]])
    cols = {"video": np.array([r[0] for r in rows], dtype=object),
            "t_start": np.array([float(r[1]) for r in rows]), "t_end": np.array([float(r[1]) + 2.0 for r in rows]),
            "label": np.array([r[2] for r in rows], dtype=object), "score": np.array([r[3] for r in rows])}
    folder = tmp_path_factory.mktemp("ties")
    write_results(folder / "r.json", cols)
    back = load_predictions(folder / "r.json")

    def seq(c, key):
        return [(c["t_start"][i], c["score"][i]) for i in range(len(c["video"])) if key(c, i)]

    for v in ("v1", "v2", "v3", "v4"):
        for lab in ("A", "B"):
            same = lambda c, i: c["video"][i] == v and c["label"][i] == lab
            assert seq(back, same) == seq(cols, same)
    first = {}
    for v in cols["video"].tolist():
        first.setdefault(v, len(first))
    regrouped = sorted(range(len(rows)), key=lambda i: first[cols["video"][i]])  # the documented rule
    expected = {k: a[regrouped] for k, a in cols.items()}
    for lab in ("A", "B"):
        in_class = lambda c, i: c["label"][i] == lab
        assert seq(back, in_class) == seq(expected, in_class)
        if grouped:
            assert seq(back, in_class) == seq(cols, in_class)
    dets = Detections(cols["video"], cols["label"], cols["t_start"], cols["t_end"], cols["score"])
    dets.write(folder / "d.json")
    thr = [0.3, 0.5, 0.7]
    for policy in ("stable", "numpy"):
        ap_back = evaluate_detection(_TIE_GT, back, tiou_thresholds=thr, tie_policy=policy).ap
        ap_dets = evaluate_detection(_TIE_GT, str(folder / "d.json"), tiou_thresholds=thr, tie_policy=policy).ap
        np.testing.assert_array_equal(ap_dets, ap_back)
        np.testing.assert_array_equal(
            ap_back, evaluate_detection(_TIE_GT, expected, tiou_thresholds=thr, tie_policy=policy).ap)
        if grouped:
            np.testing.assert_array_equal(
                ap_back, evaluate_detection(_TIE_GT, cols, tiou_thresholds=thr, tie_policy=policy).ap)


def test_interleaved_videos_change_the_tied_ap_after_writing(tmp_path):
    """A class whose rows interleave videos cannot keep its order in a results file (one list per video)."""
    from wtal.eval import evaluate_detection

    gt = {"video": np.array(["a", "a"], dtype=object), "t_start": np.array([0.0, 20.0]),
          "t_end": np.array([10.0, 30.0]), "label": np.array(["y", "x"], dtype=object)}
    cols = {"video": np.array(["a", "b", "a"], dtype=object), "t_start": np.array([0.0, 20.0, 20.0]),
            "t_end": np.array([10.0, 30.0, 30.0]), "label": np.array(["y", "x", "x"], dtype=object),
            "score": np.array([0.9, 0.5, 0.5])}  # class x: FP on b, then the TP on a, equal scores
    write_results(tmp_path / "r.json", cols)
    back = load_predictions(tmp_path / "r.json")
    assert back["video"].tolist() == ["a", "a", "b"]  # class x now lists the TP first
    direct = evaluate_detection(gt, cols, tiou_thresholds=[0.5]).ap[0].tolist()
    reread = evaluate_detection(gt, back, tiou_thresholds=[0.5]).ap[0].tolist()
    assert direct == [1.0, 1.0] and reread == [1.0, 0.5]  # stable rule: the later row ranks first


def test_float32_input_is_written_exactly(tmp_path):
    t = np.array([0.1, 0.7], dtype=np.float32)
    write_results(tmp_path / "r.json", {"video": ["a", "b"], "t_start": t, "t_end": t, "label": ["x", "x"],
                                        "score": t})
    back = load_predictions(tmp_path / "r.json")
    assert back["t_start"].tobytes() == t.astype(np.float64).tobytes()


def test_results_dict_layout_and_grouping():
    cols = {"video": ["b", "a", "b"], "t_start": [0, 1, 2], "t_end": [1, 2, 3], "label": ["x", "y", "z"],
            "score": [0.3, 0.2, 0.1]}
    doc = results_to_json_dict(cols, version="v9", external_data={"used": False})
    assert doc == {"version": "v9", "external_data": {"used": False}, "results": {
        "b": [{"label": "x", "score": 0.3, "segment": [0.0, 1.0]}, {"label": "z", "score": 0.1, "segment": [2.0, 3.0]}],
        "a": [{"label": "y", "score": 0.2, "segment": [1.0, 2.0]}]}}
    assert list(doc["results"]) == ["b", "a"]


def test_write_detections_like_object(tmp_path):
    class Dets:
        def to_columns(self):
            return {"video": np.array(["v"], dtype=object), "t_start": np.array([1.0]), "t_end": np.array([2.0]),
                    "label": np.array(["x"], dtype=object), "score": np.array([0.5])}

    write_results(tmp_path / "d.json", Dets(), version="wtal-test")
    doc = json.loads((tmp_path / "d.json").read_text())
    assert doc["version"] == "wtal-test" and doc["external_data"] == {}
    assert load_predictions(Dets())["score"].tolist() == [0.5]


def test_write_nan_refused_by_default_and_allowed_explicitly(tmp_path):
    cols = {"video": ["a", "b"], "t_start": [0.0, 1.0], "t_end": [1.0, 2.0], "label": ["x", "x"],
            "score": [0.5, float("nan")]}
    with pytest.raises(ValueError, match=r"row 1 \(video 'b'\) has score = nan.*allow_nan"):
        write_results(tmp_path / "n.json", cols)
    assert not (tmp_path / "n.json").exists()
    cols["t_end"] = [math.inf, 2.0]
    write_results(tmp_path / "n.json", cols, allow_nan=True)
    back = load_predictions(tmp_path / "n.json")
    assert math.isnan(back["score"][1]) and back["t_end"][0] == math.inf


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    good = {"video": ["a"], "t_start": [0.0], "t_end": [1.0], "label": ["x"], "score": [0.5]}
    write_results(path, good)
    before = path.read_bytes()
    # invalid input: nothing is written
    with pytest.raises(ValueError, match="missing column.*'score'"):
        write_results(path, {k: v for k, v in good.items() if k != "score"})
    assert path.read_bytes() == before
    # a failure during the write itself (disk full at fsync): old file intact, no temp file left behind
    def boom(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space"):
        write_results(path, {**good, "score": [0.9]})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_write_rejects_bad_columns(tmp_path):
    good = {"video": ["a"], "t_start": [0.0], "t_end": [1.0], "label": ["x"], "score": [0.5]}
    with pytest.raises(ValueError, match="column 'score' has 2 rows, expected 1"):
        write_results(tmp_path / "r.json", {**good, "score": [0.5, 0.1]})
    with pytest.raises(ValueError, match=r"row 0, column 'label'.*float"):
        write_results(tmp_path / "r.json", {**good, "label": [1.5]})
    with pytest.raises(ValueError, match=r"row 0, column 't_start'.*non-numeric string 'abc'"):
        write_results(tmp_path / "r.json", {**good, "t_start": ["abc"]})
    with pytest.raises(TypeError, match="mapping of columns"):
        write_results(tmp_path / "r.json", [1, 2, 3])


# ------------------------------------------------------------------------------------------------
# malformed input: ValueError naming the file and the field


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such file: .*missing\.json"):
        load_ground_truth(tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        load_predictions(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="is a directory"):
        load_predictions(tmp_path)
    with pytest.raises(TypeError, match="predictions must be a path"):
        load_predictions(12)


@pytest.mark.parametrize("text, where", [
    ('{"results": {"v": [', r"line 1, column 20"),
    ('{"database": {}\n,,}', r"line 2, column 2"),
    ("", r"line 1, column 1"),
    ("{'results': {}}", r"line 1, column 2"),
])
def test_malformed_json(tmp_path, text, where):
    p = _write(tmp_path, "broken.json", text)
    with pytest.raises(ValueError, match=r"broken\.json: malformed JSON: .*" + where):
        load_predictions(p)
    with pytest.raises(ValueError, match=r"broken\.json: malformed JSON"):
        load_ground_truth(p)


def test_not_utf8(tmp_path):
    p = tmp_path / "latin.json"
    p.write_bytes(b'{"results": {"vid\xe9": []}}')
    with pytest.raises(ValueError, match=r"latin\.json: not UTF-8"):
        load_predictions(p)


def test_missing_top_level_keys(tmp_path):
    gt_file = _write(tmp_path, "gt.json", json.dumps({"version": "1", "taxonomy": []}))
    with pytest.raises(ValueError, match=r"gt\.json: missing key \"database\""):
        load_ground_truth(gt_file)
    res_file = _write(tmp_path, "res.json", json.dumps(_pred_doc({})))
    with pytest.raises(ValueError, match=r"res\.json: missing key \"database\" \(this looks like a results file"):
        load_ground_truth(res_file)
    with pytest.raises(ValueError, match=r"gt\.json: missing key \"results\""):
        load_predictions(gt_file)
    with pytest.raises(ValueError, match=r"looks like a ground-truth file"):
        load_predictions({"database": {}})
    with pytest.raises(ValueError, match=r"expected a JSON object with a \"results\" key, got list"):
        load_predictions(_write(tmp_path, "list.json", "[1, 2]"))
    with pytest.raises(ValueError, match=r"expected a JSON object with a \"database\" key, got list"):
        load_ground_truth(_write(tmp_path, "list.json", "[1, 2]"))


@pytest.mark.parametrize("doc, match", [
    ({"database": []}, r"\"database\" must be an object"),
    ({"database": {"v": []}}, r"video 'v': expected an object with \"annotations\""),
    ({"database": {"v": {"subset": "test"}}}, r"video 'v': missing key \"annotations\""),
    ({"database": {"v": {"annotations": {}}}}, r"video 'v': \"annotations\" must be a list"),
    ({"database": {"v": {"annotations": [[0, 1]]}}}, r"video 'v', annotation 0: expected an object"),
    ({"database": {"v": {"annotations": [{"label": "x"}]}}}, r"video 'v', annotation 0: missing key \"segment\""),
    ({"database": {"v": {"annotations": [{"label": "x", "segment": [0, 1]}, {"segment": [0, 1]}]}}},
     r"video 'v', annotation 1: missing key \"label\""),
    ({"database": {"v": {"annotations": [{"label": "x", "segment": [0, 1, 2]}]}}},
     r"video 'v', annotation 0: \"segment\" must be \[start, end\], got 3 values"),
    ({"database": {"v": {"annotations": [{"label": "x", "segment": "0 1"}]}}},
     r"annotation 0: \"segment\" must be \[start, end\], got str"),
    ({"database": {"v": {"annotations": [{"label": "x", "segment": 5}]}}},
     r"\"segment\" must be \[start, end\], got int"),
    ({"database": {"v": {"annotations": [{"label": "x", "segment": [0, 1]}, {"label": "x", "segment": [0, "1s"]}]}}},
     r"video 'v', annotation 1, \"segment\"\[1\]: expected a number, got the non-numeric string '1s'"),
    ({"database": {"v": {"annotations": [{"label": "x", "segment": [None, 1]}]}}},
     r"annotation 0, \"segment\"\[0\]: expected a number, got NoneType"),
    ({"database": {"v": {"annotations": [{"label": "x", "segment": [True, 1]}]}}},
     r"\"segment\"\[0\]: expected a number, got the boolean True"),
    ({"database": {"v": {"annotations": [{"label": None, "segment": [0, 1]}]}}},
     r"annotation 0, \"label\": \"label\" must be a string or an integer, got NoneType"),
    ({"database": {"v": {"annotations": [{"label": "a", "segment": [0, 1]}, {"label": 2, "segment": [0, 1]}]}}},
     r"annotation 1, \"label\": \"label\" values mix strings and integers"),
    ({"database": {"v": {"duration": "long", "annotations": []}}}, r"video 'v': \"duration\": .*'long'"),
])
def test_malformed_ground_truth(tmp_path, doc, match):
    p = _write(tmp_path, "gt.json", json.dumps(doc))
    with pytest.raises(ValueError, match=r"gt\.json: .*" + match):
        load_ground_truth(p)
    with pytest.raises(ValueError, match=r"ground truth: .*" + match):
        load_ground_truth(doc)


_P = {"label": "x", "score": 0.5, "segment": [0, 1]}


@pytest.mark.parametrize("results, match", [
    ([], r"\"results\" must be an object"),
    ({"v": {}}, r"video 'v': expected a list of predictions, got dict"),
    ({"v": [_P, [0, 1, 0.5]]}, r"video 'v', prediction 1: expected an object, got list"),
    ({"v": [{"label": "x", "score": 0.5}]}, r"video 'v', prediction 0: missing key \"segment\""),
    ({"v": [{"segment": [0, 1], "score": 0.5}]}, r"prediction 0: missing key \"label\""),
    ({"v": [_P], "w": [_P, {"segment": [0, 1], "label": "x"}]}, r"video 'w', prediction 1: missing key \"score\""),
    ({"v": [{**_P, "segment": [0]}]}, r"prediction 0: \"segment\" must be \[start, end\], got 1 values"),
    ({"v": [{**_P, "segment": {"start": 0, "end": 1}}]}, r"\"segment\" must be \[start, end\], got dict"),
    ({"v": [_P, _P, {**_P, "segment": ["a", 1]}]},
     r"video 'v', prediction 2, \"segment\"\[0\]: expected a number, got the non-numeric string 'a'"),
    ({"v": [{**_P, "segment": [0, [1]]}]}, r"\"segment\"\[1\]: expected a number, got list"),
    ({"v": [_P], "w": [{**_P, "score": "high"}]}, r"video 'w', prediction 0, \"score\": .*non-numeric string 'high'"),
    ({"v": [{**_P, "score": None}]}, r"prediction 0, \"score\": expected a number, got NoneType"),
    ({"v": [{**_P, "score": False}]}, r"\"score\": expected a number, got the boolean False"),
    ({"v": [{**_P, "score": 10 ** 400}]}, r"\"score\": the number .* is out of float64 range"),
    ({"v": [{**_P, "label": 1.0}]}, r"prediction 0, \"label\": \"label\" must be a string or an integer, got float"),
    ({"v": [{**_P, "label": ["x"]}]}, r"\"label\" must be a string or an integer, got list"),
])
def test_malformed_predictions(tmp_path, results, match):
    p = _write(tmp_path, "pred.json", json.dumps(_pred_doc(results)))
    with pytest.raises(ValueError, match=r"pred\.json: .*" + match):
        load_predictions(p)
    with pytest.raises(ValueError, match=r"predictions: .*" + match):
        load_predictions(_pred_doc(results))


# ------------------------------------------------------------------------------------------------
# W-TALC folder errors


def _wtalc_copy(tmp_path, **override):
    import shutil

    d = tmp_path / "ann"
    shutil.copytree(WTALC, d)
    for name, arr in override.items():
        np.save(d / f"{name}.npy", arr, allow_pickle=True)
    return d


def test_wtalc_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such annotation folder"):
        ground_truth_from_wtalc(tmp_path / "nowhere")
    d = _wtalc_copy(tmp_path)
    os.remove(d / "labels.npy")
    with pytest.raises(FileNotFoundError, match=r"labels\.npy"):
        ground_truth_from_wtalc(d)
    with pytest.raises(ValueError, match=r"no video has subset 'testing'"):
        ground_truth_from_wtalc(WTALC, subset="testing")


def test_wtalc_inconsistent_arrays(tmp_path):
    from wtal.safe_npy import load_npy

    subset = load_npy(os.path.join(WTALC, "subset.npy"))
    d = _wtalc_copy(tmp_path / "a", subset=subset[:-1])
    with pytest.raises(ValueError, match=r"subset\.npy: expected 412 entries"):
        ground_truth_from_wtalc(d)
    labels = load_npy(os.path.join(WTALC, "labels.npy"))
    i = int(np.flatnonzero([s == b"test" for s in subset])[0])
    labels = labels.copy()
    labels[i] = list(labels[i])[:-1]
    d = _wtalc_copy(tmp_path / "b", labels=labels)
    with pytest.raises(ValueError, match=r"segments\.npy: video '.*' has \d+ segments but labels\.npy has"):
        ground_truth_from_wtalc(d)
    segments = load_npy(os.path.join(WTALC, "segments.npy")).copy()
    segments[i] = [[1.0, 2.0, 3.0]] + list(segments[i])[1:]
    d = _wtalc_copy(tmp_path / "c", segments=segments)
    with pytest.raises(ValueError, match=r"segment 0: \"segment\" must be \[start, end\], got 3 values"):
        ground_truth_from_wtalc(d)
