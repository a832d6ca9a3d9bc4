"""FAC-Net model and losses against a literal transcription of the authors' code and against the paper's
equations.

The transcription below is LeonHLJ/FAC-Net at 22c24fa/c010886 (the files did not change after the first
commit): ``model/main_branch.py`` (``weights_init_random``, ``calculate_l1_norm``, ``WSTAL``,
``FeatureEmbedding``), ``model/losses.py`` (``NormalizedCrossEntropy``) and the loss/accumulation part of
``train_Processor.py`` (``Processor.train``). Only ``Variable(...)`` wrappers (no-ops since torch 0.4)
and the ``pdb`` import are dropped.
"""
from __future__ import annotations

import dataclasses
import math
import types

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.init as torch_init

from wtal.models.facnet import FACNet, FeatureEmbedding, normalized_cross_entropy
from wtal.models.facnet_config import SPEC, FacNetConfig
from wtal.models.registry import get_spec


# ---------------------------------------------------------------------- the authors' code, transcribed
def weights_init_random(m):
    classname = m.__class__.__name__
    if classname.find('Conv2d') != -1 or classname.find('Linear') != -1:
        torch_init.xavier_uniform_(m.weight)
        m.bias.data.fill_(0)


def calculate_l1_norm(f):
    f_norm = torch.norm(f, p=2, dim=-1, keepdim=True)
    f = torch.div(f, f_norm)
    return f


class WSTAL(nn.Module):
    def __init__(self, args):
        super().__init__()
        # read parameters
        self.n_in = args.inp_feat_num
        self.n_out = args.out_feat_num
        self.n_class = args.class_num
        # hyper-parameters
        self.dropout = args.dropout
        self.scale_factor = args.scale_factor
        self.temperature = args.temperature

        # feature embedding
        self.feature_embedding = AuthorsFeatureEmbedding(self.n_in, self.n_out, self.dropout)
        # action features
        self.ac_center = nn.Parameter(torch.zeros(self.n_class + 1, self.n_out))
        torch_init.xavier_uniform_(self.ac_center)
        # foreground feature
        self.fg_center = nn.Parameter(-1.0 * self.ac_center[-1, ...][None, ...])

        self.apply(weights_init_random)

    def forward(self, x):
        # feature embedding
        x_emb = self.feature_embedding(x)

        # normalization
        norms_emb = calculate_l1_norm(x_emb)
        norms_ac = calculate_l1_norm(self.ac_center)
        norms_fg = calculate_l1_norm(self.fg_center)

        # generate foeground and action scores
        frm_scrs = torch.einsum('ntd,cd->ntc', [norms_emb, norms_ac]) * self.scale_factor
        frm_fg_scrs = torch.einsum('ntd,kd->ntk', [norms_emb, norms_fg]).squeeze(-1) * self.scale_factor

        # attention
        class_wise_atts = [F.softmax(frm_scrs * t, 1) for t in self.temperature]
        class_agno_atts = [F.softmax(frm_fg_scrs * t, 1) for t in self.temperature]

        # class-wise foreground classification branch
        # class-wise feature aggregation
        cw_vid_feats = [torch.einsum('ntd,ntc->ncd', [x_emb, att]) for att in class_wise_atts]
        # normalization
        norms_cw_vid_feats = [calculate_l1_norm(f) for f in cw_vid_feats]
        # calculate score
        cw_vid_scrs = [torch.einsum('ncd,kd->nck', [f, norms_fg]).squeeze(-1) for f in norms_cw_vid_feats]
        cw_vid_scr = torch.stack(cw_vid_scrs, -1).mean(-1) * self.scale_factor * 2.0  # here we keep the scale of cosine similarity as 10.0
        cw_vid_pred = F.softmax(cw_vid_scr, -1)

        # class-agnostic branch
        # foreground feature aggregation
        ca_vid_feats = [torch.einsum('ntd,nt->nd', [x_emb, att]) for att in class_agno_atts]
        # normalization
        norms_ca_vid_feats = [calculate_l1_norm(f) for f in ca_vid_feats]
        # calculate score
        ca_vid_scrs = [torch.einsum('nd,cd->nc', [f, norms_ac]).squeeze(-1) for f in norms_ca_vid_feats]
        ca_vid_scr = torch.stack(ca_vid_scrs, -1).mean(-1) * self.scale_factor * 2.0
        ca_vid_pred = F.softmax(ca_vid_scr, -1)

        # multiple instance learning branch
        # temporal score aggregation
        mid_vid_scrs = [torch.einsum('ntc,ntc->nc', [frm_scrs, att]) for att in class_wise_atts]
        mil_vid_scr = torch.stack(mid_vid_scrs, -1).mean(-1) * 2.0 # frm_scrs have been multiplied by the scale factor
        mil_vid_pred = F.softmax(mil_vid_scr, -1)

        return cw_vid_pred, ca_vid_pred, mil_vid_pred, frm_scrs


