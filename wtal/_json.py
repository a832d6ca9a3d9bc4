"""JSON output of results: the one ``default=`` function for numpy / torch values, and atomic writes."""
from __future__ import annotations

import json
import os
from typing import Any

from wtal._atomic import atomic_write_text


def json_default(o: Any) -> Any:
    """``json.dumps(default=...)``: numpy scalars and arrays, torch tensors -> Python values."""
    if hasattr(o, "tolist"):  # numpy generic / ndarray, torch.Tensor
        return o.tolist()
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def write_json(path: str | os.PathLike, obj: Any, *, indent: int = 1) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (the previous file survives any failure)."""
    atomic_write_text(path, json.dumps(obj, indent=indent, default=json_default) + "\n")


__all__ = ["json_default", "write_json"]
