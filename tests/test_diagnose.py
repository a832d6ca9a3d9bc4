"""wtal.eval.diagnose against a plain transcription of DETAD's rules (HumamAlwassel/DETAD
``src/action_detector_diagnosis.py``: ``_limit_prediction``, ``compute_average_precision_detection`` with
``normalize_ap=True``, ``analyze_fp_error_types``, ``diagnose``; ``src/false_positive_analysis.py``:
``split_predictions_by_score_ranges``; ``src/false_negative_analysis.py``: ``fn_distribution_by_characteristic``;
settings of their ``main``). The transcription below works on Python lists, loop by loop, with wtal's
documented departures (true division for N; background for every unmatched prediction on a video
without GT; ties by the evaluation's stable rule; score blocks by that same ranking).
"""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from hypothesis import given, strategies as st

from blocked_imports import run_without
from reference_eval import interpolated_ap, official_tiou, rows_to_columns
from wtal.eval import evaluate_detection
from wtal.eval.diagnose import DETAD_SETTINGS, ERROR_TYPES, diagnose_detection, write_diagnosis

DD, WL, LOC, CONF, BG = 1, 2, 3, 4, 5

# ----------------------------------------------------------------------------------------------
# the transcription


def _nan(x: float) -> bool:
    return x != x


def _rank(idx: list[int], pred: list[tuple]) -> list[int]:
    """A class's frame (list of prediction indices) ranked as ``score.argsort()[::-1]`` with a stable
    argsort: descending score, NaN first, the later frame position first among equal scores."""
    pos = {i: k for k, i in enumerate(idx)}
    return sorted(idx, key=lambda i: (0, 0.0, -pos[i]) if _nan(pred[i][4]) else (1, -pred[i][4], -pos[i]))


def _match(frame: list[int], gt: list[tuple], pred: list[tuple], thr: float, n_avg: float, min_prec: float,
           classes: list) -> dict[int, int | None]:
    """compute_average_precision_detection (normalize_ap=True) for every class: prediction -> GT index or None."""
    out: dict[int, int | None] = {}
    for c in classes:
        gts = [j for j, g in enumerate(gt) if g[3] == c]
        ranked = _rank([i for i in frame if pred[i][3] == c], pred)
        locked: set = set()
        hit: list = []
        for i in ranked:
            p = pred[i]
            same = [j for j in gts if gt[j][0] == p[0]]
            got = None
            if same:
                iou = {j: official_tiou((p[1], p[2]), (gt[j][1], gt[j][2])) for j in same}
                cand = sorted(same, key=lambda j: (0, 0.0, -j) if _nan(iou[j]) else (1, -iou[j], -j))
                for j in cand:
                    if iou[j] < thr:
                        break
                    if j in locked:
                        continue
                    locked.add(j)
                    got = j
                    break
            hit.append(got)
        # discard TPs whose normalised precision is <= min_prec (matches are not redone)
        tp = fp = 0.0
        for k, i in enumerate(ranked):
            tp += hit[k] is not None
            fp += hit[k] is None
            rec = tp / len(gts)
            prec = rec * n_avg / (rec * n_avg + fp)
            out[i] = hit[k] if hit[k] is not None and not prec <= min_prec else None
    return out


def _ap_n(hits: list[bool], npos: int, n_avg: float) -> float:
    """interpolated_prec_rec of DETAD's normalised precision (equal to the official AP when N = npos)."""
    tp = fp = 0.0
    prec, rec = [], []
    for h in hits:
        tp += h
        fp += not h
        rec.append(tp / npos)
        prec.append(rec[-1] * n_avg / (rec[-1] * n_avg + fp))
    mprec = [0.0] + prec + [0.0]
    mrec = [0.0] + rec + [1.0]
    for k in range(len(mprec) - 2, -1, -1):
        mprec[k] = max(mprec[k], mprec[k + 1])
    return float(sum((mrec[k] - mrec[k - 1]) * mprec[k] for k in range(1, len(mrec)) if mrec[k] != mrec[k - 1]))


