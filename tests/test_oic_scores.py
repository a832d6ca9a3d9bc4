"""oic_scores against literal re-implementations of the authors' OIC loops."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtal.ops import oic_scores

# ---------------------------------------------------------------------------------------------
# Oracles: the authors' per-proposal code, run on the row as a float64 array (so the oracle is exact
# to ~1e-16 and differences measure wtal's error). Each returns (score, (inner, outer)) where outer
# is the outer mean (BM: left + right), so the tests can also run it on |row| to get the magnitude
# that bounds the rounding error of any summation (the condition of the sums).


def ref_hamnet(wtcam, start, end, lambda_=0.25, weight=1.0):
    """HAM-Net/BaSNet ``get_proposal_oic`` (``wtcam`` = the video's row, length L)."""
    grouped = np.arange(start, end)
    inner_score = np.mean(wtcam[grouped])
    len_proposal = len(grouped)
    outer_s = max(0, int(grouped[0] - lambda_ * len_proposal))
    outer_e = min(int(wtcam.shape[0] - 1), int(grouped[-1] + lambda_ * len_proposal))
    outer_temp_list = list(range(outer_s, int(grouped[0]))) + list(range(int(grouped[-1] + 1), outer_e + 1))
    if len(outer_temp_list) == 0:
        outer_score = 0
    else:
        outer_score = np.mean(wtcam[outer_temp_list])
    return inner_score - weight * outer_score, (inner_score, outer_score)


def ref_facnet(vid_cas, s, e, ratio=0.25, weight=0.6):
    """FAC-Net ``getActLoc`` (``s``, ``e`` as its zero-padded diff gives them: e exclusive)."""
    len_proposal = e - s
    inner_score = np.mean(vid_cas[s:e + 1])
    outer_s = max(0, int(s - ratio * len_proposal))
    outer_e = min(int(vid_cas.shape[0] - 1), int(e + ratio * len_proposal + 1))
    outer_temp_list = list(range(outer_s, int(s))) + list(range(int(e + 1), outer_e))
    if len(outer_temp_list) == 0:
        outer_score = 0
    else:
        outer_score = np.mean(vid_cas[outer_temp_list])
    return inner_score - weight * outer_score, (inner_score, outer_score)


def ref_bm(wtcam, start, end, ratio=0.25, weight=0.3):
    """DGAM ``get_temp_proposal`` (the BM reading); ``size // 4`` generalised to ``int(ratio * size)``."""
    g = np.arange(start, end)
    k = g.size // 4 if ratio == 0.25 else int(ratio * g.size)
    if g[0] > 0:
        left_outer_list = range(max(0, g[0] - k - 1), g[0])
        c_left_outer = np.mean(wtcam[left_outer_list])
    else:
        c_left_outer = 0
    if g[-1] < int(wtcam.shape[0]) - 1:
        right_outer_list = range(g[-1] + 1, min(int(wtcam.shape[0]), g[-1] + 1 + k + 1))
        c_right_outer = np.mean(wtcam[right_outer_list])
    else:
        c_right_outer = 0
    inner = np.mean(wtcam[g])
    return inner - weight * (c_left_outer + c_right_outer), (inner, c_left_outer + c_right_outer)


REFS = {"hamnet": ref_hamnet, "facnet": ref_facnet, "bm": ref_bm}


def reference(cas, lengths, rows, starts, ends, variant, ratio, weight):
    """(scores [S], error scale [S]): the oracle's scores, and for each segment the magnitude
    ``mean|x| over inner + |w| * mean|x| over outer`` plus 1e-30 * sum|row| (the double-double
    prefix sums' residual with respect to the whole row)."""
    scores, mags = [], []
    for r, s, e in zip(rows, starts, ends):
        row = np.asarray(cas[r][: lengths[r]], dtype=np.float64)
        sc, _ = REFS[variant](row, int(s), int(e), ratio, weight)
        _, (inner_abs, outer_abs) = REFS[variant](np.abs(row), int(s), int(e), ratio, weight)
        scores.append(sc)
        mags.append(inner_abs + abs(weight) * outer_abs + 1e-30 * np.abs(row).sum())
    return np.array(scores, np.float64), np.array(mags, np.float64)


def assert_close(got, cas_dtype, ref, mag):
    """|wtal - oracle| <= rtol * magnitude of the summed terms (+ the output dtype's subnormal step):
    1e-6 for float32, 1e-12 for float64."""
    got = np.asarray(got)
    assert got.dtype == cas_dtype
    rtol = 1e-6 if cas_dtype == np.float32 else 1e-12
    err = np.abs(got.astype(np.float64) - ref)
    bound = rtol * mag + np.finfo(cas_dtype).smallest_subnormal
    assert np.all(err <= bound), (err / bound).max()


# ---------------------------------------------------------------------------------------------
# Builders.

@st.composite
def oic_cases(draw, max_rows=4, max_t=30):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    R = draw(st.integers(1, max_rows))
    T = draw(st.integers(1, max_t))
    vals = st.one_of(st.sampled_from([0.0, 0.5, 1.0, -1.0]), st.floats(-3, 3, allow_nan=False, width=32))
    cas = np.array(draw(st.lists(vals, min_size=R * T, max_size=R * T)), dtype).reshape(R, T)
    lengths = np.array(draw(st.lists(st.integers(1, T), min_size=R, max_size=R)), np.int64)
    S = draw(st.integers(0, 12))
    rows, starts, ends = [], [], []
    for _ in range(S):
        r = draw(st.integers(0, R - 1))
        s = draw(st.integers(0, lengths[r] - 1))
        e = draw(st.integers(s + 1, lengths[r]))
        rows.append(r)
        starts.append(s)
        ends.append(e)
    as_i = lambda v: np.array(v, np.int64)  # noqa: E731
    return cas, lengths, as_i(rows), as_i(starts), as_i(ends)


def random_case(rng, R, T, S, dtype=np.float32):
    cas = rng.standard_normal((R, T)).astype(dtype)
    lengths = rng.integers(1, T + 1, size=R)
    rows = rng.integers(0, R, size=S)
    starts = (rng.random(S) * lengths[rows]).astype(np.int64)
    ends = starts + 1 + (rng.random(S) * (lengths[rows] - starts)).astype(np.int64)
    return cas, lengths, rows, starts, np.minimum(ends, lengths[rows])


# ---------------------------------------------------------------------------------------------

@given(oic_cases(), st.sampled_from(["hamnet", "facnet", "bm"]), st.sampled_from([0.25, 0.0, 0.3, 1.0]),
       st.sampled_from([1.0, 0.6, 0.3, -2.0]))
def test_matches_reference(case, variant, ratio, weight):
    cas, lengths, rows, starts, ends = case
    got = oic_scores(cas, lengths, rows, starts, ends, variant=variant, outer_ratio=ratio, outer_weight=weight)
    ref, mag = reference(cas, lengths, rows, starts, ends, variant, ratio, weight)
    assert_close(got, cas.dtype, ref, mag)


@pytest.mark.parametrize("variant", ["hamnet", "facnet", "bm"])
def test_long_rows_cancellation(variant):
    # Large offset + small signal on a long row: a plain float64 prefix sum loses ~1e-8 absolute here;
    # the compensated sums keep 1e-12 relative.
    rng = np.random.default_rng(0)
    T = 200_000
    cas = (1000.0 + 1e-3 * rng.standard_normal((1, T))).astype(np.float64)
    starts = np.array([T - 10, T - 3, 5, T // 2, 0, T - 1], np.int64)
    ends = np.array([T - 8, T, 9, T // 2 + 1, T, T], np.int64)
    rows = np.zeros(len(starts), np.int64)
    got = oic_scores(cas, [T], rows, starts, ends, variant=variant, outer_weight=1.0)
    ref, mag = reference(cas, [T], rows, starts, ends, variant, 0.25, 1.0)
    assert_close(got, np.float64, ref, mag)
    got32 = oic_scores(cas.astype(np.float32), [T], rows, starts, ends, variant=variant)
    ref32, mag32 = reference(cas.astype(np.float32), [T], rows, starts, ends, variant, 0.25, 1.0)
    assert_close(got32, np.float32, ref32, mag32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_window_after_large_values(dtype):
    # A plain float64 prefix sum returns 0 for the tail window here (1 + 1e-30 == 1); the
    # double-double sums keep it.
    cas = np.array([[3.0, -3.0, 1.0, 1e-30, 2e-30, 1e-30]], dtype)
    got = oic_scores(cas, None, [0, 0], [3, 4], [5, 5], variant="bm", outer_weight=0.3)
    ref, mag = reference(cas, [6], [0, 0], [3, 4], [5, 5], "bm", 0.25, 0.3)
    assert_close(got, np.dtype(dtype), ref, mag)
    assert got[1] != 0


def test_hand_computed_windows():
    cas = np.array([[1.0, 2.0, 10.0, 10.0, 10.0, 10.0, 3.0, 4.0, 5.0]])
    # n = 4: hamnet outer [max(0, int(2 - 1)), 2) U [6, min(8, int(5 + 1)) + 1) = {1} U {6}
    assert oic_scores(cas, None, [0], [2], [6])[0] == pytest.approx(10.0 - (2.0 + 3.0) / 2)
    # facnet inner [2, 7) includes cas[6] = 3; outer {1} U range(7, min(8, int(6 + 1 + 1))) = {1, 7}
    got = oic_scores(cas, None, [0], [2], [6], variant="facnet", outer_weight=0.6)[0]
    assert got == pytest.approx(43.0 / 5 - 0.6 * (2.0 + 4.0) / 2)
    # bm: k = 4 // 4 + 1 = 2: left [0, 2) -> 1.5, right [6, 8) -> 3.5
    got = oic_scores(cas, None, [0], [2], [6], variant="bm", outer_weight=0.3)[0]
    assert got == pytest.approx(10.0 - 0.3 * (1.5 + 3.5))


def test_borders_and_length_one():
    cas = np.array([[5.0, 1.0, 2.0], [7.0, 0.0, 0.0]])
    # whole row: outer windows empty (hamnet, facnet) / both sides at the border (bm) -> inner only
    for v in ("hamnet", "facnet", "bm"):
        assert oic_scores(cas, [3, 1], [0, 1], [0, 0], [3, 1], variant=v).tolist() == [pytest.approx(8 / 3), 7.0]
    # window clipped by the row length (1), not the padded width (3)
    assert oic_scores(cas, [3, 2], [1], [0], [1], variant="bm").tolist() == [7.0 - 0.0]


def test_row_order_free_and_empty():
    rng = np.random.default_rng(3)
    cas, lengths, rows, starts, ends = random_case(rng, 50, 300, 2000, np.float64)
    got = oic_scores(cas, lengths, rows, starts, ends, variant="hamnet")
    ref, mag = reference(cas, lengths, rows, starts, ends, "hamnet", 0.25, 1.0)
    assert_close(got, np.float64, ref, mag)
    out = oic_scores(cas, lengths, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert out.shape == (0,) and out.dtype == np.float64
    out = oic_scores(np.zeros((0, 5), np.float32), np.zeros(0, np.int64), [], [], [])
    assert out.shape == (0,) and out.dtype == np.float32


def test_nan_outside_used_rows_ok_inside_raises():
    cas = np.array([[1.0, 2.0, np.nan], [np.nan, 1.0, 1.0]])
    assert oic_scores(cas, [2, 3], [0], [0], [1]).shape == (1,)
    with pytest.raises(ValueError, match="cas"):
        oic_scores(cas, [2, 3], [1], [1], [2])


def test_torch_and_non_contiguous():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    base = rng.random((6, 40))
    view = base[::2, ::2]
    lengths = np.array([20, 5, 11])
    rows, starts, ends = np.array([0, 1, 2]), np.array([3, 0, 10]), np.array([9, 5, 11])
    ref, mag = reference(np.ascontiguousarray(view), lengths, rows, starts, ends, "facnet", 0.25, 0.6)
    got = oic_scores(view, lengths, rows, starts, ends, variant="facnet", outer_weight=0.6)
    assert_close(got, np.float64, ref, mag)
    t = oic_scores(torch.from_numpy(view), torch.from_numpy(lengths), torch.from_numpy(rows), torch.from_numpy(starts),
                   torch.from_numpy(ends), variant="facnet", outer_weight=0.6)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    assert_close(t.numpy(), np.float64, ref, mag)


# ---------------------------------------------------------------------------------------------
# Input checks.

def test_segment_checks():
    cas = np.zeros((2, 5))
    with pytest.raises(ValueError, match="ends must be > starts"):
        oic_scores(cas, [5, 5], [0], [3], [2])  # reversed
    with pytest.raises(ValueError, match="ends must be > starts"):
        oic_scores(cas, [5, 5], [0], [3], [3])  # empty
    with pytest.raises(ValueError, match="starts"):
        oic_scores(cas, [5, 5], [0], [-1], [2])
    with pytest.raises(ValueError, match="lengths"):
        oic_scores(cas, [5, 3], [1], [0], [4])  # past the row's length
    with pytest.raises(ValueError, match="rows"):
        oic_scores(cas, [5, 5], [2], [0], [1])
    with pytest.raises(ValueError, match="rows, starts and ends"):
        oic_scores(cas, [5, 5], [0, 1], [0], [1])


def test_argument_checks():
    cas = np.zeros((2, 5))
    with pytest.raises(ValueError, match="lengths"):
        oic_scores(cas, [5, 6], [0], [0], [1])
    with pytest.raises(ValueError, match="lengths"):
        oic_scores(cas, [5], [0], [0], [1])
    with pytest.raises(ValueError, match="variant"):
        oic_scores(cas, None, [0], [0], [1], variant="oic")
    with pytest.raises(ValueError, match="outer_ratio"):
        oic_scores(cas, None, [0], [0], [1], outer_ratio=-0.1)
    with pytest.raises(ValueError, match="outer_weight"):
        oic_scores(cas, None, [0], [0], [1], outer_weight=float("nan"))
    with pytest.raises(TypeError, match="cas"):
        oic_scores(cas.astype(np.int32), None, [0], [0], [1])
    with pytest.raises(ValueError, match="cas"):
        oic_scores(np.zeros(5), None, [0], [0], [1])
    with pytest.raises(TypeError, match="starts"):
        oic_scores(cas, None, [0], np.array([0.0]), [1])
    with pytest.raises(TypeError, match="rows"):
        oic_scores(cas, None, np.array([True]), [0], [1])


@given(seed=st.integers(0, 2**31 - 1), variant=st.sampled_from(["hamnet", "facnet", "bm"]),
       dtypes=st.sampled_from([(np.float32, np.float32), (np.float32, np.float64), (np.float64, np.float32),
                               (np.float64, np.float64)]))
def test_strided_scaled_rows_equal_packed_products(seed, variant, dtypes):
    # The kernel entry the HAM-Net profile uses: row p is the strided column x[b, :, c] times a[b, :],
    # read in place; it must equal oic_scores on the packed float64 products, bit for bit.
    from wtal._ext import _C
    from wtal.ops.oic_scores import OIC_VARIANTS

    rng = np.random.default_rng(seed)
    B, T, K = 3, 23, 4
    x = rng.normal(size=(B, T, K)).astype(dtypes[0])
    a = rng.uniform(0, 1, (B, T)).astype(dtypes[1])
    lens = np.array([1, 23, 9], dtype=np.int64)
    x[1, :, 3] = np.nan                       # a column no pair uses
    pb = np.array([0, 1, 2, 2], dtype=np.int64)
    pc = np.array([2, 0, 1, 3], dtype=np.int64)
    segs = [(p, s, e) for p in range(4) for s in range(lens[pb[p]]) for e in range(s + 1, lens[pb[p]] + 1)]
    rows, starts, ends = (np.array(v, dtype=np.int64) for v in zip(*segs))
    got = _C.oic_scores(x.reshape(-1), pb * (T * K) + pc, lens[pb], rows, starts, ends,
                        OIC_VARIANTS.index(variant), 0.25, 0.6, stride=K, scale=a.reshape(-1), scale_start=pb * T)
    packed = x[pb, :, pc].astype(np.float64) * a[pb].astype(np.float64)      # [4, T]
    want = oic_scores(packed, lens[pb], rows, starts, ends, variant=variant, outer_ratio=0.25, outer_weight=0.6)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)


def test_strided_rows_bounds_and_nan():
    from wtal._ext import _C

    x = np.zeros(12)
    one = np.array([0], dtype=np.int64)
    with pytest.raises(ValueError, match="outside cas"):
        _C.oic_scores(x, np.array([1], dtype=np.int64), np.array([4], dtype=np.int64), one, one, one + 1,
                      0, 0.25, 1.0, stride=4)         # 1 + 3 * 4 = 13 > 11
    with pytest.raises(ValueError, match="outside scale"):
        _C.oic_scores(x, one, np.array([3], dtype=np.int64), one, one, one + 1, 0, 0.25, 1.0, stride=4,
                      scale=np.ones(5), scale_start=np.array([3], dtype=np.int64))
    with pytest.raises(ValueError, match="together"):
        _C.oic_scores(x, one, np.array([3], dtype=np.int64), one, one, one + 1, 0, 0.25, 1.0, scale=np.ones(5))
    with pytest.raises(ValueError, match="stride"):
        _C.oic_scores(x, one, np.array([3], dtype=np.int64), one, one, one + 1, 0, 0.25, 1.0, stride=0)
    w = np.ones(3)
    w[2] = np.nan                              # NaN in the scale of a used row
    with pytest.raises(ValueError, match="NaN"):
        _C.oic_scores(x, one, np.array([3], dtype=np.int64), one, one, one + 1, 0, 0.25, 1.0, stride=4,
                      scale=w, scale_start=one)


# ---------------------------------------------------------------------------------------------
# CUDA (compared with the CPU path).

@pytest.mark.cuda
@given(oic_cases(max_rows=5, max_t=60), st.sampled_from(["hamnet", "facnet", "bm"]))
def test_cuda_equals_cpu(case, variant):
    import torch

    cas, lengths, rows, starts, ends = case
    cpu = oic_scores(cas, lengths, rows, starts, ends, variant=variant, outer_weight=0.6)
    gpu = oic_scores(torch.from_numpy(cas).cuda(), torch.from_numpy(lengths).cuda(), torch.from_numpy(rows).cuda(),
                     torch.from_numpy(starts).cuda(), torch.from_numpy(ends).cuda(), variant=variant, outer_weight=0.6)
    assert gpu.device.type == "cuda" and gpu.dtype == torch.from_numpy(cas).dtype
    ref, mag = reference(cas, lengths, rows, starts, ends, variant, 0.25, 0.6)
    assert_close(gpu.cpu().numpy(), cas.dtype, ref, mag)
    np.testing.assert_allclose(gpu.cpu().numpy(), cpu, rtol=1e-6, atol=1e-6 * float(np.abs(cas).max(initial=0)))


@pytest.mark.cuda
@pytest.mark.parametrize("variant", ["hamnet", "facnet", "bm"])
def test_cuda_long_rows(variant):
    import torch

    rng = np.random.default_rng(5)
    cas, lengths, rows, starts, ends = random_case(rng, 40, 30_000, 5000, np.float64)
    cas += 1000.0
    ref, mag = reference(cas, lengths, rows, starts, ends, variant, 0.25, 1.0)
    gpu = oic_scores(torch.from_numpy(cas).cuda(), lengths, rows, starts, ends, variant=variant)
    assert_close(gpu.cpu().numpy(), np.float64, ref, mag)


@pytest.mark.cuda
def test_cuda_errors():
    import torch

    cas = torch.zeros(2, 5, device="cuda")
    with pytest.raises(ValueError, match="ends"):
        oic_scores(cas, [5, 5], [0], [3], [2])
    with pytest.raises(ValueError, match="lengths"):
        oic_scores(cas, [5, 3], [1], [0], [4])
    cas[1, 2] = float("nan")
    with pytest.raises(ValueError, match="cas"):
        oic_scores(cas, [5, 5], [1], [0], [1])
    out = oic_scores(cas, None, torch.zeros(0, dtype=torch.int64), [], [])
    assert out.shape == (0,) and out.device.type == "cuda"
