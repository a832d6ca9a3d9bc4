"""CUDA path of :func:`wtal.ops.nms` (imported only when a CUDA tensor is passed; imports torch).

The candidates are sorted on the device with torch (stable: group ascending, score descending, input
index ascending), one CUDA block per group runs the greedy loop (csrc/cuda/nms.cu), and the per-group
outputs are compacted with torch. The only host synchronisation is one read of four counters (kept
count and the three validity checks) to size the output.
"""
from __future__ import annotations

from typing import Any

from wtal._ext import _C
from wtal.ops._device import cuda_stream_of, is_torch


def _check_tensor(x: Any, name: str, device, ndim: int, floating: bool):
    import torch

    if not is_torch(x):
        raise TypeError(f"{name} must be a torch tensor on {device} like segments, got {type(x).__name__}")
    if x.device != device:
        raise ValueError(f"{name} must be on the same device as segments ({device}), got {x.device}")
    if floating and x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
    if not floating and (x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool):
        raise TypeError(f"{name} must be an integer array, got {x.dtype}")
    if x.dim() != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {list(x.shape)}")


def nms_cuda(segments: Any, scores: Any, groups: Any, *, method: int, overlap: int, iou_threshold: float,
             sigma: float, min_score: float | None, max_num: int, suppress_equal: bool, always_keep_top: bool,
             length_eps: float) -> tuple[Any, Any]:
    """Same contract as :func:`wtal.ops.nms` for CUDA tensors (arguments already validated there)."""
    import torch

    if not is_torch(segments):
        raise TypeError(f"segments must be a CUDA tensor when scores or groups are, got {type(segments).__name__}")
    device = segments.device
    if device.type != "cuda":
        raise ValueError(f"segments must be on the same device as scores/groups (cuda), got {device}")
    _check_tensor(segments, "segments", device, 2, True)
    if segments.shape[1] != 2:
        raise ValueError(f"segments must have shape [N, 2] (start, end), got {list(segments.shape)}")
    _check_tensor(scores, "scores", device, 1, True)
    n = int(segments.shape[0])
    if scores.shape[0] != n:
        raise ValueError(f"scores must have shape [{n}] to match segments, got {list(scores.shape)}")
    if groups is not None:
        _check_tensor(groups, "groups", device, 1, False)
        if groups.shape[0] != n:
            raise ValueError(f"groups must have shape [{n}] to match segments, got {list(groups.shape)}")

    out_dtype = scores.dtype
    segs, sc = segments, scores
    if segs.dtype != sc.dtype:  # float32 -> float64 is exact
        segs, sc = segs.to(torch.float64), sc.to(torch.float64)
    return _run(segs.contiguous(), sc.contiguous(), groups, out_dtype,
                dict(method=method, overlap=overlap, iou_threshold=iou_threshold, sigma=sigma, min_score=min_score,
                     max_num=max_num, suppress_equal=suppress_equal, always_keep_top=always_keep_top,
                     length_eps=length_eps))


def _launch(segs, sc, order, sorted_groups, options: dict, scratch, alive, keep_buf, score_buf, valid) -> None:
    import torch

    stream, index = cuda_stream_of(segs)
    _C.nms_cuda(segs.data_ptr(), sc.data_ptr(), sc.dtype == torch.float64, order.data_ptr(),
                0 if sorted_groups is None else sorted_groups.data_ptr(), int(segs.shape[0]), **options,
                scratch=scratch.data_ptr(), alive=alive.data_ptr(), keep=keep_buf.data_ptr(),
                kept_scores=score_buf.data_ptr(), valid=valid.data_ptr(), stream=stream, device=index)


def _run(segs, sc, groups, out_dtype, options: dict) -> tuple[Any, Any]:
    """Sort, launch, validate and compact; segs/sc contiguous and of one dtype."""
    import torch

    device = segs.device
    n = int(segs.shape[0])
    if n == 0:
        return (torch.empty(0, dtype=torch.int64, device=device), torch.empty(0, dtype=out_dtype, device=device))

    # Greedy order. `+ 0.0` maps -0.0 to +0.0: the device radix sort would otherwise order the two zeros,
    # while the CPU kernel (and the comparison semantics) treats them as a tie.
    order = torch.argsort(sc + 0.0, descending=True, stable=True)
    sorted_groups = None
    if groups is not None:
        g = groups.to(torch.int64)
        order = order[torch.argsort(g[order], stable=True)]
        sorted_groups = g[order].contiguous()

    scratch = torch.empty(3 * n, dtype=torch.float64, device=device)
    alive = torch.empty(n, dtype=torch.uint8, device=device)
    keep_buf = torch.empty(n, dtype=torch.int64, device=device)
    score_buf = torch.empty(n, dtype=torch.float64, device=device)
    valid = torch.zeros(n, dtype=torch.uint8, device=device)
    _launch(segs, sc, order, sorted_groups, options, scratch, alive, keep_buf, score_buf, valid)

    from wtal.ops.nms import MAX_SEGMENT_LENGTH

    finite_sc = torch.isfinite(sc)
    finite_seg = torch.isfinite(segs).all(dim=1)
    reversed_seg = segs[:, 1] < segs[:, 0]
    long_seg = (segs[:, 1].to(torch.float64) - segs[:, 0]) > MAX_SEGMENT_LENGTH
    counts = torch.stack([valid.sum(dtype=torch.int64), (~finite_sc).sum(), (~finite_seg).sum(),
                          reversed_seg.sum(), long_seg.sum()]).tolist()  # the one synchronisation
    k, bad_scores, bad_segs, bad_order, bad_length = counts
    if bad_scores:
        i = int(torch.nonzero(~finite_sc)[0])
        raise ValueError(f"scores must be finite, got {float(sc[i])} at index {i}")
    if bad_segs:
        i = int(torch.nonzero(~finite_seg)[0])
        raise ValueError(f"segments must be finite, got {segs[i].tolist()} in row {i}")
    if bad_order:
        i = int(torch.nonzero(reversed_seg)[0])
        raise ValueError(f"segments must have start <= end, got {segs[i].tolist()} in row {i} "
                         f"(reversed segments are not valid proposals)")
    if bad_length:
        i = int(torch.nonzero(long_seg)[0])
        raise ValueError(f"segments must be shorter than 2**1020, got {segs[i].tolist()} in row {i} "
                         "(the IoU union of such segments overflows float64)")

    # Each group's selections are a prefix of its sorted range, so the valid slots in position order are
    # the output; a stable sort on the flag lists them first (deterministic, no second synchronisation).
    slots = torch.argsort(1 - valid, stable=True)[:k]
    return keep_buf[slots], score_buf[slots].to(out_dtype)