def _pd_cut(v: float, edges: tuple, n_labels: int) -> int | None:
    if _nan(v):
        return None
    if v == edges[0]:
        return 0
    for k in range(n_labels):
        if edges[k] < v <= edges[k + 1]:
            return k
    return None


def detad(gt_rows: list[tuple], pred_rows: list[tuple], dataset: str, durations: dict | None = None) -> dict:
    s = DETAD_SETTINGS[dataset]
    classes = list(dict.fromkeys(g[3] for g in gt_rows))

    def cov(g):
        return (g[2] - g[1]) / durations[g[0]] if durations and g[0] in durations else math.nan

    gt = [g for g in gt_rows if g[1] < g[2] and not cov(g) > 1.0]
    n_avg = len(gt) / len(classes)
    live = [c for c in classes if any(g[3] == c for g in gt)]
    pred = [p for p in pred_rows if p[3] in live]
    thr = list(s.tiou_thresholds)
    T = len(thr)
    npos = {c: sum(1 for g in gt if g[3] == c) for c in live}

    # _limit_prediction: nlargest(int(G_j * 10), "score") per class, keep="first", NaN dropped
    frame = []
    for c in live:
        idx = [i for i, p in enumerate(pred) if p[3] == c and not _nan(p[4])]
        frame += sorted(idx, key=lambda i: -pred[i][4])[:int(npos[c] * s.limit_factor)]
    codes = []
    for t in range(T):
        m = _match(frame, gt, pred, thr[t], n_avg, s.fp_min_precision, live)
        row = {}
        for i in frame:
            if m[i] is not None:
                row[i] = 0
                continue
            p = pred[i]
            this_gt = [g for g in gt if g[0] == p[0]]
            if not this_gt:
                row[i] = BG
                continue
            arr = np.array([official_tiou((p[1], p[2]), (g[1], g[2])) for g in this_gt])
            top, top_label = arr.max(), this_gt[int(arr.argmax())][3]
            if top >= thr[t]:
                row[i] = DD if top_label == p[3] else WL
            elif top >= s.min_tiou:
                row[i] = LOC if top_label == p[3] else CONF
            else:
                row[i] = BG
        codes.append(row)
    counts = [[sum(1 for i in frame if codes[t][i] == k) for k in range(6)] for t in range(T)]
    # blocks of G_j predictions per class in ranking order, fraction of each type averaged over T
    profile = np.zeros((s.limit_factor, 6))
    for b in range(s.limit_factor):
        members = []
        for c in live:
            r = _rank([i for i in frame if pred[i][3] == c], pred)
            members += r[b * npos[c]:(b + 1) * npos[c]]
        for t in range(T):
            for k in range(6):
                profile[b, k] += (sum(1 for i in members if codes[t][i] == k) / len(members) if members else 0) / T

    def average_map_n(drop: int | None) -> float:
        total = 0.0
        for t in range(T):
            for c in live:
                r = [i for i in _rank([i for i in frame if pred[i][3] == c], pred) if codes[t][i] != drop]
                total += _ap_n([codes[t][i] == 0 for i in r], npos[c], n_avg)
        return total / (T * len(live))

    base = average_map_n(None)
    gains = {ERROR_TYPES[e]: average_map_n(e) - base for e in range(1, 6)}

    # false negatives: every prediction, min normalised precision 0.05
    every = list(range(len(pred)))
    missed = []
    for t in range(T):
        m = _match(every, gt, pred, thr[t], n_avg, s.fn_min_precision, live)
        taken = {j for j in m.values() if j is not None}
        missed.append([j not in taken for j in range(len(gt))])
    chars = {"length": [g[2] - g[1] for g in gt],
             "num_instances": [float(sum(1 for h in gt if h[0] == g[0] and h[3] == g[3])) for g in gt]}
    if durations:
        chars["coverage"] = [cov(g) for g in gt]
    fn = {}
    for name, vals in chars.items():
        edges, labels = s.bins[name]
        b = [_pd_cut(v, edges, len(labels)) for v in vals]
        count = [sum(1 for x in b if x == k) for k in range(len(labels))]
        rate = [[(sum(1 for j in range(len(gt)) if b[j] == k and missed[t][j]) / count[k]) if count[k] else math.nan
                 for k in range(len(labels))] for t in range(T)]
        fn[name] = {"gt_count": count, "fn_rate": rate}
    return {"counts": counts, "n_fp": len(frame), "profile": profile, "average_mAP_N": base, "gains": gains,
            "fn": fn, "n_gt": len(gt), "n_avg": n_avg}


