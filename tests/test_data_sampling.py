"""Snippet sampling (random_perturb / uniform_sampling) and the torch ClipDataset + pad_collate."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from wtal.data import make_synthetic, random_perturb, uniform_sampling
from wtal.data.sampling import sample_indices
from wtal.data.torch_dataset import ClipDataset, pad_collate


def _authors_random_perturb(length, num_segments, rs):
    """W-TALC / HAM-Net ``random_perturb`` transcribed, with a numpy RandomState for the draws."""
    if num_segments == length:
        return np.arange(num_segments).astype(int)
    samples = np.arange(num_segments) * length / num_segments
    for i in range(num_segments):
        if i < num_segments - 1:
            if int(samples[i]) != int(samples[i + 1]):
                samples[i] = rs.choice(range(int(samples[i]), int(samples[i + 1]) + 1))
            else:
                samples[i] = int(samples[i])
        else:
            if int(samples[i]) < length - 1:
                samples[i] = rs.choice(range(int(samples[i]), length))
            else:
                samples[i] = int(samples[i])
    return samples.astype(int)


def _bins(T, n):
    return [int(np.floor(i * T / n)) for i in range(n)]


@given(T=st.integers(1, 400), n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1))
def test_random_perturb_properties(T, n, seed):
    idx = random_perturb(T, n, np.random.default_rng(seed))
    assert idx.dtype == np.int64 and idx.shape == (n,)
    assert idx.min() >= 0 and idx.max() <= T - 1
    assert np.all(np.diff(idx) >= 0)
    lo = _bins(T, n)
    if T == n:
        np.testing.assert_array_equal(idx, np.arange(T))
        return
    for i in range(n):
        hi = lo[i + 1] if i < n - 1 else T - 1
        assert lo[i] <= idx[i] <= max(lo[i], hi)
    np.testing.assert_array_equal(idx, random_perturb(T, n, np.random.default_rng(seed)))


@given(T=st.integers(1, 200), n=st.integers(1, 200), seed=st.integers(0, 1000))
def test_random_perturb_support_matches_authors(T, n, seed):
    """Every value we draw is one the authors' code can draw at that position, and vice versa."""
    ours = np.stack([random_perturb(T, n, np.random.default_rng([seed, k])) for k in range(8)])
    rs = np.random.RandomState(seed)
    theirs = np.stack([_authors_random_perturb(T, n, rs) for _ in range(8)])
    lo = np.asarray(_bins(T, n))
    hi = np.append(lo[1:], T - 1) if T != n else lo
    for arr in (ours, theirs):
        assert np.all(arr >= lo) and np.all(arr <= np.maximum(lo, hi))


def test_random_perturb_every_bin_value_is_reachable():
    T, n = 10, 4  # bins start at 0, 2, 5, 7: position 1 draws from {2,...,5}
    draws = np.stack([random_perturb(T, n, np.random.default_rng(k)) for k in range(400)])
    assert set(draws[:, 1]) == {2, 3, 4, 5}
    assert set(draws[:, 3]) == {7, 8, 9}


def test_random_perturb_edges():
    assert random_perturb(1, 5, np.random.default_rng(0)).tolist() == [0] * 5  # T = 1: all repeats
    assert random_perturb(7, 1, np.random.default_rng(0))[0] in range(7)
    assert random_perturb(5, 5, np.random.default_rng(0)).tolist() == [0, 1, 2, 3, 4]
    up = random_perturb(3, 9, np.random.default_rng(0))  # T < n: upsampling with repeats
    assert set(up.tolist()) <= {0, 1, 2} and up[0] == 0 and up[-1] == 2
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="T must"):
            random_perturb(bad, 3, np.random.default_rng(0))
        with pytest.raises(ValueError, match="n must"):
            uniform_sampling(3, bad)


@given(T=st.integers(1, 500), n=st.integers(1, 300))
def test_uniform_sampling_is_floor_of_bin_starts(T, n):
    idx = uniform_sampling(T, n)
    np.testing.assert_array_equal(idx, np.floor(np.arange(n) * T / n).astype(int))
    assert idx[0] == 0 and idx[-1] <= T - 1


