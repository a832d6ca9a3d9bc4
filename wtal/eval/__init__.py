"""Detection evaluation: exact ActivityNet mAP and the WTAL repositories' variants (presets)."""
from __future__ import annotations

from wtal.eval.detection import DetectionResult, evaluate_detection
from wtal.eval.presets import PRESETS, Preset, get_preset

__all__ = ["DetectionResult", "PRESETS", "Preset", "evaluate_detection", "get_preset"]