# ----------------------------------------------------------------------------------------------


def diagnose(gt_rows, pred_rows, dataset="thumos14", durations=None, tie_policy="stable"):
    res = evaluate_detection(rows_to_columns(gt_rows, False), rows_to_columns(pred_rows, True),
                             tiou_thresholds=[0.5], unknown_labels="ignore", tie_policy=tie_policy)
    return res.diagnose(dataset, durations=durations)


def assert_matches_transcription(d, ref):
    assert d.num_ground_truth == ref["n_gt"] and d.average_instances_per_class == ref["n_avg"]
    assert d.fp_num_predictions == ref["n_fp"]
    assert d.fp_counts.tolist() == ref["counts"]
    np.testing.assert_allclose(d.fp_profile, ref["profile"], rtol=0, atol=1e-12)
    assert d.average_mAP_N == pytest.approx(ref["average_mAP_N"], abs=1e-12)
    for k, v in ref["gains"].items():
        assert d.mAP_N_gain[k] == pytest.approx(v, abs=1e-12), k
    assert set(d.fn) == set(ref["fn"])
    for name, r in ref["fn"].items():
        assert d.fn[name]["gt_count"].tolist() == r["gt_count"], name
        np.testing.assert_allclose(d.fn[name]["fn_rate"], np.array(r["fn_rate"], dtype=float), rtol=0, atol=1e-12)


GT = [("a", 0.0, 10.0, "x"), ("a", 20.0, 30.0, "y"), ("b", 0.0, 10.0, "x")]
TP = ("a", 0.0, 10.0, "x", 0.95)


@pytest.mark.parametrize("extra, code", [
    (("a", 0.5, 10.0, "x", 0.9), DD),       # tIoU .95 with the x GT that the TP took
    (("a", 20.0, 30.0, "x", 0.9), WL),      # tIoU 1 with the y GT
    (("a", 0.0, 3.0, "x", 0.9), LOC),       # tIoU .3 with the x GT
    (("a", 20.0, 23.0, "x", 0.9), CONF),    # tIoU .3 with the y GT
    (("a", 50.0, 60.0, "x", 0.9), BG),      # overlaps nothing
    (("c", 0.0, 10.0, "x", 0.9), BG),       # video without GT
    (("a", 9.5, 19.0, "x", 0.9), BG),       # tIoU .05 < 0.1 with the x GT
])
def test_each_error_type_alone(extra, code):
    d = diagnose(GT, [TP, extra])
    expected = [0] * 6
    expected[0] = 1
    expected[code] += 1
    assert d.fp_counts.tolist() == [expected]
    assert_matches_transcription(d, detad(GT, [TP, extra], "thumos14"))


