"""FAC-Net hyper-parameters as a dataclass (torch-free, so configs load without importing torch).

Defaults are the authors' effective THUMOS14 values (LeonHLJ/FAC-Net ``train_options.py`` and
``model/main_branch.py`` at c010886; ``research/seed_models.md`` §2). The repository has no ActivityNet
settings (its ActivityNet1.3 run used ACM-Net's features and pipeline with unreleased changes, author in
LeonHLJ/FAC-Net#9) and the paper's implementation details (§4.2: widths 1024, δ = 5, τ ∈ {1, 2, 5},
λ = 1 / 0.1 / 0.1) are stated once for both datasets, so there is no ``activitynet()`` variant: the
ActivityNet config uses these same model settings (``docs/models.md``, FAC-Net).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from wtal.models.registry import TWO_STREAM, ModelSpec

#: The three branches, in the order of the paper (its Table 3 columns).
BRANCHES = ("cw", "ca", "mil")


@dataclass
class FacNetConfig:
    """Architecture, loss weights and the ablation switches of FAC-Net.

    Each ``use_<branch>`` flag removes that branch's loss from the total (the paper's Table 3); the
    weights of the others are unchanged. ``use_hybrid=False`` keeps one attention, at
    ``temperatures[0]`` (1.0: Table 3's rows without hybrid attention, Table 4's "(1) ~ 1.0").
    ``use_background=False`` is the paper's "FAC-Net w/o BG": C action centres, labels ``y`` without a
    background entry in every branch.
    """

    # architecture (model/main_branch.py)
    hidden_dim: int = 0            # first embedding layer width; 0: the input width (Linear(n_in, n_in))
    embed_dim: int = 1024          # out_feat_num
    embed_kernel: int = 1          # 1: per-snippet Linear layers (the code); odd k > 1: Conv1d(k) layers,
                                   # the paper's "temporal convolutional network" (kernel not given there)
    dropout: float = 0.5
    scale: float = 5.0             # δ, scale of the snippet cosine scores (scale_factor)
    temperatures: list = field(default_factory=lambda: [1.0, 2.0, 5.0])   # τ of the hybrid attention
    video_scale: float = 2.0       # the code multiplies the video-level logits by 2 (CW/CA: δ·2 = 10,
                                   # MIL: 2·Σ A S); 1.0: the paper's Eqs. 4, 11 and 13
    video_scores: str = "ca"       # the branch whose video prediction the profile reads (authors: ca_pred)
    # loss (train_Processor.train, model/losses.py)
    w_cw: float = 1.0              # lambda_cw
    w_ca: float = 0.1              # lambda_ca
    w_mil: float = 0.1             # lambda_mil
    label_eps: float = 1e-8        # NormalizedCrossEntropy: y / (sum(y) + 1e-8)
    # ablation switches (Table 3)
    use_cw: bool = True
    use_ca: bool = True
    use_mil: bool = True
    use_hybrid: bool = True
    use_background: bool = True

    def weights(self) -> dict[str, float]:
        """Effective weight of each branch loss, 0 for disabled ones."""
        return {b: (float(getattr(self, f"w_{b}")) if getattr(self, f"use_{b}") else 0.0) for b in BRANCHES}

    def temperature_values(self) -> tuple[float, ...]:
        """The attention temperatures in use: all of ``temperatures``, or only the first without hybrid
        attention."""
        taus = tuple(float(t) for t in self.temperatures)
        return taus if self.use_hybrid else taus[:1]

    def validate(self) -> None:
        key = "model.facnet"
        for name in ("hidden_dim", "embed_dim", "embed_kernel"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{key}.{name} must be an integer, got {v!r}")
        if self.hidden_dim < 0:
            raise ValueError(f"{key}.hidden_dim must be >= 0 (0: the input width), got {self.hidden_dim}")
        if self.embed_dim < 1:
            raise ValueError(f"{key}.embed_dim must be >= 1, got {self.embed_dim}")
        if self.embed_kernel < 1 or self.embed_kernel % 2 == 0:
            raise ValueError(f"{key}.embed_kernel must be an odd integer >= 1, got {self.embed_kernel}")
        if not _finite(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"{key}.dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("scale", "video_scale"):
            v = getattr(self, name)
            if not _finite(v) or v <= 0:
                raise ValueError(f"{key}.{name} must be a finite number > 0, got {v!r}")
        if isinstance(self.temperatures, (str, bytes)) or not isinstance(self.temperatures, (list, tuple)) \
                or not self.temperatures:
            raise ValueError(f"{key}.temperatures must be a non-empty list of numbers, got {self.temperatures!r}")
        for t in self.temperatures:
            try:
                ok = not isinstance(t, bool) and math.isfinite(float(t)) and float(t) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"{key}.temperatures must hold finite numbers > 0, got {self.temperatures!r}")
        if self.video_scores not in BRANCHES:
            raise ValueError(f"{key}.video_scores must be one of {list(BRANCHES)}, "
                             f"got {self.video_scores!r}")
        for b in BRANCHES:
            v = getattr(self, f"w_{b}")
            if not _finite(v) or v < 0:
                raise ValueError(f"{key}.w_{b} must be a finite number >= 0, got {v!r}")
        if not _finite(self.label_eps) or self.label_eps < 0:
            raise ValueError(f"{key}.label_eps must be a finite number >= 0, got {self.label_eps!r}")
        if not any(self.weights().values()):
            raise ValueError(f"{key}: every branch loss is disabled (use_cw, use_ca, use_mil or their "
                             "weights w_cw, w_ca, w_mil)")

    @classmethod
    def thumos14(cls) -> "FacNetConfig":
        return cls()


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


SPEC = ModelSpec(
    name="facnet",
    display_name="FAC-Net",
    paper="Huang, Wang, Li: Foreground-Action Consistency Network for Weakly Supervised Temporal Action "
          "Localization, ICCV 2021",
    module="wtal.models.facnet",
    model_class="FACNet",
    config_module=__name__,
    config_class="FacNetConfig",
    profile="localize_facnet",
    profile_config="FacNetLocalizeConfig",
    streams=TWO_STREAM,
    configs=("facnet_thumos14", "facnet_activitynet13", "facnet_synthetic"),
    plot_signal="cas",     # softmax snippet probabilities: what the profile thresholds
    plot_attention="",     # the profile reads no attention
    plot_weighted=False,
)
