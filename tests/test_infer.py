"""``wtal.infer``: one video from a features file equals the same video in a dataset run, the input
forms of ``Predictor.localize``, profile extras filled from the dataset, ``wtal localize --features``."""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch

from test_trainer import trained  # noqa: F401  (module fixture: a tiny trained HAM-Net run)


def _cli(capsys, *args):
    from wtal.cli import main

    rc = main([str(a) for a in args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.fixture(scope="module")
def predictor(trained):  # noqa: F811
    from wtal.infer import load

    return load(trained / "last.pt", device="cpu")


@pytest.fixture(scope="module")
def dataset(predictor):
    from wtal.infer import build_dataset

    return build_dataset(predictor.config)


def test_single_video_features_file_equals_dataset_run(trained, dataset, tmp_path, capsys):  # noqa: F811
    """The bar: ``wtal localize --features v.npy`` writes the detections of v inside ``wtal localize``
    on its dataset, bit for bit; the same for a folder of several videos."""
    rc, _, err = _cli(capsys, "localize", "--checkpoint", trained / "last.pt", "--out", tmp_path / "all.json")
    assert rc == 0, err
    everything = json.loads((tmp_path / "all.json").read_text())["results"]
    test = sorted((dataset.videos[i] for i in dataset.indices("test")), key=lambda v: -len(everything.get(v, [])))
    assert all(len(everything[v]) > 5 for v in test[:5])
    folder = tmp_path / "feats"
    folder.mkdir()
    for v in test[:5]:
        np.save(folder / f"{v}.npy", dataset.features(dataset.video_index(v)))
    for v in test[:5]:
        rc, _, err = _cli(capsys, "localize", "--checkpoint", trained / "last.pt", "--features", folder / f"{v}.npy",
                          "--out", tmp_path / "one.json")
        assert rc == 0, err
        one = json.loads((tmp_path / "one.json").read_text())["results"]
        assert list(one) == [v] and one[v] == everything[v], v
    rc, out, err = _cli(capsys, "localize", "--checkpoint", trained / "last.pt", "--features", folder,
                        "--out", tmp_path / "five.json")
    assert rc == 0, err
    five = json.loads((tmp_path / "five.json").read_text())["results"]
    assert set(five) == set(test[:5]) and all(five[v] == everything[v] for v in five)
    # without --out: a short table of the top detections
    rc, out, err = _cli(capsys, "localize", "--checkpoint", trained / "last.pt", "--features", folder, "--top", "4")
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"{sum(len(v) for v in five.values())} detections for 5 video(s)")
    assert lines[1].split() == ["video", "label", "start", "(s)", "end", "(s)", "score"] and len(lines) == 7
    best = max((d["score"], v) for v, ds in five.items() for d in ds)
    assert lines[2].split()[0] == best[1]


def test_localize_input_forms_agree(predictor, dataset):
    idx = dataset.indices("test")[:4]
    names = [dataset.videos[i] for i in idx]
    feats = [dataset.features(i) for i in idx]
    ref = predictor.localize_dataset(dataset, idx).sorted()
    from wtal.data.torch_dataset import pad_features

    padded, lens = pad_features(feats)
    for det in (predictor.localize(feats, videos=names), predictor.localize(padded, lens, videos=names),
                predictor.localize(padded.numpy(), lens.numpy(), videos=names)):
        det = det.sorted()
        assert det.to_results_json() == ref.to_results_json()
    one = predictor.localize(torch.from_numpy(feats[0])).sorted()
    assert set(one.video) <= {"video_0"} and len(one) == len(ref.for_videos(names[0]))


def test_batched_forward_is_close_but_per_video_is_exact(predictor, dataset):
    """Video by video (the default) a video's outputs do not depend on its batch; the padded-batch
    forward (train.eval_batched_forward) agrees to float rounding."""
    from wtal.data.torch_dataset import pad_features

    idx = dataset.indices("test")[:6]
    feats, lens = pad_features([dataset.features(i) for i in idx])
    alone = [predictor.stream_inputs(feats[j:j + 1, :L], lens[j:j + 1])["joint"] for j, L in enumerate(lens.tolist())]
    per_video = predictor.stream_inputs(feats, lens)["joint"]
    for j, L in enumerate(lens.tolist()):
        assert torch.equal(per_video["cas"][j, :L], alone[j]["cas"][0])
        assert torch.equal(per_video["attention"][j, :L], alone[j]["attention"][0])
    predictor.config.train.eval_batched_forward = True
    try:
        batched = predictor.stream_inputs(feats, lens)["joint"]
    finally:
        predictor.config.train.eval_batched_forward = False
    for j, L in enumerate(lens.tolist()):
        torch.testing.assert_close(batched["cas"][j, :L], per_video["cas"][j, :L], rtol=1e-4, atol=1e-4)


def test_profile_extras_are_filled_from_the_dataset(predictor, dataset, tmp_path, monkeypatch):
    """A profile that accepts class_subset / ambiguous / features gets them (eval.class_subset,
    eval.ambiguous, the padded input features); one that does not is not given them."""
    from wtal.localize import Detections

    seen = {}

    def profile(cas, attention, lengths, *, videos, classes, seconds_per_snippet, config, class_subset=None,
                ambiguous=None, features=None):
        seen.update(videos=list(videos), class_subset=class_subset, ambiguous=ambiguous, features=features,
                    lengths=lengths)
        return Detections.empty()

    monkeypatch.setattr(type(predictor), "profile", lambda self: profile)
    idx = dataset.indices("test")[:3]
    predictor.localize_dataset(dataset, idx)
    assert seen["class_subset"] is None and seen["ambiguous"] is None
    assert list(seen["features"].shape) == [3, int(seen["lengths"].max()), dataset.feature_dim]
    for j, i in enumerate(sorted(idx, key=lambda i: (dataset.num_snippets(i), i))):
        L = dataset.num_snippets(i)
        assert torch.equal(seen["features"][j, :L], torch.from_numpy(dataset.features(i)))
    amb = tmp_path / "Ambiguous_test.txt"
    amb.write_text(f"{dataset.videos[idx[0]]} 1.0 2.5\n")
    monkeypatch.setattr(dataset, "ambiguous_file", str(amb), raising=False)
    monkeypatch.setattr(predictor.config.eval, "class_subset", "ground_truth")
    monkeypatch.setattr(predictor.config.eval, "ambiguous", True)
    predictor.localize_dataset(dataset, idx)
    labels = {dataset.classes[k] for k in dataset.annotations["label"][np.isin(dataset.annotations["video"], idx)]}
    assert seen["class_subset"] == [c for c in dataset.classes if c in labels]
    assert list(seen["ambiguous"]["video"]) == [dataset.videos[idx[0]]]
    assert inspect.signature(profile).parameters["features"].kind is inspect.Parameter.KEYWORD_ONLY


def test_features_cli_bad_input(trained, tmp_path, capsys):  # noqa: F811
    ck = trained / "last.pt"
    np.save(tmp_path / "narrow.npy", np.zeros((10, 5), np.float32))
    np.save(tmp_path / "ints.npy", np.zeros((10, 32), np.int64))
    (tmp_path / "empty").mkdir()
    for args, match in [
        (["--features", tmp_path / "narrow.npy"], "features are 5-d but the model expects 32-d"),
        (["--features", tmp_path / "ints.npy"], "ints.npy: expected float features"),
        (["--features", tmp_path / "empty"], "no .npy files in"),
        (["--features", tmp_path / "nope.npy"], "no such file or folder"),
        (["--features", tmp_path / "narrow.npy", "--eval"], "need a dataset"),
        (["--ambiguous", tmp_path / "a.txt"], "apply to --features"),
    ]:
        rc, _, err = _cli(capsys, "localize", "--checkpoint", ck, *args)
        assert rc == 2 and match in err and len(err.strip().splitlines()) == 1, (match, err)


def test_checkpoint_of_version_1_still_loads(trained, tmp_path, predictor, dataset):  # noqa: F811
    """A version-1 checkpoint (one model, ``model.state_dict``) localizes like its version-2 twin."""
    from wtal.infer import load
    from wtal.train.checkpoint import load_checkpoint

    ck = load_checkpoint(trained / "last.pt")
    m = ck["model"]
    v1 = {**{k: v for k, v in ck.items() if k not in ("format", "version")},
          "model": {"name": m["name"], "feature_dim": m["feature_dim"], "classes": m["classes"],
                    "seconds_per_snippet": m["seconds_per_snippet"],
                    "state_dict": m["streams"]["joint"]["state_dict"]},
          "optimizer": ck["optimizer"]["joint"], "scaler": ck["scaler"]["joint"]}
    torch.save({"format": "wtal-checkpoint", "version": 1, **v1}, tmp_path / "v1.pt")
    idx = dataset.indices("test")[:3]
    old = load(tmp_path / "v1.pt", device="cpu").localize_dataset(dataset, idx)
    assert old.to_results_json() == predictor.localize_dataset(dataset, idx).to_results_json()
