"""One trainer for every wtal model.

A model exposes ``forward(features, lengths) -> dict``, ``loss(outputs, batch) -> dict`` (``total`` is
optimised; the other entries are named terms, logged) and ``localization_inputs(outputs) -> dict``
(keyword arguments of its ``wtal.localize`` profile).

Checkpoint selection uses a **validation split carved from the training videos** (seeded,
stratified by each video's first label; ``data.val_fraction``) or the last epoch; the test subset is
only localized and evaluated once, at the end, with the selected weights. This departs from the
authors' pre-release HAM-Net code, which kept the best checkpoint by test-set mAP
(``research/seed_models.md`` §1.3), and from FAC-Net's README advice to pick the epoch from the test log.

Outputs in ``out_dir``: ``config.yaml``, ``metrics.jsonl``, ``last.pt``, ``best.pt`` (when
``train.checkpoint=best``), ``predictions_<subset>.json`` and ``metrics_<subset>.json``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import sys
import time
from typing import Any, Sequence

import numpy as np
import torch

from wtal._atomic import atomic_write_text
from wtal.train.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from wtal.train.config import Config, config_diff, config_from_dict, dump_config
from wtal.train.distributed import DistInfo, barrier, broadcast_from_main, cleanup, gather_to_main, init_distributed
from wtal.train.logging import MetricsLogger

# keys that may change between an interrupted run and its resumption without breaking exactness
RESUMABLE_CHANGES = ("train.epochs", "train.stop_after_epochs", "train.progress", "train.log_every",
                     "train.eval_max_snippets", "eval.test", "data.num_workers", "out_dir", "num_threads",
                     "device")


# ---------------------------------------------------------------------- environment
def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {name!r} requested but CUDA is not available (use --device cpu)")
    return dev


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


# ---------------------------------------------------------------------- data
def build_dataset(cfg: Config):
    """The ``VideoDataset`` named by ``cfg.data`` (extra reader arguments from ``data.options``)."""
    d = cfg.data
    opts = dict(d.options)
    if d.kind == "synthetic":
        from wtal.data.synthetic import make_synthetic

        return make_synthetic(**opts)
    import wtal.data as wd

    if d.kind == "wtalc":
        if not d.name:
            raise ValueError("data.name is required for data.kind='wtalc' (e.g. Thumos14reduced)")
        return wd.load_wtalc(d.root, d.name, **opts)
    if d.kind == "pervideo":
        return wd.load_pervideo(d.root, **opts)
    # activitynet: data.root is the features folder, data.options.annotation_json the annotations
    if "annotation_json" not in opts:
        raise ValueError("data.options.annotation_json is required for data.kind='activitynet' "
                         "(data.root is the per-video features folder)")
    return wd.load_activitynet(opts.pop("annotation_json"), d.root, **opts)


def _data_label(cfg: Config, dataset) -> str:
    return cfg.data.root or getattr(dataset, "name", "dataset")


def subset_indices(dataset, subset: str, cfg: Config) -> list[int]:
    """Indices of ``subset``; raises naming the data source when it is empty."""
    idx = list(dataset.indices(subset))
    if not idx:
        have = sorted(set(dataset.subsets))
        raise ValueError(f"{_data_label(cfg, dataset)}: subset {subset!r} has no videos (subsets present: {have})")
    return idx


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


def filter_columns(columns: dict, videos: set[str]) -> dict:
    keep = np.array([str(v) in videos for v in columns["video"]], dtype=bool)
    return {k: np.asarray(v)[keep] for k, v in columns.items()}


def concat_detections(parts: list):
    """Concatenate ``wtal.localize.Detections`` in order (empty when there are none)."""
    from wtal.localize import Detections

    parts = [p for p in parts if p is not None]
    return Detections.concat(parts) if parts else Detections.empty()


def pad_features(feats: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """[T_i, D] arrays -> zero-padded [B, Tmax, D] float32 tensor and lengths [B] int64."""
    lengths = torch.tensor([f.shape[0] for f in feats], dtype=torch.int64)
    out = torch.zeros(len(feats), int(lengths.max()), feats[0].shape[1], dtype=torch.float32)
    for i, f in enumerate(feats):
        out[i, : f.shape[0]] = torch.from_numpy(np.ascontiguousarray(f, dtype=np.float32))
    return out, lengths


def length_batches(lengths: Sequence[int], max_snippets: int) -> list[list[int]]:
    """Group positions into batches of similar length whose padded size stays under ``max_snippets``."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches, cur, cur_max = [], [], 0
    for i in order:
        m = max(cur_max, lengths[i])
        if cur and m * (len(cur) + 1) > max_snippets:
            batches.append(cur)
            cur, m = [], lengths[i]
        cur.append(i)
        cur_max = m
    if cur:
        batches.append(cur)
    return batches


