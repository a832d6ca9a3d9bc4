"""Columnar prediction / ground-truth files for sets too large for JSON: ``.parquet``, ``.csv``, ``.npz``.

One row per prediction (or GT instance) with the columns ``video, t_start, t_end, label`` (+ ``score``
for predictions, optional ``subset`` for ground truth); ActionFormer's names ``video-id``, ``t-start``,
``t-end`` are accepted for the first three. ``.parquet`` needs pyarrow; ``.csv`` pyarrow or pandas (the
``video`` column is always read as text, so ids such as ``0001`` keep their zeros; ``label`` is read as
integers when every value is one, as text otherwise); ``.npz`` (``numpy.savez``) needs nothing, but
text columns must be fixed-width unicode arrays (``dtype='U...'``): object arrays need pickle, which
wtal never loads. A missing package raises ``ImportError`` naming the file and the package.

The loaders of :mod:`wtal.eval.io` dispatch here by file suffix and validate the columns exactly as
they validate columns passed from Python (:func:`wtal.eval.io.columns_from`, messages naming the file).
"""
from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np

__all__ = ["ALIASES", "COLUMNAR_SUFFIXES", "is_columnar_file", "read_columns"]

ALIASES = {"video-id": "video", "t-start": "t_start", "t-end": "t_end"}
COLUMNAR_SUFFIXES = (".parquet", ".csv", ".npz")
_TEXT_COLUMNS = ("video", "video-id", "subset")


def is_columnar_file(path: Any) -> bool:
    """Whether ``path`` (str / PathLike) names a ``.parquet``, ``.csv`` or ``.npz`` file."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    return os.fspath(path).lower().endswith(COLUMNAR_SUFFIXES)


def read_columns(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a columnar file into 1-D numpy arrays, ActionFormer names mapped to wtal's.

    Raises:
        FileNotFoundError: the file does not exist.
        ImportError: pyarrow (``.parquet``) or pyarrow/pandas (``.csv``) is not installed.
        ValueError: the file cannot be read, holds object arrays (``.npz``), or has a column both
            under its wtal and its ActionFormer name.
    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"no such file: {p}")
    if os.path.isdir(p):
        raise ValueError(f"{p}: is a directory, not a file")
    suffix = p.lower().rsplit(".", 1)[-1]
    reader = {"parquet": _read_parquet, "csv": _read_csv, "npz": _read_npz}[suffix]
    cols = reader(p)
    out: dict[str, np.ndarray] = {}
    for key, col in cols.items():
        name = ALIASES.get(key, key)
        if name in out:
            raise ValueError(f"{p}: has both {name!r} and its ActionFormer name {key!r}; keep one")
        out[name] = col
    return out


def _missing(p: str, what: str, packages: str) -> ImportError:
    return ImportError(f"{p}: reading {what} files needs {packages}, which is not installed "
                       f"(pip install pyarrow)")


def _arrow_columns(table: Any) -> dict[str, np.ndarray]:
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}


def _read_parquet(p: str) -> dict[str, np.ndarray]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise _missing(p, ".parquet", "pyarrow") from None
    try:
        return _arrow_columns(pq.read_table(p))
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise ValueError(f"{p}: cannot read as Parquet ({exc})") from None


def _read_csv(p: str) -> dict[str, np.ndarray]:
    try:
        import pyarrow as pa
        import pyarrow.csv as pcsv
    except ImportError:
        pa = None
    if pa is not None:
        try:
            with open(p, "rb") as f:
                header = f.readline().decode("utf-8", "replace")
            names = [h.strip().strip('"') for h in header.split(",")]
            types = {c: pa.string() for c in names if c in _TEXT_COLUMNS}
            table = pcsv.read_csv(p, convert_options=pcsv.ConvertOptions(column_types=types))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{p}: cannot read as CSV ({exc})") from None
        return _arrow_columns(table)
    try:
        import pandas as pd
    except ImportError:
        raise _missing(p, ".csv", "pyarrow or pandas") from None
    try:
        df = pd.read_csv(p, dtype={c: str for c in _TEXT_COLUMNS})
    except (OSError, ValueError) as exc:
        raise ValueError(f"{p}: cannot read as CSV ({exc})") from None
    return {str(c): df[c].to_numpy() for c in df.columns}


def _read_npz(p: str) -> dict[str, np.ndarray]:
    if not zipfile.is_zipfile(p):  # np.load would try it as a pickle
        raise ValueError(f"{p}: cannot read as .npz (not a zip archive written by numpy.savez)")
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ValueError(f"{p}: holds object arrays, which need pickle (never loaded); save text columns "
                             f"as unicode arrays, e.g. np.asarray(video, dtype=str)") from None
        raise ValueError(f"{p}: cannot read as .npz ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{p}: cannot read as .npz ({exc})") from None
