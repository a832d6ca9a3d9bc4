"""Python face of wtal's kernels.

Every op accepts numpy arrays and torch tensors (CPU; CUDA where a kernel exists) and returns the same
kind it was given. Arguments are validated here and errors name the argument.
"""
from __future__ import annotations

from wtal.ops._device import cuda_available
from wtal.ops.connected_components import Segments, connected_components
from wtal.ops.feature_lcs import feature_lcs
from wtal.ops.hybrid_attention_pool import hybrid_attention_pool
from wtal.ops.nms import NMS_PRESETS, nms, nms_settings
from wtal.ops.oic_scores import oic_scores
from wtal.ops.segment_iou import segment_iou
from wtal.ops.topk_pool import topk_pool
from wtal.ops.upsample import gaussian_smooth, upsample_linear

__all__ = [
    "cuda_available",
    "segment_iou",
    "nms",
    "nms_settings",
    "NMS_PRESETS",
    "Segments",
    "connected_components",
    "oic_scores",
    "upsample_linear",
    "gaussian_smooth",
    "topk_pool",
    "hybrid_attention_pool",
    "feature_lcs",
]
