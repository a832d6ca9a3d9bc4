"""topk_pool and hybrid_attention_pool against eager PyTorch (as HAM-Net codes it) and torch.compile of it.

Run on a GPU:  ``pytest benchmarks/bench_pool.py`` (full grid) or ``WTAL_BENCH_QUICK=1 pytest ...``.
On a machine without CUDA the same benchmarks run on CPU tensors (label the numbers as CPU numbers).
``WTAL_BENCH_DEVICE=cpu|cuda`` forces a device; ``WTAL_BENCH_OUT=path.json`` writes the medians, ratios
and the bandwidth analysis of the largest case.

The compiled baseline is compiled once per (op, shape, direction): the full grid makes 76 static-shape
compilations, so select a subset with ``-k`` (e.g. ``-k "hybrid and B64T2000C201"``) when time is short.

Each (op, direction, shape) is one pytest-benchmark group holding wtal, eager and compiled rows. GPU
timings synchronise after every call (so they include launch overhead, like a training step does).
"""
from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")

import wtal.ops as ops  # noqa: E402
from test_hybrid_attention_pool import authors_hybrid, make_hybrid  # noqa: E402
from test_topk_pool import authors_topk_mean, make_x  # noqa: E402

DEVICE = os.environ.get("WTAL_BENCH_DEVICE") or ("cuda" if torch.cuda.is_available() and ops.cuda_available() else "cpu")
QUICK = os.environ.get("WTAL_BENCH_QUICK", "0") not in ("", "0", "false", "False")
RATIO = 10
GAMMA = 0.2

if QUICK:
    SHAPES = [(4, 100, 21), (16, 500, 21)]
else:
    SHAPES = [(20, 500, 21)] + [(B, T, C) for B in (16, 64) for T in (500, 750, 2000) for C in (21, 101, 201)]
LARGEST = max(SHAPES, key=lambda s: s[0] * s[1] * s[2])
IMPLS = ["wtal", "eager", "compile"]
_MEDIANS: dict[tuple, float] = {}


def _sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def _wtal_topk(x):
    return ops.topk_pool(x, ratio=RATIO)


def _wtal_hybrid(cas, att):
    return ops.hybrid_attention_pool(cas, att, gamma=GAMMA, ratio=RATIO)


def _eager_hybrid(cas, att):
    return authors_hybrid(cas, att, gamma=GAMMA, ratio=RATIO)


def _eager_topk(x):
    return authors_topk_mean(x, RATIO)


_COMPILED: dict[str, object] = {}


def _impl(op: str, impl: str, key: tuple):
    fns = {("topk", "wtal"): _wtal_topk, ("topk", "eager"): _eager_topk,
           ("hybrid", "wtal"): _wtal_hybrid, ("hybrid", "eager"): _eager_hybrid}
    if impl != "compile":
        return fns[(op, impl)]
    # one static-shape compilation per (op, shape, direction); dynamo's per-function recompile limit
    # would otherwise silently fall back to eager after 8 shapes
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 256)
    torch._dynamo.config.accumulated_cache_size_limit = max(torch._dynamo.config.accumulated_cache_size_limit, 1024)
    if key not in _COMPILED:
        _COMPILED[key] = torch.compile(fns[(op, "eager")], dynamic=False)
    return _COMPILED[key]


def _inputs(op: str, shape, requires_grad: bool):
    B, T, C = shape
    if op == "topk":
        x = make_x(B, T, C, dtype=torch.float32, seed=0, device=DEVICE)
        return (x.requires_grad_(requires_grad),)
    cas, att = make_hybrid(B, T, C, dtype=torch.float32, seed=0, device=DEVICE)
    return cas.requires_grad_(requires_grad), att.requires_grad_(requires_grad)


