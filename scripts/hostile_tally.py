"""Count how wtal handles hostile and broken inputs: named error, poor error, silent wrong answer, crash.

Every case builds one bad (or deliberately valid) input and calls one reader, one public op or one raw
``wtal._C`` binding. The cases run in a child interpreter with a 6 GiB address-space limit (huge
allocations fail instead of swapping); a case that kills the child (segfault, abort) or runs past the
time limit counts as a crash and the child is restarted after it.

Outcomes:
  named     a ValueError/TypeError (or an OSError for file-system problems) whose message names what it
            must (the file, the argument, the video or row); for "error or warning" cases also a warning
            that does so.
  poor      any other exception (MemoryError, OverflowError, IndexError, ...) or a message that does not
            name the file/argument.
  silent    no exception and no warning, yet the input is bad or the result is wrong.
  crash     the interpreter died or hung.
  correct   the input is valid (or the op may legitimately answer) and the result checks out.
  rejected  a valid input raised: a regression of the hardening itself.

Usage (from the repository root; PYTHONPATH picks the wtal tree that is measured):

  PYTHONPATH=$PWD python scripts/hostile_tally.py                 # table
  PYTHONPATH=$PWD python scripts/hostile_tally.py --check         # exit 1 on crash/silent/poor/rejected
  PYTHONPATH=/tmp/wtal_main python scripts/hostile_tally.py --json before.json --details
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from fractions import Fraction
from typing import Any, Callable

CATEGORIES = ("files/pickles", "npy headers", "data readers", "_C raw bindings", "public ops")
OUTCOMES = ("named", "poor", "silent", "crash", "correct", "rejected")
CASE_TIMEOUT_S = 60.0
MEMORY_LIMIT = 6 << 30


@dataclasses.dataclass
class Case:
    category: str
    name: str
    fn: Callable[[str], Any]
    expect: str  # "error" | "ok" | "either" (named error or a correct result) | "warn" (named error or warning)
    names: tuple[str, ...]
    check: Callable[[Any], bool] | None
    types: tuple[type, ...]  # exception types that count as a named error (with the names in the message)


CASES: list[Case] = []


def add(category: str, name: str, fn: Callable[[str], Any], *, expect: str = "error",
        names: tuple[str, ...] | str = (), check: Callable[[Any], bool] | None = None,
        types: tuple[type, ...] = (ValueError, TypeError, OSError)) -> None:
    assert category in CATEGORIES, category
    assert expect in ("error", "ok", "either", "warn"), expect
    if isinstance(names, str):
        names = (names,)
    CASES.append(Case(category, name, fn, expect, tuple(names), check, types))


def _cuda_built() -> bool:
    from wtal._ext import _C

    return bool(_C.cuda_compiled)


# ====================================================================================================
# helpers that build files
# ====================================================================================================


def _np():
    import numpy as np

    return np


def npy_bytes(header: dict, data: bytes = b"", version: tuple[int, int] = (1, 0)) -> bytes:
    """A .npy file with an arbitrary header dict (no validation) followed by ``data``."""
    text = repr(header).encode("latin1")
    magic = b"\x93NUMPY" + bytes(version)
    pre = len(magic) + (2 if version == (1, 0) else 4)
    pad = (-(pre + len(text) + 1)) % 64
    text = text + b" " * pad + b"\n"
    size = struct.pack("<H", len(text)) if version == (1, 0) else struct.pack("<I", len(text))
    return magic + size + text + data


def obj_npy(pickle_bytes: bytes, shape: tuple = (1,)) -> bytes:
    return npy_bytes({"descr": "|O", "fortran_order": False, "shape": shape}, pickle_bytes)


def write(tmp: str, name: str, data: bytes | str) -> str:
    p = os.path.join(tmp, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return p


class FakeArray:
    """Pickles as numpy's own array reduction with a chosen (possibly inconsistent) state."""

    def __init__(self, shape, dtype, data, fortran=False, version=1, reconstruct_args=None):
        self.state = (version, shape, dtype, fortran, data)
        self.args = reconstruct_args

    def __reduce__(self):
        np = _np()
        from numpy._core.multiarray import _reconstruct

        return (_reconstruct, self.args or (np.ndarray, (0,), b"b"), self.state)


class FakeDtype:
    """Pickles as ``numpy.dtype(name, False, True)`` followed by BUILD with a chosen state."""

    def __init__(self, name, state):
        self.name, self.state = name, state

    def __reduce__(self):
        np = _np()
        return (np.dtype, (self.name, False, True), self.state)


class FakeScalar:
    def __init__(self, dtype, data):
        self.dtype, self.data = dtype, data

    def __reduce__(self):
        from numpy._core.multiarray import scalar

        return (scalar, (self.dtype, self.data))


class Evil:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def load_npy(path):
    from wtal.safe_npy import load_npy as f

    return f(path)


def _tree_equal(a, b) -> bool:
    np = _np()
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.hasobject:
            return all(_tree_equal(x, y) for x, y in zip(a.reshape(-1).tolist(), b.reshape(-1).tolist()))
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_tree_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_tree_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and (a == b or (a != a and b != b))


# ====================================================================================================
# files/pickles: the restricted unpickler on object arrays
# ====================================================================================================


def _pickle_case(name, make_obj, *, protocol=2, shape=(1,), expect="error", check=None, raw=None):
    def fn(tmp):
        data = raw() if raw is not None else pickle.dumps(make_obj(), protocol=protocol)
        p = write(tmp, f"{name}.npy", obj_npy(data, shape))
        return load_npy(p)

    add("files/pickles", name, fn, expect=expect, names=f"{name}.npy", check=check)


