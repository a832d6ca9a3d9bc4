"""Training configuration: a dataclass tree loaded from YAML, with ``--set key=value`` overrides.

Every key is typed; an unknown key or a value of the wrong type raises ``ValueError`` naming the dotted
key (and the file it came from). ``dict``-typed fields (``data.options``, ``localize``) pass their
entries through to the reader / localization profile, which reject unknown names themselves.

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
    sampling: str = "random"         # random (per-bin random index) | uniform
    num_workers: int = 0


def _model_config_class() -> type:
    """``ModelConfig``: ``name``, ``streams`` and one section per registered model (``model.<name>``,
    that model's config dataclass). Only the selected model's section is saved (``Config.to_dict``)."""
    fields = [("name", str, field(default=default_model())),
              # the streams to train; empty: all of the model's streams (rgb+flow, or joint)
              ("streams", list, field(default_factory=list))]
    fields += [(name, spec.config_type(), field(default_factory=spec.config_type()))
               for name, spec in registry().items()]
    return dataclasses.make_dataclass("ModelConfig", fields)


ModelConfig = _model_config_class()


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
    batch_size: int = 20             # global batch (split evenly across DDP ranks)
    eval_every: int = 5              # epochs between validation evaluations; 0: never
    checkpoint: str = "best"         # best (on validation average mAP) | last
    save_every: int = 1              # epochs between last.pt writes
    stop_after_epochs: int = 0       # end this invocation after this many epochs (resume later); 0: off
    log_every: int = 10              # optimizer steps between JSONL records
    progress: bool = True            # tqdm bars
    eval_max_snippets: int = 20000   # padded snippets per inference batch


@dataclass
class EvalConfig:
    tiou: list = field(default_factory=lambda: list(THUMOS_TIOU))
    preset: str = "anet"
    test: bool = True                # localize + evaluate the test subset at the end of `wtal train`


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
        _choice("data.sampling", self.data.sampling, ("random", "uniform"))
        _choice("train.checkpoint", self.train.checkpoint, ("best", "last"))
        _choice("optim.name", self.optim.name, ("adam",))
        if not 0.0 <= self.data.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {self.data.val_fraction}")
        for key in ("data.num_segments", "train.batch_size", "train.eval_max_snippets"):
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
        bad = [s for s in self.model.streams if s not in spec.streams]
        if bad or len(set(self.model.streams)) != len(self.model.streams):
            raise ValueError(f"model.streams: {spec.name} has streams {list(spec.streams)}, got {self.model.streams}")
        self.model_config().validate()

    def model_config(self):
        """The selected model's config dataclass (``model.<model.name>``)."""
        return getattr(self.model, self.model.name)

    def streams(self) -> tuple[str, ...]:
        """The streams this run trains: ``model.streams`` or all of the model's."""
        spec = get_spec(self.model.name)
        return tuple(s for s in spec.streams if s in self.model.streams) if self.model.streams else spec.streams

    def to_dict(self) -> dict:
        """Nested plain dict; ``model`` holds only the selected model's section."""
        d = dataclasses.asdict(self)
        d["model"] = {k: v for k, v in d["model"].items() if k in ("name", "streams", self.model.name)}
        return d


def _choice(key: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{key} must be one of {list(choices)}, got {value!r}")


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


# ---------------------------------------------------------------------- typed conversion
def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    where = f" (in {source})" if source else ""
    origin = typing.get_origin(tp)
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
    """Load ``path`` (YAML; None: all defaults), apply ``overrides`` (``key=value``), validate.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: YAML syntax error, unknown key, wrong type or invalid value (names the key and file).
    """
    import yaml

    data: dict = {}
    source = ""
    if path is not None:
        source = os.fspath(path)
        if not os.path.isfile(source):
            raise FileNotFoundError(f"config file not found: {source}")
        try:
            with open(source, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{source}: invalid YAML ({exc})") from None
    cfg = config_from_dict(data, source)
    for assignment in overrides:
        apply_override(cfg, assignment)
    cfg.validate()
    return cfg


def dump_config(cfg: Config) -> str:
    import yaml

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def packaged_config(name: str) -> str:
    """Path of a config shipped inside the package (``wtal/configs/<name>.yaml``)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", f"{name}.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no packaged config named {name!r} ({path})")
    return path


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
