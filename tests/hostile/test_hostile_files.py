"""Hostile and broken .npy files (issue 13, item 1): wtal.safe_npy never lets numpy trust a state or a
size the file claims, and every bad file is one ValueError naming it. Each reader call on a hostile
file runs in a child interpreter (``in_child``), so a segfault fails the test instead of the suite."""
from __future__ import annotations

import os
import pickle
import struct

import numpy as np
import pytest
from numpy._core.multiarray import _reconstruct, scalar
from numpy.lib import format as npy_format

from wtal.safe_npy import load_npy, npy_header

LOAD = "wtal.safe_npy.load_npy"


class FakeArray:
    """Pickles exactly as numpy pickles an array, with a chosen (inconsistent) state."""

    def __init__(self, shape, dtype, data, fortran=False):
        self.state = (1, shape, dtype, fortran, data)

    def __reduce__(self):
        return (_reconstruct, (np.ndarray, (0,), b"b"), self.state)


class FakeDtype:
    """Pickles as numpy.dtype(name, False, True) followed by BUILD with a chosen state."""

    def __init__(self, name, state):
        self.name, self.state = name, state

    def __reduce__(self):
        return (np.dtype, (self.name, False, True), self.state)


def object_npy(path, pickled: bytes, shape=(1,)):
    with open(path, "wb") as f:
        npy_format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": shape})
        f.write(pickled)
    return path


def plain_npy(path, header: dict, data: bytes):
    with open(path, "wb") as f:
        npy_format.write_array_header_1_0(f, header)
        f.write(data)
    return path


def assert_named_error(result, path):
    assert result["type"] is not None, f"{path} was accepted: {result.get('repr')}"
    assert "ValueError" in result["mro"], result
    assert os.fspath(path) in result["message"], result


def test_object_state_shorter_than_shape_is_an_error_not_a_segfault(tmp_path, in_child):
    # the 328-byte file: _reconstruct + ndarray + dtype only, shape (1000,), a 2-item list
    short = pickle.dumps(FakeArray((1000,), np.dtype("O"), [1, 2]), protocol=2)
    p = object_npy(tmp_path / "short.npy", short, (1000,))
    assert os.path.getsize(p) < 400
    r = in_child(LOAD, p)
    assert_named_error(r, p)
    assert "claims 1000 objects" in r["message"]  # the header's count does not fit the file
    p = object_npy(tmp_path / "short_state.npy", short, (2,))
    r = in_child(LOAD, p)
    assert_named_error(r, p)
    assert "needs a list of 1000 elements, got a list of 2" in r["message"]  # the state's count
    # nested inside another object array, 2-D, empty list, bytes where objects belong, longer list
    paths = [object_npy(tmp_path / f"{name}.npy", pickle.dumps(obj, protocol=2), shape) for name, obj, shape in (
        ("nested", FakeArray((2,), np.dtype("O"), [FakeArray((50,), np.dtype("O"), [1]), 3]), (2,)),
        ("two_d", FakeArray((3, 4), np.dtype("O"), list(range(5))), (3, 4)),
        ("empty", FakeArray((5,), np.dtype("O"), []), (5,)),
        ("bytes", FakeArray((4,), np.dtype("O"), b"\x01" * 32), (4,)),
        ("long", FakeArray((2,), np.dtype("O"), list(range(7))), (2,)))]
    for p, r in zip(paths, in_child.many(LOAD, paths)):
        assert_named_error(r, p)


def test_dtype_state_cannot_rewrite_flags_or_sizes(tmp_path, in_child):
    # a BUILD that sets the "holds objects" flags on float64 makes numpy read floats as pointers
    paths = [object_npy(tmp_path / f"dtype_{name}.npy", pickle.dumps(FakeArray((4,), dt, b"\x01" * 32), protocol=2),
                        (4,)) for name, dt in (
        ("flags", FakeDtype("f8", (3, "<", None, None, None, -1, -1, 63))),
        ("elsize", FakeDtype("O8", (3, "|", None, None, None, 4, 1, 63))),
        ("fields", FakeDtype("V16", (3, "|", None, ("a",), {"a": (np.dtype("O"), 3)}, 16, 1, 63))),
        ("garbage", FakeDtype("f8", "garbage")))]
    for p, r in zip(paths, in_child.many(LOAD, paths)):
        assert_named_error(r, p)


