"""Device helpers shared by the ops."""
from __future__ import annotations

import sys

from wtal._ext import _C


def cuda_available() -> bool:
    """True when this build has CUDA kernels and a CUDA device is usable."""
    return bool(_C.cuda_compiled) and _C.cuda_status() == "ok"


def is_torch(x: object) -> bool:
    """True if ``x`` is a torch tensor; never imports torch itself."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def cuda_stream_of(tensor) -> tuple[int, int]:
    """(stream handle, device index) of torch's current stream on ``tensor``'s device."""
    import torch

    if not bool(_C.cuda_compiled):
        raise RuntimeError("wtal was built without CUDA kernels; pass CPU tensors or rebuild with nvcc")
    dev = tensor.device
    return int(torch.cuda.current_stream(dev).cuda_stream), int(dev.index if dev.index is not None else torch.cuda.current_device())
