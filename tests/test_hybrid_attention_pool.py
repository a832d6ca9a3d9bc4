"""wtal.ops.hybrid_attention_pool against the HAM-Net authors' loss code, re-typed as a plain reference."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

import wtal.ops as ops  # noqa: E402
from test_topk_pool import assert_close_scaled, make_lengths, topk_mean_stable  # noqa: E402


# ---------------------------------------------------------------------------------------------------
# reference (asrafulashiq/hamnet system/system_th.py: ADL.forward, _multiply, topkloss) and builders
# ---------------------------------------------------------------------------------------------------
def _multiply(x, atn, include_min=False):
    _min = x.min(dim=-1, keepdim=True)[0] if include_min else 0
    return atn * (x - _min) + _min


def adl_drop_mask(a, gamma, threshold="range"):
    """ADL.forward (training branch) on a [T] attention; threshold 'range' = include_min branch."""
    if threshold == "range":
        thr = (a.max() - a.min()) * gamma + a.min()
    else:
        thr = a.max() * gamma
    return (a < thr).type_as(a) * a


def hamnet_inputs(s, a, gamma, include_min=True, threshold="range"):
    """The four top-k inputs of HAM-Net's loss for one video: s [T, C+1], a [T]."""
    ad = adl_drop_mask(a, gamma, threshold)[:, None]
    a = a[:, None]
    return [s, _multiply(s, a), _multiply(s, ad, include_min), _multiply(s, (ad > 0).type_as(s), include_min)]


