"""Training configuration: a dataclass tree loaded from YAML, with ``--set key=value`` overrides.

Every key is typed; an unknown key or a value of the wrong type raises ``ValueError`` naming the dotted
key (and the file it came from). ``dict``-typed fields (``data.options``, ``localize``) pass their
entries through to the reader / localization profile, which reject unknown names themselves.

A YAML file may start from another one, ``base: <name>`` (a packaged config, ``wtal/configs/<name>.yaml``) or
``base: ../common.yaml`` (a path relative to the file), and give only what differs: mappings are
merged key by key (recursively), anything else (lists included) replaces the base's value; bases may
have bases (a cycle is an error). A file that names no base must set ``data.kind``: a partial file
would otherwise train on the synthetic default without saying so.

Torch-free: loading a config imports neither torch nor matplotlib.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from dataclasses import dataclass, field
from typing import Any

from wtal.models.registry import default_model, get_spec, registry

THUMOS_TIOU = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]


@dataclass
class DataConfig:
    """Which dataset, which subsets, how clips are sampled for training."""

    kind: str = "synthetic"          # synthetic | wtalc | pervideo | activitynet
    root: str = ""                   # folder of the features/annotations (not for synthetic)
    name: str = ""                   # W-TALC dataset name, e.g. Thumos14reduced
    options: dict = field(default_factory=dict)   # extra keyword arguments of the reader / make_synthetic
    train_subset: str = "validation"  # THUMOS14: the "validation" videos are the training set
    test_subset: str = "test"
    val_fraction: float = 0.1        # share of the training videos held out for checkpoint selection
    val_seed: int = 0
    num_segments: int = 500          # T of a training clip (authors: 500 THUMOS14, 80 ActivityNet)
    sampling: str = "random"         # random (per-bin random index) | uniform | all (full-length videos,
                                     # zero-padded to the longest of the batch; num_segments unused)
    num_workers: int = 0


class ModelConfig:
    """``model.name``, ``model.streams`` and one section per registered model, ``model.<name>`` (that
    model's config dataclass, ``cfg.model.<name>``).

    Sections come from the registry when first used, so a model registered at run time
    (:func:`wtal.models.registry.register`) gets its section like a packaged one. Only the selected
    model's section is saved (``Config.to_dict``).

    Attributes:
        name: the registered model to train (default: the registry's default model).
        streams: the streams to train; empty: all of the model's streams (``["rgb", "flow"]`` or
            ``["joint"]``). ``[rgb]`` trains the RGB model of a two-stream model alone (the authors'
            workflow: two runs, fused by ``wtal localize --checkpoint RGB.pt --checkpoint FLOW.pt``).
    """

    def __init__(self, name: str | None = None, streams: typing.Sequence[str] = (), **sections: Any):
        object.__setattr__(self, "_sections", {})
        self.name = default_model() if name is None else name
        self.streams = list(streams)
        for k, v in sections.items():
            setattr(self, k, v)

    def keys(self) -> list[str]:
        """The keys a ``model:`` mapping may hold."""
        return ["name", "streams", *registry()]

    def section(self, name: str, key: str = "model.name") -> Any:
        """The config dataclass of model ``name`` (its defaults until set)."""
        if name not in self._sections:
            self._sections[name] = get_spec(name, key).config_type()()
        return self._sections[name]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in registry():
            raise AttributeError(f"ModelConfig has no attribute {name!r} (keys: {self.keys()})")
        return self.section(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("name", "streams"):
            object.__setattr__(self, name, value)
            return
        if name not in registry():
            raise AttributeError(f"ModelConfig has no attribute {name!r} (keys: {self.keys()})")
        want = get_spec(name).config_type()
        if not isinstance(value, want):
            raise TypeError(f"model.{name} must be a {want.__name__}, got {type(value).__name__}")
        self._sections[name] = value

    def to_dict(self) -> dict:
        return {"name": self.name, "streams": list(self.streams),
                self.name: dataclasses.asdict(self.section(self.name))}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelConfig):
            return NotImplemented
        keys = set(self._sections) | set(other._sections)
        return (self.name, self.streams) == (other.name, other.streams) and all(
            self.section(k) == other.section(k) for k in keys)

    def __repr__(self) -> str:
        return f"ModelConfig(name={self.name!r}, streams={self.streams!r}, {self.name}={self.section(self.name)!r})"


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 1e-5
    weight_decay: float = 1e-3
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    grad_clip: float = 0.0           # 0: none (the authors' released code does not clip)


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 20             # global batch of one forward/backward (split evenly across DDP ranks)
    accumulate_steps: int = 1        # micro-batches per optimizer step (gradient accumulation)
    accumulate_reduction: str = "mean"  # mean: gradient of the mean loss over the step's videos;
                                     # sum: of the sum (FAC-Net: "losses summed over 10 videos")
    drop_last: bool = False          # drop the last, smaller batch of an epoch
    eval_every: int = 5              # epochs between validation evaluations; 0: never
    checkpoint: str = "best"         # best (on validation average mAP) | last
    save_every: int = 1              # epochs between last.pt writes
    stop_after_epochs: int = 0       # end this invocation after this many epochs (resume later); 0: off
    log_every: int = 10              # optimizer steps between JSONL records
    progress: bool = True            # tqdm bars
    eval_max_snippets: int = 20000   # padded snippets per inference batch (of the localization profile)
    eval_batched_forward: bool = False  # run the model on the padded batch instead of video by video:
                                     # faster on a GPU, but a video's outputs then depend (at float
                                     # rounding, ~1e-6) on which videos share its batch


@dataclass
class EvalConfig:
    tiou: list = field(default_factory=lambda: list(THUMOS_TIOU))
    preset: str = "anet"
    test: bool = True                # localize + evaluate the test subset at the end of `wtal train`
    class_subset: str = "all"        # all | ground_truth: localize only the classes with ground truth in
                                     # the localized subset (FAC-Net's repository); for profiles that
                                     # accept class_subset
    ambiguous: bool = False          # give the dataset's ambiguous segments (THUMOS14 Ambiguous_test.txt)
                                     # to profiles that accept ambiguous (FAC-Net's repository filters them)


@dataclass
class Config:
    out_dir: str = "runs/run"
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"             # auto | cpu | cuda | cuda:N
    amp: bool = True                 # autocast (bf16, else fp16 + GradScaler) on CUDA; ignored on CPU
    num_threads: int = 0             # torch intra-op CPU threads; 0: torch's default
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    localize: dict = field(default_factory=dict)  # overrides of the model's wtal.localize profile config

    def validate(self) -> None:
        _choice("data.kind", self.data.kind, ("synthetic", "wtalc", "pervideo", "activitynet"))
        _choice("data.sampling", self.data.sampling, ("random", "uniform", "all"))
        _choice("train.checkpoint", self.train.checkpoint, ("best", "last"))
        _choice("train.accumulate_reduction", self.train.accumulate_reduction, ("mean", "sum"))
        _choice("eval.class_subset", self.eval.class_subset, ("all", "ground_truth"))
        _choice("optim.name", self.optim.name, ("adam",))
        if not 0.0 <= self.data.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {self.data.val_fraction}")
        for key in ("data.num_segments", "train.batch_size", "train.accumulate_steps", "train.eval_max_snippets"):
            if _get(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {_get(self, key)}")
        for key in ("train.epochs", "train.eval_every", "train.save_every", "train.stop_after_epochs",
                    "train.log_every", "data.num_workers", "num_threads"):
            if _get(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {_get(self, key)}")
        if self.optim.lr <= 0:
            raise ValueError(f"optim.lr must be > 0, got {self.optim.lr}")
        if len(self.optim.betas) != 2:
            raise ValueError(f"optim.betas must have 2 values, got {self.optim.betas}")
        if not self.eval.tiou or any(not 0.0 < t <= 1.0 for t in self.eval.tiou):
            raise ValueError(f"eval.tiou must be a non-empty list of values in (0, 1], got {self.eval.tiou}")
        if self.data.kind != "synthetic" and not self.data.root:
            raise ValueError(f"data.root is required for data.kind={self.data.kind!r}")
        spec = get_spec(self.model.name)
        bad = [s for s in self.model.streams if not isinstance(s, str) or s not in spec.streams]
        if bad or len(set(self.model.streams)) != len(self.model.streams):
            raise ValueError(f"model.streams: {spec.name} has streams {list(spec.streams)}, got {self.model.streams}")
        self.model_config().validate()

    def model_config(self):
        """The selected model's config dataclass (``model.<model.name>``)."""
        return self.model.section(self.model.name)

    def streams(self) -> tuple[str, ...]:
        """The streams this run trains: ``model.streams`` or all of the model's."""
        spec = get_spec(self.model.name)
        return tuple(s for s in spec.streams if s in self.model.streams) if self.model.streams else spec.streams

    def to_dict(self) -> dict:
        """Nested plain dict; ``model`` holds only the selected model's section."""
        return {f.name: (self.model.to_dict() if f.name == "model" else _plain(getattr(self, f.name)))
                for f in dataclasses.fields(self)}


def _choice(key: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{key} must be one of {list(choices)}, got {value!r}")


def _plain(value: Any) -> Any:
    import copy

    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else copy.deepcopy(value)


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


# ---------------------------------------------------------------------- typed conversion
def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    where = f" (in {source})" if source else ""
    origin = typing.get_origin(tp)
    if tp is ModelConfig:
        if not isinstance(value, dict):
            raise ValueError(f"config key '{key}' must be a mapping{where}, got {value!r}")
        return _build_model(value, key + ".", source)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"config key '{key}' must be a mapping{where}, got {value!r}")
        return _build(tp, value, key + ".", source)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        raise ValueError(f"config key '{key}' must be a boolean{where}, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"config key '{key}' must be an integer{where}, got {value!r}")
        try:
            f = float(value)
        except ValueError:
            raise ValueError(f"config key '{key}' must be an integer{where}, got {value!r}") from None
        if not f.is_integer():
            raise ValueError(f"config key '{key}' must be an integer{where}, got {value!r}")
        return int(f)
    if tp is float:
        if isinstance(value, bool):
            raise ValueError(f"config key '{key}' must be a number{where}, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"config key '{key}' must be a number{where}, got {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)) or value is None:
            raise ValueError(f"config key '{key}' must be a string{where}, got {value!r}")
        return str(value)
    if tp is list or origin is list:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config key '{key}' must be a list{where}, got {value!r}")
        return [_convert(v, float, key, source) for v in value] if key.endswith(("tiou", "betas")) else list(value)
    if tp is dict or origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"config key '{key}' must be a mapping{where}, got {value!r}")
        return dict(value)
    return value


def _unknown(key: str, choices: list[str], source: str) -> ValueError:
    hint = difflib.get_close_matches(key.rsplit(".", 1)[-1], choices, n=1)
    msg = f"unknown config key '{key}'"
    if source:
        msg += f" in {source}"
    if hint:
        msg += f" (did you mean '{key.rsplit('.', 1)[0] + '.' if '.' in key else ''}{hint[0]}'?)"
    return ValueError(msg)


def _build(cls: type, data: dict, prefix: str = "", source: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for k, v in data.items():
        if k not in names:
            raise _unknown(prefix + str(k), names, source)
        kwargs[k] = _convert(v, hints[k], prefix + k, source)
    return cls(**kwargs)


def _build_model(data: dict, prefix: str, source: str) -> ModelConfig:
    out = ModelConfig()
    for k, v in data.items():
        _set_model_key(out, str(k), v, prefix, source)
    return out


def _set_model_key(mc: ModelConfig, k: str, v: Any, prefix: str, source: str) -> None:
    if k == "name":
        mc.name = _convert(v, str, prefix + k, source)
    elif k == "streams":
        mc.streams = [str(x) for x in _convert(v, list, prefix + k, source)]
    elif k in registry():
        setattr(mc, k, _convert(v, get_spec(k).config_type(), prefix + k, source))
    else:
        raise _unknown(prefix + k, mc.keys(), source)


def config_from_dict(data: dict, source: str = "") -> Config:
    """Build a ``Config`` from a nested mapping (YAML content or a checkpoint's saved config)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{source or 'config'}: top level must be a mapping")
    return _build(Config, data, "", source)


def apply_override(cfg: Config, assignment: str) -> None:
    """Apply one ``key=value`` (dotted key; value parsed as YAML, then converted to the field's type)."""
    import yaml

    if "=" not in assignment:
        raise ValueError(f"--set expects key=value, got {assignment!r}")
    key, raw = assignment.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    parts = key.split(".")
    obj: Any = cfg
    for i, part in enumerate(parts):
        dotted = ".".join(parts[: i + 1])
        if isinstance(obj, dict):  # free-form mapping: set nested entries as given
            for sub in parts[i:-1]:
                obj = obj.setdefault(sub, {})
            obj[parts[-1]] = value
            return
        if isinstance(obj, ModelConfig):
            if part not in obj.keys():
                raise _unknown(dotted, obj.keys(), "--set")
            if i == len(parts) - 1:
                _set_model_key(obj, part, value, dotted[: -len(part)], "--set")
                return
            if part in ("name", "streams"):
                raise _unknown(".".join(parts[: i + 2]), [], "--set")
            obj = obj.section(part)
            continue
        if not dataclasses.is_dataclass(obj):
            raise _unknown(dotted, [], "--set")
        names = [f.name for f in dataclasses.fields(obj)]
        if part not in names:
            raise _unknown(dotted, names, "--set")
        if i == len(parts) - 1:
            tp = typing.get_type_hints(type(obj))[part]
            setattr(obj, part, _convert(value, tp, dotted, "--set"))
            return
        obj = getattr(obj, part)


def load_config(path: str | os.PathLike | None = None, overrides: typing.Sequence[str] = ()) -> Config:
    """Load ``path`` (YAML, with its ``base:`` chain; None: all defaults), apply ``overrides``
    (``key=value``), validate.

    Raises:
        FileNotFoundError: ``path`` (or a base) does not exist.
        ValueError: YAML syntax error, unknown key, wrong type or invalid value (names the key and file),
            a ``base:`` cycle, or a file without a base that does not set ``data.kind``.
    """
    data: dict = {}
    source = ""
    if path is not None:
        source = os.fspath(path)
        data = read_config_file(source)
    cfg = config_from_dict(data, source)  # unknown keys and wrong types first
    if path is not None:
        data_section = data.get("data")
        sets_kind = isinstance(data_section, dict) and "kind" in data_section
        if not sets_kind and not any(a.split("=", 1)[0].strip() in ("data", "data.kind") for a in overrides):
            raise ValueError(f"{source}: sets no data.kind and names no base, so it would train on the synthetic "
                             "default; add 'base: <packaged config>' (e.g. "
                             f"{', '.join(packaged_configs()[:3])}) or set data.kind "
                             "(synthetic | wtalc | pervideo | activitynet)")
    for assignment in overrides:
        apply_override(cfg, assignment)
    cfg.validate()
    return cfg


def read_config_file(path: str | os.PathLike) -> dict:
    """The mapping of a YAML config file with its ``base:`` chain merged in (see the module docstring)."""
    return _read_with_bases(os.fspath(path), ())


def _read_yaml(path: str) -> dict:
    import yaml

    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be a mapping")
    return data


def _read_with_bases(path: str, chain: tuple[str, ...]) -> dict:
    data = _read_yaml(path)
    if "base" not in data:
        return data
    base = data.pop("base")
    if not isinstance(base, str) or not base.strip():
        raise ValueError(f"{path}: base must be a packaged config name or a file path, got {base!r}")
    base_path = _resolve_base(base.strip(), path)
    here = os.path.realpath(path)
    seen = chain + (here,)
    if os.path.realpath(base_path) in seen:
        loop = " -> ".join([*seen, os.path.realpath(base_path)])
        raise ValueError(f"{path}: base {base!r} forms a cycle ({loop})")
    return merge_config_dicts(_read_with_bases(base_path, seen), data)


def _resolve_base(base: str, path: str) -> str:
    if base.endswith((".yaml", ".yml")) or "/" in base or os.sep in base:
        full = base if os.path.isabs(base) else os.path.join(os.path.dirname(os.path.abspath(path)), base)
        if not os.path.isfile(full):
            raise FileNotFoundError(f"{path}: base file not found: {full}")
        return full
    try:
        return packaged_config(base)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: base {base!r} is not a packaged config (packaged: "
                                f"{', '.join(packaged_configs())}); a file base needs a .yaml suffix or a "
                                "path") from None


def merge_config_dicts(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``: mappings merge recursively, other values replace."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_config_dicts(out[k], v)
        else:
            out[k] = v
    return out


def dump_config(cfg: Config) -> str:
    import yaml

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def _configs_dir() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def packaged_config(name: str) -> str:
    """Path of a config shipped inside the package (``wtal/configs/<name>.yaml``)."""
    path = os.path.join(_configs_dir(), f"{name}.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no packaged config named {name!r} ({path})")
    return path


def packaged_configs() -> list[str]:
    """Names of the packaged configs, sorted."""
    return sorted(f[:-5] for f in os.listdir(_configs_dir()) if f.endswith(".yaml"))


def config_diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict) and k not in ("options", "localize"):
            out += config_diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out


# keys that may change between an interrupted run and its resumption without breaking exactness
RESUMABLE_CHANGES = ("train.epochs", "train.stop_after_epochs", "train.progress", "train.log_every",
                     "train.eval_max_snippets", "eval.test", "data.num_workers", "out_dir", "num_threads",
                     "device")


def check_resume_config(saved: dict, cfg: Config, *, force: bool, source: str) -> list[str]:
    """Keys (outside ``RESUMABLE_CHANGES``) in which ``cfg`` differs from the ``saved`` config dict of
    the checkpoint ``source``.

    Raises:
        ValueError: some differ and not ``force`` (the message names the keys).
    """
    saved_cfg = config_from_dict(saved, f"{source} (saved config)").to_dict()  # fill keys added since
    changed = [k for k in config_diff(saved_cfg, cfg.to_dict()) if k not in RESUMABLE_CHANGES]
    if changed and not force:
        raise ValueError(f"--resume: the config differs from the one saved in {source} in {', '.join(changed)}; "
                         "resume with the saved config (wtal train --resume --out-dir DIR needs no config file), "
                         "or pass --force-config to resume with this one (the run will then not equal an "
                         "uninterrupted run)")
    return changed