# ---------------------------------------------------------------------- trainer
class Trainer:
    """Train, validate, checkpoint and finally test one model.

    Args:
        cfg: the run's configuration.
        dataset: a ``VideoDataset`` (None: built from ``cfg.data``).
        resume: continue from ``cfg.out_dir/last.pt`` (exact: weights, optimizer, RNG, epoch).
        log: a print-like function for human-readable messages (rank 0 only).
    """

    def __init__(self, cfg: Config, dataset=None, *, resume: bool = False, log=print):
        cfg.validate()
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.dist: DistInfo = init_distributed(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self._print = log if self.dist.is_main else (lambda *a, **k: None)
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        set_determinism(cfg.deterministic)
        seed_everything(cfg.seed + self.dist.rank)
        self.out_dir = cfg.out_dir
        last = os.path.join(self.out_dir, "last.pt")
        if not resume and os.path.exists(last):
            raise ValueError(f"{self.out_dir} already holds a run ({last}); pass --resume to continue it "
                             "or choose another out_dir")
        if resume and not os.path.exists(last):
            raise FileNotFoundError(f"--resume: no checkpoint to resume from at {last}")
        self.dataset = dataset if dataset is not None else build_dataset(cfg)
        ds = self.dataset
        self.train_all = subset_indices(ds, cfg.data.train_subset, cfg)
        self.train_idx, self.val_idx = split_train_val(ds, self.train_all, cfg.data.val_fraction, cfg.data.val_seed)
        from wtal.models import build_model

        self.model = build_model(cfg.model.name, feature_dim=int(ds.feature_dim), num_classes=len(ds.classes),
                                 config=cfg.model_config()).to(self.device)
        self.ddp_model = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp_model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        o = cfg.optim
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=o.lr, weight_decay=o.weight_decay,
                                          betas=tuple(o.betas))
        self.amp_dtype = None
        if cfg.amp and self.device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.epoch = 0
        self.step = 0
        self.best: dict[str, Any] = {}
        self.logger = MetricsLogger(os.path.join(self.out_dir, "metrics.jsonl"),
                                    os.path.join(self.out_dir, "tb"), enabled=self.dist.is_main)
        if resume:
            self._resume(last)
        elif self.dist.is_main:
            os.makedirs(self.out_dir, exist_ok=True)
            atomic_write_text(os.path.join(self.out_dir, "config.yaml"), dump_config(cfg))

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any]:
        ds = self.dataset
        return {
            "config": self.cfg.to_dict(),
            "model": {"name": self.cfg.model.name, "feature_dim": int(ds.feature_dim), "classes": list(ds.classes),
                      "seconds_per_snippet": float(ds.seconds_per_snippet), "state_dict": self.model.state_dict()},
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best": dict(self.best),
            "rng": capture_rng(),
            "sampler": {"seed": self.cfg.seed, "epoch": self.epoch},
            "split": {"train": list(self.train_idx), "val": list(self.val_idx)},
        }

    def save(self, name: str) -> str | None:
        path = os.path.join(self.out_dir, name)
        if self.dist.is_main:
            save_checkpoint(path, self._state())
        barrier(self.dist)
        return path

    def _resume(self, path: str) -> None:
        ck = load_checkpoint(path, map_location="cpu")
        changed = [k for k in config_diff(ck["config"], self.cfg.to_dict()) if k not in RESUMABLE_CHANGES]
        if changed:
            self._print(f"warning: resuming {path} with a config that differs in {changed}; "
                        "the result will not equal an uninterrupted run")
        check_compatible(ck, self.dataset, path, _data_label(self.cfg, self.dataset))
        self.model.load_state_dict(ck["model"]["state_dict"])
        self.optimizer.load_state_dict(ck["optimizer"])
        if ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        self.epoch, self.step, self.best = int(ck["epoch"]), int(ck["step"]), dict(ck.get("best") or {})
        restore_rng(ck["rng"])
        if self.dist.enabled:  # each rank continues its own stream: offset like at start
            torch.manual_seed(int(torch.randint(0, 2**62, (1,))) + self.dist.rank)
        self._print(f"resumed {path} at epoch {self.epoch}, step {self.step}")

    # ------------------------------------------------------------------ training
    def _loader(self, epoch: int):
        from torch.utils.data import DataLoader, RandomSampler

        from wtal.data.torch_dataset import ClipDataset, pad_collate

        # per-item generators seeded by (seed, epoch, video): resuming at an epoch replays it exactly
        clips = ClipDataset(self.dataset, self.train_idx, self.cfg.data.num_segments, self.cfg.data.sampling,
                            seed=self.cfg.seed)
        clips.set_epoch(epoch)
        world = self.dist.world_size
        per_rank = max(1, self.cfg.train.batch_size // world)
        if self.dist.enabled:
            from torch.utils.data.distributed import DistributedSampler

            sampler = DistributedSampler(clips, num_replicas=world, rank=self.dist.rank, shuffle=True,
                                         seed=self.cfg.seed)
            sampler.set_epoch(epoch)
        else:
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
            sampler = RandomSampler(clips, generator=gen)
        return DataLoader(clips, batch_size=per_rank, sampler=sampler, collate_fn=pad_collate,
                          num_workers=self.cfg.data.num_workers, drop_last=False,
                          pin_memory=self.device.type == "cuda")

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def train_epoch(self) -> dict[str, float]:
        """One pass over the training clips. Loss terms are accumulated on the device (no per-step
        host sync unless a JSONL record or the progress bar needs the value)."""
        self.model.train()
        loader = self._loader(self.epoch)
        sums: dict[str, torch.Tensor] = {}
        count = 0
        show = self.cfg.train.progress and self.dist.is_main
        bar = _progress(loader, f"epoch {self.epoch + 1}/{self.cfg.train.epochs}", show)
        log_every = self.cfg.train.log_every
        for batch in bar:
            batch = {k: (v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}
            with self._autocast():
                outputs = self.ddp_model(batch["features"], batch["lengths"])
            losses = self.model.loss(outputs, batch, epoch=self.epoch, step=self.step)
            total = losses["total"]
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(total).backward()
            if self.cfg.optim.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.step += 1
            count += 1
            for k, v in losses.items():
                v = v.detach().float()
                sums[k] = sums[k] + v if k in sums else v
            if log_every and self.step % log_every == 0:
                values = {k: float(v.detach()) for k, v in losses.items()}
                _check_finite(values, self.epoch, self.step)
                self.logger.log("train", self.step, epoch=self.epoch + 1, **values)
            if show and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{float(total.detach()):.4f}")
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
            means = self.train_epoch()
            ran += 1
            self.logger.log("epoch", self.step, epoch=self.epoch, **means)
            is_last = self.epoch == cfg.train.epochs
            if self.val_idx and cfg.train.eval_every and (self.epoch % cfg.train.eval_every == 0 or is_last):
                res = self.evaluate(self.val_idx, cfg.data.train_subset)
                metric = broadcast_from_main(self.dist, None if res is None else float(res.average_mAP))
                self.logger.log("val", self.step, epoch=self.epoch, average_mAP=metric,
                                mAP=None if res is None else [float(x) for x in res.mAP])
                self._print(f"epoch {self.epoch}: validation average mAP {100 * metric:.2f}")
                if not self.best or metric > self.best["average_mAP"]:
                    self.best = {"average_mAP": metric, "epoch": self.epoch, "step": self.step}
                    if cfg.train.checkpoint == "best":
                        self.save("best.pt")
            stop = bool(cfg.train.stop_after_epochs) and ran >= cfg.train.stop_after_epochs
            if is_last or stop or (cfg.train.save_every and self.epoch % cfg.train.save_every == 0):
                self.save("last.pt")
            if stop:
                break
        return {"epoch": self.epoch, "step": self.step, "best": dict(self.best),
                "finished": self.epoch >= cfg.train.epochs, "train_seconds": time.time() - t0}

    def load_selected(self) -> str:
        """Load the selected weights (best on validation, else last) into the model; returns the path."""
        best = os.path.join(self.out_dir, "best.pt")
        path = best if self.cfg.train.checkpoint == "best" and os.path.exists(best) else \
            os.path.join(self.out_dir, "last.pt")
        if os.path.exists(path):
            self.model.load_state_dict(load_checkpoint(path)["model"]["state_dict"])
        return path

    # ------------------------------------------------------------------ inference
    def predict(self, indices: Sequence[int]):
        """Detections for ``indices`` (sharded across ranks, gathered on rank 0; None elsewhere)."""
        mine = list(indices)[self.dist.rank:: self.dist.world_size]
        det = predict_detections(self.model, self.dataset, mine, device=self.device, cfg=self.cfg,
                                 autocast=self._autocast)
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

    def test(self) -> tuple[Any, Any]:
        """Localize + evaluate ``data.test_subset`` with the current weights; writes predictions and
        metrics JSON into ``out_dir`` (rank 0). Returns (Detections, DetectionResult) on rank 0."""
        subset = self.cfg.data.test_subset
        idx = subset_indices(self.dataset, subset, self.cfg)
        det = self.predict(idx)
        res = None
        if self.dist.is_main:
            det.write(os.path.join(self.out_dir, f"predictions_{subset}.json"))
            res = evaluate(self.dataset.ground_truth(subset), det, self.cfg)
            write_metrics(os.path.join(self.out_dir, f"metrics_{subset}.json"), res)
        # Ranks leave together: a rank that tears its gloo group down while rank 0 is still evaluating
        # aborted once in CI ("terminate called without an active exception", SIGABRT on rank 1).
        barrier(self.dist)
        return (det, res) if self.dist.is_main else (None, None)

    def close(self) -> None:
        self.logger.close()
        cleanup(self.dist)


# ---------------------------------------------------------------------- shared helpers
def check_compatible(ck: dict, dataset, ck_path: str, data_label: str) -> None:
    """Feature dimension and class list of a checkpoint must match the dataset (names both)."""
    m = ck["model"]
    if int(m["feature_dim"]) != int(dataset.feature_dim):
        raise ValueError(f"{data_label}: features are {dataset.feature_dim}-d but checkpoint {ck_path} "
                         f"expects {m['feature_dim']}-d")
    if list(m["classes"]) != list(dataset.classes):
        extra = sorted(set(dataset.classes) ^ set(m["classes"]))
        raise ValueError(f"{data_label}: class list differs from checkpoint {ck_path} "
                         f"({len(dataset.classes)} vs {len(m['classes'])} classes; differing: {extra[:5]})")


@torch.no_grad()
def predict_detections(model, dataset, indices: Sequence[int], *, device, cfg: Config, autocast=None):
    """Run ``model`` on full-length videos (length-bucketed padded batches) and apply its localization
    profile. Returns ``wtal.localize.Detections`` (possibly empty)."""
    from wtal.models import get_spec

    localize = get_spec(cfg.model.name).profile_function()
    profile = localize_profile(cfg)
    was_training = model.training
    model.eval()
    indices = list(indices)
    lengths = [int(dataset.features(i).shape[0]) for i in indices] if indices else []
    parts = []
    for chunk in length_batches(lengths, cfg.train.eval_max_snippets):
        sel = [indices[j] for j in chunk]
        feats, lens = pad_features([dataset.features(i) for i in sel])
        with (autocast() if autocast else contextlib.nullcontext()):
            out = model(feats.to(device), lens.to(device))
        inputs = model.localization_inputs(out)
        inputs = {k: v.float() if v.is_floating_point() else v for k, v in inputs.items()}
        if device.type != "cuda" or not _localize_on_cuda():
            inputs = {k: v.cpu() for k, v in inputs.items()}
        parts.append(localize(**inputs, videos=[dataset.videos[i] for i in sel], classes=list(dataset.classes),
                              seconds_per_snippet=float(dataset.seconds_per_snippet), config=profile))
    if was_training:
        model.train()
    return concat_detections(parts)


def _localize_on_cuda() -> bool:
    try:
        import wtal.ops

        return wtal.ops.cuda_available()
    except Exception:
        return False


def localize_profile(cfg: Config):
    """The model's localization profile config (authors' defaults) with ``cfg.localize`` overrides."""
    from wtal.models import get_spec

    spec = get_spec(cfg.model.name)
    klass = spec.profile_config_type()
    names = {f.name for f in dataclasses.fields(klass)}
    unknown = sorted(set(cfg.localize) - names)
    if unknown:
        raise ValueError(f"unknown config key 'localize.{unknown[0]}' (fields of {spec.profile_config}: "
                         f"{sorted(names)})")
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.localize.items()}
    profile = klass(**kw)
    if hasattr(profile, "validate"):
        profile.validate()
    return profile


def evaluate(gt_columns: dict, detections, cfg: Config, unknown_labels: str | None = None):
    """``wtal.eval.evaluate_detection`` of ``detections`` with the run's tIoU thresholds and preset."""
    from wtal.eval import evaluate_detection

    kw = {} if unknown_labels is None else {"unknown_labels": unknown_labels}
    return evaluate_detection(gt_columns, detections.to_columns(), tiou_thresholds=list(cfg.eval.tiou),
                              preset=cfg.eval.preset, **kw)


def write_metrics(path: str, result, extra: dict | None = None) -> None:
    import json

    d = result.to_dict()
    if extra:
        d.update(extra)
    atomic_write_text(path, json.dumps(d, indent=1, default=_json_default))


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def _check_finite(values: dict[str, float], epoch: int, step: int) -> None:
    if not all(np.isfinite(v) for v in values.values()):
        raise FloatingPointError(f"non-finite loss in epoch {epoch + 1} (step {step}): {values}")


def _progress(iterable, desc: str, enabled: bool):
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return iterable
    # disable=None: bars only on a terminal; redirected logs (CI, nohup, files) stay readable.
    return tqdm(iterable, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr, disable=None)


def load_trained(ckpt_path: str, *, device: str = "cpu"):
    """(model in eval mode, config, checkpoint dict) from a checkpoint file."""
    from wtal.models import build_model

    ck = load_checkpoint(ckpt_path)
    cfg = config_from_dict(ck["config"], f"{ckpt_path} (saved config)")
    m = ck["model"]
    model = build_model(m["name"], feature_dim=int(m["feature_dim"]), num_classes=len(m["classes"]),
                        config=cfg.model_config())
    try:
        model.load_state_dict(m["state_dict"])
    except RuntimeError as exc:
        raise ValueError(f"{ckpt_path}: weights do not fit the model ({exc})") from None
    model.to(resolve_device(device)).eval()
    return model, cfg, ck

