"""Atomic checkpoints with everything needed for an exact resume.

A checkpoint is one ``torch.save`` file written through ``wtal._atomic.atomic_open`` (temporary file,
fsync, rename): a crash mid-write never truncates the previous checkpoint. Contents (version 2):

* ``format``, ``version``, ``config`` (the run's config as a dict);
* ``model``: ``name``, ``classes``, ``seconds_per_snippet``, ``feature_dim`` (width of the features the
  run reads: the joint ``D_rgb + D_flow`` for a two-stream model), ``stream_dims`` (``[D_rgb, D_flow]``
  of those features), ``streams``: ``{stream: {"feature_dim", "state_dict"}}`` with the trained
  streams (``joint``; or ``rgb`` and/or ``flow``);
* ``optimizer``, ``scaler``: ``{stream: state_dict}``;
* ``epoch`` (epochs done), ``step`` (optimizer steps done), ``best``, ``rng`` (python, numpy, torch,
  cuda), ``stream_rng`` (``{stream: {"cpu", "cuda"}}``, two-stream models only), ``sampler``,
  ``split``.

Version 1 files (one model: ``model.state_dict``, one optimizer) are read as version 2. Loading uses
``torch.load(weights_only=True)``: no arbitrary pickles.
"""
from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from wtal._atomic import atomic_open

FORMAT = "wtal-checkpoint"
VERSION = 2
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
    return _upgrade(obj)


def _upgrade(ck: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (one joint model) in the version-2 layout."""
    m = ck.get("model")
    if ck.get("version", 1) >= 2 or not isinstance(m, dict) or "state_dict" not in m:
        return ck
    fd = int(m["feature_dim"])
    ck["model"] = {"name": m["name"], "classes": m["classes"], "seconds_per_snippet": m["seconds_per_snippet"],
                   "feature_dim": fd, "stream_dims": None,
                   "streams": {"joint": {"feature_dim": fd, "state_dict": m["state_dict"]}}}
    for key in ("optimizer", "scaler"):
        if ck.get(key) is not None:
            ck[key] = {"joint": ck[key]}
    ck["version"] = 2
    return ck
