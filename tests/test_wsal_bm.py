"""WSAL-BM (``wtal.models.wsal_bm``) against a plain re-implementation of the paper's equations
(Nguyen, Ramanan, Fowlkes, ICCV 2019, Eqs. 1-11; ``shared/papers/wsal_bm_iccv19.md``), written with
Python loops over videos, snippets and classes on float64 scalars, and scipy's ``gaussian_filter1d``
for G(sigma)."""
from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import gaussian_filter1d

from wtal.models.registry import get_spec
from wtal.models.wsal_bm import WsalBm, reflect_gaussian_smooth
from wtal.models.wsal_bm_config import LOSS_TERMS, WsalBmConfig
from wtal.ops.upsample import gaussian_weights

D, C = 4, 3


@pytest.fixture
def one_thread():
    """Tiny tensors: one intra-op thread is as fast, and far faster on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------------- the paper, literally
def _dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def _softmax(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


class PaperReference:
    """One video at a time, from the model's parameters (as Python lists)."""

    def __init__(self, model: WsalBm):
        sd = {k: v.detach().double().tolist() for k, v in model.state_dict().items()}
        self.cfg = model.config
        self.W1, self.b1 = sd["att_fc1.weight"], sd["att_fc1.bias"]
        self.w2, self.b2 = sd["att_fc2.weight"][0], sd["att_fc2.bias"][0]
        self.W = sd["classifier.weight"]                         # C+1 rows, background last
        self.bW = sd.get("classifier.bias", [0.0] * len(self.W))
        self.U = sd["cluster.weight"]                            # rows u_fg, u_bg
        self.bU = sd.get("cluster.bias", [0.0, 0.0])

    def attention(self, x):
        out = []
        for xt in x:
            h = [max(0.0, _dot(row, xt) + b) for row, b in zip(self.W1, self.b1)]
            out.append(_sigmoid(_dot(self.w2, h) + self.b2))
        return out

    def pooled(self, x, lam):
        T, d = len(x), len(x[0])
        s_fg = [sum(lam[t] * x[t][j] for t in range(T)) for j in range(d)]
        s_bg = [sum((1 - lam[t]) * x[t][j] for t in range(T)) for j in range(d)]
        a, b = sum(lam), sum(1 - v for v in lam)
        if self.cfg.pooling == "paper":   # Eqs. 1 and 4
            return [v / T for v in s_fg], [v / T for v in s_bg], [v / T for v in s_fg]
        if self.cfg.pooling == "mean":
            return [v / a for v in s_fg], [v / b for v in s_bg], [v / a for v in s_fg]
        return [v / (a + 1) for v in s_fg], [v / (b + 1e-6) for v in s_bg], [v / a for v in s_fg]

    def logits(self, feat):
        return [_dot(w, feat) + b for w, b in zip(self.W, self.bW)]

    def losses(self, x, y):
        """Unweighted per-video terms of Eq. 11 (+ sparsity) for features ``x`` (T lists of D) and
        multi-hot ``y`` (C)."""
        cfg = self.cfg
        T, nc = len(x), len(y)
        lam = self.attention(x)
        x_fg, x_bg, _ = self.pooled(x, lam)
        p_fg, p_bg = _softmax(self.logits(x_fg)), _softmax(self.logits(x_bg))   # Eqs. 2, 5
        # Eq. 3, multi-label: y / sum(y); a video without labels is a background video (y = 0)
        ny = sum(y)
        target = [v / ny for v in y] + [0.0] if ny else [0.0] * nc + [1.0]
        fg = -sum(t * math.log(p) for t, p in zip(target, p_fg) if t)
        bg = -math.log(p_bg[nc])
        # Eqs. 6, 7: T-CAM softmax per snippet (no bias, not modulated by lambda), G(sigma) over time
        prob = [_softmax([_dot(w, xt) for w in self.W]) for xt in x]
        smooth = lambda seq: gaussian_filter1d(np.array(seq, dtype=np.float64), cfg.guide_sigma,  # noqa: E731
                                               truncate=cfg.guide_truncate)
        per_class = [smooth([prob[t][c] for t in range(T)]) for c in range(nc)]
        fg_target = [max([per_class[c][t] for c in range(nc) if y[c]], default=0.0) for t in range(T)]
        bg_target = smooth([sum(prob[t][c] for c in range(nc)) for t in range(T)])   # sum_{i>=1} in Eq. 7
        guide = 0.0
        for t in range(T):
            if cfg.guide_target in ("both", "fg"):
                guide += abs(lam[t] - fg_target[t])
            if cfg.guide_target in ("both", "bg"):
                guide += abs(lam[t] - bg_target[t])
        guide /= T
        # Eqs. 8-10
        u = lambda k, f: _dot(self.U[k], f) + self.bU[k]  # noqa: E731
        z_fg = math.exp(u(0, x_fg)) / (math.exp(u(0, x_fg)) + math.exp(u(1, x_fg)))
        z_bg = math.exp(u(1, x_bg)) / (math.exp(u(0, x_bg)) + math.exp(u(1, x_bg)))
        cluster = -math.log(z_fg) - math.log(z_bg)
        sparse = sum(lam) / (T if cfg.sparse_form == "mean" else 1)
        return {"fg": fg, "bg": bg, "guide": guide, "cluster": cluster, "sparse": sparse}

    def video_scores(self, x):
        lam = self.attention(x)
        return _softmax(self.logits(self.pooled(x, lam)[2]))[:-1]

    def tcam(self, x):
        return [[_dot(w, xt) for w in self.W[:-1]] for xt in x]


