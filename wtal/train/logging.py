"""Metrics logging: one JSON object per line (``metrics.jsonl``), plus TensorBoard scalars when the
``tensorboard`` package is installed. Only rank 0 writes."""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any


class MetricsLogger:
    """Append-only JSONL log; each record gets ``time`` and the caller's fields.

    Args:
        path: the ``.jsonl`` file (appended to, so a resumed run continues the same log).
        tensorboard_dir: directory for TensorBoard events, or None.
        enabled: False on non-main ranks.
    """

    def __init__(self, path: str, tensorboard_dir: str | None = None, enabled: bool = True):
        self.path = path
        self.enabled = enabled
        self._tb = None
        if not enabled:
            return
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if tensorboard_dir:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(tensorboard_dir)
            except Exception:  # tensorboard not installed: JSONL only
                self._tb = None

    def log(self, kind: str, step: int, **fields: Any) -> None:
        if not self.enabled:
            return
        rec = {"kind": kind, "step": int(step), "time": round(time.time(), 3)}
        for k, v in fields.items():
            rec[k] = _plain(v)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
        if self._tb is not None:
            for k, v in rec.items():
                if isinstance(v, (int, float)) and k not in ("step", "time"):
                    self._tb.add_scalar(f"{kind}/{k}", v, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _plain(v: Any) -> Any:
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v
