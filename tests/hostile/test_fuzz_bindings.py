"""Bounded hypothesis fuzz of every wtal._C function in a child interpreter (issue 13, bar 2).

The quick run (part of the suite, a few seconds) tries the known crash classes of the issue and a
dozen random draws per function; a longer run is opt-in:

    WTAL_FUZZ_EXAMPLES=2000 PYTHONPATH=$PWD python -m pytest -q tests/hostile/test_fuzz_bindings.py

(``WTAL_FUZZ_SEED`` picks a random seed instead of the derandomized default.)
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fuzz_child  # noqa: E402


def test_every_binding_has_a_fuzz_strategy():
    # a new op must bring its strategy: this fails until fuzz_child.STRATEGIES covers it
    names = set(fuzz_child.bindings())
    missing = sorted(names - set(fuzz_child.STRATEGIES))
    assert not missing, f"wtal._C functions without a fuzz strategy in tests/hostile/fuzz_child.py: {missing}"
    stale = sorted(set(fuzz_child.STRATEGIES) - names)
    assert not stale, f"fuzz strategies for functions wtal._C no longer has: {stale}"
    assert fuzz_child.NOT_FUNCTIONS <= set(dir(fuzz_child._C))


def test_fuzz_every_binding_in_a_child_process(tmp_path):
    examples = int(os.environ.get("WTAL_FUZZ_EXAMPLES", "12"))
    log = tmp_path / "fuzz.log"
    cmd = [sys.executable, "-W", "ignore", os.path.join(HERE, "fuzz_child.py"), "--examples", str(examples),
           "--log", str(log)]
    if os.environ.get("WTAL_FUZZ_SEED"):
        cmd += ["--seed", os.environ["WTAL_FUZZ_SEED"]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60 + examples * 30)
    if proc.returncode != 0:
        last = log.read_text().splitlines()[-1] if log.exists() and log.read_text() else "(no call logged)"
        pytest.fail(f"fuzz child failed with rc {proc.returncode} (a negative rc is the signal that killed it); "
                    f"last call:\n{last[:3000]}\nstderr:\n{proc.stderr[-3000:]}")
    # every function was called and answered (returned or raised) every time
    for name in fuzz_child.bindings():
        assert f"{name}:" in proc.stdout, f"{name} was not fuzzed:\n{proc.stdout}"