# ---------------------------------------------------------------------- inputs
def make_model(seed=0, **cfg):
    torch.manual_seed(seed)
    m = WsalBm(D, C, WsalBmConfig(att_hidden=5, **cfg)).double()
    with torch.no_grad():  # larger weights: a less uniform softmax exercises the equations better
        m.classifier.weight.mul_(3.0)
        m.cluster.weight.mul_(3.0)
    return m


def batch(lengths=(7, 3, 1, 5), seed=0, labels=None, pad_value=1e3):
    g = torch.Generator().manual_seed(seed)
    B, T = len(lengths), max(lengths)
    x = torch.randn(B, T, D, generator=g, dtype=torch.float64).abs()  # non-negative like I3D features
    lens = torch.tensor(lengths)
    x[torch.arange(T)[None, :] >= lens[:, None]] = pad_value
    if labels is None:
        labels = torch.zeros(B, C, dtype=torch.float64)
        for b in range(B):
            labels[b, b % C] = 1
        labels[0, 1] = 1                      # a multi-label video
        if B > 3:
            labels[3] = 0                     # a video without action labels
    return x, lens, labels


def reference_terms(model, x, lens, labels):
    ref = PaperReference(model)
    per = [ref.losses(x[b, :L].tolist(), labels[b].tolist()) for b, L in enumerate(lens.tolist())]
    return {k: sum(p[k] for p in per) / len(per) for k in LOSS_TERMS}


CONFIGS = [dict(), dict(pooling="paper"), dict(pooling="mean"), dict(bias=True), dict(bias=True, pooling="paper"),
           dict(guide_sigma=2.5), dict(guide_sigma=0.6, guide_truncate=2.0), dict(guide_target="fg"),
           dict(guide_target="bg"), dict(sparse_form="sum"), dict(guide_detach=False)]


# ---------------------------------------------------------------------- losses = the equations
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
def test_each_loss_equals_the_papers_equations(cfg):
    model = make_model(**cfg)
    x, lens, labels = batch()
    out = model(x, lens)
    got = model.loss(out, {"labels": labels}, epoch=0, step=0)
    want = reference_terms(model, x, lens, labels)
    for k in LOSS_TERMS:
        assert got[k].item() == pytest.approx(want[k], rel=1e-10, abs=1e-12), k
    w = model.config.weights()
    assert got["total"].item() == pytest.approx(sum(w[k] * want[k] for k in LOSS_TERMS), rel=1e-10)


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(1, 12), min_size=1, max_size=4), seed=st.integers(0, 2**16),
       pooling=st.sampled_from(["dgam", "paper", "mean"]), bias=st.booleans())
