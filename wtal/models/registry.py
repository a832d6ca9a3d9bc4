"""The model registry: one torch-free table of every wtal model.

Each model contributes one :class:`ModelSpec`, the ``SPEC`` of its torch-free config module
``wtal/models/<name>_config.py`` (next to the config dataclass). The registry finds those modules
itself, so config validation, ``wtal demo/train/localize/plot/compare`` and every help string list
models from here, and no model name is written anywhere else. Listing models imports neither torch
nor any model code; :meth:`ModelSpec.build` does.

Adding a model (``docs/models.md``): a module with the ``nn.Module``, a torch-free ``*_config``
module with its config dataclass and ``SPEC``, YAML files in ``wtal/configs/``. A model that lives
outside the package (a plugin, or a toy model in a test) registers at run time with :func:`register`.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any

#: The stream layouts a spec may declare: one model on the joint features, or one model per stream
#: (trained side by side, fused by the profile at test time).
JOINT = ("joint",)
TWO_STREAM = ("rgb", "flow")


@dataclass(frozen=True)
class ModelSpec:
    """Everything the trainer and the commands need to know about one model.

    Attributes:
        name: registry key, the ``model.name`` of configs (``[a-z0-9_]``).
        display_name: as the paper writes it, for tables and plots.
        paper: short citation.
        module, model_class: where the ``torch.nn.Module`` lives (imported on :meth:`build`).
        config_module, config_class: the torch-free model-config dataclass (``model.<name>``).
        profile, profile_config: the ``wtal.localize`` function and its ``*LocalizeConfig`` class.
        streams: ``("joint",)`` or ``("rgb", "flow")``: two models, one per stream, fused by the
            profile, whose stream inputs are named ``<key>_rgb`` / ``<key>_flow``.
        configs: packaged config names (``wtal/configs/<name>.yaml``); the one ending in
            ``_synthetic`` is what ``wtal demo`` trains.
        default: the model of ``wtal demo`` and of a config that names none (exactly one spec).
        plot_signal: key of ``localization_inputs`` that ``wtal plot`` draws per class
            (``[B, T, >=C]``), and ``plot_attention`` the ``[B, T]`` key drawn above it ("" for none).
        plot_weighted: the plotted class signal is multiplied by the attention (what the profile
            thresholds or scores).
        plot_thresholds: thresholds drawn on the plot, or () for the profile config's ``thresholds``.
    """

    name: str
    display_name: str
    paper: str
    module: str
    model_class: str
    config_module: str
    config_class: str
    profile: str
    profile_config: str
    streams: tuple[str, ...] = JOINT
    configs: tuple[str, ...] = ()
    default: bool = False
    plot_signal: str = "cas"
    plot_attention: str = "attention"
    plot_weighted: bool = False
    plot_thresholds: tuple[float, ...] = ()

    @property
    def two_stream(self) -> bool:
        return tuple(self.streams) == TWO_STREAM

    @property
    def demo_config(self) -> str:
        """The packaged config ``wtal demo --model NAME`` trains (``<name>_synthetic``)."""
        for c in self.configs:
            if c.endswith("_synthetic"):
                return c
        raise ValueError(f"model {self.name!r} ships no synthetic config (needed by wtal demo)")

    def config_type(self) -> type:
        """The model-config dataclass (torch-free)."""
        return getattr(importlib.import_module(self.config_module), self.config_class)

    def model_type(self) -> type:
        """The ``nn.Module`` class (imports torch)."""
        return getattr(importlib.import_module(self.module), self.model_class)

    def profile_function(self):
        """The ``wtal.localize`` profile function."""
        import wtal.localize

        return getattr(wtal.localize, self.profile)

    def profile_config_type(self) -> type:
        import wtal.localize

        return getattr(wtal.localize, self.profile_config)

    def build(self, feature_dim: int, num_classes: int, config: Any = None):
        """A new model for ``feature_dim``-d features (one stream's width for two-stream models) and
        ``num_classes`` classes; ``config`` defaults to the config dataclass's defaults."""
        if config is None:
            config = self.config_type()()
        return self.model_type()(feature_dim, num_classes, config)


_REGISTRY: dict[str, ModelSpec] | None = None


def _check(spec: Any, origin: str) -> ModelSpec:
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"{origin} must be a ModelSpec, got {type(spec).__name__}")
    if tuple(spec.streams) not in (JOINT, TWO_STREAM):
        raise ValueError(f"model {spec.name!r}: streams must be {JOINT} or {TWO_STREAM}, got {spec.streams}")
    return spec


def _discover() -> dict[str, ModelSpec]:
    import wtal.models as pkg

    found: dict[str, ModelSpec] = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.name.endswith("_config"):
            continue
        spec = getattr(importlib.import_module(f"{pkg.__name__}.{info.name}"), "SPEC", None)
        if spec is None:
            continue
        _check(spec, f"{pkg.__name__}.{info.name}.SPEC")
        if spec.name in found:
            raise ValueError(f"model {spec.name!r} is registered twice")
        found[spec.name] = spec
    defaults = [s.name for s in found.values() if s.default]
    if len(defaults) != 1:
        raise ValueError(f"exactly one registered model must be the default, got {defaults}")
    return found


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model defined outside ``wtal/models`` (a plugin, or a toy model in a test) to the registry.

    Its ``module`` and ``config_module`` must be importable. It cannot be the default model and its
    name must be new. Configs built afterwards accept ``model.name: <name>`` and a ``model.<name>``
    section. Returns ``spec``.
    """
    _check(spec, "register(spec)")
    specs = _loaded()
    if spec.name in specs:
        raise ValueError(f"model {spec.name!r} is already registered")
    if spec.default:
        raise ValueError(f"model {spec.name!r}: a registered plugin cannot be the default model")
    specs[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a model added by :func:`register` (the packaged models cannot be removed)."""
    specs = _loaded()
    if name not in specs:
        raise ValueError(f"model {name!r} is not registered")
    if name in _PACKAGED:
        raise ValueError(f"model {name!r} is a packaged model and cannot be unregistered")
    del specs[name]


_PACKAGED: frozenset[str] = frozenset()


def _loaded() -> dict[str, ModelSpec]:
    global _REGISTRY, _PACKAGED
    if _REGISTRY is None:
        _REGISTRY = _discover()
        _PACKAGED = frozenset(_REGISTRY)
    return _REGISTRY


def registry() -> dict[str, ModelSpec]:
    """``{name: ModelSpec}`` of every registered model, in name order."""
    return dict(sorted(_loaded().items()))


def model_names() -> list[str]:
    return list(registry())


def default_model() -> str:
    return next(s.name for s in registry().values() if s.default)


def get_spec(name: str, key: str = "model.name") -> ModelSpec:
    """The spec of model ``name``; ``ValueError`` naming ``key`` and the registered models if unknown."""
    specs = registry()
    if name not in specs:
        raise ValueError(f"{key}: unknown model {name!r}; registered models: {', '.join(specs)}")
    return specs[name]


def models_help() -> str:
    """``"name (Display name), ..."`` for help strings."""
    return ", ".join(f"{s.name} ({s.display_name})" for s in registry().values())


__all__ = ["ModelSpec", "JOINT", "TWO_STREAM", "registry", "register", "unregister", "model_names",
           "default_model", "get_spec", "models_help"]