def _pickles():
    np = _np()
    O = np.dtype("O")
    # numpy's __setstate__ does not check an object list against the shape (the reported segfault)
    _pickle_case("obj_state_short_list", lambda: FakeArray((1000,), O, [1, 2]), shape=(1000,))
    _pickle_case("obj_state_short_list_2d", lambda: FakeArray((3, 4), O, list(range(5))), shape=(3, 4))
    _pickle_case("obj_state_long_list", lambda: FakeArray((2,), O, list(range(7))), shape=(2,))
    _pickle_case("obj_state_empty_list", lambda: FakeArray((5,), O, []), shape=(5,))
    _pickle_case("obj_state_huge_shape", lambda: FakeArray((1 << 40,), O, [1]), shape=(1 << 40,))
    _pickle_case("obj_state_shape_overflow", lambda: FakeArray((1 << 62, 1 << 62), O, [1]), shape=(1,))
    _pickle_case("obj_state_negative_shape", lambda: FakeArray((-3,), O, [1, 2, 3]), shape=(1,))
    _pickle_case("obj_state_shape_not_tuple", lambda: FakeArray(7, O, [1] * 7), shape=(7,))
    _pickle_case("obj_state_shape_str", lambda: FakeArray("abc", O, [1]), shape=(1,))
    _pickle_case("obj_state_bytes_for_objects", lambda: FakeArray((4,), O, b"\x01" * 32), shape=(4,))
    _pickle_case("obj_state_tuple_not_list", lambda: FakeArray((2,), O, (1, 2)), shape=(2,))
    _pickle_case("obj_state_version_99", lambda: FakeArray((2,), O, [1, 2], version=99), shape=(2,))
    _pickle_case("obj_state_fortran_str", lambda: FakeArray((2,), O, [1, 2], fortran="yes"), shape=(2,))
    _pickle_case("nested_obj_short_list",
                 lambda: FakeArray((2,), O, [FakeArray((50,), O, [1]), 3]), shape=(2,))
    _pickle_case("float_state_short_bytes", lambda: FakeArray((100,), np.dtype("f8"), b"\x00" * 8), shape=(1,))
    _pickle_case("float_state_huge_shape", lambda: FakeArray((1 << 40,), np.dtype("f4"), b"\x00" * 8), shape=(1,))
    _pickle_case("float_state_list_data", lambda: FakeArray((2,), np.dtype("f8"), [1.0, 2.0]), shape=(1,))
    # dtype objects whose BUILD state rewrites their flags or item size
    _pickle_case("dtype_flags_hasobject_on_float",
                 lambda: FakeArray((4,), FakeDtype("f8", (3, "<", None, None, None, -1, -1, 63)), b"\x01" * 32))
    _pickle_case("dtype_flags_cleared_on_object",
                 lambda: FakeArray((4,), FakeDtype("O8", (3, "|", None, None, None, -1, -1, 0)), [1, 2, 3, 4]))
    _pickle_case("dtype_elsize_on_object",
                 lambda: FakeArray((4,), FakeDtype("O8", (3, "|", None, None, None, 4, 1, 63)), [1, 2, 3, 4]))
    _pickle_case("dtype_elsize_huge_void",
                 lambda: FakeArray((2,), FakeDtype("V8", (3, "|", None, None, None, 1 << 40, 1, 0)), b"\x00" * 16))
    _pickle_case("dtype_fields_object_at_odd_offset",
                 lambda: FakeArray((2,), FakeDtype("V16", (3, "|", None, ("a",), {"a": (np.dtype("O"), 3)},
                                                            16, 1, 63)), b"\x01" * 32))
    _pickle_case("dtype_bad_byteorder",
                 lambda: FakeArray((1,), FakeDtype("f8", (3, "?", None, None, None, -1, -1, 0)), b"\x00" * 8))
    _pickle_case("dtype_state_garbage", lambda: FakeArray((1,), FakeDtype("f8", "garbage"), b"\x00" * 8))
    _pickle_case("scalar_short_bytes", lambda: FakeArray((1,), O, [FakeScalar(np.dtype("f8"), b"\x00" * 3)]))
    _pickle_case("scalar_flagged_dtype",
                 lambda: FakeArray((1,), O, [FakeScalar(FakeDtype("f8", (3, "<", None, None, None, -1, -1, 63)),
                                                        b"\x01" * 8)]))
    _pickle_case("reconstruct_subtype_list", lambda: FakeArray((1,), O, [1], reconstruct_args=(list, (0,), b"b")))
    _pickle_case("reconstruct_subtype_dtype",
                 lambda: FakeArray((1,), O, [1], reconstruct_args=(np.dtype, (0,), b"b")))
    # code execution and other globals
    for fn_name, fn, args in (("os_system", os.system, ("true",)), ("eval", eval, ("1+1",)),
                              ("getattr", getattr, ([], "append")), ("np_load", np.load, ("/dev/null",)),
                              ("np_frombuffer", np.frombuffer, (b"\x00" * 8,)), ("subprocess", subprocess.call,
                                                                                   (["true"],))):
        _pickle_case(f"global_{fn_name}", lambda fn=fn, args=args: FakeArray((1,), O, [Evil(fn, args)]))
    _pickle_case("copyreg_reconstructor_ndarray",
                 lambda: FakeArray((1,), O, [Evil(__import__("copyreg")._reconstructor, (np.ndarray, object, None))]))
    _pickle_case("codecs_encode_odd_codec", lambda: FakeArray((1,), O, [Evil(__import__("_codecs").encode,
                                                                             ("abc", "rot13"))]))
    # sizes claimed by pickle opcodes (checked against the file, not allocated)
    proto4 = b"\x80\x04"
    bombs = {
        "binbytes8_2e40": proto4 + b"\x8e" + struct.pack("<Q", 1 << 40) + b"abc",
        "binunicode8_2e40": proto4 + b"\x8d" + struct.pack("<Q", 1 << 40) + b"abc",
        "binbytes_2e31": b"\x80\x03" + b"B" + struct.pack("<I", (1 << 31) - 1) + b"abc",
        "binstring_2e31": b"\x80\x02" + b"T" + struct.pack("<i", (1 << 31) - 1) + b"abc",
        "long4_2e31": b"\x80\x02" + b"\x8b" + struct.pack("<i", (1 << 31) - 1) + b"abc",
        "frame_2e40": proto4 + b"\x95" + struct.pack("<Q", 1 << 40) + b"N.",
        "long_binput_2e32": b"\x80\x02" + b"N" + b"r" + struct.pack("<I", (1 << 32) - 1) + b".",
        "long_binget_missing": b"\x80\x02" + b"j" + struct.pack("<I", 12345) + b".",
        "bytearray8_2e40": b"\x80\x05" + b"\x96" + struct.pack("<Q", 1 << 40) + b"abc",
        "next_buffer": b"\x80\x05" + b"\x97" + b".",
        "truncated_pickle": pickle.dumps(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=object), protocol=2)[:40],
        "empty_pickle": b"",
        "not_an_array": pickle.dumps([1, 2, 3], protocol=2),
        "deep_nesting": b"\x80\x02" + b"]" * 200000 + b"a" * 199999 + b".",
    }
    for k, v in bombs.items():
        _pickle_case(k, None, raw=lambda v=v: v)

    def self_ref():
        a = []
        a.append(a)
        return FakeArray((1,), O, [a])

    _pickle_case("self_referencing_list", self_ref, expect="either", check=lambda r: r.shape == (1,))
    _pickle_case("header_shape_disagrees", lambda: np.array([1, 2, 3], dtype=object), shape=(5,), protocol=3)

    # valid files must keep working, identical to numpy's own loader
    def valid(name, obj, protocol=3):
        def fn(tmp):
            from numpy.lib import format as F

            p = os.path.join(tmp, name + ".npy")
            with open(p, "wb") as f:
                F.write_array_header_1_0(f, F.header_data_from_array_1_0(obj))
                pickle.dump(obj, f, protocol=protocol)
            return load_npy(p)

        ref = pickle.loads(pickle.dumps(obj, protocol=protocol))  # what numpy's own loader returns
        add("files/pickles", "valid_" + name, fn, expect="ok", check=lambda r: _tree_equal(r, ref))

    feats = np.empty(3, dtype=object)
    for i in range(3):
        feats[i] = np.random.default_rng(i).standard_normal((5 + i, 4)).astype(np.float32)
    valid("features_object_array", feats)
    valid("features_protocol2", feats, protocol=2)
    segs = np.empty(2, dtype=object)
    segs[0], segs[1] = [[1.5, 2.0], [3.0, 4.5]], []
    valid("segments_lists", segs)
    valid("strings_and_bytes", np.array(["a", b"b", 3, 4.5, None, (1, 2), {"k": [1]}], dtype=object))
    valid("numpy_scalars", np.array([np.float64(1.5), np.int64(3), np.float32(2.5), np.bool_(True)], dtype=object))
    valid("object_2d_fortran", np.asfortranarray(np.array([[1, "a"], [None, 2.5]], dtype=object)))
    valid("big_endian_inside", np.array([np.arange(4, dtype=">f8"), np.arange(3, dtype="<i4")], dtype=object))
    valid("unicode_array_inside", np.array([np.array(["ab", "cde"]), np.array([b"x"])], dtype=object))
    valid("empty_object_array", np.empty((0,), dtype=object))
    valid("complex_inside", np.array([np.arange(3) * (1 + 2j)], dtype=object))

    def py2_style(tmp):
        # Python 2 str data arrive as latin1 str (encoding="latin1"); numpy accepts them as raw bytes
        raw = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85U\x01b\x87R"
               b"(K\x01K\x02\x85cnumpy\ndtype\nq\x02U\x02f8K\x00K\x01\x87Rq\x03(K\x03U\x01<NNNJ\xff\xff\xff\xff"
               b"J\xff\xff\xff\xffK\x00tb\x89U\x10" + struct.pack("<2d", 1.5, -2.0) + b"tb.")
        return load_npy(write(tmp, "py2_float.npy", npy_bytes({"descr": "|O", "fortran_order": False,
                                                                 "shape": (2,)}, raw)))

    add("files/pickles", "valid_python2_str_data", py2_style, expect="ok",
        check=lambda r: r.dtype == np.float64 and r.tolist() == [1.5, -2.0])


# ====================================================================================================
# npy headers (plain arrays: load_npy and the per-video feature reader's header check)
# ====================================================================================================


def _headers():
    np = _np()

    def hdr_case(name, header, data=b"", version=(1, 0), expect="error", check=None, raw=None):
        def fn(tmp):
            p = write(tmp, f"{name}.npy", raw if raw is not None else npy_bytes(header, data, version))
            return load_npy(p)

        add("npy headers", name, fn, expect=expect, names=f"{name}.npy", check=check)

    f4 = {"descr": "<f4", "fortran_order": False}
    hdr_case("shape_2e40_floats", {**f4, "shape": (1 << 40,)}, b"\x00" * 16)
    hdr_case("shape_2e37_floats", {**f4, "shape": (1 << 37,)}, b"\x00" * 16)
    hdr_case("shape_2e31_floats", {**f4, "shape": (1 << 31,)}, b"\x00" * 16)
    hdr_case("shape_product_overflow", {**f4, "shape": (1 << 40, 1 << 40)}, b"\x00" * 16)
    hdr_case("shape_negative", {**f4, "shape": (-1,)}, b"\x00" * 16)
    hdr_case("shape_negative_pair", {**f4, "shape": (-2, -8)}, b"\x00" * 64)
    hdr_case("truncated_data", {**f4, "shape": (1000, 16)}, b"\x00" * 100)
    hdr_case("void_2e40_itemsize", {"descr": "|V1099511627776", "fortran_order": False, "shape": (1,)}, b"\x00")
    hdr_case("subarray_2e40", {"descr": [("a", "<f4", (1 << 20,))], "fortran_order": False, "shape": (1 << 20,)},
             b"\x00" * 8)
    hdr_case("object_descr_no_pickle", {"descr": "|O", "fortran_order": False, "shape": (3,)}, b"")
    hdr_case("structured_object_field", {"descr": [("a", "|O"), ("b", "<f8")], "fortran_order": False,
                                         "shape": (2,)}, b"\x01" * 32)
    hdr_case("header_len_2e31_v2", None, raw=b"\x93NUMPY\x02\x00" + struct.pack("<I", (1 << 31) - 1) + b"{")
    hdr_case("header_not_a_dict", None, raw=npy_bytes({}, b"")[:10] + b"[1, 2, 3]" + b" " * 54 + b"\n")
    hdr_case("header_missing_shape", {"descr": "<f4", "fortran_order": False}, b"")
    hdr_case("header_extra_key", {**f4, "shape": (1,), "evil": 1}, b"\x00" * 4)
    hdr_case("header_fortran_not_bool", {"descr": "<f4", "fortran_order": "yes", "shape": (1,)}, b"\x00" * 4)
    hdr_case("header_bad_descr", {"descr": "<f9", "fortran_order": False, "shape": (1,)}, b"\x00" * 4)
    hdr_case("header_shape_float", {"descr": "<f4", "fortran_order": False, "shape": (2.5,)}, b"\x00" * 16)
    hdr_case("magic_version_9", None, raw=b"\x93NUMPY\x09\x09" + b"\x00" * 80)
    hdr_case("empty_file", None, raw=b"")
    hdr_case("five_bytes", None, raw=b"\x93NUM")
    hdr_case("text_file", None, raw=b"hello world, not numpy\n" * 4)
    hdr_case("valid_big_endian", {"descr": ">f8", "fortran_order": False, "shape": (3,)},
             np.arange(3, dtype=">f8").tobytes(), expect="ok", check=lambda r: r.tolist() == [0.0, 1.0, 2.0])
    hdr_case("valid_fortran", {"descr": "<i4", "fortran_order": True, "shape": (2, 3)},
             np.arange(6, dtype="<i4").tobytes(), expect="ok",
             check=lambda r: r.tolist() == [[0, 2, 4], [1, 3, 5]])
    hdr_case("valid_trailing_bytes", {**f4, "shape": (2,)}, np.ones(2, "<f4").tobytes() + b"junk", expect="ok",
             check=lambda r: r.tolist() == [1.0, 1.0])
    hdr_case("valid_empty", {**f4, "shape": (0, 7)}, b"", expect="ok", check=lambda r: r.shape == (0, 7))
    hdr_case("valid_version_2", {**f4, "shape": (2,)}, np.ones(2, "<f4").tobytes(), version=(2, 0), expect="ok",
             check=lambda r: r.tolist() == [1.0, 1.0])

    def directory(tmp):
        os.makedirs(os.path.join(tmp, "dir.npy"))
        return load_npy(os.path.join(tmp, "dir.npy"))

    add("npy headers", "path_is_directory", directory, names="dir.npy")

    # the same headers behind the per-video reader: rejected when the dataset is built or the file read
    for name, header, data in (("feat_truncated", {**f4, "shape": (50, 4)}, b"\x00" * 40),
                               ("feat_shape_2e40", {**f4, "shape": (1 << 40, 4)}, b"\x00" * 64),
                               ("feat_negative_shape", {**f4, "shape": (-5, 4)}, b"\x00" * 64)):
        def fn(tmp, header=header, data=data, name=name):
            root = make_pervideo(tmp)
            write(root, "train/v1.npy", npy_bytes(header, data))
            ds = _load_pervideo(root)
            return [ds.features(i) for i in range(len(ds))]

        add("npy headers", "pervideo_" + name, fn, names=("v1.npy", "v1"))


