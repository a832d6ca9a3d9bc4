"""``wtal eval`` end to end on large ActivityNet results JSON files, measured with ``/usr/bin/time -v``.

Generates the synthetic ActivityNet-1.3-like set of ``bench_detection_map.py`` (``make_anet_like``:
jittered copies of GT and random segments, continuous scores, 200 classes) as a ground-truth JSON
(subset ``validation``) and a results JSON written by :func:`wtal.eval.write_results`, then runs
``python -m wtal.cli eval --gt GT --pred RESULTS --subset validation`` in a fresh process under
``/usr/bin/time -v`` and reports wall time and peak RSS. The metrics the CLI writes are checked
against :func:`wtal.eval.evaluate_detection` on the in-memory columns (bit for bit).

Run from a checkout (after ``scripts/dev_build.sh``)::

    python benchmarks/eval_cli_scale.py                      # the issue-12 bar: 1M predictions, 5,000 videos
    python benchmarks/eval_cli_scale.py --curve              # 1M, 3M, 10M predictions on 20,000 videos
    python benchmarks/eval_cli_scale.py --sizes 100000 --videos 5000 --keep   # keep the files in --dir

Needs about 1 GB of disk and ~4 GB of memory per 10M predictions (the generator, not the CLI).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from bench_detection_map import THRESHOLDS, make_anet_like  # noqa: E402

from wtal._atomic import atomic_write_text  # noqa: E402
from wtal.eval import evaluate_detection, write_results  # noqa: E402


def write_ground_truth(path: str, gt: dict) -> None:
    """ActivityNet ground-truth JSON (``database``, subset ``validation``) of GT columns, in row order."""
    db: dict = {}
    for v, s, e, lab in zip(gt["video"].tolist(), gt["t_start"].tolist(), gt["t_end"].tolist(),
                            gt["label"].tolist()):
        entry = db.setdefault(v, {"subset": "validation", "annotations": []})
        entry["annotations"].append({"label": lab, "segment": [s, e]})
    atomic_write_text(path, json.dumps({"version": "synthetic", "taxonomy": [], "database": db}))


def generate(directory: str, n: int, videos: int, classes: int) -> tuple[str, str, dict, dict]:
    os.makedirs(directory, exist_ok=True)
    gt, pred = make_anet_like(n, num_videos=videos, num_classes=classes)
    tag = f"{n}_{videos}_{classes}"
    gt_path = os.path.join(directory, f"gt_{tag}.json")
    pred_path = os.path.join(directory, f"results_{tag}.json")
    if not os.path.exists(gt_path):
        write_ground_truth(gt_path, gt)
    if not os.path.exists(pred_path):
        t0 = time.perf_counter()
        write_results(pred_path, pred)
        print(f"  wrote {pred_path} ({os.path.getsize(pred_path) / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s",
              flush=True)
    return gt_path, pred_path, gt, pred


def time_v(cmd: list[str], env: dict | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, peak RSS MB, process) of ``/usr/bin/time -v cmd``."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if proc.returncode != 0 or wall is None or rss is None:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    h, m, s = wall.groups()
    seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
    return seconds, int(rss.group(1)) / 1024, proc


def measure(directory: str, n: int, videos: int, classes: int, keep: bool) -> dict:
    gt_path, pred_path, gt, pred = generate(directory, n, videos, classes)
    out = os.path.join(directory, f"metrics_{n}.json")
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    wall, rss, proc = time_v([sys.executable, "-m", "wtal.cli", "eval", "--gt", gt_path, "--pred", pred_path,
                              "--subset", "validation", "--out", out], env=env)
    got = json.loads(open(out).read())
    want = evaluate_detection(gt, pred, tiou_thresholds=THRESHOLDS).to_dict()
    assert got == want, "wtal eval on the JSON files differs from evaluate_detection on the columns"
    size_mb = os.path.getsize(pred_path) / 1e6
    if not keep:
        for p in (gt_path, pred_path, out):
            os.remove(p)
    return {"predictions": n, "videos": videos, "file_mb": round(size_mb, 1), "wall_s": round(wall, 3),
            "peak_rss_mb": round(rss, 1), "average_mAP": got["average_mAP"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=None, help="comma-separated prediction counts (default 1000000)")
    ap.add_argument("--videos", type=int, default=None, help="videos (default 5000; 20000 with --curve)")
    ap.add_argument("--classes", type=int, default=200)
    ap.add_argument("--curve", action="store_true", help="1M, 3M, 10M predictions on 20,000 videos")
    ap.add_argument("--dir", default=os.path.join("/tmp", "wtal_eval_scale"), help="where the files go")
    ap.add_argument("--keep", action="store_true", help="keep the generated files (reused by later runs)")
    args = ap.parse_args(argv)
    if args.curve:
        sizes = [1_000_000, 3_000_000, 10_000_000]
        videos = args.videos or 20_000
    else:
        sizes = [int(s) for s in (args.sizes or "1000000").split(",")]
        videos = args.videos or 5_000
    rows = []
    for n in sizes:
        r = measure(args.dir, n, videos, args.classes, args.keep)
        rows.append(r)
        print(json.dumps(r), flush=True)
    print(f"\n{'predictions':>12} {'videos':>7} {'file MB':>8} {'wall s':>8} {'peak RSS MB':>12}")
    for r in rows:
        print(f"{r['predictions']:>12,} {r['videos']:>7,} {r['file_mb']:>8.0f} {r['wall_s']:>8.2f} {r['peak_rss_mb']:>12.0f}")
    if len(rows) > 1:
        base = rows[0]
        for r in rows[1:]:
            k = r["predictions"] / base["predictions"]
            nlogn = k * np.log(r["predictions"]) / np.log(base["predictions"])
            print(f"{r['predictions']:,} vs {base['predictions']:,}: time x{r['wall_s'] / base['wall_s']:.2f} "
                  f"(n log n bound x{nlogn:.2f}), memory x{r['peak_rss_mb'] / base['peak_rss_mb']:.2f} (n: x{k:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
