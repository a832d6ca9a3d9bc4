"""Step options of the trainer: full-length sampling, gradient accumulation (sum / mean), drop_last,
the epoch / step values the loss sees (and their exact resume), DDP checks (batch divisibility,
find_unused_parameters from the model)."""
from __future__ import annotations

import pytest
import torch

from test_trainer import tiny_cfg


def _trainer(out_dir, *extra):
    from wtal.train.trainer import Trainer

    return Trainer(tiny_cfg(out_dir, "data.val_fraction=0", "train.eval_every=0", "eval.test=false", *extra))


FULL_LENGTH = ["data.options={kind: thumos, seed: 0, feature_dim: 16, num_videos: [10, 4], max_duration: 30,"
               " num_classes: 5}", "data.sampling=all", "model.hamnet.dropout=0.0", "train.epochs=1",
               "train.checkpoint=last", "model.hamnet.cls_hidden=16"]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_accumulated_step_has_the_gradients_of_one_batch(tmp_path, reduction):
    """batch_size=1 x accumulate_steps=10 over 10 full-length videos of different lengths == one padded
    batch of the 10 (the trainer's own loop; float32, so to float rounding)."""
    grads = {}
    for name, extra in (("batch", ["train.batch_size=10"]),
                        ("accum", ["train.batch_size=1", "train.accumulate_steps=10"])):
        t = _trainer(tmp_path / name, *FULL_LENGTH, *extra, f"train.accumulate_reduction={reduction}")
        lengths = {t.dataset.num_snippets(i) for i in t.train_idx}
        assert len(t.train_idx) == 10 and len(lengths) > 5
        assert t.steps_per_epoch() == 1
        t.fit()
        assert t.step == 1
        grads[name] = {n: p.grad.clone() for n, p in t.model.named_parameters()}
        t.close()
    for n, g in grads["batch"].items():
        torch.testing.assert_close(grads["accum"][n], g, rtol=2e-5, atol=1e-6, msg=lambda m, n=n: f"{n}: {m}")
    # sum is 10x mean: the reduction really changes the gradient
    if reduction == "sum":
        g = grads["batch"]["cls_out.weight"]
        assert float(g.abs().max()) > 0


def test_micro_batch_weights():
    from wtal.train.trainer import micro_batch_weight

    assert micro_batch_weight(20, 20, "mean") == 1.0  # one micro-batch per step: total unchanged
    assert micro_batch_weight(1, 10, "mean") == 0.1 and micro_batch_weight(1, 10, "sum") == 1.0
    assert micro_batch_weight(3, 7, "mean", world_size=2) == 3 / 7  # DDP averages: the mean stays a mean
    assert micro_batch_weight(3, 7, "sum", world_size=2) == 6.0     # and the sum is over all ranks
    with pytest.raises(ValueError, match="accumulate_reduction"):
        micro_batch_weight(1, 1, "max")


@pytest.fixture
def record_schedule(monkeypatch):
    """(epoch, step, batch size) of every loss call."""
    from wtal.models.hamnet import HAMNet

    calls = []
    original = HAMNet.loss

    def loss(self, outputs, batch, *, epoch, step):
        calls.append((epoch, step, int(batch["labels"].shape[0])))
        return original(self, outputs, batch, epoch=epoch, step=step)

    monkeypatch.setattr(HAMNet, "loss", loss)
    return calls


STEPS = ["data.options={kind: thumos, seed: 0, feature_dim: 16, num_videos: [14, 4], max_duration: 30,"
         " num_classes: 5}", "train.batch_size=2", "train.accumulate_steps=3", "train.epochs=2"]


def test_loss_sees_epoch_and_step_and_resume_restores_them(tmp_path, record_schedule):
    """7 micro-batches of 2 videos, 3 per step: steps 0,0,0,1,1,1,2 (the incomplete last step still
    steps), then epoch 1 continues at step 3; a resumed run passes the same values."""
    t = _trainer(tmp_path / "full", *STEPS)
    assert t.steps_per_epoch() == 3
    t.fit()
    t.close()
    expected = [(0, s, 2) for s in (0, 0, 0, 1, 1, 1, 2)] + [(1, s, 2) for s in (3, 3, 3, 4, 4, 4, 5)]
    assert record_schedule == expected and t.step == 6
    record_schedule.clear()
    from wtal.train.trainer import Trainer

    t = _trainer(tmp_path / "part", *STEPS, "train.stop_after_epochs=1")
    t.fit()
    t.close()
    t = Trainer(tiny_cfg(tmp_path / "part", "data.val_fraction=0", "train.eval_every=0", "eval.test=false", *STEPS,
                         "train.stop_after_epochs=1"), resume=True)
    t.fit()
    t.close()
    assert record_schedule == expected


def test_drop_last(tmp_path, record_schedule):
    t = _trainer(tmp_path / "r", *STEPS, "train.batch_size=4", "train.accumulate_steps=2", "train.drop_last=true",
                 "train.epochs=1")
    assert t._micro_batch_sizes() == [4, 4, 4] and t.steps_per_epoch() == 2
    t.fit()
    t.close()
    assert record_schedule == [(0, 0, 4), (0, 0, 4), (0, 1, 4)]
    record_schedule.clear()
    t = _trainer(tmp_path / "k", *STEPS, "train.batch_size=4", "train.accumulate_steps=2", "train.epochs=1")
    assert t._micro_batch_sizes() == [4, 4, 4, 2]
    t.fit()
    t.close()
    assert record_schedule == [(0, 0, 4), (0, 0, 4), (0, 1, 4), (0, 1, 2)]


def test_full_length_sampling_pads_the_batch(tmp_path, monkeypatch):
    from wtal.models.hamnet import HAMNet

    seen = []
    original = HAMNet.forward

    def forward(self, features, lengths=None):
        if self.training:
            seen.append((features.shape[1], lengths.tolist()))
        return original(self, features, lengths)

    monkeypatch.setattr(HAMNet, "forward", forward)
    t = _trainer(tmp_path / "r", *FULL_LENGTH, "train.batch_size=5")
    full = sorted(t.dataset.num_snippets(i) for i in t.train_idx)
    t.fit()
    t.close()
    assert sorted(L for _, lens in seen for L in lens) == full
    assert all(T == max(lens) for T, lens in seen)


def test_batch_size_must_divide_by_the_world_size(tmp_path, monkeypatch):
    from wtal.train import trainer as tr
    from wtal.train.distributed import DistInfo

    monkeypatch.setattr(tr, "init_distributed", lambda device_type: DistInfo(rank=0, world_size=3))
    with pytest.raises(ValueError, match=r"train.batch_size=8 is not divisible by the world size 3"):
        tr.Trainer(tiny_cfg(tmp_path / "r"))


def test_ddp_gets_find_unused_parameters_from_the_model(tmp_path, monkeypatch):
    import torch.nn.parallel

    from wtal.train import trainer as tr
    from wtal.train.distributed import DistInfo

    seen = []

    class FakeDDP(torch.nn.Module):
        def __init__(self, module, device_ids=None, find_unused_parameters=False):
            super().__init__()
            self.module = module
            seen.append(find_unused_parameters)

    monkeypatch.setattr(tr, "init_distributed", lambda device_type: DistInfo(rank=0, world_size=2))
    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", FakeDDP)
    tr.Trainer(tiny_cfg(tmp_path / "a")).close()
    off = [f"model.hamnet.use_{t}=false" for t in ("sal", "ssal", "sparse", "guide")]
    tr.Trainer(tiny_cfg(tmp_path / "b", *off)).close()
    assert seen == [False, True]
