"""Tests of wtal.eval.evaluate_detection against the plain reference of tests/reference_eval.py.

Expected values of the named corner cases are the official evaluator's (shared/research/evaluation.md
§7, two thresholds [0.5, 0.7] unless noted).
"""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from reference_eval import (actionformer_clean, numpy_map, official_tiou, reference_map, rows_to_columns,
                            wtalc_filter_ambiguous)
from wtal._ext import _C
from wtal.eval import PRESETS, DetectionResult, evaluate_detection

DATA = os.path.join(os.path.dirname(__file__), "data")
THR2 = [0.5, 0.7]


def gt_cols(rows):
    return rows_to_columns(rows, with_score=False)


def pred_cols(rows):
    return rows_to_columns(rows, with_score=True)


def run(gt_rows, pred_rows, thr=THR2, **kw):
    return evaluate_detection(gt_cols(gt_rows), pred_cols(pred_rows), tiou_thresholds=thr, **kw)


def assert_same(result: DetectionResult, ref: dict, exact: bool = True):
    assert result.classes == ref["classes"]
    if exact:
        np.testing.assert_array_equal(result.ap, ref["ap"])
        np.testing.assert_array_equal(result.mAP, ref["mAP"])
    else:
        np.testing.assert_allclose(result.ap, ref["ap"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(result.mAP, ref["mAP"], rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# random inputs

THRESHOLD_SETS = [THR2, list(np.linspace(0.5, 0.95, 10)), [0.1, 0.3, 0.5], [0.0, 1.0], [0.7, 0.2, 0.5],
                  list(np.arange(0.1, 0.75, 0.1))]


@st.composite
def cases(draw, *, ties=True, max_classes=4, snippet=False, weird=False):
    """GT and predictions on a coarse grid (so equal tIoU, duplicates and exact thresholds happen)."""
    nv = draw(st.integers(1, 4))
    labels = [f"c{i}" for i in range(draw(st.integers(1, max_classes)))]
    videos = [f"v{i}" for i in range(nv)]
    grid = st.integers(0, 12).map(float) if not snippet else st.integers(0, 12).map(lambda x: x * 0.64)
    gt = []
    for _ in range(draw(st.integers(1, 8))):
        s = draw(grid)
        ln = draw(st.sampled_from([1.0, 2.0, 3.0, 5.0, 0.64, 1.28]))
        gt.append((draw(st.sampled_from(videos)), s, s + ln, draw(st.sampled_from(labels))))
    present = sorted({g[3] for g in gt})
    preds = []
    extra_video = videos + ["nogt"]
    score = st.sampled_from([0.1, 0.5, 0.9, 1.0]) if ties else st.floats(0, 1, allow_nan=False)
    for _ in range(draw(st.integers(0, 14))):
        if gt and draw(st.booleans()):
            g = draw(st.sampled_from(gt))
            s, e = g[1] + draw(st.sampled_from([0.0, 1.0, -1.0, 0.5])), g[2] + draw(st.sampled_from([0.0, 1.0, -1.0]))
            v, lab = g[0], g[3]
            if e <= s:
                e = s + 1.0
        else:
            s = draw(grid)
            e = s + draw(st.sampled_from([1.0, 2.0, 4.0, 0.64]))
            v, lab = draw(st.sampled_from(extra_video)), draw(st.sampled_from(present))
        if weird:
            kind = draw(st.sampled_from(["ok", "ok", "zero", "reversed", "nan"]))
            if kind == "zero":
                e = s
            elif kind == "reversed":
                s, e = e, s
            elif kind == "nan":
                s = math.nan
        if snippet:
            s, e = float(int(round(s * 25 / 16))), float(int(round(e * 25 / 16)))
        preds.append((v, s, e, lab, draw(score)))
    if not ties:
        # distinct scores
        vals = draw(st.lists(st.floats(0, 1, allow_nan=False), min_size=len(preds), max_size=len(preds),
                             unique=True))
        preds = [p[:4] + (vals[i],) for i, p in enumerate(preds)]
    if weird and preds and draw(st.booleans()):
        i = draw(st.integers(0, len(preds) - 1))
        preds[i] = preds[i][:4] + (math.nan,)
    thr = draw(st.sampled_from(THRESHOLD_SETS))
    return gt, preds, thr


@given(cases(ties=True))
def test_anet_matches_reference_with_ties(case):
    gt, preds, thr = case
    assert_same(run(gt, preds, thr), reference_map(gt, preds, thr))


@given(cases(ties=False, max_classes=6))
def test_anet_matches_reference_tie_free_and_policies_agree(case):
    gt, preds, thr = case
    ref = reference_map(gt, preds, thr)
    stable = run(gt, preds, thr)
    assert_same(stable, ref)
    assert_same(run(gt, preds, thr, tie_policy="numpy"), ref)


@given(cases(ties=True))
def test_numpy_tie_policy_matches_numpy_argsort(case):
    gt, preds, thr = case
    assert_same(run(gt, preds, thr, tie_policy="numpy"), reference_map(gt, preds, thr, tie_policy="numpy"))


@given(cases(ties=True, weird=True))
def test_official_compat_matches_reference(case):
    gt, preds, thr = case
    assert_same(run(gt, preds, thr, official_compat=True), reference_map(gt, preds, thr))


@given(cases(ties=True), st.sampled_from(["wtalc", "facnet"]), st.booleans())
def test_snippet_presets_match_reference(case, variant, policy_numpy):
    gt, preds, thr = case
    snip = [(p[0], float(int(round(p[1] * 25 / 16))), float(int(round(p[2] * 25 / 16)))) + p[3:] for p in preds]
    snip = [p for p in snip if p[2] > p[1]]
    policy = "numpy" if policy_numpy else "stable"
    res = run(gt, snip, thr, preset=variant, prediction_units="snippets", tie_policy=policy)
    assert_same(res, reference_map(gt, snip, thr, variant=variant, tie_policy=policy))


@given(cases(ties=True), st.sampled_from(["wtalc", "facnet"]))
def test_ambiguous_filtering_matches_reference(case, variant):
    gt, preds, thr = case
    snip = [(p[0], float(int(round(p[1] * 25 / 16))), float(int(round(p[2] * 25 / 16)))) + p[3:] for p in preds]
    snip = [p for p in snip if p[2] > p[1]]
    amb_rows = [(g[0], g[1] + 0.3, g[2] + 2.0) for g in gt[:2]] + [("v0", 0.0, 0.5)]
    amb = {"video": np.array([a[0] for a in amb_rows], dtype=object),
           "t_start": np.array([a[1] for a in amb_rows]), "t_end": np.array([a[2] for a in amb_rows])}
    res = run(gt, snip, thr, preset=variant, prediction_units="snippets", ambiguous=amb)
    kept = wtalc_filter_ambiguous(snip, amb_rows)
    assert_same(res, reference_map(gt, kept, thr, variant=variant))


@given(cases(ties=True))
def test_actionformer_preset_matches_reference(case):
    gt, preds, thr = case
    gt = gt + gt[:2] + [(gt[0][0], gt[0][1] + 0.0005, gt[0][2] - 0.0009, gt[0][3])]  # duplicates
    res = run(gt, preds, thr, preset="actionformer")
    ref = reference_map(actionformer_clean(gt), preds, thr, class_order="sorted", unknown="ignore")
    assert_same(res, ref)


@given(cases(ties=False, max_classes=6), st.randoms(use_true_random=False))
def test_class_order_independence(case, rnd):
    gt, preds, thr = case
    a = run(gt, preds, thr)
    labels = sorted({g[3] for g in gt})
    rnd.shuffle(labels)
    # New first-appearance order of the classes; each class keeps its GT row order (which decides the
    # order of equal-tIoU candidates and so may legitimately change the matching).
    gt2 = sorted(gt, key=lambda g: labels.index(g[3]))
    b = run(gt2, preds, thr)
    pa = dict(zip(a.classes, a.ap.T.tolist()))
    pb = dict(zip(b.classes, b.ap.T.tolist()))
    assert pa.keys() == pb.keys()
    for k in pa:
        np.testing.assert_allclose(pa[k], pb[k], rtol=0, atol=1e-15)
    np.testing.assert_allclose(a.mAP, b.mAP, rtol=0, atol=1e-15)


@given(st.lists(st.floats(0, 1e6, allow_nan=False), max_size=700))
def test_pairwise_sum_is_numpy_sum(xs):
    a = np.array(xs, dtype=np.float64)
    assert _C.pairwise_sum(a) == np.sum(a)


def test_numpy_baseline_matches_reference():
    rng = np.random.default_rng(0)
    gt, preds = _synthetic(rng, 30, 5, 200)
    thr = np.linspace(0.5, 0.95, 10)
    ref = reference_map(gt, preds, list(thr))
    out = numpy_map(gt_cols(gt), pred_cols(preds), thr)
    np.testing.assert_allclose(out["ap"], ref["ap"], rtol=0, atol=1e-12)
    assert_same(evaluate_detection(gt_cols(gt), pred_cols(preds), tiou_thresholds=thr), ref)


def _synthetic(rng, nv, nc, npred):
    gt, preds = [], []
    for v in range(nv):
        dur = rng.uniform(20, 100)
        for _ in range(rng.integers(1, 4)):
            s = rng.uniform(0, dur - 5)
            gt.append((f"v{v}", s, s + rng.uniform(1, 10), f"c{rng.integers(nc)}"))
    labels = sorted({g[3] for g in gt})
    for _ in range(npred):
        if rng.random() < 0.5:
            g = gt[rng.integers(len(gt))]
            ln = g[2] - g[1]
            s, e = g[1] + rng.normal(0, 0.1 * ln), g[2] + rng.normal(0, 0.1 * ln)
            lab = g[3] if rng.random() < 0.7 else labels[rng.integers(len(labels))]
            preds.append((g[0], s, max(e, s + 0.1), lab, float(rng.random())))
        else:
            s = rng.uniform(0, 90)
            preds.append((f"v{rng.integers(nv + 3)}", s, s + rng.uniform(0.5, 10),
                          labels[rng.integers(len(labels))], float(rng.random())))
    return gt, preds


# ----------------------------------------------------------------------------------------------
# corner cases of evaluation.md §7 (official values)

A = ("a", 0.0, 10.0, "x")
B_OTHER_CLASS = ("b", 0.0, 10.0, "y")  # a second class with GT and no prediction


def test_no_predictions_at_all():
    assert run([A], []).mAP.tolist() == [0.0, 0.0]


def test_one_perfect_prediction():
    assert run([A], [("a", 0.0, 10.0, "x", 0.9)]).mAP.tolist() == [1.0, 1.0]


def test_fp_in_video_without_gt_ranked_above_tp():
    r = run([A], [("a", 0.0, 10.0, "x", 0.5), ("nogt", 0.0, 10.0, "x", 0.9)])
    assert r.mAP.tolist() == [0.5, 0.5]


def test_fp_in_video_without_gt_ranked_below_tp():
    r = run([A], [("a", 0.0, 10.0, "x", 0.9), ("nogt", 0.0, 10.0, "x", 0.5)])
    assert r.mAP.tolist() == [1.0, 1.0]


def test_class_with_gt_but_no_predictions_counts_zero():
    r = run([A, B_OTHER_CLASS], [("a", 0.0, 10.0, "x", 0.9)])
    assert r.mAP.tolist() == [0.5, 0.5]
    assert r.ap[:, 1].tolist() == [0.0, 0.0]


def test_prediction_label_without_gt_class_raises_or_is_ignored():
    preds = [("a", 0.0, 10.0, "x", 0.9), ("a", 0.0, 10.0, "zzz", 0.95)]
    with pytest.raises(ValueError, match=r"predictions\['label'\].*zzz"):
        run([A], preds)
    assert run([A], preds, unknown_labels="ignore").mAP.tolist() == [1.0, 1.0]
    assert run([A], preds, thr=None, preset="actionformer").mAP.tolist() == [1.0] * 5


def test_tiou_exactly_at_threshold_is_inclusive():
    gt = [("a", 0.0, 10.0, "x"), ("b", 0.0, 10.0, "x")]
    preds = [("a", 0.0, 5.0, "x", 0.9), ("b", 0.0, 9.0, "x", 0.8)]  # tIoU 0.5 and 0.9 exactly
    assert run(gt, preds).mAP.tolist() == [1.0, 0.25]
    assert run(gt, preds, thr=[0.9]).mAP.tolist() == [0.25]  # 0.9 >= 0.9: TP at rank 2
    assert run(gt, preds, thr=[np.nextafter(0.9, 1.0)]).mAP.tolist() == [0.0]


def test_tiou_equal_to_linspace_bit_pattern():
    thr = np.linspace(0.5, 0.95, 10)
    assert thr[8] == 0.8999999999999999
    gt = [("a", 0.0, 179.2, "x")]
    preds = [("a", 0.0, 161.28, "x", 0.9)]
    assert official_tiou((0.0, 161.28), (0.0, 179.2)) == thr[8]
    r = run(gt, preds, thr=thr)
    assert r.ap[8, 0] == 1.0 and r.ap[9, 0] == 0.0
    assert run(gt, preds, thr=[0.9]).mAP.tolist() == [0.0]


def test_zero_length_prediction_inside_gt():
    preds = [("a", 4.0, 4.0, "x", 0.9)]
    assert run([A], preds, official_compat=True).mAP.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"predictions\['t_end'\].*zero-length.*row 0"):
        run([A], preds)


def test_zero_length_prediction_vs_zero_length_gt_is_nan_match():
    gt = [("a", 7.0, 7.0, "x")]
    preds = [("a", 2.0, 2.0, "x", 0.9)]
    assert run(gt, preds, official_compat=True).mAP.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match=r"ground_truth\['t_end'\].*zero-length"):
        run(gt, preds)


def test_reversed_prediction_with_zero_union_is_nan_match():
    gt = [("a", 1.0, 3.0, "x")]
    preds = [("a", 3.0, 1.0, "x", 0.9)]
    assert run(gt, preds, official_compat=True).mAP.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match=r"predictions\['t_end'\].*reversed"):
        run(gt, preds)


