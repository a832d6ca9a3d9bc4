"""Detection evaluation: exact ActivityNet mAP and the WTAL repositories' variants (presets), plus I/O
of ActivityNet ground-truth/results JSON and W-TALC annotations (:mod:`wtal.eval.io`)."""
from __future__ import annotations

from wtal.eval.detection import DetectionResult, evaluate_detection
from wtal.eval.io import load_ambiguous, load_ground_truth, load_predictions, write_results
from wtal.eval.presets import PRESETS, Preset, get_preset

__all__ = ["DetectionResult", "PRESETS", "Preset", "evaluate_detection", "get_preset", "load_ambiguous",
           "load_ground_truth", "load_predictions", "write_results"]
