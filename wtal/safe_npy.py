"""Load ``.npy`` files from other people safely: plain arrays, and pickled object arrays (the W-TALC
annotation and feature files) without arbitrary code execution or trusting any size the file claims.

The W-TALC/3C-Net annotation files are numpy object arrays pickled by Python 2. ``np.load(...,
allow_pickle=True)`` would execute whatever the pickle asks for; this loader only lets the pickle build
numpy arrays, dtypes, numpy scalars and plain Python containers and scalars, and it checks everything
numpy itself would trust:

* the header's shape and dtype against the file size before anything is allocated (a header may claim
  2**40 elements; a truncated file fails here instead of inside numpy);
* every array state against its shape before ``ndarray.__setstate__`` sees it (numpy reads an object
  list shorter than the shape past its end, which segfaults), and every dtype state against the dtype
  it claims to be (a state can set the "holds objects" flag on float64);
* sizes claimed inside the pickle (a bytes object of 2**40 bytes, a memo index of 2**32): the pickle is
  run by the pure-Python unpickler through a reader that refuses to read past the end of the file, so
  nothing larger than the file is ever allocated.

Every problem with a file is one ``ValueError`` that names the file.
"""
from __future__ import annotations

import copyreg
import math
import os
import pickle
from typing import Any, NamedTuple

import numpy as np
from numpy.lib import format as npy_format

MAX_HEADER_SIZE = 1 << 20

# Dtype kinds an annotation or feature file may hold: bool, integers, floats, complex, bytes, str,
# objects. Structured, void, datetime and subarray dtypes never occur in these files and have
# states numpy trusts blindly, so they are refused.
_KINDS = frozenset("biufcSUO")


class NpyHeader(NamedTuple):
    """What an ``.npy`` header claims, checked against the file that holds it."""

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    data_offset: int  # bytes before the data (magic + header)
    data_bytes: int  # bytes after the header in the file


def _count(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def read_header(f: Any, path: str) -> NpyHeader:
    """Parse the header of an open ``.npy`` file and check its claims against the file size.

    Raises:
        ValueError: not an ``.npy`` file, a malformed header, a negative dimension, or a shape whose
            data (or, for object arrays, whose element count) does not fit in the file.
    """
    try:
        version = npy_format.read_magic(f)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(f, max_header_size=MAX_HEADER_SIZE)
        else:
            shape, fortran, dtype = npy_format.read_array_header_2_0(f, max_header_size=MAX_HEADER_SIZE)
    except Exception as exc:  # numpy raises ValueError, SyntaxError, EOFError, struct errors...
        raise ValueError(f"{path}: not a valid .npy file ({type(exc).__name__}: {exc})") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"{path}: corrupt .npy header: negative dimension in shape {shape}")
    offset = f.tell()
    available = os.fstat(f.fileno()).st_size - offset
    count = _count(shape)
    if dtype.hasobject:
        # every element of an object array costs at least one byte of pickle
        if count > available:
            raise ValueError(f"{path}: corrupt or truncated .npy file: the header claims {count} objects "
                             f"(shape {shape}) but only {available} bytes follow it")
    else:
        need = count * dtype.itemsize
        if need > available:
            raise ValueError(f"{path}: truncated or corrupt .npy file: the header claims shape {shape} of "
                             f"{dtype} ({need} bytes of data) but only {available} bytes follow it")
    return NpyHeader(tuple(shape), bool(fortran), dtype, offset, available)


def npy_header(path: str | os.PathLike) -> NpyHeader:
    """The checked header of the ``.npy`` file at ``path`` (see :func:`read_header`); reads no data.

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        ValueError: see :func:`read_header`.
    """
    path = _existing_file(path)
    try:
        with open(path, "rb") as f:
            return read_header(f, path)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None


# ----------------------------------------------------------------------------------------------------
# the restricted unpickler


class _Refused(pickle.UnpicklingError):
    pass


def _as_dtype(obj: Any, what: str) -> np.dtype:
    if not isinstance(obj, np.dtype):
        raise _Refused(f"{what} must be a numpy dtype, got {type(obj).__name__}")
    return obj


def _plain_dtype(name: Any, align: Any = False, copy: Any = True) -> np.dtype:
    """``numpy.dtype(name, align, copy)`` for the plain kinds only."""
    if isinstance(name, bytes):
        name = name.decode("latin1")
    if not isinstance(name, str) or len(name) > 32:
        raise _Refused(f"dtype name must be a short string, got {type(name).__name__}")
    try:
        dt = np.dtype(name)
    except Exception as exc:
        raise _Refused(f"unknown dtype {name!r} ({exc})") from None
    if dt.kind not in _KINDS or dt.fields is not None or dt.subdtype is not None:
        raise _Refused(f"refusing dtype {name!r}: only plain bool/int/float/complex/bytes/str/object dtypes")
    # always a private copy: the BUILD that follows sets its byte order, which on numpy's shared
    # float64/int64 descriptors would change them for the whole process
    return np.dtype(dt, copy=True)