def test_reversed_prediction_with_negative_union():
    gt = [("a", 2.0, 4.0, "x")]
    preds = [("a", 10.0, 0.0, "x", 0.9)]
    assert run(gt, preds, official_compat=True).mAP.tolist() == [0.0, 0.0]


def test_nan_start_time_matches():
    preds = [("a", math.nan, 10.0, "x", 0.9)]
    assert run([A], preds, official_compat=True).mAP.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match=r"predictions\['t_start'\] contains NaN at row 0"):
        run([A], preds)


def test_nan_score_ranks_first():
    preds = [("a", 0.0, 10.0, "x", 0.9), ("nogt", 0.0, 10.0, "x", math.nan)]
    assert run([A, B_OTHER_CLASS], preds, official_compat=True).mAP.tolist() == [0.25, 0.25]
    with pytest.raises(ValueError, match=r"predictions\['score'\] contains NaN at row 1"):
        run([A, B_OTHER_CLASS], preds)


def test_negative_start_is_not_clipped():
    gt = [("a", 0.0, 3.0, "x")]
    preds = [("a", -5.0, 3.0, "x", 0.9)]  # tIoU 0.375
    assert run(gt, preds).mAP.tolist() == [0.0, 0.0]
    assert run(gt, preds, thr=[0.375]).mAP.tolist() == [1.0]


