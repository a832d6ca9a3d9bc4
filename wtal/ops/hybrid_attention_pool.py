"""HAM-Net's hybrid attention pooling: the four top-k pooled score sets of its MIL losses in one pass."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from wtal._ext import _C
from wtal.ops._arrays import check_choice, check_positive_int, float_array, require_array
from wtal.ops.topk_pool import _numpy_lengths

__all__ = ["hybrid_attention_pool"]

_THRESHOLD_MODES = {"range": 0, "max": 1}


def hybrid_attention_pool(cas: Any, attention: Any, *, gamma: float, ratio: int, lengths: Any = None,
                          include_min: bool = True, threshold: str = "range") -> tuple[Any, Any, Any, Any]:
    """HAM-Net's ``(base, soft, semi_soft, hard)`` top-k pooled scores, as the authors' loss computes them.

    Per video (valid steps only), with ``s = cas[b]`` and ``a = attention[b]``
    (asrafulashiq/hamnet ``system/system_th.py``: ``ADL.forward``, ``_multiply``, ``topkloss``)::

        thr  = (max_t a - min_t a) * gamma + min_t a     # threshold="range"
             = max_t a * gamma                            # threshold="max"
        ad   = 1[a < thr] * a       # semi-soft attention: keeps the snippets BELOW thr, soft values
        h    = 1[ad > 0]            # hard attention
        m    = min over classes of s[t] if include_min else 0     # per snippet
        base      = topk(s)                 # L_BCL input
        soft      = topk(a * s)             # L_SAL input (the authors never add m here)
        semi_soft = topk(ad * (s - m) + m)  # L_SSAL input
        hard      = topk(h * (s - m) + m)   # L_HAL input

    with ``k_b = max(1, lengths[b] // ratio)`` and the top-k mean of :func:`wtal.ops.topk_pool` (ties:
    lowest time index). Everything is computed in one pass over ``cas``.

    Args:
        cas: ``[B, T, C+1]`` class activation logits (background last). float32/float64 (float16/bfloat16
            for CUDA tensors, computed in float32).
        attention: ``[B, T]`` attention, same dtype and device as ``cas``.
        gamma: HAM-Net's ``drop_thres`` (0.2 in its configs). Any finite number.
        ratio: HAM-Net's ``rat`` (10 on THUMOS14, 20 on ActivityNet), >= 1.
        lengths: ``[B]`` valid lengths in ``[1, T]`` or ``None``; thresholds and top-k use valid steps only.
        include_min: fill masked snippets with the snippet's class minimum ``m`` (the authors' code always
            does this for the semi-soft and hard terms); ``False`` uses ``m = 0``.
        threshold: ``"range"`` (DESIGN.md's relative threshold, the authors' ``adl_include_min=true``
            branch) or ``"max"`` (``gamma * max_t a``, the authors' other branch). Note: the authors'
            ``_loss_fn`` calls ``self.net(features)`` without ``include_min``, so their training actually
            runs the ``"max"`` branch; pass ``threshold="max"`` to reproduce that.

    Returns:
        Four ``[B, C+1]`` arrays/tensors (the caller's kind, dtype and device). For torch tensors they are
        differentiable in ``cas`` and ``attention`` (custom op ``wtal::hybrid_attention_pool``): the masks
        ``1[a < thr]`` and ``h`` are constants, ``m`` is differentiated to the argmin class (lowest class
        index on ties) exactly as autograd does on the authors' code. Double backward is not supported.
        On CUDA a ``lengths`` tensor costs one small device-to-host read per call (range check).
    """
    # math, not numpy: this runs under torch.compile tracing too
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.integer, np.floating)):
        raise TypeError(f"gamma must be a number, got {type(gamma).__name__}")
    g = float(gamma)
    if not math.isfinite(g):
        raise ValueError(f"gamma must be finite, got {g}")
    r = check_positive_int(ratio, "ratio")
    if not isinstance(include_min, (bool, np.bool_)):
        raise TypeError(f"include_min must be a bool, got {type(include_min).__name__}")
    mode = _THRESHOLD_MODES[check_choice(threshold, "threshold", tuple(_THRESHOLD_MODES))]
    require_array(cas, "cas")
    require_array(attention, "attention")
    if not isinstance(cas, (np.ndarray, list, tuple)):
        from wtal.ops import _torch_pool

        return _torch_pool.hybrid_attention_pool(cas, attention, lengths, g, r, bool(include_min), mode)
    s = float_array(cas, "cas", ndim=3)
    a = float_array(attention, "attention", ndim=2)
    if a.dtype != s.dtype:
        raise TypeError(f"attention must have the dtype of cas ({s.dtype}), got {a.dtype}")
    B, T, C1 = s.shape
    if a.shape[0] != B:
        raise ValueError(f"attention and cas disagree on B: attention {list(a.shape)}, cas {list(s.shape)}")
    if a.shape[1] != T:
        raise ValueError(f"attention and cas disagree on T: attention {list(a.shape)}, cas {list(s.shape)}")
    if B and not T:
        raise ValueError("cas must have at least one time step (T >= 1)")
    L = _numpy_lengths(lengths, B, T)
    pooled = np.empty((4, B, C1), dtype=s.dtype)
    thr = np.empty((B,), dtype=s.dtype)
    cut_val = np.empty((4, B, C1), dtype=s.dtype)
    cut_idx = np.empty((4, B, C1), dtype=np.int32)
    _C.hybrid_attention_pool_forward_cpu(s, a, L, g, r, bool(include_min), mode, pooled, thr, cut_val, cut_idx)
    return pooled[0], pooled[1], pooled[2], pooled[3]
