"""The restricted .npy loader reads the real W-TALC annotation files and refuses anything else."""
from __future__ import annotations

import os

import numpy as np
import pytest

from wtal._atomic import atomic_write_text
from wtal.safe_npy import load_npy, to_str

DATA = os.path.join(os.path.dirname(__file__), "data", "thumos14_reduced")


def test_reads_real_wtalc_annotations():
    seg = load_npy(os.path.join(DATA, "segments.npy"))
    names = load_npy(os.path.join(DATA, "videoname.npy"))
    assert seg.shape == (412,) and names.shape == (412,)
    assert to_str(names[0]) == "video_validation_0000051"
    assert seg[0][0] == [67.5, 75.9]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_refuses_code_execution(tmp_path):
    p = tmp_path / "evil.npy"
    np.save(p, np.array([_Evil()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="refusing to unpickle"):
        load_npy(p)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        load_npy(tmp_path / "nope.npy")
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not an npy file")
    with pytest.raises(ValueError, match="bad.npy"):
        load_npy(bad)


def test_plain_arrays_round_trip(tmp_path):
    p = tmp_path / "x.npy"
    np.save(p, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(load_npy(p), np.arange(6.0).reshape(2, 3))


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    p = tmp_path / "out.json"
    atomic_write_text(p, "old")
    from wtal._atomic import atomic_open

    with pytest.raises(RuntimeError):
        with atomic_open(p) as f:
            f.write("partial")
            raise RuntimeError("boom")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["out.json"]
