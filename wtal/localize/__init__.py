"""Post-processing profiles: model outputs for a batch of videos -> detections.

Each profile reproduces one author's published pipeline (class selection, thresholded signal,
threshold list, connected components, outer-inner score, NMS and units; research/seed_models.md §6)
on a whole padded batch at once (``[B, T, ...]`` plus ``lengths [B]``), with the C++ kernels of
:mod:`wtal.ops` for numpy arrays and CPU tensors and the CUDA kernels for CUDA tensors:

* :func:`localize_hamnet` / :class:`HamNetLocalizeConfig` — HAM-Net (asrafulashiq/hamnet).
* :func:`localize_facnet` / :class:`FacNetLocalizeConfig` — FAC-Net (LeonHLJ/FAC-Net), one or two streams.
* :func:`localize_bm` / :class:`BMLocalizeConfig` — WSAL-BM as coded in DGAM's test path, two streams.

All return a columnar :class:`Detections`, ordered by video (batch order), class index, then
descending score, which writes ActivityNet results JSON (:meth:`Detections.write`).

``import wtal.localize`` imports neither torch nor the kernels; the profile functions import torch
when called (numpy inputs are wrapped as CPU tensors without a copy).

Implementation notes a user may care about:

* All arithmetic is float64 whatever the input dtype (the authors mix float32 model outputs with
  float64 numpy); each profile's oracle in ``tests/localize_oracles.py`` is the authors' loop
  re-implemented in plain Python, and the profiles match it exactly (same segments, scores within
  1e-6 relative; the documented tie departures of HAM-Net's soft-NMS aside).
* Ragged batches are processed per length bucket (each padded to at most ~2x its shortest video), so
  the padded tail of a long batch is never touched; the number of Python iterations is logarithmic
  in the length range, never one per video.
* While a profile runs, torch's intra-op thread pool is set to 1 thread and restored afterwards (its
  own torch ops are small; the heavy work runs in wtal's C++/CUDA kernels). This is process-global.
* CUDA tensors stay on the GPU; the host synchronises only to size outputs (nonzero, run counts),
  to plan the length buckets, for the NaN checks, and once at the end to build :class:`Detections`.
"""
from __future__ import annotations

from wtal.localize.bm import BMLocalizeConfig, localize_bm
from wtal.localize.detections import Detections
from wtal.localize.facnet import FacNetLocalizeConfig, localize_facnet
from wtal.localize.hamnet import HamNetLocalizeConfig, localize_hamnet

__all__ = ["Detections", "HamNetLocalizeConfig", "localize_hamnet", "FacNetLocalizeConfig", "localize_facnet",
           "BMLocalizeConfig", "localize_bm"]
