"""wtal: weakly-supervised temporal action localization.

Models (HAM-Net, FAC-Net, WSAL-BM, AHLM), fast C++/CUDA kernels and an exact detection-mAP engine.
``import wtal`` is light: it imports neither torch nor matplotlib.
"""
from __future__ import annotations

__version__ = "0.1.0"

from wtal._ext import build_info, cuda_compiled, cuda_status

__all__ = ["__version__", "build_info", "cuda_compiled", "cuda_status"]
