"""Overflow-safe kernels (issue 13, item 2): every wtal._C binding checks its integer arguments, so raw
calls with values near 2**63 get a ValueError/TypeError instead of a wrapped offset, and per-class
counts use 64-bit indices when they need to."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtal._ext import _C

I = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
F = lambda *v: np.array(v, dtype=np.float64)  # noqa: E731
BIG = 2**62


def test_connected_components_row_start_plus_length_cannot_overflow():
    sig, thr = np.zeros(8), F(0.5)
    for start, length in ((BIG, BIG), (2**63 - 1, 1), (3, 2**63 - 1), (-4, 4), (0, -1), (4, 5)):
        with pytest.raises(ValueError, match=r"row 0 \(row_start .*\) lies outside signal of size 8"):
            _C.connected_components(sig, I(start), I(length), thr)
    # the last row may end exactly at the end of the signal
    assert len(_C.connected_components(np.ones(8), I(4), I(4), thr)[0]) == 1


def test_oic_scores_strided_rows_and_scale_windows_cannot_overflow():
    cas = np.arange(10.0)
    seg = (I(0), I(0), I(1))
    for start, length, stride in ((0, 3, BIG), (0, 2, 2**63 - 1), (2**63 - 5, 2, 3), (1, 4, 3), (0, 5, 3)):
        with pytest.raises(ValueError, match=r"row 0 .* lies outside cas"):
            _C.oic_scores(cas, I(start), I(length), *seg, 0, 0.25, 1.0, 0, stride)
    # (len - 1) * stride == size - 1 is the last valid element
    assert _C.oic_scores(cas, I(0), I(4), *seg, 0, 0.25, 1.0, 0, 3).shape == (1,)
    for scale_start, scale in ((2**63 - 1, np.ones(4)), (-1, np.ones(4)), (0, np.ones(2))):
        with pytest.raises(ValueError, match="lies outside scale"):
            _C.oic_scores(cas, I(0), I(3), *seg, 0, 0.25, 1.0, 0, 1, scale, I(scale_start))
    for ratio in (np.inf, np.nan, -1.0):
        with pytest.raises(ValueError, match="outer_ratio must be a finite number >= 0"):
            _C.oic_scores(cas, I(0), I(3), *seg, 0, ratio, 1.0)


def _dm(order=None, num_classes=1, num_videos=1, candidate_orders=None, **kw):
    a = dict(gt_video=I(0), gt_label=I(0), gt_start=F(0.0), gt_end=F(1.0), pred_video=I(0, 0), pred_label=I(0, 0),
             pred_start=F(0.0, 0.5), pred_end=F(1.0, 1.5), pred_score=F(0.9, 0.8))
    flags = {k: kw.pop(k) for k in ("return_candidate_ties", "return_matches") if k in kw}
    a.update(kw)
    return _C.detection_map(*a.values(), order, F(0.5), num_classes, num_videos, candidate_orders=candidate_orders,
                            **flags)


def test_detection_map_order_must_be_an_int64_array():
    for order in ([0, 1], 5, "ab", {}, (0, 1)):
        with pytest.raises(TypeError, match="order must be None or a numpy array"):
            _dm(order=order)
    with pytest.raises(TypeError, match="order must have dtype int64"):
        _dm(order=np.zeros(2))
    with pytest.raises(ValueError, match="order must be a permutation"):
        _dm(order=I(0, BIG))
    assert _dm()[0, 0] == 1.0
    assert _dm(order=I(1, 0))[0, 0] == 0.5  # the caller's ranking puts the FP first


def test_detection_map_sizes_are_checked_before_allocating():
    with pytest.raises(ValueError, match="num_classes = 1099511627776 exceeds the 1 ground-truth rows"):
        _dm(num_classes=2**40)
    with pytest.raises(ValueError, match="num_classes must be >= 0"):
        _dm(num_classes=-1)
    # a sparse video id space costs nothing: memory follows the distinct GT videos, not num_videos
    sparse = dict(gt_video=I(2**61), pred_video=I(5, 2**61), pred_start=F(0.0, 0.0), pred_end=F(1.0, 1.0))
    assert _dm(num_videos=BIG, **sparse)[0, 0] == 0.5  # an FP (video 5) ranked above the TP
    with pytest.raises(ValueError, match=r"pred_video = 4611686018427387904 in \[-1, 3\)"):
        _dm(num_videos=3, pred_video=I(BIG, 0))


@st.composite
def _map_inputs(draw):
    C = draw(st.integers(1, 3))
    G = draw(st.integers(C, 12))
    V = draw(st.integers(1, 4))
    N = draw(st.integers(0, 40))
    t = st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.5, 6.0])
    gs = np.array(draw(st.lists(t, min_size=G, max_size=G)))
    ps = np.array(draw(st.lists(t, min_size=N, max_size=N)))
    return dict(gt_video=np.array(draw(st.lists(st.integers(0, V - 1), min_size=G, max_size=G)), np.int64),
                gt_label=np.array([i % C for i in range(G)], np.int64), gt_start=gs,
                gt_end=gs + np.array(draw(st.lists(st.sampled_from([0.5, 1.0, 2.0]), min_size=G, max_size=G))),
                pred_video=np.array(draw(st.lists(st.integers(-1, V - 1), min_size=N, max_size=N)), np.int64),
                pred_label=np.array(draw(st.lists(st.integers(-1, C - 1), min_size=N, max_size=N)), np.int64),
                pred_start=ps, pred_end=ps + np.array(draw(st.lists(st.sampled_from([0.5, 1.5, 3.0]), min_size=N,
                                                                    max_size=N))),
                pred_score=np.array(draw(st.lists(st.sampled_from([0.1, 0.5, 0.5, 0.9]), min_size=N, max_size=N))),
                C=C, V=V, thr=np.array(draw(st.lists(st.floats(0, 1), min_size=1, max_size=70))),
                match=draw(st.sampled_from(["best", "first"])), ap=draw(st.sampled_from(["interpolated",
                                                                                        "noninterpolated"])),
                discrete=draw(st.booleans()))


@given(_map_inputs(), st.integers(1, 2**40))
def test_detection_map_64_bit_indices_and_sparse_ids_give_the_same_ap(d, stretch):
    cols = [d[k] for k in ("gt_video", "gt_label", "gt_start", "gt_end", "pred_video", "pred_label", "pred_start",
                           "pred_end", "pred_score")]
    opts = dict(match=d["match"], ap=d["ap"], discrete=d["discrete"])
    ref = _C.detection_map(*cols, None, d["thr"], d["C"], d["V"], **opts)
    wide = _C.detection_map(*cols, None, d["thr"], d["C"], d["V"], wide_indices=True, **opts)
    np.testing.assert_array_equal(wide, ref)  # the int64 path that classes with >= 2**31 predictions take
    sparse = list(cols)
    sparse[0] = cols[0] * stretch + 7  # ids far apart in a huge id space
    sparse[4] = np.where(cols[4] >= 0, cols[4] * stretch + 7, -1)
    got = _C.detection_map(*sparse, None, d["thr"], d["C"], (d["V"] - 1) * stretch + 8, **opts)
    np.testing.assert_array_equal(got, ref)



@given(_map_inputs(), st.integers(1, 2**40), st.data())
def test_detection_map_extras_agree_on_the_64_bit_path_and_with_sparse_ids(d, stretch, data):
    """candidate_orders, return_candidate_ties and return_matches give the same answer on the 32-bit and
    the 64-bit index paths, with dense and with sparse video ids; rows stay input rows throughout."""
    cols = [d[k] for k in ("gt_video", "gt_label", "gt_start", "gt_end", "pred_video", "pred_label", "pred_start",
                           "pred_end", "pred_score")]
    gv, gl, pv, pl = d["gt_video"], d["gt_label"], d["pred_video"], d["pred_label"]
    group = [int(((gv == pv[r]) & (gl == pl[r])).sum()) for r in range(len(pv))]
    rows = sorted(data.draw(st.sets(st.integers(0, len(pv) - 1), max_size=len(pv)))) if len(pv) else []
    perms = [data.draw(st.permutations(range(group[r]))) for r in rows]
    overrides = (I(*rows), np.cumsum([0] + [len(q) for q in perms]).astype(np.int64), I(*[j for q in perms for j in q]))
    opts = dict(match=d["match"], ap=d["ap"], discrete=d["discrete"], return_candidate_ties=True, return_matches=True)
    sparse = list(cols)
    sparse[0] = cols[0] * stretch + 7
    sparse[4] = np.where(cols[4] >= 0, cols[4] * stretch + 7, -1)
    sparse_v = (d["V"] - 1) * stretch + 8
    for given_orders in (None, overrides):
        ref = _C.detection_map(*cols, None, d["thr"], d["C"], d["V"], candidate_orders=given_orders, **opts)
        for c, v, wide in ((cols, d["V"], True), (sparse, sparse_v, False), (sparse, sparse_v, True)):
            got = _C.detection_map(*c, None, d["thr"], d["C"], v, candidate_orders=given_orders, wide_indices=wide,
                                   **opts)
            for a, b in zip(got, ref):
                np.testing.assert_array_equal(a, b)
        ap, ties, matched = ref
        assert ties.dtype == np.int64 and matched.shape == (len(d["thr"]), len(pv))
        assert ((ties >= 0) & (ties < len(pv))).all() and (pl[ties] >= 0).all()
        t_idx, p_idx = np.nonzero(matched >= 0)
        g = matched[t_idx, p_idx]  # input GT rows of the prediction's own class and video
        assert (gv[g] == pv[p_idx]).all() and (gl[g] == pl[p_idx]).all()


def test_detection_map_bad_candidate_orders_are_named_errors():
    base = dict(gt_video=I(0, 0), gt_label=I(0, 0), gt_start=F(0.0, 0.0), gt_end=F(1.0, 1.0))
    ok = (I(0), I(0, 2), I(1, 0))
    assert _dm(**base, candidate_orders=ok).shape == (1, 1)
    bad = [([I(0), I(0, 2), I(1, 0)], TypeError, "candidate_orders must be None or a tuple"),
           (I(0, 2), TypeError, "candidate_orders must be None or a tuple"),
           ("abc", TypeError, "candidate_orders must be None or a tuple"),
           ((), ValueError, "got a tuple of length 0"),
           (ok + (I(0),), ValueError, "got a tuple of length 4"),
           ((None, I(0, 2), I(1, 0)), TypeError, "candidate_orders rows must be a numpy array, got NoneType"),
           ((I(0), [0, 2], I(1, 0)), TypeError, "candidate_orders offsets must be a numpy array, got list"),
           ((I(0), I(0, 2), np.array([1, 0], np.int32)), TypeError, "candidate_orders order must have dtype int64"),
           ((I(0), I(0, 2), np.array([[1, 0]])), ValueError, "candidate_orders order must be 1-D"),
           ((I(0), I(0), I(1, 0)), ValueError, r"len\(rows\) \+ 1"),
           ((I(0), I(0, 2**62), I(1, 0)), ValueError, r"must end at len\(order\) = 2"),
           ((I(0), I(-2, 2), I(1, 0)), ValueError, "offsets must start at 0"),
           ((I(2**63 - 1), I(0, 2), I(1, 0)), ValueError, "candidate order row 9223372036854775807 is outside"),
           ((I(1, 0), I(0, 2, 4), I(1, 0, 1, 0)), ValueError, "strictly ascending"),
           ((I(0), I(0, 2), I(0, 2**62)), ValueError, r"not a permutation of range\(2\)"),
           ((I(0), I(0, 2), I(1, 1)), ValueError, r"not a permutation of range\(2\)"),
           ((I(0), I(0, 1), I(0)), ValueError, "has 1 entries but its video has 2 GT")]
    for orders, exc, msg in bad:
        with pytest.raises(exc, match=msg):
            _dm(**base, candidate_orders=orders, return_candidate_ties=True, return_matches=True)


def test_upsampled_length_and_upsample_sizes():
    for length, scale, what in ((5, 0, "scale must be >= 1"), (5, -3, "scale must be >= 1"),
                                (-5, 3, "length must be >= 0"), (BIG, BIG, "exceeds 2\\*\\*53"),
                                (2**40, 2**40, "exceeds 2\\*\\*53")):
        with pytest.raises(ValueError, match=what):
            _C.upsampled_length(length, scale)
    assert _C.upsampled_length(7, 49) == len(np.arange(0, 7, 1 / 49)) == 343
    with pytest.raises(ValueError, match="upsample_linear: rows \\* upsampled length .* cannot be allocated"):
        _C.upsample_linear(np.zeros((2, 4)), I(4, 4), 2**40)
    with pytest.raises(ValueError, match="exceeds 2\\*\\*53"):
        _C.upsample_linear(np.zeros((2, 4)), I(4, 4), BIG)


def test_nms_binding_checks_lengths_and_options():
    def nms(segments, scores=F(0.9, 0.8), groups=None, method=0, overlap=0, thr=0.5, sigma=0.5, min_score=None,
            max_num=0, eps=0.0):
        return _C.nms(segments, scores, groups, method, overlap, thr, sigma, min_score, max_num, True, False, eps)

    with pytest.raises(ValueError, match="segments must be shorter than 2\\*\\*1020"):
        nms(np.array([[-1e308, 1e308], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="segments must be shorter than 2\\*\\*1020"):
        nms(np.array([[0.0, 1.7e308], [0.0, 1.7e308]]))
    with pytest.raises(TypeError):  # pybind11 names the signature
        nms(np.zeros((2, 2)), min_score="x")
    with pytest.raises(TypeError, match="groups must be None or a numpy array"):
        nms(np.zeros((2, 2)), groups=[0, 1])
    for kw, what in ((dict(thr=np.nan), "iou_threshold"), (dict(min_score=np.nan), "min_score"),
                     (dict(method=1, sigma=0.0), "sigma"), (dict(eps=np.inf), "length_eps")):
        with pytest.raises(ValueError, match=what):
            nms(np.zeros((2, 2)), **kw)
    keep, _ = nms(np.array([[0.0, 2.0**1019], [0.0, 2.0**1019]]))
    assert keep.tolist() == [0]  # the longest accepted segments still have IoU 1


def test_allocation_failures_name_the_argument():
    with pytest.raises(ValueError, match="segment_iou: N \\* M needs an output of"):
        _C.segment_iou(np.zeros((1 << 20, 2)), np.zeros((1 << 20, 2)))


@pytest.mark.cuda
def test_cuda_launchers_reject_bad_sizes_before_touching_pointers():
    for call in (lambda: _C.oic_scores_cuda_temp_bytes(False, -1, 5),
                 lambda: _C.oic_scores_cuda_temp_bytes(False, 2**62, 2**62),
                 lambda: _C.connected_components_cuda_temp_bytes(-1),
                 lambda: _C.upsample_linear_cuda(0, 0, 0, 0, -1, 4, 2, 0, 8, 0, 0, 0),
                 lambda: _C.gaussian_smooth_cuda(False, 0, 0, 2, 4, 0, -1, 0, 0, 0),
                 lambda: _C.topk_pool_forward_cuda(0, 0, -1, 3, 4, 0, 1, 0, 0, 0, 0, 0, 0),
                 lambda: _C.topk_pool_forward_cuda(0, 0, 2**40, 2**40, 2**40, 0, 1, 0, 0, 0, 0, 0, 0),
                 lambda: _C.nms_cuda(0, 0, False, 0, 0, -1, 0, 0, 0.5, 0.5, None, 0, True, False, 0.0, 0, 0, 0, 0,
                                     0, 0, 0)):
        with pytest.raises(ValueError):
            call()
