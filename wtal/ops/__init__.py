"""Python face of wtal's kernels.

Every op accepts numpy arrays and torch tensors (CPU; CUDA where a kernel exists) and returns the same
kind it was given. Arguments are validated here and errors name the argument.
"""
from __future__ import annotations

from wtal.ops._device import cuda_available

__all__ = ["cuda_available"]
