"""Snippet sampling to a fixed length, as the W-TALC lineage (W-TALC, HAM-Net, FAC-Net, BM/DGAM) does it.

Training draws ``n`` snippets from a video of ``T`` snippets: the range ``[0, T)`` is cut at the bin
starts ``floor(i * T / n)`` and one index is drawn per bin (``random_perturb``), or the bin starts are
taken as they are (``uniform_sampling``). Test time uses every snippet (``"all"``).
"""
from __future__ import annotations

import numpy as np

SAMPLINGS = ("random", "uniform", "all")


def _check(T: int, n: int) -> tuple[int, int]:
    if isinstance(T, bool) or int(T) != T or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    return int(T), int(n)


def bin_starts(T: int, n: int) -> np.ndarray:
    """``int64 [n]``: ``floor(i * T / n)`` for ``i < n``, in exact integer arithmetic."""
    T, n = _check(T, n)
    return (np.arange(n, dtype=np.int64) * T) // n


def uniform_sampling(T: int, n: int) -> np.ndarray:
    """Deterministic bin starts ``floor(i * T / n)``: ``int64 [n]``, non-decreasing, in ``[0, T)``.

    Repeats indices when ``T < n`` (upsampling); ``T == n`` gives ``arange(T)``.
    """
    return bin_starts(T, n)


def random_perturb(T: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """One random snippet per bin: ``int64 [n]``, non-decreasing, in ``[0, T)``.

    Bin ``i`` draws uniformly from ``[s_i, s_{i+1}]`` **inclusive** of the next bin start
    ``s_{i+1} = floor((i+1) T / n)`` (the authors' ``np.random.choice(range(s_i, s_{i+1} + 1))``), the
    last bin from ``[s_{n-1}, T-1]``; a bin whose start equals the next start returns that start.
    ``T == n`` returns ``arange(T)`` (the authors special-case it). When ``T < n`` indices repeat.

    Args:
        T: number of snippets in the video (>= 1).
        n: number of snippets to draw (>= 1).
        rng: ``numpy.random.Generator`` (the only source of randomness; same state -> same draw).
    """
    T, n = _check(T, n)
    if T == n:
        return np.arange(n, dtype=np.int64)
    lo = bin_starts(T, n)
    hi = np.empty_like(lo)
    hi[:-1] = lo[1:]
    hi[-1] = T - 1
    # integers(lo, hi + 1) draws from [lo, hi]; hi == lo gives lo, as in the authors' code.
    return rng.integers(lo, hi + 1, dtype=np.int64)


def sample_indices(T: int, n: int | None, sampling: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Dispatch on ``sampling`` (``"random"``, ``"uniform"``, ``"all"``); ``"all"`` ignores ``n``."""
    if sampling == "all":
        _check(T, 1)
        return np.arange(int(T), dtype=np.int64)
    if n is None:
        raise ValueError(f"num_segments is required for sampling={sampling!r}")
    if sampling == "uniform":
        return uniform_sampling(T, n)
    if sampling == "random":
        if rng is None:
            raise ValueError("rng is required for sampling='random'")
        return random_perturb(T, n, rng)
    raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")


__all__ = ["random_perturb", "uniform_sampling", "bin_starts", "sample_indices", "SAMPLINGS"]
