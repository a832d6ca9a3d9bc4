"""wtal.ops.nms against (1) a plain reference written from wtal's documented semantics and (2) faithful
re-implementations of the NMS functions of ActionFormer, BaSNet/UM, HAM-Net and FAC-Net
(research/evaluation.md §4), each applied per group in a Python loop as the repositories do."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtal.ops import NMS_PRESETS, nms, nms_settings

# ----------------------------------------------------------------------------------------------------
# Reference for wtal's semantics (plain Python floats, formula by formula)
# ----------------------------------------------------------------------------------------------------


def _overlap_ref(kind: str, sel, other, eps: float = 0.0) -> float:
    si, ei = float(sel[0]), float(sel[1])
    sj, ej = float(other[0]), float(other[1])
    if kind == "iou":
        inter = max(0.0, min(ei, ej) - max(si, sj))
        union = ((ei - si) + eps) + ((ej - sj) + eps) - inter
        return inter / union if union > 0 else 0.0
    inter = max(0.0, (min(ei, ej) - max(si, sj)) + 1.0)
    if kind == "plus_one":
        return inter / ((((ei - si) + 1.0) + ((ej - sj) + 1.0)) - inter)
    return inter / ((ej - sj) + 1.0)  # inter_over_other: area of the lower-ranked candidate


def _reference_nms(segments, scores, *, iou_threshold, method="hard", sigma=0.5, min_score=None, max_num=None,
                   groups=None, overlap="iou", suppress_equal=True, always_keep_top=False, length_eps=0.0):
    """Greedy selection of the highest current score (ties: lowest index) in each group, groups ascending."""
    n = len(scores)
    groups = [0] * n if groups is None else [int(g) for g in groups]
    keep, kept = [], []
    for g in sorted(set(groups)):
        current = {i: float(scores[i]) for i in range(n) if groups[i] == g}
        selected = 0
        while current:
            if max_num is not None and selected >= max_num:
                break
            i = min(current, key=lambda k: (-current[k], k))
            s = current.pop(i)
            if min_score is not None and s < min_score and not (selected == 0 and always_keep_top):
                break
            keep.append(i)
            kept.append(s)
            selected += 1
            for j in list(current):
                ov = _overlap_ref(overlap, segments[i], segments[j], length_eps)
                hit = ov >= iou_threshold if suppress_equal else ov > iou_threshold
                if method == "hard":
                    if hit:
                        del current[j]
                        continue
                elif method == "linear":
                    if hit:
                        current[j] *= 1.0 - ov
                else:
                    current[j] *= math.exp(-(ov * ov) / sigma)
                if min_score is not None and current[j] < min_score:
                    del current[j]
    return np.array(keep, dtype=np.int64), np.array(kept, dtype=np.float64)


# ----------------------------------------------------------------------------------------------------
# The repositories' NMS functions, re-implemented line by line (float64; indices instead of rows)
# ----------------------------------------------------------------------------------------------------


def _basnet_um_nms(segments, scores, thresh):
    """BaSNet/UM utils.py nms: `+1` IoU, order `argsort()[::-1]`, keep `iou < thresh`."""
    x1, x2 = segments[:, 0], segments[:, 1]
    areas = x2 - x1 + 1
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(x1[i], x1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1)
        iou = inter / (areas[i] + areas[order[1:]] - inter)
        inds = np.where(iou < thresh)[0]
        order = order[inds + 1]
    return keep, [scores[i] for i in keep]


def _hamnet_soft_nms(segments, scores, iou_thr=0.7, method="gaussian", sigma=0.3):
    """HAM-Net utils/utils.py soft_nms: argmax, swap to row 0, decay rows 1:, drop row 0; never removes."""
    dets = np.column_stack([np.arange(len(scores), dtype=np.float64), scores, segments[:, 0], segments[:, 1]])
    areas = dets[:, 3] - dets[:, 2] + 1
    dets = np.concatenate((dets, areas[:, None]), axis=1)
    retained = []
    while dets.size > 0:
        max_idx = np.argmax(dets[:, 1], axis=0)
        dets[[0, max_idx], :] = dets[[max_idx, 0], :]
        retained.append((int(dets[0, 0]), dets[0, 1]))
        xx1 = np.maximum(dets[0, 2], dets[1:, 2])
        xx2 = np.minimum(dets[0, 3], dets[1:, 3])
        inter = np.maximum(xx2 - xx1 + 1, 0.0)
        iou = inter / (dets[0, -1] + dets[1:, -1] - inter)
        if method == "linear":
            weight = np.ones_like(iou)
            weight[iou > iou_thr] -= iou[iou > iou_thr]
        else:
            weight = np.exp(-(iou * iou) / sigma)
        dets[1:, 1] *= weight
        dets = dets[1:, :]
    return [r[0] for r in retained], [r[1] for r in retained]


def _facnet_nms(segments, scores, overlap_thresh):
    """FAC-Net detectionMAP.py NonMaximumSuppression: argsort ascending, pick the last, overlap = inter /
    area of the other segment (snippet `+1`), delete `overlap > thresh`."""
    if len(scores) == 0:
        return [], []
    s, e = segments[:, 0], segments[:, 1]
    area = e - s + 1
    idxs = np.argsort(scores)
    pick = []
    while len(idxs) > 0:
        last = len(idxs) - 1
        i = idxs[last]
        pick.append(i)
        maxs = np.maximum(s[i], s[idxs[:last]])
        mine = np.minimum(e[i], e[idxs[:last]])
        l = np.maximum(0, mine - maxs + 1)
        ov = l / area[idxs[:last]]
        idxs = np.delete(idxs, np.concatenate(([last], np.where(ov > overlap_thresh)[0])))
    return pick, [scores[i] for i in pick]


def _actionformer_nms(segments, scores, iou_threshold, min_score, max_num):
    """ActionFormer NMSop + nms_1d_cpu: `scores > min_score` pre-filter (if min_score > 0), descending sort,
    areas `e - s + 1e-6`, drop `iou >= thr`, cap at max_num."""
    valid = np.arange(len(scores))
    if min_score > 0:
        valid = np.flatnonzero(scores > min_score)
    segs, sc = segments[valid], scores[valid]
    x1, x2 = segs[:, 0], segs[:, 1]
    areas = x2 - x1 + 1e-6
    order = np.argsort(-sc, kind="stable")
    select = np.ones(len(order), dtype=bool)
    for _i in range(len(order)):
        if not select[_i]:
            continue
        i = order[_i]
        for _j in range(_i + 1, len(order)):
            if not select[_j]:
                continue
            j = order[_j]
            inter = max(0.0, min(x2[i], x2[j]) - max(x1[i], x1[j]))
            if inter / (areas[i] + areas[j] - inter) >= iou_threshold:
                select[_j] = False
    inds = order[select]
    if max_num > 0:
        inds = inds[:max_num]
    return list(valid[inds]), list(sc[inds])


def _actionformer_softnms(segments, scores, iou_threshold, sigma, min_score, method, max_num):
    """ActionFormer SoftNMSop + softnms_1d_cpu: linear-scan argmax (strict <) over permuted positions,
    swap into place, decay every later candidate, discard it (swap with last) when `< min_score`."""
    x1, x2 = segments[:, 0].astype(np.float64).copy(), segments[:, 1].astype(np.float64).copy()
    sc = scores.astype(np.float64).copy()
    areas = x2 - x1 + 1e-6
    inds = np.arange(len(sc))
    dets = []
    nsegs = len(sc)
    i = 0
    while i < nsegs:
        max_score, max_pos = sc[i], i
        for pos in range(i + 1, nsegs):
            if max_score < sc[pos]:
                max_score, max_pos = sc[pos], pos
        for arr in (x1, x2, sc, areas, inds):
            arr[i], arr[max_pos] = arr[max_pos], arr[i]
        dets.append(sc[i])
        pos = i + 1
        while pos < nsegs:
            inter = max(0.0, min(x2[i], x2[pos]) - max(x1[i], x1[pos]))
            ovr = inter / (areas[i] + areas[pos] - inter)
            weight = 1.0
            if method == 0 and ovr >= iou_threshold:
                weight = 0.0
            elif method == 1 and ovr >= iou_threshold:
                weight = 1 - ovr
            elif method == 2:
                weight = math.exp(-(ovr * ovr) / sigma)
            sc[pos] *= weight
            if sc[pos] < min_score:
                for arr in (x1, x2, sc, areas, inds):
                    arr[pos] = arr[nsegs - 1]
                nsegs -= 1
                pos -= 1
            pos += 1
        i += 1
    n_out = min(nsegs, max_num) if max_num > 0 else nsegs
    return list(inds[:n_out]), dets[:n_out]


def _per_group(fn, segments, scores, groups, *args):
    """The repositories' loop: one call per group (groups ascending), results concatenated."""
    keep, kept = [], []
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        k, s = fn(segments[idx], scores[idx], *args)
        keep += [int(idx[i]) for i in k]
        kept += [float(v) for v in s]
    return np.array(keep, dtype=np.int64), np.array(kept, dtype=np.float64)


