"""Synthetic THUMOS-like / ActivityNet-like datasets: determinism, layout statistics, feature model."""
from __future__ import annotations

import numpy as np
import pytest

from wtal.data import DatasetError, VideoDataset, make_synthetic, quick_synthetic
from wtal.data import stats as S
from wtal.data.synthetic import FeatureModel


def _layout_stats(ds: VideoDataset, subset: str):
    idx = np.asarray(ds.indices(subset))
    a = ds.annotations
    m = np.isin(a["video"], idx)
    lengths = (a["t_end"] - a["t_start"])[m]
    counts = np.bincount(a["video"][m], minlength=len(ds))[idx]
    cover = np.bincount(a["video"][m], weights=lengths, minlength=len(ds))[idx] / ds.durations[idx]
    past = np.sum(a["t_end"][m] > ds.durations[a["video"][m]] + 1e-9)
    return dict(count_median=np.median(counts), count_mean=counts.mean(), len_q=np.percentile(lengths, [5, 50, 95]),
                dur_q=np.percentile(ds.durations[idx], [5, 50, 95]), cover_median=np.median(np.minimum(cover, 1)),
                multi=np.mean(ds.labels[idx].sum(1) > 1), past=past)


@pytest.mark.parametrize("seed", [0, 1])
def test_thumos_layout_follows_real_statistics(seed):
    ds = make_synthetic("thumos", seed)  # features are lazy: only the layout is generated here
    assert ds.num_classes == 20 and ds.classes == list(S.THUMOS14_CLASSES)
    assert ds.subsets.count("train") == 200 and ds.subsets.count("test") == 212
    assert ds.feature_dim == 2048 and ds.seconds_per_snippet == pytest.approx(0.64)
    for subset in ("train", "test"):
        s = _layout_stats(ds, subset)
        assert 5 <= s["count_median"] <= 14, s           # real: 8 / 9
        assert 9 <= s["count_mean"] <= 30, s              # real: 15.0 / 15.8
        assert 0.4 <= s["len_q"][0] <= 1.2, s             # real p5: 0.7 / 0.8 s
        assert 2.0 <= s["len_q"][1] <= 4.0, s             # real median: 2.9 / 3.2 s
        assert 6.0 <= s["len_q"][2] <= 15.0, s            # real p95: 9.7 / 11.5 s
        assert 20 <= s["dur_q"][0] <= 50 and 110 <= s["dur_q"][1] <= 210 and 450 <= s["dur_q"][2] <= 1000, s
        assert 0.15 <= s["cover_median"] <= 0.38, s       # real: 0.23 / 0.27
        assert 0.03 <= s["multi"] <= 0.3, s               # real: 0.135 / 0.16
    gt = ds.ground_truth()
    # co-occurring classes over the same span, as CliffDiving/Diving in THUMOS14
    labels_of = {}
    for v, l in zip(gt["video"], gt["label"]):
        labels_of.setdefault(v, set()).add(l)
    cliff = [ls for ls in labels_of.values() if "CliffDiving" in ls]
    assert cliff and sum("Diving" in ls for ls in cliff) >= 0.6 * len(cliff)
    assert _layout_stats(ds, "test")["past"] + _layout_stats(ds, "train")["past"] >= 1


def test_activitynet_layout_follows_real_statistics():
    ds = make_synthetic("activitynet", 0, num_videos=(600, 300), feature_dim=64)
    assert ds.num_classes == 100 and ds.train_subset == "train" and ds.test_subset == "test"
    for subset in ("train", "test"):
        s = _layout_stats(ds, subset)
        assert s["count_median"] == 1 and 1.2 <= s["count_mean"] <= 2.0, s   # real 1 / 1.5
        assert 15 <= s["len_q"][1] <= 50, s                                  # real 26-29 s
        assert 80 <= s["dur_q"][1] <= 140 and s["dur_q"][2] <= 240, s        # real 109-111 / 224
        assert 0.55 <= s["cover_median"] <= 0.85, s                          # real 0.70 / 0.72
        assert s["multi"] == 0
    assert make_synthetic("activitynet", 0, num_videos=(4, 2), num_classes=200, feature_dim=8).num_classes == 200


def test_deterministic_by_seed_and_lazy_order():
    a = quick_synthetic(7, num_videos=(8, 4))
    b = quick_synthetic(7, num_videos=(8, 4))
    for i in reversed(range(len(b))):  # generation order must not matter
        np.testing.assert_array_equal(a.features(i), b.features(i))
    for k in a.annotations:
        np.testing.assert_array_equal(a.annotations[k], b.annotations[k])
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.durations, b.durations)
    c = quick_synthetic(8, num_videos=(8, 4))
    assert not np.array_equal(a.durations, c.durations)
    # memoize=False regenerates the same numbers
    d = quick_synthetic(7, num_videos=(8, 4), memoize=False)
    np.testing.assert_array_equal(d.features(3), a.features(3))
    # more test videos do not change the train videos
    e = quick_synthetic(7, num_videos=(8, 9))
    np.testing.assert_array_equal(e.features(2), a.features(2))