def test_losses_equal_the_equations_on_random_inputs(lengths, seed, pooling, bias):
    model = make_model(seed=seed, pooling=pooling, bias=bias)
    x, lens, _ = batch(tuple(lengths), seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    labels = (torch.rand(len(lengths), C, generator=g) < 0.4).double()
    got = model.loss(model(x, lens), {"labels": labels}, epoch=0, step=0)
    want = reference_terms(model, x, lens, labels)
    for k in LOSS_TERMS:
        assert got[k].item() == pytest.approx(want[k], rel=1e-9, abs=1e-12), k


def test_weights_are_eq11_alpha_beta_gamma():
    cfg = WsalBmConfig()
    # L_fg + alpha L_bg + beta L_guide + gamma L_cluster, alpha = beta = gamma = 0.1 (Sec. 4.2)
    assert cfg.weights() == {"fg": 1.0, "bg": 0.1, "guide": 0.1, "cluster": 0.1, "sparse": 0.0}
    assert WsalBmConfig.paper() == cfg
    d = WsalBmConfig.dgam()
    assert (d.bias, d.pooling, d.w_bg, d.w_guide, d.w_cluster) == (True, "dgam", 0.03, 0.1, 0.3)


def test_background_video_and_multilabel_targets():
    """A video without labels is classified as background by L_fg (the paper's y = 0) and its
    foreground guide target is 0; a two-label video splits the mass."""
    model = make_model()
    x, lens, _ = batch((6,))
    for y in ([0.0, 0.0, 0.0], [1.0, 0.0, 1.0]):
        labels = torch.tensor([y], dtype=torch.float64)
        out = model(x, lens)
        got = model.loss(out, {"labels": labels}, epoch=0, step=0)
        logp = torch.log_softmax(out["fg_logits"][0], -1)
        want = -logp[C] if sum(y) == 0 else -(logp[0] + logp[2]) / 2
        assert got["fg"].item() == pytest.approx(want.item(), rel=1e-12)


# ---------------------------------------------------------------------- G(sigma)
@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(1, 30), min_size=1, max_size=4), sigma=st.floats(0.3, 6.0),
       truncate=st.sampled_from([4.0, 2.0, 1.0]), seed=st.integers(0, 2**16))
def test_reflect_gaussian_smooth_is_scipy_per_video(lengths, sigma, truncate, seed):
    rng = np.random.default_rng(seed)
    B, T, K = len(lengths), max(lengths), 3
    x = rng.random((B, T, K))
    got = reflect_gaussian_smooth(torch.from_numpy(x), torch.tensor(lengths),
                                  torch.tensor(gaussian_weights(sigma, truncate).tolist(), dtype=torch.float64)).numpy()
    for b, L in enumerate(lengths):  # radius > L: scipy repeats the reflection
        want = gaussian_filter1d(x[b, :L], sigma, axis=0, truncate=truncate)
        np.testing.assert_allclose(got[b, :L], want, rtol=1e-12, atol=1e-15)


def test_reflect_gaussian_smooth_is_differentiable():
    x = torch.rand(2, 6, 2, dtype=torch.float64, requires_grad=True)
    w = torch.tensor(gaussian_weights(1.0).tolist(), dtype=torch.float64)
    torch.autograd.gradcheck(lambda v: reflect_gaussian_smooth(v, torch.tensor([6, 2]), w)[:, :2], (x,))