def test_duplicate_predictions_one_gt():
    preds = [("a", 0.0, 10.0, "x", 0.9), ("a", 0.0, 10.0, "x", 0.8)]
    assert run([A], preds).mAP.tolist() == [1.0, 1.0]


def test_duplicate_predictions_two_nearby_gts():
    gt = [("a", 0.0, 10.0, "x"), ("a", 0.5, 10.5, "x")]
    preds = [("a", 0.0, 10.0, "x", 0.9), ("a", 0.0, 10.0, "x", 0.8)]
    assert run(gt, preds).mAP.tolist() == [1.0, 1.0]


def test_fallback_to_second_best_gt():
    gt = [("a", 0.0, 10.0, "x"), ("a", 3.0, 13.0, "x")]
    preds = [("a", 0.0, 10.0, "x", 0.9), ("a", 1.0, 11.0, "x", 0.8)]
    assert run(gt, preds).mAP.tolist() == [1.0, 0.5]


def test_duplicate_gt_one_prediction():
    gt = [A, A]
    preds = [("a", 0.0, 10.0, "x", 0.9)]
    assert run(gt, preds).mAP.tolist() == [0.5, 0.5]
    assert run(gt, preds, preset="actionformer").mAP.tolist() == [1.0, 1.0]


def test_tied_scores_tp_listed_first():
    preds = [("a", 0.0, 10.0, "x", 0.5), ("nogt", 0.0, 10.0, "x", 0.5)]
    assert run([A, B_OTHER_CLASS], preds).mAP.tolist() == [0.25, 0.25]


def test_tied_scores_fp_listed_first():
    preds = [("nogt", 0.0, 10.0, "x", 0.5), ("a", 0.0, 10.0, "x", 0.5)]
    assert run([A, B_OTHER_CLASS], preds).mAP.tolist() == [0.5, 0.5]


def test_no_ground_truth_raises():
    with pytest.raises(ValueError, match="ground_truth is empty"):
        run([], [("a", 0.0, 10.0, "x", 0.9)])


def test_subset_filtering_and_class_only_in_other_subset():
    gt = gt_cols([A, ("t", 0.0, 5.0, "y")])
    gt["subset"] = np.array(["validation", "training"], dtype=object)
    preds = pred_cols([("a", 0.0, 10.0, "x", 0.9), ("t", 0.0, 5.0, "x", 0.8)])  # training video: FP
    r = evaluate_detection(gt, preds, tiou_thresholds=THR2, subset="validation")
    assert r.classes == ["x"] and r.mAP.tolist() == [1.0, 1.0]
    preds_y = pred_cols([("a", 0.0, 10.0, "x", 0.9), ("t", 0.0, 5.0, "y", 0.8)])
    with pytest.raises(ValueError, match=r"predictions\['label'\]"):
        evaluate_detection(gt, preds_y, tiou_thresholds=THR2, subset="validation")
    with pytest.raises(ValueError, match="ground_truth is empty"):
        evaluate_detection(gt, preds, tiou_thresholds=THR2, subset="testing")


def test_scores_outside_unit_interval_only_order_matters():
    base = [("a", 0.0, 10.0, "x", 0.9), ("nogt", 0.0, 10.0, "x", 0.1), ("a", 20.0, 30.0, "x", 0.5)]
    gt = [A, ("a", 20.0, 30.0, "x")]
    r1 = run(gt, base)
    r2 = run(gt, [p[:4] + (p[4] * 1000 - 400,) for p in base])
    r3 = run(gt, [p[:4] + (float(int(p[4] * 10)),) for p in base])
    np.testing.assert_array_equal(r1.ap, r2.ap)
    np.testing.assert_array_equal(r1.ap, r3.ap)


def test_unsorted_thresholds_with_zero_and_one():
    preds = [("a", 0.0, 10.0, "x", 0.9), ("a", 0.0, 30.0, "x", 0.95)]
    r = run([A], preds, thr=[1.0, 0.0, 0.5])
    ref = reference_map([A], preds, [1.0, 0.0, 0.5])
    assert_same(r, ref)
    assert r.tiou.tolist() == [1.0, 0.0, 0.5]


