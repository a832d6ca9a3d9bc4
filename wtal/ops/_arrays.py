"""Argument conversion and validation shared by the ops.

Inputs may be numpy arrays or torch tensors; the wrappers convert them to C-contiguous numpy arrays
deliberately (the C++ layer refuses non-contiguous or wrongly typed buffers) and convert results back
to the caller's kind with :func:`like_input`.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from wtal.ops._device import is_torch

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
INT_DTYPES = (np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.int32), np.dtype(np.int64),
              np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.uint32), np.dtype(np.uint64))


def _shape(a: Any) -> list[int]:
    return [int(s) for s in a.shape]


def to_numpy(x: Any, name: str) -> np.ndarray:
    """Return a numpy view (or copy for non-CPU tensors is refused) of ``x`` without changing dtype.

    Raises:
        TypeError: ``x`` is neither a numpy array nor a CPU torch tensor (lists are accepted and converted).
    """
    if isinstance(x, np.ndarray):
        return x
    if is_torch(x):
        if x.device.type != "cpu":
            raise ValueError(f"{name} is on {x.device}; this code path needs a CPU tensor or numpy array")
        return x.detach().numpy()
    if isinstance(x, (list, tuple)) or np.isscalar(x):
        return np.asarray(x)
    raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")


def float_array(x: Any, name: str, *, ndim: int | None = None, dtype: Any = None,
                finite: bool = False, allow_nan: bool = True) -> np.ndarray:
    """Validate a floating-point array and return it C-contiguous.

    Args:
        x: numpy array, CPU tensor or nested list.
        name: argument name used in error messages.
        ndim: required rank, if any.
        dtype: if given, the result is cast to this dtype (after the float check).
        finite: reject NaN and inf.
        allow_nan: if False, reject NaN (inf allowed).
    """
    a = to_numpy(x, name)
    if isinstance(x, (list, tuple)) and a.dtype.kind in "iu":
        a = a.astype(np.float64)
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {_shape(a)}")
    if finite and a.size and not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    if not allow_nan and a.size and np.isnan(a).any():
        raise ValueError(f"{name} contains NaN")
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    return np.ascontiguousarray(a)


INT64_MAX = (1 << 63) - 1


def int_array(x: Any, name: str, *, ndim: int | None = None, min_value: int | None = None,
              dtype: Any = np.int64) -> np.ndarray:
    """Validate an integer array (bool is refused) and return it C-contiguous as ``dtype``.

    Values that ``dtype`` cannot hold (a uint64 ``>= 2**63`` for int64) are a ValueError instead of
    wrapping around to negative numbers.
    """
    a = to_numpy(x, name)
    if a.dtype not in INT_DTYPES:
        raise TypeError(f"{name} must be an integer array, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {_shape(a)}")
    if min_value is not None and a.size and int(a.min()) < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got minimum {int(a.min())}")
    if a.size and not np.can_cast(a.dtype, dtype) and int(a.max()) > int(np.iinfo(dtype).max):
        raise ValueError(f"{name} holds {int(a.max())}, which does not fit {np.dtype(dtype)} "
                         f"(max {np.iinfo(dtype).max})")
    return np.ascontiguousarray(a.astype(dtype, copy=False))


def check_positive_int(v: Any, name: str, minimum: int = 1, maximum: int = INT64_MAX) -> int:
    """``v`` as an int in ``[minimum, maximum]`` (default: what the kernels' int64 can hold)."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
    if int(v) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {int(v)}")
    if int(v) > maximum:
        bound = "2**63 - 1" if maximum == INT64_MAX else str(maximum)
        raise ValueError(f"{name} must be <= {bound}, got {int(v)}")
    return int(v)


def require_array(x: Any, name: str) -> None:
    """TypeError naming ``x`` unless it is a numpy array, a torch tensor, a list or a tuple (for ops
    that dispatch on the kind before converting)."""
    if not (isinstance(x, (np.ndarray, list, tuple)) or is_torch(x)):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")


def check_float(v: Any, name: str, *, lo: float | None = None, hi: float | None = None,
                allow_inf: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(v).__name__}")
    f = float(v)
    if np.isnan(f) or (np.isinf(f) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {f}")
    if lo is not None and f < lo:
        raise ValueError(f"{name} must be >= {lo}, got {f}")
    if hi is not None and f > hi:
        raise ValueError(f"{name} must be <= {hi}, got {f}")
    return f


def check_choice(v: Any, name: str, choices: Sequence[str]) -> str:
    if v not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {v!r}")
    return v


def like_input(result: np.ndarray, *inputs: Any) -> Any:
    """Return ``result`` as a torch tensor if any of ``inputs`` is a torch tensor, else as numpy."""
    for x in inputs:
        if is_torch(x):
            import torch

            return torch.from_numpy(np.ascontiguousarray(result))
    return result


def any_torch(xs: Iterable[Any]) -> bool:
    return any(is_torch(x) for x in xs)
