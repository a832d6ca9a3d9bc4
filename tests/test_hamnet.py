"""HAM-Net model and losses against a literal transcription of the authors' code
(asrafulashiq/hamnet ``system/system_th.py``: ``_multiply``, ``topkloss``, ``ADL``, ``_loss_fn``)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from wtal.models.hamnet import HAMNet, HamNetConfig, hybrid_attention_pool_eager, mil_loss
from wtal.models.hamnet_config import LOSS_TERMS


# ---------------------------------------------------------------------- the authors' code, transcribed
def _multiply(x, atn, dim=-1, include_min=False):
    if include_min:
        _min = x.min(dim=dim, keepdim=True)[0]
    else:
        _min = 0
    return atn * (x - _min) + _min


def topkloss(element_logits, labels, is_back=True, rat=8):
    if is_back:
        labels_with_back = torch.cat((labels, torch.ones_like(labels[:, [0]])), dim=-1)
    else:
        labels_with_back = torch.cat((labels, torch.zeros_like(labels[:, [0]])), dim=-1)
    topk_val, _ = torch.topk(element_logits, k=max(1, int(element_logits.shape[-2] // rat)), dim=-2)
    instance_logits = torch.mean(topk_val, dim=-2)
    labels_with_back = labels_with_back / (torch.sum(labels_with_back, dim=1, keepdim=True) + 1e-4)
    return (-(labels_with_back * F.log_softmax(instance_logits, dim=-1)).sum(dim=-1)).mean()


def adl(x_atn, drop_thres, include_min=False):  # ADL.forward in training mode; x_atn [B, 1, T]
    if include_min:
        atn_max = x_atn.max(dim=-1, keepdim=True)[0]
        atn_min = x_atn.min(dim=-1, keepdim=True)[0]
        _thres = (atn_max - atn_min) * drop_thres + atn_min
    else:
        _thres = x_atn.max(dim=-1, keepdim=True)[0] * drop_thres
    return (x_atn < _thres).type_as(x_atn) * x_atn


def authors_loss(element_logits, element_atn, labels, *, rat, drop_thres, wt, lm_1, lm_2, alpha, beta,
                 include_min=False):
    # _loss_fn calls self.net(features): ADL runs with include_min=False
    element_atn_drop = adl(element_atn.transpose(-1, -2), drop_thres, include_min).transpose(-1, -2)
    element_logits_supp = _multiply(element_logits, element_atn)
    element_logits_drop = _multiply(element_logits, (element_atn_drop > 0).type_as(element_logits),
                                    include_min=True)
    element_logits_drop_supp = _multiply(element_logits, element_atn_drop, include_min=True)
    loss_1_orig = topkloss(element_logits, labels, is_back=True, rat=rat)
    loss_2_orig_supp = topkloss(element_logits_supp, labels, is_back=False, rat=rat)
    loss_1_drop = topkloss(element_logits_drop, labels, is_back=True, rat=rat)
    loss_2_drop_supp = topkloss(element_logits_drop_supp, labels, is_back=False, rat=rat)
    loss_1 = wt * loss_1_drop + (1 - wt) * loss_1_orig
    loss_2 = wt * loss_2_drop_supp + (1 - wt) * loss_2_orig_supp
    loss_norm = element_atn.sort(dim=-2)[0].mean()
    loss_guide = (1 - element_atn - element_logits.softmax(-1)[..., [-1]]).abs().mean()
    terms = {"bcl": loss_1_orig, "hal": loss_1_drop, "sal": loss_2_orig_supp, "ssal": loss_2_drop_supp,
             "sparse": loss_norm, "guide": loss_guide}
    return lm_1 * loss_1 + lm_2 * loss_2 + alpha * loss_norm + beta * loss_guide, terms


THUMOS = dict(rat=10, drop_thres=0.2, wt=0.2, lm_1=1.0, lm_2=1.0, alpha=0.8, beta=0.8)
ANET = dict(rat=20, drop_thres=0.2, wt=0.5, lm_1=0.25, lm_2=2.0, alpha=0.5, beta=0.1)


def _inputs(B=4, T=60, C=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    cas = torch.randn(B, T, C + 1, generator=g, dtype=dtype) * 2
    att = torch.sigmoid(torch.randn(B, T, generator=g, dtype=dtype) * 2)
    labels = torch.zeros(B, C, dtype=dtype)
    for b in range(B):
        labels[b, b % C] = 1
    labels[0, (1 + 0) % C] = 1  # a multi-label video
    return cas, att, labels


def _model(C=5, D=16, **kw):
    torch.manual_seed(0)
    kw.setdefault("pooling", "eager")
    cfg = HamNetConfig(att_hidden=12, **kw)
    return HAMNet(D, C, cfg).double()


def _ops_pool():
    import wtal.ops

    return getattr(wtal.ops, "hybrid_attention_pool", None)


# ---------------------------------------------------------------------- architecture
def test_forward_shapes_and_background_last():
    m = _model().eval()
    x = torch.randn(3, 40, 16, dtype=torch.float64)
    out = m(x, torch.tensor([40, 25, 1]))
    assert out["cas"].shape == (3, 40, 6)
    assert out["attention"].shape == (3, 40)
    assert out["lengths"].tolist() == [40, 25, 1]
    assert (out["attention"][0] > 0).all() and (out["attention"][0] < 1).all()
    assert m.cls_out.out_channels == 6  # C + 1, the last is background by construction of the losses
    assert (out["cas"][1, 25:] == 0).all() and (out["attention"][2, 1:] == 0).all()


def test_init_is_kaiming_uniform_a0_zero_bias():
    torch.manual_seed(0)
    m = HAMNet(64, 3, HamNetConfig(att_hidden=32))
    for conv in (m.cls_conv1, m.cls_conv2, m.cls_out, m.att_conv1, m.att_conv2, m.att_out):
        fan_in = conv.in_channels * conv.kernel_size[0]
        bound = math.sqrt(2.0) * math.sqrt(3.0 / fan_in)  # gain sqrt(2) for leaky_relu with a=0
        assert conv.weight.abs().max() <= bound + 1e-7
        assert conv.weight.abs().max() > 0.8 * bound
        assert (conv.bias == 0).all()


def test_dropout_only_in_classifier_and_train_mode():
    m = _model(dropout=0.7)
    x = torch.randn(2, 30, 16, dtype=torch.float64)
    m.train()
    a1, a2 = m(x)["attention"], m(x)["attention"]
    c1, c2 = m(x)["cas"], m(x)["cas"]
    assert torch.equal(a1, a2)  # no dropout in the attention branch
    assert not torch.equal(c1, c2)
    m.eval()
    assert torch.equal(m(x)["cas"], m(x)["cas"])


def test_padded_batch_equals_per_video_forward():
    m = _model().eval()
    x = torch.randn(3, 50, 16, dtype=torch.float64)
    lengths = torch.tensor([50, 33, 2])
    out = m(x, lengths)
    for b, L in enumerate(lengths.tolist()):
        single = m(x[b:b + 1, :L])
        torch.testing.assert_close(out["cas"][b, :L], single["cas"][0], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(out["attention"][b, :L], single["attention"][0], rtol=1e-10, atol=1e-10)


def test_activitynet_smoothing_is_avgpool17_count_include_pad():
    m = _model(smooth_kernel=17).eval()
    x = torch.randn(2, 30, 16, dtype=torch.float64)
    out = m(x, torch.tensor([30, 12]))
    ref = HAMNet.__new__(HAMNet)  # the unsmoothed heads of the same weights
    nn_ref = _model(smooth_kernel=0).eval()
    nn_ref.load_state_dict(m.state_dict())
    for b, L in enumerate([30, 12]):
        raw = nn_ref(x[b:b + 1, :L])
        cas = F.avg_pool1d(raw["cas"].transpose(1, 2), 17, 1, 8, count_include_pad=True).transpose(1, 2)
        att = F.avg_pool1d(raw["attention"][:, None], 17, 1, 8, count_include_pad=True)[:, 0]
        torch.testing.assert_close(out["cas"][b, :L], cas[0])
        torch.testing.assert_close(out["attention"][b, :L], att[0])
    del ref


# ---------------------------------------------------------------------- losses vs the authors' code
@pytest.mark.parametrize("preset,cfg", [("thumos", HamNetConfig.thumos14()),
                                        ("anet", HamNetConfig.activitynet())])
@pytest.mark.parametrize("pooling", ["eager", "op"])
@pytest.mark.parametrize("threshold", ["max", "range"])
def test_loss_matches_authors_code(preset, cfg, pooling, threshold):
    if pooling == "op" and _ops_pool() is None:
        pytest.skip("wtal.ops.hybrid_attention_pool not in this build yet")
    params = THUMOS if preset == "thumos" else ANET
    T = 80 if preset == "anet" else 120
    cas, att, labels = _inputs(T=T)
    cas.requires_grad_(True)
    att.requires_grad_(True)
    ref_total, ref_terms = authors_loss(cas, att[..., None], labels, **params, include_min=threshold == "range")
    cfg.pooling = pooling
    cfg.drop_threshold = threshold
    m = HAMNet(8, labels.shape[1], cfg).double()
    got = m.loss({"cas": cas, "attention": att, "lengths": torch.full((cas.shape[0],), T)}, {"labels": labels})
    for k in LOSS_TERMS:
        torch.testing.assert_close(got[k], ref_terms[k], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got["total"], ref_total, rtol=1e-10, atol=1e-12)
    g_ref = torch.autograd.grad(ref_total, (cas, att))
    g_got = torch.autograd.grad(got["total"], (cas, att))
    for a, b in zip(g_got, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_effective_weights_follow_code_mixing():
    for cfg, p in ((HamNetConfig.thumos14(), THUMOS), (HamNetConfig.activitynet(), ANET)):
        w = cfg.weights()
        assert w["bcl"] == pytest.approx(p["lm_1"] * (1 - p["wt"]))
        assert w["hal"] == pytest.approx(p["lm_1"] * p["wt"])
        assert w["sal"] == pytest.approx(p["lm_2"] * (1 - p["wt"]))
        assert w["ssal"] == pytest.approx(p["lm_2"] * p["wt"])
        assert w["sparse"] == p["alpha"] and w["guide"] == p["beta"]
        assert cfg.topk_ratio == p["rat"] and cfg.gamma == p["drop_thres"]


def test_mil_loss_label_normalisation():
    pooled = torch.zeros(1, 3, dtype=torch.float64)  # uniform softmax: -log(1/3) per unit of label mass
    y = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    assert mil_loss(pooled, y, is_back=True).item() == pytest.approx(3 / (3 + 1e-4) * math.log(3))
    assert mil_loss(pooled, y, is_back=False).item() == pytest.approx(2 / (2 + 1e-4) * math.log(3))


@pytest.mark.parametrize("threshold,gamma", [("range", 0.2), ("max", 0.25)])
def test_hard_and_semi_soft_masks_threshold_and_class_min(threshold, gamma):
    # range: thr = 0.1 + 0.2 * 0.8 = 0.26; max: thr = 0.25 * 0.9 = 0.225 -> a < thr keeps 0.1 and 0.2
    att = torch.tensor([[0.1, 0.2, 0.3, 0.9]], dtype=torch.float64)
    cas = torch.tensor([[[1.0, -2.0], [3.0, 0.0], [5.0, 1.0], [7.0, -1.0]]], dtype=torch.float64)
    base, soft, semi, hard = hybrid_attention_pool_eager(cas, att, gamma=gamma, ratio=1, threshold=threshold)
    s_hard = torch.tensor([[1.0, -2.0], [3.0, 0.0], [1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    torch.testing.assert_close(hard, s_hard.mean(0, keepdim=True))
    m = cas.min(-1, keepdim=True).values[0]
    s_semi = torch.tensor([[0.1], [0.2], [0.0], [0.0]], dtype=torch.float64) * (cas[0] - m) + m
    torch.testing.assert_close(semi, s_semi.mean(0, keepdim=True))
    torch.testing.assert_close(soft, (att[0, :, None] * cas[0]).mean(0, keepdim=True))
    torch.testing.assert_close(base, cas[0].mean(0, keepdim=True))


def test_variable_lengths_equal_per_video_losses():
    cas, att, labels = _inputs(B=3, T=70)
    lengths = torch.tensor([70, 41, 9])
    m = _model()
    batched = hybrid_attention_pool_eager(cas, att, gamma=0.2, ratio=10, lengths=lengths)
    for b, L in enumerate(lengths.tolist()):
        single = hybrid_attention_pool_eager(cas[b:b + 1, :L], att[b:b + 1, :L], gamma=0.2, ratio=10)
        for x, y in zip(batched, single):
            torch.testing.assert_close(x[b], y[0])
    # every term is the batch mean of per-video values over each video's valid snippets
    got = m.loss({"cas": cas, "attention": att, "lengths": lengths}, {"labels": labels})
    singles = [m.loss({"cas": cas[b:b + 1, :L], "attention": att[b:b + 1, :L]}, {"labels": labels[b:b + 1]})
               for b, L in enumerate(lengths.tolist())]
    for term in got:
        torch.testing.assert_close(got[term], torch.stack([s[term] for s in singles]).mean())


# ---------------------------------------------------------------------- ablation switches
def test_ablation_switches_remove_terms():
    cas, att, labels = _inputs()
    full = _model().loss({"cas": cas, "attention": att}, {"labels": labels})
    for term in LOSS_TERMS:
        m = _model(**{f"use_{term}": False})
        got = m.loss({"cas": cas, "attention": att}, {"labels": labels})
        w = HamNetConfig().weights()
        expect = sum(w[t] * full[t] for t in LOSS_TERMS if t != term)
        torch.testing.assert_close(got["total"], expect)


def test_bcl_only_trains_no_attention_branch():
    m = _model(use_hal=False, use_sal=False, use_ssal=False, use_sparse=False, use_guide=False)
    x = torch.randn(2, 40, 16, dtype=torch.float64)
    y = torch.tensor([[1.0, 0, 0, 0, 0], [0, 1.0, 0, 0, 0]], dtype=torch.float64)
    out = m(x)
    m.loss(out, {"labels": y})["total"].backward()
    assert m.att_conv1.weight.grad is None or (m.att_conv1.weight.grad == 0).all()
    assert m.cls_conv1.weight.grad.abs().sum() > 0
    assert m.config.weights() == {"bcl": 0.8, "hal": 0.0, "sal": 0.0, "ssal": 0.0, "sparse": 0.0, "guide": 0.0}


def test_config_validation():
    with pytest.raises(ValueError, match="pooling"):
        HamNetConfig(pooling="fast").validate()
    with pytest.raises(ValueError, match="dropout"):
        HamNetConfig(dropout=1.0).validate()
    with pytest.raises(ValueError, match="smooth_kernel"):
        HamNetConfig(smooth_kernel=16).validate()
    with pytest.raises(ValueError, match="every loss term"):
        HamNetConfig(**{f"use_{t}": False for t in LOSS_TERMS}).validate()
    with pytest.raises(ValueError, match="features must have shape"):
        _model()(torch.randn(2, 10, 7, dtype=torch.float64))


def test_localization_inputs():
    m = _model().eval()
    out = m(torch.randn(2, 20, 16, dtype=torch.float64), torch.tensor([20, 5]))
    li = m.localization_inputs(out)
    assert set(li) == {"cas", "attention", "lengths"}
    assert li["cas"].dtype == torch.float32 and li["cas"].shape == (2, 20, 6)
    assert li["lengths"].tolist() == [20, 5]


@pytest.mark.parametrize("threshold", ["max", "range"])
def test_op_pooling_equals_eager_with_lengths(threshold):
    op = _ops_pool()
    if op is None:
        pytest.skip("wtal.ops.hybrid_attention_pool not in this build yet")
    cas, att, labels = _inputs(B=3, T=70)
    lengths = torch.tensor([70, 41, 9])
    for a, b in zip(op(cas, att, gamma=0.2, ratio=10, lengths=lengths, threshold=threshold),
                    hybrid_attention_pool_eager(cas, att, gamma=0.2, ratio=10, lengths=lengths, threshold=threshold)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    cas.requires_grad_(True)
    att.requires_grad_(True)
    losses = []
    for pooling in ("op", "eager"):
        m = _model(pooling=pooling, drop_threshold=threshold)
        losses.append(m.loss({"cas": cas, "attention": att, "lengths": lengths}, {"labels": labels})["total"])
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-12, atol=1e-12)
    for ga, gb in zip(torch.autograd.grad(losses[0], (cas, att)), torch.autograd.grad(losses[1], (cas, att))):
        torch.testing.assert_close(ga, gb, rtol=1e-10, atol=1e-12)