def test_mixed_errors_profile_gain_and_false_negatives():
    preds = [TP, ("a", 0.5, 10.0, "x", 0.9), ("a", 20.0, 30.0, "x", 0.85), ("a", 0.0, 3.0, "x", 0.8),
             ("a", 20.0, 23.0, "x", 0.75), ("a", 50.0, 60.0, "x", 0.7), ("c", 0.0, 10.0, "x", 0.65),
             ("a", 21.0, 29.0, "y", 0.6), ("b", 1.0, 9.0, "x", 0.1)]
    d = diagnose(GT, preds)
    ref = detad(GT, preds, "thumos14")
    assert_matches_transcription(d, ref)
    assert d.fp_counts.tolist() == [[3, 1, 1, 1, 1, 2]]
    # class x: 2 GT, 8 predictions -> 4 blocks of 2; class y: 1 GT, 1 prediction -> block 1G
    assert d.fp_profile_sizes.tolist() == [3, 2, 2, 2, 0, 0, 0, 0, 0, 0]
    assert d.mAP_N_gain["background"] > 0 and all(v >= 0 for v in d.mAP_N_gain.values())
    out = d.to_dict()
    json.dumps(out)  # JSON-ready
    assert out["false_positives"]["counts"]["double_detection"] == [1]
    assert sorted(out["false_positives"]["profile"]) == sorted(f"{b}G" for b in range(1, 11))


def test_limit_keeps_ten_per_gt_with_earlier_rows_at_the_cut():
    gt = [("a", 0.0, 10.0, "x")]
    preds = [("a", 100.0 + k, 101.0 + k, "x", 0.5) for k in range(25)] + [TP[:4] + (0.1,)]
    d = diagnose(gt, preds)
    assert d.fp_num_predictions == 10 and d.fp_counts.tolist() == [[0, 0, 0, 0, 0, 10]]  # the TP is cut
    # all 26 matched: the TP comes 26th, normalised precision 1 / (1 + 25) <= 0.05, so it is discarded
    assert d.fn_num_predictions == 26 and d.fn_rate.tolist() == [1.0]
    assert diagnose(gt, preds[:12] + preds[-1:]).fn_rate.tolist() == [0.0]  # 1 / 13 > 0.05: kept
    assert diagnose(gt, preds[:19] + preds[-1:]).fn_rate.tolist() == [1.0]  # 1 / 20 == 0.05: discarded (<=)
    assert diagnose(gt, preds[:18] + preds[-1:]).fn_rate.tolist() == [0.0]
    assert_matches_transcription(d, detad(gt, preds, "thumos14"))


def test_false_negative_bins_length_coverage_instances():
    gt = [("a", 0.0, 2.0, "x"), ("a", 10.0, 15.0, "x"), ("a", 20.0, 30.0, "x"), ("b", 0.0, 20.0, "y"),
          ("b", 30.0, 33.0, "y")]
    preds = [("a", 0.0, 2.0, "x", 0.9), ("a", 20.0, 30.0, "x", 0.8), ("b", 0.0, 20.0, "y", 0.7)]
    durations = {"a": 1000.0, "b": 150.0}
    d = diagnose(gt, preds, durations=durations)
    ref = detad(gt, preds, "thumos14", durations)
    assert_matches_transcription(d, ref)
    length = d.fn["length"]
    assert length["labels"] == ["XS", "S", "M", "L", "XL"]
    assert length["gt_count"].tolist() == [2, 1, 1, 0, 1]  # 2 and 3 s are XS (right-closed), 5 S, 10 M, 20 XL
    np.testing.assert_array_equal(length["fn_rate"][0], [0.5, 1.0, 0.0, np.nan, 0.0])
    assert d.fn["coverage"]["gt_count"].tolist() == [4, 0, 0, 0, 1]  # 3/150 = 0.02 is XS, 20/150 XL
    assert d.fn["num_instances"]["gt_count"].tolist() == [0, 5, 0, 0]


def test_activitynet_settings_and_coverage_filter():
    gt = [("a", 0.0, 50.0, "x"), ("a", 60.0, 200.0, "x"), ("b", 0.0, 40.0, "y")]
    preds = [("a", 1.0, 49.0, "x", 0.9), ("a", 70.0, 150.0, "x", 0.8), ("b", 0.0, 30.0, "x", 0.7),
             ("b", 0.0, 40.0, "y", 0.6)]
    durations = {"a": 150.0, "b": 100.0}  # [60, 200] has coverage 140/150 <= 1 ... and [0, 50] 1/3
    d = diagnose(gt, preds, dataset="activitynet", durations=durations)
    assert len(d.tiou) == 10 and d.tiou[8] == 0.8999999999999999
    assert_matches_transcription(d, detad(gt, preds, "activitynet", durations))
    d2 = diagnose(gt, preds, dataset="activitynet", durations={"a": 100.0, "b": 100.0})  # 140/100 > 1: dropped
    assert d2.num_ground_truth == 2 and any("dropped" in n for n in d2.notes)
    assert_matches_transcription(d2, detad(gt, preds, "activitynet", {"a": 100.0, "b": 100.0}))


