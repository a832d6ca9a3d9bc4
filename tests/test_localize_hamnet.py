"""wtal.localize.localize_hamnet against the plain-Python HAM-Net oracle (tests/localize_oracles.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import localize_oracles as O
from wtal.localize import Detections, HamNetLocalizeConfig, localize_hamnet

THR = np.linspace(0.1, 0.9, 10)


def _batch(seed: int, B: int, C: int, lengths, att_mode: str, cas_mode: str, dtype=np.float64):
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, dtype=np.int64)
    T = int(lengths.max()) + int(rng.integers(0, 3))
    if cas_mode == "grid":        # multiples of 1/8: exact sums, exact ties between segments
        cas = rng.integers(-24, 25, size=(B, T, C + 1)) / 8.0
    else:
        cas = rng.normal(0.0, 2.0, size=(B, T, C + 1))
    if att_mode == "continuous":
        att = rng.random((B, T))
    elif att_mode == "smooth":
        att = 1 / (1 + np.exp(-2 * O.smooth_noise(rng, B, T, 2.0)))
    elif att_mode == "thresholds":  # values exactly at the thresholds (strict >), 0 and 1
        att = rng.choice(np.concatenate([THR, [0.0, 1.0]]), size=(B, T))
    elif att_mode == "below":
        att = rng.uniform(0.0, 0.1, size=(B, T))
    elif att_mode == "above":       # runs touch both ends at every threshold
        att = rng.uniform(0.91, 1.0, size=(B, T))
    elif att_mode == "index0":      # only index 0 above: the authors' `if temp_list.any()` drops it
        att = np.full((B, T), 0.05)
        att[:, 0] = 0.95
    else:
        raise ValueError(att_mode)
    cas = O.pad_tail(cas, lengths, 0.0)
    att = O.pad_tail(att, lengths, 0.0)
    return cas.astype(dtype), att.astype(dtype), lengths


def _run(cas, att, lengths, *, sps=0.64, config=HamNetLocalizeConfig()):
    B, _, K = cas.shape
    videos, classes = O.names(B, K - 1)
    det = localize_hamnet(cas, att, lengths, videos=videos, classes=classes, seconds_per_snippet=sps,
                          config=config)
    info: dict = {}
    rows = O.hamnet_oracle(cas, att, lengths, videos, classes, sps, rat=config.ratio,
                           class_threshold=config.class_threshold, thresholds=config.thresholds,
                           gamma=config.gamma, sigma=config.sigma, info=info)
    if info["tie_sensitive"]:
        # Exact score ties between different segments: the authors' swap-permuted argmax may select
        # another one first; wtal selects the earlier (documented). Compare with the stable oracle.
        rows = O.hamnet_oracle(cas, att, lengths, videos, classes, sps, rat=config.ratio,
                               class_threshold=config.class_threshold, thresholds=config.thresholds,
                               gamma=config.gamma, sigma=config.sigma, tie_break="stable")
    return det, rows, videos, classes, info["tie_sensitive"]


@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 6), C=st.integers(1, 5),
       lens=st.lists(st.integers(1, 40), min_size=6, max_size=6),
       att_mode=st.sampled_from(["continuous", "smooth", "thresholds", "below", "above", "index0"]),
       cas_mode=st.sampled_from(["normal", "grid"]))
def test_matches_oracle(seed, B, C, lens, att_mode, cas_mode):
    cas, att, lengths = _batch(seed, B, C, lens[:B], att_mode, cas_mode)
    det, rows, videos, classes, _ = _run(cas, att, lengths)
    O.assert_same_detections(det, rows)
    O.assert_canonical_order(det, videos, classes)


@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 4), ratio=st.sampled_from([1, 3, 10, 20]),
       sps=st.floats(0.01, 5.0))
def test_matches_oracle_config_and_float32(seed, B, ratio, sps):
    cas, att, lengths = _batch(seed, B, 3, np.random.default_rng(seed).integers(1, 50, B), "smooth",
                               "normal", dtype=np.float32)
    det, rows, *_ = _run(cas, att, lengths, sps=sps, config=HamNetLocalizeConfig(ratio=ratio, gamma=0.5))
    O.assert_same_detections(det, rows)


def test_realistic_batch_matches_oracle_exactly():
    lengths = np.array([24, 400, 97, 1000, 5, 333])
    cas, att = O.make_hamnet_batch(lengths, 20, seed=3)
    det, rows, videos, classes, tie = _run(cas, att, lengths)
    assert not tie and len(det) > 100
    O.assert_same_detections(det, rows)


def test_per_video_seconds_per_snippet():
    cas, att, lengths = _batch(1, 3, 2, [30, 12, 25], "smooth", "normal")
    sps = np.array([0.64, 0.5, 1.0])
    det, rows, *_ = _run(cas, att, lengths, sps=sps)
    O.assert_same_detections(det, rows)
    assert len(det) > 0


def test_length_one_videos():
    cas, att, lengths = _batch(2, 4, 3, [1, 1, 1, 1], "above", "normal")
    det, rows, *_ = _run(cas, att, lengths)
    O.assert_same_detections(det, rows)
    assert len(det) == 0   # a length-1 video's only run is index 0: the authors' any() drops it
    videos, classes = O.names(4, 3)
    det = localize_hamnet(cas, att, lengths, videos=videos, classes=classes, seconds_per_snippet=0.64,
                          config=HamNetLocalizeConfig(drop_index0_only=False))
    assert len(det) > 0 and np.all(det.t_start == 0.0) and np.all(det.t_end == 0.64)


def test_index0_only_quirk_and_option():
    cas, att, lengths = _batch(3, 2, 2, [10, 10], "index0", "normal")
    cas[:, :, 0] = 5.0  # class 0 surely selected
    det, rows, *_ = _run(cas, att, lengths)
    assert len(det) == 0 and rows == []
    B, _, K = cas.shape
    videos, classes = O.names(B, K - 1)
    kept = localize_hamnet(cas, att, lengths, videos=videos, classes=classes, seconds_per_snippet=0.64,
                           config=HamNetLocalizeConfig(drop_index0_only=False))
    assert len(kept) > 0 and set(kept.t_start) == {0.0}


def test_index0_run_is_kept_when_other_runs_exist():
    cas, att, lengths = _batch(4, 1, 1, [8], "index0", "normal")
    att[0, 5] = 0.95
    cas[:, :, 0] = 5.0
    det, rows, *_ = _run(cas, att, lengths)
    O.assert_same_detections(det, rows)
    assert 0.0 in set(det.t_start)


def test_no_class_above_threshold_gives_nothing():
    cas, att, lengths = _batch(5, 2, 4, [20, 20], "smooth", "normal")
    cas[:] = 0.0  # uniform softmax 1/5 = 0.2 >= 0.2 -> selected; lower the classes below it
    cas[:, :, -1] = 1.0
    det, rows, *_ = _run(cas, att, lengths)
    assert len(det) == 0 and rows == []


def test_documented_tie_departure():
    # Equal proposal scores of different segments: the repository's swap-permuted argmax selects in
    # another order than wtal's stable choice, which changes the decayed scores. wtal equals the stable
    # oracle (documented in wtal.localize.hamnet).
    att = np.array([[0.05, 0.05, 0.5, 0.05, 0.5, 0.05, 0.05, 0.5]])
    cas = np.zeros((1, 8, 2))
    cas[0, :, 0] = [4.0, 6.0, 4.0, 6.0, 4.0, 6.0, 5.0, 6.0]
    videos, classes = O.names(1, 1)
    det = localize_hamnet(cas, att, [8], videos=videos, classes=classes, seconds_per_snippet=0.64)
    stable = O.hamnet_oracle(cas, att, [8], videos, classes, 0.64, tie_break="stable")
    authors = O.hamnet_oracle(cas, att, [8], videos, classes, 0.64)
    O.assert_same_detections(det, stable)
    assert sorted(stable) != sorted(authors)   # the case really is tie-sensitive


def test_nan_raises_naming_input_but_padding_may_hold_nan():
    cas, att, lengths = _batch(6, 2, 2, [10, 6], "smooth", "normal")
    videos, classes = O.names(2, 2)
    kw = dict(videos=videos, classes=classes, seconds_per_snippet=0.64)
    c2 = cas.copy()
    c2[1, 3, 1] = np.nan
    with pytest.raises(ValueError, match="cas"):
        localize_hamnet(c2, att, lengths, **kw)
    a2 = att.copy()
    a2[0, 9] = np.nan
    with pytest.raises(ValueError, match="attention"):
        localize_hamnet(cas, a2, lengths, **kw)
    c3, a3 = cas.copy(), att.copy()
    c3[1, 6:] = np.nan
    a3[1, 6:] = np.nan
    O.assert_same_detections(localize_hamnet(c3, a3, lengths, **kw),
                             O.rows_of(localize_hamnet(cas, att, lengths, **kw)))


def test_inf_raises_naming_input():
    cas, att, lengths = _batch(6, 2, 2, [10, 6], "smooth", "normal")
    videos, classes = O.names(2, 2)
    c2 = cas.copy()
    c2[0, 2, 0] = np.inf
    with pytest.raises(ValueError, match="cas contains NaN or inf"):
        localize_hamnet(c2, att, lengths, videos=videos, classes=classes, seconds_per_snippet=0.64)


@pytest.mark.parametrize("thresholds", [(-1.0, -0.5), (1.0, 2.0), (0.5,), (-1.0, 0.5, 2.0)])
def test_thresholds_outside_the_signal_range(thresholds):
    # Documented result: a threshold below every value gives one whole-video run, above every value
    # gives none (attention lies in [0, 1]).
    cas, att, lengths = _batch(10, 3, 2, [12, 1, 30], "continuous", "normal")
    det, rows, *_ = _run(cas, att, lengths, config=HamNetLocalizeConfig(thresholds=thresholds))
    O.assert_same_detections(det, rows)
    if thresholds == (1.0, 2.0):
        assert len(det) == 0
    if thresholds == (-1.0, -0.5):
        assert set(zip(det.video, det.t_start, det.t_end)) <= {
            (v, 0.0, float(n) * 0.64) for v, n in zip(O.names(3, 2)[0], lengths)}


def test_bad_inputs():
    cas, att, lengths = _batch(7, 2, 2, [10, 6], "smooth", "normal")
    videos, classes = O.names(2, 2)
    kw = dict(videos=videos, classes=classes, seconds_per_snippet=0.64)
    with pytest.raises(TypeError, match="cas"):
        localize_hamnet(cas.astype(np.int64), att, lengths, **kw)
    with pytest.raises(ValueError, match="cas"):
        localize_hamnet(cas[0], att, lengths, **kw)
    with pytest.raises(ValueError, match="attention"):
        localize_hamnet(cas, att[:, :5], lengths, **kw)
    with pytest.raises(ValueError, match="lengths"):
        localize_hamnet(cas, att, [cas.shape[1] + 1, 6], **kw)
    with pytest.raises(ValueError, match="lengths"):
        localize_hamnet(cas, att, [0, 6], **kw)
    with pytest.raises(ValueError, match="lengths"):
        localize_hamnet(cas, att, [10], **kw)
    with pytest.raises(TypeError, match="lengths"):
        localize_hamnet(cas, att, np.array([10.0, 6.0]), **kw)
    with pytest.raises(ValueError, match="videos"):
        localize_hamnet(cas, att, lengths, videos=["a"], classes=classes, seconds_per_snippet=0.64)
    with pytest.raises(ValueError, match="classes"):
        localize_hamnet(cas, att, lengths, videos=videos, classes=["a", "b", "c"], seconds_per_snippet=0.64)
    with pytest.raises(ValueError, match="seconds_per_snippet"):
        localize_hamnet(cas, att, lengths, videos=videos, classes=classes, seconds_per_snippet=0.0)
    with pytest.raises(ValueError, match="seconds_per_snippet"):
        localize_hamnet(cas, att, lengths, videos=videos, classes=classes, seconds_per_snippet=[1, 2, 3])
    with pytest.raises(ValueError, match="config.sigma"):
        localize_hamnet(cas, att, lengths, **kw, config=HamNetLocalizeConfig(sigma=0.0))
    with pytest.raises(TypeError, match="config"):
        localize_hamnet(cas, att, lengths, **kw, config={"ratio": 10})


def test_non_contiguous_and_torch_inputs_agree():
    torch = pytest.importorskip("torch")
    cas, att, lengths = _batch(8, 3, 3, [15, 30, 22], "smooth", "normal")
    videos, classes = O.names(3, 3)
    kw = dict(videos=videos, classes=classes, seconds_per_snippet=0.64)
    ref = localize_hamnet(cas, att, lengths, **kw)
    wide = np.zeros((3, cas.shape[1] * 2, 4))
    wide[:, ::2] = cas
    aw = np.zeros((3, cas.shape[1] * 2))
    aw[:, ::2] = att
    nc = localize_hamnet(wide[:, ::2], aw[:, ::2], lengths, **kw)
    th = localize_hamnet(torch.from_numpy(cas), torch.from_numpy(att), torch.from_numpy(lengths), **kw)
    for other in (nc, th):
        assert O.rows_of(other) == O.rows_of(ref)


def test_write_results_json_reads_back(tmp_path):
    cas, att, lengths = _batch(9, 3, 2, [25, 10, 30], "smooth", "normal")
    videos, classes = O.names(3, 2)
    det = localize_hamnet(cas, att, lengths, videos=videos, classes=classes, seconds_per_snippet=0.64)
    assert len(det) > 0
    path = tmp_path / "sub" / "results.json"
    det.write(path, version="wtal-test")
    data = json.loads(path.read_text())
    assert data["version"] == "wtal-test" and data["external_data"] == {}
    back = Detections.from_results_json(str(path))
    assert O.rows_of(back) == O.rows_of(det)


def test_torch_paths_on_cpu(monkeypatch):
    # The torch top-k and ordering code that CUDA tensors take, run on CPU tensors.
    import wtal.localize._common as common
    import wtal.localize.hamnet as hamnet

    monkeypatch.setattr(hamnet, "_NUMPY_TOPK_ON_CPU", False)
    monkeypatch.setattr(common, "_NUMPY_ORDER_ON_CPU", False)
    for seed in range(3):
        cas, att, lengths = _batch(seed, 5, 4, [1, 17, 40, 3, 29], "smooth", "normal")
        det, rows, videos, classes, _ = _run(cas, att, lengths)
        O.assert_same_detections(det, rows)
        O.assert_canonical_order(det, videos, classes)


def test_packed_and_bucketed_oic_paths_agree_exactly(monkeypatch):
    # CPU tensors score every proposal in one packed (CSR) oic_scores call; CUDA tensors use padded
    # length buckets. Both read the same float64 products and windows: identical detections.
    import wtal.localize.hamnet as hamnet

    lengths = np.array([1, 24, 400, 97, 1000, 5, 333, 2, 61])
    cas, att = O.make_hamnet_batch(lengths, 20, seed=3)
    videos, classes = [f"v{i}" for i in range(len(lengths))], [f"c{i}" for i in range(20)]
    kw = dict(videos=videos, classes=classes, seconds_per_snippet=16 / 25)
    packed = localize_hamnet(cas, att, lengths, **kw)
    monkeypatch.setattr(hamnet, "_IN_PLACE_OIC_ON_CPU", False)
    bucketed = localize_hamnet(cas, att, lengths, **kw)
    assert len(packed) > 50
    for col in ("video", "label", "t_start", "t_end", "score"):
        np.testing.assert_array_equal(getattr(packed, col), getattr(bucketed, col))


@pytest.mark.cuda
def test_cuda_matches_cpu():
    torch = pytest.importorskip("torch")
    lengths = np.array([24, 400, 97, 1000, 5, 333, 1, 2])
    cas, att = O.make_hamnet_batch(lengths, 20, seed=11)
    videos, classes = O.names(len(lengths), 20)
    kw = dict(videos=videos, classes=classes, seconds_per_snippet=0.64)
    cpu = localize_hamnet(cas, att, lengths, **kw)
    gpu = localize_hamnet(torch.from_numpy(cas).cuda(), torch.from_numpy(att).cuda(),
                          torch.from_numpy(lengths).cuda(), **kw)
    assert len(cpu) > 100
    O.assert_same_detections(gpu, O.rows_of(cpu))
    O.assert_canonical_order(gpu, videos, classes)


def test_empty_batch():
    det = localize_hamnet(np.zeros((0, 5, 3)), np.zeros((0, 5)), np.zeros(0, dtype=np.int64), videos=[],
                          classes=["a", "b"], seconds_per_snippet=0.64)
    assert len(det) == 0 and det.to_results_json()["results"] == {}
