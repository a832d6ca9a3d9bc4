"""``wtal eval`` end to end: table, METRICS.json, --tiou parsing, errors (exit 2, one line naming the file)."""
from __future__ import annotations

import collections
import json
import os

import numpy as np
import pytest

from wtal.eval.cli import parse_tiou
from wtal.eval.io import ground_truth_from_wtalc, load_ambiguous, load_ground_truth, write_results

DATA = os.path.join(os.path.dirname(__file__), "data")
THUMOS_JSON = os.path.join(DATA, "thumos14_test_gt.json")
WTALC = os.path.join(DATA, "thumos14_reduced")
AMBIGUOUS = os.path.join(WTALC, "Ambiguous_test.txt")


def _gt_file(tmp_path, database, name="gt.json"):
    p = tmp_path / name
    p.write_text(json.dumps({"version": "test", "taxonomy": [], "database": database}))
    return p


def _pred_file(tmp_path, results, name="pred.json"):
    p = tmp_path / name
    p.write_text(json.dumps({"version": "test", "results": results, "external_data": {}}))
    return p


def _ann(label, s, e):
    return {"label": label, "segment": [s, e]}


def _pred(label, score, s, e):
    return {"label": label, "score": score, "segment": [s, e]}


def _one_line_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("wtal eval: error: "), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture
def inclusive_case(tmp_path):
    """tIoU exactly 0.5 ([0,5]@0.9) and 0.9 ([0,9]@0.8) against GT [0,10] (inclusive >=).

    At 0.5 the first prediction is a TP and the second an FP (GT taken): AP 1. At 0.9 the first is an FP,
    the second a TP: precision 1/2 at recall 1, AP 0.5.
    """
    gt = _gt_file(tmp_path, {"v": {"subset": "validation", "annotations": [_ann("a", 0, 10)]}})
    pred = _pred_file(tmp_path, {"v": [_pred("a", 0.9, 0, 5), _pred("a", 0.8, 0, 9)]})
    return gt, pred


# ------------------------------------------------------------------------------------------------
# --tiou parsing


def test_parse_tiou_linspace_is_bitwise_numpy_linspace():
    for text, args in [("0.5:0.95:10", (0.5, 0.95, 10)), ("0.1:0.9:9", (0.1, 0.9, 9)),
                       ("0.3:0.7:5", (0.3, 0.7, 5)), (" 0.1 : 0.7 : 7 ", (0.1, 0.7, 7)), ("0.5:0.5:1", (0.5, 0.5, 1))]:
        got = parse_tiou(text)
        assert got.dtype == np.float64 and got.tobytes() == np.linspace(*args).tobytes(), text
    assert parse_tiou("0.5:0.95:10")[8] == 0.8999999999999999


def test_parse_tiou_list():
    assert parse_tiou("0.1,0.2,0.3").tolist() == [0.1, 0.2, 0.3]
    assert parse_tiou(" 0.5 , 0.75").tolist() == [0.5, 0.75]
    assert parse_tiou("0.9").tolist() == [0.9]
    assert parse_tiou("0.30000000000000004").tolist() == [0.30000000000000004]


@pytest.mark.parametrize("text, match", [
    ("0.5:0.95", "expected A:B:N"), ("0.5:0.95:10:2", "expected A:B:N"), ("a:0.95:10", "A and B must be numbers"),
    ("0.5:0.95:10.0", "N must be an integer"), ("0.5:0.95:0", "N must be >= 1"), ("", "comma-separated"),
    ("0.1,,0.2", "comma-separated"), ("0.1,x", "every threshold must be a number"),
])
def test_parse_tiou_errors(text, match):
    with pytest.raises(ValueError, match=r"--tiou .*" + match):
        parse_tiou(text)


# ------------------------------------------------------------------------------------------------
# output


