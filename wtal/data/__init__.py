"""Dataset layer: readers for the layouts WTAL users have, synthetic data, snippet sampling.

``import wtal.data`` imports numpy only; ``ClipDataset`` and ``pad_collate`` (torch) load on first use.
"""
from __future__ import annotations

from typing import Any

from wtal.data.dataset import I3D_SECONDS_PER_SNIPPET, DatasetError, VideoDataset
from wtal.data.activitynet import load_activitynet
from wtal.data.pervideo import load_pervideo
from wtal.data.sampling import random_perturb, uniform_sampling
from wtal.data.synthetic import make_synthetic, quick_synthetic
from wtal.data.wtalc import load_wtalc

_TORCH = {"ClipDataset", "pad_collate"}


def __getattr__(name: str) -> Any:
    if name in _TORCH:
        from wtal.data import torch_dataset

        return getattr(torch_dataset, name)
    raise AttributeError(f"module 'wtal.data' has no attribute {name!r}")


__all__ = ["VideoDataset", "DatasetError", "I3D_SECONDS_PER_SNIPPET", "load_wtalc", "load_pervideo",
           "load_activitynet", "random_perturb", "uniform_sampling",
           "make_synthetic", "quick_synthetic", "ClipDataset", "pad_collate"]
