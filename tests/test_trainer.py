"""Trainer: config parsing, validation split, exact resume, checkpoints, bad input, localize CLI, DDP."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from wtal.train.config import Config, apply_override, load_config, packaged_config


# a tiny synthetic run: D=32, short clips, narrow heads (seconds on 2 cores)
TINY = [
    "data.options={kind: thumos, seed: 0, feature_dim: 32, num_videos: [40, 24], max_duration: 60,"
    " num_classes: 5}",
    "data.num_segments=48", "data.val_fraction=0.2", "train.batch_size=8", "train.progress=false",
    "model.hamnet.cls_hidden=32", "model.hamnet.att_hidden=16", "model.hamnet.pooling=eager",
    "optim.lr=1e-3", "train.eval_every=2", "train.epochs=4",
]


def tiny_cfg(out_dir, *extra: str) -> Config:
    return load_config(packaged_config("hamnet_synthetic"), TINY + [f"out_dir={out_dir}", *extra])


def write_yaml(path, cfg_overrides: list[str], out_dir) -> str:
    """A config file equal to tiny_cfg(out_dir, *cfg_overrides)."""
    from wtal.train.config import dump_config

    path.write_text(dump_config(tiny_cfg(out_dir, *cfg_overrides)))
    return str(path)


# ---------------------------------------------------------------------- config
@pytest.mark.parametrize("name", ["hamnet_thumos14", "hamnet_activitynet12", "hamnet_synthetic"])
def test_packaged_configs_load(name):
    cfg = load_config(packaged_config(name))
    assert cfg.model.name == "hamnet"
    if name == "hamnet_thumos14":
        assert cfg.optim.lr == 1e-5 and cfg.optim.weight_decay == 1e-3 and cfg.train.batch_size == 20
        assert cfg.data.num_segments == 500 and cfg.model.hamnet.weights() == {
            "bcl": 0.8, "hal": 0.2, "sal": 0.8, "ssal": 0.2, "sparse": 0.8, "guide": 0.8}
    if name == "hamnet_activitynet12":
        from wtal.models.hamnet_config import HamNetConfig

        ref = HamNetConfig.activitynet()
        ref.pooling = "op"
        assert cfg.model.hamnet == ref and cfg.data.num_segments == 80


def test_set_overrides_are_typed():
    cfg = load_config(None, ["train.epochs=7", "optim.lr=1e-5", "amp=false", "eval.tiou=0.3,0.5",
                             "data.options.feature_dim=16", "localize={class_threshold: 0.1}",
                             "model.hamnet.use_hal=no", "data.val_fraction=0"])
    assert cfg.train.epochs == 7 and isinstance(cfg.train.epochs, int)
    assert cfg.optim.lr == 1e-5 and isinstance(cfg.optim.lr, float)  # YAML 1.1 reads "1e-5" as a string
    assert cfg.amp is False and cfg.model.hamnet.use_hal is False
    assert cfg.eval.tiou == [0.3, 0.5]
    assert cfg.data.options == {"feature_dim": 16}
    assert cfg.localize == {"class_threshold": 0.1}


@pytest.mark.parametrize("assignment,match", [
    ("train.epoch=3", r"unknown config key 'train.epoch'.*did you mean 'train.epochs'"),
    ("trian.epochs=3", r"unknown config key 'trian'"),
    ("train.epochs=three", r"'train.epochs' must be an integer"),
    ("train.epochs=2.5", r"'train.epochs' must be an integer"),
    ("amp=maybe", r"'amp' must be a boolean"),
    ("optim.lr=fast", r"'optim.lr' must be a number"),
    ("train.epochs", r"--set expects key=value"),
    ("model.hamnet.pooling=fast", r"model.hamnet.pooling"),
    ("train.checkpoint=test", r"train.checkpoint must be one of"),
    ("data.val_fraction=1.5", r"data.val_fraction"),
    ("model.name=nope", r"model.name"),
])
def test_set_errors_name_the_key(assignment, match):
    with pytest.raises(ValueError, match=match):
        load_config(None, [assignment])


def test_yaml_errors_name_file_and_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  epochs: 3\n  batchsize: 4\n")
    with pytest.raises(ValueError, match=r"unknown config key 'train.batchsize' in .*c.yaml"):
        load_config(p)
    p.write_text("train: [1, 2\n")
    with pytest.raises(ValueError, match=r"c.yaml: invalid YAML"):
        load_config(p)
    p.write_text("data:\n  kind: wtalc\n")
    with pytest.raises(ValueError, match="data.root is required"):
        load_config(p)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_apply_override_on_dataclass_leaf_rejects_subkeys():
    cfg = Config()
    with pytest.raises(ValueError, match="unknown config key 'train.epochs.x'"):
        apply_override(cfg, "train.epochs.x=1")


# ---------------------------------------------------------------------- split
def test_validation_split_is_seeded_disjoint_and_stratified():
    from wtal.data.synthetic import make_synthetic
    from wtal.train.trainer import split_train_val

    ds = make_synthetic(kind="thumos", seed=0, feature_dim=8, num_videos=48)
    idx = ds.indices("train")
    tr, va = split_train_val(ds, idx, 0.25, seed=3)
    tr2, va2 = split_train_val(ds, idx, 0.25, seed=3)
    assert (tr, va) == (tr2, va2)
    assert set(tr).isdisjoint(va) and sorted(tr + va) == sorted(idx)
    assert not set(va) & set(ds.indices("test"))
    first = {int(ds.labels[i].argmax()) for i in idx}
    assert {int(ds.labels[i].argmax()) for i in va} == first or len(va) < len(first)
    assert split_train_val(ds, idx, 0.0, seed=0) == (sorted(idx), [])


# ---------------------------------------------------------------------- resume
def _weights(path):
    from wtal.train.checkpoint import load_checkpoint

    ck = load_checkpoint(path)
    return ck["model"]["streams"]["joint"]["state_dict"], ck["optimizer"]["joint"], ck["epoch"], ck["step"]


def test_resume_is_exact(tmp_path):
    from wtal.train.trainer import Trainer

    full = Trainer(tiny_cfg(tmp_path / "full", "deterministic=true"))
    full.fit()
    full.close()
    part = Trainer(tiny_cfg(tmp_path / "part", "deterministic=true", "train.stop_after_epochs=1"))
    assert not part.fit()["finished"]
    part.close()
    # resumed twice: across an evaluation epoch boundary (eval_every=2) as well
    for _ in range(2):
        again = Trainer(tiny_cfg(tmp_path / "part", "deterministic=true", "train.stop_after_epochs=2"),
                        resume=True)
        again.fit()
        again.close()
    a, oa, ea, sa = _weights(tmp_path / "full" / "last.pt")
    b, ob, eb, sb = _weights(tmp_path / "part" / "last.pt")
    assert (ea, sa) == (eb, sb) and ea == 4
    for k in a:
        assert torch.equal(a[k], b[k]), k
    for k, st in oa["state"].items():
        for name, v in st.items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(ob["state"][k][name])), (k, name)
    # the validation history (and the best checkpoint) are the same too
    ba, bb = (torch.load(tmp_path / d / "best.pt", weights_only=True)["best"] for d in ("full", "part"))
    assert ba == bb


def test_out_dir_is_protected(tmp_path):
    from wtal.train.trainer import Trainer

    t = Trainer(tiny_cfg(tmp_path / "r", "train.epochs=1"))
    t.fit()
    t.close()
    before = (tmp_path / "r" / "last.pt").read_bytes()
    with pytest.raises(ValueError, match=r"already holds a run .*last.pt.*--resume"):
        Trainer(tiny_cfg(tmp_path / "r", "train.epochs=1"))
    assert (tmp_path / "r" / "last.pt").read_bytes() == before
    with pytest.raises(FileNotFoundError, match=r"--resume: no checkpoint .*last.pt"):
        Trainer(tiny_cfg(tmp_path / "empty"), resume=True)


# ---------------------------------------------------------------------- checkpoints
def test_corrupt_checkpoints_raise_naming_the_file(tmp_path):
    from wtal.train.checkpoint import load_checkpoint, save_checkpoint

    good = tmp_path / "good.pt"
    save_checkpoint(good, {"config": {}, "model": {}, "epoch": 0, "step": 0})
    assert load_checkpoint(good)["epoch"] == 0
    data = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    for name, match in [("trunc.pt", "corrupt or unreadable"), ("junk.pt", "corrupt or unreadable"),
                        ("other.pt", "not a wtal checkpoint")]:
        with pytest.raises(ValueError, match=rf"{name}: {match}"):
            load_checkpoint(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_atomic_save_keeps_previous_checkpoint_on_failure(tmp_path, monkeypatch):
    from wtal.train import checkpoint as C

    path = tmp_path / "last.pt"
    C.save_checkpoint(path, {"config": {}, "model": {}, "epoch": 1, "step": 1})
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(C.torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        C.save_checkpoint(path, {"config": {}, "model": {}, "epoch": 2, "step": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny trained run (2 epochs) with its config file."""
    from wtal.train.trainer import Trainer

    d = tmp_path_factory.mktemp("trained")
    t = Trainer(tiny_cfg(d / "run", "train.epochs=2"))
    t.fit()
    t.close()
    return d / "run"


