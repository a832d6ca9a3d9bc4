"""Longest common subsequence of snippet ranges under a cosine-similarity match (AHLM's boundary refinement).

AHLM (ICCV 2023, end of §3.3) compares, for adjacent change points, two snippet sequences by "the cosine
similarity of l_i and m_j ... compare[d] with a given threshold 0.65 to get the LCS". This op computes
that LCS length for many (video, range, range) pairs in one call:

* ``x = features[video[p], a_start[p]:a_end[p]]``, ``y = features[video[p], b_start[p]:b_end[p]]``;
* snippets match iff ``cos(x_i, y_j) > threshold`` (strict, as every wtal threshold), with
  ``cos = dot(x_i, y_j) / (|x_i| |y_j|)`` and ``cos = 0`` when either is a zero vector (so with a
  negative threshold a zero vector matches everything);
* the result is the classic LCS length (0 when a range is empty).

Nested ranges: when y's range lies inside x's (or x's inside y's), as AHLM's l_BC = [B, C) inside
l_AC = [A, C), every non-zero snippet of the inner range matches itself, so for a threshold below
1 - ~1e-12 the result is the inner length less its zero vectors (at a threshold >= 0); the op returns it
without computing cosines (the rows are still read and checked for NaN/inf). Under that reading of the
paper the refinement therefore compares nothing: LCS(l_AC, l_BC) = |l_BC| for non-zero features.

Numerics: dot products and squared norms are accumulated in float64 (float32 input is widened, so each
product is exact), then ``cos = dot / (sqrt(|x|^2) * sqrt(|y|^2))`` in float64. Accumulating in float64
makes a decision independent of the summation order except for cosines within about ``D * 2^-53`` of
the threshold (the order follows the CPU's vector lanes). A float64 cosine exactly equal to the threshold
does not match: e.g. ``x = (20, 0, 0, 0, 0)``, ``y = (13, 15, 2, 1, 1)`` have cosine ``260 / 400``, which
is the float64 number 0.65, so they do not match at threshold 0.65. On AVX2/AVX-512 CPUs float32 input is
screened by a float32 pass with a rigorous error bound; cells it cannot decide are recomputed in float64,
so the results equal the float64 computation's. Rows of extreme norm take the float64 path (and float64
rows outside [2^-300, 2^300] are rescaled by a power of two first), so no magnitude overflows.

Work: pairs are grouped by video and sorted by position into chunks (about eight per thread, each
within one video), each computing the norms of the rows it uses once (a row at the border of two chunks
of a long video is normalised in both) and prefetching the next pair's rows, so the features are read
from memory about once; each snippet pair costs D multiply-adds (float32 screening margin
gamma_(D/16+15) ~ 8.5e-6 for D = 2048), the DP O(min(la, lb)) memory per pair. Where x and y overlap,
the mirror images of computed cells are copied instead of recomputed.

CPU only: AHLM's change points are post-processed on the host like every other localization profile,
and the whole THUMOS14 test set (212 videos, 2.3M snippet pairs of 2048-d features) is one call of a few
hundred milliseconds or less (``benchmarks/bench_feature_lcs.py``); CUDA tensors are refused with a
message rather than copied silently.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from wtal._ext import _C
from wtal.ops._arrays import check_float, float_array, int_array, like_input
from wtal.ops._device import is_torch

__all__ = ["feature_lcs"]

_PAIR_ARGS = ("video", "a_start", "a_end", "b_start", "b_end")


def _index_array(x: Any, name: str) -> np.ndarray:
    if is_torch(x):
        x = x.detach()
        if x.device.type != "cpu":
            raise ValueError(f"{name} is on {x.device}; feature_lcs runs on the CPU")
    elif isinstance(x, (list, tuple)) and len(x) == 0:
        x = np.zeros(0, np.int64)  # np.asarray([]) would be float64
    return int_array(x, name, ndim=1)


def _check_ranges(start: np.ndarray, end: np.ndarray, limit: np.ndarray, names: tuple[str, str]) -> None:
    s_name, e_name = names
    bad = np.flatnonzero(start < 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{s_name} must be >= 0, got {int(start[i])} at pair {i}")
    bad = np.flatnonzero(end < start)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{e_name} must be >= {s_name} (ranges are [start, end), empty allowed), got "
                         f"[{int(start[i])}, {int(end[i])}) at pair {i}")
    bad = np.flatnonzero(end > limit)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{e_name} must be <= lengths[video] (the range must lie inside its video), got "
                         f"{int(end[i])} > {int(limit[i])} at pair {i}")


def feature_lcs(features: Any, lengths: Any, video: Any, a_start: Any, a_end: Any, b_start: Any, b_end: Any, *,
                threshold: float = 0.65) -> Any:
    """LCS length of two snippet ranges per pair, snippets matching iff their cosine is > ``threshold``.

    Args:
        features: ``[N, T, D]`` float32/float64 padded batch (numpy or CPU torch; a non-contiguous input
            is copied to C order first).
        lengths: ``[N]`` integer valid length of each video, in ``[1, T]``; padding is never read.
        video: ``[P]`` integer video of each pair, in ``[0, N)``.
        a_start, a_end: ``[P]`` integer range ``x = features[video, a_start:a_end]``,
            ``0 <= a_start <= a_end <= lengths[video]`` (empty allowed).
        b_start, b_end: ``[P]`` the same for ``y``.
        threshold: match iff cosine > threshold; finite, in ``[-1, 1]`` (AHLM: 0.65).

    Returns:
        ``[P]`` int64 LCS lengths (numpy, or torch if ``features`` is a torch tensor).

    Raises:
        TypeError: non-float ``features``, non-integer ``lengths``/pair arrays (bool included), a
            non-number ``threshold``.
        ValueError: wrong ranks or shapes, ``lengths`` outside ``[1, T]``, a ``video`` outside
            ``[0, N)``, a range outside its video or reversed, integers beyond int64, NaN/inf in a
            snippet some range covers (the error names video and snippet), a threshold outside
            ``[-1, 1]``, CUDA tensors.
    """
    thr = check_float(threshold, "threshold", lo=-1.0, hi=1.0)
    x = float_array(features, "features", ndim=3)
    N, T, _ = x.shape
    lens = _index_array(lengths, "lengths")
    if lens.shape[0] != N:
        raise ValueError(f"lengths must have shape [N] = [{N}] to match features [N, T, D] = {list(x.shape)}, "
                         f"got {list(lens.shape)}")
    if N and (lens.min() < 1 or lens.max() > T):
        raise ValueError(f"lengths must lie in [1, T] = [1, {T}], got min {int(lens.min())}, max {int(lens.max())}")
    pairs = [_index_array(a, n) for a, n in zip((video, a_start, a_end, b_start, b_end), _PAIR_ARGS)]
    shapes = [list(a.shape) for a in pairs]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"video, a_start, a_end, b_start and b_end must have the same shape [P], got {shapes}")
    v, a0, a1, b0, b1 = pairs
    bad = np.flatnonzero((v < 0) | (v >= N))
    if bad.size:
        raise ValueError(f"video must index features videos [0, {N}), got {int(v[bad[0]])} at pair {int(bad[0])}")
    limit = lens[v]
    _check_ranges(a0, a1, limit, ("a_start", "a_end"))
    _check_ranges(b0, b1, limit, ("b_start", "b_end"))
    out = _C.feature_lcs(x, lens, v, a0, a1, b0, b1, thr)
    return like_input(out, features)
