"""The model contract, as code: what the trainer, the inference module and the commands rely on.

``tests/test_model_contract.py`` checks every registered model against it the same way.
Torch-free at import (annotations only).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import torch


@runtime_checkable
class WTALModel(Protocol):
    """A ``torch.nn.Module`` built as ``cls(feature_dim, num_classes, config)``.

    Attributes:
        feature_dim: D of the features it reads (one stream's width for a two-stream model).
        num_classes: C action classes (no background).
        find_unused_parameters: what DDP needs (True when some parameters get no gradient in a step,
            e.g. a branch an ablation switch turns off).

    Contract (``tests/test_model_contract.py``):

    * ``forward(features [B, T, D], lengths [B]) -> dict`` of tensors; positions past ``lengths[b]``
      never influence anything of video ``b``: a padded batch gives each video's outputs alone.
    * ``loss(outputs, batch, *, epoch, step) -> dict``: ``total`` is optimised, the other entries
      are named terms that are logged. ``batch`` holds ``labels [B, C]`` float multi-hot,
      ``lengths [B]`` and ``features`` (this model's: one stream's columns for a two-stream model). Every term is the **mean over the batch's videos** of a per-video value
      computed from that video's own snippets, so summed or averaged gradient accumulation over
      single videos equals one padded batch. ``epoch`` (0-based, the epoch being trained) and
      ``step`` (optimizer steps done before this one) drive schedules; both are restored exactly
      by ``--resume``.
    * ``localization_inputs(outputs) -> dict``: the positional parameters of the model's
      ``wtal.localize`` profile (for a two-stream model without the ``_rgb``/``_flow`` suffix;
      ``lengths`` is shared), float tensors in float32 or float64.
    * Optional ``param_groups() -> list[dict]``: optimizer parameter groups (``params`` plus
      per-group options such as ``lr``), else all parameters in one group.
    """

    feature_dim: int
    num_classes: int
    find_unused_parameters: bool

    def __call__(self, features: "torch.Tensor", lengths: "torch.Tensor") -> dict[str, "torch.Tensor"]: ...

    def loss(self, outputs: dict[str, "torch.Tensor"], batch: dict[str, Any], *, epoch: int,
             step: int) -> dict[str, "torch.Tensor"]: ...

    def localization_inputs(self, outputs: dict[str, "torch.Tensor"]) -> dict[str, "torch.Tensor"]: ...


__all__ = ["WTALModel"]
