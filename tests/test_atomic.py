"""Atomic writes: permissions like a plain open(), never through symlinks/directories/FIFOs, stale
temporaries of killed writers removed, the previous file kept on failure."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from wtal._atomic import atomic_open, atomic_write_text, current_umask


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_file_honours_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        assert _mode(tmp_path / "a.json") == 0o644
        os.umask(0o077)
        atomic_write_text(tmp_path / "b.json", "{}")
        assert _mode(tmp_path / "b.json") == 0o600
        os.umask(0o002)
        atomic_write_text(tmp_path / "c.json", "{}")
        assert _mode(tmp_path / "c.json") == 0o664
    finally:
        os.umask(old)
    assert current_umask() == old


def test_existing_file_keeps_its_mode(tmp_path):
    p = tmp_path / "r.json"
    p.write_text("old")
    os.chmod(p, 0o640)
    atomic_write_text(p, "new")
    assert p.read_text() == "new" and _mode(p) == 0o640


@pytest.mark.parametrize("kind", ["symlink", "directory", "fifo"])
def test_refuses_non_regular_targets(tmp_path, kind):
    target = tmp_path / "target.txt"
    target.write_text("precious")
    out = tmp_path / "out"
    if kind == "symlink":
        out.symlink_to(target)
    elif kind == "directory":
        out.mkdir()
    else:
        os.mkfifo(out)
    with pytest.raises(ValueError, match=f"{out}.*(symlink|directory|not a regular file)"):
        atomic_write_text(out, "x")
    assert target.read_text() == "precious"
    assert os.path.lexists(out)
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []


def test_failure_keeps_previous_file_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "m.json"
    p.write_text("previous")
    with pytest.raises(RuntimeError):
        with atomic_open(p) as f:
            f.write("partial")
            raise RuntimeError("boom")
    assert p.read_text() == "previous"
    assert [n for n in os.listdir(tmp_path) if n != "m.json"] == []


def test_temporaries_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    p = tmp_path / "best.json"
    code = ("import os, sys; from wtal._atomic import atomic_open\n"
            "with atomic_open(sys.argv[1]) as f:\n    f.write('x'); f.flush(); os._exit(9)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    left = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(left) == 1 and not p.exists()
    live = tmp_path / f".best.json.{os.getpid()}.keep.tmp"  # a live writer's temporary stays
    live.write_text("in progress")
    atomic_write_text(p, "done")
    assert p.read_text() == "done"
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith(".tmp")) == [live.name]
