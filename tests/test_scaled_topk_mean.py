"""_C.scaled_topk_mean (HAM-Net's video-score pooling, CPU) against the numpy formula it replaces:
products in float64, the k = max(1, len // ratio) largest over the valid prefix, summed from the
largest down (sort + cumsum), divided by k. The kernel sums the same k values in another order, so
results must agree to the rounding of a k-term float64 sum (``assert_same_pool``)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtal._ext import _C


def _reference(cas, att, lengths, ratio):
    """(mean of the k largest, bound on the rounding of any k-term summation order) per (b, c)."""
    B, _, K = cas.shape
    out, tol = np.empty((B, K)), np.empty((B, K))
    for b in range(B):
        n = int(lengths[b])
        k = max(1, n // ratio)
        prod = cas[b, :n].astype(np.float64) * att[b, :n].astype(np.float64)[:, None]   # [n, K]
        top = -np.sort(-prod, axis=0)[:k]                       # descending
        out[b] = np.cumsum(top, axis=0)[-1] / k                 # sequential sum from the largest
        tol[b] = 2 * k * np.finfo(np.float64).eps * np.abs(top).max(axis=0)
    return out, tol


def assert_same_pool(got, cas, att, lengths, ratio):
    ref, tol = _reference(cas, att, lengths, ratio)
    assert got.shape == ref.shape
    bad = ~(np.abs(got - ref) <= tol)
    assert not bad.any(), (np.argwhere(bad)[:5], got[bad][:5], ref[bad][:5])


def _batch(rng, B, T, K, dtype_x, dtype_a, quantize):
    cas = rng.normal(0, 2, (B, T, K))
    att = rng.uniform(0, 1, (B, T))
    if quantize:  # many exact ties, zeros and signed zeros
        cas = np.round(cas * 2) / 2
        cas[rng.random(cas.shape) < 0.05] = -0.0
        att = np.round(att * 4) / 4
    return cas.astype(dtype_x), att.astype(dtype_a)


@given(seed=st.integers(0, 2**31 - 1), ratio=st.sampled_from([1, 3, 10, 20, 5000]),
       quantize=st.booleans(), dtypes=st.sampled_from([(np.float32, np.float32), (np.float32, np.float64),
                                                         (np.float64, np.float32), (np.float64, np.float64)]))
def test_matches_numpy_formula(seed, ratio, quantize, dtypes):
    rng = np.random.default_rng(seed)
    B, T, K = 5, 700, 4
    cas, att = _batch(rng, B, T, K, *dtypes, quantize)
    # ragged: length 1, short (no pre-filter), long (sampled pre-filter), full T; padding holds NaN
    lengths = np.array([1, 37, 255, 256 + int(rng.integers(0, 400)), T], dtype=np.int64)
    for b in range(B):
        cas[b, lengths[b]:] = np.nan
        att[b, lengths[b]:] = np.nan
    got = _C.scaled_topk_mean(cas, att, lengths, ratio)
    assert_same_pool(got, cas, att, lengths, ratio)
    assert got.dtype == np.float64 and got.shape == (B, K)


def test_skewed_columns_fall_back_when_the_sampled_pivot_is_too_high():
    # Every sampled position (stride n // 64) holds the maximum, the rest is lower: fewer than k values
    # pass the pre-filter, so the kernel must select on the whole column.
    n, ratio = 640, 4
    col = np.linspace(-1.0, 0.0, n)
    col[:: n // 64] = 5.0
    cas = col.reshape(1, n, 1).astype(np.float64)
    att = np.ones((1, n))
    lengths = np.array([n], dtype=np.int64)
    got = _C.scaled_topk_mean(cas, att, lengths, ratio)
    assert_same_pool(got, cas, att, lengths, ratio)


@pytest.mark.parametrize("values", ["constant", "two_levels", "sorted", "reversed"])
def test_degenerate_columns(values):
    # All-equal and two-valued columns (the selection's pivot equals most values), sorted input.
    n = 900
    col = {"constant": np.full(n, 0.75), "two_levels": np.where(np.arange(n) % 3 == 0, 1.0, -2.0),
           "sorted": np.linspace(-3.0, 3.0, n), "reversed": np.linspace(3.0, -3.0, n)}[values]
    cas = np.stack([col, -col, np.zeros(n)], axis=1)[None]
    att = np.ones((1, n), np.float32)
    for ratio in (1, 2, 3, 10, 899, 900, 5000):
        lengths = np.array([n], dtype=np.int64)
        got = _C.scaled_topk_mean(cas, att, lengths, ratio)
        assert_same_pool(got, cas, att, lengths, ratio)


@pytest.mark.parametrize("name", ["attention", "cas"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_in_valid_prefix_raises(name, bad):
    rng = np.random.default_rng(0)
    cas, att = _batch(rng, 3, 50, 3, np.float32, np.float32, False)
    lengths = np.array([50, 20, 30], dtype=np.int64)
    cas[1, 20:] = np.nan   # padding: ignored
    att[2, 30:] = np.inf   # padding: ignored
    _C.scaled_topk_mean(cas, att, lengths, 10)
    if name == "cas":
        cas[2, 7, 1] = bad
        cas[1, 19, 2] = bad   # the first bad row is reported
    else:
        att[2, 3] = bad
        att[1, 19] = bad
    with pytest.raises(ValueError, match=rf"{name} contains NaN or inf \(row 1, position 19\)"):
        _C.scaled_topk_mean(cas, att, lengths, 10)


def test_attention_checked_before_cas():
    cas = np.zeros((2, 4, 2), np.float32)
    att = np.ones((2, 4), np.float32)
    cas[0, 0, 0] = np.nan
    att[1, 3] = np.nan
    with pytest.raises(ValueError, match="attention"):
        _C.scaled_topk_mean(cas, att, np.array([4, 4], dtype=np.int64), 2)


def test_argument_checks():
    cas = np.zeros((2, 4, 2), np.float32)
    att = np.ones((2, 4), np.float32)
    lengths = np.array([4, 4], dtype=np.int64)
    with pytest.raises(ValueError, match="lengths"):
        _C.scaled_topk_mean(cas, att, np.array([0, 4], dtype=np.int64), 2)
    with pytest.raises(ValueError, match="lengths"):
        _C.scaled_topk_mean(cas, att, np.array([5, 4], dtype=np.int64), 2)
    with pytest.raises(ValueError, match="scale"):
        _C.scaled_topk_mean(cas, att[:, :3].copy(), lengths, 2)
    with pytest.raises((ValueError, TypeError)):
        _C.scaled_topk_mean(cas.astype(np.float16), att, lengths, 2)
    with pytest.raises((ValueError, TypeError)):
        _C.scaled_topk_mean(cas[:, ::2], att[:, ::2], lengths, 2)
    with pytest.raises(ValueError, match="ratio"):
        _C.scaled_topk_mean(cas, att, lengths, 0)
    assert _C.scaled_topk_mean(cas[:0], att[:0], lengths[:0], 2).shape == (0, 2)
