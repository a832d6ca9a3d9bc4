"""Plots: a PNG per video, matplotlib only imported on use, `wtal plot` on a trained checkpoint."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

PNG = b"\x89PNG\r\n\x1a\n"


def test_import_viz_does_not_import_matplotlib():
    code = "import sys, wtal.viz, wtal.viz.cli; assert 'matplotlib' not in sys.modules; print('ok')"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0 and "ok" in p.stdout, p.stderr


def test_plot_video_writes_png(tmp_path):
    from wtal.viz.plots import plot_video

    T = 120
    t = np.arange(T)
    att = 1 / (1 + np.exp(3 - 6.0 * (np.abs(t - 60) < 15)))
    cas = np.stack([np.sin(t / 9), np.cos(t / 7)], 1)
    det = {"t_start": np.array([30.0, 10.0]), "t_end": np.array([50.0, 20.0]),
           "label": np.array(["a", "b"], object), "score": np.array([0.9, 0.2])}
    gt = {"t_start": np.array([29.0]), "t_end": np.array([48.0]), "label": np.array(["a"], object)}
    path = plot_video(tmp_path / "v.png", attention=att, cas=cas, class_names=["a", "b"], seconds_per_snippet=0.64,
                      thresholds=np.linspace(0.1, 0.9, 10), detections=det, ground_truth=gt, title="v")
    data = (tmp_path / "v.png").read_bytes()
    assert path.endswith("v.png") and data[:8] == PNG and len(data) > 5000
    # no attention panel, no detections, 1-D cas
    plot_video(tmp_path / "w.png", attention=None, cas=cas[:, 0], class_names=["a"], seconds_per_snippet=1.0)
    assert (tmp_path / "w.png").read_bytes()[:8] == PNG
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_plot_video_rejects_mismatched_names(tmp_path):
    from wtal.viz.plots import plot_video

    with pytest.raises(ValueError, match="class_names"):
        plot_video(tmp_path / "x.png", attention=None, cas=np.zeros((5, 2)), class_names=["a"],
                   seconds_per_snippet=1.0)
    assert not (tmp_path / "x.png").exists()


def test_plot_cli_on_checkpoint(tmp_path, capsys):
    from test_trainer import tiny_cfg

    from wtal.cli import main
    from wtal.train.trainer import Trainer

    t = Trainer(tiny_cfg(tmp_path / "run", "train.epochs=1", "data.val_fraction=0"))
    t.fit()
    video = t.dataset.videos[t.dataset.indices("test")[0]]
    t.close()
    rc = main(["plot", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--video", video,
               "--out", str(tmp_path / "p.png")])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG
    rc = main(["plot", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--video", "no_such_video",
               "--out", str(tmp_path / "q.png")])
    assert rc == 2 and "no_such_video" in capsys.readouterr().err
    others = [t.dataset.videos[i] for i in t.dataset.indices("test")[1:3]]
    args = ["plot", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--video", others[0], "--video", others[1]]
    rc = main(args + ["--out-dir", str(tmp_path / "many")])
    assert rc == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == sorted(f"{v}.png" for v in others)
    rc = main(args + ["--out", str(tmp_path / "two.png")])
    assert rc == 2 and "use --out-dir DIR for several videos" in capsys.readouterr().err