def test_no_durations_skips_coverage_with_a_note():
    d = diagnose(GT, [TP])
    assert "coverage" not in d.fn and any("coverage skipped" in n for n in d.notes)


@st.composite
def small_cases(draw):
    videos = ["a", "b", "c"]
    labels = ["x", "y", "z"][:draw(st.integers(1, 3))]
    gt = []
    for _ in range(draw(st.integers(1, 7))):
        s = float(draw(st.integers(0, 20)))
        gt.append((draw(st.sampled_from(videos[:2])), s, s + float(draw(st.sampled_from([1, 2, 4, 8, 15]))),
                   draw(st.sampled_from(labels))))
    present = sorted({g[3] for g in gt})
    preds = []
    for _ in range(draw(st.integers(0, 25))):
        if draw(st.booleans()):
            g = draw(st.sampled_from(gt))
            s, e = g[1] + draw(st.sampled_from([0.0, 0.5, 1.0, -1.0])), g[2] + draw(st.sampled_from([0.0, 1.0, -2.0]))
            v = g[0]
        else:
            s = float(draw(st.integers(0, 30)))
            e, v = s + float(draw(st.sampled_from([1, 3, 6]))), draw(st.sampled_from(videos))
        if e <= s:
            e = s + 1.0
        preds.append((v, s, e, draw(st.sampled_from(present)), draw(st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9]))))
    durations = draw(st.sampled_from([None, {"a": 40.0, "b": 60.0}, {"a": 10.0, "b": 500.0}]))
    return gt, preds, durations


@given(small_cases(), st.sampled_from(["thumos14", "activitynet"]))
def test_random_small_inputs_match_transcription(case, dataset):
    gt, preds, durations = case
    if durations is not None and all(g[2] - g[1] > durations[g[0]] for g in gt):
        return  # every GT dropped by the coverage filter: nothing to diagnose
    d = diagnose(gt, preds, dataset=dataset, durations=durations)
    assert_matches_transcription(d, detad(gt, preds, dataset, durations))
    assert d.fp_counts.sum(axis=1).tolist() == [d.fp_num_predictions] * len(d.tiou)


@given(small_cases())
def test_numpy_tie_policy_gives_the_same_breakdown_without_ties(case):
    gt, preds, durations = case
    preds = [p[:4] + (0.001 * k + p[4],) for k, p in enumerate(preds)]  # distinct scores
    if durations is not None and all(g[2] - g[1] > durations[g[0]] for g in gt):
        return
    a = diagnose(gt, preds, durations=durations)
    b = diagnose(gt, preds, durations=durations, tie_policy="numpy")
    if any(len({official_tiou((p[1], p[2]), (g[1], g[2])) for g in gt if g[0] == p[0] and g[3] == p[3]})
           < sum(1 for g in gt if g[0] == p[0] and g[3] == p[3]) for p in preds):
        return  # equal-tIoU candidates may legitimately differ
    assert a.fp_counts.tolist() == b.fp_counts.tolist() and a.average_mAP_N == b.average_mAP_N


