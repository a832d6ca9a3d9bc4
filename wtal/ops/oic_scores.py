"""Outer-inner contrast (OIC) scores of segments, O(1) per segment with per-row prefix sums.

The three variants reproduce the authors' code (research/seed_models.md §1.4, §2.4, §4.5, §6); with
``n = end - start``, ``L = lengths[row]``, ``r = outer_ratio``, ``w = outer_weight`` and ``int()``
truncating toward zero as Python's does:

* ``hamnet`` (HAM-Net/BaSNet ``get_proposal_oic``): inner ``[s, e)``, outer
  ``[max(0, int(s - r n)), s) U [e, min(L-1, int(e-1 + r n)) + 1)``, outer mean 0 when that window is
  empty; score ``inner - w * outer``. The profile adds ``gamma * p_c`` itself.
* ``facnet`` (FAC-Net ``getActLoc``): inner ``cas[s:e+1]`` (one snippet past the run, clipped at L),
  outer ``[max(0, int(s - r n)), s) U [e+1, min(L-1, int(e + r n + 1)))``; score ``inner - w * outer``
  (FAC-Net: ``w = 0.6``).
* ``bm`` (DGAM ``get_temp_proposal``): ``k = int(r n) + 1`` (``n // 4 + 1`` for r = 0.25); left mean
  over ``[max(0, s-k), s)`` if ``s > 0`` else 0, right mean over ``[e, min(L, e+k))`` if ``e < L``
  else 0; score ``inner - w * (left + right)`` (BM: ``w = 0.3`` on the sum of the two side means).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from wtal._ext import _C
from wtal.ops._arrays import check_choice, check_float, float_array, int_array, like_input
from wtal.ops._device import is_torch

__all__ = ["oic_scores", "OIC_VARIANTS"]

OIC_VARIANTS = ("hamnet", "facnet", "bm")


def _host_int(x: Any, name: str) -> np.ndarray:
    if is_torch(x):
        x = x.detach().cpu()
    elif isinstance(x, (list, tuple)) and len(x) == 0:
        x = np.zeros(0, np.int64)  # np.asarray([]) would be float64
    return int_array(x, name, ndim=1)


def check_segments(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, lens: np.ndarray) -> None:
    """Raise ValueError naming the argument if a segment does not lie inside its row."""
    S = rows.shape[0]
    if starts.shape[0] != S or ends.shape[0] != S:
        raise ValueError(f"rows, starts and ends must have the same shape [S], got {list(rows.shape)}, "
                         f"{list(starts.shape)}, {list(ends.shape)}")
    if S == 0:
        return
    R = lens.shape[0]
    bad = np.flatnonzero((rows < 0) | (rows >= R))
    if bad.size:
        raise ValueError(f"rows must index cas rows [0, {R}), got {int(rows[bad[0]])} at segment {int(bad[0])}")
    bad = np.flatnonzero(starts < 0)
    if bad.size:
        raise ValueError(f"starts must be >= 0, got {int(starts[bad[0]])} at segment {int(bad[0])}")
    bad = np.flatnonzero(ends <= starts)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"ends must be > starts (segments are [start, end), non-empty), got [{int(starts[i])}, "
                         f"{int(ends[i])}) at segment {i}")
    bad = np.flatnonzero(ends > lens[rows])
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"ends must be <= lengths[rows], got end {int(ends[i])} > {int(lens[rows[i]])} at segment {i}")


def oic_scores(cas: Any, lengths: Any, rows: Any, starts: Any, ends: Any, *, variant: str = "hamnet",
               outer_ratio: float = 0.25, outer_weight: float = 1.0) -> Any:
    """Outer-inner contrast score of each segment against one row of ``cas``.

    Args:
        cas: ``[R, T]`` float32/float64 score rows (e.g. one row per (video, class)).
        lengths: ``[R]`` valid length of each row, in ``[0, T]``; ``None`` means ``T``. The windows
            are clipped at ``lengths[row]``, never at the padded width.
        rows: ``[S]`` row of each segment.
        starts: ``[S]`` first position of each segment.
        ends: ``[S]`` exclusive end; ``0 <= start < end <= lengths[row]``.
        variant: ``"hamnet"``, ``"facnet"`` or ``"bm"`` (windows in the module docstring).
        outer_ratio: the outer-window ratio (0.25 in all three codes).
        outer_weight: weight of the outer term (HAM-Net 1.0, FAC-Net 0.6, BM 0.3).

    Returns:
        ``[S]`` scores in ``cas``'s dtype, as numpy or torch like ``cas``. Sums come from
        compensated (double-double) prefix sums, so they agree with a direct float64 mean to
        ~1e-15 relative to the magnitude of the terms even on long rows. On CUDA the prefix sums
        need a scratch buffer of ``16 * R * (T + 1)`` bytes (only rows used by a segment are summed),
        and the call synchronises once to report bad input.

    Raises:
        ValueError: shapes that disagree, a segment outside its row, reversed/empty segments,
            ``lengths`` outside ``[0, T]``, NaN or inf inside a used row of ``cas`` (named by row and
            position), a non-finite or negative ``outer_ratio``, bad ``variant``. Finite values up to
            float64's maximum are fine: a row whose window sums could overflow is summed scaled by a
            power of two on the CPU (the CUDA kernel raises a ValueError for such rows instead).
        TypeError: non-float ``cas`` or non-integer ``lengths``/``rows``/``starts``/``ends``.
    """
    check_choice(variant, "variant", OIC_VARIANTS)
    outer_ratio = check_float(outer_ratio, "outer_ratio", lo=0.0)
    outer_weight = check_float(outer_weight, "outer_weight")
    if is_torch(cas) and cas.device.type == "cuda":
        from wtal.ops._proposals_cuda import oic_scores_cuda

        return oic_scores_cuda(cas, lengths, rows, starts, ends, variant=variant, outer_ratio=outer_ratio,
                               outer_weight=outer_weight)
    x = float_array(cas, "cas", ndim=2)
    R, T = x.shape
    if lengths is None:
        lens = np.full(R, T, dtype=np.int64)
    else:
        lens = _host_int(lengths, "lengths")
        if lens.shape[0] != R:
            raise ValueError(f"lengths must have shape [R] = [{R}] to match cas [R, T] = [{R}, {T}], "
                             f"got {list(lens.shape)}")
        if lens.size and (lens.min() < 0 or lens.max() > T):
            raise ValueError(f"lengths must lie in [0, T] = [0, {T}], got min {int(lens.min())}, max {int(lens.max())}")
    r = _host_int(rows, "rows")
    s = _host_int(starts, "starts")
    e = _host_int(ends, "ends")
    check_segments(r, s, e, lens)
    out = _C.oic_scores(x.reshape(-1), np.arange(R, dtype=np.int64) * T, lens, r, s, e,
                        OIC_VARIANTS.index(variant), outer_ratio, outer_weight)
    return like_input(out, cas)
