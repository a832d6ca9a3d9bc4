"""Argument checks and batching helpers shared by the localization profiles.

The profiles run one torch implementation for numpy inputs (wrapped without copy), CPU tensors (the
C++ kernels of :mod:`wtal.ops`) and CUDA tensors (the CUDA kernels plus torch ops). Work on ragged
batches is done per *length bucket*: rows are grouped so that each group is padded to at most about
twice its shortest length, which keeps the padded work within ~2x of the valid work while the number
of Python iterations stays logarithmic in the length range (never one per video).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def torch_mod():
    import torch

    return torch


def single_threaded_torch(fn: F) -> F:
    """Run the profile with torch's intra-op thread pool at 1 thread, restored afterwards.

    The profile's own torch ops are small bookkeeping (gathers, cumsums, sorts of proposal arrays);
    with several intra-op threads on a busy machine each one costs milliseconds of thread hand-off
    (measured 20 ms vs 0.3 ms for a 40k-element gather on the 2-core box). The heavy work runs in
    wtal's C++ kernels, which use their own threads, and CUDA work is unaffected.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import torch

        n = torch.get_num_threads()
        if n == 1:
            return fn(*args, **kwargs)
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(n)

    return wrapper  # type: ignore[return-value]


def to_tensor(x: Any, name: str, ndim: int):
    """``x`` as a float32/float64 torch tensor (numpy arrays are wrapped without a copy when
    C-contiguous). Raises TypeError for other dtypes/kinds and ValueError for the wrong rank."""
    torch = torch_mod()
    if isinstance(x, np.ndarray):
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        if x.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
        t = x.detach()
    else:
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")
    if t.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {list(t.shape)}")
    return t


def check_same_device(device, **tensors) -> None:
    for name, t in tensors.items():
        if t is not None and t.device != device:
            raise ValueError(f"{name} is on {t.device} but the first input is on {device}")


def lengths_arg(lengths: Any, B: int, T: int, device):
    """Validate ``lengths`` [B] (integers in [1, T]); returns (host int64 numpy, int64 tensor on device)."""
    torch = torch_mod()
    if isinstance(lengths, torch.Tensor):
        if lengths.dtype.is_floating_point or lengths.dtype == torch.bool or lengths.is_complex():
            raise TypeError(f"lengths must be an integer array, got {lengths.dtype}")
        host = lengths.detach().cpu().numpy()
    else:
        host = np.asarray(lengths)
        if host.dtype.kind not in "iu":
            raise TypeError(f"lengths must be an integer array, got {host.dtype}")
    host = host.astype(np.int64)
    if host.ndim != 1 or host.shape[0] != B:
        raise ValueError(f"lengths must have shape [B] = [{B}], got {list(host.shape)}")
    if B and (host.min() < 1 or host.max() > T):
        raise ValueError(f"lengths must lie in [1, T] = [1, {T}], got min {int(host.min())}, "
                         f"max {int(host.max())}")
    return host, torch.from_numpy(host).to(device)


def seconds_arg(seconds_per_snippet: Any, B: int) -> np.ndarray:
    """``seconds_per_snippet`` as float64 [B] (a scalar is broadcast); must be finite and > 0."""
    s = np.asarray(seconds_per_snippet.detach().cpu() if hasattr(seconds_per_snippet, "detach")
                   else seconds_per_snippet)
    if s.dtype.kind not in "fiu" or s.dtype == bool:
        raise TypeError(f"seconds_per_snippet must be a number or a [B] array, got dtype {s.dtype}")
    s = s.astype(np.float64)
    if s.ndim == 0:
        s = np.full(B, float(s))
    if s.shape != (B,):
        raise ValueError(f"seconds_per_snippet must be a scalar or have shape [B] = [{B}], got {list(s.shape)}")
    if B and (not np.isfinite(s).all() or (s <= 0).any()):
        raise ValueError("seconds_per_snippet must be finite and > 0")
    return s


def names_arg(names: Sequence[str], n: int, name: str, what: str) -> np.ndarray:
    """``names`` as an object array of ``str`` of length ``n``."""
    if isinstance(names, str):
        raise TypeError(f"{name} must be a sequence of str, got a single str")
    arr = list(names)
    if len(arr) != n:
        raise ValueError(f"{name} must have {n} entries ({what}), got {len(arr)}")
    out = np.empty(n, dtype=object)
    if all(isinstance(v, str) for v in arr):   # the common case, without the per-item work below
        out[:] = arr
        return out
    for i, v in enumerate(arr):
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        if not isinstance(v, str):
            raise TypeError(f"{name} must hold str, got {type(v).__name__} at {i}")
        out[i] = v
    return out


def valid_mask(lens_dev, T: int):
    torch = torch_mod()
    return torch.arange(T, device=lens_dev.device)[None, :] < lens_dev[:, None]


