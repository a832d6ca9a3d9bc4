"""feature_lcs on a THUMOS14-test-shaped batch against the plain Python reference of its tests.

Batch: the 212 THUMOS14 test videos with their real durations (tests/data/thumos14_reduced),
T = ceil(duration * 25 / 16) snippets, D = 2048 float32 features with phase structure
(test_feature_lcs.change_point_batch, seed 0: change points every 8-24 snippets, same-phase cosines
around the 0.65 threshold), padded to [212, 2615, 2048] (only the 71,903 valid rows, 0.59 GB, are
written). Two pair sets over consecutive change points A < B < C of every video, in one call each:

* ``ahlm``: the paper's (l_AC, l_BC) = ([A, C), [B, C)), ~4.4k pairs, ~2.3M snippet pairs. l_BC lies
  inside l_AC, so every result is |l_BC| and wtal returns it in closed form (reading and checking the
  rows only); "all cosines" runs the same batch with the closed form off (nested=False): the dot-product
  kernel's speed on 2.3M snippet pairs.
* ``adjacent``: ([A, B), [B, C)), ~1.1M snippet pairs, results spread over [0, |l_BC|].

The baseline is ``test_feature_lcs.reference_lcs`` (per-snippet float64 norms, one ``np.dot`` per
snippet pair, the full DP table), run once on the whole batch in the same process; its results must
equal wtal's. "read once" times ``first_non_finite`` over the valid rows (one pass over the 0.59 GB, all
cores): the memory floor of anything that checks the features, printed with the ratio it allows.

Run: ``PYTHONPATH=$PWD pytest benchmarks/bench_feature_lcs.py -s`` (``WTAL_BENCH_QUICK=1``: the first
12 videos).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from test_feature_lcs import change_point_batch, change_point_pairs, reference_lcs
from wtal._ext import _C
from wtal.ops import feature_lcs
from wtal.safe_npy import load_npy, to_str

# Same switch as benchmarks/conftest.py (read directly: tests/conftest.py shadows the module name).
QUICK = os.environ.get("WTAL_BENCH_QUICK", "0") not in ("", "0", "false", "False")
DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data", "thumos14_reduced")
KINDS = ("ahlm", "adjacent")
THRESHOLD = 0.65
TIMES: dict[tuple[str, str], float] = {}
RESULTS: dict[str, np.ndarray] = {}


def thumos14_test_lengths() -> np.ndarray:
    duration = np.asarray(load_npy(os.path.join(DATA, "duration.npy")), dtype=np.float64).reshape(-1)
    subset = np.array([to_str(s) for s in load_npy(os.path.join(DATA, "subset.npy"))])
    T = np.ceil(duration[subset == "test"] * 25 / 16).astype(np.int64)
    return T[:12] if QUICK else T


@pytest.fixture(scope="module")
def batch():
    features, lengths, cps = change_point_batch(thumos14_test_lengths(), 2048, seed=0)
    return features, lengths, {kind: change_point_pairs(cps, kind) for kind in KINDS}


def _record(benchmark, group, name):
    TIMES[(group, name)] = benchmark.stats.stats.median


def _group(kind):
    return f"lcs-{kind}-thumos14"


@pytest.mark.parametrize("kind", KINDS)
def test_python(benchmark, batch, kind):
    features, lengths, pairs = batch[0], batch[1], batch[2][kind]
    want = benchmark.pedantic(reference_lcs, args=(features, lengths, *pairs, THRESHOLD), rounds=1, iterations=1)
    got = feature_lcs(features, lengths, *pairs, threshold=THRESHOLD)
    np.testing.assert_array_equal(got, want)
    if kind == "ahlm":
        np.testing.assert_array_equal(want, pairs[4] - pairs[3])
    RESULTS[kind] = want
    _record(benchmark, _group(kind), "python")


@pytest.mark.parametrize("kind", KINDS)
def test_wtal_cpu(benchmark, batch, kind):
    features, lengths, pairs = batch[0], batch[1], batch[2][kind]
    got = benchmark(feature_lcs, features, lengths, *pairs, threshold=THRESHOLD)
    if kind in RESULTS:
        np.testing.assert_array_equal(got, RESULTS[kind])
    _record(benchmark, _group(kind), "wtal-cpu")


@pytest.mark.parametrize("variant", ["all cosines", "all cosines 1-thread", "all cosines float64"])
def test_wtal_cpu_variants(benchmark, batch, variant):
    features, lengths, pairs = batch[0], batch[1], batch[2]["ahlm"]
    kw = {"nested": False, "num_threads": 1 if "1-thread" in variant else 0, "screen": "float64" not in variant}
    got = benchmark(_C.feature_lcs, features, lengths, *pairs, THRESHOLD, **kw)
    np.testing.assert_array_equal(got, pairs[4] - pairs[3])
    _record(benchmark, _group("ahlm"), f"wtal-cpu {variant}")


def test_read_once(benchmark, batch):
    features, lengths, _ = batch
    assert benchmark(_C.first_non_finite, features, lengths) is None
    _record(benchmark, "floor", "read once")


def test_report_ratios(batch):
    """Prints python / wtal median ratios per group (run with -s)."""
    features, lengths, pairs = batch
    lines = [f"machine: {_C.build_info()['hardware_threads']} hardware threads, kernels {_C.feature_lcs_isas()[0]}; "
             f"{len(lengths)} videos, {int(lengths.sum())} snippets, D = {features.shape[2]}"]
    for kind in KINDS:
        cells = int(((pairs[kind][2] - pairs[kind][1]) * (pairs[kind][4] - pairs[kind][3])).sum())
        lines.append(f"{_group(kind)}: {len(pairs[kind][0])} pairs, {cells} snippet pairs")
        base = TIMES.get((_group(kind), "python"))
        for (g, name), t in sorted(TIMES.items()):
            if g == _group(kind) and name != "python" and base:
                lines.append(f"  {name:30s} median {t * 1e3:9.1f} ms  python {base:7.2f} s  speed-up x{base / t:,.1f}")
    floor = TIMES.get(("floor", "read once"))
    base = TIMES.get((_group("ahlm"), "python"))
    if floor and base:
        lines.append(f"read the valid features once: {floor * 1e3:.1f} ms = the ahlm python time / {base / floor:,.1f}")
    print("\n" + "\n".join(lines))