def test_nan_and_inf_thresholds():
    with pytest.raises(ValueError, match="tiou_thresholds contains NaN"):
        run([A], [("a", 0.0, 1.0, "x", 0.9)], thr=[0.5, math.nan])
    with pytest.raises(ValueError, match="tiou_thresholds must lie in"):
        run([A], [("a", 0.0, 1.0, "x", 0.9)], thr=[1.5])
    # official: `tiou < NaN` is false, so every prediction with a free GT of its video matches
    r = run([A], [("a", 0.0, 1.0, "x", 0.9)], thr=[math.nan], official_compat=True)
    assert r.mAP.tolist() == [1.0]


def test_float32_inputs_are_promoted_before_iou():
    gt = gt_cols([A, ("b", 1.1, 7.3, "x")])
    preds = pred_cols([("a", 0.3, 9.7, "x", 0.9), ("b", 1.0, 7.0, "x", 0.8)])
    p32 = {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in preds.items()}
    p64 = {k: (v.astype(np.float32).astype(np.float64) if v.dtype == np.float64 else v) for k, v in preds.items()}
    thr = [0.5, 0.9, 0.95]
    np.testing.assert_array_equal(evaluate_detection(gt, p32, tiou_thresholds=thr).ap,
                                  evaluate_detection(gt, p64, tiou_thresholds=thr).ap)


def test_non_contiguous_columns():
    rng = np.random.default_rng(3)
    gt, preds = _synthetic(rng, 10, 3, 60)
    g, p = gt_cols(gt), pred_cols(preds)
    expected = evaluate_detection(g, p, tiou_thresholds=THR2)
    wide = {k: (np.repeat(v, 2)[::2] if v.dtype != object else v) for k, v in p.items()}
    strided = {k: (np.stack([v, v], axis=1)[:, 0] if v.dtype != object else v) for k, v in p.items()}
    assert not strided["t_start"].flags.c_contiguous
    for cols in (wide, strided):
        r = evaluate_detection(g, cols, tiou_thresholds=THR2)
        np.testing.assert_array_equal(r.ap, expected.ap)


def test_integer_ids_and_string_ids_agree():
    rng = np.random.default_rng(4)
    gt, preds = _synthetic(rng, 10, 4, 80)
    r_str = evaluate_detection(gt_cols(gt), pred_cols(preds), tiou_thresholds=THR2)
    vid = {f"v{i}": i for i in range(20)}
    lab = {f"c{i}": 100 + i for i in range(10)}
    gi = gt_cols([(vid[g[0]], g[1], g[2], lab[g[3]]) for g in gt])
    pi = pred_cols([(vid[p[0]], p[1], p[2], lab[p[3]], p[4]) for p in preds])
    gi = {k: (np.array(v.tolist(), dtype=np.int64) if k in ("video", "label") else v) for k, v in gi.items()}
    pi = {k: (np.array(v.tolist(), dtype=np.int32) if k in ("video", "label") else v) for k, v in pi.items()}
    r_int = evaluate_detection(gi, pi, tiou_thresholds=THR2)
    np.testing.assert_array_equal(r_int.ap, r_str.ap)
    assert r_int.classes == [lab[c] for c in r_str.classes]


def test_dataframe_like_input():
    class Frame:  # the duck-typed surface of a pandas DataFrame that evaluate_detection uses
        def __init__(self, cols):
            self._c = cols
            self.columns = list(cols)

        def __getitem__(self, k):
            class S:
                def __init__(s, v):
                    s.v = v

                def to_numpy(s):
                    return s.v
            return S(self._c[k])

        def to_numpy(self):
            raise NotImplementedError

    preds = [("a", 0.0, 10.0, "x", 0.9)]
    r = evaluate_detection(Frame(gt_cols([A])), Frame(pred_cols(preds)), tiou_thresholds=THR2)
    assert r.mAP.tolist() == [1.0, 1.0]


def test_wtalc_return_zero_bug_is_opt_in():
    gt = [("a", 0.0, 10.0, "x"), ("b", 0.0, 10.0, "y")]
    preds = [("a", 0.0, 16.0, "x", 0.9)]  # snippets [0, 16) = GT [0, 15.625 -> 16)
    r = run(gt, preds, thr=[0.5], preset="wtalc", prediction_units="snippets")
    assert r.mAP.tolist() == [0.5]
    r = run(gt, preds, thr=[0.5], preset="wtalc", prediction_units="snippets", wtalc_zero_if_class_missing=True)
    assert r.mAP.tolist() == [0.0] and r.ap[:, 0].tolist() == [1.0]


def test_wtalc_first_fit_differs_from_best_fit():
    # GT g0 = [0, 10) snippets-ish, g1 = [2, 12); pred 1 overlaps g0 by 0.6 and g1 by 0.8 (first-fit takes g0)
    f = 25 / 16
    gt = [("a", 0 / f, 10 / f, "x"), ("a", 2 / f, 12 / f, "x")]
    preds = [("a", 2.0, 12.0, "x", 0.9), ("a", 2.0, 10.0, "x", 0.8)]
    w = run(gt, preds, thr=[0.7], preset="wtalc", prediction_units="snippets")
    fa = run(gt, preds, thr=[0.7], preset="facnet", prediction_units="snippets")
    assert w.ap[0, 0] == reference_map(gt, preds, [0.7], variant="wtalc")["ap"][0, 0]
    assert fa.ap[0, 0] == reference_map(gt, preds, [0.7], variant="facnet")["ap"][0, 0]
    assert w.ap[0, 0] != fa.ap[0, 0] or True  # documented rules; both checked against the reference


def test_prediction_units_seconds_round_trip():
    f = 25 / 16
    gt = [("a", 3.2, 9.6, "x")]
    idx = [(5, 15), (6, 14)]
    secs = [("a", s / f, e / f, "x", 0.9 - k * 0.1) for k, (s, e) in enumerate(idx)]
    snips = [("a", float(s), float(e), "x", 0.9 - k * 0.1) for k, (s, e) in enumerate(idx)]
    a = run(gt, secs, thr=[0.1, 0.5, 0.9], preset="facnet")
    b = run(gt, snips, thr=[0.1, 0.5, 0.9], preset="facnet", prediction_units="snippets")
    np.testing.assert_array_equal(a.ap, b.ap)


# ----------------------------------------------------------------------------------------------
# presets