# ====================================================================================================
# data readers
# ====================================================================================================


def _gt(videos=None) -> dict:
    videos = videos or {"v1": ("train", 10.0, [[1.0, 2.0, "A"]]), "v2": ("train", 8.0, [[0.5, 3.0, "B"]]),
                        "v3": ("test", 12.0, [[2.0, 4.0, "A"], [5.0, 6.0, "B"]])}
    return {"database": {v: {"subset": s, "duration": d,
                             "annotations": [{"label": l, "segment": [a, b]} for a, b, l in segs]}
                         for v, (s, d, segs) in videos.items()}}


def make_pervideo(tmp, gt: Any = None, feats: dict | None = None, splits: dict | None = None) -> str:
    np = _np()
    root = os.path.join(tmp, "ds")
    os.makedirs(root, exist_ok=True)
    gt = _gt() if gt is None else gt
    write(root, "gt.json", gt if isinstance(gt, (bytes, str)) else json.dumps(gt))
    splits = splits or {"train": "v1\nv2\n", "test": "v3\n"}
    for s, text in splits.items():
        write(root, f"split_{s}.txt", text)
    feats = feats or {}
    for v, s in (("v1", "train"), ("v2", "train"), ("v3", "test")):
        x = feats.get(v, np.random.default_rng(len(v)).standard_normal((16, 4)).astype(np.float32))
        p = os.path.join(root, s, v + ".npy")
        os.makedirs(os.path.dirname(p), exist_ok=True)
        np.save(p, x)
    return root


def _load_pervideo(root, **kw):
    from wtal.data import load_pervideo

    return load_pervideo(root, **kw)


def _all_features(ds):
    return [ds.features(i) for i in range(len(ds))]


def make_wtalc(tmp, **over) -> str:
    """A W-TALC pair (3 videos, 2 classes) with any file replaced through ``over``."""
    np = _np()
    root = os.path.join(tmp, "wt")
    ann = os.path.join(root, "T-Annotations")
    os.makedirs(ann, exist_ok=True)

    def objs(rows):
        a = np.empty(len(rows), dtype=object)
        for i, r in enumerate(rows):
            a[i] = r
        return a

    files = {
        "videoname": np.array([b"v1", b"v2", b"v3"]),
        "subset": np.array([b"validation", b"validation", b"test"]),
        "classlist": np.array([b"A", b"B"]),
        "segments": objs([[[1.0, 2.0]], [[0.5, 3.0]], [[2.0, 4.0], [5.0, 6.0]]]),
        "labels": objs([["A"], ["B"], ["A", "B"]]),
        "labels_all": objs([["A"], ["B"], ["A", "B"]]),
        "duration": np.array([[10.0], [8.0], [12.0]]),
    }
    feats = objs([np.random.default_rng(i).standard_normal((16, 4)).astype(np.float32) for i in range(3)])
    for k, v in over.items():
        if k == "features":
            feats = v
        else:
            files[k] = v
    for k, v in files.items():
        np.save(os.path.join(ann, k + ".npy"), v, allow_pickle=True)
    np.save(os.path.join(root, "T-I3D-JOINTFeatures.npy"), feats, allow_pickle=True)
    return root


def _load_wtalc(root):
    from wtal.data import load_wtalc

    ds = load_wtalc(root, "T")
    _all_features(ds)
    return ds


