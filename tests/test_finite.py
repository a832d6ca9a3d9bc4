"""_C.first_non_finite (the finiteness check of padded batches) against a numpy reference."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtal._ext import _C


def _reference(x, lengths):
    for n in range(x.shape[0]):
        valid = x[n, :lengths[n]]
        bad = ~np.isfinite(valid).reshape(valid.shape[0], -1).all(axis=1) if valid.size else np.zeros(0, bool)
        if bad.any():
            return (n, int(np.flatnonzero(bad)[0]))
    return None


@given(seed=st.integers(0, 2**31 - 1), dtype=st.sampled_from([np.float32, np.float64]),
       trailing=st.sampled_from([(), (1,), (3,), (2, 2)]), n_bad=st.integers(0, 3))
def test_matches_reference(seed, dtype, trailing, n_bad):
    rng = np.random.default_rng(seed)
    N, T = int(rng.integers(1, 6)), int(rng.integers(1, 30))
    x = rng.normal(size=(N, T) + trailing).astype(dtype)
    lengths = rng.integers(0, T + 1, N).astype(np.int64)
    for n in range(N):
        x[n, lengths[n]:] = np.nan                     # padding is never looked at
    for _ in range(n_bad):
        idx = (int(rng.integers(0, N)), int(rng.integers(0, T))) + tuple(int(rng.integers(0, d)) for d in trailing)
        x[idx] = rng.choice([np.nan, np.inf, -np.inf])
    assert _C.first_non_finite(x, lengths) == _reference(x, lengths)


def test_extremes_are_finite_and_checks():
    x = np.array([[np.finfo(np.float32).max, -np.finfo(np.float32).max, np.finfo(np.float32).tiny, 0.0]],
                 dtype=np.float32)
    assert _C.first_non_finite(x, np.array([4], dtype=np.int64)) is None
    assert _C.first_non_finite(np.zeros((0, 3)), np.zeros(0, dtype=np.int64)) is None
    with pytest.raises(ValueError, match="lengths"):
        _C.first_non_finite(np.zeros((2, 3)), np.array([1, 4], dtype=np.int64))
    with pytest.raises(ValueError, match="lengths"):
        _C.first_non_finite(np.zeros((2, 3)), np.array([1], dtype=np.int64))
    with pytest.raises(TypeError, match="x must have dtype float64"):
        _C.first_non_finite(np.zeros((2, 3), dtype=np.int32), np.array([1, 1], dtype=np.int64))
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.first_non_finite(np.zeros((3, 2)).T, np.array([1, 1], dtype=np.int64))
    with pytest.raises(ValueError, match=r"\[N, T"):
        _C.first_non_finite(np.zeros(3), np.array([1], dtype=np.int64))