# ----------------------------------------------------------------------------------------------------
# Input builders (also used by benchmarks/bench_nms.py)
# ----------------------------------------------------------------------------------------------------


def random_proposals(rng, n_groups: int, max_per_group: int, *, span: float = 200.0, snippets: bool = False,
                     min_per_group: int = 0):
    """Tie-free random proposals in interleaved groups: (segments [N, 2], scores [N], groups [N]).

    Seconds: starts uniform over ``span``, lengths 0.5–20 s. ``snippets``: integer snippet indices as
    FAC-Net produces (start 0..span, length 3..40).
    """
    sizes = rng.integers(min_per_group, max_per_group + 1, n_groups)
    groups = np.repeat(np.arange(n_groups, dtype=np.int64), sizes)
    rng.shuffle(groups)
    n = len(groups)
    if snippets:
        starts = rng.integers(0, int(span), n).astype(np.float64)
        segs = np.stack([starts, starts + rng.integers(3, 41, n)], axis=1)
    else:
        starts = rng.uniform(0.0, span, n)
        segs = np.stack([starts, starts + rng.uniform(0.5, 20.0, n)], axis=1)
    scores = rng.uniform(0.0, 1.0, n)
    return segs, scores, groups


def _assert_same(got, want, rtol=1e-12):
    keep, kept = got
    np.testing.assert_array_equal(keep, want[0])
    np.testing.assert_allclose(kept, want[1], rtol=rtol, atol=0)


seeds = st.integers(0, 2**32 - 1)


# ----------------------------------------------------------------------------------------------------
# Against the repositories (tie-free random inputs)
# ----------------------------------------------------------------------------------------------------


@given(seed=seeds, thresh=st.sampled_from([0.3, 0.6, 0.7]))
def test_basnet_um(seed, thresh):
    segs, scores, groups = random_proposals(np.random.default_rng(seed), 6, 40, span=60.0)
    want = _per_group(_basnet_um_nms, segs, scores, groups, thresh)
    settings = nms_settings("basnet" if thresh == 0.7 else "um")
    settings["iou_threshold"] = thresh
    _assert_same(nms(segs, scores, groups=groups, **settings), want)


@given(seed=seeds, method=st.sampled_from(["gaussian", "linear"]))
def test_hamnet(seed, method):
    segs, scores, groups = random_proposals(np.random.default_rng(seed), 5, 40, span=60.0)
    want = _per_group(_hamnet_soft_nms, segs, scores, groups, 0.7, method, 0.3)
    settings = nms_settings("hamnet")
    settings["method"] = method
    got = nms(segs, scores, groups=groups, **settings)
    assert len(got[0]) == len(segs)  # HAM-Net never removes anything
    _assert_same(got, want, rtol=1e-12)


@given(seed=seeds, thresh=st.sampled_from([0.2, 0.5, 0.9]))
def test_facnet(seed, thresh):
    segs, scores, groups = random_proposals(np.random.default_rng(seed), 6, 40, span=150, snippets=True)
    want = _per_group(_facnet_nms, segs, scores, groups, thresh)
    settings = nms_settings("facnet")
    settings["iou_threshold"] = thresh
    _assert_same(nms(segs, scores, groups=groups, **settings), want)


