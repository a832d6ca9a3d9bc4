"""torch.library custom ops behind :func:`wtal.ops.topk_pool` and :func:`wtal.ops.hybrid_attention_pool`.

Imported lazily (this module imports torch). Each op is a forward custom op plus a backward custom op
with its own autograd registration, a fake kernel for tracing, a CPU kernel (C++ on numpy views of the
tensors) and a CUDA kernel (launched on torch's current stream). The forward saves the selection as a
per-(b, c) cutoff (the k_b-th element of the top-k order: value and time index), so the backward is a
dense, deterministic pass that rebuilds the selection from the input.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import Tensor

from wtal._ext import _C

__all__ = ["topk_pool", "hybrid_attention_pool"]

_DTYPE_CODE = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}
_CPU_DTYPES = (torch.float32, torch.float64)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _np(t: Optional[Tensor]) -> Optional[np.ndarray]:
    return None if t is None else t.detach().contiguous().numpy()


# torch's current raw stream without building a Stream object (what inductor's generated code uses);
# absent from CPU-only torch builds, where no CUDA tensor can reach this code anyway
_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)


def _cuda_args(t: Tensor) -> tuple[int, int]:
    index = int(t.device.index)
    if _raw_stream is not None:
        return int(_raw_stream(index)), index
    return int(torch.cuda.current_stream(t.device).cuda_stream), index


def _ptr(t: Optional[Tensor]) -> int:
    return 0 if t is None else int(t.data_ptr())


def _check_lengths_cuda(lengths: Optional[Tensor], T: int) -> None:
    # One small device->host read; CPU lengths are checked inside the C++ kernel instead.
    if lengths is None or lengths.numel() == 0:
        return
    lo, hi = (int(v) for v in torch.aminmax(lengths))
    if lo < 1 or hi > T:
        raise ValueError(f"lengths must be in [1, T] = [1, {T}], got values in [{lo}, {hi}]")


# ----------------------------------------------------------------------------------------------------
# topk_pool
# ----------------------------------------------------------------------------------------------------
@torch.library.custom_op("wtal::topk_pool", mutates_args=())
def _topk_pool(x: Tensor, lengths: Optional[Tensor], k: int, ratio: int) -> tuple[Tensor, Tensor, Tensor]:
    B, T, C = x.shape
    out = torch.empty((B, C), dtype=x.dtype, device=x.device)
    cut_val = torch.empty((B, C), dtype=_compute_dtype(x.dtype), device=x.device)
    cut_idx = torch.empty((B, C), dtype=torch.int32, device=x.device)
    _C.topk_pool_forward_cpu(_np(x), _np(lengths), k, ratio, out.numpy(), cut_val.numpy(), cut_idx.numpy())
    return out, cut_val, cut_idx


@_topk_pool.register_kernel("cuda")
def _topk_pool_cuda(x: Tensor, lengths: Optional[Tensor], k: int, ratio: int) -> tuple[Tensor, Tensor, Tensor]:
    x = x.contiguous()
    B, T, C = x.shape
    _check_lengths_cuda(lengths, T)
    out = torch.empty((B, C), dtype=x.dtype, device=x.device)
    cut_val = torch.empty((B, C), dtype=_compute_dtype(x.dtype), device=x.device)
    cut_idx = torch.empty((B, C), dtype=torch.int32, device=x.device)
    stream, dev = _cuda_args(x)
    _C.topk_pool_forward_cuda(_DTYPE_CODE[x.dtype], _ptr(x), B, T, C, _ptr(lengths), k, ratio, _ptr(out),
                              _ptr(cut_val), _ptr(cut_idx), stream, dev)
    return out, cut_val, cut_idx


@_topk_pool.register_fake
def _(x, lengths, k, ratio):
    B, T, C = x.shape
    return (x.new_empty((B, C)), x.new_empty((B, C), dtype=_compute_dtype(x.dtype)),
            x.new_empty((B, C), dtype=torch.int32))


@torch.library.custom_op("wtal::topk_pool_backward", mutates_args=())
def _topk_pool_backward(grad: Tensor, x: Tensor, lengths: Optional[Tensor], cut_val: Tensor, cut_idx: Tensor,
                        k: int, ratio: int) -> Tensor:
    grad_x = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    _C.topk_pool_backward_cpu(_np(grad.to(x.dtype)), _np(x), _np(lengths), k, ratio, _np(cut_val), _np(cut_idx),
                              grad_x.numpy())
    return grad_x


@_topk_pool_backward.register_kernel("cuda")
def _topk_pool_backward_cuda(grad: Tensor, x: Tensor, lengths: Optional[Tensor], cut_val: Tensor,
                             cut_idx: Tensor, k: int, ratio: int) -> Tensor:
    x = x.contiguous()
    grad = grad.to(x.dtype).contiguous()
    B, T, C = x.shape
    grad_x = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    stream, dev = _cuda_args(x)
    _C.topk_pool_backward_cuda(_DTYPE_CODE[x.dtype], _ptr(grad), _ptr(x), B, T, C, _ptr(lengths), k, ratio,
                               _ptr(cut_val.contiguous()), _ptr(cut_idx.contiguous()), _ptr(grad_x), stream, dev)
    return grad_x


@_topk_pool_backward.register_fake
def _(grad, x, lengths, cut_val, cut_idx, k, ratio):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _k_per_video(lengths: Optional[Tensor], B: int, T: int, k: int, ratio: int, device) -> Tensor:
    L = torch.full((B,), T, dtype=torch.int64, device=device) if lengths is None else lengths
    return L.clamp(max=k) if k > 0 else torch.clamp(torch.div(L, ratio, rounding_mode="floor"), min=1)


def _selection_mask(x: Tensor, lengths: Optional[Tensor], cut_val: Tensor, cut_idx: Tensor) -> Tensor:
    """[B, T, C] bool: the positions topk_pool selected (same order as the kernels: NaN largest)."""
    B, T, C = x.shape
    v = x.to(cut_val.dtype)
    cv = cut_val.unsqueeze(1)
    v_nan, c_nan = torch.isnan(v), torch.isnan(cv)
    gt = (v > cv) | (v_nan & ~c_nan)
    eq = (v == cv) | (v_nan & c_nan)
    t = torch.arange(T, device=x.device).view(1, T, 1)
    sel = gt | (eq & (t <= cut_idx.unsqueeze(1)))
    if lengths is not None:
        sel = sel & (t < lengths.view(B, 1, 1))
    return sel


def _topk_pool_backward_setup(ctx, inputs, output):
    grad, x, lengths, cut_val, cut_idx, k, ratio = inputs
    ctx.save_for_backward(x, lengths, cut_val, cut_idx)
    ctx.k, ctx.ratio = k, ratio


def _topk_pool_backward_backward(ctx, gg):
    # grad_x is linear in grad (and piecewise constant in x): its adjoint is the top-k mean of gg.
    x, lengths, cut_val, cut_idx = ctx.saved_tensors
    B, T, C = x.shape
    sel = _selection_mask(x, lengths, cut_val, cut_idx)
    kb = _k_per_video(lengths, B, T, ctx.k, ctx.ratio, x.device).to(gg.dtype).view(B, 1)
    g_grad = (gg * sel).sum(dim=1) / kb
    return g_grad, None, None, None, None, None, None


_topk_pool_backward.register_autograd(_topk_pool_backward_backward, setup_context=_topk_pool_backward_setup)


def _topk_pool_setup(ctx, inputs, output):
    x, lengths, k, ratio = inputs
    _, cut_val, cut_idx = output
    ctx.save_for_backward(x, lengths, cut_val, cut_idx)
    ctx.k, ctx.ratio = k, ratio


def _topk_pool_bwd(ctx, grad_out, grad_cut_val, grad_cut_idx):
    x, lengths, cut_val, cut_idx = ctx.saved_tensors
    if grad_out is None:
        grad_out = torch.zeros(x.shape[0], x.shape[2], dtype=x.dtype, device=x.device)
    grad_x = _topk_pool_backward(grad_out, x, lengths, cut_val, cut_idx, ctx.k, ctx.ratio)
    return grad_x, None, None, None


_topk_pool.register_autograd(_topk_pool_bwd, setup_context=_topk_pool_setup)


# ----------------------------------------------------------------------------------------------------
# hybrid_attention_pool
# ----------------------------------------------------------------------------------------------------
@torch.library.custom_op("wtal::hybrid_attention_pool", mutates_args=())
def _hybrid(cas: Tensor, attention: Tensor, lengths: Optional[Tensor], gamma: float, ratio: int,
            include_min: bool, threshold_mode: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    B, T, C1 = cas.shape
    cdt = _compute_dtype(cas.dtype)
    pooled = torch.empty((4, B, C1), dtype=cas.dtype, device=cas.device)
    thr = torch.empty((B,), dtype=cdt, device=cas.device)
    cut_val = torch.empty((4, B, C1), dtype=cdt, device=cas.device)
    cut_idx = torch.empty((4, B, C1), dtype=torch.int32, device=cas.device)
    _C.hybrid_attention_pool_forward_cpu(_np(cas), _np(attention), _np(lengths), gamma, ratio, include_min,
                                         threshold_mode, pooled.numpy(), thr.numpy(), cut_val.numpy(),
                                         cut_idx.numpy())
    return pooled, thr, cut_val, cut_idx


@_hybrid.register_kernel("cuda")
def _hybrid_cuda(cas: Tensor, attention: Tensor, lengths: Optional[Tensor], gamma: float, ratio: int,
                 include_min: bool, threshold_mode: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    cas, attention = cas.contiguous(), attention.contiguous()
    B, T, C1 = cas.shape
    _check_lengths_cuda(lengths, T)
    cdt = _compute_dtype(cas.dtype)
    pooled = torch.empty((4, B, C1), dtype=cas.dtype, device=cas.device)
    thr = torch.empty((B,), dtype=cdt, device=cas.device)
    cut_val = torch.empty((4, B, C1), dtype=cdt, device=cas.device)
    cut_idx = torch.empty((4, B, C1), dtype=torch.int32, device=cas.device)
    scratch = torch.empty((B, T), dtype=cdt, device=cas.device)
    stream, dev = _cuda_args(cas)
    _C.hybrid_attention_pool_forward_cuda(_DTYPE_CODE[cas.dtype], _ptr(cas), _ptr(attention), B, T, C1,
                                          _ptr(lengths), gamma, ratio, include_min, threshold_mode, _ptr(pooled),
                                          _ptr(thr), _ptr(cut_val), _ptr(cut_idx), _ptr(scratch), stream, dev)
    return pooled, thr, cut_val, cut_idx


@_hybrid.register_fake
def _(cas, attention, lengths, gamma, ratio, include_min, threshold_mode):
    B, T, C1 = cas.shape
    cdt = _compute_dtype(cas.dtype)
    return (cas.new_empty((4, B, C1)), cas.new_empty((B,), dtype=cdt), cas.new_empty((4, B, C1), dtype=cdt),
            cas.new_empty((4, B, C1), dtype=torch.int32))


@torch.library.custom_op("wtal::hybrid_attention_pool_backward", mutates_args=())
def _hybrid_backward(grad: Tensor, cas: Tensor, attention: Tensor, lengths: Optional[Tensor], thr: Tensor,
                     cut_val: Tensor, cut_idx: Tensor, ratio: int, include_min: bool) -> tuple[Tensor, Tensor]:
    grad_cas = torch.empty(cas.shape, dtype=cas.dtype, device=cas.device)
    grad_attention = torch.empty(attention.shape, dtype=attention.dtype, device=attention.device)
    _C.hybrid_attention_pool_backward_cpu(_np(grad.to(cas.dtype)), _np(cas), _np(attention), _np(lengths), ratio,
                                          include_min, _np(thr), _np(cut_val), _np(cut_idx), grad_cas.numpy(),
                                          grad_attention.numpy())
    return grad_cas, grad_attention


@_hybrid_backward.register_kernel("cuda")
def _hybrid_backward_cuda(grad: Tensor, cas: Tensor, attention: Tensor, lengths: Optional[Tensor], thr: Tensor,
                          cut_val: Tensor, cut_idx: Tensor, ratio: int, include_min: bool) -> tuple[Tensor, Tensor]:
    cas, attention = cas.contiguous(), attention.contiguous()
    grad = grad.to(cas.dtype).contiguous()
    B, T, C1 = cas.shape
    grad_cas = torch.empty(cas.shape, dtype=cas.dtype, device=cas.device)
    grad_attention = torch.empty(attention.shape, dtype=attention.dtype, device=attention.device)
    stream, dev = _cuda_args(cas)
    _C.hybrid_attention_pool_backward_cuda(_DTYPE_CODE[cas.dtype], _ptr(grad), _ptr(cas), _ptr(attention), B, T,
                                           C1, _ptr(lengths), ratio, include_min, _ptr(thr.contiguous()),
                                           _ptr(cut_val.contiguous()), _ptr(cut_idx.contiguous()), _ptr(grad_cas),
                                           _ptr(grad_attention), stream, dev)
    return grad_cas, grad_attention


@_hybrid_backward.register_fake
def _(grad, cas, attention, lengths, thr, cut_val, cut_idx, ratio, include_min):
    return (torch.empty_like(cas, memory_format=torch.contiguous_format),
            torch.empty_like(attention, memory_format=torch.contiguous_format))


def _hybrid_backward_backward(ctx, g_cas, g_attention):
    raise RuntimeError("double backward (create_graph=True) through wtal.ops.hybrid_attention_pool is not "
                       "supported")


_hybrid_backward.register_autograd(_hybrid_backward_backward)


def _hybrid_setup(ctx, inputs, output):
    cas, attention, lengths, gamma, ratio, include_min, threshold_mode = inputs
    _, thr, cut_val, cut_idx = output
    ctx.save_for_backward(cas, attention, lengths, thr, cut_val, cut_idx)
    ctx.ratio, ctx.include_min = ratio, include_min


def _hybrid_bwd(ctx, grad_pooled, grad_thr, grad_cut_val, grad_cut_idx):
    cas, attention, lengths, thr, cut_val, cut_idx = ctx.saved_tensors
    if grad_pooled is None:
        grad_pooled = torch.zeros((4, cas.shape[0], cas.shape[2]), dtype=cas.dtype, device=cas.device)
    grad_cas, grad_attention = _hybrid_backward(grad_pooled, cas, attention, lengths, thr, cut_val, cut_idx,
                                                ctx.ratio, ctx.include_min)
    return grad_cas, grad_attention, None, None, None, None, None


_hybrid.register_autograd(_hybrid_bwd, setup_context=_hybrid_setup)


# ----------------------------------------------------------------------------------------------------
# traceable entry points (no data-dependent Python; value checks happen inside the ops)
# ----------------------------------------------------------------------------------------------------
def _check_float_tensor(t: Tensor, name: str, ndim: int) -> None:
    if t.dtype not in _DTYPE_CODE or (t.device.type != "cuda" and t.dtype not in _CPU_DTYPES):
        allowed = "float32, float64, float16 or bfloat16" if t.device.type == "cuda" else "float32 or float64"
        raise TypeError(f"{name} must be {allowed} on {t.device.type}, got {t.dtype}")
    if t.dim() != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {list(t.shape)}")
    if t.device.type not in ("cpu", "cuda"):
        raise ValueError(f"{name} is on {t.device}; wtal kernels exist for CPU and CUDA tensors only")


def _lengths_tensor(lengths, B: int, device: torch.device) -> Optional[Tensor]:
    if lengths is None:
        return None
    if not isinstance(lengths, torch.Tensor):
        lengths = torch.as_tensor(np.asarray(lengths))
    if lengths.dtype.is_floating_point or lengths.dtype.is_complex or lengths.dtype == torch.bool:
        raise TypeError(f"lengths must be an integer tensor, got {lengths.dtype}")
    if lengths.dim() != 1 or lengths.shape[0] != B:
        raise ValueError(f"lengths must have shape [B] = [{B}], got {list(lengths.shape)}")
    return lengths.to(device=device, dtype=torch.int64).contiguous()


def topk_pool(x: Tensor, lengths, k: int, ratio: int) -> Tensor:
    """Torch path of :func:`wtal.ops.topk_pool` (k, ratio already validated; 0 = unused)."""
    _check_float_tensor(x, "x", 3)
    L = _lengths_tensor(lengths, x.shape[0], x.device)
    return torch.ops.wtal.topk_pool(x, L, k, ratio)[0]


def hybrid_attention_pool(cas: Tensor, attention: Tensor, lengths, gamma: float, ratio: int, include_min: bool,
                          threshold_mode: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Torch path of :func:`wtal.ops.hybrid_attention_pool` (scalars already validated)."""
    _check_float_tensor(cas, "cas", 3)
    if not isinstance(attention, torch.Tensor):
        raise TypeError(f"attention must be a torch tensor like cas, got {type(attention).__name__}")
    _check_float_tensor(attention, "attention", 2)
    if attention.dtype != cas.dtype:
        raise TypeError(f"attention must have the dtype of cas ({cas.dtype}), got {attention.dtype}")
    if attention.device != cas.device:
        raise ValueError(f"attention must be on the device of cas ({cas.device}), got {attention.device}")
    if attention.shape[0] != cas.shape[0]:
        raise ValueError(f"attention and cas disagree on B: attention {list(attention.shape)}, cas {list(cas.shape)}")
    if attention.shape[1] != cas.shape[1]:
        raise ValueError(f"attention and cas disagree on T: attention {list(attention.shape)}, cas {list(cas.shape)}")
    L = _lengths_tensor(lengths, cas.shape[0], cas.device)
    pooled = torch.ops.wtal.hybrid_attention_pool(cas, attention, L, gamma, ratio, include_min, threshold_mode)[0]
    base, soft, semi_soft, hard = pooled.unbind(0)
    return base, soft, semi_soft, hard
