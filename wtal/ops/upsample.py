"""Linear upsampling and Gaussian smoothing of score sequences (STPN/BM lineage, seed_models §4.5).

``upsample_linear`` reproduces, per row, ``scipy.interpolate.interp1d(np.arange(L), row[:L],
kind="linear", axis=0, fill_value="extrapolate")`` evaluated at ``np.arange(0, L, 1 / scale)``: the
grid of ``upgrade_resolution`` in DGAM (``lib/utils/utils.py``) and HAM-Net/BaSNet (``utils.py``).
``gaussian_smooth`` reproduces ``scipy.ndimage.gaussian_filter1d(row[:L], sigma)`` (mode "reflect",
``truncate=4.0``), which BM/DGAM apply on ActivityNet with ``sigma=25``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from wtal._ext import _C
from wtal.ops._arrays import check_float, check_positive_int, float_array, int_array, like_input
from wtal.ops._device import is_torch

__all__ = ["upsample_linear", "gaussian_smooth", "upsampled_length", "gaussian_weights", "MAX_GAUSSIAN_RADIUS"]


def upsampled_length(length: int, scale: int) -> int:
    """``len(np.arange(0, length, 1 / scale))``: ``length * scale`` except for rare scales (49 is the
    smallest) where the float64 rounding of ``1 / scale`` adds one position.

    Raises:
        ValueError: ``length < 0``, ``scale < 1``, or ``length * scale > 2**53`` (positions are float64).
        TypeError: a non-integer ``length`` or ``scale``.
    """
    length = check_positive_int(length, "length", minimum=0)
    scale = check_positive_int(scale, "scale")
    return int(_C.upsampled_length(length, scale))


#: Largest Gaussian kernel radius accepted (``int(truncate * sigma + 0.5)``): 2**24 taps already far
#: exceed any score sequence, and a larger radius would only allocate.
MAX_GAUSSIAN_RADIUS = 1 << 24


def gaussian_weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy's ``_gaussian_kernel1d(sigma, 0, int(truncate * sigma + 0.5))``, computed the same way so
    the weights are bit-identical: ``[2 * radius + 1]`` float64, symmetric, summing to 1.

    A radius of 0 gives ``[1.0]`` (what scipy computes whenever ``sigma**2`` does not underflow; scipy
    itself returns NaN for ``sigma`` below ~1e-154).

    Raises:
        ValueError: ``sigma`` not finite and > 0, ``truncate`` not finite and >= 0, a radius above
            :data:`MAX_GAUSSIAN_RADIUS`, or a radius >= 1 with ``sigma**2`` underflowing to 0.
    """
    sd = check_float(sigma, "sigma")
    if not sd > 0:
        raise ValueError(f"sigma must be > 0, got {sd}")
    truncate = check_float(truncate, "truncate", lo=0.0)
    r = truncate * sd + 0.5
    if not r < MAX_GAUSSIAN_RADIUS + 1:
        raise ValueError(f"truncate * sigma = {truncate * sd:g} gives a kernel radius above {MAX_GAUSSIAN_RADIUS} "
                         f"(sigma={sd:g}, truncate={truncate:g})")
    radius = int(r)
    if radius == 0:
        return np.ones(1, dtype=np.float64)
    sigma2 = sd * sd
    if sigma2 == 0.0:
        raise ValueError(f"sigma={sd:g} is too small for truncate={truncate:g}: sigma**2 underflows to 0")
    x = np.arange(-radius, radius + 1)
    phi_x = np.exp(-0.5 / sigma2 * x ** 2)
    phi_x = phi_x / phi_x.sum()
    return np.ascontiguousarray(phi_x[::-1])


def _lengths(lengths: Any, N: int, T: int) -> np.ndarray:
    if lengths is None:
        return np.full(N, T, dtype=np.int64)
    if is_torch(lengths):
        lengths = lengths.detach().cpu()
    lens = int_array(lengths, "lengths", ndim=1)
    if lens.shape[0] != N:
        raise ValueError(f"lengths must have shape [N] = [{N}] to match x [N, T] = [{N}, {T}], got {list(lens.shape)}")
    if lens.size and (lens.min() < 0 or lens.max() > T):
        raise ValueError(f"lengths must lie in [0, T] = [0, {T}], got min {int(lens.min())}, max {int(lens.max())}")
    return lens


def _check_nan(x: np.ndarray, lens: np.ndarray) -> None:
    if x.size and np.isnan(x).any():
        valid = np.arange(x.shape[1])[None, :] < lens[:, None]
        if np.isnan(x[valid]).any():
            raise ValueError("x contains NaN inside a row (positions < lengths)")


def is_torch_dtype(d: Any) -> bool:
    return type(d).__module__ == "torch" and type(d).__name__ == "dtype"