def test_features_shape_dtype_modalities():
    ds = quick_synthetic(0, num_videos=(4, 2))
    assert ds.feature_dim == 256 and ds.stream_dims == (128, 128)
    for i in range(len(ds)):
        x = ds.features(i)
        assert x.dtype == np.float32 and x.shape == (ds.num_snippets(i), 256)
        assert x.shape[0] == int(np.floor(ds.durations[i] / ds.seconds_per_snippet)) or x.shape[0] == 1
        assert np.all(x >= 0) and np.isfinite(x).all()
        assert ds.durations[i] <= 120.0
    rgb, flow = ds.with_modality("rgb"), ds.with_modality("flow")
    assert rgb.feature_dim == flow.feature_dim == 128
    np.testing.assert_array_equal(rgb.features(1), ds.features(1)[:, :128])
    np.testing.assert_array_equal(flow.features(1), ds.features(1)[:, 128:])
    m = make_synthetic("thumos", 0, num_videos=(2, 1), feature_dim=32, modality="flow")
    assert m.features(0).shape[1] == 16


def test_feature_model_structure():
    """Core snippets carry the class direction more strongly than onset/offset and background."""
    ds = make_synthetic("thumos", 0, num_videos=(40, 2), max_duration=200, feature_dim=128,
                        model=FeatureModel(ar_sigma=0.1))
    X, Y = [], []
    for i in ds.indices("train"):
        X.append(ds.features(i))
        Y.append(ds.snippet_labels(i))
    X, Y = np.concatenate(X), np.concatenate(Y)
    fg = Y.max(1) > 0
    assert 0.1 < fg.mean() < 0.5
    # mean feature of each class's snippets differs from background
    for c in np.flatnonzero(Y.sum(0) > 20)[:3]:
        d = np.linalg.norm(X[Y[:, c] > 0].mean(0) - X[~fg].mean(0))
        assert d > 1.0


def test_snippet_labels_and_ground_truth():
    ds = quick_synthetic(0, num_videos=(3, 2))
    gt = ds.ground_truth("test")
    assert set(gt) == {"video", "t_start", "t_end", "label"}
    assert gt["video"].dtype == object and gt["label"].dtype == object and gt["t_start"].dtype == np.float64
    assert set(gt["video"]) <= {ds.videos[i] for i in ds.indices("test")}
    assert np.all(gt["t_end"] > gt["t_start"])
    i = ds.indices("test")[0]
    sl = ds.snippet_labels(i)
    assert sl.shape == (ds.num_snippets(i), ds.num_classes)
    np.testing.assert_array_equal(sl.max(0) > 0, ds.labels[i] > 0) if sl.max() > 0 else None


def test_three_way_split_and_argument_checks():
    ds = make_synthetic("thumos", 0, num_videos=(5, 2, 3), feature_dim=8, max_duration=60)
    assert [ds.subsets.count(s) for s in ("train", "validation", "test")] == [5, 2, 3]
    assert ds.test_subset == "test"
    with pytest.raises(DatasetError, match="subset 'nope' has no videos"):
        ds.indices("nope")
    with pytest.raises(ValueError, match="kind"):
        make_synthetic("kinetics")
    with pytest.raises(ValueError, match="feature_dim"):
        make_synthetic("thumos", feature_dim=7)
    with pytest.raises(ValueError, match="num_videos"):
        make_synthetic("thumos", num_videos=(1, 2, 3, 4))
    with pytest.raises(ValueError, match="max_duration"):
        make_synthetic("thumos", num_videos=(1, 1), min_duration=50, max_duration=10)
    with pytest.raises(ValueError, match="modality"):
        make_synthetic("thumos", num_videos=(1, 1), feature_dim=8, modality="depth")


def test_cache_round_trip(tmp_path):
    kw = dict(num_videos=(4, 3), max_duration=60.0, feature_dim=32)
    ref = make_synthetic("thumos", 5, **kw)
    cached = make_synthetic("thumos", 5, cache_dir=tmp_path, **kw)
    entries = [p for p in tmp_path.iterdir()]
    assert len(entries) == 1 and entries[0].name.startswith("synthetic-thumos-")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    again = make_synthetic("thumos", 5, cache_dir=tmp_path, modality="rgb", **kw)  # read back, no rewrite
    for ds in (cached, again):
        assert ds.videos == ref.videos and ds.subsets == ref.subsets and ds.classes == ref.classes
        assert ds.train_subset == "train" and ds.test_subset == "test"
        np.testing.assert_array_equal(ds.labels, ref.labels)
        np.testing.assert_array_equal(ds.durations, ref.durations)
        for k in ref.annotations:
            np.testing.assert_array_equal(ds.annotations[k], ref.annotations[k])
    for i in range(len(ref)):
        np.testing.assert_array_equal(cached.features(i), ref.features(i))
        np.testing.assert_array_equal(again.features(i), ref.features(i)[:, :16])
    other = make_synthetic("thumos", 6, cache_dir=tmp_path, **kw)  # other parameters, other folder
    assert len(list(tmp_path.iterdir())) == 2 and other.videos == ref.videos


