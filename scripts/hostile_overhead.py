"""Time the hot paths the hardening touched, so that two wtal trees can be compared as a ratio.

    PYTHONPATH=/path/to/old/tree python scripts/hostile_overhead.py --json old.json
    PYTHONPATH=$PWD python scripts/hostile_overhead.py --json new.json --compare old.json

Paths: detection_map on 1M predictions (dense video ids, the evaluator's case), oic_scores on a
[512, 2000] CAS, load_npy of a 200-video object-array features file (the W-TALC reader's unpickler).
Medians of --repeat runs; run both trees on the same machine, one after the other.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np


def _median_time(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json")
    ap.add_argument("--compare", help="a --json file of another tree: print new/old ratios")
    args = ap.parse_args()
    from wtal._ext import _C
    from wtal.safe_npy import load_npy

    rng = np.random.default_rng(0)
    G, N, V, C = 20000, 1_000_000, 2000, 20
    gv = rng.integers(0, V, G).astype(np.int64)
    gl = (np.arange(G) % C).astype(np.int64)
    gs = rng.uniform(0, 200, G)
    ge = gs + rng.uniform(1, 20, G)
    pv = rng.integers(0, V, N).astype(np.int64)
    pl = rng.integers(0, C, N).astype(np.int64)
    ps = rng.uniform(0, 200, N)
    pe = ps + rng.uniform(1, 20, N)
    sc = rng.random(N)
    thr = np.linspace(0.1, 0.9, 9)
    cas = rng.random((512, 2000))
    S = 200_000
    rows = rng.integers(0, 512, S).astype(np.int64)
    starts = rng.integers(0, 1990, S).astype(np.int64)
    ends = starts + rng.integers(1, 10, S)
    res: dict[str, float] = {}
    res["detection_map_1M"] = _median_time(
        lambda: _C.detection_map(gv, gl, gs, ge, pv, pl, ps, pe, sc, None, thr, C, V), args.repeat)
    res["oic_scores_200k"] = _median_time(
        lambda: _C.oic_scores(cas.reshape(-1), np.arange(512, dtype=np.int64) * 2000, np.full(512, 2000, np.int64),
                              rows, starts, ends, 0, 0.25, 1.0), args.repeat)
    with tempfile.TemporaryDirectory() as d:
        feats = np.empty(200, dtype=object)
        for i in range(200):
            feats[i] = rng.random((300, 2048), dtype=np.float32)
        p = os.path.join(d, "feats.npy")
        np.save(p, feats, allow_pickle=True)
        res["load_npy_features_500MB"] = _median_time(lambda: load_npy(p), max(1, args.repeat // 2))
    for k, v in res.items():
        print(f"{k}: {v * 1e3:.1f} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if args.compare:
        old = json.load(open(args.compare))
        for k, v in res.items():
            if k in old:
                print(f"{k}: new / old = {v / old[k]:.2f}")


if __name__ == "__main__":
    main()