def test_sizes_claimed_by_the_pickle_are_checked_against_the_file(tmp_path, in_child):
    bodies = {
        "binbytes8": b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"abc",
        "binunicode8": b"\x80\x04\x8d" + struct.pack("<Q", 1 << 40) + b"abc",
        "frame": b"\x80\x04\x95" + struct.pack("<Q", 1 << 40) + b"N.",
        "memo_index": b"\x80\x02Nr" + struct.pack("<I", (1 << 32) - 1) + b".",
        "bytearray8": b"\x80\x05\x96" + struct.pack("<Q", 1 << 40) + b"abc",
    }
    paths = [object_npy(tmp_path / f"{name}.npy", body) for name, body in bodies.items()]
    for p, r in zip(paths, in_child.many(LOAD, paths)):
        assert_named_error(r, p)
        assert r["type"] != "MemoryError"


def test_sizes_claimed_by_the_header_are_checked_before_allocating(tmp_path, in_child):
    headers = {
        "floats_2e40": ({"descr": "<f4", "fortran_order": False, "shape": (1 << 40,)}, b"\0" * 16),
        "objects_2e40": ({"descr": "|O", "fortran_order": False, "shape": (1 << 40,)}, b"\x80\x02N."),
        "product_overflow": ({"descr": "<f4", "fortran_order": False, "shape": (1 << 40, 1 << 40)}, b"\0" * 16),
        "void_2e40": ({"descr": "|V1099511627776", "fortran_order": False, "shape": (1,)}, b"\0"),
        "truncated": ({"descr": "<f4", "fortran_order": False, "shape": (1000, 16)}, b"\0" * 100),
    }
    paths = [plain_npy(tmp_path / f"{name}.npy", h, d) for name, (h, d) in headers.items()]
    for p, r in zip(paths, in_child.many(LOAD, paths)):
        assert_named_error(r, p)
        assert r["type"] != "MemoryError"
        with pytest.raises(ValueError, match=p.name):
            npy_header(p)


def test_negative_dimension_and_corrupt_headers(tmp_path):
    p = plain_npy(tmp_path / "neg.npy", {"descr": "<f4", "fortran_order": False, "shape": (-1,)}, b"\0" * 16)
    with pytest.raises(ValueError, match="neg.npy: corrupt .npy header: negative dimension"):
        load_npy(p)
    bad = tmp_path / "v9.npy"
    bad.write_bytes(b"\x93NUMPY\x09\x09" + b"\0" * 80)
    with pytest.raises(ValueError, match="v9.npy: not a valid .npy file"):
        load_npy(bad)
    d = tmp_path / "dir.npy"
    d.mkdir()
    with pytest.raises(ValueError, match="dir.npy: not a regular file"):
        load_npy(d)


def test_header_shape_must_match_the_pickled_array(tmp_path):
    p = object_npy(tmp_path / "disagree.npy", pickle.dumps(np.array([1, 2, 3], dtype=object), protocol=3), (5,))
    with pytest.raises(ValueError, match=r"disagree.npy: the .npy header says shape \(5,\)"):
        load_npy(p)


