"""connected_components against plain re-implementations of the authors' grouping code."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtal.ops import Segments, connected_components

LEVELS = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]


# ---------------------------------------------------------------------------------------------
# Oracles, written as the authors' code does it.

def grouping(arr):
    """HAM-Net / BaSNet / DGAM ``utils.grouping``."""
    return np.split(arr, np.where(np.diff(arr) != 1)[0] + 1)


def ref_np_split(signal, lengths, thresholds, drop_index0_only_runs=False, min_len=1):
    """HAM-Net/BM: ``np.where(sig > thr)`` then ``grouping``; ``if temp_list.any()`` when asked."""
    out = []
    for n in range(len(lengths)):
        sig = signal[n][: lengths[n]]
        for m in range(len(thresholds)):
            thr = np.float64(thresholds[m])
            temp_list = np.array(np.where(sig > thr))[0]
            if drop_index0_only_runs:
                if not temp_list.any():
                    continue
            elif len(temp_list) == 0:
                continue
            for g in grouping(temp_list):
                if len(g) >= min_len:
                    out.append((n, m, int(g[0]), int(g[-1]) + 1))
    return out


def ref_facnet(signal, lengths, thresholds, min_len=3):
    """FAC-Net ``getActLoc``: zero-padded diff, starts at +1, exclusive ends at -1, len >= 3."""
    out = []
    for n in range(len(lengths)):
        vid_cas = signal[n][: lengths[n]]
        for t in range(len(thresholds)):
            thres = np.float64(thresholds[t])
            vid_pred = np.concatenate([np.zeros(1), (vid_cas > thres).astype("float32"), np.zeros(1)], axis=0)
            vid_pred_diff = [vid_pred[idt] - vid_pred[idt - 1] for idt in range(1, len(vid_pred))]
            s = [idk for idk, item in enumerate(vid_pred_diff) if item == 1]
            e = [idk for idk, item in enumerate(vid_pred_diff) if item == -1]
            for j in range(len(s)):
                if e[j] - s[j] >= min_len:
                    out.append((n, t, s[j], e[j]))
    return out


def as_tuples(seg: Segments):
    cols = [np.asarray(c.cpu() if hasattr(c, "cpu") else c) for c in (seg.row, seg.threshold_index, seg.start, seg.end)]
    for c in cols:
        assert c.dtype == np.int64
    return [tuple(int(v) for v in r) for r in zip(*cols)]


# ---------------------------------------------------------------------------------------------
# Input builders (also used by benchmarks/bench_proposals.py).

@st.composite
def batches(draw, max_rows=5, max_t=24):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    N = draw(st.integers(0, max_rows))
    T = draw(st.integers(0, max_t))
    elem = st.one_of(st.sampled_from(LEVELS), st.floats(-0.5, 1.5, allow_nan=False, width=32))
    signal = np.array(draw(st.lists(elem, min_size=N * T, max_size=N * T)), dtype=dtype).reshape(N, T)
    lengths = np.array(draw(st.lists(st.integers(0, T), min_size=N, max_size=N)), dtype=np.int64)
    if N and T and draw(st.booleans()):
        lengths[:] = T
    thr_elem = st.one_of(st.sampled_from(LEVELS), st.floats(-1.0, 2.0, allow_nan=False))
    thresholds = np.array(draw(st.lists(thr_elem, min_size=0, max_size=6)), dtype=np.float64)
    return signal, lengths, thresholds


def random_batch(rng, N, T, M=10, dtype=np.float32, min_len=1):
    lengths = rng.integers(1, T + 1, size=N)
    signal = rng.random((N, T)).astype(dtype)
    # Smooth a little so runs have realistic lengths.
    signal = (0.5 * signal + 0.5 * np.roll(signal, 1, axis=1)).astype(dtype)
    thresholds = np.linspace(0.1, 0.9, M)
    return signal, lengths, thresholds


# ---------------------------------------------------------------------------------------------

@given(batches())
def test_matches_np_split(batch):
    signal, lengths, thresholds = batch
    seg = connected_components(signal, lengths, thresholds)
    assert as_tuples(seg) == ref_np_split(signal, lengths, thresholds)


@given(batches(), st.integers(1, 5))
def test_matches_facnet_min_len(batch, min_len):
    signal, lengths, thresholds = batch
    seg = connected_components(signal, lengths, thresholds, min_len=min_len)
    assert as_tuples(seg) == ref_facnet(signal, lengths, thresholds, min_len=min_len)
    assert as_tuples(seg) == ref_np_split(signal, lengths, thresholds, min_len=min_len)


@given(batches())
def test_drop_index0_only_runs_matches_temp_list_any(batch):
    signal, lengths, thresholds = batch
    seg = connected_components(signal, lengths, thresholds, drop_index0_only_runs=True)
    assert as_tuples(seg) == ref_np_split(signal, lengths, thresholds, drop_index0_only_runs=True)


@given(batches())
def test_csr_equals_padded(batch):
    signal, lengths, thresholds = batch
    flat = np.concatenate([signal[n, : lengths[n]] for n in range(len(lengths))] + [np.zeros(0, signal.dtype)])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    a = connected_components(signal, lengths, thresholds)
    b = connected_components(flat, None, thresholds, offsets=offsets)
    assert as_tuples(a) == as_tuples(b)


def test_order_and_values_small():
    s = np.array([[0.2, 0.8, 0.8, 0.1, 0.9], [0.9, 0.9, 0.0, 0.0, 0.0]], np.float32)
    seg = connected_components(s, [5, 2], [0.5, 0.15])
    assert as_tuples(seg) == [(0, 0, 1, 3), (0, 0, 4, 5), (0, 1, 0, 3), (0, 1, 4, 5), (1, 0, 0, 2), (1, 1, 0, 2)]


def test_runs_touching_both_ends_and_length_one():
    s = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [1.0, 5.0, 5.0]])
    seg = connected_components(s, [3, 3, 1], [0.5])
    assert as_tuples(seg) == [(0, 0, 0, 1), (0, 0, 2, 3), (1, 0, 0, 3), (2, 0, 0, 1)]


def test_strict_greater_at_exact_threshold():
    s = np.array([[0.5, 0.5, 0.6, 0.5]], np.float64)
    assert as_tuples(connected_components(s, [4], [0.5])) == [(0, 0, 2, 3)]
    assert as_tuples(connected_components(s, [4], [0.6])) == []


def test_float32_signal_compared_in_float64():
    # float32(0.1) = 0.10000000149 > 0.1: NumPy >= 2 semantics of ``sig > np.float64(0.1)``.
    s = np.array([[np.float32(0.1), 0.0]], np.float32)
    assert as_tuples(connected_components(s, [2], [0.1])) == [(0, 0, 0, 1)]
    assert as_tuples(connected_components(s, [2], [float(np.float32(0.1))])) == []


def test_thresholds_outside_range():
    s = np.array([[0.2, 0.4, 0.3], [0.1, 0.1, 0.9]], np.float32)
    seg = connected_components(s, [3, 2], [-1.0, 1.0, -np.inf, np.inf])
    # below every value: one run per row; at/above every value or +inf: none.
    assert as_tuples(seg) == [(0, 0, 0, 3), (0, 2, 0, 3), (1, 0, 0, 2), (1, 2, 0, 2)]


def test_all_below_and_all_above():
    s = np.zeros((3, 7))
    assert len(connected_components(s, [7, 3, 0], [0.0])) == 0
    assert as_tuples(connected_components(s, [7, 3, 0], [-0.1])) == [(0, 0, 0, 7), (1, 0, 0, 3)]


def test_padding_ignored_even_if_nan():
    s = np.array([[1.0, 1.0, np.nan, 7.0]])
    assert as_tuples(connected_components(s, [2], [0.5])) == [(0, 0, 0, 2)]


def test_drop_index0_only_keeps_index0_when_other_runs():
    s = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    seg = connected_components(s, [3, 3, 3], [0.5], drop_index0_only_runs=True)
    assert as_tuples(seg) == [(0, 0, 0, 1), (0, 0, 2, 3), (2, 0, 0, 2)]


def test_empty_inputs():
    for shape, lengths, thr in [((0, 5), [], [0.5]), ((3, 5), [5, 5, 5], []), ((2, 0), [0, 0], [0.5])]:
        seg = connected_components(np.zeros(shape, np.float32), np.array(lengths, np.int64), np.array(thr))
        assert len(seg) == 0 and seg.start.dtype == np.int64 and seg.start.shape == (0,)


def test_scalar_threshold_and_lengths_none():
    s = np.array([[0.0, 1.0, 1.0]])
    assert as_tuples(connected_components(s, None, 0.5)) == [(0, 0, 1, 3)]


def test_non_contiguous_input():
    rng = np.random.default_rng(0)
    base = rng.random((4, 40))
    view = base[:, ::2]
    assert not view.flags.c_contiguous
    lengths = np.array([20, 3, 0, 17])
    thr = np.linspace(0.1, 0.9, 5)
    assert as_tuples(connected_components(view, lengths, thr)) == ref_np_split(np.ascontiguousarray(view), lengths, thr)
    assert as_tuples(connected_components(view, lengths[::-1].copy()[::-1], thr[::-1][::-1])) == ref_np_split(
        view, lengths, thr)


def test_larger_batch_uses_threads_and_matches():
    rng = np.random.default_rng(1)
    signal, lengths, thresholds = random_batch(rng, 300, 700)
    seg = connected_components(signal, lengths, thresholds)
    assert as_tuples(seg) == ref_np_split(signal, lengths, thresholds)


def test_nan_found_by_a_worker_thread_raises():
    rng = np.random.default_rng(6)
    signal, lengths, thresholds = random_batch(rng, 300, 700)
    signal[-1, lengths[-1] - 1] = np.nan  # the last rows go to the last worker
    with pytest.raises(ValueError, match="signal contains NaN"):
        connected_components(signal, lengths, thresholds)


def test_torch_cpu_in_torch_out():
    torch = pytest.importorskip("torch")
    s = torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0]])
    seg = connected_components(s, torch.tensor([5]), torch.tensor([0.5]))
    assert isinstance(seg.start, torch.Tensor) and seg.start.dtype == torch.int64
    assert as_tuples(seg) == [(0, 0, 1, 3), (0, 0, 4, 5)]


# ---------------------------------------------------------------------------------------------
# Input checks.

def test_nan_in_signal_raises():
    with pytest.raises(ValueError, match="signal"):
        connected_components(np.array([[0.0, np.nan]]), [2], [0.5])
    with pytest.raises(ValueError, match="signal"):
        connected_components(np.array([np.nan], np.float32), None, [0.5], offsets=[0, 1])


def test_nan_threshold_raises():
    with pytest.raises(ValueError, match="thresholds"):
        connected_components(np.zeros((1, 2)), [2], [np.nan])


def test_bad_lengths_raise():
    with pytest.raises(ValueError, match="lengths"):
        connected_components(np.zeros((2, 3)), [3, 4], [0.5])
    with pytest.raises(ValueError, match="lengths"):
        connected_components(np.zeros((2, 3)), [3, -1], [0.5])
    with pytest.raises(ValueError, match="lengths"):
        connected_components(np.zeros((2, 3)), [3], [0.5])
    with pytest.raises(TypeError, match="lengths"):
        connected_components(np.zeros((2, 3)), np.array([3.0, 3.0]), [0.5])


def test_bad_signal_raises():
    with pytest.raises(TypeError, match="signal"):
        connected_components(np.zeros((2, 3), np.int64), [3, 3], [0.5])
    with pytest.raises(ValueError, match="signal"):
        connected_components(np.zeros((2, 3, 1)), [3, 3], [0.5])
    with pytest.raises(ValueError, match="signal"):
        connected_components(np.zeros((2, 3)), None, [0.5], offsets=[0, 3, 6])
    with pytest.raises(TypeError, match="thresholds"):
        connected_components(np.zeros((2, 3)), None, np.array([1], np.int64))
    with pytest.raises(ValueError, match="thresholds"):
        connected_components(np.zeros((2, 3)), None, np.zeros((2, 2)))


def test_bad_offsets_and_min_len_raise():
    x = np.zeros(6)
    with pytest.raises(ValueError, match="offsets"):
        connected_components(x, None, [0.5], offsets=[0, 4, 2])
    with pytest.raises(ValueError, match="offsets"):
        connected_components(x, None, [0.5], offsets=[0, 7])
    with pytest.raises(ValueError, match="offsets"):
        connected_components(x, [1], [0.5], offsets=[0, 3])
    with pytest.raises(ValueError, match="min_len"):
        connected_components(np.zeros((1, 3)), None, [0.5], min_len=0)
    with pytest.raises(TypeError, match="min_len"):
        connected_components(np.zeros((1, 3)), None, [0.5], min_len=1.5)


# ---------------------------------------------------------------------------------------------
# CUDA (compared with the CPU path).

@pytest.mark.cuda
@given(batches(max_rows=6, max_t=80), st.integers(1, 4), st.booleans())
def test_cuda_equals_cpu(batch, min_len, drop):
    import torch

    signal, lengths, thresholds = batch
    cpu = connected_components(signal, lengths, thresholds, min_len=min_len, drop_index0_only_runs=drop)
    gpu = connected_components(torch.from_numpy(signal).cuda(), torch.from_numpy(lengths).cuda(),
                               torch.from_numpy(thresholds).cuda(), min_len=min_len, drop_index0_only_runs=drop)
    assert gpu.start.device.type == "cuda"
    assert as_tuples(gpu) == as_tuples(cpu)


@pytest.mark.cuda
def test_cuda_large_and_csr():
    import torch

    rng = np.random.default_rng(2)
    signal, lengths, thresholds = random_batch(rng, 257, 1500, M=7, dtype=np.float64)
    cpu = connected_components(signal, lengths, thresholds, min_len=2)
    gpu = connected_components(torch.from_numpy(signal).cuda(), lengths, thresholds, min_len=2)
    assert as_tuples(gpu) == as_tuples(cpu)
    flat = np.concatenate([signal[n, : lengths[n]] for n in range(len(lengths))])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    gpu_csr = connected_components(torch.from_numpy(flat).cuda(), None, thresholds,
                                   offsets=torch.from_numpy(offsets).cuda(), min_len=2)
    assert as_tuples(gpu_csr) == as_tuples(cpu)


@pytest.mark.cuda
def test_cuda_errors_and_empty():
    import torch

    with pytest.raises(ValueError, match="signal"):
        connected_components(torch.tensor([[0.0, float("nan")]], device="cuda"), [2], [0.5])
    with pytest.raises(ValueError, match="lengths"):
        connected_components(torch.zeros(2, 3, device="cuda"), torch.tensor([3, 4], device="cuda"), [0.5])
    seg = connected_components(torch.zeros(0, 4, device="cuda"), torch.zeros(0, dtype=torch.int64), [0.5])
    assert len(seg) == 0 and seg.row.device.type == "cuda"
    seg = connected_components(torch.ones(3, 4, device="cuda"), None, torch.zeros(0, dtype=torch.float64))
    assert len(seg) == 0
