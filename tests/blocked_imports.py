"""Run Python code in a child interpreter in which some top-level packages cannot be imported.

A ``sys.meta_path`` finder placed first raises ``ModuleNotFoundError`` for the blocked names, as if
they were not installed (the installed copies stay invisible), so tests can check the eval-only
install (no torch / matplotlib / tqdm) and the messages for missing optional packages offline.
"""
from __future__ import annotations

import subprocess
import sys

PRELUDE = """
import sys
class _Blocked:
    names = set({names!r})
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Blocked())
"""


def run_without(blocked: list[str], code: str, **kwargs) -> subprocess.CompletedProcess:
    """``python -c code`` with ``blocked`` packages unimportable; returns the finished process."""
    return subprocess.run([sys.executable, "-c", PRELUDE.format(names=list(blocked)) + code],
                          capture_output=True, text=True, **kwargs)
