"""Training: config (``wtal.train.config``), trainer, checkpoints, DDP helpers, metrics logging.

``import wtal.train`` is light; ``wtal.train.trainer`` imports torch.
"""
from __future__ import annotations

from wtal.train.config import Config, load_config

__all__ = ["Config", "load_config"]
