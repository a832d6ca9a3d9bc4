"""wtal.localize.localize_bm against the plain-Python BM/DGAM oracle (tests/localize_oracles.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import localize_oracles as O
from wtal.localize import BMLocalizeConfig, Detections, localize_bm

ANET = dict(alpha_rgb=0.5, alpha_flow=0.5, threshold_rgb=0.01, threshold_flow=0.01, smooth_sigma=25.0)


def _batch(seed, B, C, lengths, att_mode="uniform", vs_mode="mixed"):
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, dtype=np.int64)
    T = int(lengths.max()) + int(rng.integers(0, 3))
    tr, tf = rng.normal(-1.0, 2.0, (B, T, C)), rng.normal(-1.0, 2.0, (B, T, C))
    if att_mode == "smooth":
        ar = 1 / (1 + np.exp(-2 * O.smooth_noise(rng, B, T, 2.0)))
        af = 1 / (1 + np.exp(-2 * O.smooth_noise(rng, B, T, 2.0)))
    elif att_mode == "zero":        # everything below the thresholds
        ar, af = np.zeros((B, T)), np.zeros((B, T))
    elif att_mode == "one":         # everything above: runs touch both ends
        ar, af = np.ones((B, T)), np.ones((B, T))
        tr, tf = tr + 10, tf + 10
    else:
        ar, af = rng.random((B, T)), rng.random((B, T))
    if vs_mode == "low":            # nothing above 0.1: argmax fallback
        vr, vf = rng.uniform(0, 0.1, (B, C)), rng.uniform(0, 0.1, (B, C))
    elif vs_mode == "class0":       # only class 0 predicted: the authors' pred.any() drops the stream
        vr, vf = np.zeros((B, C)), rng.uniform(0, 0.3, (B, C))
        vr[:, 0] = 0.5
    else:
        vr, vf = rng.uniform(0, 0.3, (B, C)), rng.uniform(0, 0.3, (B, C))
    tr, tf = O.pad_tail(tr, lengths, 0.0), O.pad_tail(tf, lengths, 0.0)
    ar, af = O.pad_tail(ar, lengths, 0.0), O.pad_tail(af, lengths, 0.0)
    return tr, ar, vr, tf, af, vf, lengths


def _compare(inputs, *, anet=False, sps=0.64):
    tr, ar, vr, tf, af, vf, lengths = inputs
    B, _, C = tr.shape
    videos, classes = O.names(B, C)
    cfg = BMLocalizeConfig.activitynet() if anet else BMLocalizeConfig()
    det = localize_bm(tr, ar, vr, tf, af, vf, lengths, videos=videos, classes=classes,
                      seconds_per_snippet=sps, config=cfg)
    rows = O.bm_oracle(tr, ar, vr, tf, af, vf, lengths, videos, classes, sps, **(ANET if anet else {}))
    O.assert_same_detections(det, rows)
    O.assert_canonical_order(det, videos, classes)
    return det


@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 6), C=st.integers(1, 5),
       lens=st.lists(st.integers(1, 30), min_size=6, max_size=6),
       att_mode=st.sampled_from(["uniform", "smooth", "zero", "one"]),
       vs_mode=st.sampled_from(["mixed", "low", "class0"]))
def test_matches_oracle(seed, B, C, lens, att_mode, vs_mode):
    _compare(_batch(seed, B, C, lens[:B], att_mode, vs_mode))


@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 3), C=st.integers(1, 3),
       lens=st.lists(st.integers(1, 30), min_size=3, max_size=3))
def test_matches_oracle_activitynet_smoothing(seed, B, C, lens):
    _compare(_batch(seed, B, C, lens[:B], "smooth"), anet=True)


def test_realistic_batch_fusion_and_per_video_seconds():
    inputs = _batch(2, 5, 6, [50, 400, 120, 7, 260], "smooth")
    det = _compare(inputs, sps=np.array([0.64, 0.5, 1.0, 0.64, 2.0]))
    assert len(det) > 20


def test_class0_quirk_and_option():
    tr, ar, vr, tf, af, vf, lengths = _batch(3, 2, 3, [20, 20], "one", "class0")
    vf[:] = 0.0
    vf[:, 0] = 0.5      # both streams predict class 0 only: nothing at all
    videos, classes = O.names(2, 3)
    kw = dict(videos=videos, classes=classes, seconds_per_snippet=0.64)
    assert len(localize_bm(tr, ar, vr, tf, af, vf, lengths, **kw)) == 0
    assert O.bm_oracle(tr, ar, vr, tf, af, vf, lengths, videos, classes, 0.64) == []
    kept = localize_bm(tr, ar, vr, tf, af, vf, lengths, **kw, config=BMLocalizeConfig(drop_class0_only=False))
    assert len(kept) > 0 and set(kept.label) == {"class_0"}


def test_nan_and_bad_inputs():
    tr, ar, vr, tf, af, vf, lengths = _batch(4, 2, 2, [10, 6])
    videos, classes = O.names(2, 2)
    kw = dict(videos=videos, classes=classes, seconds_per_snippet=0.64)
    a2 = af.copy()
    a2[1, 5] = np.nan
    with pytest.raises(ValueError, match="attention_flow"):
        localize_bm(tr, ar, vr, tf, a2, vf, lengths, **kw)
    t2 = tr.copy()
    t2[0, 0, 1] = np.nan
    with pytest.raises(ValueError, match="tcam_rgb"):
        localize_bm(t2, ar, vr, tf, af, vf, lengths, **kw)
    v2 = vf.copy()
    v2[0, 0] = np.nan
    with pytest.raises(ValueError, match="video_scores_flow"):
        localize_bm(tr, ar, vr, tf, af, v2, lengths, **kw)
    t3 = tf.copy()
    t3[1, 6:] = np.nan   # padding only
    O.assert_same_detections(localize_bm(tr, ar, vr, t3, af, vf, lengths, **kw),
                             O.rows_of(localize_bm(tr, ar, vr, tf, af, vf, lengths, **kw)))
    with pytest.raises(ValueError, match="attention_rgb"):
        localize_bm(tr, ar[:, :3], vr, tf, af, vf, lengths, **kw)
    with pytest.raises(ValueError, match="video_scores_rgb"):
        localize_bm(tr, ar, vr[:, :1], tf, af, vf, lengths, **kw)
    with pytest.raises(TypeError, match="tcam_flow"):
        localize_bm(tr, ar, vr, tf.astype(int), af, vf, lengths, **kw)
    with pytest.raises(ValueError, match="lengths"):
        localize_bm(tr, ar, vr, tf, af, vf, [0, 3], **kw)
    with pytest.raises(ValueError, match="config.fusion_iou"):
        localize_bm(tr, ar, vr, tf, af, vf, lengths, **kw, config=BMLocalizeConfig(fusion_iou=1.5))


def test_torch_input_and_write(tmp_path):
    torch = pytest.importorskip("torch")
    inputs = _batch(5, 3, 3, [30, 12, 25], "smooth")
    videos, classes = O.names(3, 3)
    kw = dict(videos=videos, classes=classes, seconds_per_snippet=0.64)
    ref = localize_bm(*inputs, **kw)
    assert O.rows_of(localize_bm(*[torch.from_numpy(x) for x in inputs], **kw)) == O.rows_of(ref)
    ref.write(tmp_path / "bm.json")
    data = json.loads((tmp_path / "bm.json").read_text())
    assert O.rows_of(Detections.from_results_json(data)) == O.rows_of(ref)


def test_torch_ordering_path_on_cpu(monkeypatch):
    import wtal.localize._common as common

    monkeypatch.setattr(common, "_NUMPY_ORDER_ON_CPU", False)
    for seed, vs_mode in enumerate(["mixed", "low", "class0"]):
        _compare(_batch(seed, 5, 4, [1, 30, 12, 25, 7], "smooth", vs_mode))


@pytest.mark.cuda
@pytest.mark.parametrize("anet", [False, True])
def test_cuda_matches_cpu(anet):
    torch = pytest.importorskip("torch")
    inputs = _batch(6, 6, 5, [50, 400, 1, 7, 260, 2], "smooth")
    videos, classes = O.names(6, 5)
    kw = dict(videos=videos, classes=classes, seconds_per_snippet=0.64,
              config=BMLocalizeConfig.activitynet() if anet else BMLocalizeConfig())
    cpu = localize_bm(*inputs, **kw)
    gpu = localize_bm(*[torch.from_numpy(x).cuda() for x in inputs], **kw)
    assert len(cpu) > 0
    O.assert_same_detections(gpu, O.rows_of(cpu))
    O.assert_canonical_order(gpu, videos, classes)


def test_empty_batch():
    z3, z2, zv = np.zeros((0, 5, 2)), np.zeros((0, 5)), np.zeros((0, 2))
    det = localize_bm(z3, z2, zv, z3, z2, zv, np.zeros(0, dtype=np.int64), videos=[], classes=["a", "b"],
                      seconds_per_snippet=0.64)
    assert len(det) == 0