def _step(fn, inputs, backward: bool):
    if not backward:
        def run():
            with torch.no_grad():
                fn(*inputs)
            _sync()
        return run

    def run():
        outs = fn(*inputs)
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        torch.autograd.backward(outs, [torch.ones_like(o) for o in outs])
        for t in inputs:
            t.grad = None
        _sync()
    return run


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("direction", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B%dT%dC%d" % s)
@pytest.mark.parametrize("op", ["topk", "hybrid"])
def test_pool(benchmark, op, shape, direction, impl):
    benchmark.group = f"{op} {direction} {shape} {DEVICE}"
    inputs = _inputs(op, shape, direction == "fwd+bwd")
    run = _step(_impl(op, impl, (op, shape, direction)), inputs, direction == "fwd+bwd")
    for _ in range(3):  # warm-up (and compilation for the compiled baseline)
        run()
    rounds = 50 if DEVICE == "cuda" else 5
    benchmark.pedantic(run, rounds=rounds, iterations=1, warmup_rounds=2)
    _MEDIANS[(op, direction, shape, impl)] = benchmark.stats.stats.median
    benchmark.extra_info["device"] = DEVICE


def _copy_bandwidth(nbytes: int) -> float:
    """Device-to-device copy bandwidth (bytes read + written per second), median of 20 runs."""
    if DEVICE != "cuda":
        return float("nan")
    src = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    times = []
    for _ in range(25):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        dst.copy_(src)
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    times.sort()
    return 2 * nbytes / times[len(times) // 2]


def test_zz_summary():
    """Ratios (baseline / wtal) and the bandwidth analysis of the largest case; printed and saved."""
    if not _MEDIANS:
        pytest.skip("run together with test_pool")
    rows = []
    for (op, direction, shape, impl), t in sorted(_MEDIANS.items()):
        if impl != "wtal":
            continue
        e = _MEDIANS.get((op, direction, shape, "eager"))
        c = _MEDIANS.get((op, direction, shape, "compile"))
        rows.append(dict(op=op, direction=direction, shape=list(shape), device=DEVICE, wtal_s=t, eager_s=e,
                         compile_s=c, vs_eager=e / t if e else None, vs_compile=c / t if c else None))
    B, T, C = LARGEST
    cas_bytes = B * T * C * 4
    att_bytes = B * T * 4
    analysis = {}
    t_big = _MEDIANS.get(("hybrid", "fwd+bwd", LARGEST, "wtal"))
    if t_big:
        # floor: read cas + attention once, write both gradients once
        floor_bytes = 2 * (cas_bytes + att_bytes)
        # what the kernels move: fwd reads cas twice (row minima, selection); bwd reads cas, writes grad_cas
        moved_bytes = 4 * cas_bytes + 4 * att_bytes
        bw = _copy_bandwidth(cas_bytes)
        analysis = dict(shape=list(LARGEST), floor_bytes=floor_bytes, moved_bytes=moved_bytes, time_s=t_big,
                        copy_bandwidth_Bps=bw, floor_time_s=floor_bytes / bw if bw == bw else None,
                        achieved_Bps=moved_bytes / t_big,
                        achieved_fraction_of_copy_bw=(moved_bytes / t_big) / bw if bw == bw else None,
                        times_floor=t_big / (floor_bytes / bw) if bw == bw else None)
    print()
    for r in rows:
        ve = f"{r['vs_eager']:.2f}x" if r["vs_eager"] else "-"
        vc = f"{r['vs_compile']:.2f}x" if r["vs_compile"] else "-"
        print(f"{r['op']:6s} {r['direction']:7s} {str(tuple(r['shape'])):16s} {DEVICE}: wtal {r['wtal_s'] * 1e3:9.3f} ms"
              f"  vs eager {ve:>8s}  vs compile {vc:>8s}")
    if analysis:
        print("largest case:", json.dumps(analysis))
    out = os.environ.get("WTAL_BENCH_OUT")
    if out:
        from wtal._atomic import atomic_write_text

        atomic_write_text(out, json.dumps(dict(rows=rows, largest=analysis), indent=1))
