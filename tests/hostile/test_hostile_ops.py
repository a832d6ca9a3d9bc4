"""No silent wrong answers and named errors in the public ops (issue 13, items 3 and 5)."""
from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wtal.ops as ops
from wtal.eval import evaluate_detection
from wtal.ops.upsample import gaussian_weights, upsampled_length

# ------------------------------------------------------------------------------------------------
# oic_scores: non-finite rows are named errors; finite rows whose sums overflow keep exact means


def _mean(vals, absolute=False):
    vals = [abs(v) for v in vals] if absolute else vals
    return sum((Fraction(v) for v in vals), Fraction(0)) / len(vals) if vals else Fraction(0)


def _int(v: float) -> int:
    # Python's int(); a product that overflowed to inf is an unbounded window (the kernel saturates)
    return int(v) if math.isfinite(v) else int(math.copysign(1e300, v))


def oic_exact(row, s, e, variant, r=0.25, w=1.0):
    """(score, magnitude) of the three OIC variants (module docstring of wtal.ops.oic_scores) in exact
    arithmetic; the magnitude is the same expression on |x| (what rounding errors scale with)."""
    L, n = len(row), e - s
    parts = []
    for absolute in (False, True):
        if variant == "hamnet":
            inner = _mean(row[s:e], absolute)
            os_, oe = max(0, _int(s - r * n)), min(L - 1, _int(e - 1 + r * n)) + 1
            outer = _mean(row[os_:s] + row[e:oe], absolute)
        elif variant == "facnet":
            inner = _mean(row[s:min(e + 1, L)], absolute)
            os_, oe = max(0, _int(s - r * n)), min(L - 1, _int(e + r * n + 1))
            outer = _mean(row[os_:s] + row[e + 1:oe], absolute)
        else:
            k = _int(r * n) + 1
            inner = _mean(row[s:e], absolute)
            outer = ((_mean(row[max(0, s - k):s], absolute) if s > 0 else 0)
                     + (_mean(row[e:min(L, e + k)], absolute) if e < L else 0))
        parts.append(inner - Fraction(w) * outer if not absolute else inner + abs(Fraction(w)) * outer)
    return parts[0], parts[1]


def _to_float(fr: Fraction) -> float:
    try:
        return float(fr)
    except OverflowError:
        return math.inf if fr > 0 else -math.inf


@pytest.mark.parametrize("variant", ops.OIC_VARIANTS if hasattr(ops, "OIC_VARIANTS") else ("hamnet", "facnet", "bm"))
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_oic_non_finite_row_is_a_named_error(variant, bad):
    cas = np.linspace(0, 1, 16).reshape(2, 8)
    cas[0, 5] = bad
    one = np.zeros(1, np.int64)
    with pytest.raises(ValueError, match=r"cas contains (-?inf|NaN) \(row 0, position 5\)"):
        ops.oic_scores(cas, None, one, one, one + 2, variant=variant)
    # a row no segment uses may hold anything
    assert np.isfinite(ops.oic_scores(cas, None, one + 1, one, one + 2, variant=variant)).all()


@st.composite
def _huge_rows(draw):
    L = draw(st.integers(2, 12))
    row = draw(st.lists(st.sampled_from([1e308, -1e308, 1.7e308, -1.7e308, 1.5e308, 3.0, 0.5, -2.0, 1e-3, 0.0]),
                        min_size=L, max_size=L))
    segs = []
    for _ in range(draw(st.integers(1, 6))):
        s = draw(st.integers(0, L - 1))
        segs.append((s, draw(st.integers(s + 1, L))))
    return row, segs


@given(_huge_rows(), st.sampled_from(("hamnet", "facnet", "bm")), st.sampled_from([0.25, 1.0, 1e20, 1e300]),
       st.sampled_from([1.0, 0.6, 0.3]))
def test_oic_rows_whose_running_sum_overflows_keep_exact_means(case, variant, ratio, weight):
    row, segs = case
    cas = np.array([row])
    s = np.array([a for a, _ in segs], np.int64)
    e = np.array([b for _, b in segs], np.int64)
    got = ops.oic_scores(cas, None, np.zeros(len(s), np.int64), s, e, variant=variant, outer_ratio=ratio,
                         outer_weight=weight)
    # the double-double prefix sums' accuracy: ~1e-16 of the window's terms plus ~1e-32 of the row's
    row_mag = _to_float(sum(Fraction(abs(v)) for v in row))
    for g, (a, b) in zip(got, segs):
        ref, mag = oic_exact(row, a, b, variant, ratio, weight)
        want = _to_float(ref)
        if math.isinf(want):  # the score itself is beyond float64: the kernel's rounding may say inf too
            assert g == want or abs(g) > 1e307
        else:
            assert math.isfinite(g), (row, a, b, g)
            tol = 1e-13 * min(_to_float(mag), 1.8e308) + 1e-30 * min(row_mag, 1.8e308)
            assert abs(g - want) <= tol + 1e-300, (row, a, b, g, want)


