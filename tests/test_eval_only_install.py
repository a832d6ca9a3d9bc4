"""The eval-only install: without torch, matplotlib and tqdm (not pulled by a plain ``pip install .``),
``wtal eval``, ``wtal.eval`` and the numpy paths of ``wtal.ops`` work and import none of them, and
``wtal demo`` (torch installed by the README's command) still completes, skipping only the plots.

The packages are hidden in a child interpreter by a ``sys.meta_path`` blocker (tests/blocked_imports.py),
so this runs offline in CI; the fresh-venv check it stands for is described in the README.
"""
from __future__ import annotations

import json
import os

import pytest

from blocked_imports import run_without

DATA = os.path.join(os.path.dirname(__file__), "data")
THUMOS_JSON = os.path.join(DATA, "thumos14_test_gt.json")
HEAVY = ["torch", "matplotlib", "tqdm"]

EVAL = """
import json, sys
import numpy as np
import wtal.eval, wtal.cli
from wtal.eval import load_ground_truth, write_results
gt = load_ground_truth(%(gt)r)
write_results(%(pred)r, {**gt, "score": np.linspace(1, 0.1, len(gt["video"]))})
rc = wtal.cli.main(["eval", "--gt", %(gt)r, "--pred", %(pred)r, "--subset", "test", "--out", %(out)r])
import wtal.ops as ops
a = np.array([[0.0, 2.0], [1.0, 3.0]])
iou = ops.segment_iou(a, a)
keep, _ = ops.nms(a, np.array([0.9, 0.8]), iou_threshold=0.3)
segs = ops.connected_components(np.array([[0.1, 0.9, 0.9, 0.2]]), np.array([4]), np.array([0.5]))
assert np.allclose(np.diag(iou), 1) and len(keep) == 1 and len(segs.start) == 1
print(json.dumps({"rc": rc, "heavy": sorted(m for m in %(heavy)r if sys.modules.get(m) is not None)}))
"""


def test_eval_and_numpy_ops_without_torch_matplotlib_tqdm(tmp_path):
    code = EVAL % {"gt": THUMOS_JSON, "pred": str(tmp_path / "pred.json"), "out": str(tmp_path / "m.json"),
                   "heavy": HEAVY}
    proc = run_without(HEAVY, code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last == {"rc": 0, "heavy": []}
    assert "210 videos, 3311 instances, 20 classes" in proc.stdout
    assert json.loads((tmp_path / "m.json").read_text())["average_mAP"] == pytest.approx(1.0)
    proc = run_without(HEAVY, "import sys; del sys.modules['torch']; import wtal.eval; assert 'torch' not in sys.modules")
    assert proc.returncode == 0, proc.stderr


def test_blocker_really_hides_torch():
    proc = run_without(HEAVY, "import torch")
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr


@pytest.mark.slow
def test_demo_without_matplotlib_and_tqdm_skips_only_the_plots(tmp_path):
    out = tmp_path / "demo"
    code = ("import sys, wtal.cli; sys.exit(wtal.cli.main(['demo', '--quick', '--out', %r, '--set', 'train.epochs=2', "
            "'--set', 'train.eval_every=1', '--set', 'data.options.num_videos=[40, 20]']))" % str(out))
    proc = run_without(["matplotlib", "tqdm"], code, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    skipped = [ln for ln in proc.stdout.splitlines() if ln.startswith("plots skipped")]
    assert skipped == ['plots skipped: matplotlib is not installed (pip install "wtal[train]" adds it)']
    assert (out / "metrics.json").exists() and (out / "predictions.json").exists() and (out / "best.pt").exists()
    assert not list(out.glob("plots/*.png"))
    # wtal plot says what is missing, in one line
    m = json.loads((out / "metrics.json").read_text())
    video = "video_test_00000"  # wtal.data.synthetic's naming
    proc = run_without(["matplotlib"], "import sys, wtal.cli; sys.exit(wtal.cli.main(['plot', '--checkpoint', %r, "
                       "'--video', %r, '--out', %r]))" % (m["checkpoint"], video, str(tmp_path / "v.png")),
                       cwd=tmp_path)
    assert proc.returncode == 2 and "matplotlib" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
