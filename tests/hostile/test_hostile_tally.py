"""The catalog of scripts/hostile_tally.py (about 370 hostile and valid inputs over files, npy headers,
dataset readers, raw _C bindings and public ops, each in a crash-isolated child) has no crash, no
silent wrong answer, no poor error and no valid input rejected."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_hostile_tally_has_only_named_errors_and_correct_results():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "hostile_tally.py"), "--check"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr[-3000:]}"
    assert "| total |" in proc.stdout
