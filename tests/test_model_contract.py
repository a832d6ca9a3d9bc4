"""The model contract (``wtal.models.protocol.WTALModel``), checked the same way for every registered model.

Each clause is a plain ``check_*`` function that raises ``AssertionError``; the parametrised tests run
them over the registry, and ``test_checks_catch_broken_models`` shows that each one fails on a model
that breaks it (so these tests can fail).

Models are built with their packaged synthetic config (small widths) on small synthetic data; a
two-stream model is checked per stream, at that stream's width.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect

import numpy as np
import pytest
import torch
from torch import nn

from wtal.infer import PROFILE_EXTRAS
from wtal.models import WTALModel, registry
from wtal.train.config import load_config, packaged_config

SPECS = list(registry().values())
IDS = [s.name for s in SPECS]
NUM_CLASSES = 5
FEATURE_DIM = 16
# the profile parameters that the inference module supplies from the dataset, not from the model
DATASET_EXTRAS = PROFILE_EXTRAS


# ---------------------------------------------------------------------- inputs
def model_config(spec):
    return load_config(packaged_config(spec.demo_config)).model_config()


def build(spec, seed: int = 0, dtype=torch.float64, config=None):
    torch.manual_seed(seed)
    model = spec.build(FEATURE_DIM, NUM_CLASSES, config if config is not None else model_config(spec))
    return model.to(dtype)


def ragged_batch(lengths=(23, 9, 1, 16), seed: int = 0, dtype=torch.float64):
    """Features [B, T, D] with garbage past each length, lengths [B], multi-hot labels [B, C]."""
    g = torch.Generator().manual_seed(seed)
    B, T = len(lengths), max(lengths)
    x = torch.randn(B, T, FEATURE_DIM, generator=g, dtype=dtype)
    lens = torch.tensor(lengths, dtype=torch.int64)
    pad = torch.arange(T)[None, :] >= lens[:, None]
    x[pad] = 1e3  # padding must not leak into any output
    labels = torch.zeros(B, NUM_CLASSES, dtype=dtype)
    for b in range(B):
        labels[b, b % NUM_CLASSES] = 1
        labels[b, (3 * b + 1) % NUM_CLASSES] = 1
    return x, lens, labels


def _batch(x, lens, labels):
    return {"features": x, "lengths": lens, "labels": labels}


# ---------------------------------------------------------------------- the clauses
def check_protocol(model) -> None:
    assert isinstance(model, nn.Module), "a model is a torch.nn.Module"
    assert isinstance(model, WTALModel), "a model has forward/loss/localization_inputs and the attributes"
    for name in ("loss", "localization_inputs"):
        assert callable(getattr(model, name, None)), f"model.{name} is missing"
    params = inspect.signature(model.loss).parameters
    for kw in ("epoch", "step"):
        assert kw in params and params[kw].kind is inspect.Parameter.KEYWORD_ONLY, \
            f"loss(outputs, batch, *, epoch, step): {kw!r} must be keyword-only"
    assert isinstance(model.find_unused_parameters, bool), "find_unused_parameters must be a bool"


def check_padding_invariance(model, x, lens, rtol=1e-5, atol=1e-6) -> None:
    """Every per-video output of a padded batch equals the output of that video alone."""
    model.eval()
    with torch.no_grad():
        batched = model(x, lens)
        for b, L in enumerate(lens.tolist()):
            alone = model(x[b:b + 1, :L].clone(), lens[b:b + 1].clone())
            for key, v in alone.items():
                assert key in batched, f"output {key!r} missing from the batched forward"
                got = batched[key][b:b + 1]
                if v.dim() >= 2 and got.dim() >= 2 and got.shape[1] != v.shape[1]:  # time axis
                    assert got.shape[1] >= v.shape[1], f"output {key!r}: batched time axis too short"
                    got = got[:, :L]
                assert got.shape == v.shape, f"output {key!r}: shape {tuple(got.shape)} vs {tuple(v.shape)} alone"
                if v.is_floating_point():
                    assert torch.isfinite(v).all(), f"output {key!r} is not finite"
                    torch.testing.assert_close(got, v, rtol=rtol, atol=atol,
                                               msg=lambda m, k=key, b=b: f"output {k!r} of video {b}: {m}")
                else:
                    assert torch.equal(got, v), f"output {key!r} of video {b} differs from the video alone"


def check_loss_and_gradients(model, x, lens, labels, *, epoch: int = 0, step: int = 0) -> dict:
    """Finite named terms; ``total`` reaches every trainable parameter (unless the model declares
    ``find_unused_parameters``) with finite gradients."""
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(x, lens)
    losses = model.loss(out, _batch(x, lens, labels), epoch=epoch, step=step)
    assert "total" in losses, "loss() must return a 'total' entry"
    for k, v in losses.items():
        assert torch.is_tensor(v) and v.dim() == 0, f"loss term {k!r} must be a 0-d tensor"
        assert torch.isfinite(v), f"loss term {k!r} is not finite: {float(v.detach())}"
    assert losses["total"].requires_grad, "'total' does not require grad"
    losses["total"].backward()
    missing = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.grad is None:
            missing.append(name)
        else:
            assert torch.isfinite(p.grad).all(), f"gradient of {name} is not finite"
    if missing:
        assert model.find_unused_parameters, (
            f"parameters without gradient {missing[:5]} but find_unused_parameters is False (DDP would fail)")
    return losses


def check_full_gradients(model, x, lens, labels) -> None:
    """With every switch on (the default config) every trainable parameter gets a gradient."""
    check_loss_and_gradients(model, x, lens, labels)
    none = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not none, f"parameters that the default loss never reaches: {none[:5]}"


def check_localization_inputs(model, spec, x, lens) -> None:
    """Keys (suffixed per stream for two-stream models) equal the profile's positional parameters."""
    model.eval()
    with torch.no_grad():
        li = model.localization_inputs(model(x, lens))
    params = [n for n, p in inspect.signature(spec.profile_function()).parameters.items()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if spec.two_stream:
        keys = {k if k == "lengths" else f"{k}_{s}" for s in spec.streams for k in li}
    else:
        keys = set(li)
    assert keys == set(params), f"localization_inputs keys {sorted(keys)} != profile parameters {sorted(params)}"
    kw_only = [n for n, p in inspect.signature(spec.profile_function()).parameters.items()
               if p.kind is p.KEYWORD_ONLY]
    unknown = [n for n in kw_only if n not in DATASET_EXTRAS]
    assert not unknown, f"profile keyword arguments the inference module cannot supply: {unknown}"
    for k, v in li.items():
        assert torch.is_tensor(v), f"localization input {k!r} must be a tensor"
        if v.is_floating_point():
            assert v.dtype in (torch.float32, torch.float64), f"localization input {k!r} has dtype {v.dtype}"


ACCUMULATION_LENGTHS = (23, 9, 1, 16, 30, 5, 12, 2, 19, 7)


def check_accumulation_equals_batch(model, reduction: str, lengths=ACCUMULATION_LENGTHS, tol: float = 1e-10) -> None:
    """One optimizer step of ``batch_size=1, accumulate_steps=len(lengths)`` (each micro-batch's
    ``total`` weighted by the trainer's ``micro_batch_weight``) has the gradients of one padded batch
    of the same full-length videos, for ``reduction`` ``"mean"`` or ``"sum"`` (float64; eval mode, so
    that dropout draws do not differ between the two)."""
    from wtal.train.trainer import micro_batch_weight

    model = model.double().eval()
    x, lens, labels = ragged_batch(lengths, seed=3)
    B = len(lengths)

    def grads():
        return {n: (None if p.grad is None else p.grad.clone()) for n, p in model.named_parameters()}

    model.zero_grad(set_to_none=True)
    out = model(x, lens)
    total = model.loss(out, _batch(x, lens, labels), epoch=0, step=0)["total"]
    (total * micro_batch_weight(B, B, reduction)).backward()
    ref = grads()
    model.zero_grad(set_to_none=True)
    for b, L in enumerate(lens.tolist()):
        xb, lb, yb = x[b:b + 1, :L].clone(), lens[b:b + 1].clone(), labels[b:b + 1].clone()
        tb = model.loss(model(xb, lb), _batch(xb, lb, yb), epoch=0, step=0)["total"]
        (tb * micro_batch_weight(1, B, reduction)).backward()
    acc = grads()
    for n in ref:
        assert (ref[n] is None) == (acc[n] is None), f"gradient of {n} exists in one pass only"
        if ref[n] is not None:
            err = float((acc[n] - ref[n]).abs().max())
            scale = max(1.0, float(ref[n].abs().max()))
            assert err <= tol * scale, (f"accumulated gradient of {n} ({reduction}) differs from the batch's by "
                                        f"{err:.3g} (scale {scale:.3g})")


def check_state_dict_round_trip(make, x, lens) -> None:
    """``make(seed)`` builds a model; loading one's state_dict into another gives identical outputs."""
    a = make(0).eval()
    b = make(1).eval()
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    with torch.no_grad():
        oa, ob = a(x, lens), b(x, lens)
    for k in oa:
        assert torch.equal(oa[k], ob[k]), f"output {k!r} differs after a state_dict round trip"


def _epoch_loss(model, dataset, indices, T: int) -> float:
    from wtal.data.torch_dataset import ClipDataset, pad_collate

    clips = ClipDataset(dataset, indices, T, "uniform")
    batch = pad_collate([clips[k] for k in range(len(clips))])
    model.eval()
    with torch.no_grad():
        out = model(batch["features"], batch["lengths"])
        return float(model.loss(out, batch, epoch=0, step=0)["total"])


def check_one_epoch_lowers_loss(spec, cfg, dataset, epochs: int = 1) -> tuple[float, float]:
    """One epoch of the run's optimiser over the training clips lowers the (eval-mode) training loss."""
    from torch.utils.data import DataLoader

    from wtal.data.torch_dataset import ClipDataset, pad_collate

    torch.manual_seed(0)
    model = spec.build(dataset.feature_dim, dataset.num_classes, cfg.model_config())
    idx = dataset.indices(cfg.data.train_subset)
    T = cfg.data.num_segments
    before = _epoch_loss(model, dataset, idx, T)
    groups = model.param_groups() if hasattr(model, "param_groups") else model.parameters()
    opt = torch.optim.Adam(groups, lr=cfg.optim.lr, betas=tuple(cfg.optim.betas),
                           weight_decay=cfg.optim.weight_decay)
    clips = ClipDataset(dataset, idx, T, "random", seed=0)
    step = 0
    for epoch in range(epochs):
        clips.set_epoch(epoch)
        model.train()
        for batch in DataLoader(clips, batch_size=min(8, len(idx)), shuffle=True, collate_fn=pad_collate,
                                generator=torch.Generator().manual_seed(epoch)):
            out = model(batch["features"], batch["lengths"])
            total = model.loss(out, batch, epoch=epoch, step=step)["total"]
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            step += 1
    after = _epoch_loss(model, dataset, idx, T)
    assert after < before, f"one epoch did not lower the training loss ({before:.5f} -> {after:.5f})"
    return before, after


# ---------------------------------------------------------------------- over the registry
@pytest.fixture(params=SPECS, ids=IDS)
def spec(request):
    return request.param


def test_registry_entries_resolve(spec):
    assert spec.config_type().__name__ == spec.config_class
    assert dataclasses.is_dataclass(spec.config_type())
    assert callable(spec.profile_function())
    assert dataclasses.is_dataclass(spec.profile_config_type())
    assert spec.profile_config.endswith("LocalizeConfig")
    for name in spec.configs:
        load_config(packaged_config(name))
    assert load_config(packaged_config(spec.demo_config)).model.name == spec.name


def test_protocol(spec):
    check_protocol(build(spec))


def test_padded_batch_equals_each_video_alone(spec):
    x, lens, _ = ragged_batch()
    check_padding_invariance(build(spec), x, lens)


def test_loss_terms_finite_and_gradients_reach_every_parameter(spec):
    x, lens, labels = ragged_batch()
    check_full_gradients(build(spec), x, lens, labels)
    check_loss_and_gradients(build(spec), x, lens, labels, epoch=3, step=17)


def test_switches_declare_unused_parameters(spec):
    """Each ``use_*`` switch turned off alone: still finite, and parameters left without gradient are
    declared through ``find_unused_parameters``."""
    base = model_config(spec)
    switches = [f.name for f in dataclasses.fields(base) if f.name.startswith("use_") and getattr(base, f.name) is True]
    x, lens, labels = ragged_batch()
    for name in switches:
        cfg = dataclasses.replace(base, **{name: False})
        try:
            cfg.validate()
        except ValueError:
            continue  # a switch that cannot be turned off alone
        check_loss_and_gradients(build(spec, config=cfg), x, lens, labels)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_accumulation_equals_one_batch(spec, reduction):
    check_accumulation_equals_batch(build(spec), reduction)


def test_localization_inputs_match_profile(spec):
    x, lens, _ = ragged_batch()
    check_localization_inputs(build(spec), spec, x, lens)


def test_state_dict_round_trip_is_exact(spec):
    x, lens, _ = ragged_batch()
    check_state_dict_round_trip(lambda seed: build(spec, seed=seed), x, lens)


def test_one_synthetic_epoch_lowers_the_loss(spec):
    from wtal.data.synthetic import make_synthetic

    cfg = load_config(packaged_config(spec.demo_config))
    opts = dict(cfg.data.options, num_videos=[48, 8], max_duration=60)
    ds = make_synthetic(**opts)
    if spec.two_stream:
        ds = ds.with_modality(spec.streams[0])
    check_one_epoch_lowers_loss(spec, cfg, ds)


# ---------------------------------------------------------------------- the checks can fail
class _Toy(nn.Module):
    """A minimal model that honours the contract; subclasses break one clause each."""

    find_unused_parameters = False

    def __init__(self, feature_dim, num_classes, config=None):
        super().__init__()
        self.feature_dim, self.num_classes = feature_dim, num_classes
        self.cls = nn.Linear(feature_dim, num_classes + 1)
        self.extra = nn.Linear(feature_dim, 1)

    def _valid(self, x, lengths):
        return (torch.arange(x.shape[1])[None, :] < lengths[:, None]).to(x.dtype)

    def forward(self, features, lengths):
        m = self._valid(features, lengths)
        cas = self.cls(features) * m[..., None]
        att = torch.sigmoid(self.extra(features))[..., 0] * m
        return {"cas": cas, "attention": att, "lengths": lengths}

    def loss(self, outputs, batch, *, epoch, step):
        cas, att, lens = outputs["cas"], outputs["attention"], outputs["lengths"]
        m = self._valid(cas, lens)
        pooled = (cas * m[..., None]).sum(1) / lens[:, None].to(cas.dtype)
        y = torch.cat([batch["labels"], torch.ones_like(batch["labels"][:, :1])], 1)
        mil = -(y / y.sum(1, keepdim=True) * torch.log_softmax(pooled, -1)).sum(-1).mean()
        sparse = ((att * m).sum(1) / lens.to(att.dtype)).mean()
        return {"total": mil + 0.1 * sparse, "mil": mil, "sparse": sparse}

    def localization_inputs(self, outputs):
        return {"cas": outputs["cas"], "attention": outputs["attention"], "lengths": outputs["lengths"]}


class _LeaksPadding(_Toy):
    def forward(self, features, lengths):
        out = super().forward(features, lengths)
        out["cas"] = out["cas"] + features.mean(dim=(1, 2))[:, None, None]  # reads the padding
        return out


class _NaNLoss(_Toy):
    def loss(self, outputs, batch, *, epoch, step):
        d = super().loss(outputs, batch, epoch=epoch, step=step)
        d["mil"] = d["mil"] * float("nan")
        return d


class _UndeclaredUnused(_Toy):
    def loss(self, outputs, batch, *, epoch, step):
        d = super().loss(outputs, batch, epoch=epoch, step=step)
        d["total"] = d["mil"]  # self.extra gets no gradient
        return d


class _WrongInputs(_Toy):
    def localization_inputs(self, outputs):
        return {"logits": outputs["cas"], "lengths": outputs["lengths"]}


class _NoSchedule(_Toy):
    def loss(self, outputs, batch):  # old signature
        return super().loss(outputs, batch, epoch=0, step=0)


class _BatchSumLoss(_Toy):
    def loss(self, outputs, batch, *, epoch, step):
        d = super().loss(outputs, batch, epoch=epoch, step=step)
        d["total"] = d["total"] * outputs["cas"].shape[0]  # a sum over videos, not a mean
        return d


class _PaddedMeanLoss(_Toy):
    def loss(self, outputs, batch, *, epoch, step):
        d = super().loss(outputs, batch, epoch=epoch, step=step)
        d["total"] = d["total"] + outputs["attention"].mean()  # mean over padded snippets of all videos
        return d


class _NotAModule:
    find_unused_parameters = False


class _NonDeterministicLoad(_Toy):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.scale = float(torch.rand(()))  # state outside the state_dict

    def forward(self, features, lengths):
        out = super().forward(features, lengths)
        out["cas"] = out["cas"] * self.scale
        return out


def test_checks_catch_broken_models():
    from wtal.models import default_model, get_spec

    joint_spec = get_spec(default_model())  # any joint model's profile serves the toys
    assert not joint_spec.two_stream
    spec = joint_spec
    x, lens, labels = ragged_batch()

    def toy(cls):
        torch.manual_seed(0)
        return cls(FEATURE_DIM, NUM_CLASSES).double()

    # the toy itself passes every clause
    check_protocol(toy(_Toy))
    check_padding_invariance(toy(_Toy), x, lens)
    check_full_gradients(toy(_Toy), x, lens, labels)
    with pytest.raises(AssertionError, match="padding|differs|output"):
        check_padding_invariance(toy(_LeaksPadding), x, lens)
    with pytest.raises(AssertionError, match="not finite"):
        check_loss_and_gradients(toy(_NaNLoss), x, lens, labels)
    with pytest.raises(AssertionError, match="find_unused_parameters"):
        check_loss_and_gradients(toy(_UndeclaredUnused), x, lens, labels)
    with pytest.raises(AssertionError, match="keyword-only"):
        check_protocol(toy(_NoSchedule))
    with pytest.raises(AssertionError, match="nn.Module"):
        check_protocol(_NotAModule())
    with pytest.raises(AssertionError, match="profile parameters"):
        check_localization_inputs(toy(_WrongInputs), spec, x, lens)
    for reduction in ("mean", "sum"):
        check_accumulation_equals_batch(toy(_Toy), reduction)
        for broken in (_BatchSumLoss, _PaddedMeanLoss):
            with pytest.raises(AssertionError, match="accumulated gradient"):
                check_accumulation_equals_batch(toy(broken), reduction)

    def maker(cls):
        return lambda seed: (torch.manual_seed(seed), cls(FEATURE_DIM, NUM_CLASSES).double())[1]

    check_state_dict_round_trip(maker(_Toy), x, lens)
    with pytest.raises(AssertionError, match="round trip"):
        check_state_dict_round_trip(maker(_NonDeterministicLoad), x, lens)

    class _Spec:  # a spec-like factory for the epoch clause
        def __init__(self, cls):
            self.cls = cls

        def build(self, d, c, config=None):
            return self.cls(d, c)

    # a model that does not learn fails the epoch clause
    from wtal.data.synthetic import make_synthetic

    class _Frozen(_Toy):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            for p in self.parameters():
                p.requires_grad_(False)
            self.dummy = nn.Parameter(torch.zeros(()))

        def loss(self, outputs, batch, *, epoch, step):
            d = super().loss(outputs, batch, epoch=epoch, step=step)
            d["total"] = d["total"] + 0.0 * self.dummy
            return d

    ds = make_synthetic(kind="thumos", seed=0, feature_dim=FEATURE_DIM, num_classes=NUM_CLASSES,
                        num_videos=[16, 4], max_duration=40)
    cfg = load_config(packaged_config(joint_spec.demo_config))
    with pytest.raises(AssertionError, match="did not lower"):
        check_one_epoch_lowers_loss(_Spec(_Frozen), cfg, ds)
    assert np.isfinite(check_one_epoch_lowers_loss(_Spec(_Toy), cfg, ds, epochs=3)[1])
