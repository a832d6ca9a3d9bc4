"""Run Python code in a child interpreter in which some top-level packages count as not installed.

``sys.modules[name] = None`` for each blocked name: ``import name`` (and of its submodules) raises
``ModuleNotFoundError`` and ``importlib.util.find_spec(name)`` returns None, exactly what code sees
when the package is missing (torch itself probes optional packages with ``find_spec``), while the
installed copies stay untouched. Tests use it to check the eval-only install (no torch / matplotlib /
tqdm) and the messages for missing optional packages offline.
"""
from __future__ import annotations

import subprocess
import sys

PRELUDE = "import sys\nfor _name in {names!r}:\n    sys.modules[_name] = None\n"


def run_without(blocked: list[str], code: str, **kwargs) -> subprocess.CompletedProcess:
    """``python -c code`` with ``blocked`` packages unimportable; returns the finished process."""
    return subprocess.run([sys.executable, "-c", PRELUDE.format(names=list(blocked)) + code],
                          capture_output=True, text=True, **kwargs)
