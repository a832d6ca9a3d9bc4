"""Benchmarks reuse the tests' input builders and reference implementations (pytorch3d style).

Run: ``pytest benchmarks`` (full sizes) or ``WTAL_BENCH_QUICK=1 pytest benchmarks`` (small sizes).
Each file groups wtal and its baseline in one pytest-benchmark group so the table shows them side by
side; ratios are computed within one run.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

QUICK = os.environ.get("WTAL_BENCH_QUICK", "0") not in ("", "0", "false", "False")
