"""`wtal demo --quick` end to end: trains, localizes, evaluates, beats the trivial baseline, writes its files."""
from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_demo_quick_end_to_end(run_wtal, tmp_path):
    out = tmp_path / "demo"
    p = run_wtal("demo", "--quick", "--out", out, "--no-progress", timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "mAP (%)" in p.stdout and "trivial baseline" in p.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert [round(t, 2) for t in m["tiou"]] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    base = m["baseline_whole_video_oracle_labels"]["average_mAP"]
    # clearly above the oracle-label whole-video baseline (measured: 0.415 vs 0.037)
    assert m["average_mAP"] > max(3 * base, base + 0.15), (m["average_mAP"], base)
    pred = json.loads((out / "predictions.json").read_text())
    assert pred["results"] and set(pred) >= {"version", "results", "external_data"}
    assert (out / "best.pt").exists() and (out / "last.pt").exists()
    plots = sorted((out / "plots").glob("*.png"))
    assert len(plots) == 3 and all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in plots)
    # the checkpoint is usable by wtal localize
    q = run_wtal("localize", "--checkpoint", m["checkpoint"], "--out", tmp_path / "again.json")
    assert q.returncode == 0, q.stderr
    assert json.loads((tmp_path / "again.json").read_text())["results"] == pred["results"]
    # a second demo into the same directory refuses and keeps the first run's files
    before = (out / "metrics.json").read_bytes()
    r = run_wtal("demo", "--quick", "--out", out, "--no-progress")
    assert r.returncode == 2 and "already holds a run" in r.stderr
    assert (out / "metrics.json").read_bytes() == before


def test_whole_video_baseline_columns():
    import numpy as np

    from wtal.train.demo import whole_video_baseline

    class DS:
        videos = ["a", "b"]
        classes = ["x", "y", "z"]
        labels = np.array([[1, 0, 1], [0, 1, 0]], np.float32)
        durations = np.array([10.0, 5.5])

    cols = whole_video_baseline(DS, [0, 1])
    assert cols["video"].tolist() == ["a", "a", "b"] and cols["label"].tolist() == ["x", "z", "y"]
    assert cols["t_end"].tolist() == [10.0, 10.0, 5.5] and (cols["t_start"] == 0).all()
