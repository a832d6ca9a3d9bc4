"""One training loop for every registered model; inference (validation, test) is :mod:`wtal.infer`.

A model follows ``wtal.models.protocol.WTALModel``: ``forward(features, lengths) -> dict``,
``loss(outputs, batch, *, epoch, step) -> dict`` (``total`` is optimised, the other entries are
named terms, logged), ``localization_inputs(outputs) -> dict``, ``find_unused_parameters`` and an
optional ``param_groups()``.

**Streams.** A joint model is one model on the joint features. A two-stream model
(``ModelSpec.streams == ("rgb", "flow")``) is one model per stream, built as
``cls(D_stream, C, config)`` from the dataset's ``stream_dims``; both train in one run from one
DataLoader (each sees its columns of the batch), each with its own optimizer, GradScaler, gradient
clipping and torch RNG state (CPU and CUDA), the state swapped in around that stream's forward and
backward. A stream's initialisation is seeded from ``(seed, rank, stream)`` alone. So a two-stream
run and single-stream runs (``model.streams: [rgb]``, ``[flow]``) with the same seed end with
identical weights, and two single-stream checkpoints fused by ``wtal localize --checkpoint RGB.pt
--checkpoint FLOW.pt`` give the two-stream run's detections. Loss terms are logged per stream
(``rgb/total``, ``flow/mil``, ...); validation uses the fused mAP. Joint models consume the global
torch RNG exactly as before two-stream training existed (init, then dropout).

**Steps.** A micro-batch is ``train.batch_size`` videos (split evenly across DDP ranks; a size that
does not divide is an error). An optimizer step accumulates ``train.accumulate_steps`` micro-batches;
``train.accumulate_reduction`` says what its gradient is: ``mean``, the gradient of the mean of the
per-video losses over the step's videos (each micro-batch's ``total`` weighted by its videos / the
step's videos); ``sum``, of their sum (``total`` times its videos; FAC-Net's "losses summed over 10
videos"). With DDP both refer to all ranks' videos (``sum`` multiplies by the world size, since DDP
averages), and gradients are all-reduced only on a step's last micro-batch (``no_sync``). The last
step of an epoch may hold fewer micro-batches (``mean`` then divides by its own video count); it
still steps, so no video is dropped (``train.drop_last`` drops a smaller last *micro-batch*).
``loss(..., epoch=, step=)`` receives the 0-based epoch being trained and the number of optimizer
steps done before the step this micro-batch contributes to; both are checkpointed, so ``--resume``
continues every schedule exactly.

**Checkpoint selection** uses a validation split carved from the training videos (seeded,
stratified by each video's first label; ``data.val_fraction``) or the last epoch; the test subset is
only localized and evaluated once, at the end, with the selected weights. This departs from authors'
code that kept the best checkpoint by test-set mAP, or advised picking the epoch from the test log
(``research/seed_models.md`` §1.3, §2).

Outputs in ``out_dir``: ``config.yaml``, ``train.log``, ``metrics.jsonl``, ``last.pt``, ``best.pt``
(when ``train.checkpoint=best``), ``predictions_<subset>.json`` and ``metrics_<subset>.json``
(checkpoint layout: :mod:`wtal.train.checkpoint`).
"""
from __future__ import annotations

import contextlib
import logging
import os
import random
import sys
import time
import zlib
from typing import Any, Sequence

import numpy as np
import torch

from wtal._atomic import atomic_write_text
from wtal.infer import (Predictor, build_dataset, check_compatible, concat_detections, data_label, evaluate,
                        filter_columns, resolve_device, stream_features, subset_indices, write_metrics)
from wtal.train.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from wtal.train.config import RESUMABLE_CHANGES, Config, check_resume_config, dump_config
from wtal.train.distributed import DistInfo, barrier, broadcast_from_main, cleanup, gather_to_main, init_distributed
from wtal.train.logging import MetricsLogger, attach_file_log

log = logging.getLogger("wtal.train")

__all__ = ["Trainer", "RESUMABLE_CHANGES", "split_train_val", "micro_batch_weight", "stream_seed", "StreamRNG",
           "seed_everything", "set_determinism"]


