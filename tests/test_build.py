"""The package imports light (no torch) and reports its build."""
from __future__ import annotations

import subprocess
import sys

import wtal


def test_import_does_not_import_torch_or_matplotlib(tmp_path):
    code = "import sys, wtal, wtal.ops, wtal.cli; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout
    assert out.split() == ["False", "False"]


def test_build_info_fields():
    info = wtal.build_info()
    for key in ("version", "cxx_compiler", "cuda", "cuda_version", "cuda_archs", "openmp"):
        assert key in info
    assert info["cuda"] == wtal.cuda_compiled
    assert isinstance(wtal.cuda_status(), str)


def test_cuda_unavailable_is_reported_not_crashing():
    import wtal.ops

    if wtal.cuda_status() != "ok":
        assert wtal.ops.cuda_available() is False


def test_cli_version_runs(run_wtal):
    out = run_wtal("--version")
    assert out.returncode == 0, out.stderr
    assert "wtal" in out.stdout and "cuda_status" in out.stdout


def test_cli_bench_without_checkout_is_a_clear_error(run_wtal, tmp_path):
    out = run_wtal("bench", "--path", str(tmp_path / "nowhere"))
    assert out.returncode == 2
    assert "no benchmarks folder found" in out.stderr


def test_python_dash_m_wtal_and_one_version_source(tmp_path):
    """``python -m wtal`` is the CLI; the package version is defined once (wtal/__init__.py, read by the
    build backend's regex provider)."""
    import os
    import re
    import subprocess
    import sys

    import wtal

    proc = subprocess.run([sys.executable, "-m", "wtal", "--version"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"wtal {wtal.__version__}"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pyproject = open(os.path.join(root, "pyproject.toml"), encoding="utf-8").read()
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.M)
    assert not re.search(r"^version\s*=", pyproject, re.M)
    assert 'metadata.version.input = "wtal/__init__.py"' in pyproject