def _readers():
    np = _np()
    R = "data readers"

    def pv(name, *, gt=None, feats=None, splits=None, names=(), expect="error", check=None, **kw):
        def fn(tmp):
            ds = _load_pervideo(make_pervideo(tmp, gt=gt, feats=feats, splits=splits), **kw)
            _all_features(ds)
            return ds

        add(R, "pervideo_" + name, fn, names=names, expect=expect, check=check)

    def gt_with(**video_fields):
        g = _gt()
        for k, v in video_fields.items():
            if k == "segment":
                g["database"]["v2"]["annotations"][0]["segment"] = v
            elif k == "annotations":
                g["database"]["v2"]["annotations"] = v
            else:
                g["database"]["v2"][k] = v
        return g

    # encodings
    pv("gt_latin1_bytes", gt=json.dumps(_gt()).replace('"A"', '"Caf\u00e9"').encode("latin1"), names="gt.json")
    pv("gt_utf16", gt=json.dumps(_gt()).encode("utf-16"), names="gt.json")
    pv("split_latin1", splits={"train": b"v1\nv\xe92\n", "test": "v3\n"}, names="split_train.txt")
    pv("split_binary", splits={"train": b"\xff\xfe\x00\x81", "test": "v3\n"}, names="split_train.txt")

    def classes_file(tmp):
        root = make_pervideo(tmp)
        write(root, "classes.txt", b"A\n\xe9B\n")
        return _load_pervideo(root, classes=os.path.join(root, "classes.txt"))

    add(R, "pervideo_class_list_latin1", classes_file, names="classes.txt")
    # durations
    for name, dur in (("nan", float("nan")), ("inf", float("inf")), ("negative", -3.0), ("zero", 0.0),
                      ("string", "abc"), ("list", [1, 2]), ("bool", True), ("huge_1e400", "1e400")):
        g = gt_with(duration=dur)
        if name == "huge_1e400":
            text = json.dumps(gt_with(duration=123456.0)).replace("123456.0", "1e400")
            pv("duration_" + name, gt=text, names=("gt.json", "v2"))
        else:
            pv("duration_" + name, gt=g, names=("gt.json", "v2"))
    pv("duration_null_estimated", gt=gt_with(duration=None), expect="ok",
       check=lambda ds: abs(ds.durations[ds.video_index("v2")] - 16 * 0.64) < 1e-9)
    # segments
    for name, seg in (("nan", [float("nan"), 2.0]), ("inf_end", [1.0, float("inf")]), ("reversed", [5.0, 2.0]),
                      ("neg_inf_start", [float("-inf"), 2.0]), ("string_digits", "12"), ("bools", [True, False]),
                      ("three_values", [1.0, 2.0, 3.0]), ("null", None), ("non_numeric", ["a", "b"]),
                      ("nested", [[1.0], [2.0]])):
        pv("segment_" + name, gt=gt_with(segment=seg), names=("gt.json", "v2"))
    pv("segment_numeric_strings", gt=gt_with(segment=["1.5", "3"]), expect="ok",
       check=lambda ds: 1.5 in ds.annotations["t_start"].tolist())
    pv("segment_zero_length", gt=gt_with(segment=[2.0, 2.0]), expect="ok", check=lambda ds: True)
    pv("annotations_null", gt=gt_with(annotations=None), names=("gt.json", "v2"))
    pv("annotations_dict", gt=gt_with(annotations={"label": "A", "segment": [1, 2]}), names=("gt.json", "v2"))
    pv("annotation_label_missing", gt=gt_with(annotations=[{"segment": [1, 2]}]), names=("gt.json", "v2"))
    pv("gt_not_json", gt=b"{not json", names="gt.json")
    pv("gt_top_level_list", gt=b"[1, 2, 3]", names="gt.json")
    pv("gt_database_list", gt=json.dumps({"database": [1, 2]}), names="gt.json")
    pv("gt_video_entry_string", gt=json.dumps({"database": {"v1": "x"}}), names="gt.json")
    pv("gt_class_list_bad_keys", gt=json.dumps({**_gt(), "class-list": {"a": "A"}}), names="gt.json")

    def gt_dir(tmp):
        root = make_pervideo(tmp)
        os.remove(os.path.join(root, "gt.json"))
        os.makedirs(os.path.join(root, "gt.json"))
        return _load_pervideo(root)

    add(R, "pervideo_gt_is_directory", gt_dir, names="gt.json")
    # features
    rng = np.random.default_rng(0)
    base = rng.standard_normal((16, 4)).astype(np.float32)

    def with_(v, fn):
        x = base.copy() if fn is None else fn(base.copy())
        return {"v2": x}

    bad_feats = {
        "nan": lambda x: (x.__setitem__((3, 1), np.nan), x)[1],
        "inf": lambda x: (x.__setitem__((0, 0), np.inf), x)[1],
        "neg_inf": lambda x: (x.__setitem__((15, 3), -np.inf), x)[1],
        "complex": lambda x: x.astype(np.complex64) + 1j,
        "complex_zero_imag": lambda x: x.astype(np.complex128),
        "float64_overflows_float32": lambda x: (lambda y: (y.__setitem__((2, 2), 1e300), y)[1])(x.astype(np.float64)),
        "bool": lambda x: x > 0,
        "one_d": lambda x: x[:, 0],
        "three_d": lambda x: x[None],
        "zero_rows": lambda x: x[:0],
        "zero_cols": lambda x: x[:, :0],
        "strings": lambda x: x.astype("U8"),
        "timedelta": lambda x: x.astype(np.int64).astype("m8[s]"),
    }
    for name, f in bad_feats.items():
        pv("features_" + name, feats={"v2": f(base.copy())}, names=("v2.npy", "v2"))
    pv("features_float16_ok", feats={"v2": base.astype(np.float16)}, expect="ok", check=lambda ds: True)
    pv("features_int_ok", feats={"v2": (base * 10).astype(np.int16)}, expect="ok", check=lambda ds: True)
    pv("features_big_endian_ok", feats={"v2": base.astype(">f4")}, expect="ok",
       check=lambda ds: np.array_equal(ds.features(ds.video_index("v2")), base))

    def feat_object(tmp):
        root = make_pervideo(tmp)
        np.save(os.path.join(root, "train", "v2.npy"), np.array([base], dtype=object), allow_pickle=True)
        ds = _load_pervideo(root)
        return _all_features(ds)

    add(R, "pervideo_features_object_array", feat_object, names=("v2.npy", "v2"))

    def feat_truncated_after_build(tmp):
        root = make_pervideo(tmp)
        ds = _load_pervideo(root)
        p = os.path.join(root, "train", "v2.npy")
        data = open(p, "rb").read()
        with open(p, "wb") as f:
            f.write(data[: len(data) - 37])
        return _all_features(ds)

    add(R, "pervideo_features_truncated_after_build", feat_truncated_after_build, names=("v2.npy", "v2"))

    def feat_replaced_after_build(tmp):
        root = make_pervideo(tmp)
        ds = _load_pervideo(root)
        np.save(os.path.join(root, "train", "v2.npy"), np.zeros((9, 4), np.float32))
        return _all_features(ds)

    add(R, "pervideo_features_changed_after_build", feat_replaced_after_build, names=("v2.npy", "v2"))

    # ActivityNet readers
    def anet(name, *, csv_bytes=None, ann=None, names=(), expect="error", check=None):
        def fn(tmp):
            from wtal.data import load_activitynet

            root = make_pervideo(tmp)
            a = ann if ann is not None else json.dumps({v: {"duration_second": 10.0, "annotations": [
                {"label": "A", "segment": [1.0, 2.0]}]} for v in ("v1", "v2", "v3")})
            ap = write(tmp, "anno.json", a)
            cp = write(tmp, "info.csv", csv_bytes if csv_bytes is not None else
                       "video,subset\nv1,train\nv2,train\nv3,test\n")
            ds = load_activitynet(ap, os.path.join(root), video_info_csv=cp, subsets=("train", "test"),
                                  feature_pattern="{split}/{video}.npy", train_subset="train", test_subset="test")
            _all_features(ds)
            return ds

        add(R, "activitynet_" + name, fn, names=names, expect=expect, check=check)

    anet("csv_latin1", csv_bytes=b"video,subset\nv1,train\nv\xe92,train\nv3,test\n", names="info.csv")
    anet("csv_missing_columns", csv_bytes=b"name,split\nv1,train\n", names="info.csv")
    anet("json_latin1", ann=json.dumps({"v1": {"duration_second": 1.0, "annotations": []}})
         .replace("v1", "v\u00e91").encode("latin1"), names="anno.json")
    anet("duration_second_nan", ann=json.dumps({v: {"duration_second": float("nan"), "annotations": []}
                                                for v in ("v1", "v2", "v3")}), names=("anno.json", "v1"))
    anet("segment_reversed", ann=json.dumps({v: {"duration_second": 9.0, "annotations": [
        {"label": "A", "segment": [4.0, 1.0]}]} for v in ("v1", "v2", "v3")}), names=("anno.json", "v1"))
    anet("valid", expect="ok", check=lambda ds: len(ds) == 3)

    # W-TALC pair
    def wt(name, names=(), expect="error", check=None, **over):
        add(R, "wtalc_" + name, lambda tmp: _load_wtalc(make_wtalc(tmp, **over)), names=names, expect=expect,
            check=check)

    def objs(rows):
        a = np.empty(len(rows), dtype=object)
        for i, r in enumerate(rows):
            a[i] = r
        return a

    wt("duration_nan", names=("duration.npy", "v2"), duration=np.array([[10.0], [np.nan], [12.0]]))
    wt("duration_negative", names=("duration.npy", "v2"), duration=np.array([[10.0], [-1.0], [12.0]]))
    wt("duration_inf", names=("duration.npy", "v2"), duration=np.array([[10.0], [np.inf], [12.0]]))
    wt("duration_strings", names="duration.npy", duration=np.array([[b"10"], [b"x"], [b"12"]]))
    wt("duration_complex", names="duration.npy", duration=np.array([[10.0], [8.0 + 1j], [12.0]]))
    wt("segment_reversed", names=("segments.npy", "v2"), segments=objs([[[1.0, 2.0]], [[3.0, 0.5]],
                                                                         [[2.0, 4.0], [5.0, 6.0]]]))
    wt("segment_nan", names=("segments.npy", "v2"), segments=objs([[[1.0, 2.0]], [[np.nan, 3.0]],
                                                                    [[2.0, 4.0], [5.0, 6.0]]]))
    wt("segment_inf", names=("segments.npy", "v2"), segments=objs([[[1.0, 2.0]], [[0.5, np.inf]],
                                                                    [[2.0, 4.0], [5.0, 6.0]]]))
    wt("segment_not_list", names=("segments.npy", "v2"), segments=objs([[[1.0, 2.0]], 5.0,
                                                                         [[2.0, 4.0], [5.0, 6.0]]]))
    wt("segment_strings", names=("segments.npy", "v2"), segments=objs([[[1.0, 2.0]], [["a", "b"]],
                                                                        [[2.0, 4.0], [5.0, 6.0]]]))
    wt("labels_string_not_list", names=("labels.npy", "v2"), labels=objs([["A"], "B", ["A", "B"]]))
    wt("features_nan", names=("T-I3D-JOINTFeatures.npy", "v2"),
       features=objs([np.zeros((4, 4), np.float32), np.full((4, 4), np.nan, np.float32),
                      np.zeros((4, 4), np.float32)]))
    wt("features_inf", names=("T-I3D-JOINTFeatures.npy", "v1"),
       features=objs([np.full((4, 4), np.inf, np.float32), np.zeros((4, 4), np.float32),
                      np.zeros((4, 4), np.float32)]))
    wt("features_complex", names=("T-I3D-JOINTFeatures.npy", "v3"),
       features=objs([np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32),
                      np.zeros((4, 4), np.complex64) + 1j]))
    wt("features_strings", names=("T-I3D-JOINTFeatures.npy", "v1"),
       features=objs([np.array([["a"] * 4] * 4), np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32)]))
    wt("features_list_of_lists", names=("T-I3D-JOINTFeatures.npy", "v1"),
       features=objs([[[1.0, 2.0], [3.0]], np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32)]))
    wt("valid", expect="ok", check=lambda ds: len(ds) == 3 and ds.feature_dim == 4)

    def wt_truncated(tmp):
        root = make_wtalc(tmp)
        p = os.path.join(root, "T-I3D-JOINTFeatures.npy")
        data = open(p, "rb").read()
        with open(p, "wb") as f:
            f.write(data[: len(data) // 2])
        return _load_wtalc(root)

    add(R, "wtalc_features_file_truncated", wt_truncated, names="T-I3D-JOINTFeatures.npy")


# ====================================================================================================
# _C raw bindings
# ====================================================================================================


def _raw():
    np = _np()
    C = "_C raw bindings"

    def c(name, call, names=(), expect="error", check=None, types=(ValueError, TypeError)):
        def fn(tmp):
            from wtal._ext import _C

            return call(_C)

        add(C, name, fn, names=names, expect=expect, check=check, types=types)

    i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    f64 = lambda *v: np.array(v, dtype=np.float64)  # noqa: E731
    sig = np.zeros(8, np.float64)
    thr = f64(0.5)
    big = 1 << 62
    # connected_components: row_start + length must stay inside the signal without overflowing
    c("cc_start_plus_len_overflow", lambda _C: _C.connected_components(sig, i64(big), i64(big), thr), "row")
    c("cc_start_max_len_1", lambda _C: _C.connected_components(sig, i64((1 << 63) - 1), i64(1), thr), "row")
    c("cc_negative_start", lambda _C: _C.connected_components(sig, i64(-4), i64(4), thr), "row")
    c("cc_negative_length", lambda _C: _C.connected_components(sig, i64(0), i64(-1), thr), "row")
    c("cc_length_past_end", lambda _C: _C.connected_components(sig, i64(4), i64(5), thr), "row")
    c("cc_min_len_zero", lambda _C: _C.connected_components(sig, i64(0), i64(8), thr, 0), "min_len")
    c("cc_signal_int", lambda _C: _C.connected_components(np.zeros(8, np.int64), i64(0), i64(8), thr), "signal")
    c("cc_signal_2d_strided", lambda _C: _C.connected_components(np.zeros((4, 4))[:, ::2], i64(0), i64(8), thr),
      "signal")
    c("cc_thresholds_2d", lambda _C: _C.connected_components(sig, i64(0), i64(8), np.zeros((1, 1))), "thresholds")
    c("cc_rows_size_mismatch", lambda _C: _C.connected_components(sig, i64(0, 0), i64(8), thr), "row_start")
    c("cc_num_threads_huge", lambda _C: _C.connected_components(sig, i64(0), i64(8), thr, 1, False, 1 << 30),
      expect="ok", check=lambda r: len(r) == 5)
    c("cc_num_threads_2e31", lambda _C: _C.connected_components(sig, i64(0), i64(8), thr, 1, False, 1 << 31),
      "num_threads")
    # oic_scores: strided rows and scale windows
    cas = np.arange(10, dtype=np.float64)
    seg = (i64(0), i64(0), i64(1))

    def oic(_C, row_start=0, length=3, stride=1, scale=None, scale_start=None, **kw):
        args = dict(variant=0, outer_ratio=0.25, outer_weight=1.0)
        args.update(kw)
        return _C.oic_scores(cas, i64(row_start), i64(length), *seg, args["variant"], args["outer_ratio"],
                             args["outer_weight"], 0, stride, scale, scale_start)

    c("oic_stride_overflow", lambda _C: oic(_C, length=3, stride=big), "row")
    c("oic_stride_overflow_2e63", lambda _C: oic(_C, length=2, stride=(1 << 63) - 1), "row")
    c("oic_start_plus_stride_overflow", lambda _C: oic(_C, row_start=(1 << 63) - 5, length=2, stride=3), "row")
    c("oic_scale_start_overflow", lambda _C: oic(_C, scale=np.ones(4), scale_start=i64((1 << 63) - 1)), "scale")
    c("oic_scale_start_negative", lambda _C: oic(_C, scale=np.ones(4), scale_start=i64(-1)), "scale")
    c("oic_scale_short", lambda _C: oic(_C, scale=np.ones(2), scale_start=i64(0)), "scale")
    c("oic_scale_without_start", lambda _C: oic(_C, scale=np.ones(4)), "scale")
    c("oic_stride_zero", lambda _C: oic(_C, stride=0), "stride")
    c("oic_variant_7", lambda _C: oic(_C, variant=7), "variant")
    c("oic_outer_ratio_nan", lambda _C: oic(_C, outer_ratio=float("nan")), "outer_ratio")
    c("oic_outer_ratio_1e300", lambda _C: oic(_C, outer_ratio=1e300), "outer_ratio", expect="either",
      check=lambda r: np.isfinite(r).all())
    c("oic_outer_ratio_inf", lambda _C: oic(_C, outer_ratio=float("inf")), "outer_ratio")
    c("oic_rows_out_of_range", lambda _C: _C.oic_scores(cas, i64(0), i64(3), i64(5), i64(0), i64(1), 0, 0.25, 1.0),
      "rows")
    c("oic_segment_past_row", lambda _C: _C.oic_scores(cas, i64(0), i64(3), i64(0), i64(0), i64(9), 0, 0.25, 1.0),
      "segment")
    c("oic_segment_negative_start",
      lambda _C: _C.oic_scores(cas, i64(0), i64(3), i64(0), i64(-(1 << 63)), i64(1), 0, 0.25, 1.0), "segment")
    # detection_map: order, ids and sizes
    G = dict(gt_video=i64(0), gt_label=i64(0), gt_start=f64(0.0), gt_end=f64(1.0))
    P = dict(pred_video=i64(0, 0), pred_label=i64(0, 0), pred_start=f64(0.0, 0.5), pred_end=f64(1.0, 1.5),
             pred_score=f64(0.9, 0.8))

    def dm(_C, order=None, thresholds=f64(0.5), num_classes=1, num_videos=1, **kw):
        args = {**G, **P, **kw}
        return _C.detection_map(args["gt_video"], args["gt_label"], args["gt_start"], args["gt_end"],
                                args["pred_video"], args["pred_label"], args["pred_start"], args["pred_end"],
                                args["pred_score"], order, thresholds, num_classes, num_videos)

    c("dm_order_list", lambda _C: dm(_C, order=[0, 1]), "order")
    c("dm_order_str", lambda _C: dm(_C, order="ab"), "order")
    c("dm_order_int", lambda _C: dm(_C, order=5), "order")
    c("dm_order_dict", lambda _C: dm(_C, order={}), "order")
    c("dm_order_float_array", lambda _C: dm(_C, order=np.zeros(2)), "order")
    c("dm_order_not_permutation", lambda _C: dm(_C, order=i64(0, 0)), "order")
    c("dm_order_out_of_range", lambda _C: dm(_C, order=i64(0, 1 << 62)), "order")
    c("dm_order_valid", lambda _C: dm(_C, order=i64(1, 0)), expect="ok", check=lambda r: r.shape == (1, 1))
    c("dm_num_videos_2e40", lambda _C: dm(_C, num_videos=1 << 40), "num_videos", expect="either",
      check=lambda r: r.shape == (1, 1) and r[0, 0] == 1.0)
    c("dm_num_videos_2e62", lambda _C: dm(_C, num_videos=1 << 62), "num_videos", expect="either",
      check=lambda r: r.shape == (1, 1) and r[0, 0] == 1.0)
    c("dm_num_classes_2e40", lambda _C: dm(_C, num_classes=1 << 40), "num_classes")
    c("dm_num_classes_2e62_many_thresholds", lambda _C: dm(_C, num_classes=1 << 62, thresholds=np.zeros(64)),
      "num_classes")
    c("dm_num_classes_negative", lambda _C: dm(_C, num_classes=-1), "num_classes")
    c("dm_gt_video_out_of_range", lambda _C: dm(_C, gt_video=i64(1 << 62)), "gt_video")
    c("dm_pred_video_negative", lambda _C: dm(_C, pred_video=i64(-5, 0)), "pred_video")
    c("dm_pred_label_2e62", lambda _C: dm(_C, pred_label=i64(1 << 62, 0)), "pred_label")
    c("dm_thresholds_2d", lambda _C: dm(_C, thresholds=np.zeros((1, 1))), "thresholds")
    c("dm_length_mismatch", lambda _C: dm(_C, pred_score=f64(0.5)), "pred_score")
    c("dm_match_bad", lambda _C: _C.detection_map(*G.values(), *P.values(), None, f64(0.5), 1, 1, "worst"), "match")
    c("factorize_2d", lambda _C: _C.factorize(np.zeros((2, 2))), "factorize")
    c("factorize_strided", lambda _C: _C.factorize(np.zeros(8)[::2]), "factorize")
    c("factorize_void0", lambda _C: _C.factorize(np.zeros(3, dtype="V0")), expect="ok",
      check=lambda r: r[0].tolist() == [0, 0, 0])
    c("pairwise_sum_int", lambda _C: _C.pairwise_sum(np.zeros(3, np.int64)), "a")
    # nms
    segs = np.array([[0.0, 1.0], [0.5, 1.5]])
    scs = f64(0.9, 0.8)

    def nms(_C, segments=segs, scores=scs, groups=None, method=0, overlap=0, thr=0.5, sigma=0.5, min_score=None,
            max_num=0, eps=0.0):
        return _C.nms(segments, scores, groups, method, overlap, thr, sigma, min_score, max_num, True, False, eps)

    c("nms_groups_list", lambda _C: nms(_C, groups=[0, 1]), expect="either", names="groups",
      check=lambda r: sorted(r[0].tolist()) == [0, 1])
    c("nms_groups_str", lambda _C: nms(_C, groups="ab"), "groups")
    c("nms_groups_int32", lambda _C: nms(_C, groups=np.zeros(2, np.int32)), "groups")
    c("nms_groups_short", lambda _C: nms(_C, groups=i64(0)), "groups")
    c("nms_method_9", lambda _C: nms(_C, method=9), "method")
    c("nms_overlap_9", lambda _C: nms(_C, overlap=9), "overlap")
    c("nms_sigma_zero", lambda _C: nms(_C, method=1, sigma=0.0), "sigma")
    c("nms_segment_length_overflow", lambda _C: nms(_C, segments=np.array([[-1e308, 1e308], [0.0, 1.0]])),
      "segments")
    c("nms_huge_equal_segments",
      lambda _C: nms(_C, segments=np.array([[0.0, 1.7e308], [0.0, 1.7e308]]), thr=0.5), "segments",
      expect="either", check=lambda r: r[0].tolist() == [0])
    c("nms_max_num_2e62", lambda _C: nms(_C, max_num=big), expect="ok", check=lambda r: r[0].tolist() == [0, 1])
    c("nms_max_num_2e70", lambda _C: nms(_C, max_num=1 << 70), "max_num")
    c("nms_min_score_str", lambda _C: nms(_C, min_score="x"), "min_score")
    c("nms_cuda_cpu_build", lambda _C: _C.nms_cuda(0, 0, False, 0, 0, -1, 0, 0, 0.5, 0.5, None, 0, True, False, 0.0,
                                                  0, 0, 0, 0, 0, 0, 0), "n must be")
    # segment_iou
    c("iou_mixed_dtypes", lambda _C: _C.segment_iou(np.zeros((1, 2)), np.zeros((1, 2), np.float32)), "dtype")
    c("iou_wrong_width", lambda _C: _C.segment_iou(np.zeros((1, 3)), np.zeros((1, 3))), "size")
    c("iou_num_threads_negative", lambda _C: _C.segment_iou(np.zeros((2, 2)), np.zeros((2, 2)), False, -7),
      expect="ok", check=lambda r: r.shape == (2, 2))
    # upsample family
    c("upsampled_length_overflow", lambda _C: _C.upsampled_length(big, big), "scale")
    c("upsampled_length_scale_zero", lambda _C: _C.upsampled_length(5, 0), "scale")
    c("upsampled_length_scale_negative", lambda _C: _C.upsampled_length(5, -3), "scale")
    c("upsampled_length_negative_length", lambda _C: _C.upsampled_length(-5, 3), "length")
    c("upsampled_length_valid", lambda _C: _C.upsampled_length(7, 49), expect="ok", check=lambda r: r == 343)
    x2 = np.zeros((2, 4))
    c("upsample_scale_2e40", lambda _C: _C.upsample_linear(x2, i64(4, 4), 1 << 40), "scale")
    c("upsample_scale_2e62", lambda _C: _C.upsample_linear(x2, i64(4, 4), big), "scale")
    c("upsample_lengths_too_long", lambda _C: _C.upsample_linear(x2, i64(4, 5), 2), "lengths")
    c("upsample_x_1d", lambda _C: _C.upsample_linear(np.zeros(4), i64(4), 2), "x")
    c("smooth_even_weights", lambda _C: _C.gaussian_smooth(x2, i64(4, 4), np.ones(4)), "weights")
    c("smooth_huge_radius", lambda _C: _C.gaussian_smooth(x2, i64(4, 4), np.ones((1 << 22) + 1) / 2 ** 22),
      expect="ok", check=lambda r: r.shape == (2, 4))
    c("smooth_lengths_negative", lambda _C: _C.gaussian_smooth(x2, i64(-1, 4), np.ones(1)), "lengths")
    # pools
    x3 = np.zeros((2, 3, 4), np.float32)
    out = lambda *s, d=np.float32: np.empty(s, dtype=d)  # noqa: E731
    c("topk_k_negative", lambda _C: _C.topk_pool_forward_cpu(x3, None, -1, 0, out(2, 4), out(2, 4),
                                                            out(2, 4, d=np.int32)), "k")
    c("topk_k_2e62", lambda _C: _C.topk_pool_forward_cpu(x3, None, big, 0, out(2, 4), out(2, 4),
                                                        out(2, 4, d=np.int32)), expect="ok",
      check=lambda r: r is None)
    c("topk_k_2e64", lambda _C: _C.topk_pool_forward_cpu(x3, None, 1 << 64, 0, out(2, 4), out(2, 4),
                                                        out(2, 4, d=np.int32)), "k")
    c("topk_ratio_zero", lambda _C: _C.topk_pool_forward_cpu(x3, None, 0, 0, out(2, 4), out(2, 4),
                                                            out(2, 4, d=np.int32)), "ratio")
    c("topk_lengths_zero", lambda _C: _C.topk_pool_forward_cpu(x3, i64(0, 3), 1, 0, out(2, 4), out(2, 4),
                                                              out(2, 4, d=np.int32)), "lengths")
    c("topk_out_readonly", lambda _C: _C.topk_pool_forward_cpu(
        x3, None, 1, 0, np.broadcast_to(np.float32(0), (2, 4)), out(2, 4), out(2, 4, d=np.int32)), "out")
    c("topk_cut_idx_wrong_shape", lambda _C: _C.topk_pool_forward_cpu(x3, None, 1, 0, out(2, 4), out(2, 4),
                                                                      out(2, 5, d=np.int32)), "cut_idx")
    c("topk_backward_cut_idx_garbage", lambda _C: _C.topk_pool_backward_cpu(
        np.ones((2, 4), np.float32), x3, None, 1, 0, np.zeros((2, 4), np.float32),
        np.full((2, 4), -(1 << 31), np.int32), np.empty((2, 3, 4), np.float32)), expect="ok",
      check=lambda r: r is None)
    c("scaled_topk_ratio_negative", lambda _C: _C.scaled_topk_mean(x3, np.zeros((2, 3), np.float32), i64(3, 3), -2),
      "ratio")
    c("scaled_topk_lengths_big", lambda _C: _C.scaled_topk_mean(x3, np.zeros((2, 3), np.float32), i64(3, big), 1),
      "lengths")
    c("hybrid_mode_5", lambda _C: _C.hybrid_attention_pool_forward_cpu(
        x3, np.zeros((2, 3), np.float32), None, 0.2, 1, True, 5, out(4, 2, 4), out(2), out(4, 2, 4),
        out(4, 2, 4, d=np.int32)), "threshold")
    c("hybrid_ratio_zero", lambda _C: _C.hybrid_attention_pool_forward_cpu(
        x3, np.zeros((2, 3), np.float32), None, 0.2, 0, True, 0, out(4, 2, 4), out(2), out(4, 2, 4),
        out(4, 2, 4, d=np.int32)), "ratio")
    c("hybrid_thr_wrong_size", lambda _C: _C.hybrid_attention_pool_forward_cpu(
        x3, np.zeros((2, 3), np.float32), None, 0.2, 1, True, 0, out(4, 2, 4), out(3), out(4, 2, 4),
        out(4, 2, 4, d=np.int32)), "thr")
    c("finite_lengths_past_t", lambda _C: _C.first_non_finite(x3, i64(3, 4)), "lengths")
    c("finite_x_1d", lambda _C: _C.first_non_finite(np.zeros(3), i64(3)), "x")
    c("finite_zero_width", lambda _C: _C.first_non_finite(np.zeros((2, 3, 0)), i64(3, 3)), expect="ok",
      check=lambda r: r is None)
    # without CUDA kernels every CUDA entry point says so (a RuntimeError: nothing is wrong with the arguments)
    c("cuda_synchronize_negative", lambda _C: _C.cuda_synchronize(-1), "CUDA" if not _cuda_built() else "device",
      types=(RuntimeError, ValueError))


# ====================================================================================================
# public ops
# ====================================================================================================


def _exact_mean(vals) -> float:
    fr = sum((Fraction(v) for v in vals), Fraction(0)) / len(vals)
    try:
        return float(fr)
    except OverflowError:
        return math.copysign(math.inf, fr)


def _hamnet_ref(row, s, e, r=0.25, w=1.0):
    """HAM-Net OIC in exact arithmetic (Fractions); inf/NaN follow IEEE where the windows hold them."""
    n = e - s
    inner = _ieee_mean(row[s:e])
    os_ = max(0, int(s - r * n))
    oe = min(len(row) - 1, int(e - 1 + r * n)) + 1
    outer_vals = list(row[os_:s]) + list(row[e:oe])
    outer = _ieee_mean(outer_vals) if outer_vals else 0.0
    return inner - w * outer


def _ieee_mean(vals):
    vals = [float(v) for v in vals]
    if any(not math.isfinite(v) for v in vals):
        return sum(vals) / len(vals)
    return _exact_mean(vals)


def _same(a, b, rtol=1e-12):
    np = _np()
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False
    both_nan = np.isnan(a) & np.isnan(b)
    eq = (a == b) | both_nan | (np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b)))
    return bool(eq.all())


