"""Pairwise temporal IoU of 1-D segments."""
from __future__ import annotations

from typing import Any

import numpy as np

from wtal._ext import _C
from wtal.ops._arrays import check_choice, float_array, like_input
from wtal.ops._device import is_torch

__all__ = ["segment_iou"]

CONVENTIONS = ("continuous", "plus_one")


def segment_iou(a: Any, b: Any, *, convention: str = "continuous") -> Any:
    """Temporal IoU of every segment of ``a`` with every segment of ``b``.

    Args:
        a: segments ``[N, 2]`` (start, end), float32 or float64 (numpy, torch, or a nested list).
        b: segments ``[M, 2]``, same kinds as ``a``.
        convention: ``"continuous"`` (ActivityNet evaluator):
            ``inter = max(0, min(e_a, e_b) - max(s_a, s_b))``, ``union = len_a + len_b - inter``;
            ``"plus_one"`` (BaSNet, UM and HAM-Net NMS): ``+1`` on both lengths and on the intersection,
            ``inter = max(0, min(e) - max(s) + 1)``, ``len = e - s + 1``.

    Returns:
        ``[N, M]`` float64 tIoU, numpy or torch as given (a CUDA tensor stays on its device and is computed
        with torch ops). Always computed in float64.

    Edges: no validation of the segments. Reversed and zero-length segments follow the formula exactly as
    the official evaluator does: the intersection is 0 for them, so the IoU is 0 when the union is
    positive, NaN when it is 0 (zero-length against zero-length, or a reversed segment cancelling the
    other's length) and ``-0.0`` or negative when it is negative; a NaN boundary gives NaN. NaN propagates
    as with numpy's ``maximum``/``minimum`` (``std::max`` would silently drop it). Negative times are fine.

    Raises:
        ValueError: ``a`` or ``b`` is not ``[*, 2]``, or ``convention`` is unknown.
        TypeError: non-float dtypes, or ``a``/``b`` of different array kinds (CUDA vs CPU).
    """
    check_choice(convention, "convention", CONVENTIONS)
    plus_one = convention == "plus_one"
    if (is_torch(a) and a.device.type == "cuda") or (is_torch(b) and b.device.type == "cuda"):
        return _segment_iou_torch(a, b, plus_one)
    a_np = _segments(a, "a")
    b_np = _segments(b, "b")
    if a_np.dtype != b_np.dtype:  # float32 -> float64 is exact
        a_np, b_np = a_np.astype(np.float64), b_np.astype(np.float64)
    return like_input(_C.segment_iou(a_np, b_np, plus_one), a, b)


def _segments(x: Any, name: str) -> np.ndarray:
    arr = float_array(x, name, ndim=2)
    if arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape [N, 2] (start, end), got {list(arr.shape)}")
    return arr


def _segment_iou_torch(a: Any, b: Any, plus_one: bool) -> Any:
    import torch

    for x, name in ((a, "a"), (b, "b")):
        if not is_torch(x) or x.device.type != "cuda":
            raise TypeError(f"{name} must be a CUDA tensor when the other argument is one, got "
                            f"{type(x).__name__ if not is_torch(x) else x.device}")
        if x.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
        if x.dim() != 2 or x.shape[1] != 2:
            raise ValueError(f"{name} must have shape [N, 2] (start, end), got {list(x.shape)}")
    if a.device != b.device:
        raise ValueError(f"a and b must be on the same device, got {a.device} and {b.device}")
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    as_, ae = a64[:, 0:1], a64[:, 1:2]
    bs, be = b64[None, :, 0], b64[None, :, 1]
    # torch.maximum/minimum/clamp propagate NaN like numpy.
    d = torch.minimum(ae, be) - torch.maximum(as_, bs)
    if plus_one:
        inter = torch.clamp(d + 1.0, min=0.0)
        return inter / (((ae - as_) + 1.0) + ((be - bs) + 1.0) - inter)
    inter = torch.clamp(d, min=0.0)
    return inter / ((be - bs) + (ae - as_) - inter)
