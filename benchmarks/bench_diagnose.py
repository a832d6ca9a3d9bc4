"""DETAD error diagnosis (``DetectionResult.diagnose``) at ActivityNet scale, against the tests' plain
transcription of DETAD's rules (tests/test_diagnose.py) on a small set, and against the evaluation itself.

Synthetic data of bench_detection_map.py (5,000 videos, 200 classes, ActivityNet settings: 10 tIoU).
Run: ``pytest benchmarks/bench_diagnose.py --benchmark-min-rounds=3`` (``WTAL_BENCH_QUICK=1``: small).
"""
from __future__ import annotations

import numpy as np
import pytest

from bench_detection_map import QUICK, THRESHOLDS, make_anet_like
from wtal.eval import evaluate_detection

SIZES = [1_000, 10_000] if QUICK else [100_000, 1_000_000]
SMALL = 300 if QUICK else 2_000  # the transcription loops in Python over every prediction and GT pair
_MEDIANS: dict = {}


@pytest.mark.parametrize("n", SIZES, ids=[f"{n // 1000}k" for n in SIZES])
@pytest.mark.benchmark(group="diagnose")
def test_wtal_diagnose(benchmark, n):
    gt, pred = make_anet_like(n)
    result = evaluate_detection(gt, pred, tiou_thresholds=THRESHOLDS)
    benchmark.group = f"diagnose {n // 1000}k predictions"
    d = benchmark(result.diagnose, "activitynet")
    assert d.fp_counts.sum(axis=1).tolist() == [d.fp_num_predictions] * 10
    assert 0 < d.average_mAP_N < 1 and d.fn_num_predictions == int(result.num_predictions.sum())


@pytest.mark.parametrize("who", ["wtal", "transcription"])
@pytest.mark.benchmark(group="diagnose small")
def test_diagnose_against_transcription(benchmark, who):
    from test_diagnose import assert_matches_transcription, detad

    gt, pred = make_anet_like(SMALL, num_videos=SMALL // 10, num_classes=10)
    gt_rows = list(zip(*(gt[k].tolist() for k in ("video", "t_start", "t_end", "label"))))
    pred_rows = list(zip(*(pred[k].tolist() for k in ("video", "t_start", "t_end", "label", "score"))))
    result = evaluate_detection(gt, pred, tiou_thresholds=THRESHOLDS)
    benchmark.group = f"diagnose {SMALL} predictions: wtal vs the tests' transcription of DETAD"
    if who == "wtal":
        out = benchmark(result.diagnose, "activitynet")
    else:
        out = benchmark.pedantic(detad, args=(gt_rows, pred_rows, "activitynet"), rounds=1, iterations=1)
    _MEDIANS[who] = benchmark.stats.stats.median
    ref = out if who == "transcription" else detad(gt_rows, pred_rows, "activitynet")
    assert_matches_transcription(result.diagnose("activitynet"), ref)
    if len(_MEDIANS) == 2:
        ratio = _MEDIANS["transcription"] / _MEDIANS["wtal"]
        benchmark.extra_info["transcription_over_wtal"] = ratio
        print(f"\n{SMALL} predictions: transcription {_MEDIANS['transcription']:.3f} s, wtal "
              f"{_MEDIANS['wtal']:.4f} s, ratio {ratio:.0f}x")