def test_only_plain_data_globals_are_allowed(tmp_path):
    class Evil:
        def __init__(self, fn, args):
            self.fn, self.args = fn, args

        def __reduce__(self):
            return (self.fn, self.args)

    for name, fn, args in (("system", os.system, ("true",)), ("frombuffer", np.frombuffer, (b"\0" * 8,)),
                           ("load", np.load, ("/dev/null",)), ("getattr", getattr, ([], "append"))):
        p = object_npy(tmp_path / f"{name}.npy", pickle.dumps(FakeArray((1,), np.dtype("O"), [Evil(fn, args)]),
                                                              protocol=2))
        with pytest.raises(ValueError, match=f"{name}.npy: .*refusing"):
            load_npy(p)
    # ndarray itself may only be the argument of _reconstruct, never constructed with a size
    p = object_npy(tmp_path / "newobj.npy", b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x01\x85\x81.")
    with pytest.raises(ValueError, match="newobj.npy"):
        load_npy(p)


def test_scalars_and_states_must_have_the_size_their_dtype_needs(tmp_path):
    class FakeScalar:
        def __reduce__(self):
            return (scalar, (np.dtype("f8"), b"\0" * 3))

    p = object_npy(tmp_path / "scalar.npy", pickle.dumps(FakeArray((1,), np.dtype("O"), [FakeScalar()]), protocol=2))
    with pytest.raises(ValueError, match="scalar.npy: .*needs 8 bytes, got 3"):
        load_npy(p)
    p = object_npy(tmp_path / "floats.npy", pickle.dumps(FakeArray((100,), np.dtype("f8"), b"\0" * 8), protocol=2))
    with pytest.raises(ValueError, match="floats.npy: .*needs 800 bytes, got 8 bytes"):
        load_npy(p)


def test_valid_object_arrays_equal_numpys_own_loader(tmp_path):
    rng = np.random.default_rng(0)
    feats = np.empty(3, dtype=object)
    for i in range(3):
        feats[i] = rng.standard_normal((5 + i, 4)).astype(np.float32)
    segs = np.empty(2, dtype=object)
    segs[0], segs[1] = [[1.5, 2.0], [3.0, 4.5]], []
    mixed = np.array(["a", b"b", 3, 4.5, None, (1, 2), {"k": [1]}, 1 + 2j, np.float64(1.5), np.int64(3)], dtype=object)
    arrays = np.array([np.arange(4, dtype=">f8"), np.arange(3, dtype="<i4"), np.array(["ab", "cde"])], dtype=object)
    fortran = np.asfortranarray(np.array([[1, "a"], [None, 2.5]], dtype=object))
    for k, obj in enumerate((feats, segs, mixed, arrays, fortran, np.empty(0, dtype=object))):
        for protocol in (2, 3, 4):
            p = tmp_path / f"ok{k}_{protocol}.npy"
            with open(p, "wb") as f:
                npy_format.write_array_header_1_0(f, npy_format.header_data_from_array_1_0(obj))
                pickle.dump(obj, f, protocol=protocol)
            got = load_npy(p)
            ref = np.load(p, allow_pickle=True)
            assert got.shape == ref.shape and got.dtype == ref.dtype
            assert got.flags.f_contiguous == ref.flags.f_contiguous
            for a, b in zip(got.reshape(-1, order="A").tolist(), ref.reshape(-1, order="A").tolist()):
                if isinstance(b, np.ndarray):
                    assert a.dtype == b.dtype and np.array_equal(a, b)
                else:
                    assert type(a) is type(b) and a == b


def test_python2_pickles_with_str_data_load(tmp_path):
    # W-TALC's files are Python-2 pickles: array data are str, read back as latin1 text
    raw = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85U\x01b\x87R"
           b"(K\x01K\x02\x85cnumpy\ndtype\nq\x02U\x02f8K\x00K\x01\x87Rq\x03(K\x03U\x01<NNNJ\xff\xff\xff\xff"
           b"J\xff\xff\xff\xffK\x00tb\x89U\x10" + struct.pack("<2d", 1.5, -2.0) + b"tb.")
    p = object_npy(tmp_path / "py2.npy", raw, (2,))
    a = load_npy(p)
    assert a.dtype == np.float64 and a.tolist() == [1.5, -2.0]


def test_native_dtypes_are_never_modified_by_a_pickle(tmp_path):
    # a big-endian dtype is BUILT from dtype('f8'); the shared float64 descriptor must stay native
    obj = np.array([np.arange(3, dtype=">f8")], dtype=object)
    p = tmp_path / "be.npy"
    np.save(p, obj, allow_pickle=True)
    load_npy(p)
    assert np.dtype("f8").byteorder == "=" and np.dtype("f8").isnative
