"""evaluate_detection vs a vectorised numpy implementation of the same spec (ActivityNet-1.3 scale).

Synthetic data as in shared/research/evaluation.md §5: 5,000 videos (durations U(20, 240) s), one class
per video out of 200, 1-2 GT per video (~7.5k GT), predictions spread evenly over the videos, half of
them jittered copies of a GT of the video (sigma = 10 % of its length, correct class with p = 0.7), half
random segments and classes, continuous random scores (no ties); 10 thresholds linspace(0.5, 0.95, 10).
Inputs are columns (video/label as object arrays of str), so JSON parsing is excluded.

Run: ``pytest benchmarks/bench_detection_map.py --benchmark-min-rounds=3`` (``WTAL_BENCH_QUICK=1``: small).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from reference_eval import numpy_map
from wtal.eval import evaluate_detection

# (same switch as benchmarks/conftest.py; read here because two conftest modules share that name)
QUICK = os.environ.get("WTAL_BENCH_QUICK", "0") not in ("", "0", "false", "False")
if QUICK:
    NUM_VIDEOS, NUM_CLASSES, SIZES = 500, 20, [1_000, 10_000]
else:
    NUM_VIDEOS, NUM_CLASSES, SIZES = 5_000, 200, [10_000, 100_000, 1_000_000]
THRESHOLDS = np.linspace(0.5, 0.95, 10)


def make_anet_like(num_predictions: int, num_videos: int = NUM_VIDEOS, num_classes: int = NUM_CLASSES,
                   seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    names = np.array([f"v_{i:07d}" for i in range(num_videos)], dtype=object)
    classes = np.array([f"class_{c:03d}" for c in range(num_classes)], dtype=object)
    dur = rng.uniform(20, 240, num_videos)
    vclass = rng.permutation(np.arange(num_videos) % num_classes)  # every class has videos
    ngt = rng.integers(1, 3, num_videos)
    gv = np.repeat(np.arange(num_videos), ngt)
    length = rng.uniform(0.05, 0.5, len(gv)) * dur[gv]
    start = rng.uniform(0, 1, len(gv)) * (dur[gv] - length)
    gt = {"video": names[gv], "t_start": start, "t_end": start + length, "label": classes[vclass[gv]]}

    per_video = num_predictions // num_videos
    pv = np.repeat(np.arange(num_videos), per_video)
    n = len(pv)
    jitter = rng.random(n) < 0.5
    # jittered copies of a GT of the same video
    first = np.concatenate([[0], np.cumsum(ngt)[:-1]])
    g = first[pv] + (rng.random(n) * ngt[pv]).astype(np.int64)
    glen = length[g]
    js = start[g] + rng.normal(0, 0.1, n) * glen
    je = start[g] + length[g] + rng.normal(0, 0.1, n) * glen
    jlab = np.where(rng.random(n) < 0.7, vclass[pv], rng.integers(0, num_classes, n))
    # random segments and classes
    rl = rng.uniform(0.02, 0.5, n) * dur[pv]
    rs = rng.uniform(0, 1, n) * (dur[pv] - rl)
    rlab = rng.integers(0, num_classes, n)
    ps = np.where(jitter, js, rs)
    pe = np.where(jitter, je, rs + rl)
    pe = np.maximum(pe, ps + 0.01)
    lab = np.where(jitter, jlab, rlab)
    pred = {"video": names[pv], "t_start": ps, "t_end": pe, "label": classes[lab], "score": rng.random(n)}
    return gt, pred


_DATA: dict[int, tuple[dict, dict]] = {}
_MEDIANS: dict[tuple[str, int], float] = {}


def data(n: int) -> tuple[dict, dict]:
    if n not in _DATA:
        _DATA[n] = make_anet_like(n)
    return _DATA[n]


@pytest.mark.parametrize("n", SIZES, ids=[f"{n // 1000}k" for n in SIZES])
@pytest.mark.benchmark(group="detection_map")
def test_wtal_evaluate_detection(benchmark, n):
    gt, pred = data(n)
    benchmark.group = f"detection_map {n // 1000}k predictions"
    result = benchmark(evaluate_detection, gt, pred, tiou_thresholds=THRESHOLDS)
    _MEDIANS[("wtal", n)] = benchmark.stats.stats.median
    assert result.ap.shape == (10, NUM_CLASSES)


@pytest.mark.parametrize("n", SIZES, ids=[f"{n // 1000}k" for n in SIZES])
@pytest.mark.benchmark(group="detection_map")
def test_numpy_reference(benchmark, n):
    gt, pred = data(n)
    benchmark.group = f"detection_map {n // 1000}k predictions"
    out = benchmark(numpy_map, gt, pred, THRESHOLDS)
    ours = evaluate_detection(gt, pred, tiou_thresholds=THRESHOLDS)
    np.testing.assert_allclose(ours.ap, out["ap"], rtol=0, atol=1e-12)
    med = benchmark.stats.stats.median
    if ("wtal", n) in _MEDIANS:
        ratio = med / _MEDIANS[("wtal", n)]
        benchmark.extra_info["numpy_over_wtal"] = ratio
        print(f"\n{n} predictions: numpy {med:.3f} s, wtal {_MEDIANS[('wtal', n)]:.4f} s, speed-up {ratio:.1f}x")


def with_duplicate_gt(gt: dict, fraction: float = 0.02, seed: int = 1) -> dict:
    """The GT with ``fraction`` of its rows listed twice (real annotation files contain duplicates):
    every prediction overlapping a duplicated GT has two candidates with exactly equal tIoU."""
    rng = np.random.default_rng(seed)
    dup = np.flatnonzero(rng.random(len(gt["video"])) < fraction)
    return {k: np.concatenate([v, v[dup]]) for k, v in gt.items()}


@pytest.mark.parametrize("policy", ["stable", "numpy"])
@pytest.mark.parametrize("n", SIZES[-1:], ids=[f"{SIZES[-1] // 1000}k"])
@pytest.mark.benchmark(group="detection_map tie policy")
def test_wtal_tie_policy_with_equal_tiou_candidates(benchmark, n, policy):
    """tie_policy="numpy" (numpy's argsort per class and per equal-tIoU site) against "stable", same run."""
    gt, pred = data(n)
    gt = with_duplicate_gt(gt)
    benchmark.group = f"detection_map tie policy, {n // 1000}k predictions, 2% duplicated GT"
    result = benchmark(evaluate_detection, gt, pred, tiou_thresholds=THRESHOLDS, tie_policy=policy)
    _MEDIANS[(policy, n)] = benchmark.stats.stats.median
    # duplicated GT are interchangeable and the scores are distinct, so both policies give the same AP
    other = evaluate_detection(gt, pred, tiou_thresholds=THRESHOLDS,
                               tie_policy="stable" if policy == "numpy" else "numpy")
    np.testing.assert_array_equal(result.ap, other.ap)
    if ("stable", n) in _MEDIANS and ("numpy", n) in _MEDIANS:
        ratio = _MEDIANS[("numpy", n)] / _MEDIANS[("stable", n)]
        benchmark.extra_info["numpy_over_stable"] = ratio
        print(f"\n{n} predictions, duplicated GT: numpy policy {_MEDIANS[('numpy', n)]:.4f} s, "
              f"stable {_MEDIANS[('stable', n)]:.4f} s, ratio {ratio:.2f}")
