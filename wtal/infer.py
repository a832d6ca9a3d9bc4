"""Inference: datasets, checkpoints, trained models on full-length videos, localization, evaluation.

The one module that ``wtal train`` (validation and test), ``wtal demo``, ``wtal localize`` and
``wtal plot`` share::

    from wtal.infer import load
    predictor = load("runs/my_run/best.pt")               # or load(["rgb.pt", "flow.pt"]): fused
    det = predictor.localize(features)                    # [T, D] one video, [B, T, D] + lengths, or a list
    det.write("results.json")                             # ActivityNet results JSON
    det = predictor.localize_dataset(dataset, dataset.indices("test"))

A :class:`Predictor` holds the trained model of each stream (``joint``, or ``rgb`` and/or ``flow`` of a
two-stream model), the class list, ``seconds_per_snippet`` and the run's config (its ``localize:``
section configures the model's profile). Features are always the dataset's layout: the joint
``[T, D_rgb + D_flow]`` features for every model; a two-stream model's streams read their columns
(``stream_dims``). A single-stream predictor of a two-stream model also takes that stream's own
``[T, D_stream]`` features.

How a batch is localized (the same for one video and for a dataset):

1. Videos are grouped by length (``train.eval_max_snippets`` padded snippets per group).
2. Each video goes through the model(s) **alone** (batch 1, unpadded, like the authors' test loops),
   so its detections never depend on which other videos are localized with it (one ``.npy`` gives
   what the same video gives inside a dataset run, bit for bit). ``train.eval_batched_forward: true``
   runs the model on the padded group instead (faster on a GPU; outputs then differ at float
   rounding, ~1e-6, with the group's composition).
3. The models' ``localization_inputs`` are padded into one ``[B, T_max, ...]`` batch (two-stream
   models: keys suffixed ``_rgb`` / ``_flow``, ``lengths`` shared; a stream without a model gets
   ``None``) and the profile runs once per group, with the keyword-only extras its signature accepts
   (:data:`PROFILE_EXTRAS`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from wtal._json import write_json
from wtal.data.torch_dataset import pad_features
from wtal.train.checkpoint import load_checkpoint
from wtal.train.config import Config, apply_override, config_from_dict

#: Keyword-only profile parameters that the inference code fills when a profile accepts them:
#: ``videos`` (names), ``classes``, ``seconds_per_snippet``, ``config`` (the profile config),
#: ``class_subset`` (``eval.class_subset: ground_truth``: classes with ground truth among the localized
#: videos), ``ambiguous`` (``eval.ambiguous: true``: the dataset's ambiguous segments),
#: ``features`` (the padded input features ``[B, T, D]`` of the group, on the profile's device).
PROFILE_EXTRAS = ("videos", "classes", "seconds_per_snippet", "config", "class_subset", "ambiguous", "features")

_AUTO = object()


# ---------------------------------------------------------------------- environment
def resolve_device(name: str) -> torch.device:
    """``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device: {name!r} is not a device (auto, cpu, cuda, cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {name!r} requested but CUDA is not available (use --device cpu)")
    return dev


# ---------------------------------------------------------------------- data
def build_dataset(cfg: Config):
    """The ``VideoDataset`` named by ``cfg.data`` (extra reader arguments from ``data.options``)."""
    d = cfg.data
    opts = dict(d.options)
    if d.kind == "synthetic":
        from wtal.data.synthetic import make_synthetic

        return make_synthetic(**opts)
    import wtal.data as wd

    if d.kind == "wtalc":
        if not d.name:
            raise ValueError("data.name is required for data.kind='wtalc' (e.g. Thumos14reduced)")
        return wd.load_wtalc(d.root, d.name, **opts)
    if d.kind == "pervideo":
        return wd.load_pervideo(d.root, **opts)
    # activitynet: data.root is the features folder, data.options.annotation_json the annotations
    if "annotation_json" not in opts:
        raise ValueError("data.options.annotation_json is required for data.kind='activitynet' "
                         "(data.root is the per-video features folder)")
    return wd.load_activitynet(opts.pop("annotation_json"), d.root, **opts)


def data_label(cfg: Config, dataset) -> str:
    """How error messages name the data source."""
    return cfg.data.root or getattr(dataset, "name", "dataset")


def subset_indices(dataset, subset: str, cfg: Config) -> list[int]:
    """Indices of ``subset``; raises naming the data source when it is empty."""
    idx = list(dataset.indices(subset))
    if not idx:
        have = sorted(set(dataset.subsets))
        raise ValueError(f"{data_label(cfg, dataset)}: subset {subset!r} has no videos (subsets present: {have})")
    return idx


def filter_columns(columns: dict, videos: set[str]) -> dict:
    """Rows of ground-truth / detection ``columns`` whose ``video`` is in ``videos``."""
    keep = np.array([str(v) in videos for v in columns["video"]], dtype=bool)
    return {k: np.asarray(v)[keep] for k, v in columns.items()}


def ground_truth_classes(dataset, indices: Sequence[int]) -> list[str]:
    """Class names (in class order) with at least one annotated instance in videos ``indices``."""
    a = dataset.annotations
    present = np.isin(a["video"], np.asarray(list(indices), dtype=np.int64))
    have = set(np.unique(a["label"][present]).tolist())
    return [c for k, c in enumerate(dataset.classes) if k in have]


def length_batches(lengths: Sequence[int], max_snippets: int) -> list[list[int]]:
    """Group positions into batches of similar length whose padded size stays under ``max_snippets``
    (a video longer than that is a batch of its own)."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches, cur, cur_max = [], [], 0
    for i in order:
        m = max(cur_max, lengths[i])
        if cur and m * (len(cur) + 1) > max_snippets:
            batches.append(cur)
            cur, m = [], lengths[i]
        cur.append(i)
        cur_max = m
    if cur:
        batches.append(cur)
    return batches


def stream_features(features: torch.Tensor, stream: str, stream_dims: Sequence[int]) -> torch.Tensor:
    """The columns of ``stream`` in joint features ``[..., D_rgb + D_flow]`` (contiguous):
    ``joint`` all, ``rgb`` the first ``D_rgb``, ``flow`` the rest (``wtal.data.dataset.split_streams``)."""
    if stream == "joint":
        return features
    d = int(stream_dims[0])
    return (features[..., :d] if stream == "rgb" else features[..., d:]).contiguous()


def concat_detections(parts: list):
    """Concatenate ``wtal.localize.Detections`` in order (empty when there are none)."""
    from wtal.localize import Detections

    parts = [p for p in parts if p is not None]
    return Detections.concat(parts) if parts else Detections.empty()


# ---------------------------------------------------------------------- profile, evaluation
def localize_profile(cfg: Config):
    """The model's localization profile config (authors' defaults) with ``cfg.localize`` overrides."""
    from wtal.models import get_spec

    spec = get_spec(cfg.model.name)
    klass = spec.profile_config_type()
    names = {f.name for f in dataclasses.fields(klass)}
    unknown = sorted(set(cfg.localize) - names)
    if unknown:
        raise ValueError(f"unknown config key 'localize.{unknown[0]}' (fields of {spec.profile_config}: "
                         f"{sorted(names)})")
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.localize.items()}
    profile = klass(**kw)
    if hasattr(profile, "validate"):
        profile.validate()
    return profile


def evaluate(gt_columns: dict, detections, cfg: Config, unknown_labels: str | None = None):
    """``wtal.eval.evaluate_detection`` of ``detections`` with the run's tIoU thresholds and preset."""
    from wtal.eval import evaluate_detection

    kw = {} if unknown_labels is None else {"unknown_labels": unknown_labels}
    return evaluate_detection(gt_columns, detections.to_columns(), tiou_thresholds=list(cfg.eval.tiou),
                              preset=cfg.eval.preset, **kw)


