"""Atomic checkpoints with everything needed for an exact resume.

A checkpoint is one ``torch.save`` file written through ``wtal._atomic.atomic_open`` (temporary file,
fsync, rename): a crash mid-write never truncates the previous checkpoint. Contents:
``format, version, config (dict), model (name, feature_dim, classes, seconds_per_snippet, state_dict),
optimizer, scaler, epoch, step, best, rng (python, numpy, torch, cuda), sampler (seed, epoch)``.
Loading uses ``torch.load(weights_only=True)``: no arbitrary pickles.
"""
from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from wtal._atomic import atomic_open

FORMAT = "wtal-checkpoint"
VERSION = 1
REQUIRED = ("config", "model", "epoch", "step")


def capture_rng() -> dict[str, Any]:
    """Python, numpy (legacy global), torch CPU and CUDA generator states (weights_only-safe types)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of ``capture_rng``."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (plus format/version tags) atomically to ``path``."""
    payload = {"format": FORMAT, "version": VERSION, **state}
    with atomic_open(path, "wb") as f:
        torch.save(payload, f)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a wtal checkpoint.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated, corrupt, not a torch file or not a wtal checkpoint (names it).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # zip/pickle/EOF errors vary by torch version
        raise ValueError(f"{path}: corrupt or unreadable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"{path}: not a wtal checkpoint (missing format tag {FORMAT!r})")
    if obj.get("version", 0) > VERSION:
        raise ValueError(f"{path}: checkpoint version {obj.get('version')} is newer than this wtal ({VERSION})")
    missing = [k for k in REQUIRED if k not in obj]
    if missing:
        raise ValueError(f"{path}: incomplete wtal checkpoint (missing {missing})")
    return obj
