"""Kernel-level benchmarks of the proposal ops on a THUMOS14-test-shaped batch.

Batch: the 212 THUMOS14 test videos with their real durations (tests/data/thumos14_reduced),
T = round(duration * 25 / 16) snippets, HAM-Net's 10 thresholds linspace(0.1, 0.9, 10) on a smooth
random attention signal, 1-3 predicted classes per video (of 20) with their own CAS rows.

Baselines are the authors' loops, reused from the tests' oracles: ``np.where`` + ``np.split``
grouping per (video, threshold) and the per-proposal ``get_proposal_oic`` loop (HAM-Net). wtal runs
the same work as one connected_components call plus one oic_scores call (CPU: C++ kernels; CUDA:
the GPU kernels, skipped without a device). Ratios are printed at the end of the run.

Run: ``PYTHONPATH=$PWD pytest benchmarks/bench_proposals.py -s`` (``WTAL_BENCH_QUICK=1`` for 30 videos).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from test_connected_components import grouping
from test_oic_scores import ref_hamnet
from wtal.ops import connected_components, gaussian_smooth, oic_scores, upsample_linear
from wtal.safe_npy import load_npy, to_str

# Same switch as benchmarks/conftest.py (read directly: tests/conftest.py shadows the module name).
QUICK = os.environ.get("WTAL_BENCH_QUICK", "0") not in ("", "0", "false", "False")
DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data", "thumos14_reduced")
THRESHOLDS = np.linspace(0.1, 0.9, 10)
TIMES: dict[tuple[str, str], float] = {}


def thumos14_test_lengths() -> np.ndarray:
    duration = np.asarray(load_npy(os.path.join(DATA, "duration.npy")), dtype=np.float64).reshape(-1)
    subset = np.array([to_str(s) for s in load_npy(os.path.join(DATA, "subset.npy"))])
    T = np.round(duration[subset == "test"] * 25 / 16).astype(np.int64)
    return T[:30] if QUICK else T


def make_batch(seed: int = 0):
    """attention [V, T] in (0, 1), smooth; cas [R, T] rows for the (video, class) pairs in ``pairs``."""
    rng = np.random.default_rng(seed)
    lengths = thumos14_test_lengths()
    V, T = len(lengths), int(lengths.max())
    noise = rng.random((V, T + 8))
    kernel = np.ones(9) / 9  # ~6 s correlation, so runs have realistic lengths
    att = np.stack([np.convolve(r, kernel, mode="valid") for r in noise])[:, :T]
    att = ((att - att.min()) / (att.max() - att.min())).astype(np.float32)
    n_cls = rng.integers(1, 4, size=V)
    pair_video = np.repeat(np.arange(V), n_cls)
    pair_class = np.concatenate([rng.choice(20, size=k, replace=False) for k in n_cls])
    cas = rng.standard_normal((len(pair_video), T)).astype(np.float32)
    return att, lengths, cas, pair_video, pair_class


def python_hamnet(att, lengths, cas, pair_video):
    """HAM-Net's loops: per video, per threshold, per predicted class; np.split grouping; OIC loop."""
    out = []
    rows_of = {}
    for r, v in enumerate(pair_video):
        rows_of.setdefault(int(v), []).append(r)
    for v in range(len(lengths)):
        L = lengths[v]
        for thr in THRESHOLDS:
            for r in rows_of.get(v, []):
                temp_list = np.array(np.where(att[v, :L] > thr))[0]
                if temp_list.any():
                    for g in grouping(temp_list):
                        score, _ = ref_hamnet(cas[r, :L], int(g[0]), int(g[-1]) + 1)
                        out.append((r, int(g[0]), int(g[-1]) + 1, score))
    return out


