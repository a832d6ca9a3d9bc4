"""feature_lcs against a plain Python LCS written from the definition (cosine > threshold, classic DP)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wtal._ext import _C
from wtal.ops import feature_lcs

ISAS = tuple(_C.feature_lcs_isas())  # e.g. ("avx512", "avx2", "portable"): every kernel this CPU can run


# ---------------------------------------------------------------------------------------------
# Reference.

def cosine(u: np.ndarray, v: np.ndarray, nu: float, nv: float) -> float:
    """cos(u, v) in float64 from the definition; 0 when either is a zero vector (nu, nv: their norms)."""
    if nu == 0.0 or nv == 0.0:
        return 0.0
    return float(np.dot(u, v)) / (nu * nv)


def reference_lcs(features, lengths, video, a_start, a_end, b_start, b_end, threshold, *, gaps=None):
    """[P] LCS lengths: for each pair, x = features[v, a_start:a_end], y = features[v, b_start:b_end] in
    float64, match iff cosine(x_i, y_j) > threshold, then the (la + 1) x (lb + 1) DP table. With
    ``gaps`` (a list), appends min |cosine - threshold| over the pair's cells (inf for an empty pair)."""
    out = []
    for p in range(len(video)):
        v = int(video[p])
        x = np.asarray(features[v, int(a_start[p]):int(a_end[p])], dtype=np.float64)
        y = np.asarray(features[v, int(b_start[p]):int(b_end[p])], dtype=np.float64)
        nx = [math.sqrt(float(np.dot(r, r))) for r in x]
        ny = [math.sqrt(float(np.dot(r, r))) for r in y]
        table = [[0] * (len(y) + 1) for _ in range(len(x) + 1)]
        gap = math.inf
        for i in range(len(x)):
            for j in range(len(y)):
                c = cosine(x[i], y[j], nx[i], ny[j])
                gap = min(gap, abs(c - threshold))
                if c > threshold:
                    table[i + 1][j + 1] = table[i][j] + 1
                else:
                    table[i + 1][j + 1] = max(table[i][j + 1], table[i + 1][j])
        out.append(table[len(x)][len(y)])
        if gaps is not None:
            gaps.append(gap)
    return np.array(out, dtype=np.int64)


def all_kernels(features, lengths, video, a_start, a_end, b_start, b_end, threshold):
    """{(isa, screen, nested): result} from _C for every kernel this CPU runs, with and without the float32
    screening and the closed form of nested ranges."""
    args = [np.ascontiguousarray(features)] + [np.ascontiguousarray(a, dtype=np.int64)
                                               for a in (lengths, video, a_start, a_end, b_start, b_end)]
    return {(isa, screen, nested): _C.feature_lcs(*args, threshold, isa=isa, screen=screen, nested=nested)
            for isa in ISAS for screen in (True, False) for nested in (True, False)}


def assert_all_equal(want, features, lengths, video, a_start, a_end, b_start, b_end, threshold):
    got = feature_lcs(features, lengths, video, a_start, a_end, b_start, b_end, threshold=threshold)
    assert isinstance(got, np.ndarray) and got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    for key, res in all_kernels(features, lengths, video, a_start, a_end, b_start, b_end, threshold).items():
        np.testing.assert_array_equal(res, want, err_msg=str(key))


# ---------------------------------------------------------------------------------------------
# Builders.