def test_bad_arguments():
    res = evaluate_detection(rows_to_columns(GT, False), rows_to_columns([TP], True), tiou_thresholds=[0.5])
    with pytest.raises(ValueError, match="dataset must be one of"):
        res.diagnose("kinetics")
    with pytest.raises(TypeError, match="durations must be a mapping"):
        res.diagnose(durations=[1.0])
    with pytest.raises(ValueError, match=r"durations\['a'\] must be > 0"):
        res.diagnose(durations={"a": 0.0, "b": 1.0})
    with pytest.raises(ValueError, match="needs the DetectionResult"):
        diagnose_detection(object())
    f = 25 / 16
    snip = evaluate_detection(rows_to_columns(GT, False), rows_to_columns([("a", 0.0, 16.0, "x", 0.9)], True),
                              preset="facnet", prediction_units="snippets")
    with pytest.raises(ValueError, match="seconds"):
        snip.diagnose()
    assert f  # (snippet presets in seconds diagnose fine: see the CLI test)


def test_write_diagnosis_files_and_without_matplotlib(tmp_path):
    d = diagnose(GT, [TP, ("a", 50.0, 60.0, "x", 0.9)])
    files, note = write_diagnosis(d, tmp_path / "diag")
    assert note == "" and sorted(os.path.basename(f) for f in files) == [
        "diagnosis.json", "false_negative_analysis.png", "false_positive_analysis.png"]
    assert (tmp_path / "diag" / "false_positive_analysis.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    back = json.loads((tmp_path / "diag" / "diagnosis.json").read_text())
    assert back["false_positives"]["counts"]["background"] == [1]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        write_diagnosis(d, tmp_path / "file")
    code = ("import sys; sys.path.insert(0, %r); from test_diagnose import diagnose, GT, TP; "
            "from wtal.eval.diagnose import write_diagnosis; "
            "files, note = write_diagnosis(diagnose(GT, [TP]), %r); print(len(files)); print(note); "
            "print(sys.modules.get('matplotlib') is None)" % (os.path.dirname(__file__), str(tmp_path / "nompl")))
    proc = run_without(["matplotlib"], code, timeout=120)
    assert proc.returncode == 0, proc.stderr
    n, note, blocked = proc.stdout.strip().splitlines()
    assert n == "1" and "plots skipped" in note and blocked == "True"
    assert (tmp_path / "nompl" / "diagnosis.json").exists()
    # the analysis itself never imports matplotlib
    code = ("import sys; sys.path.insert(0, %r); from test_diagnose import diagnose, GT, TP; "
            "diagnose(GT, [TP]).to_dict(); print('matplotlib' in sys.modules)" % os.path.dirname(__file__))
    proc = run_without([], code, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr


def test_cli_diagnose(run_wtal, tmp_path):
    db = {"a": {"subset": "test", "duration": 100.0, "annotations": [{"label": "x", "segment": [0, 10]},
                                                                     {"label": "y", "segment": [20, 30]}]},
          "b": {"subset": "test", "duration": 50.0, "annotations": [{"label": "x", "segment": [0, 10]}]}}
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": db}))
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"version": "t", "external_data": {}, "results": {
        "a": [{"label": "x", "score": 0.9, "segment": [0, 10]}, {"label": "x", "score": 0.8, "segment": [20, 30]}],
        "c": [{"label": "y", "score": 0.7, "segment": [0, 10]}]}}))
    proc = run_wtal("eval", "--gt", gt, "--pred", pred, "--diagnose", tmp_path / "diag", "--diagnose-dataset",
                    "thumos14", check=True)
    assert "diagnosis (thumos14 settings" in proc.stdout and "wrote " in proc.stdout
    back = json.loads((tmp_path / "diag" / "diagnosis.json").read_text())
    assert back["false_positives"]["counts"]["wrong_label"] == [1]
    assert back["false_negatives"]["by_characteristic"]["coverage"]["gt_count"] == [0, 0, 0, 0, 3]
    (tmp_path / "f").write_text("")
    bad = run_wtal("eval", "--gt", gt, "--pred", pred, "--diagnose", tmp_path / "f")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--diagnose" in bad.stderr
    bad = run_wtal("eval", "--gt", gt, "--pred", pred, "--diagnose", tmp_path / "d2", "--diagnose-dataset", "x")
    assert bad.returncode == 2 and "--diagnose-dataset" in bad.stderr