# ---------------------------------------------------------------------- environment
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def set_determinism(enabled: bool) -> None:
    """Deterministic kernels (and cuDNN without autotuning) when ``enabled``."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=False)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled


def stream_seed(seed: int, stream: str, rank: int = 0) -> int:
    """The torch seed of a stream's initialisation and dropout: a function of ``(seed, rank, stream)``
    only, so a stream trains the same alone and next to the other stream."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(rank), zlib.crc32(stream.encode())])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


class StreamRNG:
    """A torch RNG state (CPU, and the CUDA device's when training there) of its own, swapped in by
    :meth:`active`; the global state is restored afterwards."""

    def __init__(self, seed: int, device: torch.device):
        self.device = device
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Start this state from ``seed`` (the global state is left as it was)."""
        with torch.random.fork_rng(devices=self._cuda_devices()):
            torch.random.default_generator.manual_seed(seed)
            self.cpu = torch.get_rng_state()
            self.cuda = None
            if self.device.type == "cuda":
                with torch.cuda.device(self.device):
                    torch.cuda.manual_seed(seed)
                self.cuda = torch.cuda.get_rng_state(self.device)

    def _cuda_devices(self) -> list[int]:
        return [self.device.index or 0] if self.device.type == "cuda" else []

    @contextlib.contextmanager
    def active(self):
        cpu = torch.get_rng_state()
        cuda = torch.cuda.get_rng_state(self.device) if self.cuda is not None else None
        torch.set_rng_state(self.cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)
        try:
            yield
        finally:
            self.cpu = torch.get_rng_state()
            torch.set_rng_state(cpu)
            if cuda is not None:
                self.cuda = torch.cuda.get_rng_state(self.device)
                torch.cuda.set_rng_state(cuda, self.device)

    def state(self) -> dict[str, torch.Tensor]:
        return {"cpu": self.cpu} if self.cuda is None else {"cpu": self.cpu, "cuda": self.cuda}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        self.cpu = state["cpu"]
        if self.cuda is not None and "cuda" in state:
            self.cuda = state["cuda"]


def micro_batch_weight(videos: int, step_videos: int, reduction: str, world_size: int = 1) -> float:
    """Factor on a micro-batch's ``total`` (a mean over its ``videos``) so that the gradients summed
    over an optimizer step (``step_videos`` on this rank) and averaged by DDP over ``world_size``
    ranks are those of the mean (``"mean"``) or the sum (``"sum"``) of the step's per-video losses."""
    if reduction == "mean":
        return videos / step_videos
    if reduction == "sum":
        return float(videos * world_size)
    raise ValueError(f"train.accumulate_reduction must be 'mean' or 'sum', got {reduction!r}")