# ---------------------------------------------------------------------- forward
def test_forward_shapes_and_localization_inputs():
    model = make_model(bias=True).eval()
    x, lens, _ = batch()
    out = model(x, lens)
    B, T = x.shape[:2]
    shapes = {"attention": (B, T), "tcam": (B, T, C + 1), "fg_logits": (B, C + 1), "bg_logits": (B, C + 1),
              "cluster_fg": (B,), "cluster_bg": (B,), "video_scores": (B, C), "lengths": (B,)}
    assert {k: tuple(v.shape) for k, v in out.items()} == shapes
    li = model.localization_inputs(out)
    assert set(li) == {"tcam", "attention", "video_scores", "lengths"}
    ref = PaperReference(model)
    for b, L in enumerate(lens.tolist()):
        v = x[b, :L].tolist()
        np.testing.assert_allclose(li["tcam"][b, :L].detach().numpy(), ref.tcam(v), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(li["attention"][b, :L].detach().numpy(), ref.attention(v), rtol=1e-12)
        np.testing.assert_allclose(li["video_scores"][b].detach().numpy(), ref.video_scores(v), rtol=1e-10)
        assert (li["attention"][b, L:] == 0).all() and (li["tcam"][b, L:] == 0).all()


def test_localization_inputs_feed_the_bm_profile():
    from wtal.localize import BMLocalizeConfig, localize_bm

    x, lens, _ = batch((40, 25), pad_value=0.0)
    inputs = {}
    for seed, stream in ((0, "rgb"), (1, "flow")):
        m = make_model(seed=seed).eval()
        with torch.no_grad():
            li = m.localization_inputs(m(x, lens))
        inputs.update({k if k == "lengths" else f"{k}_{stream}": v for k, v in li.items()})
    det = localize_bm(**inputs, videos=["a", "b"], classes=["c0", "c1", "c2"], seconds_per_snippet=0.64,
                      config=BMLocalizeConfig(alpha_rgb=0.5, alpha_flow=0.5))
    cols = det.to_columns()
    assert len(cols["score"]) > 0 and set(cols["video"]) <= {"a", "b"}
    assert (cols["t_end"] <= 40 * 0.64 + 1e-9).all()


@pytest.mark.parametrize("pad_value", [1e3, float("nan"), float("inf")])
def test_padded_batch_equals_each_video_alone(pad_value):
    model = make_model(bias=True)
    x, lens, labels = batch(pad_value=pad_value)
    out = model(x, lens)
    got = model.loss(out, {"labels": labels}, epoch=0, step=0)
    singles = []
    for b, L in enumerate(lens.tolist()):
        o = model(x[b:b + 1, :L], lens[b:b + 1])
        for k, v in o.items():
            ref = out[k][b:b + 1, :L] if v.dim() >= 2 and k in ("attention", "tcam") else out[k][b:b + 1]
            torch.testing.assert_close(ref, v, rtol=1e-12, atol=1e-14)
        singles.append(model.loss(o, {"labels": labels[b:b + 1]}, epoch=0, step=0))
    for k in got:
        assert got[k].item() == pytest.approx(sum(s[k].item() for s in singles) / len(singles), rel=1e-12)
    # the gradient of the batch mean equals the mean of the single-video gradients
    model.zero_grad()
    got["total"].backward()
    batched = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    for b, L in enumerate(lens.tolist()):
        o = model(x[b:b + 1, :L], lens[b:b + 1])
        (model.loss(o, {"labels": labels[b:b + 1]}, epoch=0, step=0)["total"] / len(lens)).backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(batched[n], p.grad, rtol=1e-10, atol=1e-13, msg=n)


def test_half_precision_forward_gives_fp32_losses():
    """Under autocast-like low precision (bf16 weights and features) the losses are computed in fp32."""
    model = make_model().to(torch.bfloat16)
    x, lens, labels = batch(pad_value=0.0)
    out = model(x.to(torch.bfloat16), lens)
    losses = model.loss(out, {"labels": labels.float()}, epoch=0, step=0)
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    li = model.localization_inputs(out)
    assert all(v.dtype == torch.float32 for k, v in li.items() if k != "lengths")
    losses["total"].backward()


def test_bad_inputs_raise():
    model = make_model()
    x, lens, labels = batch()
    with pytest.raises(ValueError, match="features must have shape"):
        model(x[..., :2], lens)
    with pytest.raises(ValueError, match="lengths must lie in"):
        model(x, torch.tensor([7, 0, 1, 5]))
    with pytest.raises(ValueError, match="lengths must lie in"):
        model(x, torch.tensor([8, 3, 1, 5]))
    with pytest.raises(ValueError, match="lengths must have shape"):
        model(x, torch.tensor([7, 3]))
    with pytest.raises(ValueError, match="labels"):
        model.loss(model(x, lens), {"labels": labels[:, :2]}, epoch=0, step=0)
    with pytest.raises(ValueError, match="feature_dim"):
        WsalBm(0, C)


# ---------------------------------------------------------------------- switches
SWITCHES = [f"use_{t}" for t in LOSS_TERMS]


def _grads(model):
    x, lens, labels = batch()
    model.zero_grad(set_to_none=True)
    losses = model.loss(model(x, lens), {"labels": labels}, epoch=0, step=0)
    losses["total"].backward()
    return losses, {n: p.grad for n, p in model.named_parameters()}


def _expected_reached(cfg: WsalBmConfig) -> set[str]:
    w = cfg.weights()
    reached = {"att_fc1.weight", "att_fc1.bias", "att_fc2.weight", "att_fc2.bias"}
    if w["fg"] or w["bg"] or (w["guide"] and not cfg.guide_detach):
        reached.add("classifier.weight")
    if cfg.bias and (w["fg"] or w["bg"]):
        reached.add("classifier.bias")
    if w["cluster"]:
        reached |= {"cluster.weight"} | ({"cluster.bias"} if cfg.bias else set())
    return reached


@pytest.mark.parametrize("bias,detach", [(False, True), (True, True), (False, False), (True, False)])
def test_gradients_reach_exactly_what_the_switches_leave_on(bias, detach, one_thread):
    for on in itertools.product([True, False], repeat=len(SWITCHES)):
        cfg = WsalBmConfig(att_hidden=5, bias=bias, guide_detach=detach, **dict(zip(SWITCHES, on)))
        if not any(cfg.weights().values()):
            with pytest.raises(ValueError, match="every loss term"):
                cfg.validate()
            continue
        torch.manual_seed(0)
        model = WsalBm(D, C, cfg).double()
        _, grads = _grads(model)
        reached = {n for n, g in grads.items() if g is not None and bool(g.abs().sum() > 0)}
        assert reached == _expected_reached(cfg), (on, bias, detach)
        assert all(g is None for n, g in grads.items() if n not in reached), (on, bias, detach)
        assert model.find_unused_parameters == (set(grads) != reached), (on, bias, detach)


def test_guide_gradient_trains_only_the_attention_when_detached():
    cfg = dict(use_fg=False, use_bg=False, use_cluster=False)
    _, g = _grads(make_model(**cfg))
    assert g["classifier.weight"] is None and g["att_fc1.weight"] is not None
    _, g = _grads(make_model(guide_detach=False, **cfg))
    assert g["classifier.weight"] is not None


@pytest.mark.parametrize("switch", SWITCHES)
def test_each_switch_removes_its_term(switch):
    term = switch[4:]
    base = dict(use_sparse=True)
    full, _ = _grads(make_model(**base))
    off, _ = _grads(make_model(**{**base, switch: False}))
    w = WsalBmConfig(**base).weights()
    for k in LOSS_TERMS:  # every term is still computed and logged
        assert off[k].item() == pytest.approx(full[k].item(), rel=1e-12)
    assert off["total"].item() == pytest.approx(full["total"].item() - w[term] * full[term].item(), rel=1e-10)
    assert w[term] > 0 and full[term].item() > 0


def test_sparsity_is_off_in_the_full_model():
    assert WsalBmConfig().weights()["sparse"] == 0.0
    assert WsalBmConfig(use_sparse=True).weights()["sparse"] == 0.1


# ---------------------------------------------------------------------- config
@pytest.mark.parametrize("kw,key", [
    (dict(pooling="max"), "pooling"), (dict(guide_target="none"), "guide_target"),
    (dict(sparse_form="l2"), "sparse_form"), (dict(att_hidden=0), "att_hidden"),
    (dict(att_hidden=2.5), "att_hidden"), (dict(guide_sigma=0.0), "guide_sigma"),
    (dict(guide_sigma=float("nan")), "guide_sigma"), (dict(guide_truncate=-1.0), "guide_truncate"),
    (dict(w_bg=-0.1), "w_bg"), (dict(w_guide=float("nan")), "w_guide"), (dict(w_cluster=float("inf")), "w_cluster"),
    (dict(w_fg=True), "w_fg"),
    (dict(use_fg=False, use_bg=False, use_guide=False, use_cluster=False), "every loss term"),
    (dict(w_fg=0.0, w_bg=0.0, w_guide=0.0, w_cluster=0.0), "every loss term"),
])
def test_config_validation_names_the_key(kw, key):
    with pytest.raises(ValueError, match=f"model.wsal_bm.*{key}" if key != "every loss term" else key):
        WsalBmConfig(**kw).validate()
    with pytest.raises(ValueError):
        WsalBm(D, C, WsalBmConfig(**kw))


def test_config_keys_through_the_loader():
    from wtal.train.config import load_config, packaged_config

    path = packaged_config(get_spec("wsal_bm").demo_config)
    cfg = load_config(path, ["model.wsal_bm.use_cluster=false", "model.wsal_bm.w_bg=0.3"])
    assert cfg.model_config().use_cluster is False and cfg.model_config().w_bg == 0.3
    with pytest.raises(ValueError, match="model.wsal_bm.pooling"):
        load_config(path, ["model.wsal_bm.pooling=max"])
    with pytest.raises(ValueError, match="unknown config key 'model.wsal_bm.alpha'"):
        load_config(path, ["model.wsal_bm.alpha=0.1"])


def test_packaged_configs_are_fp32_with_the_papers_weights():
    from wtal.train.config import load_config, packaged_config

    spec = get_spec("wsal_bm")
    assert spec.two_stream and spec.profile == "localize_bm"
    for name in spec.configs:
        cfg = load_config(packaged_config(name))
        assert cfg.amp is False, name
        m = cfg.model_config()
        assert m.weights() == WsalBmConfig().weights(), name
        assert dataclasses.replace(m, att_hidden=256) == WsalBmConfig(), name


# ---------------------------------------------------------------------- training helps
def _map(models, ds, idx):
    from wtal.eval import evaluate_detection
    from wtal.localize import BMLocalizeConfig, localize_bm
    from wtal.data.torch_dataset import pad_features

    inputs = {}
    for stream, (d, m) in models.items():
        feats, lens = pad_features([d.features(i) for i in idx])
        m.eval()
        with torch.no_grad():
            li = m.localization_inputs(m(feats, lens))
        inputs.update({k if k == "lengths" else f"{k}_{stream}": v for k, v in li.items()})
    det = localize_bm(**inputs, videos=[ds.videos[i] for i in idx], classes=list(ds.classes),
                      seconds_per_snippet=ds.seconds_per_snippet, config=BMLocalizeConfig(alpha_rgb=0.5, alpha_flow=0.5))
    res = evaluate_detection(ds.ground_truth("test"), det.to_columns(), tiou_thresholds=[0.1, 0.3, 0.5],
                             preset="anet")
    return float(res.average_mAP)


def test_short_synthetic_training_beats_the_untrained_model(one_thread):
    from torch.utils.data import DataLoader

    from wtal.data.synthetic import make_synthetic
    from wtal.data.torch_dataset import ClipDataset, pad_collate

    ds = make_synthetic(kind="thumos", seed=0, feature_dim=32, num_classes=5, num_videos=[80, 40],
                        max_duration=90)
    train, test = ds.indices("train"), ds.indices("test")
    models = {}
    for stream in ("rgb", "flow"):
        d = ds.with_modality(stream)
        torch.manual_seed(0)
        models[stream] = (d, WsalBm(d.feature_dim, d.num_classes, WsalBmConfig(att_hidden=32)))
    before = _map(models, ds, test)
    for stream, (d, m) in models.items():
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        clips = ClipDataset(d, train, 100, "random", seed=0)
        for epoch in range(25):
            clips.set_epoch(epoch)
            m.train()
            for b in DataLoader(clips, batch_size=16, shuffle=True, collate_fn=pad_collate,
                                generator=torch.Generator().manual_seed(epoch)):
                loss = m.loss(m(b["features"], b["lengths"]), b, epoch=epoch, step=0)["total"]
                opt.zero_grad()
                loss.backward()
                opt.step()
    after = _map(models, ds, test)
    assert after > before + 0.1, (before, after)
