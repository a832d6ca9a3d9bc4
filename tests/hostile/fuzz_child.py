"""Hypothesis fuzz of every ``wtal._C`` function, run as a child process by test_fuzz_bindings.py.

Each function gets a strategy that draws arbitrary integers (values near 2**31, 2**63, negatives),
odd arrays (wrong dtype, rank, strides, empty, NaN/inf, huge ids) and sometimes non-arrays, mixed with
arguments that are consistent enough to reach the kernels. Any Python exception is an acceptable
answer; the child must not die. Before every call the function name and arguments are written to the
log file, so a crash names the call that caused it. SystemError (a C-API contract broken inside a
binding) is reported as a failure.

    python tests/hostile/fuzz_child.py --examples 25 --log /tmp/fuzz.log [--function NAME] [--seed S]
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
from typing import Any, Callable

import numpy as np
from hypothesis import HealthCheck, given, seed as hyp_seed, settings
from hypothesis import strategies as st

from wtal._ext import _C

# ------------------------------------------------------------------------------------------------
# building blocks

SPECIAL_INTS = [0, 1, 2, 3, -1, -2, 2**31 - 1, 2**31, -(2**31), 2**32, 2**32 + 1, 2**53, 2**62, 2**63 - 1,
                -(2**63), 2**63 - 2, 2**40, -(2**62)]
BEYOND_INT64 = [2**63, 2**64, -(2**63) - 1, 2**70]


def _mix(small: st.SearchStrategy[int], special: list[int]) -> st.SearchStrategy[int]:
    # mostly values that pass the argument checks (to reach the kernels), often the dangerous ones,
    # sometimes any int64 and rarely one that no C++ int64 can hold
    return st.integers(0, 99).flatmap(
        lambda r: small if r < 65 else st.sampled_from(special) if r < 90
        else st.integers(-(2**63), 2**63 - 1) if r < 97 else st.sampled_from(BEYOND_INT64))


def ints(lo: int = -3, hi: int = 12) -> st.SearchStrategy[int]:
    """An int argument: small, near 2**31 / 2**63, negative, or beyond int64."""
    return _mix(st.integers(lo, hi), SPECIAL_INTS)


def cint(lo: int = -2, hi: int = 4) -> st.SearchStrategy[int]:
    """A C ``int`` argument (thread counts, modes): small, or near and beyond 2**31."""
    return st.integers(0, 99).flatmap(lambda r: st.integers(lo, hi) if r < 85
                                      else st.sampled_from([2**31 - 1, -(2**31), 2**31, 2**63]))


def index(size: int) -> st.SearchStrategy[int]:
    """An index near a buffer of `size` elements, or a dangerous int."""
    return _mix(st.integers(-1, size + 1), SPECIAL_INTS)


FLOATS = st.integers(0, 9).flatmap(
    lambda r: st.floats(-5, 5) if r < 6 else st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 1e308, -1e308,
                                                              5e-324, 1e-300, 3.4e38, 0.5, 1.0]))
JUNK = st.sampled_from([None, [], [1, 2], "ab", 3, 2.5, {}, object(), np.zeros(2, np.int32), np.zeros((2, 2)),
                        np.zeros(3, dtype=object), np.zeros(0, np.float32), np.zeros(5, np.int64)[::2]])
DTYPES = [np.float64, np.float32, np.int64, np.int32, np.uint64, np.bool_, np.float16, np.complex128, object]


@st.composite
def array(draw, dtype=np.float64, shape=None, values=None, odd: float = 0.06) -> Any:
    """An array of `dtype` and `shape` (drawn if None); with probability `odd` something else: another
    dtype, a non-contiguous view, a read-only view or a non-array."""
    if shape is None:
        shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=2)))
    if values is None:
        values = FLOATS if np.dtype(dtype).kind in "fc" else ints()
    n = int(np.prod(shape))
    flat = draw(st.lists(values, min_size=n, max_size=n))
    # 0 (hypothesis' simplest draw) is the plain array; the odd cases are the top `odd` fraction
    kind = 1.0 - draw(st.integers(0, 999)) / 1000
    if kind < odd / 3:
        return draw(JUNK)
    if kind < 2 * odd / 3:
        other = draw(st.sampled_from(DTYPES))
        try:
            return np.array(flat, dtype=object).astype(other).reshape(shape)
        except (ValueError, TypeError, OverflowError):
            return np.zeros(shape, dtype=other)
    a = _fill(flat, dtype, shape)
    if kind < odd:
        # a strided view: every second element of a twice-as-long array
        big = np.repeat(a.reshape(-1), 2) if a.size else np.zeros(2, a.dtype)
        view = big[::2][: a.size]
        return view.reshape(shape) if len(shape) == 1 else view
    if kind < odd * 1.2:
        a.setflags(write=False)
    return a


def _fill(flat, dtype, shape) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        flat = [min(max(int(v), info.min), info.max) for v in flat]
    return np.array(flat, dtype=dt).reshape(shape)


def i64(n: int, size: int = 8, odd: float = 0.06):
    return array(np.int64, (n,), index(size), odd)


def f64(n: int, odd: float = 0.06):
    return array(np.float64, (n,), FLOATS, odd)


def maybe(strategy, p_none: float = 0.3):
    return st.one_of(st.just(None), strategy) if p_none else strategy


# ------------------------------------------------------------------------------------------------
# one strategy per binding: (args tuple, kwargs dict)

STRATEGIES: dict[str, Callable[[], st.SearchStrategy]] = {}


def strategy(name: str):
    def deco(fn):
        STRATEGIES[name] = fn
        return fn

    return deco


def call(*args, **kwargs):
    return args, kwargs


@strategy("build_info")
@strategy("cuda_status")
@strategy("cuda_device_count")
def _no_args():
    return st.one_of(st.just(call()), st.builds(call, ints()))


@strategy("cuda_synchronize")
def _sync():
    return st.builds(call, st.one_of(cint(), JUNK))


@strategy("connected_components")
@st.composite
def _cc(draw):
    S = draw(st.integers(0, 12))
    N = draw(st.integers(0, 4))
    M = draw(st.integers(0, 3))
    return call(draw(array(draw(st.sampled_from([np.float64, np.float32])), (S,))), draw(i64(N, S)),
                draw(i64(N, S)), draw(f64(M)), draw(ints()), draw(st.booleans()), draw(cint()))


@strategy("connected_components_cuda_temp_bytes")
def _cc_temp():
    return st.builds(call, ints())


STRATEGIES["connected_components_cuda_count"] = lambda: _launcher(16, (2, 3, 6, 8, 9))()
STRATEGIES["connected_components_cuda_fill"] = lambda: _launcher(16, (4, 6, 7))()


@st.composite
def _dm_valid(draw):
    """Arguments that pass every check (so the kernel runs), with hostile values where they are legal:
    NaN/inf times and scores, ties, sparse huge video ids, many thresholds."""
    C = draw(st.integers(1, 3))
    G = draw(st.integers(C, 6))
    vids = draw(st.lists(st.sampled_from([0, 1, 2, 2**40, 2**62]), min_size=1, max_size=3, unique=True))
    V = max(vids) + 1 + draw(st.sampled_from([0, 0, 5, 2**62 - max(vids)]))
    N = draw(st.integers(0, 8))
    gv = np.array(draw(st.lists(st.sampled_from(vids), min_size=G, max_size=G)), np.int64)
    gl = np.array([i % C for i in range(G)], np.int64)
    pv = np.array(draw(st.lists(st.sampled_from(vids + [-1]), min_size=N, max_size=N)), np.int64)
    pl = np.array(draw(st.lists(st.integers(-1, C - 1), min_size=N, max_size=N)), np.int64)
    times = lambda n: np.array(draw(st.lists(FLOATS | st.sampled_from([0.0, 1.0, 2.0]), min_size=n, max_size=n)),
                               np.float64)  # noqa: E731
    order = draw(st.one_of(st.just(None), st.permutations(range(N)).map(lambda p: np.array(p, np.int64))))
    thr = np.array(draw(st.lists(st.floats(-0.5, 1.5) | FLOATS, min_size=1, max_size=70)), np.float64)
    group = [int(((gv == pv[r]) & (gl == pl[r])).sum()) for r in range(N)]  # GT of each row's (class, video)
    return call(gv, gl, times(G), times(G), pv, pl, times(N), times(N), times(N), order, thr, C, V,
                match=draw(st.sampled_from(["best", "first"])), candidate_ties_later_first=draw(st.booleans()),
                ap=draw(st.sampled_from(["interpolated", "noninterpolated"])), discrete=draw(st.booleans()),
                nan_score_first=draw(st.booleans()), score_ties_later_first=draw(st.booleans()),
                num_threads=draw(cint()), wide_indices=draw(st.booleans()), **draw(_dm_extras(group)))


@st.composite
def _dm_extras(draw, group: list[int]):
    """The extras keywords: return flags and candidate_orders, mostly consistent with the rows' GT groups
    (`group[r]`: the number of GT of row r's class and video) so the kernel applies them, often broken:
    junk instead of the tuple or of one of its arrays, wrong lengths, non-permutations, rows out of
    order or range, offsets that do not add up, dangerous ints anywhere."""
    kw = dict(return_candidate_ties=draw(st.booleans()), return_matches=draw(st.booleans()))
    entry = lambda size: index(size).map(lambda v: min(max(v, -(2**63)), 2**63 - 1))  # noqa: E731 -- int64
    r = draw(st.integers(0, 9))
    if r < 3:
        return kw
    if r == 3:
        kw["candidate_orders"] = draw(st.one_of(JUNK, st.just(()), st.just([np.zeros(0, np.int64)] * 3),
                                                st.tuples(*[i64(draw(st.integers(0, 3)))] * 2),
                                                st.tuples(*[i64(draw(st.integers(0, 3)))] * 4)))
        return kw
    N = len(group)
    rows = sorted(draw(st.sets(st.integers(0, N - 1), max_size=N))) if N else []
    perms = [list(draw(st.permutations(range(group[row])))) for row in rows]
    if r in (4, 5) and rows:  # consistent offsets, but one row's order has the wrong length or entries
        q = perms[draw(st.integers(0, len(rows) - 1))]
        how = draw(st.sampled_from(["shorter", "longer", "repeat", "value"]))
        if how == "shorter" and q:
            q.pop()
        elif how == "longer" or not q:
            q.append(draw(entry(len(q))))
        elif how == "repeat" and len(q) > 1:
            q[-1] = q[0]
        else:
            q[draw(st.integers(0, len(q) - 1))] = draw(entry(len(q)))
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([len(q) for q in perms], out=offsets[1:])
    parts = [np.array(rows, np.int64), offsets, np.array([j for q in perms for j in q], np.int64)]
    if r >= 8:  # one corruption of the triple's structure
        k = draw(st.integers(0, 2))
        a = parts[k]
        how = draw(st.sampled_from(["value", "drop", "extra", "swap", "junk", "dtype"]))
        if how == "value" and len(a):
            a = a.copy()
            a[draw(st.integers(0, len(a) - 1))] = draw(entry(max(N, 4)))
        elif how == "drop" and len(a):
            a = a[:-1].copy()
        elif how == "extra":
            a = np.append(a, np.int64(draw(entry(max(N, 4)))))
        elif how == "swap" and len(a) > 1:
            a = a[::-1].copy()
        elif how == "junk":
            a = draw(JUNK)
        elif how == "dtype":
            a = a.astype(draw(st.sampled_from([np.int32, np.float64, np.uint64])))
        parts[k] = a
    kw["candidate_orders"] = tuple(parts) if draw(st.integers(0, 19)) else list(parts)
    return kw


@strategy("detection_map")
def _dm():
    return st.one_of(_dm_valid(), _dm_any())


@st.composite
def _dm_any(draw):
    G = draw(st.integers(0, 5))
    N = draw(st.integers(0, 6))
    C = draw(st.one_of(st.integers(0, 3), ints()))
    V = draw(st.one_of(st.integers(0, 4), ints()))
    order = draw(st.integers(0, 9).flatmap(
        lambda r: st.just(None) if r < 5 else st.permutations(range(N)).map(lambda p: np.array(p, np.int64)) if r < 8
        else i64(N, N) if r < 9 else JUNK))
    thr = draw(array(np.float64, (draw(st.integers(0, 70)),), st.floats(-0.5, 1.5) | FLOATS, 0.1))
    return call(draw(i64(G, 4)), draw(i64(G, 3)), draw(f64(G)), draw(f64(G)), draw(i64(N, 4)), draw(i64(N, 3)),
                draw(f64(N)), draw(f64(N)), draw(f64(N)), order, thr, C, V,
                match=draw(st.sampled_from(["best", "first", "best", "first", "x"])),
                candidate_ties_later_first=draw(st.booleans()),
                ap=draw(st.sampled_from(["interpolated", "noninterpolated", "interpolated", ""])),
                discrete=draw(st.booleans()),
                nan_score_first=draw(st.booleans()), score_ties_later_first=draw(st.booleans()),
                num_threads=draw(cint()), wide_indices=draw(st.booleans()),
                **draw(_dm_extras(draw(st.lists(st.integers(0, 3), min_size=N, max_size=N)))))


@strategy("factorize")
@st.composite
def _factorize(draw):
    n = draw(st.integers(0, 6))
    kind = draw(st.sampled_from(["obj", "str", "bytes", "int", "float", "void0", "2d", "odd"]))
    if kind == "obj":
        vals = draw(st.lists(st.sampled_from(["a", "b", 1, 2, None, 2.5, (1,), b"x"]), min_size=n, max_size=n))
        a = np.empty(n, dtype=object)
        a[:] = vals if n else a
        return call(a)
    if kind == "str":
        return call(np.array(draw(st.lists(st.text(max_size=3), min_size=n, max_size=n)) or [""], dtype=str)[:n])
    if kind == "bytes":
        return call(np.array(draw(st.lists(st.binary(max_size=3), min_size=n, max_size=n)) or [b""], dtype="S")[:n])
    if kind == "void0":
        return call(np.zeros(n, dtype="V0"))
    if kind == "2d":
        return call(np.zeros((2, n)))
    return call(draw(array(np.int64 if kind == "int" else np.float64, (n,), odd=0.5)))


@strategy("pairwise_sum")
def _psum():
    return st.builds(call, array(np.float64, None, FLOATS, 0.3))


@strategy("first_non_finite")
@st.composite
def _finite(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=4)))
    return call(draw(array(draw(st.sampled_from([np.float32, np.float64])), shape)),
                draw(i64(shape[0], shape[1] if len(shape) > 1 else 2)))


@strategy("gaussian_smooth")
@st.composite
def _smooth(draw):
    N, T = draw(st.integers(0, 3)), draw(st.integers(0, 6))
    K = draw(st.integers(0, 9))
    return call(draw(array(draw(st.sampled_from([np.float32, np.float64])), (N, T))), draw(i64(N, T)),
                draw(f64(K)), draw(cint()))


@strategy("upsample_linear")
@st.composite
def _upsample(draw):
    N, T = draw(st.integers(0, 3)), draw(st.integers(0, 6))
    scale = draw(st.one_of(st.integers(-2, 70), st.sampled_from(SPECIAL_INTS)))
    return call(draw(array(draw(st.sampled_from([np.float32, np.float64])), (N, T))), draw(i64(N, T)), scale,
                draw(st.booleans()), draw(cint()))


@strategy("upsampled_length")
def _up_len():
    return st.builds(call, ints(), st.one_of(ints(), st.integers(1, 100)))


@strategy("nms")
@st.composite
def _nms(draw):
    n = draw(st.integers(0, 6))
    dt = draw(st.sampled_from([np.float32, np.float64]))
    segs = draw(array(dt, (n, 2), FLOATS | st.floats(-10, 10)))
    groups = draw(st.integers(0, 9).flatmap(lambda r: st.just(None) if r < 3 else i64(n, 3) if r < 7 else JUNK if r < 8
                                            else st.lists(ints(), min_size=n, max_size=n)))
    min_score = draw(st.sampled_from([None, None, "x", 0.0, 0.5]) | FLOATS)
    return call(segs, draw(array(dt, (n,))), groups, draw(cint(-1, 3)), draw(cint(-1, 3)), draw(FLOATS),
                draw(FLOATS), min_score, draw(ints()), draw(st.booleans()), draw(st.booleans()), draw(FLOATS),
                draw(cint()), draw(st.booleans()))


@strategy("nms_cuda")
@st.composite
def _nms_cuda(draw):
    ptr = st.just(0)
    return call(draw(ptr), draw(ptr), draw(st.booleans()), draw(ptr), draw(ptr), draw(_invalid_size()),
                draw(cint(-1, 3)), draw(cint(-1, 3)), draw(FLOATS), draw(FLOATS), None, draw(ints()),
                draw(st.booleans()), draw(st.booleans()), draw(FLOATS), *[0] * 5, 0, 0)


def _invalid_size():
    """A size the host-side checks must reject before any device pointer is touched (CUDA builds are
    fuzzed with null pointers, so only invalid sizes may reach them)."""
    return st.one_of(st.integers(-(2**63), -1), st.sampled_from([-1, -(2**31), -(2**63)]))


@st.composite
def _oic_valid(draw):
    """Rows and segments that pass every check, with hostile values: inf/NaN/1e308 in the rows, huge
    finite ratios, strides, scales."""
    stride = draw(st.sampled_from([1, 1, 2, 3]))
    R = draw(st.integers(1, 3))
    lens = [draw(st.integers(1, 6)) for _ in range(R)]
    S = stride * max(lens) * R + draw(st.integers(0, 2))
    starts = [r * stride * max(lens) for r in range(R)]
    dt = draw(st.sampled_from([np.float32, np.float64]))
    cas = np.array(draw(st.lists(FLOATS, min_size=S, max_size=S)), np.float64).astype(dt)
    K = draw(st.integers(1, 5))
    rows, s, e = [], [], []
    for _ in range(K):
        r = draw(st.integers(0, R - 1))
        a = draw(st.integers(0, lens[r] - 1))
        rows.append(r)
        s.append(a)
        e.append(draw(st.integers(a + 1, lens[r])))
    scale = scale_start = None
    if draw(st.booleans()):
        scale = np.array(draw(st.lists(FLOATS, min_size=sum(lens), max_size=sum(lens))), np.float64)
        scale_start = np.cumsum([0] + lens[:-1]).astype(np.int64)
    ratio = draw(st.sampled_from([0.0, 0.25, 1.0, 1e20, 1e300, 1.7e308]) | st.floats(0, 5))
    weight = draw(st.sampled_from([1.0, 0.6, 0.3, -2.0, 1e308]) | st.floats(-5, 5))
    i64a = lambda v: np.array(v, np.int64)  # noqa: E731
    return call(cas, i64a(starts), i64a(lens), i64a(rows), i64a(s), i64a(e), draw(st.integers(0, 2)), ratio, weight,
                draw(cint()), stride, scale, scale_start)


@strategy("oic_scores")
def _oic():
    return st.one_of(_oic_valid(), _oic_any())


@st.composite
def _oic_any(draw):
    S = draw(st.integers(0, 12))
    R = draw(st.integers(0, 3))
    K = draw(st.integers(0, 4))
    scaled = draw(st.booleans())
    scale = draw(array(draw(st.sampled_from([np.float32, np.float64])), (draw(st.integers(0, 10)),))) if scaled else None
    scale_start = draw(i64(R, 10)) if (scaled or draw(st.integers(0, 9)) == 0) else None
    return call(draw(array(draw(st.sampled_from([np.float32, np.float64])), (S,))), draw(i64(R, S)), draw(i64(R, S)),
                draw(i64(K, R)), draw(i64(K, S)), draw(i64(K, S)), draw(cint(-1, 3)), draw(FLOATS | st.floats(0, 3)),
                draw(FLOATS), draw(cint()), draw(_mix(st.integers(-1, 4), SPECIAL_INTS)), scale,
                scale_start)


@strategy("oic_scores_cuda_temp_bytes")
def _oic_temp():
    return st.builds(call, st.booleans(), ints(), ints())


@strategy("oic_scores_cuda")
@st.composite
def _oic_cuda(draw):
    sizes = [draw(ints()) for _ in range(3)]
    sizes[draw(st.integers(0, 2))] = draw(_invalid_size())
    return call(draw(st.booleans()), 0, sizes[0], sizes[1], 0, 0, 0, 0, sizes[2], draw(cint(-1, 3)), draw(FLOATS),
                draw(FLOATS), 0, 0, draw(ints()), 0, 0, 0)


_JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                      st.text(max_size=6), st.sampled_from(["NaN", "Infinity", "\ud800", "segment", "score"]))
_JSON = st.recursive(_JSON_LEAF, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=4), kids,
                                                                                            max_size=4), max_leaves=12)


@st.composite
def _results_doc(draw) -> bytes:
    """ActivityNet results-shaped JSON (the parser's column path) or any JSON, then maybe mutated."""
    row = st.fixed_dictionaries({"segment": st.lists(FLOATS | st.integers(-(2**64), 2**64), min_size=0, max_size=3),
                                 "label": st.one_of(st.text(max_size=3), st.integers(-(2**63) - 1, 2**63)),
                                 "score": FLOATS | st.text(max_size=2)})
    doc = draw(st.one_of(st.fixed_dictionaries({"results": st.dictionaries(st.text(max_size=3),
                                                                           st.lists(row, max_size=4), max_size=3)}),
                         _JSON))
    import json

    text = json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")
    cut = draw(st.integers(0, 3))
    if cut == 1 and text:
        text = text[: draw(st.integers(0, len(text) - 1))]  # truncated
    elif cut == 2:
        text = text + draw(st.binary(max_size=4))  # trailing garbage or invalid UTF-8
    elif cut == 3:
        text = b"[" * draw(st.sampled_from([199, 200, 201, 5000])) + text  # deep nesting
    return text


@strategy("parse_results_json")
@st.composite
def _parse_json(draw):
    data = draw(st.one_of(_results_doc(), st.binary(max_size=40), st.just(b""), JUNK,
                          st.just(memoryview(b"[1, 2, 3, 4]")[::2])))
    factory = draw(st.sampled_from([lambda a, b, c: (a, b, c), None, 5, lambda *a: 1 / 0]))
    return call(data, factory)


@strategy("feature_lcs")
@st.composite
def _lcs(draw):
    N, T, D = draw(st.integers(0, 3)), draw(st.integers(0, 6)), draw(st.integers(0, 5))
    P = draw(st.integers(0, 5))
    pairs = [draw(i64(P, max(T, 1) + 1)) for _ in range(5)]
    return call(draw(array(draw(st.sampled_from([np.float32, np.float64])), (N, T, D))), draw(i64(N, T + 1)),
                *pairs, draw(st.one_of(st.floats(-2, 2), st.just(float("nan")))), draw(cint()),
                draw(st.sampled_from(["auto", "portable", "avx2", "avx512", "nosuch"])), draw(st.booleans()),
                draw(st.booleans()))


@strategy("feature_lcs_isas")
def _lcs_isas():
    return st.one_of(st.just(call()), st.builds(call, ints()))


@strategy("segment_iou")
@st.composite
def _iou(draw):
    dt = draw(st.sampled_from([np.float32, np.float64]))
    n, m = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    return call(draw(array(dt, (n, draw(st.sampled_from([2, 2, 2, 3]))))), draw(array(dt, (m, 2))),
                draw(st.booleans()), draw(cint()))


@strategy("upsample_linear_cuda")
@st.composite
def _up_cuda(draw):
    sizes = [draw(ints()) for _ in range(4)]
    sizes[draw(st.integers(0, 3))] = draw(_invalid_size())
    return call(draw(cint(-1, 2)), draw(cint(-1, 2)), 0, 0, sizes[0], sizes[1], sizes[2], 0, sizes[3], 0, 0, 0)


@strategy("gaussian_smooth_cuda")
@st.composite
def _smooth_cuda(draw):
    sizes = [draw(ints()) for _ in range(3)]
    sizes[draw(st.integers(0, 2))] = draw(_invalid_size())
    return call(draw(st.booleans()), 0, 0, sizes[0], sizes[1], 0, sizes[2], 0, 0, 0)


def _pool_out(draw, shape, dtype, coherent):
    if coherent:
        return np.zeros(shape, dtype)
    return draw(array(draw(st.sampled_from([dtype, np.float32, np.int32, np.float64])),
                      tuple(draw(st.integers(0, 4)) for _ in shape), odd=0.3))


@strategy("topk_pool_forward_cpu")
@st.composite
def _topk_fwd(draw):
    B, T, C = (draw(st.integers(0, 3)) for _ in range(3))
    dt = draw(st.sampled_from([np.float32, np.float64]))
    coh = draw(st.booleans())
    return call(draw(array(dt, (B, T, C))), draw(maybe(i64(B, T))), draw(ints()), draw(ints()),
                _pool_out(draw, (B, C), dt, coh), _pool_out(draw, (B, C), dt, coh), _pool_out(draw, (B, C), np.int32, coh))


@strategy("topk_pool_backward_cpu")
@st.composite
def _topk_bwd(draw):
    B, T, C = (draw(st.integers(0, 3)) for _ in range(3))
    dt = draw(st.sampled_from([np.float32, np.float64]))
    coh = draw(st.booleans())
    cut_idx = draw(array(np.int32, (B, C), ints())) if coh else _pool_out(draw, (B, C), np.int32, False)
    return call(_pool_out(draw, (B, C), dt, coh), draw(array(dt, (B, T, C))), draw(maybe(i64(B, T))), draw(ints()),
                draw(ints()), _pool_out(draw, (B, C), dt, coh), cut_idx, _pool_out(draw, (B, T, C), dt, coh))


@strategy("scaled_topk_mean")
@st.composite
def _stm(draw):
    B, T, C = (draw(st.integers(0, 3)) for _ in range(3))
    return call(draw(array(draw(st.sampled_from([np.float32, np.float64])), (B, T, C))),
                draw(array(draw(st.sampled_from([np.float32, np.float64])), (B, T))), draw(i64(B, T)), draw(ints()))


@strategy("hybrid_attention_pool_forward_cpu")
@st.composite
def _hap_fwd(draw):
    B, T, C1 = (draw(st.integers(0, 3)) for _ in range(3))
    dt = draw(st.sampled_from([np.float32, np.float64]))
    coh = draw(st.booleans())
    return call(draw(array(dt, (B, T, C1))), draw(array(dt, (B, T))), draw(maybe(i64(B, T))), draw(FLOATS),
                draw(ints()), draw(st.booleans()), draw(cint(-1, 2)), _pool_out(draw, (4, B, C1), dt, coh),
                _pool_out(draw, (B,), dt, coh), _pool_out(draw, (4, B, C1), dt, coh),
                _pool_out(draw, (4, B, C1), np.int32, coh))


@strategy("hybrid_attention_pool_backward_cpu")
@st.composite
def _hap_bwd(draw):
    B, T, C1 = (draw(st.integers(0, 3)) for _ in range(3))
    dt = draw(st.sampled_from([np.float32, np.float64]))
    coh = draw(st.booleans())
    cut_idx = draw(array(np.int32, (4, B, C1), ints())) if coh else _pool_out(draw, (4, B, C1), np.int32, False)
    return call(_pool_out(draw, (4, B, C1), dt, coh), draw(array(dt, (B, T, C1))), draw(array(dt, (B, T))),
                draw(maybe(i64(B, T))), draw(ints()), draw(st.booleans()), _pool_out(draw, (B,), dt, coh),
                _pool_out(draw, (4, B, C1), dt, coh), cut_idx, _pool_out(draw, (B, T, C1), dt, coh),
                _pool_out(draw, (B, T), dt, coh))


def _launcher(n_args: int, size_slots: tuple[int, ...]):
    """A CUDA launcher call: null pointers, arbitrary sizes at `size_slots` of which one is invalid (so
    the host-side checks must refuse it before any pointer is used), a small int (dtype code, flag) first."""
    @st.composite
    def strat(draw):
        args = [0] * n_args
        for k in size_slots:
            args[k] = draw(ints())
        args[draw(st.sampled_from(size_slots))] = draw(_invalid_size())
        args[0] = draw(cint(-1, 4))
        return call(*args)

    return strat


STRATEGIES["topk_pool_forward_cuda"] = lambda: _launcher(13, (2, 3, 4))()
STRATEGIES["topk_pool_backward_cuda"] = lambda: _launcher(14, (3, 4, 5))()
STRATEGIES["hybrid_attention_pool_forward_cuda"] = lambda: _launcher(18, (3, 4, 5))()
STRATEGIES["hybrid_attention_pool_backward_cuda"] = lambda: _launcher(17, (4, 5, 6))()

# The crash classes of issue 13, always tried first (random draws find them only with many examples).
_I = lambda *v: np.array(v, np.int64)  # noqa: E731
_F = lambda *v: np.array(v, np.float64)  # noqa: E731
EXAMPLES: dict[str, list] = {
    "connected_components": [call(np.zeros(8), _I(2**62), _I(2**62), _F(0.5)),
                             call(np.zeros(8), _I(2**63 - 1), _I(1), _F(0.5)),
                             call(np.zeros(8), _I(3, 2**63 - 1), _I(3, 2**63 - 1), _F(0.5))],
    "oic_scores": [call(np.zeros(10), _I(0), _I(3), _I(0), _I(0), _I(1), 0, 0.25, 1.0, 0, 2**62),
                   call(np.zeros(10), _I(2**63 - 5), _I(2), _I(0), _I(0), _I(1), 0, 0.25, 1.0, 0, 3),
                   call(np.zeros(10), _I(0), _I(3), _I(0), _I(0), _I(1), 0, 0.25, 1.0, 0, 1, np.ones(4),
                        _I(2**63 - 1)),
                   call(np.arange(10.0), _I(0), _I(8), _I(0), _I(2), _I(4), 2, 1e300, 1.0),
                   call(np.full(8, 1e308), _I(0), _I(8), _I(0, 0), _I(0, 3), _I(2, 8), 1, 0.25, 1.0)],
    "detection_map": [call(_I(0), _I(0), _F(0), _F(1), _I(0), _I(0), _F(0), _F(1), _F(0.5), order, _F(0.5), 1, 1)
                      for order in (5, [0], "ab", {}, np.zeros(1), _I(2**62))]
    + [call(_I(0), _I(0), _F(0), _F(1), _I(0), _I(0), _F(0), _F(1), _F(0.5), None, _F(0.5), nc, nv)
       for nc, nv in ((1, 2**62), (2**40, 1), (1, 2**40))]
    + [call(_I(0, 0), _I(0, 0), _F(0, 0), _F(1, 1), _I(0), _I(0), _F(0), _F(1), _F(0.5), None, _F(0.5), 1, 1,
            candidate_orders=co, return_candidate_ties=True, return_matches=True)
       for co in ((), [_I(0), _I(0, 2), _I(1, 0)], (_I(0), _I(0, 2), _I(0, 2**62)), (_I(0), _I(0, 2), _I(1, 1)),
                  (_I(2**63 - 1), _I(0, 2), _I(1, 0)), (_I(0), _I(0, 2**62), _I(1, 0)), (_I(0), _I(-2, 2), _I(1, 0)),
                  (_I(0), _I(0, 2), None), (_I(0), _I(0, 1), _I(0)))],
    "upsampled_length": [call(2**62, 2**62), call(5, 0), call(5, -3), call(-5, 3), call(2**40, 2**40)],
    "upsample_linear": [call(np.zeros((2, 4)), _I(4, 4), 2**40), call(np.zeros((2, 4)), _I(4, 4), 2**62)],
    "nms": [call(np.array([[-1e308, 1e308], [0.0, 1.7e308]]), _F(0.9, 0.8), None, 0, 0, 0.5, 0.5, None, 0, True,
                 False, 0.0), call(np.zeros((2, 2)), _F(1, 1), [0, 1], 1, 1, 0.5, 1e-300, "x", 2**62, True, True, 0.0)],
    "factorize": [call(np.zeros(3, dtype="V0")), call(np.array([np.nan, np.nan, -0.0, 0.0]))],
}

VERBOSE = False

#: Module attributes that are not functions.
NOT_FUNCTIONS = {"cuda_compiled"}


def bindings() -> list[str]:
    """Every public callable of wtal._C."""
    return sorted(n for n in dir(_C) if not n.startswith("_") and callable(getattr(_C, n)))


# ------------------------------------------------------------------------------------------------


def fuzz(name: str, examples: int, log, seed: int | None, outcomes: collections.Counter) -> list[str]:
    fn = getattr(_C, name)
    failures: list[str] = []
    cfg = settings(max_examples=examples, deadline=None, database=None, derandomize=seed is None,
                   suppress_health_check=list(HealthCheck))

    @cfg
    @given(STRATEGIES[name]())
    def run(ca):
        args, kwargs = ca
        log.write(f"{name}{_short(args, kwargs)}\n")
        log.flush()
        try:
            fn(*args, **kwargs)
            outcomes[(name, "returned")] += 1
        except SystemError as exc:  # a binding broke the C-API contract: a bug even without a crash
            failures.append(f"{name}{_short(args, kwargs)}: SystemError: {exc}")
        except Exception as exc:  # noqa: BLE001 -- any exception is a fine answer to a hostile call
            outcomes[(name, type(exc).__name__)] += 1
            if VERBOSE and outcomes[(name, type(exc).__name__)] <= 3:
                print(f"  {name} {type(exc).__name__}: {str(exc)[:160]}")

    for args, kwargs in EXAMPLES.get(name, []):
        run.hypothesis.inner_test((args, kwargs))
    if seed is not None:
        run = hyp_seed(seed)(run)
    run()
    return failures


def _short(args, kwargs) -> str:
    with np.printoptions(threshold=20, edgeitems=3):
        s = repr(args) + (repr(kwargs) if kwargs else "")
    return s if len(s) < 2000 else s[:2000] + "..."


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=25)
    ap.add_argument("--log", required=True)
    ap.add_argument("--function", action="append")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--memory-limit-gib", type=float, default=3.0)
    ap.add_argument("--verbose", action="store_true", help="print the first messages of each exception type")
    args = ap.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    import faulthandler
    import resource

    faulthandler.enable()
    lim = int(args.memory_limit_gib * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    missing = [n for n in bindings() if n not in STRATEGIES]
    if missing:
        print(f"no fuzz strategy for {missing}", file=sys.stderr)
        return 3
    outcomes: collections.Counter = collections.Counter()
    failures: list[str] = []
    with open(args.log, "w") as log:
        for name in args.function or bindings():
            failures += fuzz(name, args.examples, log, args.seed, outcomes)
    by_fn: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for (fn, what), n in sorted(outcomes.items()):
        by_fn[fn][what] = n
    for fn, d in by_fn.items():
        print(f"{fn}: {d}")
    for f in failures:
        print("FAILURE", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
