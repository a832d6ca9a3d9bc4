"""torch ``Dataset`` over a ``VideoDataset`` with the authors' snippet sampling, and a padding collate.

Randomness: the snippets drawn for a video depend only on ``(seed, epoch, video index)``. Each item gets
its own ``numpy.random.Generator`` seeded with that triple, so the draw does not depend on the batch
order, on the number of DataLoader workers, on which DDP rank loads the video, or on what happened earlier
in the epoch. To reproduce an interrupted run exactly, call ``set_epoch(epoch)`` before each epoch (the
trainer does) and seed the batch-order sampler from the same ``(seed, epoch)``; resuming at epoch ``e``
then replays epoch ``e`` bit for bit. With ``num_workers > 0`` call ``set_epoch`` before creating the
epoch's iterator (persistent workers keep their own copy of the dataset; use
``persistent_workers=False`` or recreate the loader).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from wtal.data.dataset import VideoDataset
from wtal.data.sampling import SAMPLINGS, sample_indices


class ClipDataset(torch.utils.data.Dataset):
    """Videos of a ``VideoDataset`` sampled to ``num_segments`` snippets.

    Args:
        dataset: the source dataset.
        indices: video indices into ``dataset`` (e.g. ``dataset.indices("validation")``).
        num_segments: snippets per item for ``"random"``/``"uniform"`` sampling (ignored by ``"all"``).
        sampling: ``"random"`` (``random_perturb``, training), ``"uniform"`` (``uniform_sampling``) or
            ``"all"`` (every snippet, test time).
        seed: base seed of the per-item generators.

    Items are dicts: ``features`` float32 ``[t, D]``, ``label`` float32 ``[C]``, ``index`` (the video
    index into ``dataset``), ``num_snippets`` (the video's full ``T``) and ``snippets`` int64 ``[t]``
    (which snippets were taken).
    """

    def __init__(self, dataset: VideoDataset, indices: Sequence[int], num_segments: int | None = None,
                 sampling: str = "random", seed: int = 0):
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
        if sampling != "all" and (num_segments is None or int(num_segments) < 1):
            raise ValueError(f"num_segments must be a positive int for sampling={sampling!r}, "
                             f"got {num_segments!r}")
        idx = [int(i) for i in indices]
        bad = [i for i in idx if not 0 <= i < len(dataset)]
        if bad:
            raise ValueError(f"indices out of range for a dataset of {len(dataset)} videos: {bad[:5]}")
        self.dataset = dataset
        self.indices = idx
        self.num_segments = None if num_segments is None else int(num_segments)
        self.sampling = sampling
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random draws ``__getitem__`` makes (see the module docstring)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def rng_for(self, video_index: int) -> np.random.Generator:
        """The generator used for ``video_index`` in the current epoch."""
        return np.random.default_rng([self.seed & 0xFFFFFFFFFFFFFFFF, self.epoch, int(video_index)])

    def __getitem__(self, k: int) -> dict[str, Any]:
        i = self.indices[k]
        x = self.dataset.features(i)
        T = x.shape[0]
        rng = self.rng_for(i) if self.sampling == "random" else None
        take = sample_indices(T, self.num_segments, self.sampling, rng)
        feats = x if self.sampling == "all" else x[take]
        return {
            "features": torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32)),
            "label": torch.from_numpy(self.dataset.labels[i].copy()),
            "index": i,
            "num_snippets": T,
            "snippets": torch.from_numpy(take),
        }


def pad_features(features: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad per-video features at the end of the time axis: the one padding helper of wtal.

    Args:
        features: ``B >= 1`` arrays or tensors ``[T_i, D]`` (numpy arrays are read as float32).

    Returns:
        ``features`` ``[B, T_max, D]`` (float32 for numpy input, else the tensors' dtype; zeros past each
        length) and ``lengths`` int64 ``[B]``.
    """
    if len(features) == 0:
        raise ValueError("pad_features: no videos")
    items = [f if torch.is_tensor(f) else torch.from_numpy(np.ascontiguousarray(f, dtype=np.float32))
             for f in features]
    bad = [tuple(f.shape) for f in items if f.dim() != 2]
    if bad:
        raise ValueError(f"pad_features: features must be [T, D], got shapes {bad[:3]}")
    D = items[0].shape[1]
    if any(f.shape[1] != D for f in items):
        raise ValueError(f"pad_features: feature dims differ in one batch: {[f.shape[1] for f in items]}")
    lengths = torch.tensor([f.shape[0] for f in items], dtype=torch.int64)
    out = items[0].new_zeros((len(items), int(lengths.max()), D))
    for j, f in enumerate(items):
        out[j, : f.shape[0]] = f
    return out, lengths


def pad_collate(batch: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack items of different lengths, zero-padding at the end of the time axis (:func:`pad_features`).

    Returns:
        ``features`` float32 ``[B, T_max, D]`` (zeros past each length), ``lengths`` int64 ``[B]``,
        ``labels`` float32 ``[B, C]``, ``index`` int64 ``[B]`` (video indices), ``num_snippets`` int64
        ``[B]`` (full video lengths before sampling).
    """
    if len(batch) == 0:
        raise ValueError("pad_collate: empty batch")
    feats, lengths = pad_features([b["features"] for b in batch])
    return {
        "features": feats,
        "lengths": lengths,
        "labels": torch.stack([b["label"] for b in batch]).to(torch.float32),
        "index": torch.tensor([int(b["index"]) for b in batch], dtype=torch.int64),
        "num_snippets": torch.tensor([int(b.get("num_snippets", b["features"].shape[0])) for b in batch],
                                     dtype=torch.int64),
    }


__all__ = ["ClipDataset", "pad_collate", "pad_features"]
