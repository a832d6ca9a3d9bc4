"""CUDA paths of connected_components, oic_scores, upsample_linear and gaussian_smooth.

Imported only when a CUDA tensor is seen (it imports torch). Kernels run on torch's current stream of
the input's device; scratch memory is allocated as torch tensors. Each op synchronises with the host
once: connected_components to size its output (the same read also returns the kernel's error flags),
oic_scores to read its error flags, the smoothing ops to validate lengths/NaN before launching.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wtal._ext import _C
from wtal.ops._arrays import int_array
from wtal.ops._device import cuda_stream_of

_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def _float_tensor(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
    return x.detach().contiguous()  # deliberate copy of non-contiguous input


def _int_tensor(v: Any, name: str, device: torch.device) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        if v.dtype not in _INT_DTYPES:
            raise TypeError(f"{name} must be an integer array, got {v.dtype}")
        t = v.detach()
    else:
        if isinstance(v, (list, tuple)) and len(v) == 0:
            v = np.zeros(0, np.int64)
        t = torch.from_numpy(int_array(v, name))
    if t.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {list(t.shape)}")
    return t.to(device=device, dtype=torch.int64).contiguous()


def _thresholds_tensor(thresholds: Any, device: torch.device) -> torch.Tensor:
    if isinstance(thresholds, torch.Tensor):
        if not thresholds.dtype.is_floating_point:
            raise TypeError(f"thresholds must be float32 or float64, got {thresholds.dtype}")
        t = thresholds.detach().reshape(-1) if thresholds.dim() == 0 else thresholds.detach()
        if t.dim() != 1:
            raise ValueError(f"thresholds must be 1-D [M], got shape {list(t.shape)}")
        return t.to(device=device, dtype=torch.float64).contiguous()  # NaN is flagged by the kernel
    from wtal.ops.connected_components import _thresholds

    return torch.from_numpy(_thresholds(thresholds)).to(device)


def _lengths_tensor(lengths: Any, N: int, T: int, device: torch.device, what: str) -> torch.Tensor:
    if lengths is None:
        return torch.full((N,), T, dtype=torch.int64, device=device)
    lens = _int_tensor(lengths, "lengths", device)
    if lens.shape[0] != N:
        raise ValueError(f"lengths must have shape [N] = [{N}] to match {what} [N, T] = [{N}, {T}], "
                         f"got {list(lens.shape)}")
    return lens


def connected_components_cuda(signal: torch.Tensor, lengths: Any, thresholds: Any, *, min_len: int,
                              offsets: Any, drop_index0_only_runs: bool):
    from wtal.ops.connected_components import Segments

    x = _float_tensor(signal, "signal")
    dev = x.device
    thr = _thresholds_tensor(thresholds, dev)
    if offsets is None:
        if x.dim() != 2:
            raise ValueError(f"signal must be 2-D [N, T] (or 1-D with offsets=), got shape {list(x.shape)}")
        N, T = x.shape
        lens = _lengths_tensor(lengths, N, T, dev, "signal")
        row_start = torch.arange(N, device=dev, dtype=torch.int64) * T
        max_len = T
    else:
        if x.dim() != 1:
            raise ValueError(f"signal must be 1-D [sum T] when offsets is given, got shape {list(x.shape)}")
        off = _int_tensor(offsets, "offsets", dev)
        if off.shape[0] < 1:
            raise ValueError("offsets must have shape [N + 1] (at least one entry)")
        N = off.shape[0] - 1
        row_start, lens = off[:-1].contiguous(), (off[1:] - off[:-1]).contiguous()
        if lengths is not None:
            given = _int_tensor(lengths, "lengths", dev)
            if given.shape != lens.shape or bool((given != lens).any()):
                raise ValueError("lengths must be None or equal np.diff(offsets) when offsets is given")
        max_len = x.numel()
    M = thr.shape[0]
    P = N * M
    stream, device = cuda_stream_of(x)
    empty = lambda n: torch.empty(n, dtype=torch.int64, device=dev)  # noqa: E731
    if P == 0:
        if N and bool(((lens < 0) | (lens > max_len) | (row_start < 0) | (row_start + lens > x.numel())).any()):
            raise ValueError(f"lengths/offsets must describe rows inside signal (lengths in [0, {max_len}])")
        return Segments(empty(0), empty(0), empty(0), empty(0))
    meta = torch.zeros(2 * P + 3, dtype=torch.int64, device=dev)
    temp = torch.empty(max(1, int(_C.connected_components_cuda_temp_bytes(P))), dtype=torch.uint8, device=dev)
    is_double = x.dtype == torch.float64
    _C.connected_components_cuda_count(is_double, x.data_ptr(), x.numel(), max_len, row_start.data_ptr(),
                                       lens.data_ptr(), N, thr.data_ptr(), M, min_len, drop_index0_only_runs,
                                       meta.data_ptr(), temp.data_ptr(), temp.numel(), stream, device)
    total, flag = (int(v) for v in meta[2 * P + 1:2 * P + 3].tolist())  # the one host sync
    if flag & 4:
        raise ValueError("thresholds contains NaN")
    if flag & 2:
        if offsets is None:
            raise ValueError(f"lengths must lie in [0, T] = [0, {max_len}]")
        raise ValueError("offsets must be non-decreasing within [0, signal.numel()]")
    if flag & 1:
        raise ValueError("signal contains NaN inside a row (positions < lengths)")
    row, tix, start, end = empty(total), empty(total), empty(total), empty(total)
    if total:
        _C.connected_components_cuda_fill(is_double, x.data_ptr(), row_start.data_ptr(), lens.data_ptr(), N,
                                          thr.data_ptr(), M, min_len, drop_index0_only_runs, meta.data_ptr(),
                                          row.data_ptr(), tix.data_ptr(), start.data_ptr(), end.data_ptr(), stream,
                                          device)
    return Segments(row, tix, start, end)


def oic_scores_cuda(cas: torch.Tensor, lengths: Any, rows: Any, starts: Any, ends: Any, *, variant: str,
                    outer_ratio: float, outer_weight: float) -> torch.Tensor:
    from wtal.ops.oic_scores import OIC_VARIANTS

    x = _float_tensor(cas, "cas")
    if x.dim() != 2:
        raise ValueError(f"cas must be 2-D [R, T], got shape {list(x.shape)}")
    dev = x.device
    R, W = x.shape
    lens = _lengths_tensor(lengths, R, W, dev, "cas")
    r = _int_tensor(rows, "rows", dev)
    s = _int_tensor(starts, "starts", dev)
    e = _int_tensor(ends, "ends", dev)
    S = r.shape[0]
    if s.shape[0] != S or e.shape[0] != S:
        raise ValueError(f"rows, starts and ends must have the same shape [S], got {list(r.shape)}, "
                         f"{list(s.shape)}, {list(e.shape)}")
    out = torch.empty(S, dtype=x.dtype, device=dev)
    if R == 0:
        if S:
            raise ValueError(f"rows must index cas rows [0, {R})")
        return out
    is_double = x.dtype == torch.float64
    temp = torch.empty(int(_C.oic_scores_cuda_temp_bytes(is_double, R, W)), dtype=torch.uint8, device=dev)
    flag = torch.zeros(1, dtype=torch.int64, device=dev)
    stream, device = cuda_stream_of(x)
    _C.oic_scores_cuda(is_double, x.data_ptr(), R, W, lens.data_ptr(), r.data_ptr(), s.data_ptr(), e.data_ptr(), S,
                       OIC_VARIANTS.index(variant), outer_ratio, outer_weight, out.data_ptr(), temp.data_ptr(),
                       temp.numel(), flag.data_ptr(), stream, device)
    f = int(flag.item())  # host sync: report bad input instead of returning garbage
    if f & 2:
        raise ValueError(f"lengths must lie in [0, T] = [0, {W}]")
    if f & 4:
        raise ValueError(f"rows must index cas rows [0, {R})")
    if f & 8:
        raise ValueError("starts must be >= 0 and ends must be > starts (segments are [start, end), non-empty)")
    if f & 16:
        raise ValueError("ends must be <= lengths[rows]")
    if f & 1:
        raise ValueError("cas contains NaN or inf inside a row used by a segment; oic_scores needs finite scores")
    if f & 32:
        raise ValueError("cas holds values or partial sums above 2**1019 (~5e306) in a row used by a segment, whose "
                         "window sums could overflow float64; the CUDA kernel does not rescale such rows: call "
                         "oic_scores on a CPU copy (it does)")
    return out


def _validate_rows(x: torch.Tensor, lens: torch.Tensor) -> None:
    N, T = x.shape
    if N == 0:
        return
    valid = torch.arange(T, device=x.device)[None, :] < lens[:, None]
    bad = torch.stack([((lens < 0) | (lens > T)).any(), (torch.isnan(x) & valid).any()]).tolist()  # one sync
    if bad[0]:
        raise ValueError(f"lengths must lie in [0, T] = [0, {T}]")
    if bad[1]:
        raise ValueError("x contains NaN inside a row (positions < lengths)")


def upsample_linear_cuda(x: torch.Tensor, lengths: Any, scale: int, *, dtype: Any):
    from wtal.ops.upsample import _out_dtype

    a = _float_tensor(x, "x")
    if a.dim() != 2:
        raise ValueError(f"x must be 2-D [N, T], got shape {list(a.shape)}")
    N, T = a.shape
    out = _out_dtype(dtype, np.dtype(str(a.dtype).replace("torch.", "")))
    out_t = torch.float64 if out == np.float64 else torch.float32
    lens = _lengths_tensor(lengths, N, T, a.device, "x")
    _validate_rows(a, lens)
    W = int(_C.upsampled_length(T, scale))
    y = torch.empty((N, W), dtype=out_t, device=a.device)
    new_lengths = torch.empty(N, dtype=torch.int64, device=a.device)
    stream, device = cuda_stream_of(a)
    _C.upsample_linear_cuda(int(a.dtype == torch.float64), int(out_t == torch.float64), a.data_ptr(), lens.data_ptr(),
                            N, T, scale, y.data_ptr(), W, new_lengths.data_ptr(), stream, device)
    return y, new_lengths


def gaussian_smooth_cuda(x: torch.Tensor, lengths: Any, weights: np.ndarray) -> torch.Tensor:
    a = _float_tensor(x, "x")
    if a.dim() != 2:
        raise ValueError(f"x must be 2-D [N, T], got shape {list(a.shape)}")
    N, T = a.shape
    lens = _lengths_tensor(lengths, N, T, a.device, "x")
    _validate_rows(a, lens)
    w = torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float64)).to(a.device)
    y = torch.empty_like(a)
    stream, device = cuda_stream_of(a)
    _C.gaussian_smooth_cuda(a.dtype == torch.float64, a.data_ptr(), lens.data_ptr(), N, T, w.data_ptr(),
                            (w.shape[0] - 1) // 2, y.data_ptr(), stream, device)
    return y