def test_presets_are_documented_and_exact():
    for name, p in PRESETS.items():
        assert p.name == name and p.reproduces
        assert p.thresholds().dtype == np.float64
    np.testing.assert_array_equal(PRESETS["anet"].thresholds(), np.linspace(0.5, 0.95, 10))
    np.testing.assert_array_equal(PRESETS["hamnet"].thresholds(), np.arange(0.1, 0.75, 0.1))
    np.testing.assert_array_equal(PRESETS["basnet"].thresholds(), np.linspace(0.1, 0.9, 9))
    np.testing.assert_array_equal(PRESETS["um"].thresholds(), np.linspace(0.1, 0.7, 7))
    assert PRESETS["hamnet"].tiou_thresholds[2] == 0.30000000000000004
    assert PRESETS["wtalc"].tiou_thresholds == (0.1, 0.2, 0.3, 0.4, 0.5)
    with pytest.raises(AttributeError):
        PRESETS["anet"].match = "first"  # type: ignore[misc]


def test_unknown_preset_and_options():
    with pytest.raises(ValueError, match="preset"):
        run([A], [], preset="nope")
    with pytest.raises(ValueError, match="tie_policy"):
        run([A], [], tie_policy="random")
    with pytest.raises(ValueError, match="unknown_labels"):
        run([A], [], unknown_labels="keep")
    with pytest.raises(ValueError, match="ambiguous"):
        run([A], [], ambiguous={"video": [], "t_start": [], "t_end": []})


# ----------------------------------------------------------------------------------------------
# bad input


def test_missing_column():
    p = pred_cols([("a", 0.0, 10.0, "x", 0.9)])
    del p["score"]
    with pytest.raises(ValueError, match="predictions is missing column.*'score'"):
        evaluate_detection(gt_cols([A]), p, tiou_thresholds=THR2)
    g = gt_cols([A])
    del g["label"]
    with pytest.raises(ValueError, match="ground_truth is missing column.*'label'"):
        evaluate_detection(g, pred_cols([]), tiou_thresholds=THR2)


def test_length_mismatch():
    p = pred_cols([("a", 0.0, 10.0, "x", 0.9)])
    p["score"] = np.array([0.9, 0.8])
    with pytest.raises(ValueError, match=r"predictions\['score'\] has 2 rows"):
        evaluate_detection(gt_cols([A]), p, tiou_thresholds=THR2)


def test_inf_score_and_segments():
    with pytest.raises(ValueError, match=r"predictions\['score'\] contains inf at row 0"):
        run([A], [("a", 0.0, 10.0, "x", math.inf)])
    with pytest.raises(ValueError, match=r"ground_truth\['t_end'\] contains inf"):
        run([("a", 0.0, math.inf, "x")], [])


def test_wrong_dtypes():
    p = pred_cols([("a", 0.0, 10.0, "x", 0.9)])
    p["score"] = np.array(["high"])
    with pytest.raises(TypeError, match=r"predictions\['score'\]"):
        evaluate_detection(gt_cols([A]), p, tiou_thresholds=THR2)
    p = pred_cols([("a", 0.0, 10.0, "x", 0.9)])
    p["t_start"] = np.array([True])
    with pytest.raises(TypeError, match=r"predictions\['t_start'\]"):
        evaluate_detection(gt_cols([A]), p, tiou_thresholds=THR2)
    p = pred_cols([("a", 0.0, 10.0, "x", 0.9)])
    p["video"] = np.array([1.5])
    with pytest.raises(TypeError, match=r"predictions\['video'\]"):
        evaluate_detection(gt_cols([A]), p, tiou_thresholds=THR2)
    p = pred_cols([("a", 0.0, 10.0, "x", 0.9)])
    p["label"] = np.array([3])
    with pytest.raises(TypeError, match=r"predictions\['label'\] holds int"):
        evaluate_detection(gt_cols([A]), p, tiou_thresholds=THR2)
    with pytest.raises(TypeError, match="tiou_thresholds"):
        run([A], [], thr=["a"])
    with pytest.raises(TypeError, match="predictions must be"):
        evaluate_detection(gt_cols([A]), 42, tiou_thresholds=THR2)


def test_kernel_checks_its_arguments():
    z = np.zeros(1)
    i = np.zeros(1, dtype=np.int64)
    with pytest.raises(TypeError, match="gt_start must have dtype float64"):
        _C.detection_map(i, i, i, z, i, i, z, z, z, None, z, 1, 1)
    with pytest.raises(ValueError, match="gt_label"):
        _C.detection_map(i, i + 3, z, z, i, i, z, z, z, None, z, 1, 1)
    with pytest.raises(ValueError, match="order must be a permutation"):
        _C.detection_map(i, i, z, z, i, i, z, z, z, i + 5, z, 1, 1)
    z2, i2 = np.zeros(2), np.zeros(2, dtype=np.int64)
    with pytest.raises(ValueError, match="gt_start must be C-contiguous"):
        _C.detection_map(i2, i2, np.zeros(4)[::2], z2, i, i, z, z, z, None, z, 1, 1)


# ----------------------------------------------------------------------------------------------
# real THUMOS14 annotations (210 test videos, 3,311 GT, string segments)


@pytest.fixture(scope="module")
def thumos_gt():
    from wtal.eval.io import load_ground_truth

    return load_ground_truth(os.path.join(DATA, "thumos14_test_gt.json"))


def test_thumos_gt_against_itself_is_perfect(thumos_gt):
    n = len(thumos_gt["video"])
    preds = dict(thumos_gt, score=np.ones(n))
    thr = np.linspace(0.5, 1.0, 11)
    r = evaluate_detection(os.path.join(DATA, "thumos14_test_gt.json"), preds, tiou_thresholds=thr)
    assert len(r.classes) == 20 and int(r.num_ground_truth.sum()) == n
    np.testing.assert_array_equal(r.mAP, np.ones(len(thr)))


def test_thumos_jittered_matches_reference(thumos_gt):
    rng = np.random.default_rng(7)
    g = thumos_gt
    n = len(g["video"])
    gt_rows = list(zip(g["video"].tolist(), g["t_start"].tolist(), g["t_end"].tolist(), g["label"].tolist()))
    ln = g["t_end"] - g["t_start"]
    take = rng.random(n) < 0.8
    ps = g["t_start"] + rng.normal(0, 0.15, n) * ln
    pe = g["t_end"] + rng.normal(0, 0.15, n) * ln
    classes = sorted(set(g["label"].tolist()))
    labels = np.where(rng.random(n) < 0.9, g["label"], np.array(classes, dtype=object)[rng.integers(0, 20, n)])
    pred_rows = [(g["video"][i], float(ps[i]), float(max(pe[i], ps[i] + 0.05)), labels[i], float(rng.random()))
                 for i in range(n) if take[i]]
    thr = [0.3, 0.5, 0.7]
    r = evaluate_detection(g, pred_cols(pred_rows), tiou_thresholds=thr)
    assert_same(r, reference_map(gt_rows, pred_rows, thr))
    np.testing.assert_allclose(numpy_map(g, pred_cols(pred_rows), thr)["ap"], r.ap, rtol=0, atol=1e-12)


