"""Top-k temporal mean pooling (the MIL video score of W-TALC, HAM-Net and their descendants)."""
from __future__ import annotations

from typing import Any

import numpy as np

from wtal._ext import _C
from wtal.ops._arrays import check_positive_int, float_array, int_array, require_array

__all__ = ["topk_pool"]


def _k_ratio(k: Any, ratio: Any) -> tuple[int, int]:
    if (k is None) == (ratio is None):
        raise ValueError("pass exactly one of k or ratio")
    if k is not None:
        return check_positive_int(k, "k"), 0
    return 0, check_positive_int(ratio, "ratio")


def _numpy_lengths(lengths: Any, B: int, T: int) -> np.ndarray | None:
    if lengths is None:
        return None
    L = int_array(lengths, "lengths", ndim=1)
    if L.shape[0] != B:
        raise ValueError(f"lengths must have shape [B] = [{B}], got {list(L.shape)}")
    if L.size and (L.min() < 1 or L.max() > T):
        raise ValueError(f"lengths must be in [1, T] = [1, {T}], got values in [{L.min()}, {L.max()}]")
    return L


def topk_pool(x: Any, *, k: int | None = None, ratio: int | None = None, lengths: Any = None) -> Any:
    """Mean of the k_b largest values over time, per video and class.

    Args:
        x: ``[B, T, C]`` scores (float32/float64; float16/bfloat16 too for CUDA tensors, accumulated in
            float32). A numpy array or a torch tensor; torch tensors are differentiable (custom op
            ``wtal::topk_pool``, works under ``torch.compile(fullgraph=True)``).
        k: fixed number of snippets; ``k_b = min(k, lengths[b])``, so videos shorter than ``k`` average
            all their snippets (``torch.topk`` would raise).
        ratio: ``k_b = max(1, lengths[b] // ratio)`` (HAM-Net's ``rat``). Give exactly one of ``k`` and
            ``ratio``.
        lengths: ``[B]`` integer valid lengths in ``[1, T]``; steps ``t >= lengths[b]`` never count and
            get zero gradient. ``None`` means every video has length ``T``.

    Returns:
        ``[B, C]`` pooled scores, same kind (numpy/torch), dtype and device as ``x``.

    Ties are broken by the lowest time index (so the gradient goes to the earliest of equal values);
    NaN ranks above every number, as in ``torch.topk``. The backward gives ``grad / k_b`` to each
    selected position. Batched results equal running each video alone at its own length.

    On CUDA, a ``lengths`` tensor is range-checked with one small device-to-host read per forward call
    (a synchronisation; pass ``lengths=None`` for full-length batches to avoid it).
    """
    kk, rr = _k_ratio(k, ratio)
    require_array(x, "x")
    if not isinstance(x, (np.ndarray, list, tuple)):
        from wtal.ops import _torch_pool

        return _torch_pool.topk_pool(x, lengths, kk, rr)
    a = float_array(x, "x", ndim=3)
    B, T, C = a.shape
    if B and not T:
        raise ValueError("x must have at least one time step (T >= 1)")
    L = _numpy_lengths(lengths, B, T)
    out = np.empty((B, C), dtype=a.dtype)
    cut_val = np.empty((B, C), dtype=a.dtype)
    cut_idx = np.empty((B, C), dtype=np.int32)
    _C.topk_pool_forward_cpu(a, L, kk, rr, out, cut_val, cut_idx)
    return out
