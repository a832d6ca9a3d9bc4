"""Load pickled ``.npy`` object arrays (W-TALC annotation files) without arbitrary code execution.

The W-TALC/3C-Net annotation files are numpy object arrays pickled by Python 2. ``np.load(...,
allow_pickle=True)`` would execute whatever the pickle asks for; this loader only lets the pickle build
numpy arrays, dtypes, and plain Python containers and scalars.
"""
from __future__ import annotations

import io
import os
import pickle
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "dict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("__builtin__", "list"),
    ("__builtin__", "tuple"),
    ("__builtin__", "dict"),
    ("__builtin__", "set"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("__builtin__", "object"),
    ("builtins", "object"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only numpy arrays and plain "
                                     "Python data are allowed in annotation files")


def load_npy(path: str | os.PathLike, *, encoding: str = "latin1") -> np.ndarray:
    """Load an ``.npy`` file; object arrays are unpickled with a restricted unpickler.

    Args:
        path: the ``.npy`` file.
        encoding: how Python-2 ``str`` objects inside the pickle are decoded (``"latin1"`` gives ``str``,
            ``"bytes"`` keeps ``bytes``).

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        ValueError: the file is not a valid ``.npy`` file or its pickle asks for anything else.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    with open(path, "rb") as f:
        try:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                header = npy_format.read_array_header_1_0(f, max_header_size=1 << 20)
            else:
                header = npy_format.read_array_header_2_0(f, max_header_size=1 << 20)
        except Exception as exc:
            raise ValueError(f"{path}: not a valid .npy file ({exc})") from exc
        shape, fortran_order, dtype = header
        if not dtype.hasobject:
            f.seek(0)
            return np.load(f, allow_pickle=False)
        try:
            arr = _RestrictedUnpickler(f, encoding=encoding).load()
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read pickled object array safely ({exc})") from exc
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{path}: pickle does not contain a numpy array (got {type(arr).__name__})")
    return arr


def to_str(x: Any) -> str:
    """Decode bytes (``b'video_test_0000004'``) to str; leave str unchanged."""
    if isinstance(x, (bytes, np.bytes_)):
        return bytes(x).decode("utf-8")
    return str(x)


__all__ = ["load_npy", "to_str"]