def _out_dtype(dtype: Any, x_dtype: np.dtype) -> np.dtype:
    if dtype is None:
        return np.dtype(x_dtype)
    if is_torch_dtype(dtype):
        dtype = str(dtype).replace("torch.", "")
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}") from None
    if d not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    if x_dtype == np.float64 and d == np.float32:
        raise TypeError("dtype=float32 for float64 x is not supported (the result is computed in float64)")
    return d


def upsample_linear(x: Any, lengths: Any, scale: int, *, dtype: Any = None) -> tuple[Any, Any]:
    """Upsample each row by an integer factor with linear interpolation (scipy ``interp1d`` semantics).

    Args:
        x: ``[N, T]`` float32/float64 rows (numpy, CPU or CUDA tensor).
        lengths: ``[N]`` valid lengths in ``[0, T]`` (``None``: all ``T``).
        scale: integer factor >= 1 (BM/DGAM use 20).
        dtype: output dtype; default ``x``'s. scipy computes in float64 even for float32 input (the
            neighbour difference is taken in float32, the rest in float64); pass ``dtype=np.float64``
            (or ``torch.float64``) to get scipy's float64 values bit for bit, which the authors then
            threshold.

    Returns:
        ``(y [N, W], new_lengths [N])`` with ``W = upsampled_length(T, scale)`` (``T * scale`` for
        every scale <= 64 but 49) and ``new_lengths[n] = upsampled_length(lengths[n], scale)``. Row n
        holds ``f(np.arange(0, L, 1 / scale))``, so the last ``scale - 1`` values extrapolate the last
        segment linearly, as in the authors' code; positions from ``new_lengths[n]`` on are 0. A row of
        length 1 is constant (scipy refuses it); a row of length 0 stays empty. ``scale=1`` copies
        the rows, as HAM-Net's ``upgrade_resolution`` does (``if scale == 1: return arr``; evaluating
        interp1d on the integer grid could change a value by one rounding).

    Raises:
        ValueError: ``scale < 1``, an output ``[N, upsampled_length(T, scale)]`` beyond 2**53 positions or
            too large to allocate, ``lengths`` outside ``[0, T]`` or of the wrong size, NaN in a row.
        TypeError: non-float ``x``, non-integer ``scale`` or ``lengths``, bad ``dtype``.
    """
    scale = check_positive_int(scale, "scale")
    if is_torch(x) and x.device.type == "cuda":
        from wtal.ops._proposals_cuda import upsample_linear_cuda

        return upsample_linear_cuda(x, lengths, scale, dtype=dtype)
    a = float_array(x, "x", ndim=2)
    lens = _lengths(lengths, *a.shape)
    _check_nan(a, lens)
    out = _out_dtype(dtype, a.dtype)
    y, new_lengths = _C.upsample_linear(a, lens, scale, bool(out == np.float64 and a.dtype == np.float32))
    return like_input(y, x), like_input(new_lengths, x)


def gaussian_smooth(x: Any, lengths: Any, sigma: float, *, truncate: float = 4.0) -> Any:
    """``scipy.ndimage.gaussian_filter1d(row[:L], sigma, truncate=truncate)`` for every row.

    Args:
        x: ``[N, T]`` float32/float64 rows (numpy, CPU or CUDA tensor).
        lengths: ``[N]`` valid lengths in ``[0, T]`` (``None``: all ``T``).
        sigma: standard deviation in positions (> 0); BM/DGAM use 25 on the x20 upsampled signal.
        truncate: the kernel radius is ``int(truncate * sigma + 0.5)`` (scipy's default 4.0).

    Returns:
        ``[N, T]`` in ``x``'s dtype: each row's first ``L`` values smoothed with scipy's "reflect"
        boundary (half-sample symmetric, repeated when the radius exceeds the row), accumulated in
        float64 in scipy's order; the padded tail ``x[n, L:]`` is copied unchanged.

    Raises:
        ValueError: ``sigma <= 0`` or a kernel radius ``int(truncate * sigma + 0.5)`` above
            :data:`MAX_GAUSSIAN_RADIUS`, ``lengths`` outside ``[0, T]``, NaN in a row.
        TypeError: non-float ``x`` or non-integer ``lengths``.
    """
    weights = gaussian_weights(sigma, truncate)
    if is_torch(x) and x.device.type == "cuda":
        from wtal.ops._proposals_cuda import gaussian_smooth_cuda

        return gaussian_smooth_cuda(x, lengths, weights)
    a = float_array(x, "x", ndim=2)
    lens = _lengths(lengths, *a.shape)
    _check_nan(a, lens)
    return like_input(_C.gaussian_smooth(a, lens, weights), x)
