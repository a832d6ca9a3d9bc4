"""wtal.ops.nms and segment_iou vs the repositories' own Python/numpy loops (research/evaluation.md §4).

Groups (wtal and its baseline side by side in each pytest-benchmark group):

* ``one-group-<kind>-<n>``: a single (video, class) group of n = 100 / 1,000 / 5,000 random proposals
  spread over 200 s (lengths 0.5-20 s, FAC-Net: integer snippets), the repository's function vs
  ``nms(**nms_settings(preset))``: BaSNet hard NMS, HAM-Net Gaussian soft-NMS, FAC-Net overlap NMS.
* ``thumos-<kind>``: a THUMOS14-test-shaped batch, the 212 test videos with their real durations
  (tests/data/thumos14_reduced), 3 classes per video, 100-300 proposals per (video, class) (~127k in all);
  the repository's function called in a Python loop per group vs one batched wtal call (CPU; and the
  CUDA path when a GPU is present).
* ``segment-iou-<n>x<m>``: numpy broadcasting (the official formula on [N, 1] x [1, M]) vs segment_iou.

At the end the ratios baseline / wtal (medians) are printed (run with ``-s``) and stored in each wtal
row's ``extra_info``. Run: ``pytest benchmarks/bench_nms.py -s`` (``WTAL_BENCH_QUICK=1``: small sizes).
On a shared, loaded machine add ``--benchmark-timer=time.process_time`` for CPU-time ratios (wall-clock
ratios then depend on how busy the other processes are; CUDA rows need the default wall-clock timer).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from test_nms import _basnet_um_nms, _facnet_nms, _hamnet_soft_nms, _per_group, random_proposals
from wtal.ops import nms, nms_settings, segment_iou

# (same switch as benchmarks/conftest.py; read here because two conftest modules share that name)
QUICK = os.environ.get("WTAL_BENCH_QUICK", "0") not in ("", "0", "false", "False")
SIZES = [100, 1000] if QUICK else [100, 1000, 5000]
NUM_CLASSES_PER_VIDEO = 3
IOU_SIZES = [(500, 500)] if QUICK else [(1000, 1000), (4000, 4000)]
DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data",
                    "thumos14_reduced")

KINDS = {
    # kind: (preset, repository function applied to one group, FAC-Net snippet units?)
    "basnet-hard": ("basnet", lambda s, c: _basnet_um_nms(s, c, 0.7), False),
    "hamnet-soft": ("hamnet", lambda s, c: _hamnet_soft_nms(s, c, 0.7, "gaussian", 0.3), False),
    "facnet-hard": ("facnet", lambda s, c: _facnet_nms(s, c, 0.2), True),
}

_medians: dict[str, dict[str, float]] = {}


def _record(benchmark, group: str, name: str) -> None:
    med = benchmark.stats.stats.median
    _medians.setdefault(group, {})[name] = med
    base = _medians[group].get("python")
    if name != "python" and base is not None:
        benchmark.extra_info["speedup_vs_python"] = base / med


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print("\nbench_nms: baseline / wtal (median time ratios)")
    for group, rows in _medians.items():
        base = rows.get("python")
        for name, med in rows.items():
            if name != "python" and base is not None:
                print(f"  {group:32s} {name:12s} {med * 1e3:10.3f} ms   x{base / med:8.1f} vs python "
                      f"({base * 1e3:.1f} ms)")


def _one_group(n: int, snippets: bool):
    return random_proposals(np.random.default_rng(n), 1, n, span=200.0 if not snippets else 300.0,
                            snippets=snippets, min_per_group=n)[:2]


def _thumos_batch(snippets: bool, seed: int = 0):
    from wtal.safe_npy import load_npy, to_str

    durations = np.asarray(load_npy(os.path.join(DATA, "duration.npy")), dtype=np.float64).ravel()
    subset = np.array([to_str(s) for s in load_npy(os.path.join(DATA, "subset.npy"))])
    durations = durations[subset == "test"]
    if QUICK:
        durations = durations[:20]
    rng = np.random.default_rng(seed)
    segs, scores, groups = [], [], []
    for v, dur in enumerate(durations):
        for c in rng.choice(20, NUM_CLASSES_PER_VIDEO, replace=False):
            n = int(rng.integers(100, 301))
            if snippets:  # FAC-Net works in snippets (25/16 per second)
                t = int(dur * 25 / 16)
                start = rng.integers(0, max(t, 1), n).astype(np.float64)
                seg = np.stack([start, start + rng.integers(3, 41, n)], axis=1)
            else:
                start = rng.uniform(0, dur, n)
                seg = np.stack([start, np.minimum(start + rng.uniform(0.5, 20.0, n), dur + 20.0)], axis=1)
            segs.append(seg)
            scores.append(rng.uniform(0, 1, n))
            groups.append(np.full(n, v * 20 + c, dtype=np.int64))
    return np.concatenate(segs), np.concatenate(scores), np.concatenate(groups)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("impl", ["python", "wtal"])
def test_one_group(benchmark, impl, kind, n):
    preset, repo_fn, snippets = KINDS[kind]
    segs, scores = _one_group(n, snippets)
    group = f"one-group-{kind}-{n}"
    benchmark.group = group
    if impl == "python":
        rounds = 3 if n >= 5000 else 10
        benchmark.pedantic(repo_fn, args=(segs, scores), rounds=rounds, iterations=1, warmup_rounds=1)
    else:
        settings = nms_settings(preset)
        benchmark(lambda: nms(segs, scores, **settings))
    _record(benchmark, group, impl)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("impl", ["python", "wtal", "wtal-cuda"])
def test_thumos_batch(benchmark, impl, kind):
    preset, repo_fn, snippets = KINDS[kind]
    segs, scores, groups = _thumos_batch(snippets)
    group = f"thumos-{kind}"
    benchmark.group = group
    benchmark.extra_info.update(proposals=int(len(scores)), groups=int(len(np.unique(groups))))
    settings = nms_settings(preset)
    if impl == "python":
        benchmark.pedantic(_per_group, args=(repo_fn, segs, scores, groups), rounds=2, iterations=1)
    elif impl == "wtal":
        benchmark(lambda: nms(segs, scores, groups=groups, **settings))
    else:
        torch = pytest.importorskip("torch")
        import wtal.ops

        if not (torch.cuda.is_available() and wtal.ops.cuda_available()):
            pytest.skip("needs a CUDA device and a CUDA build of wtal")
        d_segs, d_scores, d_groups = (torch.as_tensor(x).cuda() for x in (segs, scores, groups))

        def run():
            out = nms(d_segs, d_scores, groups=d_groups, **settings)
            torch.cuda.synchronize()
            return out

        run()  # warm-up (lazy CUDA init, allocator)
        benchmark.pedantic(run, rounds=20, iterations=1, warmup_rounds=2)
    _record(benchmark, group, impl)


@pytest.mark.parametrize("shape", IOU_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("impl", ["python", "wtal"])
def test_segment_iou(benchmark, impl, shape):
    rng = np.random.default_rng(1)
    a = np.sort(rng.uniform(0, 200, (shape[0], 2)), axis=1)
    b = np.sort(rng.uniform(0, 200, (shape[1], 2)), axis=1)
    group = f"segment-iou-{shape[0]}x{shape[1]}"
    benchmark.group = group

    def numpy_broadcast():
        inter = (np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0])).clip(0)
        union = (b[None, :, 1] - b[None, :, 0]) + (a[:, None, 1] - a[:, None, 0]) - inter
        return inter / union

    if impl == "python":
        benchmark(numpy_broadcast)
    else:
        got = benchmark(lambda: segment_iou(a, b))
        np.testing.assert_array_equal(got, numpy_broadcast())
    _record(benchmark, group, impl)