def change_point_batch(lengths, D, seed, dtype=np.float32):
    """A padded batch of phase-structured features and its change points.

    Each video is cut into phases of 8-24 snippets (change points c_0 = 0 < c_1 < ... < c_K = L). A
    phase keeps the previous phase's mean with probability 0.4 (a redundant change point), else mixes it
    with a fresh one (correlation U(0, 0.95)); a snippet is the phase mean plus N(0, s^2) noise with
    s = U(0.33, 1.22) per phase times U(0.75, 1.25) per snippet, so same-phase cosines spread over about
    [0.35, 0.95] around 0.65. Only the valid rows are written (the padding pages of np.zeros stay
    untouched). Returns features [N, T, D], lengths [N] and the list of each video's change points.
    """
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, dtype=np.int64)
    N, T = len(lengths), int(lengths.max())
    features = np.zeros((N, T, D), dtype=dtype)
    change_points = []
    for v, L in enumerate(lengths):
        cps = [0]
        while cps[-1] + 8 < L:
            nxt = cps[-1] + int(rng.integers(8, 25))
            if nxt >= L:
                break
            cps.append(nxt)
        cps.append(int(L))
        change_points.append(cps)
        x = features[v, :L]
        x[:] = rng.standard_normal((int(L), D), dtype=np.float32)
        mean = rng.standard_normal(D, dtype=np.float32)
        for k in range(len(cps) - 1):
            if k and rng.random() >= 0.4:
                rho = rng.uniform(0.0, 0.95)
                mean = np.float32(rho) * mean + np.float32(math.sqrt(1 - rho * rho)) * rng.standard_normal(
                    D, dtype=np.float32)
            seg = x[cps[k]:cps[k + 1]]
            seg *= (rng.uniform(0.33, 1.22) * rng.uniform(0.75, 1.25, size=(len(seg), 1))).astype(dtype)
            seg += mean
    return features, lengths, change_points


def change_point_pairs(change_points, kind="ahlm"):
    """video, a_start, a_end, b_start, b_end [P] for consecutive change points A < B < C of each video:
    kind "ahlm": x = [A, C), y = [B, C) (the paper's l_AC, l_BC); "adjacent": x = [A, B), y = [B, C)."""
    cols = [[] for _ in range(5)]
    for v, cps in enumerate(change_points):
        for A, B, C in zip(cps, cps[1:], cps[2:]):
            for col, val in zip(cols, (v, A, C if kind == "ahlm" else B, B, C)):
                col.append(val)
    return tuple(np.array(c, dtype=np.int64) for c in cols)


def change_point_case(lengths, D, seed, dtype=np.float32, kind="ahlm"):
    """(features, lengths, video, a_start, a_end, b_start, b_end) of change_point_batch and its pairs."""
    features, lengths, cps = change_point_batch(lengths, D, seed, dtype)
    return (features, lengths, *change_point_pairs(cps, kind))


@st.composite
def ranges(draw, L):
    kind = draw(st.sampled_from(["any", "empty", "one", "full"]))
    if kind == "full":
        return 0, L
    s = draw(st.integers(0, L if kind == "empty" else L - 1))
    if kind == "empty":
        return s, s
    if kind == "one":
        return s, s + 1
    return s, draw(st.integers(s, L))