def test_table_and_metrics(run_wtal, tmp_path, inclusive_case):
    gt, pred = inclusive_case
    out = tmp_path / "sub" / "METRICS.json"
    proc = run_wtal("eval", "--gt", gt, "--pred", pred, "--tiou", "0.5,0.9", "--out", out, check=True)
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("ground truth: ") and "1 videos, 1 instances, 1 classes" in ln for ln in lines)
    assert any(ln.startswith("predictions: ") and "2 predictions on 1 videos" in ln for ln in lines)
    row = next(ln for ln in lines if ln.startswith("mAP (%)"))
    assert row.split()[2:] == ["100.00", "50.00", "75.00"]
    head = next(ln for ln in lines if ln.startswith("tIoU"))
    assert head.split()[1:] == ["0.50", "0.90", "avg"]
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"tiou", "mAP", "average_mAP", "ap"}
    assert metrics["tiou"] == [0.5, 0.9]
    assert metrics["mAP"] == [1.0, 0.5] and metrics["average_mAP"] == 0.75
    assert metrics["ap"] == {"a": [1.0, 0.5]}
    assert proc.stderr == ""


def test_per_class_table(run_wtal, tmp_path):
    gt = _gt_file(tmp_path, {"v": {"annotations": [_ann("run", 0, 10), _ann("jump", 20, 30)]}})
    pred = _pred_file(tmp_path, {"v": [_pred("run", 0.9, 0, 10)]})
    proc = run_wtal("eval", "--gt", gt, "--pred", pred, "--tiou", "0.5", "--per-class", check=True)
    rows = {ln.split()[0]: ln.split()[1:] for ln in proc.stdout.splitlines() if ln.split()}
    assert rows["run"] == ["100.00", "100.00"] and rows["jump"] == ["0.00", "0.00"]
    assert rows["mAP"] == ["(%)", "50.00", "50.00"]
    plain = run_wtal("eval", "--gt", gt, "--pred", pred, "--tiou", "0.5", check=True)
    assert "jump" not in plain.stdout


def test_tiou_range_is_linspace_bit_pattern(run_wtal, tmp_path):
    # research/evaluation.md §7: tIoU == 0.8999999999999999 is a TP at linspace(0.5, 0.95, 10)[8] and an FP at 0.9
    gt = _gt_file(tmp_path, {"v": {"annotations": [_ann("a", 0, 179.2)]}})
    pred = _pred_file(tmp_path, {"v": [_pred("a", 1.0, 0, 161.28)]})
    out = tmp_path / "m.json"
    run_wtal("eval", "--gt", gt, "--pred", pred, "--tiou", "0.5:0.95:10", "--out", out, check=True)
    m = json.loads(out.read_text())
    assert np.array(m["tiou"]).tobytes() == np.linspace(0.5, 0.95, 10).tobytes()
    assert m["ap"]["a"][8] == 1.0 and m["ap"]["a"][9] == 0.0
    run_wtal("eval", "--gt", gt, "--pred", pred, "--tiou", "0.9", "--out", out, check=True)
    assert json.loads(out.read_text())["mAP"] == [0.0]
    # the default of --preset anet is the official array too
    run_wtal("eval", "--gt", gt, "--pred", pred, "--out", out, check=True)
    assert np.array(json.loads(out.read_text())["tiou"]).tobytes() == np.linspace(0.5, 0.95, 10).tobytes()


