"""Columnar --pred / --gt files (.npz, .parquet, .csv; ActionFormer column names) read by wtal.eval.io."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from blocked_imports import run_without
from wtal.eval import evaluate_detection, load_ground_truth, load_predictions, write_results

DATA = os.path.join(os.path.dirname(__file__), "data")
THUMOS_JSON = os.path.join(DATA, "thumos14_test_gt.json")


def _pred(n=300, seed=0):
    rng = np.random.default_rng(seed)
    gt = load_ground_truth(THUMOS_JSON)
    i = rng.integers(0, len(gt["video"]), n)
    s = gt["t_start"][i] + rng.normal(0, 1, n)
    return gt, {"video": gt["video"][i].astype(str), "t_start": s, "t_end": s + rng.uniform(1, 10, n),
                "label": gt["label"][i].astype(str), "score": rng.permutation(n) / n}


def _same(a, b):
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].tolist() == b[k].tolist(), k


def _write(kind, path, cols):
    if kind == "npz":
        np.savez(path, **cols)
    elif kind == "parquet":
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(pa.table(cols), path)
    else:
        pd = pytest.importorskip("pandas")
        pd.DataFrame(cols).to_csv(path, index=False, float_format="%.17g")


KINDS = ["npz", "parquet", "csv"]


@pytest.mark.parametrize("kind", KINDS)
def test_columnar_predictions_equal_json(tmp_path, kind):
    gt, pred = _pred()
    write_results(tmp_path / "r.json", pred)
    _write(kind, tmp_path / f"r.{kind}", pred)
    got = load_predictions(tmp_path / f"r.{kind}")
    want = load_predictions({k: v for k, v in pred.items()})
    _same(got, want)
    a = evaluate_detection(THUMOS_JSON, str(tmp_path / f"r.{kind}"))
    b = evaluate_detection(THUMOS_JSON, str(tmp_path / "r.json"))
    assert a.to_dict() == evaluate_detection(gt, pred).to_dict()
    assert a.average_mAP > 0 and sorted(a.to_dict()["ap"]) == sorted(b.to_dict()["ap"])


@pytest.mark.parametrize("kind", KINDS)
def test_actionformer_names_and_ground_truth(tmp_path, kind):
    gt, pred = _pred()
    af = {"video-id": pred["video"], "t-start": pred["t_start"], "t-end": pred["t_end"], "label": pred["label"],
          "score": pred["score"]}
    _write(kind, tmp_path / f"af.{kind}", af)
    _same(load_predictions(tmp_path / f"af.{kind}"), load_predictions(pred))
    sub = np.where(np.arange(len(gt["video"])) % 2 == 0, "test", "val")
    g = {"video-id": gt["video"].astype(str), "t-start": gt["t_start"], "t-end": gt["t_end"],
         "label": gt["label"].astype(str), "subset": sub}
    _write(kind, tmp_path / f"gt.{kind}", g)
    cols, info = load_ground_truth(tmp_path / f"gt.{kind}", subset="test", return_info=True)
    assert cols["video"].tolist() == gt["video"][sub == "test"].tolist()
    assert set(info.subsets.tolist()) == {"test"}
    _, info_all = load_ground_truth(tmp_path / f"gt.{kind}", return_info=True)
    assert set(info_all.subsets.tolist()) == {"test", "val"}


def test_numeric_looking_video_ids_stay_text(tmp_path):
    pytest.importorskip("pyarrow")
    (tmp_path / "r.csv").write_text("video,t_start,t_end,label,score\n0001,1,2,3,0.5\n0002,1.5,2.5,3,0.25\n")
    pred = load_predictions(tmp_path / "r.csv")
    assert pred["video"].tolist() == ["0001", "0002"] and pred["label"].tolist() == [3, 3]


def test_columnar_errors_name_the_file(tmp_path):
    _, pred = _pred(5)
    np.savez(tmp_path / "both.npz", **pred, **{"video-id": pred["video"]})
    with pytest.raises(ValueError, match=r"both\.npz: has both 'video' and its ActionFormer name 'video-id'"):
        load_predictions(tmp_path / "both.npz")
    np.savez(tmp_path / "noscore.npz", **{k: v for k, v in pred.items() if k != "score"})
    with pytest.raises(ValueError, match=r"noscore\.npz: missing column\(s\) 'score' .*video-id"):
        load_predictions(tmp_path / "noscore.npz")
    np.savez(tmp_path / "obj.npz", **{**pred, "video": pred["video"].astype(object)})
    with pytest.raises(ValueError, match=r"obj\.npz: holds object arrays"):
        load_predictions(tmp_path / "obj.npz")
    np.savez(tmp_path / "str.npz", **{**pred, "score": np.array(["0.5", "high", "1", "2", "3"])})
    with pytest.raises(ValueError, match=r"str\.npz: row 1, column 'score'.*non-numeric string 'high'"):
        load_predictions(tmp_path / "str.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"junk\.npz: cannot read as \.npz"):
        load_predictions(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError, match=r"nope\.parquet"):
        load_predictions(tmp_path / "nope.parquet")


def test_cli_columnar_and_errors(run_wtal, tmp_path):
    gt, pred = _pred()
    np.savez(tmp_path / "r.npz", **pred)
    out = tmp_path / "m.json"
    run_wtal("eval", "--gt", THUMOS_JSON, "--pred", tmp_path / "r.npz", "--out", out, check=True)
    assert json.loads(out.read_text()) == evaluate_detection(gt, pred).to_dict()
    bad = {**pred, "score": np.where(np.arange(len(pred["score"])) == 7, np.nan, pred["score"])}
    np.savez(tmp_path / "nan.npz", **bad)
    proc = run_wtal("eval", "--gt", THUMOS_JSON, "--pred", tmp_path / "nan.npz")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "nan.npz" in proc.stderr and "NaN at row 7" in proc.stderr and repr(str(pred["video"][7])) in proc.stderr


@pytest.mark.parametrize("suffix, needs", [(".parquet", "pyarrow"), (".csv", "pyarrow or pandas")])
def test_missing_package_message(tmp_path, suffix, needs):
    path = tmp_path / f"r{suffix}"
    path.write_text("video,t_start,t_end,label,score\n")
    code = ("import sys, wtal.cli; sys.exit(wtal.cli.main(['eval', '--gt', %r, '--pred', %r]))"
            % (THUMOS_JSON, str(path)))
    proc = run_without(["pyarrow", "pandas"], code)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and line.startswith("wtal eval: error: ") and str(path) in line and needs in line