def test_localize_cli_writes_results_and_evaluates(trained, tmp_path, run_wtal):
    out = tmp_path / "res.json"
    p = run_wtal("localize", "--checkpoint", trained / "last.pt", "--out", out, "--eval")
    assert p.returncode == 0, p.stderr
    res = json.loads(out.read_text())
    assert set(res) >= {"version", "results", "external_data"}
    assert all(v.startswith("video") or v for v in res["results"])
    for dets in res["results"].values():
        for d in dets:
            assert d["segment"][0] < d["segment"][1]
    assert "mAP (%)" in p.stdout
    # the same for the held-out training subset
    p = run_wtal("localize", "--checkpoint", trained / "last.pt", "--out", tmp_path / "tr.json",
                 "--subset", "train")
    assert p.returncode == 0, p.stderr


def _cli(capsys, *args) -> tuple[int, str]:
    """``wtal ARGS`` in-process (the bad-input paths; one subprocess run is enough elsewhere)."""
    from wtal.cli import main

    rc = main([str(a) for a in args])
    return rc, capsys.readouterr().err


def test_localize_cli_bad_input(trained, tmp_path, capsys):
    out = tmp_path / "keep.json"
    out.write_text("previous results")
    bad = tmp_path / "bad.pt"
    bad.write_bytes((trained / "last.pt").read_bytes()[:1000])
    rc, err = _cli(capsys, "localize", "--checkpoint", bad, "--out", out)
    assert rc == 2 and "bad.pt: corrupt or unreadable checkpoint" in err
    assert len(err.strip().splitlines()) == 1
    rc, err = _cli(capsys, "localize", "--checkpoint", trained / "last.pt", "--out", out,
                   "--set", "data.options.feature_dim=16")
    assert rc == 2 and "features are 16-d but checkpoint" in err and "last.pt" in err
    rc, err = _cli(capsys, "localize", "--checkpoint", trained / "last.pt", "--out", out, "--subset", "nosuch")
    assert rc == 2 and "subset 'nosuch' has no videos" in err
    rc, err = _cli(capsys, "localize", "--checkpoint", tmp_path / "absent.pt", "--out", out)
    assert rc == 2 and "absent.pt" in err
    rc, err = _cli(capsys, "localize", "--checkpoint", trained / "last.pt", "--out", out,
                   "--set", "localize.no_such_field=1")
    assert rc == 2 and "localize.no_such_field" in err
    assert out.read_text() == "previous results"