def test_out_replaces_existing_file(run_wtal, tmp_path, inclusive_case):
    gt, pred = inclusive_case
    out = tmp_path / "METRICS.json"
    out.write_text("old")
    run_wtal("eval", "--gt", gt, "--pred", pred, "--tiou", "0.5", "--out", out, check=True)
    assert json.loads(out.read_text())["mAP"] == [1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["METRICS.json", "gt.json", "pred.json"]


def test_real_thumos14_known_ap(run_wtal, tmp_path):
    """Predictions = the first k_c of the n_c GT instances of each class (exact copies, distinct scores).

    Every prediction is a TP at every threshold (tIoU 1), so the AP of class c is exactly k_c / n_c.
    """
    gt = load_ground_truth(THUMOS_JSON)
    n = collections.Counter(gt["label"].tolist())
    classes = list(dict.fromkeys(gt["label"].tolist()))
    keep_count = {c: max(1, (i + 1) * n[c] // len(classes)) for i, c in enumerate(classes)}
    seen = collections.Counter()
    rows = []
    for v, s, e, c in zip(gt["video"], gt["t_start"], gt["t_end"], gt["label"]):
        if seen[c] < keep_count[c]:
            seen[c] += 1
            rows.append((v, s, e, c))
    score = np.linspace(1.0, 0.1, len(rows))
    write_results(tmp_path / "pred.json", {"video": [r[0] for r in rows], "t_start": [r[1] for r in rows],
                                           "t_end": [r[2] for r in rows], "label": [r[3] for r in rows],
                                           "score": score})
    out = tmp_path / "m.json"
    proc = run_wtal("eval", "--gt", THUMOS_JSON, "--pred", tmp_path / "pred.json", "--subset", "test",
                    "--per-class", "--out", out, check=True)
    assert "210 videos, 3311 instances, 20 classes" in proc.stdout
    m = json.loads(out.read_text())
    assert list(m["ap"]) == classes  # official class order: first appearance in the GT
    for c in classes:
        assert m["ap"][c] == pytest.approx([keep_count[c] / n[c]] * 10, abs=1e-12)
    expected = float(np.mean([keep_count[c] / n[c] for c in classes]))
    assert m["average_mAP"] == pytest.approx(expected, abs=1e-12)
    assert classes[0] in proc.stdout and classes[-1] in proc.stdout


def test_real_thumos14_noisy_predictions_match_reference(run_wtal, tmp_path):
    """String-segment GT file -> CLI -> METRICS.json equals the pure-Python reference evaluator
    (tests/reference_eval.py) fed from a plain ``json.load`` + ``float()`` parse of the same files."""
    from reference_eval import reference_map

    gt = load_ground_truth(THUMOS_JSON)
    rng = np.random.default_rng(7)
    n = len(gt["video"])
    s = gt["t_start"] + rng.normal(0, 1.0, n)
    e = np.maximum(gt["t_end"] + rng.normal(0, 1.0, n), s + 0.1)
    fp_video = rng.choice(gt["video"], 300)
    fp_s = rng.uniform(0, 200, 300)
    pred = {"video": np.concatenate([gt["video"], fp_video, ["video_test_9999999"] * 5]),
            "t_start": np.concatenate([s, fp_s, np.arange(5.0)]),
            "t_end": np.concatenate([e, fp_s + rng.uniform(1, 10, 300), np.arange(5.0) + 2]),
            "label": np.concatenate([gt["label"], rng.choice(gt["label"], 300), gt["label"][:5]]),
            "score": rng.permutation(n + 305) / (n + 305)}  # distinct scores: no tie question
    write_results(tmp_path / "pred.json", pred)
    out = tmp_path / "m.json"
    run_wtal("eval", "--gt", THUMOS_JSON, "--pred", tmp_path / "pred.json", "--tiou", "0.3,0.5,0.7",
             "--out", out, check=True)
    got = json.loads(out.read_text())

    with open(THUMOS_JSON) as f:
        db = json.load(f)["database"]
    gt_rows = [(v, float(a["segment"][0]), float(a["segment"][1]), a["label"])
               for v, d in db.items() for a in d["annotations"]]
    with open(tmp_path / "pred.json") as f:
        res = json.load(f)["results"]
    pred_rows = [(v, float(p["segment"][0]), float(p["segment"][1]), p["label"], p["score"])
                 for v, ps in res.items() for p in ps]
    want = reference_map(gt_rows, pred_rows, [0.3, 0.5, 0.7])
    assert list(got["ap"]) == want["classes"]
    for k, c in enumerate(want["classes"]):
        assert got["ap"][c] == pytest.approx(want["ap"][:, k].tolist(), abs=1e-12), c
    assert got["mAP"] == pytest.approx(want["mAP"].tolist(), abs=1e-12)
    assert 0.2 < got["mAP"][1] < 0.9  # a real mix of TPs and FPs


def test_wtalc_folder_preset_and_ambiguous(run_wtal, tmp_path):
    from wtal.eval import evaluate_detection

    gt = ground_truth_from_wtalc(WTALC, subset="test")
    pred = {**gt, "score": np.linspace(0.9, 0.1, len(gt["video"]))}
    write_results(tmp_path / "pred.json", pred)
    out = tmp_path / "m.json"
    args = ["eval", "--gt", WTALC, "--subset", "test", "--pred", tmp_path / "pred.json", "--preset", "wtalc",
            "--out", out]
    proc = run_wtal(*args, check=True)
    assert "212 videos, 3358 instances, 20 classes" in proc.stdout
    plain = json.loads(out.read_text())
    run_wtal(*args, "--ambiguous", AMBIGUOUS, check=True)
    filtered = json.loads(out.read_text())
    want = evaluate_detection(gt, pred, preset="wtalc", ambiguous=load_ambiguous(AMBIGUOUS))
    assert filtered["mAP"] == want.mAP.tolist()
    assert filtered["ap"] == {c: want.ap[:, k].tolist() for k, c in enumerate(want.classes)}
    assert filtered["average_mAP"] < plain["average_mAP"]  # GT-identical predictions inside ambiguous spans dropped
    # without --subset the W-TALC folder has two subsets: refuse to mix them
    _one_line_error(run_wtal("eval", "--gt", WTALC, "--pred", tmp_path / "pred.json"), "--subset", "'test'")


def test_matches_in_process_evaluation_with_options(run_wtal, tmp_path):
    from wtal.eval import evaluate_detection

    rng = np.random.default_rng(3)
    db, res = {}, collections.defaultdict(list)
    labels = ["a", "b", "c"]
    for v in range(12):
        anns = []
        for _ in range(rng.integers(1, 5)):
            s = float(rng.uniform(0, 80))
            anns.append(_ann(str(rng.choice(labels)), s, s + float(rng.uniform(1, 20))))
        # predictions on training videos are FPs (no subset filter on predictions), with labels of validation GT
        db[f"v{v}"] = {"subset": "validation" if v < 9 else "training", "annotations": anns}
        if v == 8:
            labels = sorted({a["label"] for d in db.values() for a in d["annotations"]})
        for a in anns:
            for _ in range(3):
                s, e = a["segment"]
                s2 = s + float(rng.normal(0, 3))
                res[f"v{v}"].append(_pred(a["label"], float(np.round(rng.random(), 1)), s2,
                                          max(e + float(rng.normal(0, 3)), s2 + 0.5)))
    gt = _gt_file(tmp_path, db)
    pred = _pred_file(tmp_path, dict(res))
    out = tmp_path / "m.json"
    for extra, kwargs in [([], {}), (["--tie-policy", "numpy"], {"tie_policy": "numpy"}),
                          (["--preset", "basnet"], {"preset": "basnet"}),
                          (["--tiou", "0.1:0.7:7", "--preset", "hamnet"],
                           {"preset": "hamnet", "tiou_thresholds": np.linspace(0.1, 0.7, 7)})]:
        run_wtal("eval", "--gt", gt, "--pred", pred, "--subset", "validation", "--out", out, *extra, check=True)
        got = json.loads(out.read_text())
        want = evaluate_detection(str(gt), str(pred), subset="validation", **kwargs)
        assert got == want.to_dict(), extra


# ------------------------------------------------------------------------------------------------
# bad input: exit status 2 and one line naming the file


def test_missing_files(run_wtal, tmp_path, inclusive_case):
    gt, pred = inclusive_case
    _one_line_error(run_wtal("eval", "--gt", tmp_path / "nope_gt.json", "--pred", pred), "nope_gt.json")
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", tmp_path / "nope_pred.json"), "nope_pred.json")
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", pred, "--tiou", "0.5", "--preset", "wtalc",
                             "--ambiguous", tmp_path / "nope_amb.txt"), "nope_amb.txt")


def test_malformed_json_names_file_and_position(run_wtal, tmp_path, inclusive_case):
    gt, _ = inclusive_case
    bad = tmp_path / "broken.json"
    bad.write_text('{"results": {"v": [\n  {"label": "a", "score": 0.5, "segment": [0, 1]},\n]}}')
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", bad), "broken.json", "malformed JSON", "line 3")
    _one_line_error(run_wtal("eval", "--gt", bad, "--pred", bad), "broken.json", "malformed JSON")


def test_structural_errors_name_file_and_field(run_wtal, tmp_path, inclusive_case):
    gt, pred = inclusive_case
    _one_line_error(run_wtal("eval", "--gt", pred, "--pred", pred), "pred.json", 'missing key "database"')
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", gt), "gt.json", 'missing key "results"')
    seg = _pred_file(tmp_path, {"v": [_pred("a", 0.5, 0, 1), {"label": "a", "score": 0.4, "segment": [3]}]},
                     name="seg.json")
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", seg), "seg.json", "video 'v', prediction 1",
                    '"segment" must be [start, end]')
    nonnum = _pred_file(tmp_path, {"v": [_pred("a", "high", 0, 1)]}, name="score.json")
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", nonnum), "score.json", '"score"', "'high'")


