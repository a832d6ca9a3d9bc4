"""Python face of wtal's kernels.

Every op accepts numpy arrays and torch tensors (CPU; CUDA where a kernel exists) and returns the same
kind it was given. Arguments are validated here and errors name the argument.
"""
from __future__ import annotations

from wtal.ops._device import cuda_available
from wtal.ops.nms import NMS_PRESETS, nms, nms_settings
from wtal.ops.segment_iou import segment_iou

__all__ = ["cuda_available", "segment_iou", "nms", "nms_settings", "NMS_PRESETS"]