def write_metrics(path: str, result, extra: dict | None = None) -> None:
    """``METRICS.json`` of a ``DetectionResult`` (plus ``extra`` keys), written atomically."""
    d = result.to_dict()
    if extra:
        d.update(extra)
    write_json(path, d)


def check_compatible(meta: Mapping[str, Any], dataset, source: str, label: str, *, two_stream: bool) -> None:
    """The feature width (and rgb/flow widths of a two-stream model) and class list of a checkpoint's
    ``model`` entry ``meta`` match ``dataset`` (``ValueError`` naming both)."""
    if int(dataset.feature_dim) != int(meta["feature_dim"]):
        raise ValueError(f"{label}: features are {dataset.feature_dim}-d but checkpoint {source} "
                         f"expects {meta['feature_dim']}-d")
    if two_stream and meta.get("stream_dims") and list(dataset.stream_dims) != [int(d) for d in meta["stream_dims"]]:
        raise ValueError(f"{label}: rgb/flow streams are {list(dataset.stream_dims)}-d but checkpoint {source} "
                         f"expects {list(meta['stream_dims'])}")
    if list(dataset.classes) != list(meta["classes"]):
        extra = sorted(set(dataset.classes) ^ set(meta["classes"]))
        raise ValueError(f"{label}: class list differs from checkpoint {source} "
                         f"({len(dataset.classes)} vs {len(meta['classes'])} classes; differing: {extra[:5]})")