@given(seed=seeds, min_score=st.sampled_from([0.001, 0.3, 0.7]), max_num=st.sampled_from([0, 3, 200]))
def test_actionformer_hard(seed, min_score, max_num):
    segs, scores, groups = random_proposals(np.random.default_rng(seed), 5, 40, span=60.0)
    want = _per_group(_actionformer_nms, segs, scores, groups, 0.1, min_score, max_num)
    settings = nms_settings("actionformer_hard")
    settings.update(min_score=float(np.nextafter(min_score, np.inf)), max_num=max_num or None)
    _assert_same(nms(segs, scores, groups=groups, **settings), want)


@given(seed=seeds, sigma=st.sampled_from([0.5, 0.75]), min_score=st.sampled_from([0.001, 0.2, 0.5]),
       max_num=st.sampled_from([0, 2, 200]))
def test_actionformer_soft(seed, sigma, min_score, max_num):
    segs, scores, groups = random_proposals(np.random.default_rng(seed), 5, 30, span=40.0)
    want = _per_group(_actionformer_softnms, segs, scores, groups, 0.1, sigma, min_score, 2, max_num)
    settings = nms_settings("actionformer")
    settings.update(sigma=sigma, min_score=min_score, max_num=max_num or None)
    _assert_same(nms(segs, scores, groups=groups, **settings), want)


@given(seed=seeds, method=st.sampled_from([0, 1]), thr=st.sampled_from([0.1, 0.5]))
def test_actionformer_softnms_other_methods(seed, method, thr):
    # softnms_1d_cpu's linear branch (method 1) == wtal linear; its method 0 zeroes instead of removing,
    # which equals wtal hard as soon as min_score > 0 discards the zeros.
    segs, scores, groups = random_proposals(np.random.default_rng(seed), 4, 30, span=40.0)
    want = _per_group(_actionformer_softnms, segs, scores, groups, thr, 0.5, 0.001, method, 0)
    settings = nms_settings("actionformer")
    settings.update(method="linear" if method == 1 else "hard", iou_threshold=thr, max_num=None)
    if method == 0:
        settings["always_keep_top"] = True
    _assert_same(nms(segs, scores, groups=groups, **settings), want)


def test_actionformer_keeps_top_below_min_score():
    segs = np.array([[0.0, 1.0], [5.0, 6.0], [10.0, 11.0]])
    scores = np.array([0.0005, 0.0002, 0.0009])
    want = _actionformer_softnms(segs, scores, 0.1, 0.5, 0.001, 2, 200)
    assert want[0] == [2]
    _assert_same(nms(segs, scores, **nms_settings("actionformer")), (np.array(want[0]), np.array(want[1])))
    # wtal's default drops it.
    assert len(nms(segs, scores, **{**nms_settings("actionformer"), "always_keep_top": False})[0]) == 0


def test_presets_are_documented_and_copied():
    assert set(NMS_PRESETS) == {"actionformer", "actionformer_anet", "actionformer_hard", "basnet", "um",
                                "hamnet", "facnet", "facnet_fusion"}
    s = nms_settings("hamnet")
    s["sigma"] = 99
    assert nms_settings("hamnet")["sigma"] == 0.3
    assert nms_settings("facnet")["suppress_equal"] is False
    with pytest.raises(ValueError, match="name must be one of"):
        nms_settings("bsn")
    assert nms_settings("um", iou_threshold=0.5)["iou_threshold"] == 0.5
    with pytest.raises(ValueError, match="overrides must be nms keywords"):
        nms_settings("um", groups=[0])


# ----------------------------------------------------------------------------------------------------
# Against the reference (hypothesis values with ties and exact thresholds)
# ----------------------------------------------------------------------------------------------------

small_segments = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 6)), min_size=0, max_size=12).map(
    lambda xs: np.array([[s, s + d] for s, d in xs], dtype=np.float64).reshape(-1, 2))


@st.composite
def nms_cases(draw):
    segs = draw(small_segments)
    n = len(segs)
    scores = np.array(draw(st.lists(st.sampled_from([0.1, 0.2, 0.5, 0.9, 1.0]), min_size=n, max_size=n)),
                      dtype=np.float64)
    groups = draw(st.one_of(st.none(), st.lists(st.integers(-1, 2), min_size=n, max_size=n).map(
        lambda g: np.array(g, dtype=np.int64))))
    overlap = draw(st.sampled_from(["iou", "plus_one", "inter_over_other"]))
    kwargs = dict(
        method=draw(st.sampled_from(["hard", "gaussian", "linear"])),
        iou_threshold=draw(st.sampled_from([0.0, 0.25, 0.5, 0.7, 1.0])),
        sigma=draw(st.sampled_from([0.3, 0.5, 1.0])),
        min_score=draw(st.sampled_from([None, 0.05, 0.3, 0.6])),
        max_num=draw(st.sampled_from([None, 1, 2, 5])),
        overlap=overlap,
        suppress_equal=draw(st.booleans()),
        always_keep_top=draw(st.booleans()),
        length_eps=draw(st.sampled_from([0.0, 1e-6])) if overlap == "iou" else 0.0,
    )
    return segs, scores, groups, kwargs


@given(case=nms_cases())
def test_matches_reference(case):
    segs, scores, groups, kwargs = case
    got = nms(segs, scores, groups=groups, **kwargs)
    want = _reference_nms(segs, scores, groups=groups, **kwargs)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])  # same float64 operations in the same order


@given(seed=seeds, method=st.sampled_from(["hard", "gaussian", "linear"]),
       overlap=st.sampled_from(["iou", "plus_one", "inter_over_other"]))
def test_matches_reference_random_seconds(seed, method, overlap):
    segs, scores, groups = random_proposals(np.random.default_rng(seed), 4, 25, span=50.0)
    kw = dict(method=method, overlap=overlap, iou_threshold=0.4, sigma=0.5, min_score=0.05, max_num=12)
    got = nms(segs, scores, groups=groups, **kw)
    want = _reference_nms(segs, scores, groups=groups, **kw)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@st.composite
