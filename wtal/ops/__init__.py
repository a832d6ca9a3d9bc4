"""Python face of wtal's kernels.

Every op accepts numpy arrays and torch tensors (CPU; CUDA where a kernel exists) and returns the same
kind it was given. Arguments are validated here and errors name the argument.
"""
from __future__ import annotations

from wtal.ops._device import cuda_available
from wtal.ops.hybrid_attention_pool import hybrid_attention_pool
from wtal.ops.topk_pool import topk_pool

__all__ = ["cuda_available", "hybrid_attention_pool", "topk_pool"]