def test_train_cli_end_to_end_and_log(tmp_path, run_wtal):
    cfg = write_yaml(tmp_path / "c.yaml", ["train.epochs=2"], tmp_path / "run")
    p = run_wtal("train", cfg)
    assert p.returncode == 0, p.stderr
    assert "mAP (%)" in p.stdout and "selected checkpoint" in p.stdout
    run = tmp_path / "run"
    for f in ("config.yaml", "last.pt", "best.pt", "metrics.jsonl", "predictions_test.json", "metrics_test.json"):
        assert (run / f).exists(), f
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in recs} >= {"epoch", "val"}
    assert {"total", "bcl", "hal", "sal", "ssal", "sparse", "guide"} <= set(recs[0])
    m = json.loads((run / "metrics_test.json").read_text())
    assert set(m) >= {"tiou", "mAP", "average_mAP", "ap"}
    p = run_wtal("train", cfg, "--set", "train.epoch=3")
    assert p.returncode == 2 and "unknown config key 'train.epoch'" in p.stderr


@pytest.mark.slow
def test_ddp_two_process_gloo(tmp_path):
    # two micro-batches per step: DDP all-reduces on the second only (no_sync on the first)
    cfg = write_yaml(tmp_path / "c.yaml", ["train.epochs=2", "device=cpu", "train.accumulate_steps=2"],
                     tmp_path / "run")
    # The workers import whatever wtal this interpreter imports (installed, or the source tree via PYTHONPATH
    # in development); never the repository root blindly, which holds no compiled module after `pip install .`.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--standalone", "-m", "wtal.cli", "train", cfg],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("mAP (%)") == 1  # evaluated and printed on rank 0 only
    assert proc.stdout.count("epoch 2: validation average mAP") == 1
    run = tmp_path / "run"
    assert (run / "last.pt").exists() and (run / "metrics_test.json").exists()
    ck = torch.load(run / "last.pt", weights_only=True)
    assert ck["epoch"] == 2
    # 2 epochs x ceil(ceil(train videos / 2 ranks / 4 per rank) micro-batches / 2 per step) steps
    n_train = len(ck["split"]["train"])
    per_rank = (n_train + 1) // 2
    micro_batches = -(-per_rank // 4)
    assert ck["step"] == 2 * -(-micro_batches // 2)


def test_thumos14_config_on_wtalc_layout_and_bad_input(tmp_path, capsys):
    """The packaged THUMOS14 config end to end on the real annotation layout (random 16-d features),
    then each bad input stops with one line naming the file and leaves the run's files intact."""
    import shutil

    from fixtures_data import build_wtalc, object_array, write_py2_npy

    from wtal.safe_npy import load_npy

    root, _, _ = build_wtalc(tmp_path / "th", D=16, max_snippets=40)
    run = tmp_path / "run"
    small = ["--set", f"data.root={root}", "--set", f"out_dir={run}", "--set", "train.epochs=1",
             "--set", "train.eval_every=1", "--set", "data.num_segments=32", "--set", "model.hamnet.cls_hidden=16",
             "--set", "model.hamnet.att_hidden=16", "--set", "num_threads=1", "--set", "train.progress=false",
             "--set", "device=cpu"]
    rc, err = _cli(capsys, "train", "hamnet_thumos14", *small)
    assert rc == 0, err
    assert (run / "metrics_test.json").exists() and (run / "best.pt").exists()
    keep = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}

    def one_line_error(*extra) -> str:
        rc, err = _cli(capsys, "train", "hamnet_thumos14", *small, *extra)
        assert rc == 2 and len(err.strip().splitlines()) == 1, err
        return err

    feats = tmp_path / "th" / "Thumos14reduced-I3D-JOINTFeatures.npy"
    shutil.move(feats, tmp_path / "moved.npy")
    assert "Thumos14reduced-I3D-JOINTFeatures.npy" in one_line_error("--resume")
    shutil.move(tmp_path / "moved.npy", feats)
    # features of another width than the checkpoint's
    other, _, _ = build_wtalc(tmp_path / "th8", D=8, max_snippets=40)
    err = one_line_error("--resume", "--set", f"data.root={other}")
    assert "differs from the one saved in" in err and "data.root" in err and "--force-config" in err
    err = one_line_error("--resume", "--force-config", "--set", f"data.root={other}")
    assert "features are 8-d but checkpoint" in err and "last.pt" in err
    # unknown class in the annotations
    ann = tmp_path / "th" / "Thumos14reduced-Annotations"
    labels = [list(x) for x in load_npy(ann / "labels.npy")]
    bogus = [list(x) for x in labels]
    bogus[3] = ["Juggling"] * len(bogus[3])
    write_py2_npy(ann / "labels.npy", object_array(bogus))
    assert "labels.npy: unknown class 'Juggling'" in one_line_error("--resume")
    write_py2_npy(ann / "labels.npy", object_array(labels))
    # empty training subset
    assert "subset 'training' has no videos" in one_line_error("--set", "data.train_subset=training",
                                                               "--set", f"out_dir={tmp_path / 'run2'}")
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == keep


@pytest.mark.cuda
def test_cuda_amp_epoch_and_localize_match_cpu(tmp_path):
    """On a GPU: one AMP (bf16) epoch trains with finite losses, and localizing the same weights on
    CUDA gives the CPU detections (float rounding aside)."""
    import numpy as np

    from wtal.infer import load
    from wtal.train.trainer import Trainer

    t = Trainer(tiny_cfg(tmp_path / "run", "train.epochs=1", "device=cuda", "amp=true",
                         "model.hamnet.pooling=op"))
    assert t.amp_dtype is not None
    means = t.fit()
    assert means["finished"]
    t.close()
    idx = t.dataset.indices("test")[:6]
    cpu = load(str(tmp_path / "run" / "last.pt"), device="cpu").localize_dataset(t.dataset, idx).sorted()
    gpu = load(str(tmp_path / "run" / "last.pt"), device="cuda").localize_dataset(t.dataset, idx).sorted()
    assert len(cpu) == len(gpu)
    np.testing.assert_allclose(gpu.score, cpu.score, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------- resume safety, logs
def test_resume_hint_works_as_printed_and_a_changed_config_is_an_error(tmp_path, run_wtal, capsys):
    import shlex

    cfg = write_yaml(tmp_path / "c.yaml", ["train.epochs=2", "deterministic=true", "eval.test=false"],
                     tmp_path / "unused")
    p = run_wtal("train", cfg, "--out-dir", tmp_path / "part", "--set", "train.stop_after_epochs=1")
    assert p.returncode == 0, p.stderr
    hint = p.stdout.split("continue with: ", 1)[1].splitlines()[0]
    args = shlex.split(hint)
    assert args[:2] == ["wtal", "train"], hint
    q = run_wtal(*args[1:])  # the hint as printed (run_wtal is `python -m wtal.cli`, i.e. `wtal`)
    assert q.returncode == 0, q.stderr
    assert "resumed" in q.stdout and "epoch 2/2" in q.stdout
    # equals an uninterrupted run
    from wtal.train.trainer import Trainer

    full = Trainer(load_config(cfg, [f"out_dir={tmp_path / 'full'}"]))
    full.fit()
    full.close()
    a, _, ea, sa = _weights(tmp_path / "full" / "last.pt")
    b, _, eb, sb = _weights(tmp_path / "part" / "last.pt")
    assert (ea, sa) == (eb, sb) == (2, 8) and all(torch.equal(a[k], b[k]) for k in a)
    # a differing --set or config file stops, naming the keys; the run is untouched
    before = (tmp_path / "part" / "last.pt").read_bytes()
    rc, err = _cli(capsys, "train", "--resume", "--out-dir", tmp_path / "part", "--set", "optim.lr=0.5",
                   "--set", "data.num_segments=40")
    assert rc == 2 and "differs from the one saved in" in err and "data.num_segments, optim.lr" in err
    other = write_yaml(tmp_path / "other.yaml", ["train.epochs=2", "deterministic=true", "model.hamnet.gamma=0.3"],
                       tmp_path / "part")
    rc, err = _cli(capsys, "train", other, "--resume")
    assert rc == 2 and "model.hamnet.gamma" in err and "eval.test" not in err  # eval.test may change
    assert (tmp_path / "part" / "last.pt").read_bytes() == before
    # RESUMABLE_CHANGES may differ; --force-config accepts the rest
    rc, err = _cli(capsys, "train", "--resume", "--out-dir", tmp_path / "part", "--set", "train.epochs=3",
                   "--set", "optim.lr=0.5", "--force-config")
    assert rc == 0, err
    assert _weights(tmp_path / "part" / "last.pt")[2] == 3
    rc, err = _cli(capsys, "train", "--resume")
    assert rc == 2 and "needs --out-dir" in err
    rc, err = _cli(capsys, "train")
    assert rc == 2 and "CONFIG" in err


def test_train_logs_without_a_terminal(tmp_path, run_wtal):
    cfg = write_yaml(tmp_path / "c.yaml", ["train.epochs=2", "train.eval_every=1", "eval.test=false"],
                     tmp_path / "run")
    p = run_wtal("train", cfg)
    assert p.returncode == 0, p.stderr
    log = (tmp_path / "run" / "train.log").read_text()
    for text in (p.stdout, log):
        assert "data: synthetic-thumos (synthetic): 32 training + 8 validation videos" in text
        assert "24 test videos" in text and "5 classes, 32-d features" in text
        assert "device cpu, AMP off" in text and "streams: joint 32-d" in text
        assert "epoch 1/2 (step 4): total" in text and "ETA" in text
        assert "epoch 2: validation average mAP" in text and "tIoU 0.1:" in text and "0.7:" in text
    assert "\r" not in p.stdout + p.stderr  # no progress bars without a terminal
    assert log.splitlines()[0][:4].isdigit()  # timestamped


# ---------------------------------------------------------------------- config inheritance
def test_config_base_inheritance(tmp_path):
    from wtal.train.config import read_config_file

    (tmp_path / "sub").mkdir()
    a = tmp_path / "a.yaml"
    a.write_text("base: hamnet_synthetic\noptim:\n  lr: 0.002\ndata:\n  options: {feature_dim: 16}\n")
    b = tmp_path / "sub" / "b.yaml"
    b.write_text("base: ../a.yaml\ntrain:\n  epochs: 3\nmodel:\n  hamnet: {gamma: 0.3}\n")
    cfg = load_config(b)
    ref = load_config(packaged_config("hamnet_synthetic"),
                      ["optim.lr=0.002", "data.options.feature_dim=16", "train.epochs=3", "model.hamnet.gamma=0.3"])
    assert cfg == ref
    assert cfg.data.options["num_videos"] == [200, 212]  # nested mappings merge
    assert cfg.model.hamnet.att_hidden == 64 and "base" not in read_config_file(b)
    # cycles, missing bases
    x, y = tmp_path / "x.yaml", tmp_path / "y.yaml"
    x.write_text("base: y.yaml\n")
    y.write_text("base: x.yaml\n")
    with pytest.raises(ValueError, match=r"x.yaml: base 'y.yaml' forms a cycle|y.yaml: base 'x.yaml' forms a cycle"):
        load_config(x)
    (tmp_path / "m.yaml").write_text("base: nosuch.yaml\n")
    with pytest.raises(FileNotFoundError, match=r"m.yaml: base file not found: .*nosuch.yaml"):
        load_config(tmp_path / "m.yaml")
    (tmp_path / "n.yaml").write_text("base: no_such_packaged\n")
    with pytest.raises(FileNotFoundError, match=r"n.yaml: base 'no_such_packaged' is not a packaged config"):
        load_config(tmp_path / "n.yaml")


def test_partial_yaml_without_base_is_an_error(tmp_path, capsys):
    p = tmp_path / "partial.yaml"
    p.write_text("train:\n  epochs: 3\n")
    with pytest.raises(ValueError, match=r"partial.yaml: sets no data.kind and names no base"):
        load_config(p)
    assert load_config(p, ["data.kind=synthetic"]).train.epochs == 3
    rc, err = _cli(capsys, "train", p)
    assert rc == 2 and "partial.yaml: sets no data.kind" in err
    (tmp_path / "d.yaml").write_text("data:\n  root: /x\n")
    from wtal.train.localize_cli import data_config_from

    with pytest.raises(ValueError, match=r"d.yaml: the data section sets no data.kind"):
        data_config_from(str(tmp_path / "d.yaml"), Config())


def test_model_section_of_a_model_registered_at_run_time(tmp_path):
    """model.<name> exists for a model registered after import (no static field per model), with
    typed errors for YAML and --set."""
    import toy_two_stream as toy

    with pytest.raises(ValueError, match=r"unknown config key 'model.toy_two_stream'"):
        load_config(None, ["model.toy_two_stream.hidden=8"])
    with toy.registered():
        cfg = load_config(None, ["model.name=toy_two_stream", "model.toy_two_stream.hidden=8", "model.streams=rgb"])
        assert cfg.model_config().hidden == 8 and cfg.streams() == ("rgb",)
        assert set(cfg.to_dict()["model"]) == {"name", "streams", "toy_two_stream"}
        with pytest.raises(ValueError, match=r"'model.toy_two_stream.hidden' must be an integer"):
            load_config(None, ["model.name=toy_two_stream", "model.toy_two_stream.hidden=wide"])
        with pytest.raises(ValueError, match=r"unknown config key 'model.toy_two_stream.hiden'.*did you mean 'model.toy_two_stream.hidden'"):
            load_config(None, ["model.name=toy_two_stream", "model.toy_two_stream.hiden=8"])
        with pytest.raises(ValueError, match=r"model.streams: toy_two_stream has streams \['rgb', 'flow'\]"):
            load_config(None, ["model.name=toy_two_stream", "model.streams=joint"])
        p = tmp_path / "t.yaml"
        p.write_text("data: {kind: synthetic}\nmodel:\n  name: toy_two_stream\n  toy_two_stream: {dropout: 0.1}\n")
        assert load_config(p).model.toy_two_stream.dropout == 0.1


def test_help_strings_come_from_the_registry_and_every_flag_has_help():
    from wtal.cli import build_parser
    from wtal.models import registry

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.dest != "help":
                assert action.help, f"wtal {name} {action.option_strings or action.dest} has no help"
    for name in ("train", "localize", "plot", "demo"):
        text = sub.choices[name].format_help()
        for spec in registry().values():
            assert spec.name in text, (name, spec.name)
    for name in ("localize", "plot", "demo"):
        dev = next(a for a in sub.choices[name]._actions if a.dest == "device")
        assert dev.default == "auto", name
