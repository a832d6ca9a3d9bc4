"""HAM-Net hyper-parameters as a dataclass (torch-free, so configs load without importing torch).

Defaults are the authors' effective THUMOS14 values (asrafulashiq/hamnet ``system/system_th.py`` after
``options.py``'s argument resolution; ``research/seed_models.md`` §1). ``activitynet()`` gives the
effective ActivityNet1.2 values (``system/system_anet.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from wtal.models.registry import ModelSpec

LOSS_TERMS = ("bcl", "hal", "sal", "ssal", "sparse", "guide")


@dataclass
class HamNetConfig:
    """Architecture, loss and training-time pooling settings of HAM-Net.

    Loss weights are the *effective* per-term weights of the authors' code: with ``lm_1, lm_2``
    (loss_1/loss_2 multipliers), ``wt = drop_prob``, ``alpha`` and ``beta``, the code's
    ``lm_1*mean(wt*HAL + (1-wt)*BCL) + lm_2*mean(wt*SSAL + (1-wt)*SAL) + alpha*sparse + beta*guide``
    gives THUMOS14 BCL 0.8, HAL 0.2, SAL 0.8, SSAL 0.2, sparse 0.8, guide 0.8.

    Each ``use_<term>`` flag removes that term from the total (the paper's Table 1 ablation); the
    weights of the remaining terms are unchanged.
    """

    # architecture
    cls_hidden: int = 0            # 0: the feature dimension (authors: 2048 -> 2048 convs)
    att_hidden: int = 512
    dropout: float = 0.7           # classifier dropout before the last 1x1 conv (ANet: 0.5)
    smooth_kernel: int = 0         # ANet AvgPool1d kernel after both heads; 0 = off (ANet: 17)
    # MIL pooling
    topk_ratio: int = 10           # `rat`: k = max(1, T // rat) (ANet: 20)
    gamma: float = 0.2             # `drop_thres`
    drop_threshold: str = "max"    # "max": thr = gamma * max_t a (what the released training runs:
                                   # `_loss_fn` calls `self.net(features)` with include_min=False);
                                   # "range": thr = min + gamma * (max - min) (adl_include_min='true')
    include_min: bool = True       # `adl_include_min`: masked snippets take the snippet's min logit
    pooling: str = "op"            # "op": wtal.ops.hybrid_attention_pool; "eager": authors' code;
                                   # "auto": the op when this build has it, else eager
    # effective loss weights (THUMOS14)
    w_bcl: float = 0.8
    w_hal: float = 0.2
    w_sal: float = 0.8
    w_ssal: float = 0.2
    w_sparse: float = 0.8
    w_guide: float = 0.8
    # ablation switches
    use_bcl: bool = True
    use_hal: bool = True
    use_sal: bool = True
    use_ssal: bool = True
    use_sparse: bool = True
    use_guide: bool = True

    def weights(self) -> dict[str, float]:
        """Effective weight of each loss term, 0 for disabled ones."""
        return {t: (float(getattr(self, f"w_{t}")) if getattr(self, f"use_{t}") else 0.0) for t in LOSS_TERMS}

    def validate(self) -> None:
        if self.drop_threshold not in ("max", "range"):
            raise ValueError(f"model.hamnet.drop_threshold must be 'max' or 'range', got {self.drop_threshold!r}")
        if self.pooling not in ("op", "eager", "auto"):
            raise ValueError(f"model.hamnet.pooling must be 'op', 'eager' or 'auto', got {self.pooling!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.hamnet.dropout must be in [0, 1), got {self.dropout}")
        if self.topk_ratio < 1:
            raise ValueError(f"model.hamnet.topk_ratio must be >= 1, got {self.topk_ratio}")
        if self.smooth_kernel < 0 or (self.smooth_kernel and self.smooth_kernel % 2 == 0):
            raise ValueError(f"model.hamnet.smooth_kernel must be 0 or odd, got {self.smooth_kernel}")
        if self.att_hidden < 1 or self.cls_hidden < 0:
            raise ValueError("model.hamnet.att_hidden must be >= 1 and model.hamnet.cls_hidden >= 0")
        if not any(getattr(self, f"use_{t}") for t in LOSS_TERMS):
            raise ValueError("model.hamnet: every loss term is disabled (use_bcl ... use_guide)")

    @classmethod
    def thumos14(cls) -> "HamNetConfig":
        return cls()

    @classmethod
    def activitynet(cls) -> "HamNetConfig":
        # lm_1=0.25, lm_2=2, drop_prob=0.5, alpha=0.5, beta=0.1; rat=20, rat2=5 with T=80 -> kernel 17
        return replace(cls(), dropout=0.5, smooth_kernel=17, topk_ratio=20,
                       w_bcl=0.125, w_hal=0.125, w_sal=1.0, w_ssal=1.0, w_sparse=0.5, w_guide=0.1)


SPEC = ModelSpec(
    name="hamnet",
    display_name="HAM-Net",
    paper="Islam, Long, Radke: A Hybrid Attention Mechanism for Weakly-Supervised Temporal Action "
          "Localization, AAAI 2021",
    module="wtal.models.hamnet",
    model_class="HAMNet",
    config_module=__name__,
    config_class="HamNetConfig",
    profile="localize_hamnet",
    profile_config="HamNetLocalizeConfig",
    configs=("hamnet_thumos14", "hamnet_activitynet12", "hamnet_synthetic"),
    default=True,
    plot_signal="cas",
    plot_attention="attention",
    plot_weighted=True,   # the profile scores s = cas * attention
)
