"""Synthetic WTAL datasets whose layout follows THUMOS14 or ActivityNet and whose features make the
weakly-supervised problem hard in the ways the papers address.

Layout (``wtal.data.stats``): durations, instance lengths, foreground coverage and instance counts are
drawn from the real quantile tables of the matching split (THUMOS14 validation/test, ActivityNet1.2
training/validation); THUMOS-like videos have many short instances (~25 % foreground), co-occurring
classes (CliffDiving instances also annotated Diving over the same span, CricketBowling followed by
CricketShot) and a few segments that end after the stated duration; ActivityNet-like videos have one or
two long instances (~70 % foreground).

Feature model (per snippet, per stream; a low-dimensional latent state projected to ``D/2`` RGB and
``D/2`` flow columns, then ReLU):

* an action instance has an onset, a core and an offset phase. The core carries a strongly
  class-specific direction; onset and offset carry a generic "an action starts/ends" direction shared by
  all classes plus a weak class-specific part. MIL classifiers trained on video labels learn the core
  and miss the onset and offset, so their localizations are too short -- completeness modelling is what
  recovers them;
* every action phase also carries a generic actionness (motion) direction, strongest in flow;
* class-correlated context: the scene of the video's class is present in every snippet (strongest in
  RGB) and stronger in short bursts next to instances, so a video classifier can use it and a CAS
  fires outside the actions;
* background clutter: piecewise-constant background topics and short clutter events with generic
  motion but no class;
* temporal correlation: AR(1) latent noise plus independent observation noise.

Difficulty (measured, seeds 0/1/2, ``num_videos=(200, 212)``, ``max_duration=240``, ``feature_dim=256``;
localization with the ground-truth classes, thresholds 0.3/0.5/0.7 on the min-max-normalised score,
NMS 0.5; average mAP over tIoU 0.1:0.7): a fully supervised per-snippet linear probe reaches
0.45/0.43/0.43 (mAP@0.5 0.28/0.24/0.25); a linear mean-pooling MIL classifier trained on video labels
0.21/0.22/0.23 (mAP@0.5 0.13-0.14); top-k (T/8) pooling MIL 0.26/0.27 with mAP@0.1 0.68 but mAP@0.5 0.04
(it finds the cores and misses the onsets/offsets). ``tests/test_data_synthetic.py`` checks the gap.

Determinism: everything is a function of ``seed`` (and the arguments); each video's features come from
their own generator seeded with ``(seed, subset, position)``, so they can be generated lazily, in any
order, in any process, and match the eager result bit for bit.

Subsets are ``"train"`` and ``"test"`` (``num_videos=(n_train, n_test)``), or ``"train"``,
``"validation"`` and ``"test"`` with a 3-tuple. The trainer carves its own validation split from
``"train"`` when there is none.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from wtal.data import stats as S
from wtal.data.dataset import I3D_SECONDS_PER_SNIPPET, ArraySource, VideoDataset

#: Bump when the generator changes in a way that changes its output (invalidates caches).
GENERATOR_VERSION = 1
KINDS = ("thumos", "activitynet")


@dataclass(frozen=True)
class FeatureModel:
    """Amplitudes and rates of the synthetic feature model. Pairs are ``(rgb, flow)``.

    Defaults were tuned so that a fully supervised per-snippet linear probe localizes well while a
    mean-pooling MIL classifier localizes clearly worse (see the report of ``wtal.data.synthetic``).
    """

    latent_dim: int = 48                         # latent width per stream
    core: tuple[float, float] = (1.5, 2.5)       # class-specific core phase
    phase_generic: tuple[float, float] = (0.8, 1.6)   # generic onset/offset direction
    phase_specific: tuple[float, float] = (0.7, 1.0)  # weak class-specific onset/offset part
    actionness: tuple[float, float] = (0.4, 1.2)  # generic motion present in every action phase
    context: tuple[float, float] = (0.9, 0.25)    # class scene, every snippet of the video
    context_burst: tuple[float, float] = (1.6, 0.4)  # extra scene next to instances
    burst_probability: float = 0.5               # per instance, a context burst before it
    background: tuple[float, float] = (1.3, 0.6)  # background topics
    num_topics: int = 24
    topic_chunk_seconds: float = 20.0            # mean length of a constant-topic stretch
    clutter_per_minute: float = 1.5              # clutter events (generic motion, no class)
    clutter: tuple[float, float] = (0.8, 1.4)
    onset_fraction: tuple[float, float] = (0.2, 0.35)   # of the instance length (uniform range)
    offset_fraction: tuple[float, float] = (0.2, 0.35)
    instance_gain: tuple[float, float] = (0.7, 1.3)     # per-instance amplitude (uniform range)
    ar_phi: float = 0.8
    ar_sigma: float = 0.25
    observation_sigma: float = 0.25
    output_offset: float = 0.1                   # ReLU(x + offset): non-negative like I3D features


@dataclass(frozen=True)
class _Layout:
    duration: float
    num_snippets: int
    classes: tuple[int, ...]         # video-level classes
    t_start: np.ndarray
    t_end: np.ndarray
    label: np.ndarray


def make_synthetic(kind: str = "thumos", seed: int = 0, num_videos: int | Sequence[int] | None = None,
                   feature_dim: int = 2048, num_classes: int | None = None, cache_dir: str | None = None, *,
                   max_duration: float | None = None, min_duration: float | None = None,
                   seconds_per_snippet: float = I3D_SECONDS_PER_SNIPPET, modality: str = "joint",
                   model: FeatureModel | None = None, memoize: bool = True) -> VideoDataset:
    """Generate (or load from ``cache_dir``) a synthetic THUMOS14-like or ActivityNet-like dataset.

    Args:
        kind: ``"thumos"`` (20 classes by default, with THUMOS14's class names) or ``"activitynet"``
            (100 classes by default; 200 for an ActivityNet1.3-sized label space).
        seed: everything is a deterministic function of the seed and the arguments.
        num_videos: ``(n_train, n_test)``, ``(n_train, n_validation, n_test)``, or an int (split 50/50
            like THUMOS14). Default: ``(200, 212)`` for thumos, ``(500, 250)`` for activitynet.
        feature_dim: ``D`` (even; the first half is the RGB stream, the second the flow stream).
        num_classes: number of classes (default 20 / 100).
        cache_dir: when given, the dataset is written once (atomically) under
            ``cache_dir/<name>-<hash>/`` in the per-video npy layout and read back from there.
        max_duration, min_duration: truncate the duration distribution (seconds); short videos make the
            quick demo fast while instance lengths keep their real distribution.
        seconds_per_snippet: snippet length in seconds (16/25 like I3D features).
        modality: ``"joint"``, ``"rgb"`` or ``"flow"``.
        model: feature model amplitudes (``FeatureModel()``).
        memoize: keep generated features in memory after first access (else regenerate on each access).

    Returns:
        A ``VideoDataset`` named ``"synthetic-thumos"`` / ``"synthetic-activitynet"`` whose subsets are
        ``"train"`` and ``"test"`` (and ``"validation"`` with a 3-tuple ``num_videos``).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if isinstance(feature_dim, bool) or int(feature_dim) != feature_dim or feature_dim < 2 or feature_dim % 2:
        raise ValueError(f"feature_dim must be an even int >= 2, got {feature_dim!r}")
    feature_dim = int(feature_dim)
    if num_classes is None:
        num_classes = 20 if kind == "thumos" else 100
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    num_classes = int(num_classes)
    counts = _split_counts(kind, num_videos)
    lo = 1.0 if min_duration is None else float(min_duration)
    hi = float("inf") if max_duration is None else float(max_duration)
    if not (lo > 0 and hi > lo):
        raise ValueError(f"need 0 < min_duration < max_duration, got {min_duration!r}, {max_duration!r}")
    if not seconds_per_snippet > 0:
        raise ValueError(f"seconds_per_snippet must be > 0, got {seconds_per_snippet!r}")
    model = model or FeatureModel()
    params = dict(kind=kind, seed=int(seed), num_videos=list(counts.values()), subsets=list(counts),
                  feature_dim=feature_dim, num_classes=num_classes, max_duration=max_duration,
                  min_duration=min_duration, seconds_per_snippet=float(seconds_per_snippet),
                  model=asdict(model), version=GENERATOR_VERSION)
    if cache_dir is not None:
        from wtal.data.synthetic_cache import load_or_write_cache

        return load_or_write_cache(cache_dir, params, lambda: _generate(params, model, "joint", memoize=False),
                                   modality=modality)
    return _generate(params, model, modality, memoize=memoize)


def params_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def _split_counts(kind: str, num_videos) -> dict[str, int]:
    if num_videos is None:
        num_videos = (200, 212) if kind == "thumos" else (500, 250)
    if isinstance(num_videos, (int, np.integer)) and not isinstance(num_videos, bool):
        n = int(num_videos)
        num_videos = (n - n // 2, n // 2)
    vals = [int(v) for v in num_videos]
    if len(vals) == 2:
        names = ("train", "test")
    elif len(vals) == 3:
        names = ("train", "validation", "test")
    else:
        raise ValueError(f"num_videos must be an int, (train, test) or (train, validation, test), got {num_videos!r}")
    if any(v < 0 for v in vals) or sum(vals) == 0:
        raise ValueError(f"num_videos must be non-negative with at least one video, got {num_videos!r}")
    return dict(zip(names, vals))


# ---------------------------------------------------------------------------------------------------
# class set


@dataclass
class _ClassSet:
    names: list[str]
    median_length: np.ndarray              # thumos: s; unused for activitynet
    pairs: list[tuple[int, int, str]] = field(default_factory=list)


def _class_set(kind: str, num_classes: int, seed: int) -> _ClassSet:
    rng = np.random.default_rng([seed, 1, 0])
    if kind == "thumos" and num_classes == len(S.THUMOS14_CLASSES):
        names = list(S.THUMOS14_CLASSES)
        med = np.asarray(S.THUMOS14_CLASS_MEDIAN_LENGTH, dtype=np.float64)
        idx = {n: k for k, n in enumerate(names)}
        pairs = [(idx[a], idx[b], how) for a, b, how in S.THUMOS14_PAIRS]
        return _ClassSet(names, med, pairs)
    width = max(2, len(str(num_classes - 1)))
    prefix = "action" if kind == "thumos" else "activity"
    names = [f"{prefix}_{k:0{width}d}" for k in range(num_classes)]
    med = rng.choice(np.asarray(S.THUMOS14_CLASS_MEDIAN_LENGTH), size=num_classes)
    pairs = []
    if kind == "thumos" and num_classes >= 4:
        pairs = [(0, 1, "same"), (2, 3, "follow")]
    return _ClassSet(names, med, pairs)


# ---------------------------------------------------------------------------------------------------
# layouts


def _truncated_u(rng: np.random.Generator, table, lo: float, hi: float) -> float:
    a = S.quantile_cdf(table, lo) if lo > table[0] else 0.0
    b = S.quantile_cdf(table, hi) if hi < table[-1] else 1.0
    if b <= a:  # the window lies outside the table: take its nearest end
        return a
    return float(rng.uniform(a, b))


_THUMOS_GEOMEAN_LENGTH = float(np.exp(np.mean(np.log(S.THUMOS14_CLASS_MEDIAN_LENGTH))))


def _thumos_lengths(rng, cs: _ClassSet, c: int, n: int, st: S.SplitStats) -> np.ndarray:
    g = S.sample_quantiles(st.instance_length, rng.random(n), floor=0.2)
    glob_med = st.instance_length[4]
    # Keep the class's own median and 2/3 of the global spread around it: the mixture over classes then
    # has roughly the global quantiles.
    return np.exp(np.log(cs.median_length[c]) + 0.66 * (np.log(g) - np.log(glob_med))).clip(0.2, None)


def _thumos_layout(rng, cs: _ClassSet, st: S.SplitStats, lo: float, hi: float, sps: float) -> _Layout:
    C = len(cs.names)
    dur = float(S.sample_quantiles(st.duration, _truncated_u(rng, st.duration, lo, hi)))
    dur = float(np.clip(dur, lo, hi))
    c = int(rng.integers(C))
    # Classes with short instances get proportionally fewer of them: without this, instance-weighted
    # statistics would be dominated by the short classes (median length and count off the targets).
    rel = float(np.sqrt(cs.median_length[c] / _THUMOS_GEOMEAN_LENGTH))
    cov = float(np.clip(S.sample_quantiles(st.coverage, rng.random()) * rel, 0.02, 0.9))
    target = 0.8 * cov * dur  # the loop below overshoots by one instance on average
    lengths: list[float] = []
    while sum(lengths) < target or not lengths:
        L = float(_thumos_lengths(rng, cs, c, 1, st)[0])
        if lengths and sum(lengths) + L > 0.95 * dur:
            break
        lengths.append(min(L, 0.95 * dur))
    lengths_a = np.asarray(lengths)
    free = max(dur - lengths_a.sum(), 0.0)
    gaps = rng.dirichlet(np.ones(len(lengths_a) + 1)) * free
    starts = np.cumsum(gaps[:-1]) + np.concatenate([[0.0], np.cumsum(lengths_a)[:-1]])
    ends = starts + lengths_a
    labels = np.full(len(starts), c, dtype=np.int64)
    segs = [(float(s), float(e), c) for s, e in zip(starts, ends)]
    video_classes = {c}
    # co-occurring classes, as in THUMOS14
    for a, b, how in cs.pairs:
        if c != a or rng.random() > 0.85:
            continue
        video_classes.add(b)
        if how == "same":
            for s, e, _ in list(segs):
                j = rng.uniform(-0.1, 0.1, size=2)
                segs.append((max(0.0, s + j[0]), e + j[1], b))
        else:  # "follow": the second class starts as the first ends, before the next instance
            nxt = list(starts[1:]) + [dur]
            for (s, e, _), limit in zip(list(segs), nxt):
                if rng.random() < 0.8 and limit - e > 0.5:
                    L = float(_thumos_lengths(rng, cs, b, 1, st)[0])
                    segs.append((e - 0.1, min(e - 0.1 + L, limit), b))
    if rng.random() < max(0.0, st.multi_class_fraction - 0.1) and C > 1:
        # a second, unrelated class takes over some instances
        other = int(rng.integers(C - 1))
        other += other >= c
        relabel = rng.random(len(segs)) < 0.3
        if relabel.any():
            video_classes.add(other)
            segs = [(s, e, other if r else k) for (s, e, k), r in zip(segs, relabel)]
            video_classes = {k for _, _, k in segs}
    # segments that run past the annotated duration (26 of 3358 on THUMOS14 test)
    if rng.random() < 8 * st.past_duration_fraction:
        k = int(np.argmax([e for _, e, _ in segs]))
        s, e, lab = segs[k]
        shift = dur - e + rng.uniform(0.05, 1.5)
        segs[k] = (s + shift, e + shift, lab)
    return _finish_layout(dur, segs, video_classes, sps)


def _anet_layout(rng, cs: _ClassSet, st: S.SplitStats, lo: float, hi: float, sps: float) -> _Layout:
    C = len(cs.names)
    dur = float(S.sample_quantiles(st.duration, _truncated_u(rng, st.duration, max(lo, 4.0), hi)))
    dur = float(np.clip(dur, lo, hi))
    hist = st.count_histogram
    ks = np.asarray(sorted(hist))
    p = np.asarray([hist[k] for k in ks], dtype=np.float64)
    n = int(rng.choice(ks, p=p / p.sum()))
    if n == 6:
        n = 6 + int(rng.geometric(0.35)) - 1
    cov = float(np.clip(S.sample_quantiles(st.coverage, rng.random()), 0.05, 1.0))
    if n > 1:
        cov = min(cov, 0.95)
    c = int(rng.integers(C))
    fg = cov * dur
    lengths = rng.dirichlet(np.full(n, 2.0)) * fg
    lengths = np.maximum(lengths, min(0.5, fg / n))
    free = max(dur - lengths.sum(), 0.0)
    gaps = rng.dirichlet(np.ones(n + 1)) * free
    starts = np.cumsum(gaps[:-1]) + np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    segs = [(float(s), float(s + L), c) for s, L in zip(starts, lengths)]
    if rng.random() < 2 * st.past_duration_fraction:
        s, e, lab = segs[-1]
        segs[-1] = (s, dur + rng.uniform(0.05, 2.0), lab)
    return _finish_layout(dur, segs, {c}, sps)


def _finish_layout(dur: float, segs, video_classes, sps: float) -> _Layout:
    segs = sorted(segs, key=lambda x: (x[0], x[1], x[2]))
    T = max(1, int(np.floor(dur / sps)))
    return _Layout(
        duration=round(dur, 2), num_snippets=T, classes=tuple(sorted({int(k) for _, _, k in segs})),
        t_start=np.round(np.asarray([s for s, _, _ in segs], dtype=np.float64), 2),
        t_end=np.round(np.asarray([e for _, e, _ in segs], dtype=np.float64), 2),
        label=np.asarray([k for _, _, k in segs], dtype=np.int64))


# ---------------------------------------------------------------------------------------------------
# features


class _Prototypes:
    """Latent directions shared by all videos of a dataset (unit vectors, per stream)."""

    def __init__(self, seed: int, num_classes: int, model: FeatureModel, feature_dim: int):
        rng = np.random.default_rng([seed, 1, 1])
        K = model.latent_dim

        def unit(*shape):
            v = rng.standard_normal(shape + (K,))
            return v / np.linalg.norm(v, axis=-1, keepdims=True)

        # index 0 = rgb, 1 = flow
        self.core = unit(2, num_classes)
        self.onset_specific = unit(2, num_classes)
        self.offset_specific = unit(2, num_classes)
        self.context = unit(2, num_classes)
        self.onset_generic = unit(2)
        self.offset_generic = unit(2)
        self.actionness = unit(2)
        self.topics = unit(2, model.num_topics)
        self.clutter = unit(2)
        # The latent->feature projection depends on feature_dim, so it has its own generator.
        prng = np.random.default_rng([seed, 1, 2, feature_dim])
        half = feature_dim // 2
        self.projection = (prng.standard_normal((2, K, half)) / np.sqrt(K)).astype(np.float32)


def _overlap(T: int, sps: float, a: float, b: float) -> tuple[int, np.ndarray]:
    """First snippet and fraction of each snippet from it covered by the interval [a, b) seconds."""
    if b <= a:
        return 0, np.zeros(0)
    t0 = max(0, int(np.floor(a / sps)))
    t1 = min(T, int(np.ceil(b / sps)))
    if t1 <= t0:
        return t0, np.zeros(0)
    edges = np.arange(t0, t1 + 1) * sps
    w = (np.minimum(edges[1:], b) - np.maximum(edges[:-1], a)) / sps
    return t0, np.clip(w, 0.0, 1.0)


def _video_features(lay: _Layout, protos: _Prototypes, model: FeatureModel, sps: float,
                    rng: np.random.Generator) -> np.ndarray:
    T, K = lay.num_snippets, model.latent_dim
    z = np.zeros((2, T, K))
    fg = np.zeros(T)

    def add(vec, t0, w, amp):
        # vec: [2, K]; amp: (rgb, flow)
        if len(w):
            z[0, t0:t0 + len(w)] += amp[0] * w[:, None] * vec[0]
            z[1, t0:t0 + len(w)] += amp[1] * w[:, None] * vec[1]

    # actions: onset / core / offset
    for s, e, c in zip(lay.t_start, lay.t_end, lay.label):
        L = e - s
        gain = rng.uniform(*model.instance_gain)
        a = s + rng.uniform(*model.onset_fraction) * L
        b = e - rng.uniform(*model.offset_fraction) * L
        amp = lambda pair: (gain * pair[0], gain * pair[1])  # noqa: E731
        for lo_, hi_, gen, spec in ((s, a, protos.onset_generic, protos.onset_specific[:, c]),
                                    (b, e, protos.offset_generic, protos.offset_specific[:, c])):
            t0, w = _overlap(T, sps, lo_, hi_)
            add(gen, t0, w, amp(model.phase_generic))
            add(spec, t0, w, amp(model.phase_specific))
        t0, w = _overlap(T, sps, a, b)
        add(protos.core[:, c], t0, w, amp(model.core))
        t0, w = _overlap(T, sps, s, e)
        add(protos.actionness, t0, w, amp(model.actionness))
        if len(w):
            fg[t0:t0 + len(w)] = np.maximum(fg[t0:t0 + len(w)], w)
        if rng.random() < model.burst_probability:  # context just before the instance
            blen = rng.uniform(1.0, 3.0)
            t0, w = _overlap(T, sps, max(0.0, s - blen), s)
            add(protos.context[:, c], t0, w, model.context_burst)
    # scene of the video's classes, everywhere
    for c in lay.classes:
        k = rng.uniform(0.4, 1.0) / np.sqrt(len(lay.classes))
        add(protos.context[:, c], 0, np.ones(T), (k * model.context[0], k * model.context[1]))
    # background topics, piecewise constant, damped under foreground
    chosen = rng.choice(model.num_topics, size=min(model.num_topics, int(rng.integers(2, 5))), replace=False)
    t = 0
    while t < T:
        n = max(1, int(rng.exponential(model.topic_chunk_seconds) / sps))
        topic = protos.topics[:, chosen[int(rng.integers(len(chosen)))]]
        w = 1.0 - 0.5 * fg[t:t + n]
        add(topic, t, w, model.background)
        t += n
    # clutter events: generic motion, no class
    for _ in range(int(rng.poisson(model.clutter_per_minute * lay.duration / 60.0))):
        start = rng.uniform(0, lay.duration)
        t0, w = _overlap(T, sps, start, start + rng.uniform(1.0, 4.0))
        add(protos.clutter * 0.6 + protos.actionness * 0.8, t0, w, model.clutter)
    # AR(1) latent noise
    eta = rng.standard_normal((T, 2, K)) * (model.ar_sigma * np.sqrt(1 - model.ar_phi ** 2))
    noise = np.empty_like(eta)
    noise[0] = rng.standard_normal((2, K)) * model.ar_sigma
    for i in range(1, T):
        noise[i] = model.ar_phi * noise[i - 1] + eta[i]
    z += noise.transpose(1, 0, 2)
    z32 = z.astype(np.float32)
    half = protos.projection.shape[2]
    out = np.empty((T, 2 * half), dtype=np.float32)
    for m in range(2):
        x = out[:, m * half:(m + 1) * half]
        np.matmul(z32[m], protos.projection[m], out=x)
        # Uniform observation noise with the given standard deviation: 5x cheaper than normal draws and
        # the bulk of the generation cost at D=2048.
        u = rng.random((T, half), dtype=np.float32)
        u -= np.float32(0.5 - model.output_offset / (model.observation_sigma * np.sqrt(12.0)))
        u *= np.float32(model.observation_sigma * np.sqrt(12.0))
        x += u
        np.maximum(x, 0.0, out=x)
    return out


# ---------------------------------------------------------------------------------------------------


class _VideoMaker:
    """Generates one video's features on demand (a class rather than a closure so datasets pickle, e.g.
    for DataLoader workers started with ``spawn``)."""

    def __init__(self, layout: _Layout, protos: _Prototypes, model: FeatureModel, sps: float, seed: list[int]):
        self.layout, self.protos, self.model, self.sps, self.seed = layout, protos, model, sps, seed

    def __call__(self) -> np.ndarray:
        return _video_features(self.layout, self.protos, self.model, self.sps, np.random.default_rng(self.seed))


def _generate(params: dict, model: FeatureModel, modality: str, memoize: bool) -> VideoDataset:
    kind, seed = params["kind"], params["seed"]
    sps = params["seconds_per_snippet"]
    cs = _class_set(kind, params["num_classes"], seed)
    lo = 1.0 if params["min_duration"] is None else float(params["min_duration"])
    hi = float("inf") if params["max_duration"] is None else float(params["max_duration"])
    protos = _Prototypes(seed, len(cs.names), model, params["feature_dim"])
    videos, subsets, layouts, seeds = [], [], [], []
    for sid, (subset, n) in enumerate(zip(params["subsets"], params["num_videos"])):
        if kind == "thumos":
            st = S.THUMOS14_TEST if subset == "test" else S.THUMOS14_TRAIN
        else:
            st = S.ANET12_VAL if subset == "test" else S.ANET12_TRAIN
        rng = np.random.default_rng([seed, 0, sid])
        for j in range(n):
            lay = (_thumos_layout if kind == "thumos" else _anet_layout)(rng, cs, st, lo, hi, sps)
            videos.append(f"video_{subset}_{j:05d}")
            subsets.append(subset)
            layouts.append(lay)
            seeds.append([seed, 2, sid, j])
    V, C = len(videos), len(cs.names)
    labels = np.zeros((V, C), dtype=np.float32)
    for i, lay in enumerate(layouts):
        labels[i, list(lay.classes)] = 1.0
    ann_video = np.concatenate([np.full(len(l.label), i, dtype=np.int64) for i, l in enumerate(layouts)])
    annotations = {
        "video": ann_video,
        "t_start": np.concatenate([l.t_start for l in layouts]),
        "t_end": np.concatenate([l.t_end for l in layouts]),
        "label": np.concatenate([l.label for l in layouts]),
    }

    source = ArraySource([_VideoMaker(l, protos, model, sps, s) for l, s in zip(layouts, seeds)],
                         stream_dims=(params["feature_dim"] // 2,) * 2, origin=f"synthetic-{kind}",
                         memoize=memoize, lengths=[l.num_snippets for l in layouts])
    return VideoDataset(
        name=f"synthetic-{kind}", classes=cs.names, videos=videos, subsets=subsets, labels=labels,
        durations=np.asarray([l.duration for l in layouts]), source=source, joint_dim=params["feature_dim"],
        annotations=annotations, seconds_per_snippet=sps, modality=modality, train_subset="train",
        test_subset="test", origin=f"synthetic-{kind}(seed={seed})")


def quick_synthetic(seed: int = 0, **overrides) -> VideoDataset:
    """The small THUMOS-like preset used by ``wtal demo --quick`` and the tests (trains in seconds):
    60 training and 40 test videos of at most 120 s, 256-d features."""
    kw = dict(num_videos=(60, 40), max_duration=120.0, feature_dim=256)
    kw.update(overrides)
    return make_synthetic("thumos", seed, **kw)


__all__ = ["make_synthetic", "quick_synthetic", "FeatureModel", "GENERATOR_VERSION", "KINDS"]