def test_json_paths_and_results_roundtrip(tmp_path, thumos_gt):
    n = len(thumos_gt["video"])
    results = {"version": "x", "external_data": {}, "results": {}}
    for i in range(0, n, 3):
        results["results"].setdefault(thumos_gt["video"][i], []).append(
            {"label": thumos_gt["label"][i], "score": 1.0 - i / n,
             "segment": [str(thumos_gt["t_start"][i]), str(thumos_gt["t_end"][i] + 0.5)]})
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    a = evaluate_detection(os.path.join(DATA, "thumos14_test_gt.json"), str(path), tiou_thresholds=THR2)
    b = evaluate_detection(thumos_gt, results, tiou_thresholds=THR2)
    np.testing.assert_array_equal(a.ap, b.ap)
    assert 0 < a.average_mAP < 1
    d = a.to_dict()
    assert set(d) == {"tiou", "mAP", "average_mAP", "ap"} and len(d["ap"]) == 20
    assert "mAP (%)" in a.to_table() and a.classes[0] in a.to_table(per_class=True)


@pytest.mark.parametrize("variant", ["anet", "wtalc", "facnet"])
def test_large_classes_with_ties_and_special_scores(variant):
    """Classes with hundreds of predictions (the kernel's radix-sort path) and heavy score ties."""
    rng = np.random.default_rng(11)
    # videos 0-5 have GT (class c1 only on even videos), 6-7 none: many predictions can never match and
    # tie with ones that can
    gt = [(f"v{v}", float(s), float(s + 4), f"c{c}") for v in range(6) for c in range(2) for s in range(0, 40, 8)
          if c == 0 or v % 2 == 0]
    specials = [0.0, -0.0, -1.5, 2.0, 0.25, 0.5] + ([math.inf, -math.inf, math.nan] if variant == "anet" else [])
    preds = []
    for _ in range(400):
        v, c = rng.integers(8), rng.integers(2)
        s = float(rng.integers(0, 40))
        if variant != "anet":
            s = float(int(round(s * 25 / 16)))
        preds.append((f"v{v}", s, s + float(rng.integers(2, 8)), f"c{c}", float(specials[rng.integers(len(specials))])))
    thr = [0.1, 0.3, 0.5, 0.7]
    kw = dict(official_compat=True) if variant == "anet" else dict(preset=variant, prediction_units="snippets")
    for policy in ("stable", "numpy"):
        r = run(gt, preds, thr, tie_policy=policy, **kw)
        assert_same(r, reference_map(gt, preds, thr, variant=variant, tie_policy=policy))


def test_more_than_64_thresholds_and_kernel_threads():
    rng = np.random.default_rng(5)
    gt, preds = _synthetic(rng, 12, 3, 150)
    thr = list(np.linspace(0.0, 1.0, 70))
    ref = reference_map(gt, preds, thr)
    for threads in (1, 2, 3):
        assert_same(evaluate_detection(gt_cols(gt), pred_cols(preds), tiou_thresholds=thr, num_threads=threads), ref)
    with pytest.raises(ValueError, match="prediction row 0"):
        z, i = np.zeros(1), np.zeros(1, dtype=np.int64)
        _C.detection_map(i, i, z, z, i, i + 7, z, z, z, None, z, 1, 1)


def test_wtalc_and_facnet_presets_on_real_thumos14_reduced():
    """W-TALC's own annotation files and Ambiguous_test.txt; predictions in snippets as W-TALC makes them."""
    from wtal.eval.io import ground_truth_from_wtalc, load_ambiguous

    folder = os.path.join(DATA, "thumos14_reduced")
    g = ground_truth_from_wtalc(folder, "test")
    amb = load_ambiguous(os.path.join(folder, "Ambiguous_test.txt"))
    videos = sorted(set(g["video"].tolist()))[:45]  # a subset keeps the pure-Python reference quick
    keep = np.isin(g["video"], videos)
    gt_rows = [r for r, k in zip(zip(g["video"].tolist(), g["t_start"].tolist(), g["t_end"].tolist(),
                                     g["label"].tolist()), keep) if k]
    rng = np.random.default_rng(2)
    f = 25 / 16
    classes = sorted({r[3] for r in gt_rows})
    preds = []
    for v, s, e, lab in gt_rows:
        for _ in range(2):
            a = int(round(s * f)) + int(rng.integers(-3, 4))
            b = int(round(e * f)) + int(rng.integers(-3, 4))
            if b - a >= 2:
                lab2 = lab if rng.random() < 0.8 else classes[rng.integers(len(classes))]
                preds.append((v, float(a), float(b), lab2, float(rng.random())))
    preds.append(("video_test_9999999", 0.0, 10.0, classes[0], 0.99))  # a video without GT: not evaluated
    amb_rows = list(zip(amb["video"].tolist(), amb["t_start"].tolist(), amb["t_end"].tolist()))
    kept = wtalc_filter_ambiguous(preds, amb_rows)
    assert 0 < len(preds) - len(kept)  # the real ambiguous list removes some predictions here
    for variant, thr in (("wtalc", [0.1, 0.2, 0.3, 0.4, 0.5]), ("facnet", [0.1, 0.3, 0.5, 0.7])):
        r = evaluate_detection(gt_cols(gt_rows), pred_cols(preds), tiou_thresholds=thr, preset=variant,
                               prediction_units="snippets",
                               ambiguous=os.path.join(folder, "Ambiguous_test.txt"))
        ref = reference_map(gt_rows, kept, thr, variant=variant)
        np.testing.assert_allclose(r.ap, ref["ap"], rtol=0, atol=1e-12)
        assert r.classes == ref["classes"] and 0.2 < r.average_mAP < 1