def reference_hybrid(cas, attention, *, gamma, ratio, lengths=None, include_min=True, threshold="range",
                     topk=topk_mean_stable):
    """Per video at its own length; ties resolved by a stable sort (lowest time index)."""
    B, T, C1 = cas.shape
    outs = [[], [], [], []]
    for b in range(B):
        n = T if lengths is None else int(lengths[b])
        k = max(1, n // ratio)
        for j, v in enumerate(hamnet_inputs(cas[b, :n], attention[b, :n], gamma, include_min, threshold)):
            outs[j].append(topk(v, k))
    return tuple(torch.stack(o) for o in outs)


def authors_hybrid(cas, attention, *, gamma, ratio, include_min=True):
    """HAM-Net's code path as written (batched, torch.topk, no lengths): the benchmark baseline."""
    atn = attention.unsqueeze(-1)
    amax = atn.max(dim=-2, keepdim=True)[0]
    amin = atn.min(dim=-2, keepdim=True)[0]
    atn_drop = (atn < (amax - amin) * gamma + amin).type_as(cas) * atn
    xs = [cas, _multiply(cas, atn), _multiply(cas, (atn_drop > 0).type_as(cas), include_min),
          _multiply(cas, atn_drop, include_min)]
    k = max(1, cas.shape[1] // ratio)
    base, soft, hard, semi = [torch.topk(x, k=k, dim=1).values.mean(1) for x in xs]
    return base, soft, semi, hard


def make_hybrid(B, T, C1, *, dtype=torch.float64, seed=0, ties=False, constant_attention=False, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    if ties:
        cas = torch.randint(-2, 3, (B, T, C1), generator=g).to(dtype)
        att = torch.randint(0, 5, (B, T), generator=g).to(dtype) / 4
    else:
        cas = torch.randn(B, T, C1, generator=g, dtype=torch.float64).to(dtype)
        att = torch.rand(B, T, generator=g, dtype=torch.float64).to(dtype)
    if constant_attention:
        att = torch.full_like(att, 0.3)
    return cas.to(device), att.to(device)


# ---------------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------------
@st.composite
def hybrid_cases(draw):
    B = draw(st.integers(1, 3))
    T = draw(st.integers(1, 30))
    C1 = draw(st.integers(1, 5))
    return dict(
        B=B, T=T, C1=C1,
        ratio=draw(st.integers(1, 12)),
        gamma=draw(st.one_of(st.sampled_from([0.0, 0.2, 0.5, 1.0]), st.floats(-0.5, 1.5))),
        ragged=draw(st.booleans()),
        include_min=draw(st.booleans()),
        threshold=draw(st.sampled_from(["range", "max"])),
        dtype=draw(st.sampled_from([torch.float32, torch.float64])),
        ties=draw(st.booleans()),
        constant=draw(st.booleans()) and draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


@given(hybrid_cases())
def test_matches_reference_values_and_grads(c):
    cas, att = make_hybrid(c["B"], c["T"], c["C1"], dtype=c["dtype"], seed=c["seed"], ties=c["ties"],
                           constant_attention=c["constant"])
    cas.requires_grad_()
    att.requires_grad_()
    L = make_lengths(c["B"], c["T"], c["seed"]) if c["ragged"] else None
    kw = dict(gamma=c["gamma"], ratio=c["ratio"], lengths=L, include_min=c["include_min"], threshold=c["threshold"])
    outs = ops.hybrid_attention_pool(cas, att, **kw)
    refs = reference_hybrid(cas, att, **kw)
    for o, r in zip(outs, refs):
        assert o.dtype == c["dtype"] and o.shape == (c["B"], c["C1"])
        assert_close_scaled(o, r, c["dtype"])
    gs = [torch.randn(o.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(c["seed"] + j))
          .to(c["dtype"]) for j, o in enumerate(outs)]
    go = torch.autograd.grad(outs, (cas, att), gs)
    gr = torch.autograd.grad(refs, (cas, att), gs, allow_unused=True)
    assert_close_scaled(go[0], gr[0], c["dtype"])
    assert_close_scaled(go[1], torch.zeros_like(att) if gr[1] is None else gr[1], c["dtype"])


@given(st.integers(1, 4), st.integers(1, 25), st.integers(1, 4), st.integers(1, 6), st.booleans(),
       st.integers(0, 999))
def test_padded_batch_equals_each_video_alone(B, T, C1, ratio, include_min, seed):
    cas, att = make_hybrid(B, T, C1, seed=seed)
    L = make_lengths(B, T, seed)
    pad = torch.arange(T).view(1, T) >= L.view(B, 1)
    cas = torch.where(pad.unsqueeze(-1), torch.full_like(cas, 1e30), cas).requires_grad_()
    att = torch.where(pad, torch.full_like(att, -5.0), att).requires_grad_()
    outs = ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=ratio, lengths=L, include_min=include_min)
    gs = [torch.ones_like(o) for o in outs]
    gc, ga = torch.autograd.grad(outs, (cas, att), gs)
    assert bool((gc[pad] == 0).all()) and bool((ga[pad] == 0).all())
    for b in range(B):
        n = int(L[b])
        cb = cas[b : b + 1, :n].detach().requires_grad_()
        ab = att[b : b + 1, :n].detach().requires_grad_()
        ob = ops.hybrid_attention_pool(cb, ab, gamma=0.2, ratio=ratio, include_min=include_min)
        for j in range(4):
            assert torch.equal(ob[j][0], outs[j][b])
        gcb, gab = torch.autograd.grad(ob, (cb, ab), [g[b : b + 1] for g in gs])
        assert torch.equal(gcb[0], gc[b, :n]) and torch.equal(gab[0], ga[b, :n])


# ---------------------------------------------------------------------------------------------------
# named cases
# ---------------------------------------------------------------------------------------------------
def test_reproduces_authors_code_thumos_config():
    # THUMOS14 training shapes: batch 20, T 500, 20 classes + background, gamma 0.2, rat 10
    cas, att = make_hybrid(20, 500, 21, dtype=torch.float32, seed=1)
    cas.requires_grad_()
    att.requires_grad_()
    outs = ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=10)
    refs = authors_hybrid(cas, att, gamma=0.2, ratio=10)
    for o, r in zip(outs, refs):
        assert_close_scaled(o, r, torch.float32)
    gs = [torch.randn_like(o) for o in outs]
    go = torch.autograd.grad(outs, (cas, att), gs)
    gr = torch.autograd.grad(refs, (cas, att), gs)
    for u, v in zip(go, gr):
        assert_close_scaled(u, v, torch.float32)


def test_semi_soft_keeps_snippets_below_threshold():
    # attention 0, .5, 1 with gamma .5: thr = .5 exactly; only a < thr is kept (strict), and a = 0 gives
    # a zero hard mask too; so both masked variants see only the class minimum m at every snippet
    cas = torch.tensor([[[1.0, 4.0], [2.0, 8.0], [3.0, 16.0]]], dtype=torch.float64)
    att = torch.tensor([[0.0, 0.5, 1.0]], dtype=torch.float64)
    base, soft, semi, hard = ops.hybrid_attention_pool(cas, att, gamma=0.5, ratio=3)
    assert base.tolist() == [[3.0, 16.0]]
    assert soft.tolist() == [[3.0, 16.0]]
    assert semi.tolist() == [[3.0, 3.0]] and hard.tolist() == [[3.0, 3.0]]
    # gamma .75: thr = .75 keeps snippet 1 (a = .5): semi = .5 * (s - m) + m, hard = s there
    base, soft, semi, hard = ops.hybrid_attention_pool(cas, att, gamma=0.75, ratio=3)
    assert semi.tolist() == [[3.0, 5.0]] and hard.tolist() == [[3.0, 8.0]]


def test_gamma_zero_and_one():
    cas, att = make_hybrid(2, 12, 3, seed=8)
    m = cas.min(-1, keepdim=True)[0].expand_as(cas)
    _, _, semi, hard = ops.hybrid_attention_pool(cas, att, gamma=0.0, ratio=4)
    expect = torch.stack([topk_mean_stable(m[b], 3) for b in range(2)])
    assert torch.equal(semi, expect) and torch.equal(hard, expect)
    _, _, semi, hard = ops.hybrid_attention_pool(cas, att, gamma=1.0, ratio=4)
    refs = reference_hybrid(cas, att, gamma=1.0, ratio=4)
    torch.testing.assert_close(semi, refs[2], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(hard, refs[3], rtol=1e-12, atol=1e-12)


def test_constant_attention_masks_everything():
    cas, att = make_hybrid(2, 10, 3, seed=3, constant_attention=True)
    base, soft, semi, hard = ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=5)
    m = cas.min(-1, keepdim=True)[0].expand_as(cas)
    expect = torch.stack([topk_mean_stable(m[b], 2) for b in range(2)])
    assert torch.equal(semi, expect) and torch.equal(hard, expect)
    torch.testing.assert_close(soft, 0.3 * base, rtol=1e-12, atol=1e-12)


def test_include_min_false_fills_with_zero():
    cas, att = make_hybrid(1, 8, 3, seed=4, constant_attention=True)
    _, _, semi, hard = ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=4, include_min=False)
    assert bool((semi == 0).all()) and bool((hard == 0).all())


def test_threshold_max_is_the_authors_other_branch():
    cas, att = make_hybrid(3, 40, 4, seed=12)
    outs = ops.hybrid_attention_pool(cas, att, gamma=0.6, ratio=8, threshold="max")
    refs = reference_hybrid(cas, att, gamma=0.6, ratio=8, threshold="max")
    for o, r in zip(outs, refs):
        torch.testing.assert_close(o, r, rtol=1e-12, atol=1e-12)


def test_min_gradient_goes_to_lowest_class_on_ties():
    cas = torch.tensor([[[1.0, 0.0, 0.0], [2.0, 5.0, 7.0]]], dtype=torch.float64, requires_grad=True)
    att = torch.tensor([[0.0, 1.0]], dtype=torch.float64, requires_grad=True)
    _, _, semi, hard = ops.hybrid_attention_pool(cas, att, gamma=0.5, ratio=2)  # k = 1
    (semi.sum() + hard.sum()).backward()
    r = reference_hybrid(cas, att, gamma=0.5, ratio=2)
    gc, = torch.autograd.grad(r[2].sum() + r[3].sum(), cas)
    assert torch.equal(cas.grad, gc)


def test_length_one_videos_and_T_smaller_than_ratio():
    cas, att = make_hybrid(3, 4, 3, seed=2)
    outs = ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=10, lengths=torch.tensor([1, 4, 2]))
    refs = reference_hybrid(cas, att, gamma=0.2, ratio=10, lengths=[1, 4, 2])
    for o, r in zip(outs, refs):
        torch.testing.assert_close(o, r, rtol=1e-12, atol=1e-12)
    assert torch.equal(outs[0][0], cas[0, 0])


