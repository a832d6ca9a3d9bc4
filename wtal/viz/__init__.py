"""Plots of model outputs against ground truth. matplotlib is imported only inside the functions."""
from __future__ import annotations

from wtal.viz.plots import plot_video

__all__ = ["plot_video"]