def _ops():
    np = _np()
    O = "public ops"
    import wtal.ops as ops

    def op(name, call, names=(), expect="error", check=None):
        add(O, name, lambda tmp: call(), names=names, expect=expect, check=check)

    # oic_scores: non-finite rows and sums that overflow
    def oic_case(name, row, segs, expect="either"):
        row = np.asarray(row, np.float64)
        s = np.array([a for a, _ in segs], np.int64)
        e = np.array([b for _, b in segs], np.int64)
        ref = [_hamnet_ref(row.tolist(), int(a), int(b)) for a, b in zip(s, e)]
        op("oic_" + name, lambda: ops.oic_scores(row[None], None, np.zeros(len(s), np.int64), s, e), "cas",
           expect=expect, check=lambda r: _same(r, ref))

    long_segs = [(0, 2), (3, 5), (6, 8), (4, 7)]
    oic_case("pos_inf_in_row", [0.1, 0.2, 0.3, 0.4, np.inf, 0.6, 0.7, 0.8], long_segs)
    oic_case("neg_inf_in_row", [-np.inf, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], long_segs)
    oic_case("both_infs", [0.1, np.inf, 0.3, -np.inf, 0.5, 0.6, 0.7, 0.8], long_segs)
    oic_case("prefix_overflow_positive", [1e308] * 4 + [0.5, 0.25, 0.125, 1.0], long_segs)
    oic_case("prefix_overflow_alternating", [1e308, -1e308, 1.7e308, 1.7e308, 3.0, -1.7e308, 1.0, 2.0], long_segs)
    oic_case("prefix_overflow_then_small", [1.5e308, 1.5e308, 1.5e308, 1e-3, 2e-3, 3e-3, 4e-3, 5e-3],
             [(4, 7), (5, 8), (3, 6)])
    oic_case("finite_large_ok", [1e300, 2e300, -1e300, 5.0, 6.0, 7.0, 8.0, 9.0], long_segs, expect="ok")
    oic_case("float32_max", np.full(8, np.finfo(np.float32).max, np.float64).tolist(), long_segs, expect="ok")
    row8 = np.linspace(0, 1, 8)[None]
    one = np.zeros(1, np.int64)
    op("oic_outer_ratio_1e300", lambda: ops.oic_scores(row8, None, one, one, one + 2, outer_ratio=1e300),
       "outer_ratio", expect="either", check=lambda r: _same(r, [_hamnet_ref(row8[0].tolist(), 0, 2, 1e300)]))
    op("oic_outer_ratio_1e20", lambda: ops.oic_scores(row8, None, one, one + 3, one + 5, outer_ratio=1e20),
       "outer_ratio", expect="either", check=lambda r: _same(r, [_hamnet_ref(row8[0].tolist(), 3, 5, 1e20)]))
    op("oic_outer_ratio_negative", lambda: ops.oic_scores(row8, None, one, one, one + 2, outer_ratio=-0.5),
       "outer_ratio")
    op("oic_outer_ratio_nan", lambda: ops.oic_scores(row8, None, one, one, one + 2, outer_ratio=np.nan),
       "outer_ratio")
    op("oic_outer_weight_inf", lambda: ops.oic_scores(row8, None, one, one, one + 2, outer_weight=np.inf),
       "outer_weight")
    op("oic_cas_none", lambda: ops.oic_scores(None, None, one, one, one + 1), "cas")
    op("oic_cas_dict", lambda: ops.oic_scores({}, None, one, one, one + 1), "cas")
    op("oic_cas_str", lambda: ops.oic_scores("abc", None, one, one, one + 1), "cas")
    op("oic_rows_uint64_huge", lambda: ops.oic_scores(row8, None, np.array([2 ** 64 - 1], np.uint64), one, one + 1),
       "rows")
    op("oic_lengths_uint64_huge", lambda: ops.oic_scores(row8, np.array([2 ** 63], np.uint64), one, one, one + 1),
       "lengths")
    op("oic_starts_float", lambda: ops.oic_scores(row8, None, one, np.zeros(1), one + 1), "starts")
    op("oic_variant_bad", lambda: ops.oic_scores(row8, None, one, one, one + 1, variant="x"), "variant")
    # upsampled_length / upsample_linear / gaussian_smooth
    from wtal.ops.upsample import gaussian_weights, upsampled_length

    op("upsampled_length_scale_zero", lambda: upsampled_length(5, 0), "scale")
    op("upsampled_length_scale_negative", lambda: upsampled_length(5, -2), "scale")
    op("upsampled_length_overflow", lambda: upsampled_length(1 << 40, 1 << 40), "scale")
    op("upsampled_length_scale_2e64", lambda: upsampled_length(5, 1 << 64), "scale")
    op("upsampled_length_length_negative", lambda: upsampled_length(-5, 2), "length")
    op("upsampled_length_float_length", lambda: upsampled_length(5.7, 2), "length")
    op("upsampled_length_str_scale", lambda: upsampled_length(5, "2"), "scale")
    op("upsampled_length_valid", lambda: upsampled_length(7, 49), expect="ok", check=lambda r: r == 343)
    x2 = np.linspace(0, 1, 8).reshape(2, 4)
    op("upsample_scale_2e40", lambda: ops.upsample_linear(x2, None, 1 << 40), "scale")
    op("upsample_scale_2e64", lambda: ops.upsample_linear(x2, None, 1 << 64), "scale")
    op("upsample_scale_zero", lambda: ops.upsample_linear(x2, None, 0), "scale")
    op("upsample_scale_float", lambda: ops.upsample_linear(x2, None, 2.0), "scale")
    op("upsample_x_none", lambda: ops.upsample_linear(None, None, 2), "x")
    op("upsample_x_object", lambda: ops.upsample_linear(object(), None, 2), "x")
    op("upsample_lengths_uint64_huge", lambda: ops.upsample_linear(x2, np.array([2 ** 63, 1], np.uint64), 2),
       "lengths")
    op("upsample_inf_rows", lambda: ops.upsample_linear(np.array([[0.0, np.inf, 1.0, 2.0]]), None, 2),
       "x", expect="either", check=lambda r: r[0].shape == (1, 8))
    op("smooth_sigma_1e-300", lambda: ops.gaussian_smooth(x2, None, 1e-300), "sigma", expect="either",
       check=lambda r: _same(r, x2))
    op("smooth_sigma_1e-170", lambda: ops.gaussian_smooth(x2, None, 1e-170), "sigma", expect="either",
       check=lambda r: _same(r, x2))
    op("smooth_sigma_1e300", lambda: ops.gaussian_smooth(x2, None, 1e300), "sigma")
    op("smooth_sigma_1e10", lambda: ops.gaussian_smooth(x2, None, 1e10), "sigma")
    op("smooth_sigma_zero", lambda: ops.gaussian_smooth(x2, None, 0.0), "sigma")
    op("smooth_sigma_nan", lambda: ops.gaussian_smooth(x2, None, np.nan), "sigma")
    op("smooth_truncate_1e300", lambda: ops.gaussian_smooth(x2, None, 1.0, truncate=1e300), "truncate")
    op("smooth_truncate_tiny_sigma", lambda: ops.gaussian_smooth(x2, None, 1e-300, truncate=1e300),
       ("sigma", "truncate"))
    op("smooth_x_str", lambda: ops.gaussian_smooth("x", None, 1.0), "x")
    op("gaussian_weights_sigma_zero", lambda: gaussian_weights(0.0), "sigma")
    op("gaussian_weights_sigma_negative", lambda: gaussian_weights(-1.0), "sigma")
    op("gaussian_weights_tiny", lambda: gaussian_weights(1e-300), "sigma", expect="either",
       check=lambda r: r.tolist() == [1.0])
    op("smooth_valid_scipy", lambda: ops.gaussian_smooth(x2, None, 1.5), expect="ok",
       check=lambda r: _same(r, __import__("scipy.ndimage", fromlist=["x"]).gaussian_filter1d(x2, 1.5, axis=1)))
    # nms
    segs = np.array([[0.0, 1.0], [0.5, 1.5], [3.0, 4.0]])
    scs = np.array([0.9, 0.8, 0.7])
    g64 = np.array([2 ** 63, 1, 2 ** 63], np.uint64)
    op("nms_groups_uint64_2e63", lambda: ops.nms(segs, scs, groups=g64, iou_threshold=0.1), "groups",
       expect="either", check=lambda r: r[0].tolist() == [1, 0, 2])
    op("nms_groups_uint64_max", lambda: ops.nms(segs, scs, groups=np.array([2 ** 64 - 1, 0, 5], np.uint64),
                                                 iou_threshold=0.1), "groups", expect="either",
       check=lambda r: r[0].tolist() == [1, 2, 0])
    op("nms_length_overflow", lambda: ops.nms(np.array([[-1e308, 1e308], [0.0, 1.0]]), scs[:2], iou_threshold=0.5),
       "segments", expect="either", check=lambda r: r[0].tolist() == [0])
    op("nms_equal_huge_segments", lambda: ops.nms(np.array([[0.0, 1.7e308], [0.0, 1.7e308]]), scs[:2],
                                                   iou_threshold=0.5), "segments", expect="either",
       check=lambda r: r[0].tolist() == [0])
    op("nms_plus_one_huge", lambda: ops.nms(np.array([[-1.7e308, 1.7e308], [-1.7e308, 1.7e308]]), scs[:2],
                                             iou_threshold=0.5, overlap="plus_one"), "segments", expect="either",
       check=lambda r: r[0].tolist() == [0])
    op("nms_max_num_2e70", lambda: ops.nms(segs, scs, iou_threshold=0.5, max_num=1 << 70), "max_num")
    op("nms_max_num_2e63", lambda: ops.nms(segs, scs, iou_threshold=0.5, max_num=1 << 63), "max_num")
    op("nms_max_num_float", lambda: ops.nms(segs, scs, iou_threshold=0.5, max_num=2.0), "max_num")
    op("nms_sigma_1e-300", lambda: ops.nms(segs, scs, iou_threshold=0.5, method="gaussian", sigma=1e-300),
       "sigma", expect="either", check=lambda r: r[0].tolist() == [0, 2, 1] and r[1][1] == 0.7)
    op("nms_sigma_inf", lambda: ops.nms(segs, scs, iou_threshold=0.5, method="gaussian", sigma=np.inf), "sigma")
    op("nms_min_score_nan", lambda: ops.nms(segs, scs, iou_threshold=0.5, min_score=np.nan), "min_score")
    op("nms_iou_threshold_2", lambda: ops.nms(segs, scs, iou_threshold=2.0), "iou_threshold")
    op("nms_segments_none", lambda: ops.nms(None, scs, iou_threshold=0.5), "segments")
    op("nms_segments_str", lambda: ops.nms("abc", scs, iou_threshold=0.5), "segments")
    op("nms_groups_float", lambda: ops.nms(segs, scs, groups=np.zeros(3), iou_threshold=0.5), "groups")
    op("nms_groups_object", lambda: ops.nms(segs, scs, groups=np.array([1, "a", None], object),
                                             iou_threshold=0.5), "groups")
    # topk_pool / hybrid_attention_pool
    x3 = np.random.default_rng(0).standard_normal((2, 5, 3))
    op("topk_k_2e64", lambda: ops.topk_pool(x3, k=1 << 64), "k")
    op("topk_k_2e63", lambda: ops.topk_pool(x3, k=1 << 63), "k")
    op("topk_k_2e62", lambda: ops.topk_pool(x3, k=1 << 62), expect="ok", check=lambda r: _same(r, x3.mean(1)))
    op("topk_ratio_2e64", lambda: ops.topk_pool(x3, ratio=1 << 64), "ratio")
    op("topk_k_float", lambda: ops.topk_pool(x3, k=2.5), "k")
    op("topk_k_and_ratio", lambda: ops.topk_pool(x3, k=1, ratio=2), ("k", "ratio"))
    op("topk_x_str", lambda: ops.topk_pool("abc", k=1), "x")
    op("topk_x_none", lambda: ops.topk_pool(None, k=1), "x")
    op("topk_x_dict", lambda: ops.topk_pool({}, k=1), "x")
    op("topk_x_int_array", lambda: ops.topk_pool(np.zeros((2, 3, 4), np.int64), k=1), "x")
    op("topk_lengths_uint64_huge", lambda: ops.topk_pool(x3, k=1, lengths=np.array([2 ** 63, 1], np.uint64)),
       "lengths")
    op("topk_lengths_float", lambda: ops.topk_pool(x3, k=1, lengths=np.array([1.5, 2.0])), "lengths")
    a2 = np.random.default_rng(1).random((2, 5))
    op("hybrid_ratio_2e64", lambda: ops.hybrid_attention_pool(x3, a2, gamma=0.2, ratio=1 << 64), "ratio")
    op("hybrid_gamma_nan", lambda: ops.hybrid_attention_pool(x3, a2, gamma=np.nan, ratio=2), "gamma")
    op("hybrid_cas_str", lambda: ops.hybrid_attention_pool("abc", a2, gamma=0.2, ratio=2), "cas")
    op("hybrid_cas_none", lambda: ops.hybrid_attention_pool(None, a2, gamma=0.2, ratio=2), "cas")
    op("hybrid_attention_str", lambda: ops.hybrid_attention_pool(x3, "abc", gamma=0.2, ratio=2), "attention")
    op("hybrid_threshold_bad", lambda: ops.hybrid_attention_pool(x3, a2, gamma=0.2, ratio=2, threshold="x"),
       "threshold")
    # connected_components / segment_iou
    sig2 = np.linspace(0, 1, 8).reshape(2, 4)
    op("cc_min_len_2e64", lambda: ops.connected_components(sig2, None, 0.5, min_len=1 << 64), "min_len")
    op("cc_min_len_2e63", lambda: ops.connected_components(sig2, None, 0.5, min_len=1 << 63), "min_len")
    op("cc_offsets_uint64_huge", lambda: ops.connected_components(np.zeros(4), None, 0.5,
                                                                  offsets=np.array([0, 2 ** 63], np.uint64)),
       "offsets")
    op("cc_lengths_2e62", lambda: ops.connected_components(sig2, np.array([1 << 62, 1]), 0.5), "lengths")
    op("cc_signal_str", lambda: ops.connected_components("abc", None, 0.5), "signal")
    op("cc_signal_none", lambda: ops.connected_components(None, None, 0.5), "signal")
    op("cc_thresholds_str", lambda: ops.connected_components(sig2, None, "abc"), "thresholds")
    op("cc_thresholds_nan", lambda: ops.connected_components(sig2, None, np.nan), "thresholds")
    op("iou_a_none", lambda: ops.segment_iou(None, np.zeros((1, 2))), "a")
    op("iou_b_str", lambda: ops.segment_iou(np.zeros((1, 2)), "ab"), "b")
    op("iou_convention_bad", lambda: ops.segment_iou(np.zeros((1, 2)), np.zeros((1, 2)), convention="x"),
       "convention")
    # ambiguous segments that cannot match
    from wtal.eval import evaluate_detection

    gt = {"video": np.array(["v1", "v1"], object), "t_start": np.array([1.0, 5.0]), "t_end": np.array([3.0, 8.0]),
          "label": np.array(["A", "A"], object)}
    pred = {"video": np.array(["v1", "v1"], object), "t_start": np.array([1.0, 5.0]),
            "t_end": np.array([3.0, 8.0]), "label": np.array(["A", "A"], object), "score": np.array([0.9, 0.8])}

    def amb_case(name, amb, names, expect="warn", check=None):
        op("ambiguous_" + name, lambda: evaluate_detection(gt, pred, preset="wtalc", ambiguous=amb), names,
           expect=expect, check=check)

    amb_case("nan_times", {"video": np.array(["v1"], object), "t_start": np.array([np.nan]),
                           "t_end": np.array([2.0])}, "ambiguous")
    amb_case("inf_times", {"video": np.array(["v1"], object), "t_start": np.array([-np.inf]),
                           "t_end": np.array([np.inf])}, "ambiguous", expect="either",
             check=lambda r: r.num_predictions[0] == 0)
    amb_case("int_video_vs_str_gt", {"video": np.array([1]), "t_start": np.array([0.0]), "t_end": np.array([2.0])},
             "ambiguous")
    amb_case("reversed", {"video": np.array(["v1"], object), "t_start": np.array([9.0]), "t_end": np.array([0.0])},
             "ambiguous")
    amb_case("unknown_video_ok", {"video": np.array(["zz"], object), "t_start": np.array([0.0]),
                                  "t_end": np.array([2.0])}, (), expect="ok",
             check=lambda r: float(r.mAP[0]) == 1.0)
    amb_case("valid_drop", {"video": np.array(["v1"], object), "t_start": np.array([0.0]),
                            "t_end": np.array([2.0])}, (), expect="ok", check=lambda r: r.num_predictions[0] == 1)