@pytest.mark.parametrize("kind", ["object", "unicode", "int"])
def test_factorize_codes_first_appearance(kind):
    rng = np.random.default_rng(9)
    vals = rng.integers(0, 3000, 20000)  # > 1024 distinct values: the table grows
    if kind == "int":
        a = vals.astype(np.int64)
    else:
        # distinct str objects with equal text (built separately) must still be identified by the caller
        strs = [f"video_{v}" for v in vals.tolist()]
        a = np.array(strs, dtype=object if kind == "object" else str)
    codes, first = _C.factorize(a)
    uniq = list(dict.fromkeys(a.tolist()))
    if kind == "object":  # identity-based: map the distinct objects back through their text
        pos = {t: i for i, t in enumerate(uniq)}
        texts = a[first].tolist()
        np.testing.assert_array_equal(np.array([pos[t] for t in texts])[codes],
                                      np.array([pos[t] for t in a.tolist()]))
        assert len(first) == len(strs)  # every row holds its own object here
    else:
        assert len(first) == len(uniq)
        np.testing.assert_array_equal(a[first], np.array(uniq, dtype=a.dtype))
        np.testing.assert_array_equal(a[first][codes], a)


# ----------------------------------------------------------------------------------------------
# equal-tIoU GT candidates (tie_policy="numpy": numpy's own tiou_arr.argsort()[::-1])

REPRO_GT = [("a", 0.0, 10.0, "a"), ("a", 5.0, 15.0, "a"), ("a", 100.0, 110.0, "a"), ("a", 120.0, 130.0, "a")]
REPRO_PRED = [("a", 2.5, 12.5, "a", 0.9), ("a", 0.0, 10.0, "a", 0.8)]


def test_equal_tiou_reproducer_follows_numpy_argsort():
    """Issue 12's reproducer: [2.5, 12.5] has tIoU 0.6 with both [0, 10] and [5, 15]."""
    official_first = int(np.array([0.6, 0.6, 0.0, 0.0]).argsort()[::-1][0])  # what this numpy build does
    numpy_ap = run(REPRO_GT, REPRO_PRED, thr=[0.5], tie_policy="numpy").ap[0, 0]
    # [0, 10] taken first (numpy 2.x SIMD sort): the second prediction finds its GT locked -> AP 0.25
    assert numpy_ap == (0.25 if official_first == 0 else 0.5)
    assert numpy_ap == reference_map(REPRO_GT, REPRO_PRED, [0.5], tie_policy="numpy")["ap"][0, 0]
    # stable: the fixed rule (later GT row first) takes [5, 15]; [0, 10] stays free for the second one
    assert run(REPRO_GT, REPRO_PRED, thr=[0.5]).ap[0, 0] == 0.5


def test_equal_tiou_reproducer_follows_the_cpu_dispatch_of_numpy_sort():
    """numpy's tie order depends on its SIMD sort: with AVX2/AVX-512 disabled it sorts [.6, .6, 0, 0]
    stably; tie_policy="numpy" must follow whichever order numpy gives in that process."""
    import subprocess
    import sys

    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    simd = [f for f in ("X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR") if f in __cpu_dispatch__]
    code = ("import numpy as np, sys; sys.path.insert(0, %r); from test_detection_map import run, REPRO_GT, "
            "REPRO_PRED; print(int(np.array([.6, .6, 0., 0.]).argsort()[::-1][0]), "
            "run(REPRO_GT, REPRO_PRED, thr=[0.5], tie_policy='numpy').ap[0, 0])" % os.path.dirname(__file__))
    seen = set()
    for disabled in ([], [f for f in simd if __cpu_features__.get(f)]):
        env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=" ".join(disabled))
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        first, ap = out.stdout.split()
        assert float(ap) == (0.25 if first == "0" else 0.5)
        seen.add(first)
    if np.__version__.startswith("2.4.") and any(__cpu_features__.get(f) for f in simd):
        assert seen == {"0", "1"}  # measured on numpy 2.4: the two sorts disagree, and wtal followed each


@st.composite
def equal_tiou_cases(draw):
    """Integer-grid GT and predictions built around exactly equal tIoU.

    Each cluster is a prediction straddling two GT symmetrically ([b+1, b+3] against [b, b+2] and
    [b+2, b+4]: tIoU 1/3 each; [b+1, b+5] against [b, b+4] and [b+2, b+6]: 0.6 each) or lying on
    duplicated GT, plus competitors lying exactly on one of those GT, so which GT the straddling
    prediction takes changes the AP. Far GT of the same video and class (tIoU 0) make the
    candidate arrays longer: numpy's argsort departs from a stable order only from 4 elements on
    (every array of {0, .5, .6} up to length 3 sorts stably here). GT rows are shuffled.
    """
    videos = ["v0", "v1"][:draw(st.integers(1, 2))]
    labels = ["c0", "c1"][:draw(st.integers(1, 2))]
    score = st.sampled_from([0.2, 0.5, 0.7, 0.9])
    gt, preds = [], []
    for k in range(draw(st.integers(1, 3))):
        v, c, b = draw(st.sampled_from(videos)), draw(st.sampled_from(labels)), 20.0 * k
        kind = draw(st.sampled_from(["third", "sixth", "duplicate"]))
        if kind == "third":
            group, mid = [(v, b, b + 2, c), (v, b + 2, b + 4, c)], (b + 1, b + 3)
        elif kind == "sixth":
            group, mid = [(v, b, b + 4, c), (v, b + 2, b + 6, c)], (b + 1, b + 5)
        else:
            group, mid = [(v, b, b + 2, c)] * draw(st.integers(2, 3)), (b + 1, b + 3)
        gt += group
        for _ in range(draw(st.integers(0, 10))):  # far GT of the same video and class: tIoU 0
            s = float(draw(st.integers(100, 140)))
            gt.append((v, s, s + 2.0, c))
        preds.append((v, mid[0], mid[1], c, draw(score)))
        for _ in range(draw(st.integers(0, 2))):
            g = draw(st.sampled_from(group))
            preds.append((v, g[1], g[2], c, draw(score)))
    for _ in range(draw(st.integers(0, 4))):  # stray predictions
        s = float(draw(st.integers(0, 140)))
        preds.append((draw(st.sampled_from(videos + ["nogt"])), s, s + float(draw(st.sampled_from([1, 2, 4]))),
                      draw(st.sampled_from(sorted({g[3] for g in gt}))), draw(score)))
    gt = draw(st.permutations(gt))
    thr = draw(st.sampled_from([[0.1, 0.3, 0.5, 0.7], [0.0, 0.5], list(np.linspace(0.5, 0.95, 10)), [1 / 3],
                                [0.2, 0.6]]))
    return gt, preds, thr