def adversarial_segments(draw):
    """Segments that touch, or sit exactly or almost exactly 1 apart (the +1 measures' reach), at large
    and small magnitudes, including zero lengths: the cases that stress the kernel's neighbour window."""
    base = draw(st.sampled_from([0.0, -7.5, 1e6, -3e9, 1e12]))
    n = draw(st.integers(0, 10))
    segs = []
    for _ in range(n):
        if segs and draw(st.booleans()):
            ps, pe = segs[draw(st.integers(0, len(segs) - 1))]
            gap = draw(st.sampled_from([0.0, 1.0, -1.0, 1.0 + 1e-9, 1.0 - 1e-9, 0.5, 2.0]))
            start = pe + gap if draw(st.booleans()) else ps - gap - draw(st.sampled_from([0.0, 1.0, 3.0]))
        else:
            start = base + draw(st.floats(0, 50, allow_nan=False))
        length = draw(st.sampled_from([0.0, 1.0, 1e-9, 0.25, 3.0, 40.0]))
        segs.append((start, start + length))
    return np.array(segs, dtype=np.float64).reshape(-1, 2)


@given(segs=adversarial_segments(), data=st.data(), method=st.sampled_from(["hard", "gaussian", "linear"]),
       overlap=st.sampled_from(["iou", "plus_one", "inter_over_other"]))
def test_matches_reference_adversarial_coordinates(segs, data, method, overlap):
    n = len(segs)
    scores = np.array(data.draw(st.lists(st.floats(-1, 1, allow_nan=False), min_size=n, max_size=n)))
    kw = dict(method=method, overlap=overlap, iou_threshold=data.draw(st.sampled_from([0.0, 0.1, 0.5])),
              sigma=0.5, suppress_equal=data.draw(st.booleans()))
    got = nms(segs, scores, **kw)
    want = _reference_nms(segs, scores, **kw)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_many_groups_in_parallel_match_reference():
    # > 2k candidates and many uneven groups: the CPU kernel spreads groups over threads.
    segs, scores, groups = random_proposals(np.random.default_rng(7), 60, 120, span=100.0, min_per_group=80)
    assert len(scores) > 4096
    for method in ("hard", "gaussian"):
        kw = dict(method=method, iou_threshold=0.5, sigma=0.5, min_score=0.01, overlap="plus_one")
        got = nms(segs, scores, groups=groups, **kw)
        want = _reference_nms(segs, scores, groups=groups, **kw)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("overlap", ["iou", "plus_one", "inter_over_other"])
@pytest.mark.parametrize("method", ["gaussian", "linear"])
def test_soft_small_and_large_groups_match_reference_with_ties(method, overlap):
    # Soft NMS selects by a linear scan in groups of up to 512 candidates and with a heap above that:
    # groups on both sides of the switch, with tied scores (also after decay: quantized scores, duplicate
    # segments), negative scores (raised by the decay) and integer snippet segments, must match the
    # reference exactly.
    rng = np.random.default_rng(11)
    sizes = [1, 2, 37, 512, 513]
    groups = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    rng.shuffle(groups)
    n = len(groups)
    starts = rng.integers(0, 400, n).astype(np.float64)
    segs = np.stack([starts, starts + rng.integers(0, 30, n)], axis=1)
    segs[rng.random(n) < 0.1] = [5.0, 9.0]
    scores = np.round(rng.uniform(-0.3, 1.0, n) * 8) / 8
    kw = dict(method=method, overlap=overlap, iou_threshold=0.3, sigma=0.5)
    for extra in ({}, dict(min_score=0.05, max_num=300)):
        got = nms(segs, scores, groups=groups, **kw, **extra)
        want = _reference_nms(segs, scores, groups=groups, **kw, **extra)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@given(seed=seeds, method=st.sampled_from(["hard", "gaussian", "linear"]))
def test_grouped_equals_loop_over_groups(seed, method):
    segs, scores, groups = random_proposals(np.random.default_rng(seed), 5, 20, span=40.0)
    groups = groups * 7 - 10  # arbitrary, negative, non-contiguous ids
    kw = dict(method=method, iou_threshold=0.3, max_num=4, min_score=0.1)
    keep, kept = nms(segs, scores, groups=groups, **kw)
    parts_k, parts_s = [], []
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        k, s = nms(segs[idx], scores[idx], **kw)
        parts_k.append(idx[k])
        parts_s.append(s)
    np.testing.assert_array_equal(keep, np.concatenate(parts_k))
    np.testing.assert_array_equal(kept, np.concatenate(parts_s))


@given(seed=seeds, method=st.sampled_from(["hard", "gaussian", "linear"]))
def test_single_class_classwise_equals_agnostic(seed, method):
    segs, scores, _ = random_proposals(np.random.default_rng(seed), 1, 30, span=40.0)
    kw = dict(method=method, iou_threshold=0.5)
    a = nms(segs, scores, **kw)
    b = nms(segs, scores, groups=np.full(len(scores), 3), **kw)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


# ----------------------------------------------------------------------------------------------------
# Named edge cases
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["hard", "gaussian", "linear"])
def test_empty_input(method):
    keep, kept = nms(np.zeros((0, 2)), np.zeros(0), iou_threshold=0.5, method=method)
    assert keep.dtype == np.int64 and keep.shape == (0,)
    assert kept.dtype == np.float64 and kept.shape == (0,)
    keep, kept = nms(np.zeros((0, 2), np.float32), np.zeros(0, np.float32), iou_threshold=0.5,
                     groups=np.zeros(0, np.int64))
    assert keep.shape == (0,) and kept.dtype == np.float32


@pytest.mark.parametrize("method", ["hard", "gaussian", "linear"])
def test_one_segment(method):
    keep, kept = nms(np.array([[1.0, 2.0]]), np.array([0.3]), iou_threshold=0.5, method=method)
    assert keep.tolist() == [0] and kept.tolist() == [0.3]