def build_cases() -> list[Case]:
    if not CASES:
        for f in (_pickles, _headers, _readers, _raw, _ops):
            f()
    return CASES


# ====================================================================================================
# running
# ====================================================================================================


def classify(case: Case, tmp: str) -> tuple[str, str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = case.fn(tmp)
        except BaseException as exc:  # noqa: BLE001 -- every exception is an outcome here
            if isinstance(exc, KeyboardInterrupt):
                raise
            msg = f"{type(exc).__name__}: {exc}"
            if case.expect == "ok":
                return "rejected", msg
            good_type = isinstance(exc, case.types) and not isinstance(exc, (MemoryError, UnicodeError))
            named = all(n in str(exc) for n in case.names)
            if good_type and named:
                return "named", msg
            return "poor", msg
    warned = [str(w.message) for w in caught if all(n in str(w.message) for n in case.names)]
    if case.expect == "warn" and warned:
        return "named", "warning: " + warned[0]
    if case.expect in ("ok", "either") and case.check is not None:
        try:
            good = bool(case.check(result))
        except Exception as exc:  # noqa: BLE001
            return "silent", f"check failed: {type(exc).__name__}: {exc}"
        if good:
            return "correct", ""
        return "silent", f"wrong result: {_short(result)}"
    if case.expect == "ok":
        return "correct", ""
    return "silent", f"returned {_short(result)}"


def _short(x) -> str:
    s = repr(x)
    return s if len(s) < 200 else s[:197] + "..."


def child(start: int, results: str) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    cases = build_cases()
    with open(results, "a", buffering=1) as out:
        for i in range(start, len(cases)):
            out.write(json.dumps({"i": i, "phase": "start"}) + "\n")
            out.flush()
            tmp = tempfile.mkdtemp(prefix="wtal_hostile_")
            try:
                outcome, detail = classify(cases[i], tmp)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            out.write(json.dumps({"i": i, "phase": "done", "outcome": outcome, "detail": detail}) + "\n")
            out.flush()


def run_all(timeout: float = CASE_TIMEOUT_S) -> list[dict]:
    cases = build_cases()
    fd, results = tempfile.mkstemp(prefix="wtal_hostile_", suffix=".jsonl")
    os.close(fd)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONFAULTHANDLER="0")
    done: dict[int, dict] = {}
    start = 0
    try:
        while start < len(cases):
            proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", str(start), results],
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            current, since = None, time.monotonic()
            pos = 0
            while True:
                rc = proc.poll()
                with open(results) as f:
                    f.seek(pos)
                    chunk = f.read()
                lines = chunk.split("\n")
                pos += len(chunk) - len(lines[-1])
                for line in lines[:-1]:
                    rec = json.loads(line)
                    if rec["phase"] == "start":
                        current, since = rec["i"], time.monotonic()
                    else:
                        done[rec["i"]] = rec
                        current = None
                if rc is not None:
                    break
                if current is not None and time.monotonic() - since > timeout:
                    proc.kill()
                    proc.wait()
                    done[current] = {"i": current, "outcome": "crash", "detail": f"hung for more than {timeout:.0f} s"}
                    break
                time.sleep(0.02)
            stderr = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
            if proc.returncode not in (0, None) and current is not None and current not in done:
                tail = stderr.strip().splitlines()[-1:] or [""]
                done[current] = {"i": current, "outcome": "crash",
                                 "detail": f"interpreter died (rc {proc.returncode}) {tail[0][:150]}"}
            if current is None and proc.returncode not in (0, None) and len(done) < len(cases):
                raise RuntimeError(f"the tally child failed outside a case:\n{stderr}")
            start = max(done) + 1 if done else len(cases)
            missing = [i for i in range(start) if i not in done]
            if missing:
                start = missing[0]
    finally:
        os.unlink(results)
    rows = []
    for i, c in enumerate(cases):
        rec = done[i]
        rows.append({"category": c.category, "case": c.name, "expect": c.expect, "outcome": rec["outcome"],
                     "detail": rec.get("detail", "")})
    return rows