class AuthorsFeatureEmbedding(nn.Module):  # `FeatureEmbedding` in model/main_branch.py
    def __init__(self, n_in, n_out, dropout):
        super().__init__()
        self.process = nn.Sequential(
            nn.Linear(n_in, n_in),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(n_in, n_out),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        x = self.process(x)
        return x


class NormalizedCrossEntropy(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, pred, labels):
        new_labels = labels / (torch.sum(labels, dim=1, keepdim=True) + 1e-8)
        loss = -1.0 * torch.mean(torch.sum(new_labels * torch.log(pred), dim=1), dim=0)
        return loss


def authors_losses(model, features, labels, args):
    """One iteration of ``Processor.train`` up to ``total_loss`` (their per-video batch of 1)."""
    loss_nce = NormalizedCrossEntropy()
    ab_labels = torch.cat([labels, torch.ones(labels.size(0), 1, dtype=labels.dtype)], -1)
    awb_labels = torch.cat([labels, torch.zeros(labels.size(0), 1, dtype=labels.dtype)], -1)

    cw_pred, ca_pred, mil_pred, frm_scrs = model(features)

    cls_cw_loss = loss_nce(cw_pred, awb_labels)
    cls_ca_loss = loss_nce(ca_pred, awb_labels)
    cls_mil_loss = loss_nce(mil_pred, ab_labels)

    total_loss = cls_cw_loss * args.lambda_cw + cls_ca_loss * args.lambda_ca \
        + cls_mil_loss * args.lambda_mil
    return total_loss, {"cw": cls_cw_loss, "ca": cls_ca_loss, "mil": cls_mil_loss}


def authors_train(model, videos, labels, args, optimizer=None, seeds=None):
    """``Processor.train``'s loop over single videos: ``total_loss.backward()`` per video, an optimizer
    step (and zero_grad) every ``args.batch_size`` iterations. Returns the gradients accumulated at the
    first step (or at the end when there is no optimizer)."""
    it = 0
    first = None
    for k, (feat, lab) in enumerate(zip(videos, labels)):
        if seeds is not None:
            torch.manual_seed(seeds[k])
        it = it + 1
        total_loss, _ = authors_losses(model, feat[None], lab[None], args)
        total_loss.backward()
        if it % args.batch_size == 0:
            if first is None:
                first = {n: p.grad.clone() for n, p in model.named_parameters()}
            if optimizer is not None:
                optimizer.step()
                optimizer.zero_grad()
    if first is None:
        first = {n: p.grad.clone() for n, p in model.named_parameters()}
    return first


def authors_args(D, C, E=None, temperature=(1.0, 2.0, 5.0), dropout=0.5):
    """``train_options.py`` defaults at small widths."""
    return types.SimpleNamespace(inp_feat_num=D, out_feat_num=E or D, class_num=C, dropout=dropout,
                                 scale_factor=5.0, temperature=list(temperature), batch_size=10,
                                 lambda_cw=1.0, lambda_ca=0.1, lambda_mil=0.1, lr=0.0001, weight_decay=0.005)


# ---------------------------------------------------------------------- helpers
D, C, E = 48, 5, 40   # widths where ReLU + dropout(0.5) never zero a whole hidden or embedding vector
# in these tests (p <= 0.75 ** 40 per snippet): the code divides by that norm and gives NaN


def _config(**kw) -> FacNetConfig:
    return dataclasses.replace(FacNetConfig(embed_dim=E), **kw)


def _pair(seed=0, *, dtype=torch.float64, temperature=(1.0, 2.0, 5.0), **kw):
    """(authors' WSTAL, wtal FACNet) built from the same seed (so with the same initial weights)."""
    torch.manual_seed(seed)
    theirs = WSTAL(authors_args(D, C, E, temperature)).to(dtype)
    torch.manual_seed(seed)
    ours = FACNet(D, C, _config(temperatures=list(temperature), **kw)).to(dtype)
    return theirs, ours


def _videos(lengths, seed=0, dtype=torch.float64, d=D):
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(L, d, generator=g, dtype=dtype) * 2 for L in lengths]
    labels = []
    for k in range(len(lengths)):
        y = torch.zeros(C, dtype=dtype)
        y[k % C] = 1
        if k % 3 == 1:
            y[(k + 2) % C] = 1  # multi-label videos
        labels.append(y)
    return feats, labels