def _check_dtype_state(dt: np.dtype, state: Any) -> None:
    # numpy's own pickles: (3, byteorder, None, None, None, elsize, alignment, flags); anything else
    # (fields, subarrays, other flags or sizes) is refused rather than handed to dtype.__setstate__.
    if not isinstance(state, tuple) or len(state) != 8 or state[0] != 3:
        raise _Refused(f"unexpected dtype state for {dt} ({type(state).__name__} of length "
                       f"{len(state) if isinstance(state, tuple) else '?'})")
    _, order, subarray, names, fields, elsize, alignment, flags = state
    if order not in ("<", ">", "|", "=") or subarray is not None or names is not None or fields is not None:
        raise _Refused(f"dtype state of {dt} has byte order {order!r} or fields/subarray")
    if elsize not in (-1, dt.itemsize) or alignment not in (-1, dt.alignment) or flags != dt.flags:
        raise _Refused(f"dtype state of {dt} claims item size {elsize}, alignment {alignment}, flags {flags} "
                       f"(the dtype has {dt.itemsize}, {dt.alignment}, {dt.flags})")


def _check_array_state(arr: np.ndarray, state: Any) -> tuple:
    """The state ``ndarray.__setstate__`` may safely get, or _Refused."""
    if not isinstance(state, tuple) or len(state) != 5 or state[0] != 1:
        raise _Refused("unexpected array state (numpy pickles (1, shape, dtype, is_fortran, data))")
    version, shape, dtype, fortran, data = state
    if not (isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape)):
        raise _Refused(f"array shape must be a tuple of non-negative ints, got {shape!r}")
    dt = _as_dtype(dtype, "array dtype")
    if dt.kind not in _KINDS or dt.fields is not None or dt.subdtype is not None:
        raise _Refused(f"refusing array dtype {dt}")
    if type(fortran) is not bool:
        raise _Refused(f"array is_fortran must be a bool, got {type(fortran).__name__}")
    count = _count(shape)
    if dt.hasobject:
        if type(data) is not list or len(data) != count:
            got = f"a list of {len(data)}" if type(data) is list else type(data).__name__
            raise _Refused(f"object array of shape {shape} needs a list of {count} elements, got {got}")
    else:
        if isinstance(data, str):  # Python 2 str read with encoding="latin1": numpy takes its latin1 bytes
            data = data.encode("latin1")
        if not isinstance(data, (bytes, bytearray)) or len(data) != count * dt.itemsize:
            got = f"{len(data)} bytes" if isinstance(data, (bytes, bytearray)) else type(data).__name__
            raise _Refused(f"array of shape {shape} and dtype {dt} needs {count * dt.itemsize} bytes, got {got}")
    return (version, shape, dt, fortran, bytes(data) if isinstance(data, bytearray) else data)


class _NdarrayToken:
    """What the pickle gets for ``numpy.ndarray``: only `_reconstruct` accepts it."""

    def __new__(cls, *args, **kwargs):
        raise _Refused("refusing to construct numpy.ndarray directly")


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
    # numpy pickles arrays as _reconstruct(ndarray, (0,), b'b') + BUILD(state); a larger shape here
    # would be allocated before any state is seen.
    if subtype is not _NdarrayToken:
        raise _Refused("_reconstruct may only build numpy.ndarray")
    if not (isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape) and _count(shape) == 0):
        raise _Refused(f"_reconstruct shape must be empty, got {shape!r}")
    if typecode not in (b"b", "b"):
        raise _Refused(f"_reconstruct type code must be 'b', got {typecode!r}")
    return np.ndarray(shape, dtype=np.int8)


def _scalar(dtype: Any, data: Any = None) -> Any:
    dt = _as_dtype(dtype, "scalar dtype")
    if dt.hasobject:
        return data
    if isinstance(data, str):
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dt.itemsize:
        raise _Refused(f"scalar of dtype {dt} needs {dt.itemsize} bytes, got "
                       f"{len(data) if isinstance(data, bytes) else type(data).__name__}")
    return np.frombuffer(data, dtype=dt, count=1)[0]


def _encode(obj: Any, encoding: Any = "utf-8") -> bytes:
    # numpy's protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1')
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused(f"_codecs.encode is allowed for latin1 text only, got encoding {encoding!r}")
    return obj.encode("latin1")


