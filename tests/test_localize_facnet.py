"""wtal.localize.localize_facnet against the plain-Python FAC-Net oracle (tests/localize_oracles.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import localize_oracles as O
from wtal.localize import Detections, FacNetLocalizeConfig, localize_facnet

THR = np.arange(0.03, 0.055, 0.005)


def _stream(rng, B, T, C, mode):
    if mode == "grid":        # multiples of 1/256 (exact sums: exact score ties) around the thresholds
        cas = rng.integers(0, 21, size=(B, T, C + 1)) / 256.0
    elif mode == "thresholds":  # values exactly at the thresholds (and at 0.1x them, for RGB)
        # Half the values are continuous: with only these few non-dyadic values, different segments
        # tie in exact arithmetic and their float64 means differ in the last bit depending on the
        # summation order (wtal's compensated prefix sums vs np.mean), which is within the 1e-6
        # score tolerance but can swap the NMS order of the tied pair. "grid" covers exact ties.
        cas = rng.choice(np.concatenate([THR, THR * 0.1 / 0.1, [0.0, 0.2]]), size=(B, T, C + 1))
        cas = np.where(rng.random(cas.shape) < 0.5, cas, rng.uniform(0.0, 0.08, cas.shape))
    elif mode == "below":
        cas = rng.uniform(0.0, 0.03, size=(B, T, C + 1))
    elif mode == "above":
        cas = rng.uniform(0.0501, 0.2, size=(B, T, C + 1))
    else:
        cas = rng.uniform(0.0, 0.08, size=(B, T, C + 1))
    vs = rng.uniform(0.0, 0.3, size=(B, C + 1))
    return cas, vs


def _batch(seed, B, C, lengths, mode_rgb, mode_flow):
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, dtype=np.int64)
    T = int(lengths.max()) + int(rng.integers(0, 3))
    cr, vr = _stream(rng, B, T, C, mode_rgb)
    cf, vf = _stream(rng, B, T, C, mode_flow)
    return O.pad_tail(cr, lengths, 0.0), vr, O.pad_tail(cf, lengths, 0.0), vf, lengths


MODES = ["uniform", "grid", "thresholds", "below", "above"]


@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 6), C=st.integers(1, 5),
       lens=st.lists(st.integers(1, 40), min_size=6, max_size=6),
       mode_rgb=st.sampled_from(MODES), mode_flow=st.sampled_from(MODES),
       streams=st.sampled_from(["two", "rgb", "flow"]), units=st.sampled_from(["seconds", "snippets"]))
def test_matches_oracle(seed, B, C, lens, mode_rgb, mode_flow, streams, units):
    _check_case(seed, B, C, lens, mode_rgb, mode_flow, streams, units)


def _check_case(seed, B, C, lens, mode_rgb, mode_flow, streams, units):
    cr, vr, cf, vf, lengths = _batch(seed, B, C, lens[:B], mode_rgb, mode_flow)
    if streams == "rgb":
        cf = vf = None
    elif streams == "flow":
        cr = vr = None
    videos, classes = O.names(B, C)
    det = localize_facnet(cr, vr, cf, vf, lengths, videos=videos, classes=classes, seconds_per_snippet=0.64,
                          config=FacNetLocalizeConfig(units=units))
    rows = O.facnet_oracle(cr, vr, cf, vf, lengths, videos, classes, 0.64, units=units)
    O.assert_same_detections(det, rows)
    O.assert_canonical_order(det, videos, classes)


def test_realistic_two_stream_batch_and_fusion_happens():
    rng = np.random.default_rng(5)
    lengths = np.array([300, 40, 128, 77])
    B, C = 4, 20
    T = int(lengths.max())
    cr = 0.045 + 0.02 * O.smooth_noise(rng, B * (C + 1), T, 4.0).reshape(B, C + 1, T).transpose(0, 2, 1)
    cf = 0.045 + 0.02 * O.smooth_noise(rng, B * (C + 1), T, 4.0).reshape(B, C + 1, T).transpose(0, 2, 1)
    vr, vf = rng.uniform(0, 0.25, (B, C + 1)), rng.uniform(0, 0.25, (B, C + 1))
    videos, classes = O.names(B, C)
    det = localize_facnet(cr, vr, cf, vf, lengths, videos=videos, classes=classes, seconds_per_snippet=0.64)
    rows = O.facnet_oracle(cr, vr, cf, vf, lengths, videos, classes, 0.64)
    O.assert_same_detections(det, rows)
    # fusion really removed something: fewer than RGB + flow alone
    only_r = localize_facnet(cr, vr, None, None, lengths, videos=videos, classes=classes, seconds_per_snippet=0.64)
    only_f = localize_facnet(None, None, cf, vf, lengths, videos=videos, classes=classes, seconds_per_snippet=0.64)
    assert 0 < len(det) < len(only_r) + len(only_f)


def test_class_subset_and_ambiguous_filter():
    cr, vr, cf, vf, lengths = _batch(3, 3, 4, [40, 25, 33], "uniform", "uniform")
    videos, classes = O.names(3, 4)
    amb = {"video": [videos[0], videos[2], "not_in_batch"], "t_start": [3.1, 0.0, 1.0], "t_end": [9.7, 4.4, 2.0]}
    det = localize_facnet(cr, vr, cf, vf, lengths, videos=videos, classes=classes, seconds_per_snippet=0.64,
                          class_subset=["class_1", "class_3"], ambiguous=amb)
    rows = O.facnet_oracle(cr, vr, cf, vf, lengths, videos, classes, 0.64, class_subset=["class_1", "class_3"],
                           ambiguous={0: [(3.1, 9.7)], 2: [(0.0, 4.4)]})
    O.assert_same_detections(det, rows)
    assert set(det.label) <= {"class_1", "class_3"}
    full = localize_facnet(cr, vr, cf, vf, lengths, videos=videos, classes=classes, seconds_per_snippet=0.64,
                           class_subset=["class_1", "class_3"])
    assert len(det) < len(full)
    with pytest.raises(ValueError, match="class_subset"):
        localize_facnet(cr, vr, cf, vf, lengths, videos=videos, classes=classes, seconds_per_snippet=0.64,
                        class_subset=["nope"])


def test_video_scores_with_c_columns_and_length_one():
    cr, vr, cf, vf, lengths = _batch(4, 3, 2, [1, 1, 5], "above", "above")
    videos, classes = O.names(3, 2)
    det = localize_facnet(cr, vr[:, :2], cf, vf[:, :2], lengths, videos=videos, classes=classes,
                          seconds_per_snippet=0.64, config=FacNetLocalizeConfig(min_len=1))
    rows = O.facnet_oracle(cr, vr, cf, vf, lengths, videos, classes, 0.64, min_len=1)
    O.assert_same_detections(det, rows)
    assert any(v in ("video_000", "video_001") for v in det.video)


def test_nan_and_bad_inputs():
    cr, vr, cf, vf, lengths = _batch(6, 2, 2, [10, 6], "uniform", "uniform")
    videos, classes = O.names(2, 2)
    kw = dict(videos=videos, classes=classes, seconds_per_snippet=0.64)
    c2 = cf.copy()
    c2[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="cas_flow"):
        localize_facnet(cr, vr, c2, vf, lengths, **kw)
    v2 = vr.copy()
    v2[0, 1] = np.nan
    with pytest.raises(ValueError, match="video_scores_rgb"):
        localize_facnet(cr, v2, cf, vf, lengths, **kw)
    c3 = cr.copy()
    c3[1, 6:] = np.nan   # padding only
    O.assert_same_detections(localize_facnet(c3, vr, cf, vf, lengths, **kw),
                             O.rows_of(localize_facnet(cr, vr, cf, vf, lengths, **kw)))
    with pytest.raises(ValueError, match="at least one stream"):
        localize_facnet(None, None, None, None, lengths, **kw)
    with pytest.raises(ValueError, match="video_scores_rgb"):
        localize_facnet(cr, None, cf, vf, lengths, **kw)
    with pytest.raises(ValueError, match="cas_flow"):
        localize_facnet(cr, vr, cf[:, :5], vf, lengths, **kw)
    with pytest.raises(ValueError, match="video_scores_flow"):
        localize_facnet(cr, vr, cf, vf[:1], lengths, **kw)
    with pytest.raises(TypeError, match="cas_rgb"):
        localize_facnet(cr.astype(np.float16), vr, cf, vf, lengths, **kw)
    with pytest.raises(ValueError, match="lengths"):
        localize_facnet(cr, vr, cf, vf, [cr.shape[1] + 1, 2], **kw)
    with pytest.raises(ValueError, match="config.units"):
        localize_facnet(cr, vr, cf, vf, lengths, **kw, config=FacNetLocalizeConfig(units="frames"))


def test_torch_input_and_write(tmp_path):
    torch = pytest.importorskip("torch")
    cr, vr, cf, vf, lengths = _batch(7, 3, 3, [30, 20, 12], "uniform", "uniform")
    videos, classes = O.names(3, 3)
    kw = dict(videos=videos, classes=classes, seconds_per_snippet=0.64)
    ref = localize_facnet(cr, vr, cf, vf, lengths, **kw)
    t = [torch.from_numpy(x) for x in (cr, vr, cf, vf, lengths)]
    assert O.rows_of(localize_facnet(*t, **kw)) == O.rows_of(ref)
    ref.write(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert sum(len(v) for v in data["results"].values()) == len(ref)
    assert O.rows_of(Detections.from_results_json(data)) == O.rows_of(ref)


def test_torch_ordering_path_on_cpu(monkeypatch):
    import wtal.localize._common as common

    monkeypatch.setattr(common, "_NUMPY_ORDER_ON_CPU", False)
    for seed in range(4):
        _check_case(seed, 5, 4, [1, 30, 12, 40, 7], "uniform", "grid", ["two", "rgb", "flow", "two"][seed],
                    "seconds")


@pytest.mark.cuda
def test_cuda_matches_cpu():
    torch = pytest.importorskip("torch")
    cr, vr, cf, vf, lengths = _batch(8, 6, 5, [300, 1, 40, 77, 128, 3], "uniform", "grid")
    videos, classes = O.names(6, 5)
    kw = dict(videos=videos, classes=classes, seconds_per_snippet=0.64)
    cpu = localize_facnet(cr, vr, cf, vf, lengths, **kw)
    gpu = localize_facnet(*[torch.from_numpy(x).cuda() for x in (cr, vr, cf, vf, lengths)], **kw)
    assert len(cpu) > 0
    O.assert_same_detections(gpu, O.rows_of(cpu))
    O.assert_canonical_order(gpu, videos, classes)


def test_empty_batch():
    det = localize_facnet(np.zeros((0, 5, 3)), np.zeros((0, 3)), np.zeros((0, 5, 3)), np.zeros((0, 3)),
                          np.zeros(0, dtype=np.int64), videos=[], classes=["a", "b"], seconds_per_snippet=0.64)
    assert len(det) == 0
