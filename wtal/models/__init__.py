"""WTAL models behind one registry (:mod:`wtal.models.registry`) and one contract
(:class:`wtal.models.protocol.WTALModel`).

``import wtal.models`` does not import torch; building a model does.
"""
from __future__ import annotations

from typing import Any

from wtal.models.protocol import WTALModel
from wtal.models.registry import (ModelSpec, default_model, get_spec, model_names, models_help, register, registry,
                                  unregister)


def build_model(name: str, *, feature_dim: int, num_classes: int, config: Any = None):
    """Instantiate registered model ``name`` for ``feature_dim``-d features and ``num_classes`` classes."""
    return get_spec(name).build(feature_dim, num_classes, config)


__all__ = ["ModelSpec", "WTALModel", "build_model", "default_model", "get_spec", "model_names", "models_help",
           "register", "registry", "unregister"]
