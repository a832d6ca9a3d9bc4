"""Dataset layer: readers for the layouts WTAL users have, synthetic data, snippet sampling.

Every reader returns a ``VideoDataset``::

    from wtal.data import load_wtalc, load_pervideo, load_activitynet, make_synthetic
    ds = load_wtalc("data", "Thumos14reduced")              # W-TALC pair (HAM-Net, FAC-Net)
    ds = load_pervideo("data/THUMOS14")                      # gt.json + split_*.txt + per-video npy
    ds = load_activitynet("anet_anno_action.json", "feats/", video_info_csv="video_info_new.csv")
    ds = make_synthetic("thumos", seed=0, num_videos=(60, 40), max_duration=120, feature_dim=256)

    ds.indices(ds.train_subset); ds.features(i)  # float32 [T_i, D]; ds.ground_truth(ds.test_subset)

Subset names are the files' own: THUMOS14 W-TALC trains on "validation" and tests on "test";
ActivityNet trains on "training" and tests on "validation"; per-video folders use their split file names
("train", "test"); synthetic data uses "train" and "test" (and "validation" when asked for).
``ds.train_subset`` / ``ds.test_subset`` name the roles so code never hard-codes them.
``seconds_per_snippet`` (16/25 for I3D at 25 fps) converts snippet indices to seconds.

Training batches (torch): ``ClipDataset(ds, ds.indices(ds.train_subset), num_segments=500,
sampling="random", seed=seed)`` with ``collate_fn=pad_collate``; call ``set_epoch(epoch)`` before every
epoch (the random snippet draw is a function of ``(seed, epoch, video)``, which is what makes resume and
multi-worker loading exact). Test time: ``sampling="all"``, batch size 1 or padded batches with
``lengths``.

``import wtal.data`` imports numpy only; ``ClipDataset``, ``pad_collate`` and ``pad_features`` (torch) load on
first use.
"""
from __future__ import annotations

from typing import Any

from wtal.data.dataset import I3D_SECONDS_PER_SNIPPET, DatasetError, VideoDataset
from wtal.data.activitynet import load_activitynet
from wtal.data.pervideo import load_pervideo
from wtal.data.sampling import random_perturb, uniform_sampling
from wtal.data.synthetic import make_synthetic, quick_synthetic
from wtal.data.wtalc import load_wtalc

_TORCH = {"ClipDataset", "pad_collate", "pad_features"}


def __getattr__(name: str) -> Any:
    if name in _TORCH:
        from wtal.data import torch_dataset

        return getattr(torch_dataset, name)
    raise AttributeError(f"module 'wtal.data' has no attribute {name!r}")


__all__ = ["VideoDataset", "DatasetError", "I3D_SECONDS_PER_SNIPPET", "load_wtalc", "load_pervideo",
           "load_activitynet", "random_perturb", "uniform_sampling",
           "make_synthetic", "quick_synthetic", "ClipDataset", "pad_collate", "pad_features"]
