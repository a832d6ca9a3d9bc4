"""Candidates for reading an ActivityNet results JSON into columns: time and peak RSS per candidate.

Each candidate runs in a fresh process (so peak RSS is its own): read the file, parse it, and build
the ``video, t_start, t_end, label, score`` columns that :func:`wtal.eval.load_predictions` returns.
The file is the one ``eval_cli_scale.py`` writes (``make_anet_like`` of ``bench_detection_map.py``,
written by :func:`wtal.eval.write_results`); every candidate's columns are checked against the
stdlib ones. Candidates whose package is not installed are skipped (``pip install orjson msgspec
pysimdjson`` into any directory and pass it with ``--extra-path``; wtal itself needs none of them).

Run from a checkout: ``python benchmarks/compare_json_readers.py --n 1000000 [--extra-path DIR]``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Each snippet defines columns(path) -> dict of numpy arrays; "parse" marks the end of parsing.
CANDIDATES = {
    "stdlib json.loads + wtal columns (wtal before issue 12)": """
import json
from wtal.eval.io import load_predictions
def columns(path):
    doc = json.loads(open(path, 'rb').read()); mark('parse')
    return load_predictions(doc)
""",
    "orjson.loads + wtal columns": """
import orjson
from wtal.eval.io import load_predictions
def columns(path):
    doc = orjson.loads(open(path, 'rb').read()); mark('parse')
    return load_predictions(doc)
""",
    "pysimdjson (as_dict) + wtal columns": """
import simdjson
from wtal.eval.io import load_predictions
def columns(path):
    doc = simdjson.Parser().parse(open(path, 'rb').read()).as_dict(); mark('parse')
    return load_predictions(doc)
""",
    "msgspec typed structs + numpy columns": """
import msgspec, numpy as np
class P(msgspec.Struct):
    label: str | int
    score: float
    segment: tuple[float, float]
class R(msgspec.Struct):
    results: dict[str, list[P]]
def columns(path):
    r = msgspec.json.decode(open(path, 'rb').read(), type=R); mark('parse')
    video, ts, te, lab, sc = [], [], [], [], []
    for v, preds in r.results.items():
        video += [v] * len(preds)
        for p in preds:
            ts.append(p.segment[0]); te.append(p.segment[1]); lab.append(p.label); sc.append(p.score)
    obj = lambda x: np.array(x, dtype=object)
    return {"video": obj(video), "t_start": np.array(ts), "t_end": np.array(te), "label": obj(lab),
            "score": np.array(sc)}
""",
    "wtal C++ reader (_C.parse_results_json)": """
from wtal.eval.io import load_predictions
def columns(path):
    return load_predictions(path)
""",
}

CHILD = """
import hashlib, sys, time, pickle
def peak_mb():  # VmHWM starts afresh at exec (ru_maxrss would carry the parent's peak over)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
t0 = time.perf_counter()
marks = {}
def mark(name):
    marks[name] = time.perf_counter() - t0
%s
base_rss = peak_mb()
t0 = time.perf_counter()
cols = columns(sys.argv[1])
total = time.perf_counter() - t0
peak = peak_mb()
digest = {k: hashlib.sha256(repr(v.tolist()).encode() if v.dtype == object else v.tobytes()).hexdigest()
          for k, v in cols.items()}
pickle.dump({"total_s": total, "parse_s": marks.get("parse", total), "peak_rss_mb": peak,
             "import_rss_mb": base_rss, "digest": digest}, open(sys.argv[2], "wb"))
"""


def main(argv: list[str] | None = None) -> int:
    import pickle

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="predictions (default 1M)")
    ap.add_argument("--videos", type=int, default=5_000)
    ap.add_argument("--dir", default=os.path.join("/tmp", "wtal_eval_scale"))
    ap.add_argument("--extra-path", default="", help="a directory holding orjson / msgspec / simdjson")
    args = ap.parse_args(argv)
    sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), os.path.join(ROOT, "benchmarks")]
    from eval_cli_scale import generate

    _, pred_path, _, _ = generate(args.dir, args.n, args.videos, 200)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (ROOT, args.extra_path) if p)}
    rows, reference = [], None
    for name, code in CANDIDATES.items():
        out = os.path.join(args.dir, "candidate.pkl")
        proc = subprocess.run([sys.executable, "-c", CHILD % code, pred_path, out], env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            why = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
            print(f"{name}: skipped ({why})", flush=True)
            continue
        r = pickle.load(open(out, "rb"))
        os.remove(out)
        if reference is None:
            reference = r["digest"]
        assert r["digest"] == reference, f"{name}: columns differ from the stdlib parse"
        rows.append((name, r))
        print(f"{name}: {r['total_s']:.2f} s (parse {r['parse_s']:.2f} s), peak RSS {r['peak_rss_mb']:.0f} MB "
              f"(after imports {r['import_rss_mb']:.0f} MB)", flush=True)
    size = os.path.getsize(pred_path) / 1e6
    print(f"\n{args.n:,} predictions, {size:.0f} MB file; file -> columns, each in a fresh process")
    print(f"| candidate | file -> columns (s) | of which parse (s) | peak RSS (MB) |\n| --- | --- | --- | --- |")
    for name, r in rows:
        print(f"| {name} | {r['total_s']:.2f} | {r['parse_s']:.2f} | {r['peak_rss_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