def wtal_hamnet(att, lengths, cas, pair_video, xp=np):
    seg = connected_components(att, lengths, THRESHOLDS, drop_index0_only_runs=True)
    # one OIC row per (video, class): repeat each video's runs for each of its classes
    if xp is np:
        first = np.searchsorted(pair_video, np.arange(len(lengths)))
        n_cls = np.bincount(pair_video, minlength=len(lengths))
        reps = n_cls[seg.row]
        idx = np.repeat(np.arange(len(seg)), reps)
        within = np.arange(idx.size) - np.repeat(np.cumsum(reps) - reps, reps)
        rows = first[seg.row][idx] + within
        return oic_scores(cas, lengths[pair_video], rows, seg.start[idx], seg.end[idx])
    import torch

    pv = torch.as_tensor(pair_video, device=att.device)
    first = torch.searchsorted(pv, torch.arange(len(lengths), device=att.device))
    n_cls = torch.bincount(pv, minlength=len(lengths))
    reps = n_cls[seg.row]
    idx = torch.repeat_interleave(torch.arange(len(seg), device=att.device), reps)
    within = torch.arange(idx.numel(), device=att.device) - torch.repeat_interleave(torch.cumsum(reps, 0) - reps, reps)
    rows = first[seg.row][idx] + within
    return oic_scores(cas, lengths[pv], rows, seg.start[idx], seg.end[idx])


def python_cc(att, lengths):
    out = []
    for v in range(len(lengths)):
        for thr in THRESHOLDS:
            temp_list = np.array(np.where(att[v, :lengths[v]] > thr))[0]
            if temp_list.any():
                out.extend(grouping(temp_list))
    return out


def _record(benchmark, group, name):
    TIMES[(group, name)] = benchmark.stats.stats.median


@pytest.fixture(scope="module")
def batch():
    return make_batch()


def _cuda_or_skip():
    torch = pytest.importorskip("torch")
    import wtal.ops

    if not (torch.cuda.is_available() and wtal.ops.cuda_available()):
        pytest.skip("needs a CUDA device and a CUDA build of wtal")
    return torch


# --- connected components alone ---------------------------------------------------------------

@pytest.mark.benchmark(group="cc-thumos14")
def test_cc_python(benchmark, batch):
    att, lengths, *_ = batch
    runs = benchmark(python_cc, att, lengths)
    assert len(runs) == len(connected_components(att, lengths, THRESHOLDS, drop_index0_only_runs=True))
    _record(benchmark, "cc-thumos14", "python")


@pytest.mark.benchmark(group="cc-thumos14")
def test_cc_wtal_cpu(benchmark, batch):
    att, lengths, *_ = batch
    benchmark(connected_components, att, lengths, THRESHOLDS, drop_index0_only_runs=True)
    _record(benchmark, "cc-thumos14", "wtal-cpu")


@pytest.mark.benchmark(group="cc-thumos14")
def test_cc_wtal_cuda(benchmark, batch):
    torch = _cuda_or_skip()
    att, lengths, *_ = batch
    a, l_ = torch.from_numpy(att).cuda(), torch.from_numpy(lengths).cuda()

    def run():
        s = connected_components(a, l_, THRESHOLDS, drop_index0_only_runs=True)
        torch.cuda.synchronize()
        return s

    run()
    benchmark(run)
    _record(benchmark, "cc-thumos14", "wtal-cuda")


# --- HAM-Net components + OIC (all predicted classes, 10 thresholds) ---------------------------

@pytest.mark.benchmark(group="cc+oic-hamnet-thumos14")
def test_hamnet_python(benchmark, batch):
    att, lengths, cas, pair_video, _ = batch
    props = benchmark.pedantic(python_hamnet, args=(att, lengths, cas, pair_video), rounds=3, iterations=1)
    got = wtal_hamnet(att, lengths, cas, pair_video)
    assert len(props) == len(got)
    ref = np.array([p[3] for p in props])
    # same proposals in a different order (python: video, threshold, class; wtal: video, class via rows)
    np.testing.assert_allclose(np.sort(ref), np.sort(got.astype(np.float64)), rtol=1e-5, atol=1e-5)
    _record(benchmark, "cc+oic-hamnet-thumos14", "python")