def test_oic_windows_of_huge_values_are_exact():
    # every partial sum of this row overflows float64 (the old kernel gave NaN for every segment)
    cas = np.array([[1e308, 1e308, 1e308, 1e308, 1.7e308, -1e308, 1e308, 1.5e308]])
    s, e = np.array([0, 2, 4, 6, 1], np.int64), np.array([2, 5, 6, 8, 7], np.int64)
    for variant in ("hamnet", "facnet", "bm"):
        got = ops.oic_scores(cas, None, np.zeros(5, np.int64), s, e, variant=variant)
        want = [_to_float(oic_exact(cas[0].tolist(), int(a), int(b), variant)[0]) for a, b in zip(s, e)]
        np.testing.assert_allclose(got, want, rtol=1e-15)


@given(st.lists(st.floats(0, 1), min_size=3, max_size=10), st.sampled_from(("hamnet", "facnet", "bm")),
       st.sampled_from([5.0, 1e20, 1e300, 1.7e308]))
def test_oic_huge_outer_ratio_is_pythons_int_semantics(row, variant, ratio):
    cas = np.array([row])
    L = len(row)
    s, e = np.array([0, 1, L - 1], np.int64), np.array([1, L, L], np.int64)
    got = ops.oic_scores(cas, None, np.zeros(3, np.int64), s, e, variant=variant, outer_ratio=ratio)
    want = [_to_float(oic_exact(row, int(a), int(b), variant, ratio)[0]) for a, b in zip(s, e)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------------------------------------
# sizes, scales and counts


def test_upsampled_length_rejects_bad_or_overflowing_scales():
    for length, scale, exc, what in ((5, 0, ValueError, "scale must be >= 1"), (5, -2, ValueError, "scale must be >= 1"),
                                     (1 << 40, 1 << 40, ValueError, "exceeds 2\\*\\*53"),
                                     (5, 1 << 64, ValueError, "scale must be <= 2\\*\\*63 - 1"),
                                     (-5, 2, ValueError, "length must be >= 0"),
                                     (5.7, 2, TypeError, "length must be an integer"),
                                     (5, "2", TypeError, "scale must be an integer")):
        with pytest.raises(exc, match=what):
            upsampled_length(length, scale)
    with pytest.raises(ValueError, match="upsample_linear: .*is scale too large"):
        ops.upsample_linear(np.zeros((2, 4)), None, 1 << 40)


def test_nms_uint64_groups_and_overflowing_lengths():
    segs, scores = np.array([[0.0, 1.0], [0.5, 1.5], [3.0, 4.0]]), np.array([0.9, 0.8, 0.7])
    with pytest.raises(ValueError, match="groups holds 9223372036854775808, which does not fit int64"):
        ops.nms(segs, scores, groups=np.array([2**63, 1, 2**63], np.uint64), iou_threshold=0.1)
    # uint64 ids below 2**63 are exact
    keep, _ = ops.nms(segs, scores, groups=np.array([2**63 - 1, 1, 2**63 - 1], np.uint64), iou_threshold=0.1)
    assert keep.tolist() == [1, 0, 2]
    for bad in ([[-1e308, 1e308], [0.0, 1.0]], [[0.0, 1.7e308], [0.0, 1.7e308]]):
        with pytest.raises(ValueError, match="segments must be shorter than 2\\*\\*1020"):
            ops.nms(np.array(bad), scores[:2], iou_threshold=0.5)
    keep, _ = ops.nms(np.array([[0.0, 2.0**1019], [0.0, 2.0**1019]]), scores[:2], iou_threshold=0.5)
    assert keep.tolist() == [0]


def test_named_errors_for_huge_counts_and_tiny_sigmas():
    x3 = np.random.default_rng(0).standard_normal((2, 5, 3))
    segs, scores = np.array([[0.0, 1.0], [0.5, 1.5]]), np.array([0.9, 0.8])
    cases = [
        (lambda: ops.topk_pool(x3, k=2**64), "k must be <= 2\\*\\*63 - 1"),
        (lambda: ops.topk_pool(x3, ratio=2**64), "ratio must be <= 2\\*\\*63 - 1"),
        (lambda: ops.nms(segs, scores, iou_threshold=0.5, max_num=2**70), "max_num must be <= 2\\*\\*63 - 1"),
        (lambda: ops.connected_components(np.zeros((1, 4)), None, 0.5, min_len=2**64), "min_len must be <="),
        (lambda: ops.hybrid_attention_pool(x3, np.ones((2, 5)), gamma=0.2, ratio=2**64), "ratio must be <="),
        (lambda: ops.upsample_linear(np.zeros((1, 4)), None, 2**64), "scale must be <="),
        (lambda: ops.gaussian_smooth(np.zeros((1, 4)), None, 1e300), "kernel radius above"),
        (lambda: ops.gaussian_smooth(np.zeros((1, 4)), None, 1.0, truncate=1e300), "kernel radius above"),
        (lambda: ops.gaussian_smooth(np.zeros((1, 4)), None, 1e-300, truncate=1e300), "sigma\\*\\*2 underflows"),
        (lambda: gaussian_weights(0.0), "sigma must be > 0"),
        (lambda: gaussian_weights(-1.0), "sigma must be > 0"),
        (lambda: ops.nms(segs, scores, iou_threshold=0.5, method="gaussian", sigma=np.inf), "sigma must be finite"),
    ]
    for call, what in cases:
        with pytest.raises(ValueError, match=what):
            call()
    assert ops.topk_pool(x3, k=2**62).tolist() == ops.topk_pool(x3, k=5).tolist()  # k clipped to the length
    # a kernel of radius 0 is the identity: scipy itself would return NaN for sigma**2 == 0
    x = np.linspace(0, 1, 8).reshape(2, 4)
    assert gaussian_weights(1e-300).tolist() == [1.0]
    np.testing.assert_array_equal(ops.gaussian_smooth(x, None, 1e-300), x)
    # soft-NMS with a tiny sigma: any overlap decays a score to 0, none keeps it
    keep, kept = ops.nms(np.array([[0.0, 1.0], [0.5, 1.5], [3.0, 4.0]]), np.array([0.9, 0.8, 0.7]),
                         iou_threshold=0.5, method="gaussian", sigma=1e-300)
    assert keep.tolist() == [0, 2, 1] and kept.tolist() == [0.9, 0.7, 0.0]


_NOT_ARRAYS = [None, "abc", {}, object(), 3.5j]


@pytest.mark.parametrize("bad", _NOT_ARRAYS, ids=lambda b: type(b).__name__)
def test_every_public_op_names_a_non_array_argument(bad):
    good2 = np.zeros((2, 2))
    one = np.zeros(1, np.int64)
    calls = {
        "a": lambda: ops.segment_iou(bad, good2),
        "segments": lambda: ops.nms(bad, np.zeros(2), iou_threshold=0.5),
        "signal": lambda: ops.connected_components(bad, None, 0.5),
        "cas": lambda: ops.oic_scores(bad, None, one, one, one + 1),
        "x": lambda: ops.upsample_linear(bad, None, 2),
        "x ": lambda: ops.gaussian_smooth(bad, None, 1.0),
        "x  ": lambda: ops.topk_pool(bad, k=1),
        "cas ": lambda: ops.hybrid_attention_pool(bad, np.zeros((1, 2)), gamma=0.2, ratio=1),
        "attention": lambda: ops.hybrid_attention_pool(np.zeros((1, 2, 3)), bad, gamma=0.2, ratio=1),
    }
    for name, call in calls.items():
        with pytest.raises((TypeError, ValueError), match=name.strip()):
            call()


# ------------------------------------------------------------------------------------------------
# ambiguous segments that cannot match

_GT = {"video": np.array(["v1", "v1"], object), "t_start": np.array([1.0, 5.0]), "t_end": np.array([3.0, 8.0]),
       "label": np.array(["A", "A"], object)}
_PRED = {**_GT, "score": np.array([0.9, 0.8])}


def test_ambiguous_entries_that_cannot_match_are_errors_or_counted():
    def ev(amb):
        return evaluate_detection(_GT, _PRED, preset="wtalc", ambiguous=amb)

    with pytest.raises(ValueError, match=r"ambiguous\['t_start'\] contains NaN at row 1 \(1 such row"):
        ev({"video": np.array(["v1", "v1"], object), "t_start": np.array([0.0, np.nan]), "t_end": np.array([1.0, 2.0])})
    with pytest.raises(TypeError, match=r"ambiguous\['video'\] holds int values but ground_truth\['video'\] holds str"):
        ev({"video": np.array([1]), "t_start": np.array([0.0]), "t_end": np.array([2.0])})
    with pytest.warns(UserWarning, match=r"ambiguous: 2 of 3 segment\(s\) are empty or reversed"):
        r = ev({"video": np.array(["v1"] * 3, object), "t_start": np.array([9.0, 4.0, 0.0]),
                "t_end": np.array([0.0, 4.0, 2.0])})
    assert r.num_predictions[0] == 1  # the valid third entry still drops the first prediction
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ev({"video": np.array(["zz"], object), "t_start": np.array([0.0]), "t_end": np.array([2.0])})
