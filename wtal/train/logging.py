"""Training logs: human-readable messages through :mod:`logging` (logger ``wtal.train``: the console
and ``train.log`` in the run folder), and metrics as one JSON object per line (``metrics.jsonl``),
plus TensorBoard scalars when the ``tensorboard`` package is installed. Only rank 0 writes."""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
from typing import Any, Iterator

_FILE_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class _LazyFileHandler(logging.FileHandler):
    """Appends to a file whose folder is created on the first message (a run that fails before
    logging anything leaves no folder behind)."""

    def _open(self):
        os.makedirs(os.path.dirname(os.path.abspath(self.baseFilename)), exist_ok=True)
        return super()._open()


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a message is emitted (redirections, pytest capture)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.setStream(sys.stdout)
        super().emit(record)


def attach_file_log(logger: logging.Logger, path: str) -> logging.Handler:
    """Append ``logger``'s INFO messages, timestamped, to ``path``; returns the handler (remove it with
    ``logger.removeHandler`` and close it when done)."""
    handler = _LazyFileHandler(path, mode="a", encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter(_FILE_FORMAT))
    handler.setLevel(logging.INFO)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    return handler


@contextlib.contextmanager
def console_log(name: str = "wtal") -> Iterator[logging.Logger]:
    """While active, INFO messages of logger ``name`` (and its children, e.g. ``wtal.train``) go to
    stdout as plain lines (what the ``wtal`` commands print)."""
    logger = logging.getLogger(name)
    handler = _StdoutHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(logging.INFO)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


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