# ---------------------------------------------------------------------- data
def split_train_val(dataset, indices: Sequence[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded validation split of the training videos, stratified by each video's first label.

    Every class group gives ``round(fraction * n)`` videos (at least 1 when the group has 2 or more
    and ``fraction > 0``). Returns (train, val), both sorted.
    """
    if fraction <= 0 or len(indices) < 2:
        return sorted(indices), []
    rng = np.random.default_rng(seed)
    labels = np.asarray(dataset.labels)
    groups: dict[int, list[int]] = {}
    for i in indices:
        row = labels[i]
        groups.setdefault(int(np.argmax(row)) if row.any() else -1, []).append(int(i))
    val: list[int] = []
    for key in sorted(groups):
        g = np.array(groups[key])
        rng.shuffle(g)
        n = int(round(fraction * len(g)))
        if n == 0 and len(g) >= 2:
            n = 1
        val += g[:n].tolist()
    val_set = set(val)
    train = sorted(i for i in indices if i not in val_set)
    if not train:
        raise ValueError(f"data.val_fraction={fraction} leaves no training videos")
    return train, sorted(val)


# ---------------------------------------------------------------------- one trained model
class _Stream:
    """The model of one stream (``joint``, ``rgb`` or ``flow``) with its optimizer, GradScaler, DDP
    wrapper and (two-stream models) RNG."""

    def __init__(self, name: str, model, feature_dim: int, optimizer, scaler, rng: StreamRNG | None, ddp_model):
        self.name, self.model, self.feature_dim = name, model, feature_dim
        self.optimizer, self.scaler, self.rng, self.ddp_model = optimizer, scaler, rng, ddp_model

    def rng_context(self):
        return self.rng.active() if self.rng is not None else contextlib.nullcontext()

    def sync_context(self, sync: bool):
        if sync or self.ddp_model is self.model:
            return contextlib.nullcontext()
        return self.ddp_model.no_sync()


# ---------------------------------------------------------------------- trainer
class Trainer:
    """Train, validate, checkpoint and finally test one registered model (all its streams).

    Args:
        cfg: the run's configuration.
        dataset: a ``VideoDataset`` (None: built from ``cfg.data``).
        resume: continue from ``cfg.out_dir/last.pt`` (exact: weights, optimizer, RNG, epoch, step).
        force_config: resume although ``cfg`` differs from the saved config outside
            ``RESUMABLE_CHANGES`` (else that is an error naming the keys).

    Messages go to the ``wtal.train`` logger (rank 0 only), and to ``out_dir/train.log``.
    """

    def __init__(self, cfg: Config, dataset=None, *, resume: bool = False, force_config: bool = False):
        cfg.validate()
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.dist: DistInfo = init_distributed(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        if cfg.train.batch_size % self.dist.world_size:
            raise ValueError(f"train.batch_size={cfg.train.batch_size} is not divisible by the world size "
                             f"{self.dist.world_size} (torchrun --nproc_per_node); each rank takes an equal share")
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        self.out_dir = cfg.out_dir
        last = os.path.join(self.out_dir, "last.pt")
        if not resume and os.path.exists(last):
            raise ValueError(f"{self.out_dir} already holds a run ({last}); pass --resume to continue it "
                             "or choose another out_dir")
        ck = None
        if resume:
            if not os.path.exists(last):
                raise FileNotFoundError(f"--resume: no checkpoint to resume from at {last}")
            ck = load_checkpoint(last, map_location="cpu")
            changed = check_resume_config(ck["config"], cfg, force=force_config, source=last)
        self._file_log = attach_file_log(log, os.path.join(self.out_dir, "train.log")) if self.dist.is_main else None
        try:
            self._setup(cfg, dataset, ck, last)
            if ck is not None:
                if changed and self.dist.is_main:
                    log.warning(f"--force-config: resuming {last} with a config that differs in {changed}; "
                                "the result will not equal an uninterrupted run")
                self._resume(ck, last)
            if self.dist.is_main:
                atomic_write_text(os.path.join(self.out_dir, "config.yaml"), dump_config(cfg))
            self._log_summary()
        except BaseException:
            self.close()
            raise

    def _setup(self, cfg: Config, dataset, ck: dict | None, ck_path: str) -> None:
        from wtal.models import get_spec

        set_determinism(cfg.deterministic)
        seed_everything(cfg.seed + self.dist.rank)
        self.spec = get_spec(cfg.model.name)
        self.dataset = dataset if dataset is not None else build_dataset(cfg)
        ds = self.dataset
        if self.spec.two_stream and ds.modality != "joint":
            ds = self.dataset = ds.with_modality("joint")
        if ck is not None:  # before building models of the dataset's widths
            if ck["model"]["name"] != self.spec.name:
                raise ValueError(f"{ck_path}: holds a {ck['model']['name']!r} model, the config trains {self.spec.name!r}")
            check_compatible(ck["model"], ds, ck_path, data_label(cfg, ds), two_stream=self.spec.two_stream)
        self.train_all = subset_indices(ds, cfg.data.train_subset, cfg)
        self.train_idx, self.val_idx = split_train_val(ds, self.train_all, cfg.data.val_fraction, cfg.data.val_seed)
        self.amp_dtype = None
        if cfg.amp and self.device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.streams = [self._build_stream(s) for s in cfg.streams()]
        self.epoch = 0
        self.step = 0
        self.best: dict[str, Any] = {}
        self.logger = MetricsLogger(os.path.join(self.out_dir, "metrics.jsonl"),
                                    os.path.join(self.out_dir, "tb"), enabled=self.dist.is_main)
        self.predictor = Predictor(self.spec, {u.name: u.model for u in self.streams}, classes=ds.classes,
                                   seconds_per_snippet=ds.seconds_per_snippet, feature_dim=ds.feature_dim,
                                   stream_dims=ds.stream_dims, config=cfg, device=self.device,
                                   amp_dtype=self.amp_dtype)
        needs_profile = (self.val_idx and cfg.train.eval_every) or cfg.eval.test
        if self.spec.two_stream and len(self.streams) == 1 and needs_profile:
            self.predictor.check_profile()

    def _build_stream(self, stream: str) -> _Stream:
        cfg, ds = self.cfg, self.dataset
        if stream == "joint":
            dim, rng = int(ds.feature_dim), None
            model = self.spec.build(dim, len(ds.classes), cfg.model_config())  # the global RNG, as always
        else:
            dim = int(ds.with_modality(stream).feature_dim)
            rng = StreamRNG(stream_seed(cfg.seed, stream, self.dist.rank), self.device)
            with rng.active():
                model = self.spec.build(dim, len(ds.classes), cfg.model_config())
        model = model.to(self.device)
        ddp_model = model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ddp_model = DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=bool(model.find_unused_parameters))
        o = cfg.optim
        groups = model.param_groups() if hasattr(model, "param_groups") else model.parameters()
        optimizer = torch.optim.Adam(groups, lr=o.lr, weight_decay=o.weight_decay, betas=tuple(o.betas))
        scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        return _Stream(stream, model, dim, optimizer, scaler, rng, ddp_model)

    @property
    def models(self) -> dict[str, torch.nn.Module]:
        """``{stream: model}`` of this run."""
        return {u.name: u.model for u in self.streams}

    @property
    def model(self) -> torch.nn.Module:
        """The model of a one-stream run."""
        if len(self.streams) != 1:
            raise ValueError(f"this run trains {len(self.streams)} streams; use trainer.models")
        return self.streams[0].model

    def _log_summary(self) -> None:
        if not self.dist.is_main:
            return
        ds, cfg = self.dataset, self.cfg
        test = cfg.data.test_subset
        n_test = sum(1 for s in ds.subsets if s == test)
        log.info(f"data: {ds.name} ({cfg.data.kind}): {len(self.train_idx)} training + {len(self.val_idx)} "
                 f"validation videos (subset {cfg.data.train_subset!r}), {n_test} test videos (subset {test!r}), "
                 f"{len(ds.classes)} classes, {ds.feature_dim}-d features (rgb/flow {list(ds.stream_dims)}), "
                 f"{ds.seconds_per_snippet:g} s per snippet")
        streams = ", ".join(f"{u.name} {u.feature_dim}-d" for u in self.streams)
        amp = "off" if self.amp_dtype is None else str(self.amp_dtype).replace("torch.", "")
        t = cfg.train
        log.info(f"model: {self.spec.display_name} ({self.spec.name}), streams: {streams}; device {self.device}, "
                 f"AMP {amp}; {self.steps_per_epoch()} steps per epoch (batch {t.batch_size} x accumulate "
                 f"{t.accumulate_steps}, {t.accumulate_reduction}), sampling {cfg.data.sampling}; "
                 f"out_dir {self.out_dir}")

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any]:
        ds = self.dataset
        state = {
            "config": self.cfg.to_dict(),
            "model": {"name": self.spec.name, "classes": list(ds.classes),
                      "seconds_per_snippet": float(ds.seconds_per_snippet), "feature_dim": int(ds.feature_dim),
                      "stream_dims": [int(d) for d in ds.stream_dims],
                      "streams": {u.name: {"feature_dim": u.feature_dim, "state_dict": u.model.state_dict()}
                                  for u in self.streams}},
            "optimizer": {u.name: u.optimizer.state_dict() for u in self.streams},
            "scaler": {u.name: u.scaler.state_dict() for u in self.streams},
            "epoch": self.epoch,
            "step": self.step,
            "best": dict(self.best),
            "rng": capture_rng(),
            "sampler": {"seed": self.cfg.seed, "epoch": self.epoch},
            "split": {"train": list(self.train_idx), "val": list(self.val_idx)},
        }
        rngs = {u.name: u.rng.state() for u in self.streams if u.rng is not None}
        if rngs:
            state["stream_rng"] = rngs
        return state

    def save(self, name: str) -> str | None:
        path = os.path.join(self.out_dir, name)
        if self.dist.is_main:
            save_checkpoint(path, self._state())
        barrier(self.dist)
        return path

    def _resume(self, ck: dict, path: str) -> None:
        m = ck["model"]
        missing = [u.name for u in self.streams if u.name not in m["streams"]]
        if missing:
            raise ValueError(f"{path}: holds the streams {list(m['streams'])}, not {missing}")
        for u in self.streams:
            u.model.load_state_dict(m["streams"][u.name]["state_dict"])
            u.optimizer.load_state_dict(ck["optimizer"][u.name])
            if ck.get("scaler") and ck["scaler"].get(u.name):
                u.scaler.load_state_dict(ck["scaler"][u.name])
            if u.rng is not None:
                u.rng.load(ck["stream_rng"][u.name])
        self.epoch, self.step, self.best = int(ck["epoch"]), int(ck["step"]), dict(ck.get("best") or {})
        restore_rng(ck["rng"])
        if self.dist.enabled:  # each rank continues its own stream: offset like at start
            torch.manual_seed(int(torch.randint(0, 2**62, (1,))) + self.dist.rank)
            for u in self.streams:
                if u.rng is not None:
                    with u.rng.active():
                        draw = int(torch.randint(0, 2**62, (1,)))
                    u.rng.reseed(draw + self.dist.rank)
        if self.dist.is_main:
            log.info(f"resumed {path} at epoch {self.epoch}, step {self.step}")

    # ------------------------------------------------------------------ training
    def _loader(self, epoch: int):
        from torch.utils.data import DataLoader, RandomSampler

        from wtal.data.torch_dataset import ClipDataset, pad_collate

        # per-item generators seeded by (seed, epoch, video): resuming at an epoch replays it exactly
        clips = ClipDataset(self.dataset, self.train_idx, self.cfg.data.num_segments, self.cfg.data.sampling,
                            seed=self.cfg.seed)
        clips.set_epoch(epoch)
        if self.dist.enabled:
            from torch.utils.data.distributed import DistributedSampler

            sampler = DistributedSampler(clips, num_replicas=self.dist.world_size, rank=self.dist.rank,
                                         shuffle=True, seed=self.cfg.seed)
            sampler.set_epoch(epoch)
        else:
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
            sampler = RandomSampler(clips, generator=gen)
        return DataLoader(clips, batch_size=self._per_rank(), sampler=sampler, collate_fn=pad_collate,
                          num_workers=self.cfg.data.num_workers, drop_last=self.cfg.train.drop_last,
                          pin_memory=self.device.type == "cuda")

    def _per_rank(self) -> int:
        return self.cfg.train.batch_size // self.dist.world_size

    def _micro_batch_sizes(self) -> list[int]:
        """Videos of each micro-batch of an epoch on this rank (what the DataLoader will yield)."""
        n = len(self.train_idx)
        if self.dist.enabled:
            n = -(-n // self.dist.world_size)  # DistributedSampler pads every rank to the same count
        b = self._per_rank()
        sizes = [b] * (n // b)
        if n % b and not self.cfg.train.drop_last:
            sizes.append(n % b)
        return sizes

    def steps_per_epoch(self) -> int:
        return -(-len(self._micro_batch_sizes()) // self.cfg.train.accumulate_steps)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def _optimizer_step(self) -> None:
        clip = self.cfg.optim.grad_clip
        for u in self.streams:
            if clip > 0:
                u.scaler.unscale_(u.optimizer)
                torch.nn.utils.clip_grad_norm_(u.model.parameters(), clip)
            u.scaler.step(u.optimizer)
            u.scaler.update()

    def train_epoch(self) -> dict[str, float]:
        """One pass over the training clips. Loss terms are accumulated on the device (no per-step
        host sync unless a JSONL record or the progress bar needs the value)."""
        for u in self.streams:
            u.model.train()
        cfg = self.cfg
        loader = self._loader(self.epoch)
        sizes = self._micro_batch_sizes()
        A = cfg.train.accumulate_steps
        joint = self.streams[0].name == "joint"
        sums: dict[str, torch.Tensor] = {}
        count = 0
        show = cfg.train.progress and self.dist.is_main
        bar = _progress(loader, f"epoch {self.epoch + 1}/{cfg.train.epochs}", show)
        log_every = cfg.train.log_every
        for j, batch in enumerate(bar):
            first, last = j % A == 0, (j % A == A - 1) or j == len(sizes) - 1
            window = sizes[(j // A) * A: (j // A + 1) * A]
            weight = micro_batch_weight(len(batch["lengths"]), sum(window), cfg.train.accumulate_reduction,
                                        self.dist.world_size)
            batch = {k: (v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}
            losses: dict[str, torch.Tensor] = {}
            for u in self.streams:
                if first:
                    u.optimizer.zero_grad(set_to_none=True)
                ub = batch if u.name == "joint" else \
                    {**batch, "features": stream_features(batch["features"], u.name, self.dataset.stream_dims)}
                with u.rng_context(), u.sync_context(last):
                    with self._autocast():
                        outputs = u.ddp_model(ub["features"], ub["lengths"])
                    terms = u.model.loss(outputs, ub, epoch=self.epoch, step=self.step)
                    total = terms["total"] if weight == 1.0 else terms["total"] * weight
                    u.scaler.scale(total).backward()
                for k, v in terms.items():
                    losses[k if joint else f"{u.name}/{k}"] = v.detach()
            if last:
                self._optimizer_step()
                self.step += 1
            count += 1
            for k, v in losses.items():
                v = v.float()
                sums[k] = sums[k] + v if k in sums else v
            if last and log_every and self.step % log_every == 0:
                values = {k: float(v) for k, v in losses.items()}
                _check_finite(values, self.epoch, self.step)
                self.logger.log("train", self.step, epoch=self.epoch + 1, **values)
            if show and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{sum(float(v) for k, v in losses.items() if k.endswith('total')):.4f}")
        self.epoch += 1
        means = {k: float(v) / max(count, 1) for k, v in sums.items()}
        _check_finite(means, self.epoch - 1, self.step)
        return means

    def fit(self) -> dict[str, Any]:
        """Train to ``train.epochs`` (or ``train.stop_after_epochs`` more), validating every
        ``train.eval_every`` epochs, saving ``last.pt`` (and ``best.pt``). Returns a summary dict."""
        cfg = self.cfg
        ran = 0
        t0 = time.time()
        while self.epoch < cfg.train.epochs:
            te = time.time()
            means = self.train_epoch()
            ran += 1
            self.logger.log("epoch", self.step, epoch=self.epoch, **means)
            is_last = self.epoch == cfg.train.epochs
            val_msg = ""
            if self.val_idx and cfg.train.eval_every and (self.epoch % cfg.train.eval_every == 0 or is_last):
                res = self.evaluate(self.val_idx, cfg.data.train_subset)
                metric = broadcast_from_main(self.dist, None if res is None else float(res.average_mAP))
                self.logger.log("val", self.step, epoch=self.epoch, average_mAP=metric,
                                mAP=None if res is None else [float(x) for x in res.mAP])
                if res is not None:
                    val_msg = (f"epoch {self.epoch}: validation average mAP {100 * metric:.2f} (mAP % at tIoU "
                               + " ".join(f"{t:g}: {100 * float(m):.2f}" for t, m in zip(res.tiou, res.mAP)) + ")")
                if not self.best or metric > self.best["average_mAP"]:
                    self.best = {"average_mAP": metric, "epoch": self.epoch, "step": self.step}
                    if cfg.train.checkpoint == "best":
                        self.save("best.pt")
            stop = bool(cfg.train.stop_after_epochs) and ran >= cfg.train.stop_after_epochs
            if is_last or stop or (cfg.train.save_every and self.epoch % cfg.train.save_every == 0):
                self.save("last.pt")
            if self.dist.is_main:
                dt = time.time() - te
                eta = (time.time() - t0) / ran * (cfg.train.epochs - self.epoch)
                terms = " ".join(f"{k} {v:.4f}" for k, v in means.items())
                log.info(f"epoch {self.epoch}/{cfg.train.epochs} (step {self.step}): {terms}; {dt:.1f} s, "
                         f"ETA {_duration(eta)}")
                if val_msg:
                    log.info(val_msg)
            if stop:
                break
        return {"epoch": self.epoch, "step": self.step, "best": dict(self.best),
                "finished": self.epoch >= cfg.train.epochs, "train_seconds": time.time() - t0}

    def load_selected(self) -> str:
        """Load the selected weights (best on validation, else last) into the models; returns the path."""
        best = os.path.join(self.out_dir, "best.pt")
        path = best if self.cfg.train.checkpoint == "best" and os.path.exists(best) else \
            os.path.join(self.out_dir, "last.pt")
        if os.path.exists(path):
            streams = load_checkpoint(path)["model"]["streams"]
            for u in self.streams:
                u.model.load_state_dict(streams[u.name]["state_dict"])
        return path

    # ------------------------------------------------------------------ inference (wtal.infer)
    def predict(self, indices: Sequence[int]):
        """Detections for ``indices`` (sharded across ranks, gathered on rank 0; None elsewhere)."""
        indices = list(indices)
        mine = indices[self.dist.rank:: self.dist.world_size]
        subset = self.predictor.dataset_class_subset(self.dataset, indices)  # of all ranks' videos
        det = self.predictor.localize_dataset(self.dataset, mine, class_subset=subset) if mine else None
        parts = gather_to_main(self.dist, det)
        if not self.dist.is_main:
            return None
        return concat_detections(parts)

    def evaluate(self, indices: Sequence[int], subset: str):
        """Localize ``indices`` and evaluate against their ground truth (rank 0 result; None elsewhere)."""
        det = self.predict(indices)
        if not self.dist.is_main:
            return None
        videos = {self.dataset.videos[i] for i in indices}
        gt = filter_columns(self.dataset.ground_truth(subset), videos)
        # a validation split may lack some classes: predictions of those are ignored, not an error
        return evaluate(gt, det, self.cfg, unknown_labels="ignore")

    def test(self, predictions_file: str | None = None, metrics_file: str | None = None,
             extra_metrics: dict | None = None) -> tuple[Any, Any]:
        """Localize + evaluate ``data.test_subset`` with the current weights; writes the predictions
        (default ``predictions_<subset>.json``) and metrics (``metrics_<subset>.json``, plus
        ``extra_metrics``) into ``out_dir`` (rank 0). Returns (Detections, DetectionResult) on rank 0."""
        subset = self.cfg.data.test_subset
        idx = subset_indices(self.dataset, subset, self.cfg)
        det = self.predict(idx)
        res = None
        if self.dist.is_main:
            det.write(os.path.join(self.out_dir, predictions_file or f"predictions_{subset}.json"))
            res = evaluate(self.dataset.ground_truth(subset), det, self.cfg)
            write_metrics(os.path.join(self.out_dir, metrics_file or f"metrics_{subset}.json"), res, extra_metrics)
        # Ranks leave together: a rank that tears its gloo group down while rank 0 is still evaluating
        # aborted once in CI ("terminate called without an active exception", SIGABRT on rank 1).
        barrier(self.dist)
        return (det, res) if self.dist.is_main else (None, None)

    def close(self) -> None:
        if getattr(self, "logger", None) is not None:
            self.logger.close()
        if getattr(self, "_file_log", None) is not None:
            log.removeHandler(self._file_log)
            self._file_log.close()
            self._file_log = None
        cleanup(self.dist)


# ---------------------------------------------------------------------- helpers
def _check_finite(values: dict[str, float], epoch: int, step: int) -> None:
    if not all(np.isfinite(v) for v in values.values()):
        raise FloatingPointError(f"non-finite loss in epoch {epoch + 1} (step {step}): {values}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def _progress(iterable, desc: str, enabled: bool):
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return iterable
    # disable=None: bars only on a terminal; redirected logs (CI, nohup, files) stay readable.
    return tqdm(iterable, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr, disable=None)
