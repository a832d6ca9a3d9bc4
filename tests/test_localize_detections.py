"""wtal.localize.Detections: columns, validation, filtering, ActivityNet results JSON."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from wtal.localize import Detections


def _det():
    return Detections(np.array(["v1", "v2", "v1"], dtype=object), ["a", "b", "b"], [0.0, 1.5, 2.0],
                      np.array([1.0, 3.0, 4.5], dtype=np.float32), [0.9, 0.1, 0.5])


def test_columns_and_len():
    d = _det()
    assert len(d) == 3
    cols = d.to_columns()
    assert set(cols) == {"video", "t_start", "t_end", "label", "score"}
    assert cols["t_end"].dtype == np.float64 and cols["video"].dtype == object
    assert cols["video"].tolist() == ["v1", "v2", "v1"]
    cols["score"][0] = -1          # copies: the detections are unchanged
    assert d.score[0] == 0.9


def test_validation():
    with pytest.raises(ValueError, match="equal lengths"):
        Detections(["v"], ["a", "b"], [0.0], [1.0], [0.5])
    with pytest.raises(ValueError, match="score"):
        Detections(["v"], ["a"], [0.0], [1.0], [np.nan])
    with pytest.raises(TypeError, match="label"):
        Detections(["v"], [3], [0.0], [1.0], [0.5])
    with pytest.raises(TypeError, match="t_start"):
        Detections(["v"], ["a"], ["x"], [1.0], [0.5])
    with pytest.raises(ValueError, match="video"):
        Detections([["v"]], ["a"], [0.0], [1.0], [0.5])
    d = Detections([b"v"], [np.str_("a")], [0], [1], [1])
    assert d.video[0] == "v" and type(d.label[0]) is str and d.t_start.dtype == np.float64


def test_empty_concat_filter_sort():
    e = Detections.empty()
    assert len(e) == 0 and e.to_results_json()["results"] == {}
    d = _det()
    c = Detections.concat([d, e, d])
    assert len(c) == 6 and c.video.tolist() == ["v1", "v2", "v1"] * 2
    assert len(Detections.concat([])) == 0
    with pytest.raises(TypeError):
        Detections.concat([d, "x"])
    v1 = d.for_videos("v1")
    assert v1.t_start.tolist() == [0.0, 2.0]
    assert len(d.for_videos(["v1", "v2"])) == 3 and len(d.for_videos([])) == 0
    s = d.sorted()
    assert s.video.tolist() == ["v1", "v1", "v2"] and s.score.tolist() == [0.9, 0.5, 0.1]
    assert d.take([2, 0]).score.tolist() == [0.5, 0.9]
    with pytest.raises(ValueError, match="mask"):
        d.take(np.array([True]))


def test_from_indices():
    d = Detections.from_indices(["x", "y"], ["a", "b", "c"], [1, 0], [2, 2], [0, 1], [1, 2], [0.3, 0.2])
    assert d.video.tolist() == ["y", "x"] and d.label.tolist() == ["c", "c"]
    with pytest.raises(ValueError, match="class_index"):
        Detections.from_indices(["x"], ["a"], [0], [1], [0], [1], [0.3])
    with pytest.raises(ValueError, match="equal lengths"):
        Detections.from_indices(["x"], ["a"], [0, 0], [0], [0], [1], [0.3])


def test_results_json_and_atomic_write(tmp_path):
    d = _det()
    r = d.to_results_json(videos=["v0", "v1"])
    assert list(r["results"]) == ["v0", "v1", "v2"] and r["results"]["v0"] == []
    assert r["results"]["v1"][1] == {"label": "b", "score": 0.5, "segment": [2.0, 4.5]}
    assert r["version"] == "VERSION 1.3" and r["external_data"] == {}
    path = tmp_path / "out" / "res.json"
    d.write(path, version="x")
    loaded = json.loads(path.read_text())
    assert loaded["version"] == "x"
    back = Detections.from_results_json(str(path))
    assert back.video.tolist() == ["v1", "v1", "v2"] and back.score.tolist() == [0.9, 0.5, 0.1]
    assert [p for p in os.listdir(path.parent) if p != "res.json"] == []   # no temp file left
    with pytest.raises(ValueError, match="results"):
        Detections.from_results_json({"version": "x"})


def test_write_failure_keeps_previous_file(tmp_path):
    path = tmp_path / "res.json"
    path.write_text("old")
    bad = Detections._unchecked(np.array(["v"], dtype=object), np.array(["a"], dtype=object),
                                np.array([0.0]), np.array([np.inf]), np.array([1.0]))
    with pytest.raises(ValueError):
        bad.write(path)               # JSON has no inf: nothing is written
    assert path.read_text() == "old"