def test_ties_earlier_input_wins():
    segs = np.array([[0.0, 10.0]] * 4)
    keep, _ = nms(segs, np.full(4, 0.5), iou_threshold=0.5)
    assert keep.tolist() == [0]
    # Disjoint, all tied: selection order is input order; soft methods decay nothing.
    segs = np.array([[0.0, 1.0], [5.0, 6.0], [2.0, 3.0]])
    for method in ("hard", "gaussian", "linear"):
        keep, kept = nms(segs, np.full(3, 0.5), iou_threshold=0.5, method=method)
        assert keep.tolist() == [0, 1, 2] and kept.tolist() == [0.5] * 3
    # A decayed score that ties an undecayed one: the lower index wins.
    segs = np.array([[0.0, 10.0], [0.0, 5.0], [20.0, 30.0]])
    keep, kept = nms(segs, np.array([1.0, 1.0, 0.5]), iou_threshold=0.5, method="linear")
    assert keep.tolist() == [0, 1, 2] and kept.tolist() == [1.0, 0.5, 0.5]
    keep, _ = nms(segs, np.array([1.0, 1.0, 0.5]), iou_threshold=0.5, method="linear", suppress_equal=True,
                  groups=np.array([0, 0, 0]))
    assert keep.tolist() == [0, 1, 2]
    keep, kept = nms(np.array([[20.0, 30.0], [0.0, 10.0], [0.0, 5.0]]), np.array([0.5, 1.0, 1.0]),
                     iou_threshold=0.5, method="linear")
    assert keep.tolist() == [1, 0, 2] and kept.tolist() == [1.0, 0.5, 0.5]


def test_iou_exactly_at_threshold():
    segs = np.array([[0.0, 10.0], [0.0, 5.0]])  # IoU 0.5 exactly
    sc = np.array([0.9, 0.8])
    assert nms(segs, sc, iou_threshold=0.5)[0].tolist() == [0]
    assert nms(segs, sc, iou_threshold=0.5, suppress_equal=False)[0].tolist() == [0, 1]
    # Linear decays at the threshold only when suppress_equal.
    assert nms(segs, sc, iou_threshold=0.5, method="linear")[1].tolist() == [0.9, 0.4]
    assert nms(segs, sc, iou_threshold=0.5, method="linear", suppress_equal=False)[1].tolist() == [0.9, 0.8]
    # ActionFormer's 1e-6 length epsilon puts the same pair just below 0.5.
    assert nms(segs, sc, iou_threshold=0.5, length_eps=1e-6)[0].tolist() == [0, 1]
    # plus_one: [0, 9] vs [0, 4] -> 5 / (10 + 5 - 5) = 0.5.
    segs1 = np.array([[0.0, 9.0], [0.0, 4.0]])
    assert nms(segs1, sc, iou_threshold=0.5, overlap="plus_one")[0].tolist() == [0]
    assert nms(segs1, sc, iou_threshold=0.5, overlap="plus_one", suppress_equal=False)[0].tolist() == [0, 1]
    # inter_over_other (FAC-Net, strict >): [0, 9] selected, [5, 14] -> 5 / 10 = 0.5 is kept at 0.5.
    segs2 = np.array([[0.0, 9.0], [5.0, 14.0]])
    assert nms(segs2, sc, **{**nms_settings("facnet"), "iou_threshold": 0.5})[0].tolist() == [0, 1]
    assert nms(segs2, sc, iou_threshold=0.5, overlap="inter_over_other")[0].tolist() == [0]


def test_inter_over_other_is_asymmetric():
    # A short segment inside a long one: the long one (higher score) removes the short one (overlap 1),
    # but when the short one ranks first, the long one's overlap is 3/11 and it survives at 0.5.
    segs = np.array([[0.0, 10.0], [4.0, 6.0]])
    assert nms(segs, np.array([0.9, 0.8]), iou_threshold=0.5, overlap="inter_over_other")[0].tolist() == [0]
    assert nms(segs, np.array([0.8, 0.9]), iou_threshold=0.5, overlap="inter_over_other")[0].tolist() == [1, 0]


def test_zero_length_segments():
    segs = np.array([[3.0, 3.0], [3.0, 3.0], [0.0, 10.0]])
    sc = np.array([0.9, 0.8, 0.7])
    # Continuous IoU: zero-length vs zero-length is 0 (not NaN), zero-length inside [0, 10] is 0.
    assert nms(segs, sc, iou_threshold=0.5)[0].tolist() == [0, 1, 2]
    assert nms(segs, sc, iou_threshold=0.5, method="gaussian")[1].tolist() == [0.9, 0.8, 0.7]
    assert nms(segs, sc, iou_threshold=0.5, length_eps=1e-6)[0].tolist() == [0, 1, 2]
    # +1 convention: identical zero-length segments overlap fully (1 / (1 + 1 - 1)).
    assert nms(segs, sc, iou_threshold=0.5, overlap="plus_one")[0].tolist() == [0, 2]