@pytest.mark.benchmark(group="cc+oic-hamnet-thumos14")
def test_hamnet_wtal_cpu(benchmark, batch):
    att, lengths, cas, pair_video, _ = batch
    benchmark(wtal_hamnet, att, lengths, cas, pair_video)
    _record(benchmark, "cc+oic-hamnet-thumos14", "wtal-cpu")


@pytest.mark.benchmark(group="cc+oic-hamnet-thumos14")
def test_hamnet_wtal_cuda(benchmark, batch):
    torch = _cuda_or_skip()
    att, lengths, cas, pair_video, _ = batch
    a, l_, c = (torch.from_numpy(v).cuda() for v in (att, lengths, cas))

    def run():
        out = wtal_hamnet(a, l_, c, pair_video, xp=torch)
        torch.cuda.synchronize()
        return out

    got = run()
    np.testing.assert_allclose(np.sort(got.cpu().numpy()), np.sort(wtal_hamnet(att, lengths, cas, pair_video)),
                               rtol=1e-5, atol=1e-5)
    benchmark(run)
    _record(benchmark, "cc+oic-hamnet-thumos14", "wtal-cuda")


# --- BM-style x20 upsampling + sigma-25 smoothing ---------------------------------------------

def python_upsample_smooth(x, lengths):
    from scipy.interpolate import interp1d
    from scipy.ndimage import gaussian_filter1d

    out = []
    for n, L in enumerate(lengths):
        f = interp1d(np.arange(L), x[n, :L], kind="linear", axis=0, fill_value="extrapolate")
        out.append(gaussian_filter1d(f(np.arange(0, L, 1 / 20)), sigma=25))
    return out


def wtal_upsample_smooth(x, lengths):
    y, new = upsample_linear(x, lengths, 20, dtype=np.float64)
    return gaussian_smooth(y, new, 25.0)


@pytest.mark.benchmark(group="upsample20+smooth25")
def test_upsample_python(benchmark, batch):
    pytest.importorskip("scipy")
    att, lengths, *_ = batch
    ref = benchmark.pedantic(python_upsample_smooth, args=(att, lengths), rounds=3, iterations=1)
    got = wtal_upsample_smooth(att, lengths)
    for n, r in enumerate(ref):
        np.testing.assert_array_equal(got[n, : len(r)], r)
    _record(benchmark, "upsample20+smooth25", "python")


@pytest.mark.benchmark(group="upsample20+smooth25")
def test_upsample_wtal_cpu(benchmark, batch):
    att, lengths, *_ = batch
    benchmark(wtal_upsample_smooth, att, lengths)
    _record(benchmark, "upsample20+smooth25", "wtal-cpu")


@pytest.mark.benchmark(group="upsample20+smooth25")
def test_upsample_wtal_cuda(benchmark, batch):
    torch = _cuda_or_skip()
    att, lengths, *_ = batch
    a, l_ = torch.from_numpy(att).cuda(), torch.from_numpy(lengths).cuda()

    def run():
        y, new = upsample_linear(a, l_, 20, dtype=torch.float64)
        out = gaussian_smooth(y, new, 25.0)
        torch.cuda.synchronize()
        return out

    run()
    benchmark(run)
    _record(benchmark, "upsample20+smooth25", "wtal-cuda")


def test_report_ratios():
    """Prints python / wtal median ratios per group (run with -s)."""
    groups = sorted({g for g, _ in TIMES})
    lines = []
    for g in groups:
        base = TIMES.get((g, "python"))
        for name in ("wtal-cpu", "wtal-cuda"):
            t = TIMES.get((g, name))
            if base and t:
                lines.append(f"{g:28s} {name:10s} median {t * 1e3:9.3f} ms  python {base * 1e3:9.1f} ms  "
                             f"speed-up x{base / t:,.0f}")
    print("\n" + "\n".join(lines))
