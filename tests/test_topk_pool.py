"""wtal.ops.topk_pool against a plain eager-PyTorch reference written from the formula."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

import wtal.ops as ops  # noqa: E402


# ---------------------------------------------------------------------------------------------------
# reference and builders (also used by benchmarks/bench_pool.py)
# ---------------------------------------------------------------------------------------------------
def k_of(length: int, k: int | None, ratio: int | None) -> int:
    return min(k, length) if k is not None else max(1, length // ratio)


def topk_mean_stable(v, k: int):
    """Mean of the k first elements of v sorted descending over dim 0; ties: lowest index (stable sort),
    NaN first (torch.sort's order)."""
    return torch.sort(v, dim=0, descending=True, stable=True).values[:k].mean(0)


def reference_topk_pool(x, *, k=None, ratio=None, lengths=None):
    """Per video at its own length: stable descending sort, mean of the first k_b (differentiable)."""
    B, T, C = x.shape
    outs = []
    for b in range(B):
        n = T if lengths is None else int(lengths[b])
        outs.append(topk_mean_stable(x[b, :n], k_of(n, k, ratio)))
    return torch.stack(outs) if outs else x.new_zeros((0, C))


def authors_topk_mean(x, ratio: int):
    """The baseline as HAM-Net codes it (torch.topk + mean, no lengths)."""
    return torch.topk(x, k=max(1, x.shape[1] // ratio), dim=1).values.mean(1)


def make_x(B, T, C, *, dtype=torch.float64, seed=0, ties=False, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    if ties:
        x = torch.randint(-2, 3, (B, T, C), generator=g).to(dtype)
    else:
        x = torch.randn(B, T, C, generator=g, dtype=torch.float64).to(dtype)
    return x.to(device)


def make_lengths(B, T, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed + 1)
    return torch.randint(1, T + 1, (B,), generator=g).to(device)


def assert_close_scaled(actual, expected, dtype):
    """rtol 1e-6 (float32) / 1e-12 (float64), with atol scaled by the largest magnitude of expected."""
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    scale = float(expected.detach().abs().max()) if expected.numel() else 1.0
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol * max(scale, 1e-30), equal_nan=True)


# ---------------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------------
@st.composite
def pool_cases(draw):
    B = draw(st.integers(1, 4))
    T = draw(st.integers(1, 40))
    C = draw(st.integers(1, 5))
    use_k = draw(st.booleans())
    k = draw(st.integers(1, 50)) if use_k else None
    ratio = None if use_k else draw(st.integers(1, 12))
    ragged = draw(st.booleans())
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    ties = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return B, T, C, k, ratio, ragged, dtype, ties, seed


@given(pool_cases())
def test_matches_reference_values_and_grads(case):
    B, T, C, k, ratio, ragged, dtype, ties, seed = case
    x = make_x(B, T, C, dtype=dtype, seed=seed, ties=ties).requires_grad_()
    L = make_lengths(B, T, seed) if ragged else None
    y = ops.topk_pool(x, k=k, ratio=ratio, lengths=L)
    r = reference_topk_pool(x, k=k, ratio=ratio, lengths=L)
    assert y.dtype == dtype and y.shape == (B, C)
    assert_close_scaled(y, r, dtype)
    g = make_x(B, 1, C, dtype=dtype, seed=seed + 7)[:, 0]
    gy, = torch.autograd.grad(y, x, g)
    gr, = torch.autograd.grad(r, x, g)
    # the selected set is the same (ties: lowest index), so the gradients are equal exactly
    torch.testing.assert_close(gy, gr, rtol=0, atol=0)


@given(st.integers(1, 5), st.integers(1, 30), st.integers(1, 4), st.integers(1, 8), st.integers(0, 999))
def test_padded_batch_equals_each_video_alone(B, T, C, ratio, seed):
    x = make_x(B, T, C, seed=seed)
    L = make_lengths(B, T, seed)
    # garbage in the padding must not matter
    pad = torch.arange(T).view(1, T, 1) >= L.view(B, 1, 1)
    x = torch.where(pad, torch.full_like(x, 1e30), x).requires_grad_()
    y = ops.topk_pool(x, ratio=ratio, lengths=L)
    g = torch.ones_like(y)
    gx, = torch.autograd.grad(y, x, g)
    assert bool((gx[pad.expand_as(gx)] == 0).all())
    for b in range(B):
        xb = x[b : b + 1, : int(L[b])].detach().requires_grad_()
        yb = ops.topk_pool(xb, ratio=ratio)
        assert torch.equal(yb[0], y[b])
        gb, = torch.autograd.grad(yb, xb, g[b : b + 1])
        assert torch.equal(gb[0], gx[b, : int(L[b])])


# ---------------------------------------------------------------------------------------------------
# named edge cases
# ---------------------------------------------------------------------------------------------------
def test_ties_gradient_goes_to_lowest_time_indices():
    x = torch.zeros(2, 10, 3, dtype=torch.float64, requires_grad=True)
    y = ops.topk_pool(x, ratio=3, lengths=torch.tensor([10, 7]))  # k = 3 and 2
    y.sum().backward()
    assert torch.equal(y.detach(), torch.zeros(2, 3, dtype=torch.float64))
    expect = torch.zeros(2, 10, 3, dtype=torch.float64)
    expect[0, :3] = 1 / 3
    expect[1, :2] = 1 / 2
    assert torch.equal(x.grad, expect)


def test_ties_at_the_cutoff_value():
    # values 5, 1, 3, 3, 3, 0 with k = 3: 5 and the first two 3s are selected
    x = torch.tensor([5.0, 1.0, 3.0, 3.0, 3.0, 0.0], dtype=torch.float64).view(1, 6, 1).requires_grad_()
    y = ops.topk_pool(x, k=3)
    y.backward()
    assert y.item() == pytest.approx(11 / 3)
    assert x.grad.view(-1).tolist() == [1 / 3, 0, 1 / 3, 1 / 3, 0, 0]


def test_k_larger_than_T_averages_everything():
    x = make_x(2, 3, 4)
    y = ops.topk_pool(x, k=10)
    torch.testing.assert_close(y, x.mean(1), rtol=1e-12, atol=1e-12)
    y2 = ops.topk_pool(x, k=10, lengths=torch.tensor([1, 2]))
    torch.testing.assert_close(y2[0], x[0, 0])
    torch.testing.assert_close(y2[1], x[1, :2].mean(0))


def test_length_one_videos():
    x = make_x(3, 5, 2).requires_grad_()
    y = ops.topk_pool(x, ratio=10, lengths=torch.tensor([1, 1, 1]))
    assert torch.equal(y, x[:, 0].detach())
    y.sum().backward()
    assert torch.equal(x.grad[:, 0], torch.ones(3, 2, dtype=torch.float64))
    assert bool((x.grad[:, 1:] == 0).all())


def test_ratio_matches_authors_topk_mean_without_ties():
    x = make_x(4, 50, 21, dtype=torch.float32, seed=3).requires_grad_()
    y = ops.topk_pool(x, ratio=10)
    r = authors_topk_mean(x, 10)
    assert_close_scaled(y, r, torch.float32)
    g = torch.randn_like(y)
    assert torch.equal(torch.autograd.grad(y, x, g)[0], torch.autograd.grad(r, x, g)[0])


def test_nan_ranks_first_like_torch_topk():
    x = make_x(1, 8, 2)
    x[0, 5, 1] = float("nan")
    y = ops.topk_pool(x, k=2)
    assert not torch.isnan(y[0, 0]) and torch.isnan(y[0, 1])
    torch.testing.assert_close(y, reference_topk_pool(x, k=2), equal_nan=True)


def test_signed_zero_and_inf():
    x = torch.tensor([-0.0, 0.0, float("inf"), -float("inf")], dtype=torch.float64).view(1, 4, 1)
    x.requires_grad_()
    y = ops.topk_pool(x, k=2)
    y.backward()
    assert y.item() == float("inf")
    assert x.grad.view(-1).tolist() == [0.5, 0, 0.5, 0]  # -0 == +0: the earlier one wins


def test_numpy_path_matches_torch_and_returns_numpy():
    x = make_x(3, 20, 4, dtype=torch.float32, seed=5)
    L = np.array([20, 5, 1])
    yn = ops.topk_pool(x.numpy(), ratio=4, lengths=L)
    assert isinstance(yn, np.ndarray) and yn.dtype == np.float32
    yt = ops.topk_pool(x, ratio=4, lengths=torch.from_numpy(L))
    np.testing.assert_array_equal(yn, yt.numpy())


def test_non_contiguous_inputs():
    base = make_x(3, 4, 20)
    x = base.transpose(1, 2)  # [3, 20, 4] view, not contiguous
    assert not x.is_contiguous()
    torch.testing.assert_close(ops.topk_pool(x, ratio=5), reference_topk_pool(x, ratio=5))
    yn = ops.topk_pool(x.numpy(), ratio=5)
    np.testing.assert_allclose(yn, reference_topk_pool(x, ratio=5).numpy(), rtol=1e-12)


def test_empty_batch_and_classes():
    assert ops.topk_pool(torch.zeros(0, 5, 3), k=2).shape == (0, 3)
    assert ops.topk_pool(torch.zeros(2, 5, 0), k=2).shape == (2, 0)
    assert ops.topk_pool(np.zeros((0, 5, 3)), k=2).shape == (0, 3)
    with pytest.raises(ValueError, match="time step"):
        ops.topk_pool(torch.zeros(2, 0, 3), k=2)
    with pytest.raises(ValueError, match="time step"):
        ops.topk_pool(np.zeros((2, 0, 3)), k=2)


def test_import_does_not_import_torch(tmp_path):
    # cwd outside the source tree, so an installed wtal is not shadowed by the uncompiled sources
    code = "import sys, wtal.ops; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


# ---------------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("as_numpy", [False, True])
def test_bad_input_names_the_argument(as_numpy):
    def conv(t):
        return t.numpy() if as_numpy else t

    x = conv(make_x(2, 6, 3))
    with pytest.raises(TypeError, match="x"):
        ops.topk_pool(conv(torch.zeros(2, 6, 3, dtype=torch.int64)), k=2)
    with pytest.raises(ValueError, match="x"):
        ops.topk_pool(conv(torch.zeros(6, 3)), k=2)
    with pytest.raises(ValueError, match="k"):
        ops.topk_pool(x, k=0)
    with pytest.raises(TypeError, match="k"):
        ops.topk_pool(x, k=2.5)
    with pytest.raises(ValueError, match="ratio"):
        ops.topk_pool(x, ratio=0)
    with pytest.raises(ValueError, match="k or ratio"):
        ops.topk_pool(x)
    with pytest.raises(ValueError, match="k or ratio"):
        ops.topk_pool(x, k=2, ratio=2)
    with pytest.raises(ValueError, match="lengths"):
        ops.topk_pool(x, k=2, lengths=conv(torch.tensor([3, -1])))
    with pytest.raises(ValueError, match="lengths"):
        ops.topk_pool(x, k=2, lengths=conv(torch.tensor([3, 0])))
    with pytest.raises(ValueError, match="lengths"):
        ops.topk_pool(x, k=2, lengths=conv(torch.tensor([7, 1])))
    with pytest.raises(ValueError, match="lengths"):
        ops.topk_pool(x, k=2, lengths=conv(torch.tensor([3, 1, 2])))
    with pytest.raises(TypeError, match="lengths"):
        ops.topk_pool(x, k=2, lengths=conv(torch.tensor([3.0, 1.0])))


def test_half_precision_on_cpu_is_refused():
    with pytest.raises(TypeError, match="x must be float32 or float64 on cpu"):
        ops.topk_pool(torch.zeros(2, 6, 3, dtype=torch.bfloat16), k=2)


# ---------------------------------------------------------------------------------------------------
# autograd, torch.library and torch.compile integration
# ---------------------------------------------------------------------------------------------------
def test_gradcheck_and_gradgradcheck():
    x = make_x(3, 9, 4, seed=11).requires_grad_()
    L = torch.tensor([9, 4, 1])
    fn = lambda t: ops.topk_pool(t, ratio=3, lengths=L)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))
    fk = lambda t: ops.topk_pool(t, k=12)  # noqa: E731  (k > T)
    assert torch.autograd.gradcheck(fk, (x,))


def test_opcheck():
    x = make_x(3, 9, 4, dtype=torch.float32).requires_grad_()
    L = torch.tensor([9, 4, 1])
    torch.library.opcheck(torch.ops.wtal.topk_pool.default, (x, L, 0, 3))
    torch.library.opcheck(torch.ops.wtal.topk_pool.default, (x, None, 5, 0))
    y, cv, ci = torch.ops.wtal.topk_pool(x.detach(), L, 0, 3)
    g = torch.randn_like(y).requires_grad_()
    torch.library.opcheck(torch.ops.wtal.topk_pool_backward.default, (g, x.detach(), L, cv, ci, 0, 3))


def test_torch_compile_fullgraph():
    torch._dynamo.reset()

    def f(x, lengths):
        return ops.topk_pool(torch.tanh(x), ratio=4, lengths=lengths).square().sum()

    x = make_x(3, 17, 5, dtype=torch.float32, seed=2).requires_grad_()
    L = torch.tensor([17, 8, 2])
    cf = torch.compile(f, fullgraph=True)
    out = cf(x, L)
    gc, = torch.autograd.grad(out, x)
    ref = f(x, L)
    ge, = torch.autograd.grad(ref, x)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(gc, ge)


# ---------------------------------------------------------------------------------------------------
# CUDA (skipped without a GPU)
# ---------------------------------------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(3, 37, 5), (2, 500, 21), (4, 2000, 201), (2, 30000, 3), (5, 1, 7)])
@pytest.mark.parametrize("ties", [False, True])
def test_cuda_matches_cpu(dtype, shape, ties):
    B, T, C = shape
    x = make_x(B, T, C, dtype=dtype, seed=4, ties=ties)
    L = make_lengths(B, T, 4)
    for kw in (dict(ratio=10), dict(k=7), dict(ratio=1)):
        xc = x.clone().requires_grad_()
        xg = x.cuda().requires_grad_()
        yc = ops.topk_pool(xc, lengths=L, **kw)
        yg = ops.topk_pool(xg, lengths=L.cuda(), **kw)
        assert_close_scaled(yg.cpu(), yc.detach(), dtype)
        g = make_x(B, 1, C, dtype=dtype, seed=9)[:, 0]
        gc, = torch.autograd.grad(yc, xc, g)
        gg, = torch.autograd.grad(yg, xg, g.cuda())
        assert torch.equal(gg.cpu(), gc)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_half_precision_matches_float32(dtype):
    x = make_x(3, 300, 21, dtype=dtype, seed=6, ties=False)
    L = torch.tensor([300, 120, 7])
    xg = x.cuda().requires_grad_()
    yg = ops.topk_pool(xg, ratio=10, lengths=L.cuda())
    assert yg.dtype == dtype
    x32 = x.float().requires_grad_()
    y32 = ops.topk_pool(x32, ratio=10, lengths=L)
    torch.testing.assert_close(yg.float().cpu(), y32.detach().to(dtype).float(), rtol=1e-2, atol=1e-2)
    g = torch.ones(3, 21)
    gg, = torch.autograd.grad(yg, xg, g.cuda().to(dtype))
    gc, = torch.autograd.grad(y32, x32, g)
    # same selection (the float16/bfloat16 values are exact in float32)
    assert torch.equal(gg.cpu() != 0, gc != 0)


@pytest.mark.cuda
def test_cuda_opcheck_and_bad_lengths():
    x = make_x(2, 40, 3, dtype=torch.float32).cuda()
    with pytest.raises(ValueError, match="lengths"):
        ops.topk_pool(x, ratio=4, lengths=torch.tensor([41, 3], device="cuda"))
    torch.library.opcheck(torch.ops.wtal.topk_pool.default, (x.requires_grad_(), torch.tensor([40, 3], device="cuda"), 0, 4))