def test_reversed_segments_raise():
    with pytest.raises(ValueError, match=r"segments must have start <= end, got \[5.0, 1.0\] in row 1"):
        nms(np.array([[0.0, 1.0], [5.0, 1.0]]), np.array([0.5, 0.4]), iou_threshold=0.5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_raise(bad):
    segs = np.array([[0.0, 1.0], [2.0, 3.0]])
    with pytest.raises(ValueError, match="scores must be finite"):
        nms(segs, np.array([0.5, bad]), iou_threshold=0.5)
    bad_segs = segs.copy()
    bad_segs[1, 0] = bad
    with pytest.raises(ValueError, match="segments must be finite"):
        nms(bad_segs, np.array([0.5, 0.4]), iou_threshold=0.5)


def test_binding_validates_too():
    from wtal._ext import _C

    args = dict(method=0, overlap=0, iou_threshold=0.5, sigma=0.5, min_score=None, max_num=0,
                suppress_equal=True, always_keep_top=False, length_eps=0.0)
    with pytest.raises(ValueError, match="scores must be finite"):
        _C.nms(np.zeros((1, 2)), np.array([np.nan]), None, **args)
    with pytest.raises(ValueError, match="start <= end"):
        _C.nms(np.array([[1.0, 0.0]]), np.array([0.5]), None, **args)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.nms(np.zeros((2, 4))[:, ::2], np.zeros(2), None, **args)
    with pytest.raises(TypeError, match="groups must have dtype int64"):
        _C.nms(np.zeros((2, 2)), np.zeros(2), np.zeros(2, np.int32), **args)
    with pytest.raises(ValueError, match="groups must have length = 2"):
        _C.nms(np.zeros((2, 2)), np.zeros(2), np.zeros(3, np.int64), **args)


@pytest.mark.parametrize("method", ["hard", "gaussian", "linear"])
def test_all_below_min_score(method):
    segs = np.array([[0.0, 1.0], [5.0, 6.0], [0.0, 6.0]])
    sc = np.array([0.1, 0.2, 0.05])
    groups = np.array([0, 1, 1])
    keep, kept = nms(segs, sc, iou_threshold=0.5, method=method, min_score=0.5, groups=groups)
    assert keep.shape == (0,) and kept.shape == (0,)
    keep, _ = nms(segs, sc, iou_threshold=0.5, method=method, min_score=0.5, groups=groups,
                  always_keep_top=True)
    assert keep.tolist() == [0, 1]
    # Exactly at min_score is kept.
    assert nms(segs, sc, iou_threshold=0.5, method=method, min_score=0.2)[0].tolist() == [1]


def test_min_score_applies_to_decayed_scores():
    segs = np.array([[0.0, 10.0], [0.0, 8.0]])  # IoU 0.8
    sc = np.array([1.0, 0.9])
    keep, kept = nms(segs, sc, iou_threshold=0.5, method="linear", min_score=0.2)
    assert keep.tolist() == [0]  # 0.9 * 0.2 = 0.18 < 0.2
    keep, kept = nms(segs, sc, iou_threshold=0.5, method="linear", min_score=0.1)
    assert keep.tolist() == [0, 1] and kept[1] == pytest.approx(0.18)


@pytest.mark.parametrize("method", ["hard", "gaussian", "linear"])
def test_max_num_truncates_per_group(method):
    segs, scores, groups = random_proposals(np.random.default_rng(3), 4, 30, span=300.0, min_per_group=10)
    full = nms(segs, scores, iou_threshold=0.5, method=method, groups=groups)
    cut = nms(segs, scores, iou_threshold=0.5, method=method, groups=groups, max_num=3)
    want_k, want_s = [], []
    for g in np.unique(groups):
        sel = groups[full[0]] == g
        want_k.append(full[0][sel][:3])
        want_s.append(full[1][sel][:3])
    np.testing.assert_array_equal(cut[0], np.concatenate(want_k))
    np.testing.assert_array_equal(cut[1], np.concatenate(want_s))
    assert np.bincount(groups[cut[0]]).max() == 3


def test_output_order_groups_ascending_then_selection():
    segs = np.array([[0.0, 1.0], [10.0, 11.0], [20.0, 21.0], [30.0, 31.0]])
    keep, kept = nms(segs, np.array([0.1, 0.9, 0.5, 0.7]), iou_threshold=0.5, groups=np.array([5, -2, 5, -2]))
    assert keep.tolist() == [1, 3, 2, 0] and kept.tolist() == [0.9, 0.7, 0.5, 0.1]


def test_dtypes_and_promotion():
    segs32 = np.array([[0.0, 10.0], [0.0, 5.0]], dtype=np.float32)
    sc32 = np.array([0.9, 0.8], dtype=np.float32)
    keep, kept = nms(segs32, sc32, iou_threshold=0.5, method="gaussian")
    assert keep.dtype == np.int64 and kept.dtype == np.float32
    keep64, kept64 = nms(segs32.astype(np.float64), sc32.astype(np.float64), iou_threshold=0.5, method="gaussian")
    np.testing.assert_array_equal(keep, keep64)
    np.testing.assert_array_equal(kept, kept64.astype(np.float32))
    # Mixed dtypes are promoted; scores keep their own dtype in the output.
    keep, kept = nms(segs32, sc32.astype(np.float64), iou_threshold=0.5, method="gaussian")
    assert kept.dtype == np.float64
    np.testing.assert_array_equal(kept, kept64)
    # Any integer dtype works for groups.
    assert nms(segs32, sc32, iou_threshold=0.5, groups=np.array([0, 1], np.int8))[0].tolist() == [0, 1]


def test_non_contiguous_inputs():
    segs, scores, groups = random_proposals(np.random.default_rng(11), 3, 20, span=40.0)
    wide = np.zeros((len(scores), 4))
    wide[:, ::2] = segs
    sc2 = np.zeros(2 * len(scores))
    sc2[::2] = scores
    g2 = np.zeros(2 * len(groups), np.int64)
    g2[::2] = groups
    a = nms(wide[:, ::2], sc2[::2], groups=g2[::2], iou_threshold=0.4, method="gaussian")
    b = nms(segs, scores, groups=groups, iou_threshold=0.4, method="gaussian")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_lists_are_accepted():
    keep, kept = nms([[0, 10], [0, 5]], [0.9, 0.8], iou_threshold=0.5)
    assert keep.tolist() == [0] and kept.tolist() == [0.9]


def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    segs = torch.tensor([[0.0, 10.0], [0.0, 5.0], [20.0, 30.0]])
    sc = torch.tensor([0.9, 0.8, 0.7])
    keep, kept = nms(segs, sc, iou_threshold=0.5, groups=torch.tensor([0, 0, 1]))
    assert isinstance(keep, torch.Tensor) and keep.dtype == torch.int64
    assert isinstance(kept, torch.Tensor) and kept.dtype == torch.float32
    assert keep.tolist() == [0, 2]
    # A torch tensor among numpy arrays also returns torch.
    keep, _ = nms(segs.numpy(), sc, iou_threshold=0.5)
    assert isinstance(keep, torch.Tensor)


def test_argument_checks_name_the_argument():
    segs = np.array([[0.0, 1.0], [2.0, 3.0]])
    sc = np.array([0.5, 0.4])
    ok = dict(iou_threshold=0.5)
    cases = [
        (ValueError, "segments must have shape", dict(segments=np.zeros((2, 3)))),
        (ValueError, "segments must be 2-D", dict(segments=np.zeros(4))),
        (TypeError, "segments must be float32 or float64", dict(segments=np.zeros((2, 2), np.int64))),
        (ValueError, r"scores must have shape \[2\]", dict(scores=np.zeros(3))),
        (ValueError, "scores must be 1-D", dict(scores=np.zeros((2, 1)))),
        (TypeError, "scores must be float32 or float64", dict(scores=np.zeros(2, np.int32))),
        (TypeError, "groups must be an integer array", dict(groups=np.zeros(2))),
        (TypeError, "groups must be an integer array", dict(groups=np.zeros(2, bool))),
        (ValueError, r"groups must have shape \[2\]", dict(groups=np.zeros(3, np.int64))),
        (ValueError, "iou_threshold must be <= 1", dict(iou_threshold=1.5)),
        (ValueError, "iou_threshold must be >= 0", dict(iou_threshold=-0.1)),
        (ValueError, "iou_threshold must be finite", dict(iou_threshold=np.nan)),
        (TypeError, "iou_threshold must be a number", dict(iou_threshold="0.5")),
        (ValueError, "method must be one of", dict(method="soft")),
        (ValueError, "overlap must be one of", dict(overlap="giou")),
        (ValueError, "sigma must be > 0", dict(sigma=0.0)),
        (ValueError, "min_score must be finite", dict(min_score=np.nan)),
        (ValueError, "max_num must be >= 1", dict(max_num=0)),
        (TypeError, "max_num must be an integer", dict(max_num=2.0)),
        (TypeError, "suppress_equal must be a bool", dict(suppress_equal=1)),
        (TypeError, "always_keep_top must be a bool", dict(always_keep_top="yes")),
        (ValueError, "length_eps must be >= 0", dict(length_eps=-1e-6)),
        (ValueError, "length_eps applies to overlap='iou' only", dict(length_eps=1e-6, overlap="plus_one")),
    ]
    for exc, msg, override in cases:
        args = dict(segments=segs, scores=sc, **ok)
        args.update(override)
        with pytest.raises(exc, match=msg):
            nms(args.pop("segments"), args.pop("scores"), **args)


# ----------------------------------------------------------------------------------------------------
# CUDA path == CPU path (skipped without a GPU)
# ----------------------------------------------------------------------------------------------------


def _cuda(*xs):
    import torch

    return [None if x is None else torch.as_tensor(x).cuda() for x in xs]


def _compare_cuda_cpu(segs, scores, groups, **kw):
    import torch

    want = nms(segs, scores, groups=groups, **kw)
    d_segs, d_scores, d_groups = _cuda(segs, scores, groups)
    keep, kept = nms(d_segs, d_scores, groups=d_groups, **kw)
    assert keep.is_cuda and kept.is_cuda and keep.dtype == torch.int64 and kept.dtype == d_scores.dtype
    np.testing.assert_array_equal(keep.cpu().numpy(), want[0])
    np.testing.assert_allclose(kept.cpu().numpy(), want[1], rtol=1e-6, atol=0)


def _emulated_kernel(segs, sc, order, sorted_groups, o, scratch, alive, keep_buf, score_buf, valid):
    """The output contract of csrc/cuda/nms.cu on CPU tensors: each group is the run of equal ids in
    `sorted_groups` (or everything), and slot `first + r` of that run receives the group's r-th selection
    (input index, final score, valid = 1). The selections themselves come from the reference."""
    names = {0: "hard", 1: "gaussian", 2: "linear"}
    overlaps = {0: "iou", 1: "plus_one", 2: "inter_over_other"}
    n = int(segs.shape[0])
    ids = np.zeros(n, np.int64) if sorted_groups is None else sorted_groups.numpy()
    order = order.numpy()
    first = 0
    while first < n:
        last = first + 1
        while last < n and ids[last] == ids[first]:
            last += 1
        run, run_scores = order[first:last], sc.double().numpy()[order[first:last]]
        # The kernel relies on each run being in greedy order (score desc, index asc) and runs ascending.
        assert all(run_scores[r] > run_scores[r + 1] or (run_scores[r] == run_scores[r + 1] and run[r] < run[r + 1])
                   for r in range(len(run) - 1))
        assert first == 0 or ids[first] > ids[first - 1]
        members = np.sort(run)  # input order, so the reference's ties go by input index
        k, s = _reference_nms(segs.double().numpy()[members], sc.double().numpy()[members],
                              iou_threshold=o["iou_threshold"], method=names[o["method"]], sigma=o["sigma"],
                              min_score=o["min_score"], max_num=o["max_num"] or None,
                              overlap=overlaps[o["overlap"]], suppress_equal=o["suppress_equal"],
                              always_keep_top=o["always_keep_top"], length_eps=o["length_eps"])
        for r, (kk, ss) in enumerate(zip(k, s)):
            keep_buf[first + r] = int(members[kk])
            score_buf[first + r] = ss
            valid[first + r] = 1
        first = last


@given(seed=seeds, method=st.sampled_from(["hard", "gaussian", "linear"]), ties=st.booleans(),
       grouped=st.booleans(), dtype=st.sampled_from(["float32", "float64"]))
def test_cuda_wrapper_plumbing_on_cpu(seed, method, ties, grouped, dtype):
    # The torch side of the CUDA path (greedy sort order, group runs, compaction, validation, dtypes),
    # checked without a GPU by swapping the kernel launch for an emulation of its output contract.
    torch = pytest.importorskip("torch")
    import wtal.ops._nms_cuda as cuda_path

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cuda_path, "_launch", _emulated_kernel)
        _check_plumbing(torch, cuda_path, seed, method, ties, grouped, dtype)