def test_numpy_path_matches_torch():
    cas, att = make_hybrid(2, 30, 4, dtype=torch.float32, seed=5)
    L = np.array([30, 11])
    on = ops.hybrid_attention_pool(cas.numpy(), att.numpy(), gamma=0.2, ratio=5, lengths=L)
    ot = ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=5, lengths=torch.from_numpy(L))
    assert len(on) == 4
    for a, b in zip(on, ot):
        assert isinstance(a, np.ndarray) and a.dtype == np.float32
        np.testing.assert_array_equal(a, b.numpy())


def test_non_contiguous_inputs():
    cas, att = make_hybrid(2, 20, 3, seed=6)
    cas_nc = cas.transpose(1, 2).contiguous().transpose(1, 2)
    att_nc = att.t().contiguous().t()
    assert not cas_nc.is_contiguous() and not att_nc.is_contiguous()
    for o, r in zip(ops.hybrid_attention_pool(cas_nc, att_nc, gamma=0.2, ratio=4),
                    ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=4)):
        assert torch.equal(o, r)


def test_double_backward_is_refused():
    cas, att = make_hybrid(1, 6, 2, seed=1)
    cas.requires_grad_()
    outs = ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=2)
    g, = torch.autograd.grad(outs[0].sum() + outs[2].sum(), cas, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        g.sum().backward()


@pytest.mark.parametrize("as_numpy", [False, True])
def test_bad_input_names_the_argument(as_numpy):
    def conv(t):
        return t.numpy() if as_numpy else t

    cas, att = (conv(t) for t in make_hybrid(2, 6, 3))
    kw = dict(gamma=0.2, ratio=2)
    with pytest.raises(TypeError, match="cas"):
        ops.hybrid_attention_pool(conv(torch.zeros(2, 6, 3, dtype=torch.int32)), att, **kw)
    with pytest.raises(TypeError, match="attention"):
        ops.hybrid_attention_pool(cas, conv(torch.zeros(2, 6, dtype=torch.float32)), **kw)
    with pytest.raises(TypeError, match="attention"):
        ops.hybrid_attention_pool(cas, conv(torch.zeros(2, 6, dtype=torch.int64)), **kw)
    with pytest.raises(ValueError, match="disagree on B"):
        ops.hybrid_attention_pool(cas, conv(torch.zeros(3, 6, dtype=torch.float64)), **kw)
    with pytest.raises(ValueError, match="disagree on T"):
        ops.hybrid_attention_pool(cas, conv(torch.zeros(2, 5, dtype=torch.float64)), **kw)
    with pytest.raises(ValueError, match="attention"):
        ops.hybrid_attention_pool(cas, conv(torch.zeros(2, 6, 1, dtype=torch.float64)), **kw)
    with pytest.raises(ValueError, match="ratio"):
        ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=0)
    with pytest.raises(ValueError, match="gamma"):
        ops.hybrid_attention_pool(cas, att, gamma=float("nan"), ratio=2)
    with pytest.raises(TypeError, match="gamma"):
        ops.hybrid_attention_pool(cas, att, gamma="0.2", ratio=2)
    with pytest.raises(ValueError, match="threshold"):
        ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=2, threshold="min")
    with pytest.raises(TypeError, match="include_min"):
        ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=2, include_min=1)
    for bad in ([3, -1], [7, 1], [0, 2]):
        with pytest.raises(ValueError, match="lengths"):
            ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=2, lengths=conv(torch.tensor(bad)))
    with pytest.raises(ValueError, match="lengths"):
        ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=2, lengths=conv(torch.tensor([1, 2, 3])))
    with pytest.raises(TypeError, match="lengths"):
        ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=2, lengths=conv(torch.tensor([1.0, 2.0])))