_CONTAINERS = (list, tuple, dict, set, frozenset, object)


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    if cls not in _CONTAINERS or base not in _CONTAINERS:
        raise _Refused("copy_reg._reconstructor is allowed for builtin containers only")
    return copyreg._reconstructor(cls, base, state)


_SAFE: dict[tuple[str, str], Any] = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _SAFE[(_mod, "_reconstruct")] = _reconstruct
    _SAFE[(_mod, "scalar")] = _scalar
_SAFE[("numpy", "ndarray")] = _NdarrayToken
_SAFE[("numpy", "dtype")] = _plain_dtype
_SAFE[("_codecs", "encode")] = _encode
for _mod in ("builtins", "__builtin__"):
    for _cls in _CONTAINERS + (complex,):
        _SAFE[(_mod, _cls.__name__)] = _cls
for _mod in ("copy_reg", "copyreg"):
    _SAFE[(_mod, "_reconstructor")] = _reconstructor


class _RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler: see the module docstring
    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _SAFE[(module, name)]
        except KeyError:
            raise _Refused(f"refusing to unpickle {module}.{name}: only numpy arrays and plain Python data "
                           "are allowed in annotation files") from None

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is np.ndarray:
            inst.__setstate__(_check_array_state(inst, state))
        elif isinstance(inst, np.dtype):
            _check_dtype_state(inst, state)
            inst.__setstate__(state)
        else:
            raise _Refused(f"refusing to set the state of a {type(inst).__name__}")

    dispatch[pickle.BUILD[0]] = load_build


class _BoundedReader:
    """A read-only view of an open file that refuses to read past its end: a size claimed by a pickle
    opcode is checked against the bytes left before anything is allocated for it."""

    def __init__(self, f: Any, path: str):
        self._f = f
        self._left = os.fstat(f.fileno()).st_size - f.tell()

    def _claim(self, n: int) -> int:
        if n is None or n < 0:
            n = self._left
        if n > self._left:
            raise _Refused(f"the pickle claims {n} bytes but only {self._left} are left in the file")
        return n

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(self._claim(n))
        self._left -= len(data)
        return data

    def readinto(self, b: Any) -> int:
        n = self._f.readinto(memoryview(b)[: self._claim(len(b))])
        self._left -= n
        return n

    def readline(self) -> bytes:
        line = self._f.readline(self._left)
        self._left -= len(line)
        return line


def _existing_file(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: not a regular file")
    return path


def load_npy(path: str | os.PathLike, *, encoding: str = "latin1") -> np.ndarray:
    """Load an ``.npy`` file; object arrays are unpickled with a restricted unpickler.

    Args:
        path: the ``.npy`` file.
        encoding: how Python-2 ``str`` objects inside the pickle are decoded (``"latin1"`` gives ``str``,
            ``"bytes"`` keeps ``bytes``).

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        ValueError: anything wrong with the file (the message names it): not an ``.npy`` file, a header
            whose shape does not fit in the file, a pickle that asks for anything but plain data, an
            array state that disagrees with its shape, a truncated pickle.
    """
    path = _existing_file(path)
    try:
        with open(path, "rb") as f:
            header = read_header(f, path)
            if not header.dtype.hasobject:
                f.seek(0)
                try:
                    return npy_format.read_array(f, allow_pickle=False, max_header_size=MAX_HEADER_SIZE)
                except (ValueError, EOFError) as exc:
                    raise ValueError(f"{path}: cannot read the array data ({exc})") from None
            try:
                arr = _RestrictedUnpickler(_BoundedReader(f, path), encoding=encoding).load()
            except OSError:
                raise
            except MemoryError:
                raise ValueError(f"{path}: the pickled object array does not fit in memory") from None
            except Exception as exc:  # a malformed pickle can fail in any of the unpickler's steps
                raise ValueError(f"{path}: cannot read pickled object array safely "
                                 f"({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if type(arr) is not np.ndarray:
        raise ValueError(f"{path}: pickle does not contain a numpy array (got {type(arr).__name__})")
    if arr.shape != header.shape:
        raise ValueError(f"{path}: the .npy header says shape {header.shape} but the pickled array has shape "
                         f"{arr.shape}")
    return arr


def to_str(x: Any) -> str:
    """Decode bytes (``b'video_test_0000004'``) to str; leave str unchanged."""
    if isinstance(x, (bytes, np.bytes_)):
        return bytes(x).decode("utf-8")
    return str(x)


__all__ = ["load_npy", "npy_header", "read_header", "NpyHeader", "to_str", "MAX_HEADER_SIZE"]
