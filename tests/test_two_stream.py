"""Two-stream training (one model per stream, per-stream RNG, fused validation), single-stream runs and
their fusion by ``wtal localize --checkpoint RGB.pt --checkpoint FLOW.pt``, on the toy two-stream model
of ``tests/toy_two_stream.py`` (FAC-Net profile)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import toy_two_stream as toy
from wtal.train.config import load_config


@pytest.fixture(scope="module")
def spec():
    with toy.registered() as s:
        yield s


def toy_cfg(out_dir, *extra):
    return load_config(None, toy.TINY + [f"out_dir={out_dir}", *extra])


def train(out_dir, *extra, resume=False):
    from wtal.train.trainer import Trainer

    t = Trainer(toy_cfg(out_dir, *extra), resume=resume)
    summary = t.fit()
    t.close()
    return t, summary


def _ck(path):
    from wtal.train.checkpoint import load_checkpoint

    return load_checkpoint(path)


def _assert_same_stream(a, b, stream):
    sa, sb = a["model"]["streams"][stream]["state_dict"], b["model"]["streams"][stream]["state_dict"]
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), (stream, k)
    oa, ob = a["optimizer"][stream]["state"], b["optimizer"][stream]["state"]
    for k in oa:
        for name, v in oa[k].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(ob[k][name])), (stream, k, name)


@pytest.fixture(scope="module")
def runs(spec, tmp_path_factory):
    """The same seed trained three ways: both streams in one run, rgb alone, flow alone (last epoch)."""
    d = tmp_path_factory.mktemp("two_stream")
    out = {}
    for name, streams in (("both", "[rgb, flow]"), ("rgb", "[rgb]"), ("flow", "[flow]")):
        out[name] = train(d / name, f"model.streams={streams}", "train.checkpoint=last")[0]
    return d


def test_two_stream_run_equals_single_stream_runs(runs):
    both, rgb, flow = (_ck(runs / n / "last.pt") for n in ("both", "rgb", "flow"))
    assert set(both["model"]["streams"]) == {"rgb", "flow"}
    assert set(rgb["model"]["streams"]) == {"rgb"} and set(flow["model"]["streams"]) == {"flow"}
    assert both["model"]["stream_dims"] == [8, 8] and both["model"]["feature_dim"] == 16
    assert both["model"]["streams"]["rgb"]["feature_dim"] == 8
    _assert_same_stream(both, rgb, "rgb")
    _assert_same_stream(both, flow, "flow")
    assert both["step"] == rgb["step"] == flow["step"] == 15
    # the streams really differ (their own init seeds and their own halves of the features)
    w_r = both["model"]["streams"]["rgb"]["state_dict"]["hid.weight"]
    w_f = both["model"]["streams"]["flow"]["state_dict"]["hid.weight"]
    assert not torch.equal(w_r, w_f)


def test_per_stream_optimizers_clipping_and_param_groups(spec, tmp_path):
    """Each stream has its own Adam over the model's param_groups(), and its gradients are clipped
    on their own (a global norm over both streams would couple them)."""
    from wtal.train.trainer import Trainer

    t = Trainer(toy_cfg(tmp_path / "r", "train.epochs=1", "train.eval_every=0"))
    assert [u.name for u in t.streams] == ["rgb", "flow"]
    for u in t.streams:
        groups = u.optimizer.param_groups
        assert len(groups) == 2 and groups[0]["weight_decay"] == 1e-3 and groups[1]["weight_decay"] == 0.0
        assert {id(p) for g in groups for p in g["params"]} == {id(p) for p in u.model.parameters()}
    t.fit()
    for u in t.streams:
        norm = torch.sqrt(sum((p.grad ** 2).sum() for p in u.model.parameters()))
        assert float(norm) <= 0.05 * (1 + 1e-5)
    t.close()


def test_per_stream_terms_are_logged_with_prefixes(runs):
    recs = [json.loads(x) for x in (runs / "both" / "metrics.jsonl").read_text().splitlines()]
    train_recs = [r for r in recs if r["kind"] == "train"]
    assert {"rgb/total", "rgb/mil", "flow/total", "flow/mil"} <= set(train_recs[0])
    assert "total" not in train_recs[0]
    assert len([r for r in recs if r["kind"] == "val"]) == 3
    log = (runs / "both" / "train.log").read_text()
    assert "streams: rgb 8-d, flow 8-d" in log and "rgb/total" in log and "validation average mAP" in log


def _localize(capsys, *args):
    from wtal.cli import main

    rc = main(["localize", *map(str, args)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    return cap


def test_fusing_single_stream_checkpoints_equals_the_two_stream_run(runs, tmp_path, capsys):
    _localize(capsys, "--checkpoint", runs / "both" / "last.pt", "--out", tmp_path / "joint.json")
    _localize(capsys, "--checkpoint", runs / "flow" / "last.pt", "--checkpoint", runs / "rgb" / "last.pt",
              "--out", tmp_path / "fused.json")
    joint = json.loads((tmp_path / "joint.json").read_text())["results"]
    fused = json.loads((tmp_path / "fused.json").read_text())["results"]
    assert joint and sum(len(v) for v in joint.values()) > 10
    assert fused == joint
    # one stream alone gives other detections (the profile really fuses two streams)
    _localize(capsys, "--checkpoint", runs / "rgb" / "last.pt", "--out", tmp_path / "rgb.json")
    assert json.loads((tmp_path / "rgb.json").read_text())["results"] != joint


def test_plot_of_a_two_stream_checkpoint(runs, tmp_path, capsys):
    from wtal.cli import main
    from wtal.infer import build_dataset, load

    ds = build_dataset(load(runs / "both" / "last.pt", device="cpu").config)
    video = ds.videos[ds.indices("test")[0]]
    rc = main(["plot", "--checkpoint", str(runs / "rgb" / "last.pt"), "--checkpoint", str(runs / "flow" / "last.pt"),
               "--video", video, "--out", str(tmp_path / "p.png")])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_two_stream_features_file_equals_dataset_run(runs, tmp_path, capsys):
    """Joint [T, D_rgb + D_flow] features of one video give its detections inside the dataset run;
    a single-stream checkpoint also takes its own stream's columns."""
    from wtal.infer import build_dataset, load

    pred = load(runs / "both" / "last.pt", device="cpu")
    ds = build_dataset(pred.config)
    video = ds.videos[ds.indices("test")[3]]
    np.save(tmp_path / f"{video}.npy", ds.features(ds.video_index(video)))
    _localize(capsys, "--checkpoint", runs / "both" / "last.pt", "--features", tmp_path / f"{video}.npy",
              "--out", tmp_path / "one.json")
    _localize(capsys, "--checkpoint", runs / "both" / "last.pt", "--out", tmp_path / "all.json")
    one = json.loads((tmp_path / "one.json").read_text())["results"]
    assert list(one) == [video]
    assert one[video] == json.loads((tmp_path / "all.json").read_text())["results"][video]
    rgb = load(runs / "rgb" / "last.pt", device="cpu")
    x = ds.features(ds.video_index(video))
    a, b = rgb.localize(x, videos=[video]), rgb.localize(x[:, :8], videos=[video])
    assert a.to_results_json() == b.to_results_json() and len(a) > 0
    with pytest.raises(ValueError, match=r"features are 5-d but the model expects 16-d \(or the rgb stream's 8\)"):
        rgb.localize(x[:, :5])


