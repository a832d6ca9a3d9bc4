"""A small two-stream model for the platform tests (registered only while a test needs it).

Per stream: dropout, a linear layer, ReLU and a linear classifier over C+1 classes (background
last); the video logits are the mean of the snippet logits over the video's own snippets. Outputs
are what the FAC-Net profile (``wtal.localize.localize_facnet``) takes per stream: snippet
probabilities ``cas [B, T, C+1]`` and video probabilities ``video_scores [B, C+1]``. The loss is a
per-video MIL cross-entropy (labels ``[y, 0]`` normalised), averaged over the batch, as the contract
asks. Dropout makes the per-stream RNG handling observable.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from wtal.models.registry import ModelSpec, register, unregister

NAME = "toy_two_stream"


@dataclass
class ToyTwoStreamConfig:
    hidden: int = 16
    dropout: float = 0.5
    use_hidden: bool = True   # an ablation switch: off, the hidden layer is skipped (and unused)

    def validate(self) -> None:
        if self.hidden < 1:
            raise ValueError(f"model.{NAME}.hidden must be >= 1, got {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.{NAME}.dropout must be in [0, 1), got {self.dropout}")


class ToyTwoStream(nn.Module):
    def __init__(self, feature_dim: int, num_classes: int, config: ToyTwoStreamConfig | None = None):
        super().__init__()
        config = config or ToyTwoStreamConfig()
        config.validate()
        self.config = config
        self.feature_dim, self.num_classes = int(feature_dim), int(num_classes)
        self.drop = nn.Dropout(config.dropout)
        self.hid = nn.Linear(feature_dim, config.hidden)
        self.cls = nn.Linear(config.hidden, num_classes + 1)
        self.skip = nn.Linear(feature_dim, config.hidden)

    @property
    def find_unused_parameters(self) -> bool:
        return not self.config.use_hidden

    def param_groups(self) -> list[dict]:
        """The classifier without weight decay (exercises the optional ``param_groups``)."""
        body = [*self.hid.parameters(), *self.skip.parameters()]
        return [{"params": body}, {"params": list(self.cls.parameters()), "weight_decay": 0.0}]

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        B, T, _ = features.shape
        valid = (torch.arange(T, device=features.device)[None, :] < lengths.to(features.device)[:, None])
        m = valid.to(features.dtype)[..., None]
        x = self.drop(features)
        h = F.relu(self.hid(x)) + self.skip(x) if self.config.use_hidden else self.skip(x)
        logits = self.cls(h) * m
        video = logits.sum(1) / lengths.to(features.device, features.dtype)[:, None]
        return {"logits": logits, "video_logits": video, "lengths": lengths}

    def loss(self, outputs, batch, *, epoch: int, step: int) -> dict[str, torch.Tensor]:
        labels = batch["labels"].to(outputs["video_logits"])
        y = torch.cat([labels, torch.zeros_like(labels[:, :1])], 1)
        y = y / (y.sum(1, keepdim=True) + 1e-4)
        mil = -(y * F.log_softmax(outputs["video_logits"], -1)).sum(-1).mean()
        return {"total": mil, "mil": mil}

    def localization_inputs(self, outputs) -> dict[str, torch.Tensor]:
        return {"cas": torch.softmax(outputs["logits"], -1), "video_scores": torch.softmax(outputs["video_logits"], -1),
                "lengths": outputs["lengths"]}


SPEC = ModelSpec(name=NAME, display_name="Toy two-stream", paper="wtal tests", module=__name__,
                 model_class="ToyTwoStream", config_module=__name__, config_class="ToyTwoStreamConfig",
                 profile="localize_facnet", profile_config="FacNetLocalizeConfig", streams=("rgb", "flow"),
                 plot_signal="cas", plot_attention="")


@contextlib.contextmanager
def registered():
    """The toy model in the registry while the block runs."""
    register(SPEC)
    try:
        yield SPEC
    finally:
        unregister(NAME)


# A small synthetic run of the toy model: 16-d joint features (8 rgb + 8 flow), short videos.
TINY = [
    f"model.name={NAME}", "data.kind=synthetic",
    "data.options={kind: thumos, seed: 0, feature_dim: 16, num_videos: [24, 10], max_duration: 40, num_classes: 4}",
    "data.train_subset=train", "data.test_subset=test",
    "data.num_segments=24", "data.val_fraction=0.25", "train.batch_size=4", "train.progress=false",
    "optim.lr=1e-2", "optim.weight_decay=1e-3", "optim.grad_clip=0.05", "train.eval_every=1", "train.epochs=3", "train.log_every=1", "num_threads=1",
    "device=cpu", "deterministic=true",
    # the toy's probabilities sit near 1 / (C + 1) = 0.2: thresholds around that make short proposals
    "localize={thresholds: [0.19, 0.2, 0.21, 0.22], class_threshold: 0.1}",
]


class ToyBM(ToyTwoStream):
    """The toy with the WSAL-BM profile's per-stream inputs (a profile that needs both streams)."""

    def localization_inputs(self, outputs) -> dict[str, torch.Tensor]:
        C = self.num_classes
        probs = torch.softmax(outputs["logits"], -1)
        return {"tcam": outputs["logits"][..., :C], "attention": 1.0 - probs[..., C],
                "video_scores": torch.softmax(outputs["video_logits"], -1)[:, :C], "lengths": outputs["lengths"]}


BM_SPEC = ModelSpec(name="toy_bm", display_name="Toy BM", paper="wtal tests", module=__name__, model_class="ToyBM",
                    config_module=__name__, config_class="ToyTwoStreamConfig", profile="localize_bm",
                    profile_config="BMLocalizeConfig", streams=("rgb", "flow"), plot_signal="tcam",
                    plot_attention="attention")