def test_sample_indices_dispatch():
    assert sample_indices(4, None, "all").tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="sampling"):
        sample_indices(4, 2, "pad")
    with pytest.raises(ValueError, match="num_segments"):
        sample_indices(4, None, "random", np.random.default_rng(0))


@pytest.fixture(scope="module")
def tiny():
    return make_synthetic("thumos", 3, num_videos=(6, 4), max_duration=40.0, feature_dim=16)


def test_clip_dataset_random_is_deterministic_per_epoch(tiny):
    idx = tiny.indices("train")
    a = ClipDataset(tiny, idx, num_segments=20, sampling="random", seed=5)
    b = ClipDataset(tiny, list(reversed(idx)), num_segments=20, sampling="random", seed=5)
    first = {a[k]["index"]: a[k]["snippets"] for k in range(len(a))}
    for k in range(len(b)):  # order of access does not matter
        item = b[k]
        torch.testing.assert_close(item["snippets"], first[item["index"]])
        assert item["features"].shape == (20, 16) and item["features"].dtype == torch.float32
        np.testing.assert_array_equal(item["features"].numpy(), tiny.features(item["index"])[item["snippets"].numpy()])
    a.set_epoch(1)
    changed = [not torch.equal(a[k]["snippets"], first[a[k]["index"]]) for k in range(len(a))]
    assert any(changed)
    a.set_epoch(0)
    assert all(torch.equal(a[k]["snippets"], first[a[k]["index"]]) for k in range(len(a)))
    c = ClipDataset(tiny, idx, num_segments=20, sampling="random", seed=6)
    assert any(not torch.equal(c[k]["snippets"], a[k]["snippets"]) for k in range(len(c)))


def test_clip_dataset_all_and_uniform(tiny):
    idx = tiny.indices("test")
    full = ClipDataset(tiny, idx, sampling="all")
    for k, i in enumerate(idx):
        item = full[k]
        assert item["features"].shape[0] == tiny.num_snippets(i) == item["num_snippets"]
        torch.testing.assert_close(item["label"], torch.from_numpy(tiny.labels[i]))
    uni = ClipDataset(tiny, idx, num_segments=7, sampling="uniform")
    assert uni[0]["snippets"].tolist() == uniform_sampling(tiny.num_snippets(idx[0]), 7).tolist()
    with pytest.raises(ValueError, match="num_segments"):
        ClipDataset(tiny, idx, sampling="random")
    with pytest.raises(ValueError, match="sampling"):
        ClipDataset(tiny, idx, num_segments=3, sampling="avg")
    with pytest.raises(ValueError, match="out of range"):
        ClipDataset(tiny, [len(tiny)], num_segments=3)


def test_pad_collate_shapes_and_padding(tiny):
    idx = tiny.indices("test")
    ds = ClipDataset(tiny, idx, sampling="all")
    items = [ds[k] for k in range(len(ds))]
    batch = pad_collate(items)
    lengths = [it["features"].shape[0] for it in items]
    B, Tm = len(items), max(lengths)
    assert batch["features"].shape == (B, Tm, 16) and batch["features"].dtype == torch.float32
    assert batch["lengths"].dtype == torch.int64 and batch["lengths"].tolist() == lengths
    assert batch["labels"].shape == (B, tiny.num_classes) and batch["labels"].dtype == torch.float32
    assert batch["index"].dtype == torch.int64 and batch["index"].tolist() == idx
    for j, it in enumerate(items):
        torch.testing.assert_close(batch["features"][j, : lengths[j]], it["features"])
        assert torch.all(batch["features"][j, lengths[j]:] == 0)
    one = pad_collate(items[:1])
    assert one["features"].shape == (1, lengths[0], 16)
    with pytest.raises(ValueError, match="empty"):
        pad_collate([])


def test_dataloader_workers_reproduce_single_process(tiny):
    idx = tiny.indices("train")
    ds = ClipDataset(tiny, idx, num_segments=12, sampling="random", seed=1)
    ds.set_epoch(3)
    ref = pad_collate([ds[k] for k in range(len(ds))])
    loader = torch.utils.data.DataLoader(ds, batch_size=len(ds), collate_fn=pad_collate, num_workers=2)
    got = next(iter(loader))
    torch.testing.assert_close(got["features"], ref["features"])
