"""WTAL models. Each exposes ``forward(features, lengths) -> dict``, ``loss(outputs, batch) -> dict``
(key ``total`` is optimised, the others are named terms for logging) and
``localization_inputs(outputs) -> dict`` (keyword arguments of its ``wtal.localize`` profile).

``import wtal.models`` does not import torch; ``build_model`` does.
"""
from __future__ import annotations

from typing import Any

# model name -> (module, class, localize function name in wtal.localize, config field name)
MODELS: dict[str, tuple[str, str, str]] = {
    "hamnet": ("wtal.models.hamnet", "HAMNet", "localize_hamnet"),
}


def build_model(name: str, *, feature_dim: int, num_classes: int, config: Any):
    """Instantiate model ``name`` for ``feature_dim``-d features and ``num_classes`` classes."""
    import importlib

    if name not in MODELS:
        raise ValueError(f"model.name: unknown model {name!r}; available: {sorted(MODELS)}")
    module, cls, _ = MODELS[name]
    return getattr(importlib.import_module(module), cls)(feature_dim, num_classes, config)


def localize_function(name: str):
    """The ``wtal.localize`` profile function of model ``name``."""
    import wtal.localize

    return getattr(wtal.localize, MODELS[name][2])


__all__ = ["MODELS", "build_model", "localize_function"]
