"""Shared pytest configuration: hypothesis profiles and the CUDA marker."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Child interpreters (subprocess tests, torchrun workers) started from the repository root would put the
# uncompiled source tree first on sys.path (python -c / -m prepend the working directory) and shadow the
# installed package. PYTHONSAFEPATH (Python >= 3.11) turns that off for every child.
os.environ.setdefault("PYTHONSAFEPATH", "1")

settings.register_profile("ci", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("WTAL_HYPOTHESIS_PROFILE", "ci"))


def _cuda_ok() -> bool:
    try:
        import torch
        import wtal.ops

        return torch.cuda.is_available() and wtal.ops.cuda_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _cuda_ok():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device and a CUDA build of wtal")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def run_wtal(tmp_path):
    """Run ``python -m wtal.cli ARGS`` in a subprocess, from a directory outside the source tree.

    (``python -c``/``-m`` put the working directory first on sys.path; from the repository root that
    would import the uncompiled source package instead of the installed one.)
    """
    import subprocess
    import sys

    def run(*args: str, check: bool = False, timeout: float = 600):
        proc = subprocess.run([sys.executable, "-m", "wtal.cli", *map(str, args)], capture_output=True,
                              text=True, cwd=tmp_path, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"wtal {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    return run
