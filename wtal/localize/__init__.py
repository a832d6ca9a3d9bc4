"""Post-processing profiles: model outputs for a batch of videos -> detections.

Each profile reproduces one author's published pipeline (class selection, thresholded signal,
threshold list, connected components, outer-inner score, NMS and units; research/seed_models.md §6)
on a whole padded batch at once (``[B, T, ...]`` plus ``lengths [B]``), with the C++ kernels of
:mod:`wtal.ops` for numpy arrays and CPU tensors and the CUDA kernels for CUDA tensors:

* :func:`localize_hamnet` / :class:`HamNetConfig` — HAM-Net (asrafulashiq/hamnet).
* :func:`localize_facnet` / :class:`FacNetConfig` — FAC-Net (LeonHLJ/FAC-Net), one or two streams.
* :func:`localize_bm` / :class:`BMConfig` — WSAL-BM as coded in DGAM's test path, two streams.

All return a columnar :class:`Detections`, ordered by video (batch order), class index, then
descending score, which writes ActivityNet results JSON (:meth:`Detections.write`).

``import wtal.localize`` imports neither torch nor the kernels; the profile functions import torch
when called.
"""
from __future__ import annotations

from wtal.localize.bm import BMConfig, localize_bm
from wtal.localize.detections import Detections
from wtal.localize.facnet import FacNetConfig, localize_facnet
from wtal.localize.hamnet import HamNetConfig, localize_hamnet

__all__ = ["Detections", "HamNetConfig", "localize_hamnet", "FacNetConfig", "localize_facnet",
           "BMConfig", "localize_bm"]
