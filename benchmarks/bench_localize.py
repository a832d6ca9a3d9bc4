"""End-to-end benchmarks of the wtal.localize profiles against the authors' Python pipelines.

Batches:
* THUMOS14-test-shaped: the 212 test videos with their real durations (tests/data/thumos14_reduced),
  T = round(duration * 25 / 16) snippets, 20 classes + background, HAM-Net's 10 thresholds. Inputs are
  random but shaped like trained-model outputs (tests/localize_oracles.py ``make_*``): smooth attention
  so runs are tens of snippets long, 1-3 classes per video pass the class threshold.
  FAC-Net uses the full T; BM uses DGAM's test resampling to max(min(T, 400), 50) snippets with
  ``seconds_per_snippet = 16 T / (25 T')`` per video.
* ActivityNet-1.3-validation-shaped: the 4,728 validation videos with features and their real
  durations (benchmarks/data/activitynet13_validation_durations.csv), 200 classes + background,
  HAM-Net profile with its ActivityNet setting (ratio 20). The batch is processed in chunks of 512
  videos of similar length (a padded [4728, 1165, 201] array would be 4.4 GB).
  **The Python oracle is run on a random subset of 150 videos only and its time is extrapolated** to
  the whole set by the ratio of snippets (reported as ``python (extrapolated)``).

Each group holds the oracle, wtal's CPU path and wtal's CUDA path (skipped without a GPU); the
ratios are printed by ``test_report_ratios`` (run with ``-s``). Results are checked against the
oracle before timing.

Run: ``PYTHONPATH=$PWD pytest benchmarks/bench_localize.py -s`` (``WTAL_BENCH_QUICK=1``: 30 THUMOS
videos, 300 ActivityNet videos).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import localize_oracles as O
from wtal.localize import BMLocalizeConfig, HamNetLocalizeConfig, localize_bm, localize_facnet, localize_hamnet

QUICK = os.environ.get("WTAL_BENCH_QUICK", "0") not in ("", "0", "false", "False")
TIMES: dict[tuple[str, str], float] = {}
NOTES: dict[str, str] = {}
CLASSES20 = [f"class_{i:02d}" for i in range(20)]
CLASSES200 = [f"class_{i:03d}" for i in range(200)]
ANET_CHUNK = 512
ANET_ORACLE_VIDEOS = 150


def _record(benchmark, group, name):
    TIMES[(group, name)] = benchmark.stats.stats.median


def _cuda_or_skip():
    torch = pytest.importorskip("torch")
    import wtal.ops

    if not (torch.cuda.is_available() and wtal.ops.cuda_available()):
        pytest.skip("needs a CUDA device and a CUDA build of wtal")
    return torch


def _to_cuda(torch, arrays):
    return [torch.from_numpy(np.ascontiguousarray(a)).cuda() for a in arrays]


# --- THUMOS14-shaped inputs ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def thumos():
    names, T = O.thumos14_test_lengths()
    if QUICK:
        names, T = names[:30], T[:30]
    cas, att = O.make_hamnet_batch(T, 20, seed=0)
    return names, T, cas, att


@pytest.mark.benchmark(group="hamnet-thumos14")
def test_hamnet_thumos_python(benchmark, thumos):
    names, T, cas, att = thumos
    rows = benchmark.pedantic(O.hamnet_oracle, args=(cas, att, T, names, CLASSES20, 0.64), rounds=1,
                              iterations=1)
    det = localize_hamnet(cas, att, T, videos=names, classes=CLASSES20, seconds_per_snippet=0.64)
    O.assert_same_detections(det, rows)
    NOTES["hamnet-thumos14"] = f"{len(det)} detections"
    _record(benchmark, "hamnet-thumos14", "python")


@pytest.mark.benchmark(group="hamnet-thumos14")
def test_hamnet_thumos_wtal_cpu(benchmark, thumos):
    names, T, cas, att = thumos
    benchmark.pedantic(localize_hamnet, args=(cas, att, T),
                       kwargs=dict(videos=names, classes=CLASSES20, seconds_per_snippet=0.64),
                       rounds=15, iterations=1, warmup_rounds=1)
    _record(benchmark, "hamnet-thumos14", "wtal-cpu")


@pytest.mark.benchmark(group="hamnet-thumos14")
def test_hamnet_thumos_wtal_cuda(benchmark, thumos):
    torch = _cuda_or_skip()
    names, T, cas, att = thumos
    c, a, l_ = _to_cuda(torch, (cas, att, T))
    kw = dict(videos=names, classes=CLASSES20, seconds_per_snippet=0.64)
    O.assert_same_detections(localize_hamnet(c, a, l_, **kw), O.rows_of(localize_hamnet(cas, att, T, **kw)))
    benchmark.pedantic(localize_hamnet, args=(c, a, l_), kwargs=kw, rounds=15, iterations=1, warmup_rounds=1)
    _record(benchmark, "hamnet-thumos14", "wtal-cuda")


@pytest.fixture(scope="module")
def thumos_facnet(thumos):
    names, T, *_ = thumos
    cr, vr = O.make_facnet_stream(T, 20, seed=1)
    cf, vf = O.make_facnet_stream(T, 20, seed=2)
    return names, T, cr, vr, cf, vf


@pytest.mark.benchmark(group="facnet-thumos14")
def test_facnet_thumos_python(benchmark, thumos_facnet):
    names, T, cr, vr, cf, vf = thumos_facnet
    rows = benchmark.pedantic(O.facnet_oracle, args=(cr, vr, cf, vf, T, names, CLASSES20, 0.64), rounds=1,
                              iterations=1)
    det = localize_facnet(cr, vr, cf, vf, T, videos=names, classes=CLASSES20, seconds_per_snippet=0.64)
    O.assert_same_detections(det, rows)
    NOTES["facnet-thumos14"] = f"{len(det)} detections"
    _record(benchmark, "facnet-thumos14", "python")


@pytest.mark.benchmark(group="facnet-thumos14")
def test_facnet_thumos_wtal_cpu(benchmark, thumos_facnet):
    names, T, cr, vr, cf, vf = thumos_facnet
    benchmark.pedantic(localize_facnet, args=(cr, vr, cf, vf, T),
                       kwargs=dict(videos=names, classes=CLASSES20, seconds_per_snippet=0.64),
                       rounds=10, iterations=1, warmup_rounds=1)
    _record(benchmark, "facnet-thumos14", "wtal-cpu")


@pytest.mark.benchmark(group="facnet-thumos14")
def test_facnet_thumos_wtal_cuda(benchmark, thumos_facnet):
    torch = _cuda_or_skip()
    names, T, *arrays = thumos_facnet
    g = _to_cuda(torch, (*arrays, T))
    kw = dict(videos=names, classes=CLASSES20, seconds_per_snippet=0.64)
    O.assert_same_detections(localize_facnet(*g, **kw), O.rows_of(localize_facnet(*arrays, T, **kw)))
    benchmark.pedantic(localize_facnet, args=tuple(g), kwargs=kw, rounds=10, iterations=1, warmup_rounds=1)
    _record(benchmark, "facnet-thumos14", "wtal-cuda")


@pytest.fixture(scope="module")
def thumos_bm(thumos):
    names, T, *_ = thumos
    Tbm = np.maximum(np.minimum(T, 400), 50)          # DGAM's test resampling
    sps = 16.0 * T / (25.0 * Tbm)
    return names, Tbm, sps, O.make_bm_batch(Tbm, 20, seed=3)


@pytest.mark.benchmark(group="bm-thumos14")
def test_bm_thumos_python(benchmark, thumos_bm):
    names, Tbm, sps, arrays = thumos_bm
    rows = benchmark.pedantic(O.bm_oracle, args=(*arrays, Tbm, names, CLASSES20, sps), rounds=1, iterations=1)
    det = localize_bm(*arrays, Tbm, videos=names, classes=CLASSES20, seconds_per_snippet=sps)
    O.assert_same_detections(det, rows)
    NOTES["bm-thumos14"] = f"{len(det)} detections"
    _record(benchmark, "bm-thumos14", "python")


@pytest.mark.benchmark(group="bm-thumos14")
def test_bm_thumos_wtal_cpu(benchmark, thumos_bm):
    names, Tbm, sps, arrays = thumos_bm
    benchmark.pedantic(localize_bm, args=(*arrays, Tbm),
                       kwargs=dict(videos=names, classes=CLASSES20, seconds_per_snippet=sps, config=BMLocalizeConfig()),
                       rounds=10, iterations=1, warmup_rounds=1)
    _record(benchmark, "bm-thumos14", "wtal-cpu")


@pytest.mark.benchmark(group="bm-thumos14")
def test_bm_thumos_wtal_cuda(benchmark, thumos_bm):
    torch = _cuda_or_skip()
    names, Tbm, sps, arrays = thumos_bm
    g = _to_cuda(torch, (*arrays, Tbm))
    kw = dict(videos=names, classes=CLASSES20, seconds_per_snippet=sps)
    O.assert_same_detections(localize_bm(*g, **kw), O.rows_of(localize_bm(*arrays, Tbm, **kw)))
    benchmark.pedantic(localize_bm, args=tuple(g), kwargs=kw, rounds=10, iterations=1, warmup_rounds=1)
    _record(benchmark, "bm-thumos14", "wtal-cuda")


# --- ActivityNet-1.3-shaped inputs (HAM-Net profile, ActivityNet setting) -------------------------

@pytest.fixture(scope="module")
def anet():
    names, T = O.activitynet13_validation_lengths()
    if QUICK:
        names, T = names[:300], T[:300]
    order = np.argsort(T, kind="stable")
    chunks = []
    for i, start in enumerate(range(0, len(order), ANET_CHUNK)):
        idx = order[start:start + ANET_CHUNK]
        cas, att = O.make_hamnet_batch(T[idx], 200, seed=100 + i, present=(1, 2))
        chunks.append(([names[j] for j in idx], T[idx], cas, att))
    return names, T, chunks


def _anet_wtal(chunks, cfg, to=None):
    out = []
    for names, T, cas, att in chunks:
        args = (cas, att, T) if to is None else to((cas, att, T))
        out.append(localize_hamnet(*args, videos=names, classes=CLASSES200, seconds_per_snippet=0.64, config=cfg))
    return out


@pytest.mark.benchmark(group="hamnet-anet13")
def test_hamnet_anet_python_subset(benchmark, anet):
    names, T, chunks = anet
    rng = np.random.default_rng(0)
    # a random subset of videos taken from the chunks (the same inputs wtal sees)
    pick = []
    for ci, (_, Tc, _, _) in enumerate(chunks):
        for j in range(len(Tc)):
            pick.append((ci, j))
    sel = [pick[i] for i in sorted(rng.choice(len(pick), size=min(ANET_ORACLE_VIDEOS, len(pick)), replace=False))]
    Ts = np.array([chunks[c][1][j] for c, j in sel])
    Tm = int(Ts.max())
    cas = np.zeros((len(sel), Tm, 201), np.float32)
    att = np.zeros((len(sel), Tm), np.float32)
    vn = []
    for r, (c, j) in enumerate(sel):
        cas[r, :Ts[r]] = chunks[c][2][j, :Ts[r]]
        att[r, :Ts[r]] = chunks[c][3][j, :Ts[r]]
        vn.append(chunks[c][0][j])
    rows = benchmark.pedantic(O.hamnet_oracle, args=(cas, att, Ts, vn, CLASSES200, 0.64), kwargs=dict(rat=20),
                              rounds=1, iterations=1)
    det = localize_hamnet(cas, att, Ts, videos=vn, classes=CLASSES200, seconds_per_snippet=0.64,
                          config=HamNetLocalizeConfig.activitynet())
    O.assert_same_detections(det, rows)
    factor = float(T.sum()) / float(Ts.sum())
    TIMES[("hamnet-anet13", "python (extrapolated)")] = benchmark.stats.stats.median * factor
    NOTES["hamnet-anet13"] = (f"oracle run on {len(sel)} videos ({int(Ts.sum())} snippets), time x{factor:.1f} "
                              f"(snippet ratio) to {len(T)} videos")


@pytest.mark.benchmark(group="hamnet-anet13")
def test_hamnet_anet_wtal_cpu(benchmark, anet):
    _, _, chunks = anet
    out = benchmark.pedantic(_anet_wtal, args=(chunks, HamNetLocalizeConfig.activitynet()), rounds=2, iterations=1,
                             warmup_rounds=0)
    NOTES["hamnet-anet13"] = NOTES.get("hamnet-anet13", "") + f"; {sum(len(d) for d in out)} detections"
    _record(benchmark, "hamnet-anet13", "wtal-cpu")


@pytest.mark.benchmark(group="hamnet-anet13")
def test_hamnet_anet_wtal_cuda(benchmark, anet):
    torch = _cuda_or_skip()
    _, _, chunks = anet
    gpu = [tuple(_to_cuda(torch, (cas, att, T))) for _, T, cas, att in chunks]
    cfg = HamNetLocalizeConfig.activitynet()

    def run():
        out = [localize_hamnet(c, a, l_, videos=chunks[i][0], classes=CLASSES200, seconds_per_snippet=0.64,
                               config=cfg) for i, (c, a, l_) in enumerate(gpu)]
        torch.cuda.synchronize()
        return out

    cpu0 = _anet_wtal(chunks[:1], cfg)[0]
    O.assert_same_detections(run()[0], O.rows_of(cpu0))
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    _record(benchmark, "hamnet-anet13", "wtal-cuda")


def test_report_ratios():
    """Prints python / wtal and wtal-cpu / wtal-cuda median ratios per group (run with -s)."""
    lines = []
    for g in sorted({g for g, _ in TIMES}):
        base_name = "python" if (g, "python") in TIMES else "python (extrapolated)"
        base = TIMES.get((g, base_name))
        cpu = TIMES.get((g, "wtal-cpu"))
        for name in ("wtal-cpu", "wtal-cuda"):
            t = TIMES.get((g, name))
            if base and t:
                lines.append(f"{g:16s} {name:9s} median {t * 1e3:10.2f} ms   {base_name} {base * 1e3:10.1f} ms   "
                             f"speed-up x{base / t:,.1f}")
        if cpu and (g, "wtal-cuda") in TIMES:
            lines.append(f"{g:16s} cuda vs cpu: x{cpu / TIMES[(g, 'wtal-cuda')]:,.1f}")
        if g in NOTES:
            lines.append(f"{g:16s} ({NOTES[g]})")
    print("\n" + "\n".join(lines))
