"""segment_iou against the evaluators' own numpy formulas (ActivityNet `segment_iou`, BaSNet's `+1` IoU)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtal.ops import segment_iou


def _official_segment_iou(target: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """ActivityNet Evaluation/utils.py segment_iou, one target against [M, 2] candidates (float64)."""
    tt1 = np.maximum(target[0], candidates[:, 0])
    tt2 = np.minimum(target[1], candidates[:, 1])
    inter = (tt2 - tt1).clip(0)
    union = (candidates[:, 1] - candidates[:, 0]) + (target[1] - target[0]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter.astype(float) / union


def _plus_one_iou(target: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """BaSNet/UM utils.py nms overlap: area = e - s + 1, inter = maximum(0, min e - max s + 1)."""
    xx1 = np.maximum(target[0], candidates[:, 0])
    xx2 = np.minimum(target[1], candidates[:, 1])
    inter = np.maximum(0.0, xx2 - xx1 + 1)
    area_t = target[1] - target[0] + 1
    areas = candidates[:, 1] - candidates[:, 0] + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (area_t + areas - inter)


def _reference(a, b, convention="continuous") -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    f = _official_segment_iou if convention == "continuous" else _plus_one_iou
    out = np.empty((len(a), len(b)))
    for i in range(len(a)):
        out[i] = f(a[i], b)
    return out


def _same_bits(x: np.ndarray, y: np.ndarray) -> None:
    """Equal values, NaN where NaN, and the same sign of zero."""
    np.testing.assert_array_equal(x, y)
    finite = ~np.isnan(y)
    np.testing.assert_array_equal(np.signbit(x[finite]), np.signbit(y[finite]))


coord = st.one_of(st.integers(-5, 15).map(float), st.floats(-1e3, 1e3, allow_nan=False),
                  st.sampled_from([0.0, -0.0, np.nan, 0.5, 1.0]))
seg_lists = st.lists(st.tuples(coord, coord), min_size=0, max_size=8)


@given(a=seg_lists, b=seg_lists, convention=st.sampled_from(["continuous", "plus_one"]))
def test_matches_numpy_formula(a, b, convention):
    a = np.array(a, dtype=np.float64).reshape(-1, 2)
    b = np.array(b, dtype=np.float64).reshape(-1, 2)
    _same_bits(segment_iou(a, b, convention=convention), _reference(a, b, convention))


@given(a=seg_lists, b=seg_lists)
def test_float32_is_promoted_before_the_formula(a, b):
    a32 = np.array(a, dtype=np.float32).reshape(-1, 2)
    b32 = np.array(b, dtype=np.float32).reshape(-1, 2)
    got = segment_iou(a32, b32)
    assert got.dtype == np.float64
    _same_bits(got, _reference(a32.astype(np.float64), b32.astype(np.float64)))


def test_large_batch_uses_threads_and_matches():
    rng = np.random.default_rng(0)
    a = np.sort(rng.uniform(0, 100, (1500, 2)), axis=1)
    b = np.sort(rng.uniform(0, 100, (900, 2)), axis=1)
    _same_bits(segment_iou(a, b), _reference(a, b))
    _same_bits(segment_iou(a, b, convention="plus_one"), _reference(a, b, "plus_one"))


def test_exact_values():
    got = segment_iou([[0.0, 5.0], [0.0, 9.0]], [[0.0, 10.0]])
    np.testing.assert_array_equal(got, [[0.5], [0.9]])
    # `+1` inflates short overlaps: [0,1] vs [0.4,1.4] is 0.43 continuous, 0.67 with +1 (evaluation.md §4).
    a, b = [[0.0, 1.0]], [[0.4, 1.4]]
    assert segment_iou(a, b)[0, 0] == pytest.approx(0.6 / 1.4)
    assert segment_iou(a, b, convention="plus_one")[0, 0] == pytest.approx(1.6 / 2.4)
    # Disjoint segments less than 1 apart overlap under +1.
    assert segment_iou([[0.0, 1.0]], [[1.5, 2.5]], convention="plus_one")[0, 0] == pytest.approx(0.5 / 3.5)
    assert segment_iou([[0.0, 1.0]], [[1.5, 2.5]])[0, 0] == 0.0


def test_degenerate_segments_follow_the_formula():
    # zero-length inside a normal segment -> 0; zero-length vs zero-length anywhere -> NaN (0/0);
    # reversed with union 0 -> NaN; reversed with negative union -> -0.0; negative times are not clipped.
    got = segment_iou([[3.0, 3.0], [3.0, 3.0], [3.0, 1.0], [10.0, 0.0], [-5.0, 3.0]],
                      [[0.0, 10.0], [7.0, 7.0], [1.0, 3.0], [2.0, 4.0], [0.0, 3.0]])
    diag = np.diag(got)
    assert diag[0] == 0.0
    assert np.isnan(diag[1]) and np.isnan(diag[2])
    assert diag[3] == 0.0 and np.signbit(diag[3])
    assert diag[4] == 0.375


def test_nan_boundary_propagates():
    got = segment_iou([[np.nan, 5.0], [0.0, 5.0]], [[0.0, 10.0], [0.0, np.nan]])
    assert np.isnan(got[0]).all() and np.isnan(got[:, 1]).all()
    assert got[1, 0] == 0.5


def test_empty_inputs():
    assert segment_iou(np.zeros((0, 2)), np.zeros((3, 2))).shape == (0, 3)
    assert segment_iou(np.zeros((3, 2)), np.zeros((0, 2))).shape == (3, 0)
    assert segment_iou(np.zeros((0, 2)), np.zeros((0, 2)), convention="plus_one").shape == (0, 0)


def test_length_one():
    assert segment_iou([[1.0, 2.0]], [[1.0, 2.0]]).tolist() == [[1.0]]


def test_mixed_dtypes_are_promoted():
    a = np.array([[0.1, 0.7]], dtype=np.float32)
    b = np.array([[0.2, 0.9]], dtype=np.float64)
    _same_bits(segment_iou(a, b), _reference(a.astype(np.float64), b))


def test_non_contiguous_inputs():
    base = np.arange(24, dtype=np.float64).reshape(6, 4)
    a = base[:, ::2]  # [6, 2] non-contiguous
    b = base[::2, 1:3]
    assert not a.flags.c_contiguous and not b.flags.c_contiguous
    _same_bits(segment_iou(a, b), _reference(a, b))


def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    a = torch.tensor([[0.0, 5.0], [2.0, 3.0]], dtype=torch.float32)
    b = torch.tensor([[0.0, 10.0]], dtype=torch.float32)
    got = segment_iou(a, b)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    _same_bits(got.numpy(), _reference(a.numpy(), b.numpy()))


def test_input_checks_name_the_argument():
    good = np.zeros((2, 2))
    with pytest.raises(ValueError, match="a must have shape"):
        segment_iou(np.zeros((2, 3)), good)
    with pytest.raises(ValueError, match="b must be 2-D"):
        segment_iou(good, np.zeros(4))
    with pytest.raises(TypeError, match="a must be float32 or float64"):
        segment_iou(np.zeros((2, 2), dtype=np.int64), good)
    with pytest.raises(TypeError, match="b must be float32 or float64"):
        segment_iou(good, np.zeros((2, 2), dtype=bool))
    with pytest.raises(TypeError, match="a must be a numpy array or torch tensor"):
        segment_iou({"start": 0}, good)
    with pytest.raises(ValueError, match="convention must be one of"):
        segment_iou(good, good, convention="pixel")


def test_binding_refuses_bad_buffers():
    from wtal._ext import _C

    good = np.zeros((2, 2))
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.segment_iou(np.zeros((2, 4))[:, ::2], good)
    with pytest.raises(TypeError, match="same dtype"):
        _C.segment_iou(good.astype(np.float32), good)


@pytest.mark.cuda
@given(a=seg_lists, b=seg_lists, convention=st.sampled_from(["continuous", "plus_one"]))
def test_cuda_matches_cpu(a, b, convention):
    import torch

    a = np.array(a, dtype=np.float64).reshape(-1, 2)
    b = np.array(b, dtype=np.float64).reshape(-1, 2)
    got = segment_iou(torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda(), convention=convention)
    assert got.is_cuda and got.dtype == torch.float64
    np.testing.assert_array_equal(got.cpu().numpy(), _reference(a, b, convention))
