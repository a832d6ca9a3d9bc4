"""Helpers of the hostile-input tests: run a reader in a child interpreter, so that a segfault fails
the test instead of killing the suite."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

_CHILD = textwrap.dedent(r"""
    import importlib, json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # a huge allocation fails, never swaps
    module, name = sys.argv[1].rsplit(".", 1)
    fn = getattr(importlib.import_module(module), name)
    for args in json.loads(sys.argv[2]):
        print("calling", args, file=sys.stderr, flush=True)
        try:
            out = fn(*args)
        except BaseException as exc:
            res = {"type": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__], "message": str(exc)}
        else:
            res = {"type": None, "repr": repr(out)[:500]}
        print(json.dumps(res), flush=True)
""")


@pytest.fixture
def in_child():
    """``in_child("wtal.safe_npy.load_npy", path)`` calls the function in a fresh interpreter and returns
    ``{"type", "mro", "message"}`` of the exception it raised (``type`` None if it returned);
    ``in_child.many(qualname, [path, ...])`` does it for several single-argument calls in one
    interpreter. Either fails the test if the interpreter died (naming the call)."""

    def many(qualname: str, calls, timeout: float = 120):
        calls = [[os.fspath(a) for a in (c if isinstance(c, (list, tuple)) else [c])] for c in calls]
        proc = subprocess.run([sys.executable, "-c", _CHILD, qualname, json.dumps(calls)],
                              capture_output=True, text=True, timeout=timeout)
        results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or len(results) != len(calls):
            last = [ln for ln in proc.stderr.splitlines() if ln.startswith("calling")][-1:]
            pytest.fail(f"{qualname} killed the interpreter (rc {proc.returncode}) at {last}:\n{proc.stderr[-2000:]}")
        return results

    def run(qualname: str, *args, timeout: float = 120):
        return many(qualname, [list(args)], timeout)[0]

    run.many = many
    return run
