"""Batched 1-D connected components of thresholded score sequences (``signal > threshold``).

One call handles every row of a padded ``[N, T]`` batch (or a CSR batch) at every threshold, which is
what the WTAL post-processing does in Python loops: HAM-Net and BM group ``np.where(sig > thr)`` with
``np.split(idx, np.where(np.diff(idx) != 1)[0] + 1)`` (every maximal run, no minimum length); FAC-Net
takes the zero-padded diff and keeps runs of at least 3 snippets (``min_len=3``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from wtal._ext import _C
from wtal.ops._arrays import check_positive_int, float_array, int_array
from wtal.ops._device import is_torch

__all__ = ["Segments", "connected_components"]


@dataclass(frozen=True)
class Segments:
    """Runs found by :func:`connected_components`, as flat int64 arrays of equal length K.

    Attributes:
        row: ``[K]`` row (video) index of each run.
        threshold_index: ``[K]`` index into ``thresholds`` of each run.
        start: ``[K]`` first position of the run inside its row.
        end: ``[K]`` one past the last position (exclusive), so the run is ``[start, end)``.

    Runs are ordered by row, then threshold index, then start. The arrays are numpy arrays, CPU
    tensors or CUDA tensors, matching the ``signal`` given.
    """

    row: Any
    threshold_index: Any
    start: Any
    end: Any

    def __len__(self) -> int:
        return int(self.row.shape[0])


def _thresholds(thresholds: Any) -> np.ndarray:
    if is_torch(thresholds):
        thresholds = thresholds.detach().cpu()
    elif isinstance(thresholds, (int, float, list, tuple)) and not isinstance(thresholds, bool):
        thresholds = np.asarray(thresholds, dtype=np.float64)
    t = float_array(thresholds, "thresholds", dtype=np.float64)
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim != 1:
        raise ValueError(f"thresholds must be 1-D [M], got shape {list(t.shape)}")
    if t.size and np.isnan(t).any():
        raise ValueError("thresholds contains NaN")
    return np.ascontiguousarray(t)


def _rows_padded(signal_shape: tuple[int, int], lengths: Any) -> tuple[np.ndarray, np.ndarray]:
    N, T = signal_shape
    if lengths is None:
        lens = np.full(N, T, dtype=np.int64)
    else:
        if is_torch(lengths):
            lengths = lengths.detach().cpu()
        lens = int_array(lengths, "lengths", ndim=1)
        if lens.shape[0] != N:
            raise ValueError(f"lengths must have shape [N] = [{N}] to match signal [N, T] = [{N}, {T}], "
                             f"got {list(lens.shape)}")
        if lens.size and (lens.min() < 0 or lens.max() > T):
            raise ValueError(f"lengths must lie in [0, T] = [0, {T}], got min {int(lens.min())}, "
                             f"max {int(lens.max())}")
    return np.arange(N, dtype=np.int64) * T, lens


def _rows_csr(size: int, offsets: Any, lengths: Any) -> tuple[np.ndarray, np.ndarray]:
    if is_torch(offsets):
        offsets = offsets.detach().cpu()
    off = int_array(offsets, "offsets", ndim=1)
    if off.shape[0] < 1:
        raise ValueError("offsets must have shape [N + 1] (at least one entry)")
    if off[0] < 0 or off[-1] > size or (off.shape[0] > 1 and np.any(np.diff(off) < 0)):
        raise ValueError(f"offsets must be non-decreasing within [0, signal.size = {size}], got first "
                         f"{int(off[0])}, last {int(off[-1])}")
    lens = np.diff(off)
    if lengths is not None:
        if is_torch(lengths):
            lengths = lengths.detach().cpu()
        given = int_array(lengths, "lengths", ndim=1)
        if given.shape != lens.shape or np.any(given != lens):
            raise ValueError("lengths must be None or equal np.diff(offsets) when offsets is given")
    return np.ascontiguousarray(off[:-1]), np.ascontiguousarray(lens)


def connected_components(signal: Any, lengths: Any, thresholds: Any, *, min_len: int = 1,
                         offsets: Any = None, drop_index0_only_runs: bool = False) -> Segments:
    """Maximal runs of ``signal > threshold`` for every row and every threshold in one call.

    Args:
        signal: ``[N, T]`` float32/float64 padded batch, or with ``offsets`` a flat ``[sum T_n]`` CSR
            batch. numpy array or torch tensor (CPU, or CUDA for the GPU kernel).
        lengths: ``[N]`` valid length of each row (positions ``>= lengths[n]`` are ignored); ``None``
            means ``T`` for every row. With ``offsets``, ``None`` or ``np.diff(offsets)``.
        thresholds: ``[M]`` thresholds (a scalar is taken as ``[1]``); compared in float64.
        min_len: keep runs with ``end - start >= min_len`` (FAC-Net: 3).
        offsets: ``[N + 1]`` CSR row offsets into a flat ``signal``: row n is
            ``signal[offsets[n]:offsets[n+1]]``.
        drop_index0_only_runs: reproduce HAM-Net/BaSNet/DGAM's ``if temp_list.any()``: a (row,
            threshold) whose above-threshold positions are exactly ``{0}`` yields no run (a run
            ``[0, 1)`` is kept when the row has other runs at that threshold).

    Returns:
        :class:`Segments` with flat int64 ``row, threshold_index, start, end`` (end exclusive),
        ordered by row, then threshold, then time.

    The comparison is strict and made in float64 (``float64(signal) > threshold``), which is what
    ``sig > np.float64(thr)`` does under NumPy >= 2 (NumPy 1.x compared a float32 array with a float64
    scalar in float32). A threshold below every value gives one run ``[0, L)`` per row, one at or
    above every value gives none; ``+-inf`` thresholds are allowed. Ties with the threshold are not
    above it.

    Raises:
        ValueError: NaN inside a row of ``signal`` or in ``thresholds``; ``lengths`` outside ``[0, T]``
            or of the wrong size; bad ``offsets``; ``min_len < 1``.
        TypeError: non-float ``signal``/``thresholds`` or non-integer ``lengths``/``offsets``.
    """
    min_len = check_positive_int(min_len, "min_len")
    drop = bool(drop_index0_only_runs)
    if is_torch(signal) and signal.device.type == "cuda":
        from wtal.ops._proposals_cuda import connected_components_cuda

        return connected_components_cuda(signal, lengths, thresholds, min_len=min_len, offsets=offsets,
                                         drop_index0_only_runs=drop)
    x = float_array(signal, "signal")
    thr = _thresholds(thresholds)
    if offsets is None:
        if x.ndim != 2:
            raise ValueError(f"signal must be 2-D [N, T] (or 1-D with offsets=), got shape {list(x.shape)}")
        row_start, lens = _rows_padded(x.shape, lengths)
    else:
        if x.ndim != 1:
            raise ValueError(f"signal must be 1-D [sum T] when offsets is given, got shape {list(x.shape)}")
        row_start, lens = _rows_csr(x.size, offsets, lengths)
    row, tix, start, end, _ = _C.connected_components(x.reshape(-1), row_start, lens, thr, min_len, drop)
    if is_torch(signal):
        import torch

        return Segments(*(torch.from_numpy(a) for a in (row, tix, start, end)))
    return Segments(row, tix, start, end)
