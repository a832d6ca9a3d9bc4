"""One-video figure: attention with the localization thresholds, the CAS of the predicted classes,
and detections vs ground-truth segments, on one time axis (seconds). PNG, matplotlib Agg, written
atomically. matplotlib is imported inside the function, never at module import."""
from __future__ import annotations

import io
import os
from typing import Mapping, Sequence

import numpy as np

from wtal._atomic import atomic_write_bytes


def plot_video(path: str | os.PathLike, *, attention: np.ndarray | None, cas: np.ndarray, class_names: Sequence[str],
               seconds_per_snippet: float, thresholds: Sequence[float] | None = None,
               detections: Mapping[str, np.ndarray] | None = None,
               ground_truth: Mapping[str, np.ndarray] | None = None, title: str | None = None,
               max_detections: int = 15, cas_label: str = "CAS") -> str:
    """Draw one video and write it to ``path`` (PNG).

    Args:
        attention: [T] class-agnostic attention (None: panel omitted).
        cas: [T, K] scores of the K classes to show (e.g. the predicted ones).
        class_names: K names, the rows' labels (also used to colour detections and GT).
        seconds_per_snippet: snippet duration; the x axis is ``t * seconds_per_snippet``.
        thresholds: horizontal lines on the attention panel (the profile's thresholds).
        detections: columns ``t_start, t_end, label, score`` of this video; the ``max_detections`` best
            are drawn, darker for higher scores.
        ground_truth: columns ``t_start, t_end, label`` of this video.
        title: figure title.

    Returns:
        ``path`` as a string.
    """
    try:
        import matplotlib
    except ImportError:
        raise ImportError('plotting needs matplotlib, which is not installed (pip install "wtal[train]")') from None

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cas = np.asarray(cas, dtype=np.float64)
    if cas.ndim == 1:
        cas = cas[:, None]
    T, K = cas.shape
    if len(class_names) != K:
        raise ValueError(f"class_names has {len(class_names)} names for {K} CAS columns")
    t = np.arange(T) * seconds_per_snippet
    names = list(dict.fromkeys(list(class_names)
                               + [str(x) for x in (ground_truth or {}).get("label", [])]
                               + [str(x) for x in (detections or {}).get("label", [])]))
    colors = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(names)}
    panels = (1 if attention is not None else 0) + 2
    fig, axes = plt.subplots(panels, 1, figsize=(11, 2.0 * panels + 0.6), sharex=True, squeeze=False)
    axes = axes[:, 0]
    k = 0
    if attention is not None:
        ax = axes[k]
        k += 1
        ax.plot(t, np.asarray(attention, dtype=np.float64)[:T], color="black", lw=1.2, label="attention")
        for th in (() if thresholds is None else thresholds):
            ax.axhline(th, color="grey", lw=0.5, ls=":")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("attention")
        ax.legend(loc="upper right", fontsize=7)
    ax = axes[k]
    k += 1
    for j, name in enumerate(class_names):
        ax.plot(t, cas[:, j], lw=1.0, color=colors[str(name)], label=str(name))
    ax.set_ylabel(cas_label)
    if K:
        ax.legend(loc="upper right", fontsize=7, ncol=min(K, 4))
    ax = axes[k]
    rows = []
    if ground_truth is not None and len(ground_truth.get("t_start", [])):
        for s, e, lab in zip(ground_truth["t_start"], ground_truth["t_end"], ground_truth["label"]):
            ax.barh(1, float(e) - float(s), left=float(s), height=0.6, color=colors[str(lab)], alpha=0.9)
        rows.append((1, "ground truth"))
    if detections is not None and len(detections.get("score", [])):
        sc = np.asarray(detections["score"], dtype=np.float64)
        order = np.argsort(-sc, kind="stable")[:max_detections]
        lo, hi = sc[order].min(), sc[order].max()
        for r, i in enumerate(order):
            a = 0.35 + 0.6 * ((sc[i] - lo) / (hi - lo) if hi > lo else 1.0)
            s, e = float(detections["t_start"][i]), float(detections["t_end"][i])
            ax.barh(-r * 0.5, e - s, left=s, height=0.4, color=colors[str(detections["label"][i])], alpha=a)
        rows.append((-(len(order) - 1) * 0.25, f"top {len(order)} detections"))
    ax.set_yticks([y for y, _ in rows], [n for _, n in rows], fontsize=8)
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, max(T * seconds_per_snippet, 1e-6))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return os.fspath(path)