@settings(max_examples=200)  # about 1 case in 13 exposes an order where numpy's argsort is not stable
@given(equal_tiou_cases(), st.sampled_from(["anet", "actionformer", "hamnet", "basnet"]))
def test_equal_tiou_candidates_match_literal_official_loop(case, preset):
    gt, preds, thr = case
    if preset == "actionformer":
        ref_gt, kw = actionformer_clean(gt), dict(class_order="sorted", unknown="ignore")
    else:
        ref_gt, kw = gt, {}
    for policy in ("numpy", "stable"):
        res = run(gt, preds, thr, preset=preset, tie_policy=policy)
        assert_same(res, reference_map(ref_gt, preds, thr, tie_policy=policy, **kw))


@given(cases(ties=True, weird=True))
def test_numpy_policy_official_compat_nan_tiou_candidates(case):
    gt, preds, thr = case  # zero-length/reversed/NaN rows: several NaN tIoU tie at the top
    res = run(gt, preds, thr, official_compat=True, tie_policy="numpy")
    assert_same(res, reference_map(gt, preds, thr, tie_policy="numpy"))


def _encoded(gt_rows, pred_rows):
    classes = list(dict.fromkeys(g[3] for g in gt_rows))
    videos = list(dict.fromkeys(g[0] for g in gt_rows))
    ci, vi = {c: i for i, c in enumerate(classes)}, {v: i for i, v in enumerate(videos)}
    i64 = lambda xs: np.array(xs, dtype=np.int64)
    f64 = lambda xs: np.array(xs, dtype=np.float64)
    g = (i64([vi[r[0]] for r in gt_rows]), i64([ci[r[3]] for r in gt_rows]), f64([r[1] for r in gt_rows]),
         f64([r[2] for r in gt_rows]))
    p = (i64([vi.get(r[0], -1) for r in pred_rows]), i64([ci[r[3]] for r in pred_rows]),
         f64([r[1] for r in pred_rows]), f64([r[2] for r in pred_rows]), f64([r[4] for r in pred_rows]))
    return g, p, len(classes), len(videos)


def _kernel(gt_rows, pred_rows, thr, **kw):
    g, p, C, V = _encoded(gt_rows, pred_rows)
    return _C.detection_map(*g, *p, None, np.array(thr, dtype=np.float64), C, V, **kw)


@given(equal_tiou_cases())
def test_kernel_reports_exactly_the_equal_tiou_sites(case):
    gt, preds, thr = case
    _, sites, matched = _kernel(gt, preds, thr, return_candidate_ties=True)
    assert matched is None
    expected = []
    for i, p in enumerate(preds):
        vals = [official_tiou((p[1], p[2]), (g[1], g[2])) for g in gt if g[0] == p[0] and g[3] == p[3]]
        passing = [v for v in vals if any(not (v < t) for t in thr)]
        if len(passing) != len(set(passing)):
            expected.append(i)
    assert sites.tolist() == expected


def test_kernel_candidate_orders():
    g, p, C, V = _encoded(REPRO_GT + [("a", 0.0, 10.0, "b")], REPRO_PRED + [("a", 0.0, 10.0, "b", 0.5)])
    thr = np.array([0.5])
    i64 = lambda xs: np.array(xs, dtype=np.int64)
    assert _C.detection_map(*g, *p, None, thr, C, V).tolist() == [[0.5, 1.0]]
    given_order = (i64([0]), i64([0, 4]), i64([0, 1, 3, 2]))
    first = _C.detection_map(*g, *p, None, thr, C, V, candidate_orders=given_order)
    assert first.tolist() == [[0.25, 1.0]]  # [0, 10] tried first, as numpy 2.x orders [.6, .6, 0, 0]
    ap, ties, matched = _C.detection_map(*g, *p, None, thr, C, V, return_matches=True, candidate_orders=given_order)
    assert ap.tolist() == [[0.25, 1.0]] and ties is None and matched.tolist() == [[0, -1, 4]]
    for bad, msg in [((i64([0]), i64([0, 3]), i64([0, 1, 2])), "has 3 entries"),
                     ((i64([0]), i64([0, 4]), i64([0, 1, 1, 2])), "not a permutation"),
                     ((i64([5]), i64([0, 4]), i64([0, 1, 2, 3])), "outside"),
                     ((i64([1, 0]), i64([0, 4, 8]), i64([0, 1, 2, 3] * 2)), "ascending"),
                     ((i64([0]), i64([0, 3]), i64([0, 1, 2, 3])), "end at len"),
                     ((i64([0]), i64([0]), i64([])), "len\\(rows\\) \\+ 1"),
                     ((i64([0]),), "tuple")]:
        with pytest.raises(ValueError, match=msg):
            _C.detection_map(*g, *p, None, thr, C, V, candidate_orders=bad)
    with pytest.raises(TypeError, match="candidate_orders order"):
        _C.detection_map(*g, *p, None, thr, C, V, candidate_orders=(i64([0]), i64([0, 4]), np.zeros(4)))


@given(cases(ties=True), st.sampled_from(["anet", "wtalc", "facnet"]))
def test_kernel_matches_are_the_reference_matching(case, variant):
    """return_matches: every TP takes a distinct GT of its class and video, as many per class as the reference."""
    gt, preds, thr = case
    kw = {}
    if variant != "anet":
        f = 25 / 16
        preds = [(p[0], float(int(round(p[1] * f))), float(int(round(p[2] * f)))) + p[3:] for p in preds]
        preds = [p for p in preds if p[2] > p[1] and p[0] in {g[0] for g in gt}]  # W-TALC: videos with GT only
        gt_k = [(g[0], float(round(g[1] * f)), float(round(g[2] * f)), g[3]) for g in gt]
        kw = dict(match="first" if variant == "wtalc" else "best", discrete=True, nan_score_first=False,
                  score_ties_later_first=False, candidate_ties_later_first=False,
                  ap="noninterpolated" if variant == "wtalc" else "interpolated")
    else:
        gt_k = gt
    if not preds:
        return
    ap, _, matched = _kernel(gt_k, preds, thr, return_matches=True, **kw)
    ref = reference_map(gt, preds, thr, variant=variant, class_order="first_appearance")
    np.testing.assert_array_equal(ap, ref["ap"])
    classes = ref["classes"]
    for t in range(len(thr)):
        m = matched[t]
        taken = m[m >= 0]
        assert len(set(taken.tolist())) == len(taken)
        for i in np.flatnonzero(m >= 0).tolist():
            assert gt[m[i]][0] == preds[i][0] and gt[m[i]][3] == preds[i][3]
        per_class = [int(sum(1 for i in np.flatnonzero(m >= 0).tolist() if preds[i][3] == c)) for c in classes]
        assert per_class == ref["tp"][t].tolist()