def test_validation_selects_on_the_fused_map(spec, tmp_path):
    from wtal.infer import evaluate, filter_columns, load

    t, summary = train(tmp_path / "best", "train.checkpoint=best")
    best = summary["best"]
    pred = load(tmp_path / "best" / "best.pt", device="cpu")
    ds = t.dataset
    gt = filter_columns(ds.ground_truth("train"), {ds.videos[i] for i in t.val_idx})
    fused = evaluate(gt, pred.localize_dataset(ds, t.val_idx), pred.config, unknown_labels="ignore")
    assert fused.average_mAP == best["average_mAP"]
    recs = [json.loads(x) for x in (tmp_path / "best" / "metrics.jsonl").read_text().splitlines()]
    assert max(r["average_mAP"] for r in recs if r["kind"] == "val") == best["average_mAP"]


def test_two_stream_resume_is_exact(spec, tmp_path):
    """Each stream's RNG state (dropout) is checkpointed: 1 epoch + resume 2 == 3 epochs."""
    train(tmp_path / "full", "train.checkpoint=last")
    train(tmp_path / "part", "train.checkpoint=last", "train.stop_after_epochs=1")
    train(tmp_path / "part", "train.checkpoint=last", "train.stop_after_epochs=1", resume=True)
    train(tmp_path / "part", "train.checkpoint=last", "train.stop_after_epochs=1", resume=True)
    a, b = _ck(tmp_path / "full" / "last.pt"), _ck(tmp_path / "part" / "last.pt")
    for s in ("rgb", "flow"):
        _assert_same_stream(a, b, s)
        assert torch.equal(a["stream_rng"][s]["cpu"], b["stream_rng"][s]["cpu"])


def test_fusion_errors_name_the_file(runs, tmp_path, capsys):
    from wtal.cli import main
    from wtal.train.checkpoint import save_checkpoint

    def variant(name, edit):
        ck = _ck(runs / "flow" / "last.pt")
        edit(ck["model"])
        path = tmp_path / name
        save_checkpoint(path, {k: v for k, v in ck.items() if k not in ("format", "version")})
        return path

    cases = [
        (runs / "rgb" / "last.pt", r"the rgb stream is given twice"),
        (runs / "both" / "last.pt", r"the rgb stream is given twice"),
        (variant("classes.pt", lambda m: m.update(classes=list(reversed(m["classes"])))), "class list"),
        (variant("dims.pt", lambda m: m.update(stream_dims=[6, 10])), "rgb/flow widths"),
        (variant("width.pt", lambda m: m.update(feature_dim=32)), "feature width"),
        (variant("sps.pt", lambda m: m.update(seconds_per_snippet=1.0)), "seconds_per_snippet"),
        (variant("other.pt", lambda m: m.update(name="hamnet")), "cannot be fused"),
    ]
    for second, match in cases:
        rc = main(["localize", "--checkpoint", str(runs / "rgb" / "last.pt"), "--checkpoint", str(second),
                   "--out", str(tmp_path / "x.json")])
        err = capsys.readouterr().err
        assert rc == 2 and len(err.strip().splitlines()) == 1, err
        assert str(second) in err and __import__("re").search(match, err), (match, err)
    assert not (tmp_path / "x.json").exists()


