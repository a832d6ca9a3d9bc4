"""``wtal bench``: run the benchmark suite (pytest-benchmark) of a source checkout.

The suites live in ``benchmarks/`` of the repository (they reuse the reference implementations in
``tests/``), so this command needs a checkout: it looks at ``--path``, then ``./benchmarks``, then the
``benchmarks/`` folder next to the imported ``wtal`` package (editable or in-tree use).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="small problem sizes (WTAL_BENCH_QUICK=1)")
    parser.add_argument("--path", default=None, help="benchmarks folder of a wtal checkout")
    parser.add_argument("-k", dest="keyword", default=None, help="only benchmarks matching this pytest -k expression")
    parser.add_argument("--json", default=None, help="also write pytest-benchmark's JSON report here")


def find_benchmarks(path: str | None) -> str:
    candidates = [path] if path else [
        os.path.join(os.getcwd(), "benchmarks"),
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"),
    ]
    for c in candidates:
        if c and os.path.isfile(os.path.join(c, "conftest.py")):
            return c
    raise FileNotFoundError(
        "no benchmarks folder found (looked at: " + ", ".join(str(c) for c in candidates) + "); run "
        "`wtal bench` from a wtal source checkout or pass --path CHECKOUT/benchmarks")


def run(args: argparse.Namespace) -> int:
    bench_dir = find_benchmarks(args.path)
    try:
        import pytest_benchmark  # noqa: F401
    except ImportError as exc:
        raise FileNotFoundError("wtal bench needs pytest-benchmark: pip install 'wtal[test]'") from exc
    env = dict(os.environ)
    if args.quick:
        env["WTAL_BENCH_QUICK"] = "1"
    cmd = [sys.executable, "-m", "pytest", bench_dir, "-q", "-p", "no:cacheprovider",
           "--benchmark-only", "--benchmark-group-by=group", "--benchmark-columns=min,median,mean,rounds"]
    if args.keyword:
        cmd += ["-k", args.keyword]
    if args.json:
        cmd += [f"--benchmark-json={args.json}"]
    # cwd = the benchmarks folder itself: `python -m` puts cwd first on sys.path, and the checkout root
    # would shadow the installed package with the uncompiled sources. pytest still finds pyproject.toml.
    return subprocess.call(cmd, cwd=os.path.abspath(bench_dir), env=env)