def test_evaluator_errors_name_file_and_video(run_wtal, tmp_path, inclusive_case):
    gt, _ = inclusive_case
    nan = tmp_path / "nan.json"
    nan.write_text('{"results": {"v": [{"label": "a", "score": 0.5, "segment": [0, 1]}], '
                   '"w": [{"label": "a", "score": NaN, "segment": [0, 1]}]}}')
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", nan), "nan.json", "NaN", "row 1 (video 'w')")
    rev = _pred_file(tmp_path, {"v": [_pred("a", 0.5, 3, 1)]}, name="rev.json")
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", rev), "rev.json", "reversed", "--official-compat")
    # --official-compat evaluates it as the official code (reversed [3,1] vs GT [0,10]: tIoU 0, AP 0)
    proc = run_wtal("eval", "--gt", gt, "--pred", rev, "--tiou", "0.5", "--official-compat", check=True)
    assert next(ln for ln in proc.stdout.splitlines() if ln.startswith("mAP")).split()[2:] == ["0.00", "0.00"]
    unknown = _pred_file(tmp_path, {"v": [_pred("a", 0.5, 0, 10), _pred("zzz", 0.4, 0, 1)]}, name="unk.json")
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", unknown), "unk.json", "zzz", "--unknown-labels ignore")
    proc = run_wtal("eval", "--gt", gt, "--pred", unknown, "--tiou", "0.5", "--unknown-labels", "ignore", check=True)
    assert "100.00" in proc.stdout