def _check_plumbing(torch, cuda_path, seed, method, ties, grouped, dtype):
    rng = np.random.default_rng(seed)
    segs, scores, groups = random_proposals(rng, 4, 12, span=30.0)
    if ties:
        segs, scores = np.round(segs), np.round(scores * 3) / 3
    groups = groups * 3 - 4 if grouped else None
    kw = dict(method=method, iou_threshold=0.3, sigma=0.5, min_score=0.2, max_num=4, suppress_equal=True,
              always_keep_top=bool(seed % 2), overlap="plus_one", length_eps=0.0)
    want = nms(segs.astype(dtype), scores.astype(dtype), groups=groups, **kw)
    t = getattr(torch, dtype)
    options = dict(kw, method={"hard": 0, "gaussian": 1, "linear": 2}[method], overlap=1, max_num=4)
    keep, kept = cuda_path._run(torch.tensor(segs, dtype=t), torch.tensor(scores, dtype=t),
                                None if groups is None else torch.tensor(groups), t, options)
    assert keep.dtype == torch.int64 and kept.dtype == t
    np.testing.assert_array_equal(keep.numpy(), want[0])
    np.testing.assert_array_equal(kept.numpy(), want[1])
    if len(segs):
        bad = torch.tensor(segs, dtype=t)
        bad[0] = torch.tensor([2.0, 1.0])
        with pytest.raises(ValueError, match="start <= end"):
            cuda_path._run(bad, torch.tensor(scores, dtype=t), None, t, options)