def test_empty_batch():
    outs = ops.hybrid_attention_pool(torch.zeros(0, 5, 3), torch.zeros(0, 5), gamma=0.2, ratio=2)
    assert [tuple(o.shape) for o in outs] == [(0, 3)] * 4


# ---------------------------------------------------------------------------------------------------
# autograd, torch.library and torch.compile integration
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("include_min", [True, False])
def test_gradcheck(include_min):
    cas, att = make_hybrid(3, 12, 4, seed=13)
    cas.requires_grad_()
    att.requires_grad_()
    L = torch.tensor([12, 5, 1])
    fn = lambda c, a: ops.hybrid_attention_pool(c, a, gamma=0.3, ratio=3, lengths=L,  # noqa: E731
                                                include_min=include_min)
    assert torch.autograd.gradcheck(fn, (cas, att))


def test_opcheck():
    cas, att = make_hybrid(3, 12, 4, dtype=torch.float32, seed=13)
    cas.requires_grad_()
    att.requires_grad_()
    L = torch.tensor([12, 5, 1])
    torch.library.opcheck(torch.ops.wtal.hybrid_attention_pool.default, (cas, att, L, 0.2, 3, True, 0))
    torch.library.opcheck(torch.ops.wtal.hybrid_attention_pool.default, (cas, att, None, 0.5, 2, False, 1))