def _localize_on_cuda() -> bool:
    try:
        import wtal.ops

        return wtal.ops.cuda_available()
    except Exception:
        return False


# ---------------------------------------------------------------------- predictor
class Predictor:
    """Trained model(s) of one registered model, ready to localize.

    Args:
        spec: the model's ``ModelSpec``.
        models: ``{stream: nn.Module}``; ``{"joint": m}``, or ``"rgb"`` and/or ``"flow"`` models of a
            two-stream spec. Put in eval mode while localizing (their mode is restored).
        classes: the ``C`` class names of the training data.
        seconds_per_snippet: of the training data (the default for :meth:`localize`).
        feature_dim: width of the features given to :meth:`localize` (joint ``D_rgb + D_flow`` for a
            two-stream model).
        stream_dims: ``(D_rgb, D_flow)`` of those features.
        config: the run's ``Config`` (``localize`` section, ``eval.class_subset``/``eval.ambiguous``,
            ``train.eval_max_snippets``/``train.eval_batched_forward``).
        device: where the models are.
        amp_dtype: autocast dtype on CUDA (``None``: float32).
        sources: the checkpoint files, for messages.
    """

    def __init__(self, spec, models: Mapping[str, torch.nn.Module], *, classes: Sequence[str],
                 seconds_per_snippet: float, feature_dim: int, stream_dims: Sequence[int] | None,
                 config: Config, device: torch.device, amp_dtype: torch.dtype | None = None,
                 sources: Sequence[str] = ()):
        self.spec = spec
        self.models = {s: models[s] for s in spec.streams if s in models}
        if not self.models or len(self.models) != len(models):
            raise ValueError(f"model {spec.name!r} has streams {list(spec.streams)}, got models for {list(models)}")
        self.classes = [str(c) for c in classes]
        self.seconds_per_snippet = float(seconds_per_snippet)
        self.feature_dim = int(feature_dim)
        self.stream_dims = tuple(int(d) for d in stream_dims) if stream_dims else None
        self.config = config
        self.device = device
        self.amp_dtype = amp_dtype
        self.sources = tuple(sources)
        self._ambiguous_cache: dict[str, Any] = {}

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(self.models)

    def profile(self) -> Callable:
        """The ``wtal.localize`` profile function."""
        return self.spec.profile_function()

    def profile_config(self):
        """The profile config (authors' defaults + the config's ``localize:`` section)."""
        return localize_profile(self.config)

    # ------------------------------------------------------------------ checks
    def stream_width(self, stream: str) -> int:
        if stream == "joint" or self.stream_dims is None:
            return self.feature_dim
        return self.stream_dims[0] if stream == "rgb" else self.stream_dims[1]

    def check_dataset(self, dataset, label: str) -> None:
        """The dataset's feature widths and classes are the predictor's (raises naming both)."""
        check_compatible({"feature_dim": self.feature_dim, "stream_dims": self.stream_dims, "classes": self.classes},
                         dataset, " + ".join(self.sources) or "the model", label, two_stream=self.spec.two_stream)

    def _pre_sliced(self, width: int, what: str) -> bool:
        """True when ``width``-d features are one stream's own columns (a single-stream predictor)."""
        if width == self.feature_dim:
            return False
        if self.spec.two_stream and len(self.models) == 1 and width == self.stream_width(self.streams[0]):
            return True
        alone = f" (or the {self.streams[0]} stream's {self.stream_width(self.streams[0])})" \
            if self.spec.two_stream and len(self.models) == 1 else ""
        raise ValueError(f"{what}: features are {width}-d but the model expects {self.feature_dim}-d{alone}")

    # ------------------------------------------------------------------ model outputs
    def _autocast(self):
        if self.amp_dtype is None or self.device.type != "cuda":
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    @contextlib.contextmanager
    def _eval_mode(self):
        modes = {s: m.training for s, m in self.models.items()}
        for m in self.models.values():
            m.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            for s, m in self.models.items():
                m.train(modes[s])

    def _run(self, feats: torch.Tensor, lens: torch.Tensor, pre_sliced: bool) -> dict[str, dict]:
        out = {}
        for s, model in self.models.items():
            x = feats if pre_sliced else stream_features(feats, s, self.stream_dims or ())
            with self._autocast():
                o = model(x, lens)
            out[s] = model.localization_inputs(o)
        return out

    def stream_inputs(self, features: torch.Tensor, lengths: torch.Tensor, *,
                      pre_sliced: bool = False) -> dict[str, dict[str, torch.Tensor]]:
        """``{stream: model.localization_inputs(outputs)}`` for a padded batch ``[B, T, D]`` (on the
        model device), video by video unless ``train.eval_batched_forward`` (see the module docstring)."""
        with self._eval_mode():
            if self.config.train.eval_batched_forward or features.shape[0] == 1:
                return self._run(features, lengths, pre_sliced)
            parts = [self._run(features[j:j + 1, :L].clone(), lengths[j:j + 1].clone(), pre_sliced)
                     for j, L in enumerate(lengths.tolist())]
        return {s: _combine([p[s] for p in parts], lengths) for s in self.models}

    def profile_inputs(self, per_stream: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, Any]:
        """The profile's positional arguments: a joint model's inputs as they are; a two-stream model's
        suffixed ``<key>_rgb`` / ``<key>_flow`` (``None`` for a stream without a model), ``lengths`` shared."""
        if not self.spec.two_stream:
            return dict(per_stream["joint"])
        present = next(iter(per_stream.values()))
        out: dict[str, Any] = {"lengths": present["lengths"]}
        for s in self.spec.streams:
            li = per_stream.get(s)
            for k in present:
                if k != "lengths":
                    out[f"{k}_{s}"] = None if li is None else li[k]
        return out

    # ------------------------------------------------------------------ localization
    def _extras(self, videos, seconds_per_snippet, class_subset, ambiguous, features) -> dict[str, Any]:
        params = inspect.signature(self.profile()).parameters
        accepted = {n for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
        values = {"videos": list(videos), "classes": list(self.classes), "seconds_per_snippet": seconds_per_snippet,
                  "config": self.profile_config(), "class_subset": class_subset, "ambiguous": ambiguous,
                  "features": features}
        return {k: v for k, v in values.items() if k in accepted and v is not None}

    def _localize_groups(self, load: Callable[[int], Any], lengths: Sequence[int], videos: Sequence[str],
                         seconds_per_snippet: float, class_subset, ambiguous, what: str):
        profile = self.profile()
        on_cuda = self.device.type == "cuda" and _localize_on_cuda()
        dtype = next(next(iter(self.models.values())).parameters()).dtype
        parts = []
        for group in length_batches(list(lengths), self.config.train.eval_max_snippets):
            items = [load(j) for j in group]
            widths = {int(x.shape[1]) for x in items}
            if len(widths) != 1:
                raise ValueError(f"{what}: feature widths differ between videos: {sorted(widths)}")
            pre_sliced = self._pre_sliced(widths.pop(), what)
            feats, lens = pad_features(items)
            feats, lens = feats.to(self.device, dtype), lens.to(self.device)
            inputs = self.profile_inputs(self.stream_inputs(feats, lens, pre_sliced=pre_sliced))
            inputs = {k: (v.float() if v is not None and v.is_floating_point() else v) for k, v in inputs.items()}
            if not on_cuda:
                inputs = {k: (None if v is None else v.cpu()) for k, v in inputs.items()}
                feats = feats.cpu()
            extras = self._extras([videos[j] for j in group], seconds_per_snippet, class_subset, ambiguous, feats)
            parts.append(profile(**inputs, **extras))
        return concat_detections(parts)

    def localize(self, features: Any, lengths: Any = None, *, videos: Sequence[str] | None = None,
                 seconds_per_snippet: float | None = None, class_subset: Sequence[str] | None = None,
                 ambiguous: Mapping[str, Any] | None = None):
        """Detections of videos given as features.

        Args:
            features: one video ``[T, D]``; a padded batch ``[B, T, D]`` (with ``lengths``, else every
                video is ``T`` long); or a sequence of ``[T_i, D]`` arrays. numpy or torch; ``D`` is the
                predictor's ``feature_dim`` (the joint width for a two-stream model).
            lengths: ``[B]`` valid snippets of a padded batch.
            videos: one name per video (default ``video_0, video_1, ...``).
            seconds_per_snippet: default: the training data's.
            class_subset: only these classes, for profiles that accept it.
            ambiguous: ambiguous segments (columns ``video, t_start, t_end``) for profiles that accept it.

        Returns:
            ``wtal.localize.Detections`` (seconds): the rows of each length group (videos of similar
            length, shortest first), each ordered by video, class and descending score
            (``Detections.sorted()`` gives a canonical order).
        """
        items = _as_items(features, lengths)
        names = [f"video_{i}" for i in range(len(items))] if videos is None else [str(v) for v in videos]
        if len(names) != len(items):
            raise ValueError(f"videos: {len(names)} names for {len(items)} videos")
        sps = self.seconds_per_snippet if seconds_per_snippet is None else float(seconds_per_snippet)
        return self._localize_groups(lambda j: items[j], [int(x.shape[0]) for x in items], names, sps,
                                     class_subset, ambiguous, "features")

    def dataset_class_subset(self, dataset, indices: Sequence[int]) -> list[str] | None:
        """``eval.class_subset``: ``None`` (all classes) or the classes with ground truth in ``indices``."""
        if self.config.eval.class_subset != "ground_truth":
            return None
        return ground_truth_classes(dataset, indices)

    def dataset_ambiguous(self, dataset):
        """``eval.ambiguous``: the dataset's ambiguous segments (``None`` when off or when it has none)."""
        path = getattr(dataset, "ambiguous_file", None)
        if not self.config.eval.ambiguous or not path:
            return None
        if path not in self._ambiguous_cache:
            from wtal.eval.io import load_ambiguous

            self._ambiguous_cache[path] = load_ambiguous(path)
        return self._ambiguous_cache[path]

    def localize_dataset(self, dataset, indices: Sequence[int], *, class_subset: Any = _AUTO):
        """Detections of videos ``indices`` of ``dataset`` (its full-length features, read group by group).

        ``class_subset`` defaults to :meth:`dataset_class_subset` of ``indices``; the ambiguous
        segments come from :meth:`dataset_ambiguous`.
        """
        indices = [int(i) for i in indices]
        if class_subset is _AUTO:
            class_subset = self.dataset_class_subset(dataset, indices)
        if self.spec.two_stream and dataset.modality != "joint":
            dataset = dataset.with_modality("joint")
        what = getattr(dataset, "origin", "") or getattr(dataset, "name", "dataset")
        return self._localize_groups(lambda j: dataset.features(indices[j]),
                                     [int(dataset.num_snippets(i)) for i in indices],
                                     [dataset.videos[i] for i in indices], float(dataset.seconds_per_snippet),
                                     class_subset, self.dataset_ambiguous(dataset), what)

    def check_profile(self) -> None:
        """Run the profile once on a 4-snippet dummy video, so that a profile that cannot localize
        these streams (e.g. one stream of a profile that needs both) fails before training does."""
        try:
            self.localize(np.zeros((4, self.feature_dim), np.float32), videos=["probe"])
        except (ValueError, TypeError) as exc:
            raise ValueError(f"model {self.spec.name!r}: its profile {self.spec.profile} cannot localize the "
                             f"stream(s) {list(self.models)} alone ({exc}); train all of "
                             f"{list(self.spec.streams)}, or use train.checkpoint=last, eval.test=false and fuse "
                             "single-stream checkpoints with wtal localize --checkpoint A --checkpoint B") from None


def _as_items(features: Any, lengths: Any) -> list[torch.Tensor]:
    def tensor(x, what):
        t = x if torch.is_tensor(x) else torch.from_numpy(np.asarray(x))
        if not t.is_floating_point():
            raise TypeError(f"{what} must be floating point, got {t.dtype}")
        return t.detach().cpu().to(torch.float32)

    if isinstance(features, (list, tuple)):
        items = [tensor(x, f"features[{i}]") for i, x in enumerate(features)]
        bad = [i for i, x in enumerate(items) if x.dim() != 2]
        if bad:
            raise ValueError(f"features[{bad[0]}] must be [T, D], got shape {list(items[bad[0]].shape)}")
    else:
        x = tensor(features, "features")
        if x.dim() == 2:
            items = [x]
        elif x.dim() == 3:
            if lengths is None:
                lens = [x.shape[1]] * x.shape[0]
            else:
                lens = [int(v) for v in (lengths.tolist() if hasattr(lengths, "tolist") else lengths)]
                if len(lens) != x.shape[0] or any(not 1 <= v <= x.shape[1] for v in lens):
                    raise ValueError(f"lengths must be {x.shape[0]} integers in [1, {x.shape[1]}], got {lens}")
            items = [x[b, :L] for b, L in enumerate(lens)]
        else:
            raise ValueError(f"features must be [T, D] or [B, T, D], got shape {list(x.shape)}")
    if not items:
        raise ValueError("features: no videos")
    empty = [i for i, x in enumerate(items) if x.shape[0] == 0]
    if empty:
        raise ValueError(f"features: video {empty[0]} has no snippets")
    return items


def _combine(parts: Sequence[Mapping[str, torch.Tensor]], lengths: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-video ``localization_inputs`` (batch 1 each) as one padded batch: a key whose per-video
    tensors have equal shapes is concatenated; one whose dim 1 is each video's length is zero-padded
    along it first."""
    out = {}
    lens = lengths.tolist()
    for k in parts[0]:
        vs = [p[k] for p in parts]
        if all(v.shape == vs[0].shape for v in vs):
            out[k] = torch.cat(vs)
            continue
        time_major = all(v.dim() >= 2 and v.shape[0] == 1 and v.shape[1] == L and v.shape[2:] == vs[0].shape[2:]
                         for v, L in zip(vs, lens))
        if not time_major:
            raise ValueError(f"localization input {k!r}: per-video shapes {[list(v.shape) for v in vs[:3]]} are "
                             "neither equal nor [1, T_i, ...]")
        T = max(lens)
        pad = vs[0].new_zeros((len(vs), T, *vs[0].shape[2:]))
        for j, v in enumerate(vs):
            pad[j, : v.shape[1]] = v[0]
        out[k] = pad
    return out


# ---------------------------------------------------------------------- checkpoints
def load(checkpoints: str | os.PathLike | Sequence[str | os.PathLike], *, device: str = "auto",
         overrides: Sequence[str] = ()) -> Predictor:
    """A :class:`Predictor` from one checkpoint, or from single-stream checkpoints of a two-stream model
    (e.g. ``[rgb.pt, flow.pt]``, fused by the profile).

    Each checkpoint's model is built with its own saved model config; the predictor's config (profile,
    data and evaluation settings) is the first checkpoint's with ``overrides`` (``key=value``; the
    ``data.*``, ``localize.*``, ``eval.*`` and ``train.eval_*`` keys matter here) applied.

    Raises:
        FileNotFoundError / ValueError: an unreadable checkpoint; checkpoints of different models,
            class lists, feature widths or ``seconds_per_snippet``; a stream given twice; a joint model
            given more than once; weights that do not fit (each message names the file).
    """
    from wtal.models import get_spec

    paths = [os.fspath(checkpoints)] if isinstance(checkpoints, (str, os.PathLike)) else \
        [os.fspath(c) for c in checkpoints]
    if not paths:
        raise ValueError("load: no checkpoint given")
    loaded = [(p, load_checkpoint(p)) for p in paths]
    p0, ck0 = loaded[0]
    m0 = ck0["model"]
    spec = get_spec(m0["name"], f"{p0}: model.name")
    owner: dict[str, str] = {}
    for p, ck in loaded:
        m = ck["model"]
        if m["name"] != m0["name"]:
            raise ValueError(f"{p}: a {m['name']!r} checkpoint cannot be fused with the {m0['name']!r} "
                             f"checkpoint {p0}")
        if len(loaded) > 1 and not spec.two_stream:
            raise ValueError(f"{p}: {spec.name} is a joint model; give exactly one checkpoint (got {len(loaded)})")
        for key, what in (("classes", "class list"), ("feature_dim", "feature width"),
                          ("stream_dims", "rgb/flow widths"), ("seconds_per_snippet", "seconds_per_snippet")):
            if _norm(m.get(key)) != _norm(m0.get(key)):
                raise ValueError(f"{p}: {what} {_short(m.get(key))} differs from {_short(m0.get(key))} of {p0}")
        for s in m["streams"]:
            if s in owner:
                raise ValueError(f"{p}: the {s} stream is given twice (also in {owner[s]})")
            owner[s] = p
    dev = resolve_device(device)
    models = {}
    for p, ck in loaded:
        cfg_p = config_from_dict(ck["config"], f"{p} (saved config)")
        for s, entry in ck["model"]["streams"].items():
            model = spec.build(int(entry["feature_dim"]), len(m0["classes"]), cfg_p.model_config())
            try:
                model.load_state_dict(entry["state_dict"])
            except RuntimeError as exc:
                raise ValueError(f"{p}: weights of the {s} stream do not fit the model ({exc})") from None
            models[s] = model.to(dev).eval()
    cfg = config_from_dict(ck0["config"], f"{p0} (saved config)")
    for a in overrides:
        apply_override(cfg, a)
    cfg.model.streams = [s for s in spec.streams if s in models]
    cfg.validate()
    return Predictor(spec, models, classes=m0["classes"], seconds_per_snippet=float(m0["seconds_per_snippet"]),
                     feature_dim=int(m0["feature_dim"]), stream_dims=m0.get("stream_dims"), config=cfg,
                     device=dev, sources=paths)


def _norm(v: Any) -> Any:
    return [_norm(x) for x in v] if isinstance(v, (list, tuple)) else v


def _short(v: Any) -> str:
    if isinstance(v, (list, tuple)) and len(v) > 6:
        return f"[{len(v)} entries: {', '.join(map(str, v[:3]))}, ...]"
    return repr(_norm(v))


__all__ = ["Predictor", "load", "PROFILE_EXTRAS", "check_compatible", "resolve_device", "build_dataset", "data_label",
           "subset_indices",
           "filter_columns", "ground_truth_classes", "length_batches", "stream_features", "concat_detections",
           "localize_profile", "evaluate", "write_metrics"]