def table(rows: list[dict]) -> str:
    head = ["category", "tried"] + list(OUTCOMES)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    totals = {k: 0 for k in OUTCOMES}
    for cat in CATEGORIES:
        sel = [r for r in rows if r["category"] == cat]
        counts = {k: sum(r["outcome"] == k for r in sel) for k in OUTCOMES}
        for k in OUTCOMES:
            totals[k] += counts[k]
        lines.append("| " + " | ".join([cat, str(len(sel))] + [str(counts[k]) for k in OUTCOMES]) + " |")
    lines.append("| " + " | ".join(["total", str(len(rows))] + [str(totals[k]) for k in OUTCOMES]) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs=2, metavar=("START", "RESULTS"), help=argparse.SUPPRESS)
    ap.add_argument("--json", help="write every case's outcome to this file")
    ap.add_argument("--details", action="store_true", help="list every case that is not named/correct")
    ap.add_argument("--check", action="store_true", help="exit 1 if any case crashed, was silent, poor or rejected")
    ap.add_argument("--timeout", type=float, default=CASE_TIMEOUT_S, help="seconds per case before it counts as hung")
    args = ap.parse_args(argv)
    if args.child:
        child(int(args.child[0]), args.child[1])
        return 0
    rows = run_all(args.timeout)
    print(table(rows))
    bad = [r for r in rows if r["outcome"] in ("poor", "silent", "crash", "rejected")]
    if args.details or args.check:
        for r in bad:
            print(f"{r['outcome']:8s} {r['category']:16s} {r['case']}: {r['detail']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 1 if (args.check and bad) else 0


if __name__ == "__main__":
    sys.exit(main())