def check_nan(x, lens_dev, name: str, rows: np.ndarray | None = None) -> None:
    """ValueError naming ``name`` if ``x`` [N, T, ...] has NaN or inf inside the valid prefix of a row
    (``rows`` maps local rows to the caller's numbering in the message)."""
    torch = torch_mod()
    if x.numel() == 0:
        return
    if x.device.type == "cpu":
        # one C++ pass over the valid prefixes only, threads over rows (torch.isfinite over the whole
        # padded batch at one intra-op thread costs tens of ms on THUMOS-sized inputs)
        from wtal._ext import _C

        at = _C.first_non_finite(np.ascontiguousarray(x.numpy()).reshape(x.shape[0], x.shape[1], -1),
                                 np.ascontiguousarray(lens_dev.numpy(), dtype=np.int64))
        bad = at is not None
    else:
        nan = ~torch.isfinite(x)
        if not bool(nan.any()):
            return
        while nan.ndim > 2:
            nan = nan.any(dim=-1)
        nan = nan & valid_mask(lens_dev, x.shape[1])
        bad = bool(nan.any())
        at = tuple(int(v) for v in torch.nonzero(nan)[0]) if bad else None
    if bad:
        r, t = at
        if rows is not None:
            r = int(rows[r])
        raise ValueError(f"{name} contains NaN or inf (row {r}, position {t})")


def buckets(lens_host: np.ndarray, growth: float = 2.0) -> list[tuple[np.ndarray, int]]:
    """Group rows by length: [(row indices ascending, padded width)], each group's widths within
    ``growth`` x its shortest length. O(log(max/min)) groups."""
    n = lens_host.shape[0]
    if n == 0:
        return []
    order = np.argsort(lens_host, kind="stable")
    sl = lens_host[order]
    out = []
    i = 0
    while i < n:
        limit = max(int(sl[i] * growth), int(sl[i]))
        j = int(np.searchsorted(sl, limit, side="right"))
        out.append((np.sort(order[i:j]), int(sl[j - 1])))
        i = j
    return out


def exclusive_cumsum(x):
    torch = torch_mod()
    out = torch.zeros(x.shape[0] + 1, dtype=x.dtype, device=x.device)
    torch.cumsum(x, 0, out=out[1:])
    return out


def expand_ranges(counts):
    """For counts [P] >= 0: (owner [sum counts], position-within [sum counts]), owner-major order."""
    torch = torch_mod()
    P = counts.shape[0]
    owner = torch.repeat_interleave(torch.arange(P, device=counts.device), counts)
    first = exclusive_cumsum(counts)[:-1]
    # index_select, not first[owner]: advanced indexing costs ~4x more on CPU tensors
    within = torch.arange(owner.shape[0], device=counts.device) - first.index_select(0, owner)
    return owner, within


def stable_argsort(key, descending: bool = False):
    torch = torch_mod()
    return torch.sort(key, stable=True, descending=descending).indices


def lexsort(keys):
    """Indices sorting by keys[0] first, then keys[1], ... (all ascending, stable)."""
    idx = None
    for k in reversed(keys):
        kk = k if idx is None else k[idx]
        o = stable_argsort(kk)
        idx = o if idx is None else idx[o]
    return idx


def to_detections(videos: np.ndarray, classes: np.ndarray, vid, cls, t_start, t_end, score):
    """Detections from device tensors (one host transfer per column)."""
    from wtal.localize.detections import Detections

    vi = vid.cpu().numpy().astype(np.int64)
    ci = cls.cpu().numpy().astype(np.int64)
    ts = np.ascontiguousarray(t_start.cpu().numpy(), dtype=np.float64)
    te = np.ascontiguousarray(t_end.cpu().numpy(), dtype=np.float64)
    sc = np.ascontiguousarray(score.cpu().numpy(), dtype=np.float64)
    if sc.size and np.isnan(sc).any():
        raise ValueError("internal error: NaN score")
    return Detections._unchecked(videos[vi], classes[ci], ts, te, sc)


# CPU tensors take the numpy fast path of canonical_order; tests turn this off to run the torch path.
_NUMPY_ORDER_ON_CPU = True


def canonical_order(vid, cls, score):
    """Output order of every profile: video (batch order), class index, descending score; ties keep
    the order given (the NMS selection order). Returns an index tensor."""
    torch = torch_mod()
    n = score.shape[0]
    if n < 2:
        return torch.arange(n, device=score.device)
    key = vid * (int(cls.max()) + 1) + cls
    if score.device.type == "cpu" and _NUMPY_ORDER_ON_CPU:
        k, s = key.numpy(), score.numpy()
        if (k[1:] >= k[:-1]).all():
            # Keys already grouped (NMS output): only groups with a score increase need sorting.
            bad = (k[1:] == k[:-1]) & (s[1:] > s[:-1])
            if not bad.any():
                return torch.arange(n)
            # rows of the groups with an increase (group id of each row, flagged per group)
            gid = np.cumsum(np.r_[True, k[1:] != k[:-1]]) - 1
            flagged = np.zeros(int(gid[-1]) + 1, dtype=bool)
            flagged[gid[1:][bad]] = True
            sub = np.flatnonzero(flagged[gid])
            order = np.arange(n)
            order[sub] = sub[np.lexsort((-s[sub], k[sub]))]        # stable, within those groups
            return torch.from_numpy(order)
        return torch.from_numpy(np.lexsort((-s, k)))            # stable
    o = stable_argsort(score, descending=True)
    return o[stable_argsort(key[o])]