@pytest.mark.cuda
@given(seed=seeds, method=st.sampled_from(["hard", "gaussian", "linear"]),
       overlap=st.sampled_from(["iou", "plus_one", "inter_over_other"]),
       min_score=st.sampled_from([None, 0.05, 0.5]), max_num=st.sampled_from([None, 1, 7]),
       always_keep_top=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]))
def test_cuda_matches_cpu_random(seed, method, overlap, min_score, max_num, always_keep_top, dtype):
    segs, scores, groups = random_proposals(np.random.default_rng(seed), 12, 60, span=80.0)
    _compare_cuda_cpu(segs.astype(dtype), scores.astype(dtype), groups, method=method, overlap=overlap,
                      iou_threshold=0.4, sigma=0.5, min_score=min_score, max_num=max_num,
                      always_keep_top=always_keep_top)


@pytest.mark.cuda
@given(case=nms_cases())
def test_cuda_matches_cpu_ties_and_thresholds(case):
    segs, scores, groups, kwargs = case
    _compare_cuda_cpu(segs, scores, groups, **kwargs)


@pytest.mark.cuda
@pytest.mark.parametrize("preset", sorted(NMS_PRESETS))
def test_cuda_presets(preset):
    snippets = preset.startswith("facnet")
    segs, scores, groups = random_proposals(np.random.default_rng(5), 40, 300, span=300.0, snippets=snippets)
    _compare_cuda_cpu(segs, scores, groups, **nms_settings(preset))


@pytest.mark.cuda
def test_cuda_large_single_group_and_empty():
    segs, scores, _ = random_proposals(np.random.default_rng(9), 1, 5000, span=2000.0, min_per_group=4000)
    for method in ("hard", "gaussian"):
        _compare_cuda_cpu(segs, scores, None, method=method, iou_threshold=0.5, min_score=0.001)
    _compare_cuda_cpu(np.zeros((0, 2)), np.zeros(0), None, iou_threshold=0.5)
    _compare_cuda_cpu(np.zeros((0, 2)), np.zeros(0), np.zeros(0, np.int64), iou_threshold=0.5)
    _compare_cuda_cpu(np.array([[1.0, 2.0]]), np.array([0.5]), None, iou_threshold=0.5, method="gaussian")


@pytest.mark.cuda
def test_cuda_validation():
    import torch

    segs = torch.tensor([[0.0, 1.0], [2.0, 3.0]], device="cuda")
    with pytest.raises(ValueError, match="scores must be finite"):
        nms(segs, torch.tensor([0.5, float("nan")], device="cuda"), iou_threshold=0.5)
    with pytest.raises(ValueError, match="start <= end"):
        nms(torch.tensor([[0.0, 1.0], [3.0, 2.0]], device="cuda"), torch.tensor([0.5, 0.4], device="cuda"),
            iou_threshold=0.5)
    with pytest.raises(ValueError, match="same device"):
        nms(segs, torch.tensor([0.5, 0.4]), iou_threshold=0.5)
    with pytest.raises(TypeError, match="groups must be an integer"):
        nms(segs, torch.tensor([0.5, 0.4], device="cuda"), groups=torch.zeros(2, device="cuda"),
            iou_threshold=0.5)


@given(seed=seeds, method=st.sampled_from(["hard", "gaussian", "linear"]),
       overlap=st.sampled_from(["iou", "plus_one", "inter_over_other"]))
def test_kept_order_score_sorts_each_group_by_final_score(seed, method, overlap):
    # Negative and quantized scores: the soft decay raises negative scores (selection order differs
    # from score order) and exact ties must keep the selection order.
    rng = np.random.default_rng(seed)
    segs, scores, groups = random_proposals(rng, 6, 30, span=40.0)
    scores = np.round((scores - 0.5) * 8) / 8
    kw = dict(method=method, overlap=overlap, iou_threshold=0.4, sigma=0.5, groups=groups)
    keep, kept = nms(segs, scores, **kw)
    want_k, want_s = [], []
    g = groups[keep]
    for gid in np.unique(g):                      # group ids ascend in the output
        idx = np.flatnonzero(g == gid)
        o = idx[np.argsort(-kept[idx], kind="stable")]
        want_k.append(keep[o])
        want_s.append(kept[o])
    got_k, got_s = nms(segs, scores, kept_order="score", **kw)
    np.testing.assert_array_equal(got_k, np.concatenate(want_k) if want_k else keep)
    np.testing.assert_array_equal(got_s, np.concatenate(want_s) if want_s else kept)
    # the torch twin used for CUDA outputs gives the same order
    import torch
    from wtal.ops.nms import _order_by_score

    tk, ts = _order_by_score(torch.from_numpy(keep), torch.from_numpy(kept), torch.from_numpy(groups))
    np.testing.assert_array_equal(tk.numpy(), got_k)
    np.testing.assert_array_equal(ts.numpy(), got_s)


def test_kept_order_is_checked():
    with pytest.raises(ValueError, match="kept_order"):
        nms(np.zeros((1, 2)), np.zeros(1), iou_threshold=0.5, kept_order="time")
