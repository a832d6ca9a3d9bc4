"""upsample_linear / gaussian_smooth against the authors' scipy calls (scipy is a test-only dependency)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtal.ops import gaussian_smooth, upsample_linear
from wtal.ops.upsample import upsampled_length

scipy_interp = pytest.importorskip("scipy.interpolate")
scipy_ndimage = pytest.importorskip("scipy.ndimage")


def upgrade_resolution(arr, scale):
    """HAM-Net ``utils/utils.py`` (DGAM's ``lib/utils/utils.py`` is the same without the scale-1 return)."""
    if scale == 1:
        return arr
    x = np.arange(0, arr.shape[0])
    f = scipy_interp.interp1d(x, arr, kind="linear", axis=0, fill_value="extrapolate")
    scale_x = np.arange(0, arr.shape[0], 1 / scale)
    up_scale = f(scale_x)
    return up_scale


def ref_upsample(x, lengths, scale):
    """Per row: the authors' call on row[:L] (float64 result, as scipy returns)."""
    W = len(np.arange(0, x.shape[1], 1 / scale)) if x.shape[1] else 0
    y = np.zeros((x.shape[0], W))
    new = np.zeros(x.shape[0], np.int64)
    for n, L in enumerate(lengths):
        if L >= 2:
            r = upgrade_resolution(x[n, :L], scale)
        elif L == 1:
            r = np.full(len(np.arange(0, 1, 1 / scale)), float(x[n, 0]))  # documented extension
        else:
            r = np.zeros(0)
        y[n, : len(r)] = r
        new[n] = len(r)
    return y, new


def ref_smooth(x, lengths, sigma, truncate=4.0):
    y = x.copy()
    for n, L in enumerate(lengths):
        if L:
            y[n, :L] = scipy_ndimage.gaussian_filter1d(x[n, :L], sigma, truncate=truncate)
    return y


@st.composite
def rows(draw, max_rows=4, max_t=40, min_len=0):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    N = draw(st.integers(0, max_rows))
    T = draw(st.integers(max(min_len, 1) if N else 0, max_t))
    vals = st.floats(-10, 10, allow_nan=False, width=32)
    x = np.array(draw(st.lists(vals, min_size=N * T, max_size=N * T)), dtype).reshape(N, T)
    lengths = np.array(draw(st.lists(st.integers(min(min_len, T), T), min_size=N, max_size=N)), np.int64)
    return x, lengths


@given(rows(), st.sampled_from([1, 2, 3, 7, 20, 24, 49]))
def test_upsample_matches_interp1d_bitwise(case, scale):
    x, lengths = case
    ref, ref_len = ref_upsample(x, lengths, scale)
    y, new = upsample_linear(x, lengths, scale, dtype=np.float64)
    assert y.dtype == np.float64 and y.shape == ref.shape
    np.testing.assert_array_equal(new, ref_len)
    np.testing.assert_array_equal(y, ref)
    # default dtype: scipy's float64 values rounded once to x's dtype
    y2, _ = upsample_linear(x, lengths, scale)
    assert y2.dtype == x.dtype
    np.testing.assert_array_equal(y2, ref.astype(x.dtype))


def test_upsample_scale_one_is_identity():
    x = np.array([[0.1, 0.7, 0.3, 9.0]], np.float32)
    y, new = upsample_linear(x, [3], 1, dtype=np.float64)
    np.testing.assert_array_equal(y, [[np.float32(0.1), np.float32(0.7), np.float32(0.3), 0.0]])
    assert new.tolist() == [3]


def test_upsample_grid_and_extrapolation():
    x = np.array([[0.0, 1.0, 3.0]])
    y, new = upsample_linear(x, [3], 2)
    # np.arange(0, 3, 0.5) = 0 .. 2.5; 2.5 extrapolates the last segment (slope 2).
    np.testing.assert_array_equal(y[0], [0.0, 0.5, 1.0, 2.0, 3.0, 4.0])
    assert new.tolist() == [6]


def test_upsampled_length_quirk():
    for T in range(1, 200):
        for scale in (1, 2, 20, 24, 49):
            assert upsampled_length(T, scale) == len(np.arange(0, T, 1 / scale))
    assert upsampled_length(1, 49) == 50  # float64 rounding of 1/49: one extra position
    assert upsampled_length(5, 20) == 100


def test_upsample_padding_and_short_rows():
    x = np.array([[1.0, 2.0, 9.0], [4.0, 9.0, 9.0], [9.0, 9.0, 9.0]], np.float32)
    y, new = upsample_linear(x, [2, 1, 0], 3)
    assert new.tolist() == [6, 3, 0]
    np.testing.assert_allclose(y[0], [1, 1 + 1 / 3, 1 + 2 / 3, 2, 2 + 1 / 3, 2 + 2 / 3, 0, 0, 0], rtol=1e-7)
    np.testing.assert_array_equal(y[1], [4, 4, 4, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(y[2], np.zeros(9))


def test_upsample_empty_and_torch():
    y, new = upsample_linear(np.zeros((0, 4)), np.zeros(0, np.int64), 5)
    assert y.shape == (0, 20) and new.shape == (0,)
    torch = pytest.importorskip("torch")
    t, tn = upsample_linear(torch.tensor([[0.0, 2.0]]), torch.tensor([2]), 2, dtype=torch.float64)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64 and tn.tolist() == [4]
    assert t.tolist() == [[0.0, 1.0, 2.0, 3.0]]


def test_upsample_non_contiguous():
    rng = np.random.default_rng(0)
    base = rng.random((4, 30))
    view = base[:, 1::3]
    ref, _ = ref_upsample(np.ascontiguousarray(view), [10, 2, 7, 10], 4)
    y, _ = upsample_linear(view, [10, 2, 7, 10], 4)
    np.testing.assert_array_equal(y, ref)


def test_upsample_checks():
    x = np.zeros((2, 4))
    with pytest.raises(ValueError, match="scale"):
        upsample_linear(x, None, 0)
    with pytest.raises(TypeError, match="scale"):
        upsample_linear(x, None, 2.0)
    with pytest.raises(ValueError, match="lengths"):
        upsample_linear(x, [4, 5], 2)
    with pytest.raises(ValueError, match="lengths"):
        upsample_linear(x, [4], 2)
    with pytest.raises(TypeError, match="x"):
        upsample_linear(x.astype(np.int64), None, 2)
    with pytest.raises(ValueError, match="x"):
        upsample_linear(np.zeros(4), None, 2)
    with pytest.raises(ValueError, match="x"):
        upsample_linear(np.array([[0.0, np.nan]]), None, 2)
    upsample_linear(np.array([[0.0, np.nan]]), [1], 2)  # NaN in the padding is ignored
    with pytest.raises(TypeError, match="dtype"):
        upsample_linear(x, None, 2, dtype=np.float32)
    with pytest.raises(TypeError, match="dtype"):
        upsample_linear(x.astype(np.float32), None, 2, dtype=np.int32)


@given(rows(max_t=60), st.sampled_from([0.5, 1.0, 2.5, 7.0, 25.0]))
def test_smooth_matches_gaussian_filter1d(case, sigma):
    x, lengths = case
    y = gaussian_smooth(x, lengths, sigma)
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(y, ref_smooth(x, lengths, sigma))


def test_smooth_short_rows_large_sigma_and_truncate():
    rng = np.random.default_rng(1)
    x = rng.random((5, 9))
    lengths = [1, 2, 3, 9, 0]
    for sigma, truncate in [(25.0, 4.0), (3.0, 1.0), (0.1, 4.0)]:
        np.testing.assert_array_equal(gaussian_smooth(x, lengths, sigma, truncate=truncate),
                                      ref_smooth(x, lengths, sigma, truncate))


def test_smooth_upsampled_bm_anet_chain():
    # BM on ActivityNet: x20 upsampling then sigma 25, on float64 (scipy's interp1d output).
    rng = np.random.default_rng(2)
    x = rng.random((3, 50)).astype(np.float32)
    lengths = np.array([50, 31, 2])
    up, new = upsample_linear(x, lengths, 20, dtype=np.float64)
    ref_up, _ = ref_upsample(x, lengths, 20)
    np.testing.assert_array_equal(gaussian_smooth(up, new, 25.0), ref_smooth(ref_up, new, 25.0))


def test_smooth_checks():
    x = np.zeros((2, 4))
    with pytest.raises(ValueError, match="sigma"):
        gaussian_smooth(x, None, 0.0)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_smooth(x, None, float("nan"))
    with pytest.raises(ValueError, match="lengths"):
        gaussian_smooth(x, [1, 5], 1.0)
    with pytest.raises(TypeError, match="x"):
        gaussian_smooth(x.astype(np.int32), None, 1.0)
    with pytest.raises(ValueError, match="x"):
        gaussian_smooth(np.array([[np.nan, 0.0]]), None, 1.0)
    assert gaussian_smooth(np.zeros((0, 3)), None, 1.0).shape == (0, 3)


# ---------------------------------------------------------------------------------------------
# CUDA (compared with the CPU path).

@pytest.mark.cuda
@given(rows(max_t=80), st.sampled_from([1, 3, 20, 49]))
def test_cuda_upsample_equals_cpu(case, scale):
    import torch

    x, lengths = case
    for dtype in (None, torch.float64):
        cpu, cpu_len = upsample_linear(x, lengths, scale, dtype=dtype)
        gpu, gpu_len = upsample_linear(torch.from_numpy(x).cuda(), torch.from_numpy(lengths).cuda(), scale, dtype=dtype)
        assert gpu.device.type == "cuda"
        np.testing.assert_array_equal(gpu.cpu().numpy(), cpu)
        np.testing.assert_array_equal(gpu_len.cpu().numpy(), cpu_len)


@pytest.mark.cuda
@given(rows(max_t=80), st.sampled_from([0.5, 3.0, 25.0]))
def test_cuda_smooth_equals_cpu(case, sigma):
    import torch

    x, lengths = case
    cpu = gaussian_smooth(x, lengths, sigma)
    gpu = gaussian_smooth(torch.from_numpy(x).cuda(), torch.from_numpy(lengths).cuda(), sigma)
    np.testing.assert_array_equal(gpu.cpu().numpy(), cpu)


@pytest.mark.cuda
def test_cuda_checks():
    import torch

    with pytest.raises(ValueError, match="lengths"):
        upsample_linear(torch.zeros(2, 3, device="cuda"), torch.tensor([3, 4], device="cuda"), 2)
    with pytest.raises(ValueError, match="x"):
        gaussian_smooth(torch.tensor([[float("nan"), 0.0]], device="cuda"), None, 1.0)
