"""Layout statistics of the real benchmarks, shipped as numbers (not as annotation files).

Measured from the W-TALC annotation files of THUMOS14reduced (sujoyp/wtalc-pytorch, 200 validation =
training videos, 212 test videos) and ActivityNet1.2 (naraysa/3c-net, 4819 training, 2383 validation
videos). Quantile tables give the value at each percentile of ``PERCENTILES``; the synthetic generator
samples by interpolating the inverse CDF in log space.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PERCENTILES = (0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 100.0)


@dataclass(frozen=True)
class SplitStats:
    """Statistics of one split. Quantile tuples are values at ``PERCENTILES``."""

    videos: int
    instances: int
    duration: tuple[float, ...]        # video duration, s
    instance_length: tuple[float, ...]  # t_end - t_start, s
    coverage: tuple[float, ...]        # sum of instance lengths / duration, capped at 1
    instances_per_video: tuple[float, ...]
    multi_class_fraction: float        # videos with more than one class
    past_duration_fraction: float      # instances ending after the annotated duration
    count_histogram: dict[int, int] = field(default_factory=dict)  # instances per video (6 = 6 or more)


THUMOS14_TRAIN = SplitStats(  # THUMOS14 "validation" videos, the WTAL training split
    videos=200, instances=3007,
    duration=(8.932, 30.788, 37.026, 81.199, 150.529, 228.733, 450.487, 700.035, 950.821, 1409.434),
    instance_length=(0.2, 0.7, 0.9, 1.5, 2.9, 5.5, 8.0, 9.7, 16.3, 118.1),
    coverage=(0.003, 0.058, 0.084, 0.161, 0.234, 0.397, 0.665, 0.777, 0.918, 0.996),
    instances_per_video=(1, 1, 2, 3, 8, 19, 38, 54.25, 95.07, 128),
    multi_class_fraction=27 / 200, past_duration_fraction=4 / 3007,
    count_histogram={1: 19, 2: 19, 3: 17, 4: 12, 5: 8, 6: 125},
)
THUMOS14_TEST = SplitStats(
    videos=212, instances=3358,
    duration=(15.043, 33.708, 47.806, 96.866, 161.656, 228.027, 412.889, 688.51, 1245.561, 1673.427),
    instance_length=(0.2, 0.8, 1.1, 1.7, 3.2, 6.2, 9.1, 11.5, 18.2, 86.6),
    coverage=(0.011, 0.045, 0.066, 0.14, 0.271, 0.443, 0.645, 0.814, 0.972, 1.0),
    instances_per_video=(1, 1, 2, 4, 9, 20.25, 35.8, 50.45, 83.12, 218),
    multi_class_fraction=34 / 212, past_duration_fraction=26 / 3358,
    count_histogram={1: 15, 2: 20, 3: 17, 4: 14, 5: 7, 6: 139},
)
ANET12_TRAIN = SplitStats(
    videos=4819, instances=7151,
    duration=(2.56, 17.088, 30.3, 61.92, 111.18, 171.165, 209.878, 224.31, 236.1, 238.93),
    instance_length=(0.0, 2.419, 3.875, 9.176, 29.227, 73.351, 131.368, 167.364, 208.702, 233.965),
    coverage=(0.0, 0.117, 0.207, 0.431, 0.696, 0.877, 0.963, 0.998, 1.0, 1.0),
    instances_per_video=(1, 1, 1, 1, 1, 1, 2, 4, 7, 23),
    multi_class_fraction=4 / 4819, past_duration_fraction=127 / 7151,
    count_histogram={1: 3628, 2: 734, 3: 211, 4: 101, 5: 55, 6: 90},
)
ANET12_VAL = SplitStats(
    videos=2383, instances=3582,
    duration=(2.3, 15.282, 25.802, 57.19, 109.0, 171.13, 211.624, 224.964, 236.845, 238.96),
    instance_length=(0.0, 2.366, 3.77, 9.081, 26.166, 73.542, 138.035, 173.135, 211.586, 237.762),
    coverage=(0.0, 0.133, 0.216, 0.445, 0.721, 0.893, 0.975, 0.999, 1.0, 1.0),
    instances_per_video=(1, 1, 1, 1, 1, 1, 2.8, 4, 7.18, 18),
    multi_class_fraction=6 / 2383, past_duration_fraction=58 / 3582,
    count_histogram={1: 1816, 2: 328, 3: 99, 4: 57, 5: 29, 6: 54},
)

#: THUMOS14's 20 classes (alphabetical, as in W-TALC ``classlist.npy``) and the median instance length
#: of each (s, validation + test).
THUMOS14_CLASSES = (
    "BaseballPitch", "BasketballDunk", "Billiards", "CleanAndJerk", "CliffDiving", "CricketBowling",
    "CricketShot", "Diving", "FrisbeeCatch", "GolfSwing", "HammerThrow", "HighJump", "JavelinThrow",
    "LongJump", "PoleVault", "Shotput", "SoccerPenalty", "TennisSwing", "ThrowDiscus", "VolleyballSpiking")
THUMOS14_CLASS_MEDIAN_LENGTH = (3.0, 1.5, 2.2, 8.75, 2.7, 1.2, 1.1, 2.5, 2.3, 4.2, 7.1, 4.5, 6.3, 7.1, 6.4,
                                4.65, 2.9, 1.5, 4.25, 1.7)
#: Most frequent multi-class videos (THUMOS14 val + test): CliffDiving instances are also annotated as
#: Diving over the same time span; CricketBowling is followed by CricketShot.
THUMOS14_PAIRS = (("CliffDiving", "Diving", "same"), ("CricketBowling", "CricketShot", "follow"))


def sample_quantiles(table: tuple[float, ...], u: np.ndarray, *, floor: float = 1e-3) -> np.ndarray:
    """Inverse-CDF sample: interpolate ``table`` (values at ``PERCENTILES``) at ``u`` in [0, 1].

    Interpolation is linear in log(value) (values below ``floor`` are raised to it), which follows the
    long right tails of durations and lengths better than linear interpolation.
    """
    q = np.log(np.maximum(np.asarray(table, dtype=np.float64), floor))
    return np.exp(np.interp(np.asarray(u) * 100.0, PERCENTILES, q))


def quantile_cdf(table: tuple[float, ...], x: float, *, floor: float = 1e-3) -> float:
    """The CDF implied by ``sample_quantiles`` at ``x`` (for truncated sampling)."""
    q = np.log(np.maximum(np.asarray(table, dtype=np.float64), floor))
    return float(np.interp(np.log(max(x, floor)), q, PERCENTILES) / 100.0)


__all__ = ["SplitStats", "PERCENTILES", "THUMOS14_TRAIN", "THUMOS14_TEST", "ANET12_TRAIN", "ANET12_VAL",
           "THUMOS14_CLASSES", "THUMOS14_CLASS_MEDIAN_LENGTH", "THUMOS14_PAIRS", "sample_quantiles",
           "quantile_cdf"]