@st.composite
def lcs_cases(draw, integer=True):
    """Small batches. integer=True: entries in {-2, ..., 2} (exact float64 arithmetic, zero vectors,
    repeated rows, cosines exactly at simple thresholds); else continuous values."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    N = draw(st.integers(1, 3))
    T = draw(st.integers(1, draw(st.sampled_from([10, 24]))))
    D = draw(st.sampled_from([1, 2, 3, 4, 5, 8, 9, 16, 17, 33]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if integer:
        f = rng.choice(np.array([-2, -1, 0, 0, 0, 1, 1, 2]), size=(N, T, D)).astype(dtype)
    else:
        f = rng.standard_normal((N, T, D)).astype(dtype)
    # repeat some rows (cosine 1, ties) and zero others
    for _ in range(draw(st.integers(0, 3))):
        v, t, u = rng.integers(N), rng.integers(T), rng.integers(T)
        f[v, t] = f[v, u] * dtype(draw(st.sampled_from([1, 2, -1])))
    if draw(st.booleans()):
        f[rng.integers(N), rng.integers(T)] = 0
    lengths = np.array([draw(st.integers(1, T)) for _ in range(N)], dtype=np.int64)
    P = draw(st.integers(0, 6))
    video, a0, a1, b0, b1 = [], [], [], [], []
    for _ in range(P):
        v = draw(st.integers(0, N - 1))
        (s, e), (t, u) = draw(ranges(int(lengths[v]))), draw(ranges(int(lengths[v])))
        for col, val in zip((video, a0, a1, b0, b1), (v, s, e, t, u)):
            col.append(val)
    as_i = lambda c: np.array(c, dtype=np.int64)  # noqa: E731
    return f, lengths, as_i(video), as_i(a0), as_i(a1), as_i(b0), as_i(b1)


THRESHOLDS = [0.65, 0.5, 0.0, -0.5, 1.0, -1.0, 0.6, 1.0 / 3.0, -0.65, 0.25, 1 - 1e-6, 1 - 1e-13]


# ---------------------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(lcs_cases(integer=True), st.one_of(st.sampled_from(THRESHOLDS), st.floats(-1, 1)))
def test_matches_reference_exact_arithmetic(case, threshold):
    # Integer entries: every dot product and norm is exact, so every kernel must agree with the
    # reference bit for bit, including cosines that land exactly on the threshold.
    want = reference_lcs(*case, threshold)
    assert_all_equal(want, *case, threshold)


@settings(max_examples=100, deadline=None)
@given(lcs_cases(integer=False), st.floats(-0.99, 0.99))
def test_matches_reference_continuous(case, threshold):
    gaps = []
    want = reference_lcs(*case, threshold, gaps=gaps)
    assume(min(gaps, default=math.inf) > 1e-9)  # farther from the threshold than any summation order moves it
    assert_all_equal(want, *case, threshold)


def test_cosine_exactly_at_threshold_does_not_match():
    # cos((20, 0, 0, 0, 0), (13, 15, 2, 1, 1)) = 260 / (20 * 20): the float64 number 0.65 itself.
    f = np.zeros((1, 4, 5))
    f[0, 0] = [20, 0, 0, 0, 0]
    f[0, 1] = [13, 15, 2, 1, 1]
    f[0, 2] = [2, 0, 0, 0, 0]
    f[0, 3] = [1, 1, 1, 1, 0]            # cos(f2, f3) = 2 / (2 * 2) = 0.5 exactly
    assert 260.0 / (20.0 * 20.0) == 0.65
    one = np.array([0])
    for dtype in (np.float32, np.float64):
        x = f.astype(dtype)
        for thr, want in [(0.65, 0), (np.nextafter(0.65, 0.0), 1), (-0.65, 1)]:
            args = (x, [4], one, one, one + 1, one + 1, one + 2)
            assert feature_lcs(*args, threshold=thr).tolist() == [want]
            assert_all_equal(np.array([want]), *args, thr)
        for thr, want in [(0.5, 0), (np.nextafter(0.5, 0.0), 1)]:
            assert_all_equal(np.array([want]), x, [4], one, one + 2, one + 3, one + 3, one + 4, thr)
        # antiparallel at -0.65: (-13, -15, -2, -1, -1) has cosine exactly -0.65 with f0
        y = x.copy()
        y[0, 1] *= -1
        assert_all_equal(np.array([0]), y, [4], one, one, one + 1, one + 1, one + 2, -0.65)
        assert_all_equal(np.array([1]), y, [4], one, one, one + 1, one + 1, one + 2, np.nextafter(-0.65, -1.0))


def test_zero_vectors_have_cosine_zero():
    f = np.array([[[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [-1.0, 0.0]]])
    v, s, e = np.array([0]), np.array([0]), np.array([4])
    # zero rows never match at threshold >= 0 (0 > 0 is false); identical non-zero rows do
    assert feature_lcs(f, [4], v, s, e, s, e, threshold=0.0).tolist() == [2]
    # at a negative threshold a zero vector matches everything (rows 1 and 3, cosine -1, still do not)
    assert feature_lcs(f, [4], v, s, e, s, e, threshold=-0.5).tolist() == [4]
    assert_all_equal(reference_lcs(f, [4], v, s, e, s, e, -1.0), f, [4], v, s, e, s, e, -1.0)
    assert feature_lcs(np.zeros((1, 3, 0)), [3], v, s, s + 3, s, s + 3, threshold=-0.1).tolist() == [3]  # D = 0


def test_periodic_shifted_ranges():
    # Snippets e_(t mod period): for x = [k, k + n), y = [0, n) with k a multiple of the period, the only
    # full-length alignment pairs x_(c + k) with y_c, i.e. cells below the diagonal of the overlap, which
    # the kernel copies from their mirror images instead of computing.
    T = 64
    for period in (1, 2, 3, 4, 5, 8):
        f = np.eye(8)[np.arange(T) % period][None]
        rows = []
        for k in (0, period, 2 * period, 8, 12, 17):
            for n in (4, 9, 12, 16, 23, 31):
                if k + n <= T:
                    rows += [(k, k + n, 0, n), (0, n, k, k + n), (k, k + n, 1, n), (k, T, 0, n), (0, n, k, T)]
        a0, a1, b0, b1 = (np.array(c) for c in zip(*rows))
        v = np.zeros(len(rows), dtype=np.int64)
        want = reference_lcs(f, [T], v, a0, a1, b0, b1, 0.5)
        assert_all_equal(want, f, [T], v, a0, a1, b0, b1, 0.5)
        assert_all_equal(want, f.astype(np.float32), [T], v, a0, a1, b0, b1, 0.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nested_ranges(dtype):
    # y inside x: every non-zero snippet matches itself, so the LCS is |y| less its zero vectors (at a
    # threshold >= 0) -- computed without dot products unless the threshold is within ~1e-12 of 1.
    rng = np.random.default_rng(5)
    f = rng.standard_normal((1, 40, 33)).astype(dtype)
    f[0, [3, 17, 18]] = 0
    f[0, 30] = f[0, 29]
    pairs = np.array([(0, 40, 10, 20), (10, 20, 0, 40), (15, 19, 15, 19), (0, 40, 0, 40), (5, 6, 5, 6),
                      (3, 4, 0, 10), (0, 10, 3, 4), (25, 35, 28, 31)])
    v = np.zeros(len(pairs), dtype=np.int64)
    a0, a1, b0, b1 = pairs.T
    inner = np.minimum(a1 - a0, b1 - b0)
    zeros = np.array([sum(t in (3, 17, 18) for t in range(max(s, u), min(e, w))) for s, e, u, w in pairs])
    for thr in (0.65, 0.0, -0.2, 1 - 1e-6, 1.0, 1 - 1e-14):
        want = reference_lcs(f, [40], v, a0, a1, b0, b1, thr)
        if thr < 1 - 1e-9:
            np.testing.assert_array_equal(want, inner - (zeros if thr >= 0 else 0))
        res = all_kernels(f, [40], v, a0, a1, b0, b1, thr)
        for key, r in res.items():
            if thr < 1 - 1e-9:
                np.testing.assert_array_equal(r, want, err_msg=str(key))
            else:  # self-cosines sit within rounding of the threshold: only the kernels must agree
                np.testing.assert_array_equal(r, res[(key[0], key[1], False)], err_msg=str(key))


def test_hand_computed_lcs():
    # x = a b c b, y = b c a (letters as orthogonal unit vectors): LCS "bc" = 2; empty and length-1
    eye = np.eye(3)
    a, b, c = eye
    f = np.stack([a, b, c, b, b, c, a])[None]
    v = np.zeros(5, dtype=np.int64)
    got = feature_lcs(f, [7], v, [0, 0, 2, 0, 6], [4, 4, 2, 1, 7], [4, 4, 0, 3, 0], [7, 5, 7, 4, 7])
    assert got.tolist() == [2, 1, 0, 0, 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_width_change_point_batch(dtype):
    # D = 2048 and AHLM-shaped pairs (the benchmark's batch, three short videos), both pair kinds.
    for kind in ("ahlm", "adjacent"):
        batch = change_point_case([45, 70, 9], 2048, seed=3, dtype=dtype, kind=kind)
        gaps = []
        want = reference_lcs(*batch, 0.65, gaps=gaps)
        assert min(gaps) > 1e-9
        if kind == "ahlm":  # l_BC is a sub-range of l_AC: each snippet matches itself
            np.testing.assert_array_equal(want, batch[6] - batch[5])
        else:
            assert len(set(want.tolist())) > 3
        assert_all_equal(want, *batch, 0.65)


@pytest.mark.parametrize("delta", [0.0, 1e-8, -1e-8, 1e-7, -1e-7, 1e-6, -1e-6, 1e-5, -1e-5, 1e-4, -1e-4])
def test_float32_screening_near_threshold(delta):
    # Cosines within float32 rounding of the threshold: the screened kernels must decide exactly as the
    # float64-only ones (and as the reference where it is farther than 1e-12 from the threshold).
    rng = np.random.default_rng(7)
    D, thr, n = 2048, 0.65, 24
    x = rng.standard_normal((n, D))
    z = rng.standard_normal((n, D))
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    z -= (z * u).sum(1, keepdims=True) * u
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    t = thr + delta * rng.uniform(0.0, 2.0, size=(n, 1))
    y = (t * u + np.sqrt(1 - t * t) * z) * rng.uniform(0.1, 10.0, size=(n, 1))
    f = np.concatenate([x, y])[None].astype(np.float32)
    v, s = np.zeros(n, dtype=np.int64), np.arange(n)
    # pair p compares x_p with y_p (one near-threshold cell); below, (x_p, x_p+1) with (y_p, y_p+1)
    args = (f, [2 * n], v, s, s + 1, n + s, n + s + 1)
    res = all_kernels(*args, thr)
    exact = res[(ISAS[-1], False, False)]
    for key, r in res.items():
        np.testing.assert_array_equal(r, exact, err_msg=str(key))
    gaps = []
    want = reference_lcs(*args, thr, gaps=gaps)
    far = np.array(gaps) > 1e-12
    np.testing.assert_array_equal(exact[far], want[far])
    wide = (f, [2 * n], v[:-1], s[:-1], s[:-1] + 2, n + s[:-1], n + s[:-1] + 2)
    res = all_kernels(*wide, thr)
    for key, r in res.items():
        np.testing.assert_array_equal(r, res[(ISAS[-1], False, False)], err_msg=str(key))


@pytest.mark.parametrize("dtype, exps", [(np.float64, [-1000, -700, -400, -150, 0, 150, 400, 700, 1000]),
                                         (np.float32, [-120, -60, -30, 0, 30, 60, 120])])
def test_extreme_magnitudes_equal_rescaled(dtype, exps):
    # Scaling a row by a power of two leaves its cosines unchanged; rows whose squares would overflow or
    # underflow (float64) or leave float32's safe range must still give the unscaled answer.
    rng = np.random.default_rng(3)
    base = rng.integers(-2, 3, size=(2, 12, 7)).astype(np.float64)
    base[0, 3] = 0.0
    k = rng.choice(exps, size=(2, 12, 1))
    f = (base * np.exp2(k)).astype(dtype)
    assert np.isfinite(f).all() and (f[base != 0] != 0).all()
    batch = (np.array([12, 10]), np.array([0, 0, 1, 1, 0]), np.array([0, 2, 0, 5, 0]), np.array([12, 9, 10, 10, 1]),
             np.array([0, 1, 3, 0, 11]), np.array([12, 12, 10, 6, 12]))
    for thr in (0.65, 0.0, -0.3, 0.5):
        want = reference_lcs(base, *batch, thr)
        assert_all_equal(want, f, *batch, thr)


def test_threads_and_pair_order_do_not_change_results():
    batch = change_point_case([60, 33, 120, 8], 40, seed=2, kind="adjacent")
    feats, lengths, *pairs = batch
    ref = feature_lcs(*batch)
    for nt in (1, 2, 3, 8):
        np.testing.assert_array_equal(_C.feature_lcs(feats, lengths, *pairs, 0.65, num_threads=nt), ref)
    perm = np.random.default_rng(0).permutation(len(ref))
    np.testing.assert_array_equal(feature_lcs(feats, lengths, *(p[perm] for p in pairs)), ref[perm])


def test_empty_inputs():
    e = np.zeros(0, dtype=np.int64)
    out = feature_lcs(np.zeros((2, 3, 4), np.float32), [3, 1], e, e, e, e, e)
    assert out.shape == (0,) and out.dtype == np.int64
    assert feature_lcs(np.zeros((0, 5, 4)), [], [], [], [], [], []).shape == (0,)


def test_torch_and_non_contiguous():
    torch = pytest.importorskip("torch")
    feats, lengths, *pairs = change_point_case([30, 41], 16, seed=4, kind="adjacent")
    want = reference_lcs(feats, lengths, *pairs, 0.65)
    wide = np.zeros((2, 41, 32), np.float32)
    wide[:, :, ::2] = feats
    view = wide[:, :, ::2]                          # strided along D
    assert not view.flags.c_contiguous
    spread = [np.repeat(p, 2)[::2] for p in pairs]  # strided pair arrays
    assert not spread[0].flags.c_contiguous
    np.testing.assert_array_equal(feature_lcs(view, lengths, *spread), want)
    fortran = np.asfortranarray(feats.astype(np.float64))
    np.testing.assert_array_equal(feature_lcs(fortran, lengths.astype(np.int32), *pairs), want)
    t = feature_lcs(torch.from_numpy(view), torch.from_numpy(lengths), *(torch.from_numpy(p) for p in pairs))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.int64
    np.testing.assert_array_equal(t.numpy(), want)
    t = feature_lcs(torch.from_numpy(feats).transpose(0, 1).contiguous().transpose(0, 1), lengths, *pairs)
    np.testing.assert_array_equal(t.numpy(), want)
    # numpy features with torch pair arrays: the caller's kind is the features'
    assert isinstance(feature_lcs(feats, lengths, *(torch.from_numpy(p) for p in pairs)), np.ndarray)


# ---------------------------------------------------------------------------------------------
# Input checks.

def _ok():
    f = np.zeros((2, 5, 3), np.float32)
    return f, np.array([5, 3]), np.array([0, 1]), np.array([0, 0]), np.array([2, 3]), np.array([1, 2]), np.array([5, 3])


def _with(i, value):
    args = list(_ok())
    args[i] = value
    return args


@pytest.mark.parametrize("i, value, exc, match", [
    (0, np.zeros((2, 5)), ValueError, "features must be 3-D"),
    (0, np.zeros((2, 5, 3), np.int32), TypeError, "features must be float32 or float64"),
    (0, np.zeros((2, 5, 3), np.float16), TypeError, "features"),
    (1, np.array([5]), ValueError, r"lengths must have shape \[N\]"),
    (1, np.array([5, 0]), ValueError, r"lengths must lie in \[1, T\]"),
    (1, np.array([6, 3]), ValueError, r"lengths must lie in \[1, T\]"),
    (1, np.array([5, 2**31]), ValueError, r"lengths must lie in \[1, T\]"),
    (1, np.array([5, 2**63 - 1]), ValueError, r"lengths must lie in \[1, T\]"),
    (1, np.array([5, 2**63], dtype=np.uint64), ValueError, "lengths holds .*which does not fit int64"),
    (1, np.array([5.0, 3.0]), TypeError, "lengths must be an integer array"),
    (1, np.array([True, True]), TypeError, "lengths must be an integer array"),
    (2, np.array([0, 2]), ValueError, "video must index"),
    (2, np.array([0, -1]), ValueError, "video must index"),
    (2, np.array([0, 2**31]), ValueError, "video must index"),
    (2, np.array([0, 2**63 - 1]), ValueError, "video must index"),
    (2, np.array([0, 2**64 - 1], dtype=np.uint64), ValueError, "video holds .*which does not fit int64"),
    (2, np.array([0]), ValueError, "must have the same shape"),
    (2, np.zeros((2, 1), np.int64), ValueError, "video must be 1-D"),
    (3, np.array([0, -1]), ValueError, "a_start must be >= 0"),
    (3, np.array([0, -(2**63)]), ValueError, "a_start must be >= 0"),
    (3, np.array([3, 0]), ValueError, "a_end must be >= a_start"),
    (4, np.array([2, 4]), ValueError, r"a_end must be <= lengths\[video\]"),
    (4, np.array([2, 2**31]), ValueError, r"a_end must be <= lengths\[video\]"),
    (4, np.array([2, 2**63 - 1]), ValueError, r"a_end must be <= lengths\[video\]"),
    (4, np.array([2, 2**63], dtype=np.uint64), ValueError, "a_end holds .*which does not fit int64"),
    (5, np.array([-1, 0]), ValueError, "b_start must be >= 0"),
    (5, np.array([1, 2**62]), ValueError, "b_end must be >= b_start"),
    (6, np.array([5, 4]), ValueError, r"b_end must be <= lengths\[video\]"),
    (6, np.array([0, 3]), ValueError, "b_end must be >= b_start"),
    (6, np.array([5.0, 3.0]), TypeError, "b_end must be an integer array"),
])
def test_argument_checks(i, value, exc, match):
    with pytest.raises(exc, match=match):
        feature_lcs(*_with(i, value))


@pytest.mark.parametrize("thr, exc", [(float("nan"), ValueError), (float("inf"), ValueError), (1.5, ValueError),
                                      (-1.0001, ValueError), ("0.5", TypeError), (True, TypeError)])
def test_threshold_checks(thr, exc):
    with pytest.raises(exc, match="threshold"):
        feature_lcs(*_ok(), threshold=thr)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_in_used_rows_only(bad, dtype):
    f = np.ones((2, 5, 3), dtype)
    pairs = ([5, 3], [0, 1, 0], [0, 0, 2], [2, 3, 2], [1, 2, 0], [2, 3, 2])
    f[1, 4, 0] = bad        # padding of video 1 (length 3)
    f[0, 4, 1] = bad        # video 0, snippet 4: no range covers it
    f[0, 2, 2] = bad        # covered only by an empty range
    assert feature_lcs(f, *pairs).tolist() == [1, 1, 0]
    f[1, 2, 1] = bad        # inside pair 1's ranges; the error names the first such snippet
    f[1, 1, 0] = bad
    with pytest.raises(ValueError, match="features contains NaN or inf at video 1, snippet 1"):
        feature_lcs(f, *pairs)


def test_cuda_tensors_refused():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    f, *rest = _ok()
    with pytest.raises(ValueError, match="features is on cuda"):
        feature_lcs(torch.from_numpy(f).cuda(), *rest)


def test_binding_checks():
    # The last line of defence: _C refuses what the wrapper would have converted or rejected.
    f, lengths, *pairs = (np.ascontiguousarray(a) for a in _ok())
    pairs = [p.astype(np.int64) for p in pairs]
    lengths = lengths.astype(np.int64)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.feature_lcs(np.zeros((2, 5, 6), np.float32)[:, :, ::2], lengths, *pairs, 0.65)
    with pytest.raises(TypeError, match="lengths must have dtype int64"):
        _C.feature_lcs(f, lengths.astype(np.int32), *pairs, 0.65)
    with pytest.raises(TypeError, match="features must have dtype float64"):
        _C.feature_lcs(f.astype(np.float16), lengths, *pairs, 0.65)
    with pytest.raises(ValueError, match="b_end must have P"):
        _C.feature_lcs(f, lengths, *pairs[:4], pairs[4][:1], 0.65)
    with pytest.raises(ValueError, match="isa must be"):
        _C.feature_lcs(f, lengths, *pairs, 0.65, isa="sse9")
    with pytest.raises(ValueError, match="threshold"):
        _C.feature_lcs(f, lengths, *pairs, 1.5)
    with pytest.raises(ValueError, match="lengths must lie"):
        _C.feature_lcs(f, np.array([5, 0]), *pairs, 0.65)
    bad = [p.copy() for p in pairs]
    bad[0][1] = 2**62
    with pytest.raises(ValueError, match="video must index"):
        _C.feature_lcs(f, lengths, *bad, 0.65)
    for k, v in [(1, -1), (2, 2**63 - 1), (3, 2**62), (4, 4)]:
        bad = [p.copy() for p in pairs]
        bad[k][1] = v
        with pytest.raises(ValueError, match="range .* of pair 1 must satisfy"):
            _C.feature_lcs(f, lengths, *bad, 0.65)