def test_joint_model_given_twice_is_an_error(tmp_path, capsys):
    from test_trainer import tiny_cfg

    from wtal.cli import main
    from wtal.train.trainer import Trainer

    t = Trainer(tiny_cfg(tmp_path / "h", "train.epochs=1", "data.val_fraction=0"))
    t.fit()
    t.close()
    ck = str(tmp_path / "h" / "last.pt")
    rc = main(["localize", "--checkpoint", ck, "--checkpoint", ck, "--out", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "is a joint model; give exactly one checkpoint" in err and ck in err


def test_stream_columns_are_the_dataset_streams(spec):
    from wtal.data.synthetic import make_synthetic
    from wtal.infer import stream_features

    ds = make_synthetic(kind="thumos", seed=0, feature_dim=16, num_videos=[4, 2], max_duration=30)
    x = torch.from_numpy(ds.features(1))
    for s in ("rgb", "flow"):
        assert torch.equal(stream_features(x, s, ds.stream_dims), torch.from_numpy(ds.with_modality(s).features(1)))


def test_toy_model_honours_the_contract(spec):
    """The toy itself passes the contract clauses (so the tests above test the platform, not a broken model)."""
    import test_model_contract as c

    x, lens, labels = c.ragged_batch()
    for stream_width in (c.FEATURE_DIM,):
        def make(seed, **k):
            torch.manual_seed(seed)
            return spec.build(stream_width, c.NUM_CLASSES, toy.ToyTwoStreamConfig(**k)).double()

        c.check_protocol(make(0))
        c.check_padding_invariance(make(0), x, lens)
        c.check_full_gradients(make(0), x, lens, labels)
        c.check_loss_and_gradients(make(0, use_hidden=False), x, lens, labels)
        c.check_localization_inputs(make(0), spec, x, lens)
        c.check_state_dict_round_trip(make, x, lens)
        for reduction in ("mean", "sum"):
            c.check_accumulation_equals_batch(make(0), reduction)


def test_single_stream_run_of_a_profile_that_needs_both_streams(tmp_path):
    """A profile that cannot localize one stream alone (BM) stops a single-stream run at the start,
    unless the run neither validates nor tests; both streams train and validate."""
    from wtal.models import register, unregister
    from wtal.train.trainer import Trainer

    register(toy.BM_SPEC)
    try:
        base = [a.replace(toy.NAME, "toy_bm") for a in toy.TINY if not a.startswith("localize=")]
        with pytest.raises(ValueError, match=r"profile localize_bm cannot localize the stream\(s\) \['rgb'\] alone"):
            Trainer(load_config(None, base + [f"out_dir={tmp_path / 'a'}", "model.streams=[rgb]"]))
        t = Trainer(load_config(None, base + [f"out_dir={tmp_path / 'b'}", "model.streams=[rgb]", "train.epochs=1",
                                              "train.eval_every=0", "eval.test=false", "train.checkpoint=last"]))
        t.fit()
        t.close()
        t = Trainer(load_config(None, base + [f"out_dir={tmp_path / 'c'}", "train.epochs=1"]))
        t.fit()
        det, res = t.test()
        t.close()
        assert res is not None and len(det) > 0
    finally:
        unregister("toy_bm")


def test_stream_rng_is_its_own_and_leaves_the_global_state_alone():
    from wtal.train.trainer import StreamRNG, stream_seed

    assert stream_seed(0, "rgb") != stream_seed(0, "flow") and stream_seed(0, "rgb") != stream_seed(1, "rgb")
    assert stream_seed(0, "rgb") == stream_seed(0, "rgb") and stream_seed(0, "rgb", 1) != stream_seed(0, "rgb")
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b = StreamRNG(7, torch.device("cpu")), StreamRNG(7, torch.device("cpu"))
    with a.active():
        xa = torch.rand(5)
    assert torch.equal(torch.get_rng_state(), before)
    with b.active():
        xb = torch.rand(5)
    assert torch.equal(xa, xb)
    saved = a.state()
    with a.active():
        y1 = torch.rand(3)
    a.load(saved)
    with a.active():
        y2 = torch.rand(3)
    assert torch.equal(y1, y2) and not torch.equal(y1, xa[:3])
    assert torch.equal(torch.get_rng_state(), before)