def test_torch_compile_fullgraph():
    torch._dynamo.reset()

    def loss(cas, att, lengths):
        base, soft, semi, hard = ops.hybrid_attention_pool(cas, torch.sigmoid(att), gamma=0.2, ratio=4,
                                                           lengths=lengths)
        return (0.8 * base.logsumexp(-1) + 0.2 * hard.logsumexp(-1) + soft.sum(-1) + semi.sum(-1)).mean()

    cas, att = make_hybrid(3, 21, 5, dtype=torch.float32, seed=7)
    cas.requires_grad_()
    att.requires_grad_()
    L = torch.tensor([21, 9, 3])
    out = torch.compile(loss, fullgraph=True)(cas, att, L)
    gc = torch.autograd.grad(out, (cas, att))
    ref = loss(cas, att, L)
    ge = torch.autograd.grad(ref, (cas, att))
    torch.testing.assert_close(out, ref)
    for u, v in zip(gc, ge):
        torch.testing.assert_close(u, v)


# ---------------------------------------------------------------------------------------------------
# CUDA (skipped without a GPU)
# ---------------------------------------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(3, 37, 5), (20, 500, 21), (4, 2000, 201), (2, 30000, 3), (4, 1, 2)])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("include_min,threshold", [(True, "range"), (False, "max")])
def test_cuda_matches_cpu(dtype, shape, ties, include_min, threshold):
    B, T, C1 = shape
    cas, att = make_hybrid(B, T, C1, dtype=dtype, seed=3, ties=ties)
    L = make_lengths(B, T, 3)
    kw = dict(gamma=0.2, ratio=10, include_min=include_min, threshold=threshold)
    cc, ac = cas.clone().requires_grad_(), att.clone().requires_grad_()
    cg, ag = cas.cuda().requires_grad_(), att.cuda().requires_grad_()
    oc = ops.hybrid_attention_pool(cc, ac, lengths=L, **kw)
    og = ops.hybrid_attention_pool(cg, ag, lengths=L.cuda(), **kw)
    for u, v in zip(og, oc):
        assert_close_scaled(u.cpu(), v.detach(), dtype)
    gs = [torch.randn(o.shape, generator=torch.Generator().manual_seed(j)).to(dtype) for j, o in enumerate(oc)]
    gcpu = torch.autograd.grad(oc, (cc, ac), gs)
    ggpu = torch.autograd.grad(og, (cg, ag), [g.cuda() for g in gs])
    for u, v in zip(ggpu, gcpu):
        assert_close_scaled(u.cpu(), v, dtype)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_half_precision_matches_float32(dtype):
    cas, att = make_hybrid(4, 300, 21, dtype=dtype, seed=9)
    og = ops.hybrid_attention_pool(cas.cuda(), att.cuda(), gamma=0.2, ratio=10)
    o32 = ops.hybrid_attention_pool(cas.float(), att.float(), gamma=0.2, ratio=10)
    for u, v in zip(og, o32):
        assert u.dtype == dtype
        torch.testing.assert_close(u.float().cpu(), v.to(dtype).float(), rtol=1e-2, atol=1e-2)


@pytest.mark.cuda
def test_cuda_opcheck_and_bad_lengths():
    cas, att = make_hybrid(2, 40, 3, dtype=torch.float32, device="cuda")
    with pytest.raises(ValueError, match="lengths"):
        ops.hybrid_attention_pool(cas, att, gamma=0.2, ratio=4, lengths=torch.tensor([41, 3], device="cuda"))
    torch.library.opcheck(torch.ops.wtal.hybrid_attention_pool.default,
                          (cas.requires_grad_(), att.requires_grad_(), torch.tensor([40, 3], device="cuda"),
                           0.2, 4, True, 0))