def _pad(feats, labels, fill=1e3):
    T = max(f.shape[0] for f in feats)
    x = torch.full((len(feats), T, feats[0].shape[1]), fill, dtype=feats[0].dtype)
    for b, f in enumerate(feats):
        x[b, : f.shape[0]] = f
    return x, torch.tensor([f.shape[0] for f in feats]), torch.stack(labels)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Max relative difference ``|a - b| / max(|b|, tiny)``."""
    a, b = a.detach().double(), b.detach().double()
    return float(((a - b).abs() / b.abs().clamp_min(1e-300)).max())


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


LENGTHS = (37, 1, 12, 50, 3, 29, 8, 41, 2, 20)   # ten training videos, T = 1 and 2 included
FIDELITY = 1e-10


# ---------------------------------------------------------------------- fidelity
def test_same_seed_gives_the_authors_initial_weights():
    theirs, ours = _pair(3, dtype=torch.float32)
    ts, os_ = theirs.state_dict(), ours.state_dict()
    assert list(ts) == list(os_)  # same names (so their .pkl checkpoints load)
    for k in ts:
        assert torch.equal(ts[k], os_[k]), k
    assert torch.equal(ours.fg_center, -ours.ac_center[-1:])
    assert float(ours.feature_embedding.process[0].bias.detach().abs().max()) == 0.0


def test_authors_state_dict_loads_strictly():
    torch.manual_seed(0)
    theirs = WSTAL(authors_args(D, C, E))
    torch.manual_seed(1)
    ours = FACNet(D, C, _config())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    for k, v in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[k], v)


@pytest.mark.parametrize("train_mode", [False, True])
def test_forward_equals_the_authors_code(train_mode):
    theirs, ours = _pair(1)
    theirs.train(train_mode)
    ours.train(train_mode)
    feats, _ = _videos(LENGTHS, seed=5)
    worst = {}
    for k, f in enumerate(feats):
        torch.manual_seed(100 + k)   # same dropout masks: same random stream, same draw order
        cw, ca, mil, frm = theirs(f[None])
        torch.manual_seed(100 + k)
        out = ours(f[None])
        pairs = {"cw_pred": (F.softmax(out["cw_logits"], -1), cw), "ca_pred": (F.softmax(out["ca_logits"], -1), ca),
                 "mil_pred": (F.softmax(out["mil_logits"], -1), mil), "frm_scrs": (out["snippet_logits"], frm),
                 "frm_pred": (ours.localization_inputs(out)["cas"], F.softmax(frm, -1)),
                 "ca_pred (video_scores)": (ours.localization_inputs(out)["video_scores"], ca)}
        for name, (a, b) in pairs.items():
            assert a.shape == b.shape, name
            worst[name] = max(worst.get(name, 0.0), _rel(a, b))
    print("max relative difference, forward " + ("train" if train_mode else "eval") + ":", worst)
    assert max(worst.values()) <= FIDELITY, worst


def test_loss_terms_equal_the_authors_code():
    theirs, ours = _pair(2)
    theirs.eval()
    ours.eval()
    feats, labels = _videos(LENGTHS, seed=6)
    labels[4] = torch.zeros(C, dtype=torch.float64)  # a video without labels: CW/CA terms are 0
    labels[5] = torch.ones(C, dtype=torch.float64)
    args = authors_args(D, C, E)
    worst = {}
    for f, y in zip(feats, labels):
        total, terms = authors_losses(theirs, f[None], y[None], args)
        got = ours.loss(ours(f[None]), {"labels": y[None]}, epoch=0, step=0)
        for k, v in {**terms, "total": total}.items():
            if float(v.detach()) == 0.0:
                assert float(got[k].detach()) == 0.0, k
            else:
                worst[k] = max(worst.get(k, 0.0), _rel(got[k], v))
    print("max relative difference, loss terms:", worst)
    assert max(worst.values()) <= FIDELITY, worst


def test_accumulated_gradient_over_ten_videos_equals_the_authors_loop():
    """Their training loop (batch 1, dropout on, losses summed over 10 videos per step) against wtal's
    per-video ``total`` (batch of 1: ``total`` x 1 video = the trainer's ``sum`` reduction), then two
    Adam(1e-4, (0.9, 0.99), wd 0.005) steps on both."""
    theirs, ours = _pair(4)
    theirs.train()
    ours.train()
    feats, labels = _videos(LENGTHS + LENGTHS[::-1], seed=7)
    seeds = list(range(1000, 1000 + len(feats)))
    args = authors_args(D, C, E)
    opt_t = torch.optim.Adam(theirs.parameters(), lr=args.lr, betas=[0.9, 0.99], weight_decay=args.weight_decay)
    opt_o = torch.optim.Adam(ours.parameters(), lr=args.lr, betas=[0.9, 0.99], weight_decay=args.weight_decay)
    g_t = authors_train(theirs, feats, labels, args, opt_t, seeds)

    it, g_o = 0, None
    for k, (f, y) in enumerate(zip(feats, labels)):
        torch.manual_seed(seeds[k])
        it += 1
        batch = {"labels": y[None]}
        (ours.loss(ours(f[None]), batch, epoch=0, step=0)["total"] * 1).backward()
        if it % 10 == 0:
            g_o = g_o or _grads(ours)
            opt_o.step()
            opt_o.zero_grad()
    worst_g = max(_rel(g_o[n], g_t[n]) for n in g_t)
    worst_p = max(_rel(p, q) for p, q in zip(ours.parameters(), theirs.parameters()))
    print(f"max relative difference, accumulated gradient {worst_g:.3g}, weights after 2 Adam steps {worst_p:.3g}")
    assert worst_g <= FIDELITY
    assert worst_p <= FIDELITY


@given(T=st.integers(1, 40), seed=st.integers(0, 2**31 - 1),
       temps=st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0, 5.0, 10.0]), min_size=1, max_size=4),
       labels=st.lists(st.integers(0, 1), min_size=C, max_size=C), scale=st.floats(0.1, 100.0))
def test_random_inputs_equal_the_authors_code(T, seed, temps, labels, scale):
    """Random lengths, temperatures, labels and feature scales: outputs and loss terms of the code."""
    theirs, ours = _pair(seed % 1000, temperature=temps)
    theirs.eval()
    ours.eval()
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(1, T, D, generator=g, dtype=torch.float64) * scale
    y = torch.tensor([labels], dtype=torch.float64)
    with torch.no_grad():
        cw, ca, mil, frm = theirs(f)
        total, terms = authors_losses(theirs, f, y, authors_args(D, C, E, temps))
        out = ours(f)
        got = ours.loss(out, {"labels": y}, epoch=0, step=0)
    for name, a, b in (("cw", out["cw_logits"], cw), ("ca", out["ca_logits"], ca), ("mil", out["mil_logits"], mil)):
        assert _rel(F.softmax(a, -1), b) <= FIDELITY, name
    assert _rel(out["snippet_logits"], frm) <= FIDELITY
    for k, v in {**terms, "total": total}.items():
        assert abs(float(got[k]) - float(v)) <= FIDELITY * max(abs(float(v)), 1e-300), k


def test_hybrid_off_and_other_temperatures_equal_the_authors_code():
    for temps in ((1.0,), (1.0, 10.0), (1.0, 2.0, 3.0, 5.0)):
        theirs, ours = _pair(5, temperature=temps)
        theirs.eval()
        ours.eval()
        f = _videos((17,), seed=8)[0][0]
        cw, ca, mil, _ = theirs(f[None])
        out = ours(f[None])
        assert _rel(F.softmax(out["cw_logits"], -1), cw) <= FIDELITY
        assert _rel(F.softmax(out["mil_logits"], -1), mil) <= FIDELITY
    # use_hybrid=False: the first temperature only, same as the code with temperature=[1.0]
    theirs, _ = _pair(5, temperature=(1.0,))
    torch.manual_seed(5)
    ours = FACNet(D, C, _config(use_hybrid=False)).double().eval()
    theirs.eval()
    assert ours.temperatures == (1.0,)
    cw, ca, mil, _ = theirs(f[None])
    out = ours(f[None])
    assert _rel(F.softmax(out["ca_logits"], -1), ca) <= FIDELITY
    assert _rel(F.softmax(out["cw_logits"], -1), cw) <= FIDELITY


# ---------------------------------------------------------------------- padded batches
def test_padded_batch_gradient_equals_ten_single_videos():
    """One padded batch of the 10 videos (garbage in the padding), ``total`` times the number of videos
    (the trainer's ``accumulate_reduction: sum``), gives the gradient of the 10 single-video steps summed;
    without the factor, the mean. Dropout 0 so both see the same function."""
    torch.manual_seed(0)
    model = FACNet(D, C, _config(dropout=0.0)).double().train()
    feats, labels = _videos(LENGTHS, seed=9)
    for f, y in zip(feats, labels):
        model.loss(model(f[None], torch.tensor([f.shape[0]])), {"labels": y[None]}, epoch=0, step=0)["total"].backward()
    single = _grads(model)
    model.zero_grad(set_to_none=True)
    x, lens, y = _pad(feats, labels)
    out = model(x, lens)
    losses = model.loss(out, {"labels": y}, epoch=0, step=0)
    (losses["total"] * len(feats)).backward()
    batched = _grads(model)
    worst = max(_rel(batched[n], single[n]) for n in single)
    print(f"max relative difference, padded batch (sum) vs 10 single videos: {worst:.3g}")
    assert set(batched) == set(single)
    assert worst <= FIDELITY
    # every term is the mean of the per-video values
    per_video = [model.loss(model(f[None]), {"labels": t[None]}, epoch=0, step=0) for f, t in zip(feats, labels)]
    for k in ("total", "cw", "ca", "mil"):
        assert _rel(losses[k], torch.stack([p[k] for p in per_video]).mean()) <= FIDELITY


@pytest.mark.parametrize("fill", [0.0, 1e3, float("nan"), float("inf")])
def test_attention_ignores_padding(fill):
    """The softmax over time runs over each video's own snippets: a padded batch (whatever the padding
    holds) gives each video's outputs alone; padded snippet outputs are 0."""
    for kernel in (1, 3):
        torch.manual_seed(0)
        model = FACNet(D, C, _config(embed_kernel=kernel)).double().eval()
        feats, labels = _videos((9, 1, 23, 4), seed=10)
        x, lens, _ = _pad(feats, labels, fill=fill)
        with torch.no_grad():
            out = model(x, lens)
            for b, f in enumerate(feats):
                alone = model(f[None])
                L = f.shape[0]
                for k, v in alone.items():
                    got = out[k][b:b + 1]
                    if k in ("snippet_logits", "fg_logits"):
                        assert float(out[k][b, L:].abs().sum()) == 0.0
                        got = got[:, :L]
                    assert torch.isfinite(got.double()).all(), k
                    torch.testing.assert_close(got, v, rtol=1e-10, atol=1e-12)


def test_attention_is_a_softmax_over_time():
    """A 2-snippet video: the class-agnostic attention at tau is exp(tau s_t) / sum_k exp(tau s_k), and the CA
    feature at a huge temperature is the top snippet's embedding."""
    torch.manual_seed(0)
    model = FACNet(D, C, _config(dropout=0.0, temperatures=[1e6])).double().eval()
    f = _videos((2,), seed=11)[0][0]
    with torch.no_grad():
        out = model(f[None])
        x_emb = model.feature_embedding(f[None])[0]
        top = int(out["fg_logits"][0].argmax())
        ac = F.normalize(model.ac_center, dim=-1)
        expect = F.normalize(x_emb[top], dim=-1) @ ac.T * 10.0
    torch.testing.assert_close(out["ca_logits"][0], expect, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------- the paper's equations
def _cos(a, b):
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    return sum(x * y for x, y in zip(a, b)) / (na * nb)


def _softmax(v):
    m = max(v)
    e = [math.exp(x - m) for x in v]
    s = sum(e)
    return [x / s for x in e]


def paper_predictions(X, Wa, Wf, delta, taus, extra=1.0):
    """Eqs. 1-5 (CW), 8-11 (CA), 13 (MIL) with the hybrid attention of §3.5 (average over tau of the
    video-level scores, then softmax), in plain Python. ``extra`` multiplies the video-level scores (1 in
    the paper; the code's 2)."""
    T, K = len(X), len(Wa)
    S_a = [[delta * _cos(X[t], Wa[j]) for j in range(K)] for t in range(T)]          # Eq. 1
    S_f = [delta * _cos(X[t], Wf) for t in range(T)]                                   # Eq. 8
    R_a, R_f, R_m = [0.0] * K, [0.0] * K, [0.0] * K
    for tau in taus:
        for j in range(K):
            z = sum(math.exp(tau * S_a[k][j]) for k in range(T))
            A = [math.exp(tau * S_a[t][j]) / z for t in range(T)]                      # Eq. 2
            F_a = [sum(A[t] * X[t][d] for t in range(T)) for d in range(len(Wf))]      # Eq. 3
            R_a[j] += delta * _cos(F_a, Wf) / len(taus)                                # Eq. 4
            R_m[j] += sum(A[t] * S_a[t][j] for t in range(T)) / len(taus)              # Eq. 13
        z = sum(math.exp(tau * s) for s in S_f)
        A_f = [math.exp(tau * s) / z for s in S_f]                                     # Eq. 9
        F_f = [sum(A_f[t] * X[t][d] for t in range(T)) for d in range(len(Wf))]        # Eq. 10
        for j in range(K):
            R_f[j] += delta * _cos(F_f, Wa[j]) / len(taus)                             # Eq. 11 (logit)
    return (_softmax([extra * r for r in R_a]), _softmax([extra * r for r in R_f]),    # Eqs. 5, 11
            _softmax([extra * r for r in R_m]))


def paper_loss(P, y, background):
    """Eqs. 6 and 12: -y_hat^T log P with y_hat = y / sum(y); ``background`` is y(C+1) (None: no class)."""
    y = list(y) + ([] if background is None else [background])
    s = sum(y)
    return -sum(yi / s * math.log(p) for yi, p in zip(y, P))


@pytest.mark.parametrize("background", [True, False])
@pytest.mark.parametrize("video_scale", [1.0, 2.0])
def test_branches_and_losses_equal_the_paper_equations(background, video_scale):
    torch.manual_seed(7)
    model = FACNet(4, 3, FacNetConfig(embed_dim=5, dropout=0.0, video_scale=video_scale, label_eps=0.0,
                                      use_background=background)).double().eval()
    f = _videos((6,), seed=12, d=4)[0][0]
    y = [1.0, 0.0, 1.0]
    with torch.no_grad():
        out = model(f[None])
        losses = model.loss(out, {"labels": torch.tensor([y], dtype=torch.float64)}, epoch=0, step=0)
        X = model.feature_embedding(f[None])[0].tolist()
    Wa, Wf = model.ac_center.tolist(), model.fg_center[0].tolist()
    P_a, P_f, P_m = paper_predictions(X, Wa, Wf, 5.0, (1.0, 2.0, 5.0), extra=video_scale)
    for name, P in (("cw", P_a), ("ca", P_f), ("mil", P_m)):
        got = F.softmax(out[f"{name}_logits"][0], -1)
        assert got.shape[0] == 3 + background
        assert _rel(got, torch.tensor(P, dtype=torch.float64)) <= 1e-11, name
    bg = 0.0 if background else None
    expect = {"cw": paper_loss(P_a, y, bg), "ca": paper_loss(P_f, y, bg),
              "mil": paper_loss(P_m, y, 1.0 if background else None)}
    for k, v in expect.items():
        assert abs(float(losses[k]) - v) <= 1e-11 * abs(v), k
    total = 1.0 * expect["cw"] + 0.1 * expect["ca"] + 0.1 * expect["mil"]              # Eq. 14
    assert abs(float(losses["total"]) - total) <= 1e-11 * total


def test_normalized_cross_entropy_plain():
    logits = torch.tensor([[0.3, -1.0, 2.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    got = normalized_cross_entropy(logits, labels)
    p = _softmax([0.3, -1.0, 2.0])
    assert abs(float(got[0]) + (math.log(p[0]) + math.log(p[2])) / (2 + 1e-8)) < 1e-14
    assert float(got[1]) == 0.0
    # the authors' class on the same values
    ref = NormalizedCrossEntropy()(F.softmax(logits[:1], -1), labels[:1])
    assert _rel(got[:1].mean(), ref) <= FIDELITY


# ---------------------------------------------------------------------- ablation switches
def _losses_and_grads(cfg, seed=0):
    torch.manual_seed(seed)
    model = FACNet(D, C, cfg).double().train()
    feats, labels = _videos((14, 6, 20), seed=13)
    x, lens, y = _pad(feats, labels)
    torch.manual_seed(99)
    losses = model.loss(model(x, lens), {"labels": y}, epoch=0, step=0)
    losses["total"].backward()
    return model, losses


@pytest.mark.parametrize("off", [("cw",), ("ca",), ("mil",), ("cw", "ca"), ("cw", "mil"), ("ca", "mil")])
def test_branch_switches(off):
    model, losses = _losses_and_grads(_config(**{f"use_{b}": False for b in off}))
    _, full = _losses_and_grads(_config())
    w = {"cw": 1.0, "ca": 0.1, "mil": 0.1}
    expect = sum(w[b] * full[b] for b in w if b not in off)
    assert _rel(losses["total"], expect) <= FIDELITY
    for b in w:  # every term is still logged, unchanged
        assert _rel(losses[b], full[b]) <= FIDELITY
    no_grad = {n for n, p in model.named_parameters() if p.grad is None}
    only_mil = set(off) == {"cw", "ca"}
    assert no_grad == ({"fg_center"} if only_mil else set())
    assert model.find_unused_parameters is only_mil


def test_weight_zero_acts_like_a_disabled_branch():
    a, la = _losses_and_grads(_config(w_cw=0.0, w_ca=0.0))
    b, lb = _losses_and_grads(_config(use_cw=False, use_ca=False))
    assert a.find_unused_parameters and b.find_unused_parameters
    assert _rel(la["total"], lb["total"]) <= FIDELITY
    with pytest.raises(ValueError, match="model.facnet: every branch loss is disabled"):
        _config(use_cw=False, use_ca=False, w_mil=0.0).validate()


def test_find_unused_parameters_over_every_switch_combination():
    """Declared exactly when some parameter gets no gradient, for all 32 switch combinations."""
    names = ("use_cw", "use_ca", "use_mil", "use_hybrid", "use_background")
    for bits in range(32):
        kw = {n: bool(bits >> i & 1) for i, n in enumerate(names)}
        cfg = _config(**kw)
        try:
            cfg.validate()
        except ValueError:
            assert not (kw["use_cw"] or kw["use_ca"] or kw["use_mil"])
            continue
        model, losses = _losses_and_grads(cfg)
        assert torch.isfinite(losses["total"])
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert model.find_unused_parameters is bool(missing), (kw, missing)
        for n, p in model.named_parameters():
            if p.grad is not None:
                assert torch.isfinite(p.grad).all(), (kw, n)


def test_without_background():
    torch.manual_seed(0)
    model = FACNet(D, C, _config(use_background=False)).double().eval()
    assert model.ac_center.shape == (C, E) and model.num_outputs == C
    torch.manual_seed(0)
    with_bg = FACNet(D, C, _config()).double()
    # same draw as with the background row, which only initialises the foreground centre
    assert torch.equal(model.ac_center.data, with_bg.ac_center.data[:C])
    assert torch.equal(model.fg_center.data, with_bg.fg_center.data)
    f = _videos((11,), seed=14)[0][0]
    y = torch.zeros(1, C, dtype=torch.float64)
    y[0, 2] = 1
    out = model(f[None])
    assert out["snippet_logits"].shape == (1, 11, C) and out["mil_logits"].shape == (1, C)
    action, mil = model.branch_labels(y)
    assert torch.equal(action, y) and torch.equal(mil, y)
    losses = model.loss(out, {"labels": y}, epoch=0, step=0)
    assert _rel(losses["mil"], -F.log_softmax(out["mil_logits"], -1)[0, 2] / (1 + 1e-8)) <= FIDELITY
    li = {k: v.detach() for k, v in model.localization_inputs(out).items()}
    assert li["cas"].shape == (1, 11, C + 1) and li["video_scores"].shape == (1, C + 1)
    assert float(li["cas"][..., -1].abs().max()) == 0.0 and float(li["video_scores"][..., -1]) == 0.0
    torch.testing.assert_close(li["cas"][..., :C].sum(-1), torch.ones(1, 11, dtype=torch.float64))


def test_video_scale_and_video_score_branch():
    torch.manual_seed(0)
    code = FACNet(D, C, _config(video_scale=2.0)).double().eval()
    torch.manual_seed(0)
    paper = FACNet(D, C, _config(video_scale=1.0)).double().eval()
    f = _videos((15,), seed=15)[0][0]
    oc, op = code(f[None]), paper(f[None])
    for k in ("cw_logits", "ca_logits", "mil_logits"):
        torch.testing.assert_close(oc[k], 2.0 * op[k], rtol=1e-13, atol=0)
    torch.testing.assert_close(oc["snippet_logits"], op["snippet_logits"], rtol=0, atol=0)
    for branch in ("cw", "ca", "mil"):
        torch.manual_seed(0)
        m = FACNet(D, C, _config(video_scores=branch)).double().eval()
        out = m(f[None])
        torch.testing.assert_close(m.localization_inputs(out)["video_scores"], F.softmax(out[f"{branch}_logits"], -1))


def test_temporal_convolution_embedding():
    torch.manual_seed(0)
    model = FACNet(D, C, _config(embed_kernel=3, hidden_dim=7)).double()
    convs = [m for m in model.feature_embedding.process if isinstance(m, nn.Conv1d)]
    assert [tuple(c.weight.shape) for c in convs] == [(7, D, 3), (E, 7, 3)]
    assert all(float(c.bias.detach().abs().max()) == 0.0 for c in convs)
    # a snippet's embedding depends on its neighbours (and on nothing past the video's end)
    f = _videos((6,), seed=16)[0][0]
    emb = FeatureEmbedding(D, 7, E, 0.0, 3).double()
    g = f.clone()
    g[3] += 1.0
    a, b = emb(f[None])[0], emb(g[None])[0]
    assert not torch.equal(a[2], b[2]) and torch.equal(a[0], b[0])
    x, lens, _ = _pad([f, f[:2]], [torch.zeros(C)] * 2, fill=5.0)
    torch.testing.assert_close(emb(x, torch.arange(6)[None, :] < lens[:, None])[1, :2], emb(f[None, :2])[0])


# ---------------------------------------------------------------------- numerics, inputs, config
def test_zero_embedding_is_finite_where_the_code_gives_nan():
    torch.manual_seed(0)
    model = FACNet(D, C, _config(dropout=0.0)).double().eval()
    with torch.no_grad():
        model.feature_embedding.process[3].weight.zero_()   # every embedding is exactly 0
        out = model(torch.randn(1, 5, D, dtype=torch.float64))
    assert all(torch.isfinite(v).all() for k, v in out.items() if v.is_floating_point())
    theirs = WSTAL(authors_args(D, C, E)).double().eval()
    theirs.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.isnan(theirs(torch.randn(1, 5, D, dtype=torch.float64))[3]).all()


def test_mixed_precision_losses_in_float32():
    torch.manual_seed(0)
    model = FACNet(D, C, _config()).train()
    feats, labels = _videos((9, 4), seed=17, dtype=torch.float32)
    x, lens, y = _pad(feats, labels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, lens)
        losses = model.loss(out, {"labels": y}, epoch=0, step=0)
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    losses["total"].backward()
    li = model.localization_inputs(out)
    assert li["cas"].dtype == torch.float32 and li["video_scores"].dtype == torch.float32


def test_bad_inputs():
    model = FACNet(D, C, _config()).eval()
    x = torch.randn(2, 5, D)
    with pytest.raises(ValueError, match=r"features must have shape \[B, T, 48\]"):
        model(torch.randn(2, 5, D + 1))
    with pytest.raises(ValueError, match="features must have shape"):
        model(torch.randn(5, D))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.ones(2, 5, D, dtype=torch.int64))
    with pytest.raises(ValueError, match="at least one snippet"):
        model(torch.randn(2, 0, D))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=5\]"):
        model(x, torch.tensor([5, 0]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=5\]"):
        model(x, torch.tensor([6, 1]))
    with pytest.raises(ValueError, match=r"lengths must have shape \[2\]"):
        model(x, torch.tensor([5]))
    with pytest.raises(TypeError, match="lengths must be an integer tensor"):
        model(x, torch.tensor([5.0, 2.0]))
    out = model(x, torch.tensor([5, 2]))
    with pytest.raises(ValueError, match=r"batch\['labels'\] must have shape \[B, 5\]"):
        model.loss(out, {"labels": torch.zeros(2, C + 1)}, epoch=0, step=0)
    assert FACNet(np.int64(D), np.int64(C), _config()).feature_dim == D
    for bad in (0, -3, True, 2.5):
        with pytest.raises(ValueError, match="feature_dim"):
            FACNet(bad, C, _config())
    with pytest.raises(ValueError, match="num_classes"):
        FACNet(D, 0, _config())
    with pytest.raises(TypeError, match="FacNetConfig"):
        FACNet(D, C, object())


@pytest.mark.parametrize("key,value", [
    ("hidden_dim", -1), ("embed_dim", 0), ("embed_kernel", 2), ("embed_kernel", 0), ("dropout", 1.0),
    ("dropout", -0.1), ("dropout", float("nan")), ("scale", 0.0), ("scale", float("inf")), ("video_scale", -1.0),
    ("temperatures", []), ("temperatures", [1.0, 0.0]), ("temperatures", ["x"]), ("temperatures", "1,2"),
    ("temperatures", [float("nan")]), ("video_scores", "bg"), ("w_cw", -1.0), ("w_mil", float("nan")),
    ("label_eps", -1e-8), ("embed_dim", 2.5),
])
def test_config_validation_names_the_key(key, value):
    with pytest.raises(ValueError, match=rf"model\.facnet\.{key}"):
        dataclasses.replace(FacNetConfig(), **{key: value}).validate()


def test_config_defaults_are_the_authors():
    cfg = FacNetConfig()
    cfg.validate()
    assert (cfg.hidden_dim, cfg.embed_dim, cfg.embed_kernel, cfg.dropout, cfg.scale) == (0, 1024, 1, 0.5, 5.0)
    assert cfg.temperature_values() == (1.0, 2.0, 5.0) and cfg.video_scale == 2.0
    assert cfg.weights() == {"cw": 1.0, "ca": 0.1, "mil": 0.1} and cfg.label_eps == 1e-8
    assert cfg.video_scores == "ca" and cfg.use_background
    assert FacNetConfig.thumos14() == cfg
    assert dataclasses.replace(cfg, use_hybrid=False).temperature_values() == (1.0,)
    torch.manual_seed(0)
    model = FACNet(1024, 20, cfg)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {"ac_center": (21, 1024), "fg_center": (1, 1024),
                      "feature_embedding.process.0.weight": (1024, 1024), "feature_embedding.process.0.bias": (1024,),
                      "feature_embedding.process.3.weight": (1024, 1024), "feature_embedding.process.3.bias": (1024,)}


def test_registry_spec_and_config_overrides():
    from wtal.train.config import load_config

    spec = get_spec("facnet")
    assert spec is SPEC or spec == SPEC
    assert spec.two_stream and spec.profile == "localize_facnet" and spec.demo_config == "facnet_synthetic"
    cfg = load_config(None, ["model.name=facnet", "model.facnet.temperatures=1,2", "model.facnet.use_ca=false",
                             "model.facnet.embed_dim=32"])
    mc = cfg.model_config()
    assert isinstance(mc, FacNetConfig) and mc.temperature_values() == (1.0, 2.0) and not mc.use_ca
    with pytest.raises(ValueError, match=r"model\.facnet\.dropout"):
        load_config(None, ["model.name=facnet", "model.facnet.dropout=1.5"])
    with pytest.raises(ValueError, match=r"model\.facnet\.embed_kernel"):
        load_config(None, ["model.name=facnet", "model.facnet.embed_kernel=4"])


def test_two_stream_outputs_feed_the_profile():
    """Both streams' ``localization_inputs``, suffixed, are what ``localize_facnet`` takes."""
    from wtal.localize import FacNetLocalizeConfig, localize_facnet

    models = {}
    for k, s in enumerate(("rgb", "flow")):
        torch.manual_seed(k)
        models[s] = FACNet(D, C, _config()).eval()
    feats, _ = _videos((30, 12, 25), seed=18, dtype=torch.float32)
    x, lens, _ = _pad(feats, [torch.zeros(C)] * 3)
    inputs = {}
    with torch.no_grad():
        for s, m in models.items():
            li = m.localization_inputs(m(x, lens))
            inputs.update({k if k == "lengths" else f"{k}_{s}": v for k, v in li.items()})
    cfg = FacNetLocalizeConfig(class_threshold=0.0, thresholds=(0.0,))
    det = localize_facnet(**inputs, videos=["a", "b", "c"], classes=[f"c{i}" for i in range(C)],
                          seconds_per_snippet=0.64, config=cfg)
    assert len(det) > 0


# ---------------------------------------------------------------------- with the trainer
def _trainer_config(tmp, *overrides):
    from wtal.train.config import load_config, packaged_config

    base = [f"out_dir={tmp}", "data.options.num_videos=[20, 10]", "data.options.max_duration=40",
            "data.val_fraction=0", "train.eval_every=0", "train.checkpoint=last", "train.progress=false",
            "train.log_every=0", "eval.test=false", "model.facnet.embed_dim=32", "model.facnet.hidden_dim=32"]
    return load_config(packaged_config("facnet_synthetic"), base + list(overrides))


def test_trainer_ten_single_videos_per_step_equal_padded_batches_of_ten(tmp_path):
    """The authors' procedure (batch 1, 10 micro-batches summed per step) and the synthetic config's
    padded batches of 10 (reduction sum) end with the same weights (dropout 0: same function)."""
    from wtal.train.trainer import Trainer

    weights = {}
    for name, ov in (("single", ["train.batch_size=1", "train.accumulate_steps=10"]),
                     ("padded", ["train.batch_size=10", "train.accumulate_steps=1"])):
        cfg = _trainer_config(tmp_path / name, "train.epochs=2", "model.facnet.dropout=0", "optim.lr=1e-3", *ov)
        assert cfg.train.accumulate_reduction == "sum" and cfg.data.sampling == "all"
        trainer = Trainer(cfg)
        try:
            assert trainer.steps_per_epoch() == 2
            trainer.fit()
            weights[name] = {s: {k: v.clone() for k, v in m.state_dict().items()} for s, m in trainer.models.items()}
        finally:
            trainer.close()
    for s in ("rgb", "flow"):
        for k, v in weights["single"][s].items():
            torch.testing.assert_close(weights["padded"][s][k], v, rtol=1e-4, atol=1e-6, msg=f"{s} {k}")


@pytest.mark.slow
def test_short_synthetic_run_beats_the_untrained_model(tmp_path):
    from wtal.infer import evaluate, subset_indices
    from wtal.localize import Detections
    from wtal.train.demo import whole_video_baseline
    from wtal.train.trainer import Trainer

    cfg = _trainer_config(tmp_path, "data.options.num_videos=[100, 60]", "data.options.max_duration=80",
                          "train.epochs=20", "optim.lr=1e-2", "model.facnet.embed_dim=64", "model.facnet.hidden_dim=64")
    trainer = Trainer(cfg)
    try:
        ds = trainer.dataset
        _, untrained = trainer.test()
        trainer.fit()
        _, trained = trainer.test()
        test_idx = subset_indices(ds, cfg.data.test_subset, cfg)
        base = evaluate(ds.ground_truth(cfg.data.test_subset), Detections.from_columns(whole_video_baseline(ds, test_idx)),
                        cfg)
    finally:
        trainer.close()
    print(f"average mAP untrained {untrained.average_mAP:.4f}, trained {trained.average_mAP:.4f}, "
          f"whole-video oracle baseline {base.average_mAP:.4f}")
    assert trained.average_mAP > untrained.average_mAP + 0.1
    assert trained.average_mAP > base.average_mAP + 0.1


def test_packaged_configs_reproduce_the_authors_training():
    from wtal.train.config import load_config, packaged_config

    for name in SPEC.configs:
        cfg = load_config(packaged_config(name))
        assert cfg.model.name == "facnet" and cfg.streams() == ("rgb", "flow")
        assert cfg.amp is False
        assert cfg.optim.name == "adam" and cfg.optim.betas == [0.9, 0.99] and cfg.optim.weight_decay == 0.005
        assert cfg.optim.grad_clip == 0.0
        assert cfg.data.sampling == "all" and cfg.train.accumulate_reduction == "sum"
        assert cfg.train.batch_size * cfg.train.accumulate_steps == 10
        mc = cfg.model_config()
        assert (mc.scale, mc.temperature_values(), mc.video_scale, mc.dropout) == (5.0, (1.0, 2.0, 5.0), 2.0, 0.5)
        assert mc.weights() == {"cw": 1.0, "ca": 0.1, "mil": 0.1}
    th = load_config(packaged_config("facnet_thumos14"))
    assert th.optim.lr == 1e-4 and th.train.epochs == 100 and th.train.batch_size == 1
    assert th.model_config() == FacNetConfig()
    assert th.eval.preset == "facnet" and th.eval.class_subset == "ground_truth" and th.eval.ambiguous
    assert th.localize == {}
    assert th.data.kind == "wtalc" and th.data.train_subset == "validation" and th.data.val_fraction == 0.0
    anet = load_config(packaged_config("facnet_activitynet13"))
    assert anet.eval.preset == "anet" and anet.data.kind == "pervideo"
    np.testing.assert_allclose(anet.localize["thresholds"], np.arange(0.03, 0.055, 0.005) * 21 / 201, atol=1e-6)