def test_cache_write_failure_leaves_nothing(tmp_path, monkeypatch):
    import wtal.data.synthetic_cache as sc

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sc.np, "save", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        make_synthetic("thumos", 0, num_videos=(2, 1), feature_dim=8, max_duration=30.0, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_import_is_light(tmp_path):
    import os
    import subprocess
    import sys

    import wtal

    # Run outside the source tree (as conftest's run_wtal does), importing the same wtal as this test.
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(wtal.__file__))))
    code = "import sys, wtal.data; assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=env)


def test_pickles_and_preloads():
    import pickle

    ds = quick_synthetic(2, num_videos=(3, 2))
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone.features(4), ds.features(4))
    x0 = ds.features(0)
    assert ds.preload() is ds
    np.testing.assert_array_equal(ds.features(0), x0)
    np.testing.assert_array_equal(ds.with_modality("rgb").features(1), clone.features(1)[:, :128])


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann-Whitney AUC: probability that a positive scores above a negative (ties impossible here)."""
    s = np.concatenate([pos, neg])
    r = np.argsort(np.argsort(s)) + 1.0
    return float((r[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def test_difficulty_supervised_probe_beats_mil():
    """The point of the feature model: with frame labels a linear probe separates a class's snippets from
    the rest of its video well; a mean-pooling MIL classifier trained on video labels (context, clutter,
    weak onset/offset) clearly does not. Both are closed-form ridge regressions."""
    ds = quick_synthetic(0)
    tr, te = ds.indices("train"), ds.indices("test")
    xs = [ds.features(i) for i in tr]
    allx = np.concatenate(xs)
    mu, sd = allx.mean(0), allx.std(0) + 1e-6

    def design(x):
        return np.hstack([(x - mu) / sd, np.ones((len(x), 1))])

    def ridge(A, Y, lam=10.0):
        return np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ Y)

    w_sup = ridge(np.concatenate([design(x) for x in xs]), np.concatenate([ds.snippet_labels(i) for i in tr]))
    w_mil = ridge(np.stack([design(x).mean(0) for x in xs]), ds.labels[tr])
    sup, mil = [], []
    for i in te:
        x, sl = design(ds.features(i)), ds.snippet_labels(i)
        for c in np.flatnonzero(ds.labels[i]):
            pos = sl[:, c] > 0
            if 0 < pos.sum() < len(pos):
                for out, w in ((sup, w_sup), (mil, w_mil)):
                    s = x @ w[:, c]
                    out.append(_auc(s[pos], s[~pos]))
    sup_auc, mil_auc = np.mean(sup), np.mean(mil)
    assert sup_auc > 0.85, (sup_auc, mil_auc)
    assert mil_auc < sup_auc - 0.1, (sup_auc, mil_auc)


def test_rgb_and_flow_carry_different_signal():
    """RGB carries the class scene (context) more than flow; flow carries the actionness (fg vs bg) more
    than RGB. Measured with closed-form ridge probes on train, scored on test."""
    ds = quick_synthetic(1)
    tr, te = ds.indices("train"), ds.indices("test")

    def fit_score(stream, target):
        x = {i: ds.with_modality(stream).features(i) for i in tr + te}
        mu = np.concatenate([x[i] for i in tr]).mean(0)
        sd = np.concatenate([x[i] for i in tr]).std(0) + 1e-6
        A = lambda i: np.hstack([(x[i] - mu) / sd, np.ones((len(x[i]), 1))])  # noqa: E731
        if target == "scene":  # video class from background snippets only
            rows = lambda i: ds.snippet_labels(i).max(1) == 0  # noqa: E731
            Y = lambda i: np.repeat(ds.labels[i][None], rows(i).sum(), 0)  # noqa: E731
        else:  # foreground vs background
            rows = lambda i: np.ones(ds.num_snippets(i), bool)  # noqa: E731
            Y = lambda i: ds.snippet_labels(i).max(1, keepdims=True)  # noqa: E731
        Xtr = np.concatenate([A(i)[rows(i)] for i in tr])
        Ytr = np.concatenate([Y(i) for i in tr])
        w = np.linalg.solve(Xtr.T @ Xtr + 10 * np.eye(Xtr.shape[1]), Xtr.T @ Ytr)
        if target == "scene":
            hits = [np.argmax((A(i)[rows(i)] @ w).mean(0)) in np.flatnonzero(ds.labels[i]) for i in te if rows(i).any()]
            return float(np.mean(hits))
        s = np.concatenate([A(i) @ w for i in te])[:, 0]
        y = np.concatenate([Y(i) for i in te])[:, 0] > 0
        return _auc(s[y], s[~y])

    assert fit_score("rgb", "scene") > fit_score("flow", "scene") + 0.2  # seen: 0.55 vs 0.15
    assert fit_score("flow", "fg") > fit_score("rgb", "fg") + 0.1  # seen: 0.97 vs 0.70