def test_option_errors(run_wtal, tmp_path, inclusive_case):
    gt, pred = inclusive_case
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", pred, "--tiou", "0.5:0.95"), "--tiou", "A:B:N")
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", pred, "--tiou", "0.5,1.5"), "--tiou", "[0, 1]")
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", pred, "--preset", "voc"), "preset", "'voc'", "anet")
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", pred, "--ambiguous", AMBIGUOUS), "--ambiguous", "wtalc")
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", pred, "--subset", "testing"), "gt.json",
                    "no video has subset 'testing'", "'validation'")


def test_out_errors(run_wtal, tmp_path, inclusive_case):
    gt, pred = inclusive_case
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", pred, "--out", tmp_path), "--out", "is a directory")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", pred, "--out", blocker / "m.json"), "--out",
                    "cannot write")


def test_several_subsets_need_subset(run_wtal, tmp_path):
    gt = _gt_file(tmp_path, {"t": {"subset": "training", "annotations": [_ann("a", 0, 1)]},
                             "v": {"subset": "validation", "annotations": [_ann("a", 0, 1)]}})
    pred = _pred_file(tmp_path, {"v": [_pred("a", 0.5, 0, 1)]})
    _one_line_error(run_wtal("eval", "--gt", gt, "--pred", pred), "gt.json", "several subsets", "--subset")
    proc = run_wtal("eval", "--gt", gt, "--pred", pred, "--subset", "validation", "--tiou", "0.5", check=True)
    assert "subset 'validation': 1 videos" in proc.stdout


def test_no_overlap_warning(run_wtal, tmp_path, inclusive_case):
    gt, _ = inclusive_case
    pred = _pred_file(tmp_path, {"v_other": [_pred("a", 0.5, 0, 10)]}, name="other.json")
    proc = run_wtal("eval", "--gt", gt, "--pred", pred, "--tiou", "0.5", check=True)
    assert "warning: no predicted video has ground truth" in proc.stderr


def test_help_lists_eval(run_wtal):
    top = run_wtal("--help", check=True)
    assert "eval" in top.stdout
    sub = run_wtal("eval", "--help", check=True)
    for opt in ("--gt", "--pred", "--subset", "--tiou", "--preset", "--out", "--per-class"):
        assert opt in sub.stdout


def test_no_heavy_imports(tmp_path):
    import subprocess
    import sys

    code = ("import sys, wtal.cli, wtal.eval.io, wtal.eval.cli; wtal.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert proc.stdout.strip() == "[]"
