"""One THUMOS14-scale HAM-Net training epoch: wtal vs the same model written the authors' way.

Workload (full size): 200 training videos of THUMOS14-like lengths, clips of T=500 snippets sampled
per bin at random, batch 20 (10 optimizer steps), 2048-d features, Adam(1e-5, wd 1e-3).

* ``wtal``: ``wtal.train.trainer.Trainer.train_epoch`` (``ClipDataset`` + ``pad_collate``, ``HAMNet`` with
  ``wtal.ops.hybrid_attention_pool``, autocast bf16 on CUDA).
* ``authors``: asrafulashiq/hamnet's way: per-item numpy ``random_perturb`` sampling in a map-style
  Dataset with the default collate, the ``nn.Sequential`` model, fp32, and their ``_loss_fn`` (four
  materialised score tensors + four ``torch.topk`` calls; transcribed in ``tests/test_hamnet.py``).

Both run in the same process on the same features. Run on a GPU with
``WTAL_BENCH_DEVICE=cuda pytest benchmarks/bench_train.py`` (default: CPU);
``WTAL_BENCH_QUICK=1`` shrinks the workload (40 videos, 256-d, T=200) for a CPU smoke run.
Timings include data sampling, host-to-device copies and the optimizer step; CUDA runs synchronise
before the clock stops. The ratio authors/wtal is printed and stored in ``extra_info``.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch
from conftest import QUICK
from torch import nn

DEVICE = os.environ.get("WTAL_BENCH_DEVICE", "cpu")
if QUICK:
    NUM_VIDEOS, D, T, BATCH, C = 40, 256, 200, 20, 20
else:
    NUM_VIDEOS, D, T, BATCH, C = 200, 2048, 500, 20, 20
ROUNDS = 1 if (QUICK or DEVICE == "cpu") else 3
RESULTS: dict[str, float] = {}


class PoolDataset:
    """A ``VideoDataset``-shaped set whose videos are views into one random feature pool (memory-light)."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.lengths = rng.integers(T // 2, 6 * T, size=NUM_VIDEOS)  # THUMOS14 train: ~70 s .. 15 min
        self.pool = rng.standard_normal((int(self.lengths.max()) + 64, D), dtype=np.float32)
        self.offsets = rng.integers(0, 64, size=NUM_VIDEOS)
        self.name = "bench"
        self.classes = [f"c{i}" for i in range(C)]
        self.videos = [f"v{i}" for i in range(NUM_VIDEOS)]
        self.subsets = ["train"] * NUM_VIDEOS
        self.labels = np.zeros((NUM_VIDEOS, C), np.float32)
        self.labels[np.arange(NUM_VIDEOS), rng.integers(0, C, NUM_VIDEOS)] = 1
        self.durations = self.lengths * 0.64
        self.feature_dim = D
        self.stream_dims = (D // 2, D - D // 2)
        self.modality = "joint"
        self.seconds_per_snippet = 0.64

    def __len__(self) -> int:
        return NUM_VIDEOS

    def features(self, i: int) -> np.ndarray:
        return self.pool[self.offsets[i]: self.offsets[i] + self.lengths[i]]

    def num_snippets(self, i: int) -> int:
        return int(self.lengths[i])

    def indices(self, subset: str) -> list[int]:
        return [i for i, s in enumerate(self.subsets) if s == subset]

    def ground_truth(self, subset):  # not used by a training epoch
        return {"video": np.array([], object), "t_start": np.array([]), "t_end": np.array([]),
                "label": np.array([], object)}


def _sync():
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


# ---------------------------------------------------------------------- the authors' way
def random_perturb(v_len: int, num_segments: int) -> np.ndarray:
    """data_loader/dataset.py random_perturb: one random index per equal bin (repeats if short)."""
    samples = np.arange(num_segments) * v_len / num_segments
    for i in range(num_segments):
        if i < num_segments - 1:
            if int(samples[i]) != int(samples[i + 1]):
                samples[i] = np.random.choice(range(int(samples[i]), int(samples[i + 1]) + 1))
            else:
                samples[i] = int(samples[i])
        else:
            if int(samples[i]) < v_len - 1:
                samples[i] = np.random.choice(range(int(samples[i]), v_len))
            else:
                samples[i] = int(samples[i])
    return samples.astype(int)


class AuthorsDataset(torch.utils.data.Dataset):
    def __init__(self, ds: PoolDataset):
        self.ds = ds

    def __len__(self):
        return NUM_VIDEOS

    def __getitem__(self, i):
        f = self.ds.features(i)
        return f[random_perturb(f.shape[0], T)], self.ds.labels[i]


def authors_model() -> nn.Module:
    from wtal.models.hamnet import init_weights_hamnet

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.classifier = nn.Sequential(
                nn.Conv1d(D, D, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv1d(D, D, 3, padding=1),
                nn.LeakyReLU(0.2), nn.Dropout(0.7), nn.Conv1d(D, C + 1, 1))
            self.attention = nn.Sequential(
                nn.Conv1d(D, 512, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv1d(512, 512, 3, padding=1),
                nn.LeakyReLU(0.2), nn.Conv1d(512, 1, 1), nn.Sigmoid())
            self.apply(init_weights_hamnet)

        def forward(self, inputs):
            x = inputs.transpose(-1, -2)
            return self.classifier(x).transpose(-1, -2), self.attention(x).transpose(-1, -2)

    return Net()


def run_authors_epoch(ds: PoolDataset, model, optimizer) -> None:
    from test_hamnet import THUMOS, authors_loss

    loader = torch.utils.data.DataLoader(AuthorsDataset(ds), batch_size=BATCH, shuffle=True,
                                         pin_memory=DEVICE.startswith("cuda"), num_workers=0)
    model.train()
    for feats, labels in loader:
        feats, labels = feats.to(DEVICE), labels.to(DEVICE)
        logits, atn = model(feats)
        total, _ = authors_loss(logits, atn, labels, **THUMOS)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    _sync()


# ---------------------------------------------------------------------- wtal
def wtal_trainer(ds: PoolDataset, tmp_path):
    from wtal.train.config import load_config
    from wtal.train.trainer import Trainer

    cfg = load_config(None, [
        f"out_dir={tmp_path / 'wtal'}", f"device={DEVICE}", "amp=true", "data.train_subset=train",
        "data.val_fraction=0", f"data.num_segments={T}", f"train.batch_size={BATCH}", "train.progress=false",
        "train.log_every=0", "model.hamnet.pooling=op"])
    return Trainer(cfg, dataset=ds)


@pytest.fixture(scope="module")
def dataset():
    return PoolDataset()


def _record(name: str, seconds: float, benchmark) -> None:
    RESULTS[name] = seconds
    benchmark.extra_info.update(device=DEVICE, videos=NUM_VIDEOS, T=T, D=D, batch=BATCH)
    if len(RESULTS) == 2:
        ratio = RESULTS["authors"] / RESULTS["wtal"]
        benchmark.extra_info["authors_over_wtal"] = ratio
        print(f"\n[bench_train] {DEVICE}: epoch wtal {RESULTS['wtal']:.2f} s, authors' way "
              f"{RESULTS['authors']:.2f} s, authors/wtal = {ratio:.2f}x")


@pytest.mark.benchmark(group="train_epoch")
def test_epoch_authors(benchmark, dataset):
    torch.manual_seed(0)
    model = authors_model().to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=1e-5, weight_decay=1e-3)
    times = []

    def run():
        t0 = time.perf_counter()
        run_authors_epoch(dataset, model, opt)
        times.append(time.perf_counter() - t0)

    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=0 if DEVICE == "cpu" else 1)
    _record("authors", float(np.median(times[-ROUNDS:])), benchmark)


@pytest.mark.benchmark(group="train_epoch")
def test_epoch_wtal(benchmark, dataset, tmp_path):
    torch.manual_seed(0)
    trainer = wtal_trainer(dataset, tmp_path)
    times = []

    def run():
        t0 = time.perf_counter()
        trainer.train_epoch()
        _sync()
        times.append(time.perf_counter() - t0)

    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=0 if DEVICE == "cpu" else 1)
    trainer.close()
    _record("wtal", float(np.median(times[-ROUNDS:])), benchmark)
