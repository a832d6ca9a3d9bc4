"""WSAL-BM hyper-parameters as a dataclass (torch-free, so configs load without importing torch).

Nguyen, Ramanan, Fowlkes, "Weakly-supervised Action Localization with Background Modeling", ICCV 2019
(``shared/papers/wsal_bm_iccv19.md``). No public code exists; defaults are the paper's values where it
gives them and wtal's documented decisions elsewhere (``wtal/models/wsal_bm.py`` docstring,
``docs/models.md`` § WSAL-BM). The DGAM reading (``bfshi/DGAM-Weakly-Supervised-Action-Localization``
pre-release ``lib/core/loss.py`` / ``function.py``) is reachable through switches: ``WsalBmConfig.dgam()``.

Loss weights follow the paper's Eq. 11, ``L = L_fg + alpha L_bg + beta L_guide + gamma L_cluster``, with
``alpha = beta = gamma = 0.1`` (Sec. 4.2): ``w_bg`` is alpha, ``w_guide`` is beta, ``w_cluster`` is gamma.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from wtal.models.registry import TWO_STREAM, ModelSpec

#: The loss terms of the paper's Table 1, in its column order.
LOSS_TERMS = ("fg", "bg", "guide", "cluster", "sparse")
POOLINGS = ("paper", "mean", "dgam")
GUIDE_TARGETS = ("both", "fg", "bg")
SPARSE_FORMS = ("mean", "sum")


@dataclass
class WsalBmConfig:
    """Architecture and loss settings of WSAL-BM (one model per stream).

    Each ``use_<term>`` flag is a column of the paper's Table 1: turning it off removes that term from
    the total; the weights of the other terms are unchanged. The default is the paper's full model
    (last row: fg + bg + guide + cluster, no sparsity).
    """

    # architecture (Sec. 3.1: attention = two FC layers, ReLU then sigmoid; widths from DGAM)
    att_hidden: int = 256          # DGAM ATT_IM_DIM; the paper gives no width
    bias: bool = False             # the paper's w_c, u_fg, u_bg carry no bias; DGAM's nn.Linear does
    # video-level pooling (see wtal/models/wsal_bm.py, decision 3)
    pooling: str = "dgam"          # "dgam": sum lambda x / (sum lambda + 1), sum (1-lambda) x /
                                   # (sum (1-lambda) + 1e-6); video scores from sum lambda x / sum lambda
                                   # (DGAM train / test_final). "paper": (1/T) sum lambda x and
                                   # (1/T) sum (1-lambda) x (Eqs. 1, 4, literally). "mean": the weighted
                                   # averages sum lambda x / sum lambda, sum (1-lambda) x / sum (1-lambda)
    # self-guided loss (Eqs. 6, 7)
    guide_sigma: float = 1.0       # Gaussian G(sigma) over time, in snippets (DGAM: 1)
    guide_truncate: float = 4.0    # kernel radius int(truncate * sigma + 0.5) (scipy's default)
    guide_detach: bool = True      # the top-down targets are supervision: no gradient through them (DGAM)
    guide_target: str = "both"     # "both" (the paper's loss), "fg" or "bg" target only
    # sparsity (STPN's L1 on lambda; Table 1 row 2, not part of the full model)
    sparse_form: str = "mean"      # "mean": (1/T) sum_t lambda_t; "sum": sum_t lambda_t (STPN, DGAM)
    # loss weights (Eq. 11)
    w_fg: float = 1.0
    w_bg: float = 0.1              # alpha
    w_guide: float = 0.1           # beta
    w_cluster: float = 0.1         # gamma
    w_sparse: float = 0.1          # not in Eq. 11; only with use_sparse
    # ablation switches (Table 1)
    use_fg: bool = True
    use_bg: bool = True
    use_guide: bool = True
    use_cluster: bool = True
    use_sparse: bool = False

    def weights(self) -> dict[str, float]:
        """Weight of each loss term in the total, 0 for disabled ones."""
        return {t: (float(getattr(self, f"w_{t}")) if getattr(self, f"use_{t}") else 0.0) for t in LOSS_TERMS}

    def validate(self) -> None:
        """Raise ``ValueError`` naming ``model.wsal_bm.<key>`` for an invalid value."""
        key = "model.wsal_bm"
        for name, choices in (("pooling", POOLINGS), ("guide_target", GUIDE_TARGETS),
                              ("sparse_form", SPARSE_FORMS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{key}.{name} must be one of {list(choices)}, got {getattr(self, name)!r}")
        if isinstance(self.att_hidden, bool) or not isinstance(self.att_hidden, int) or self.att_hidden < 1:
            raise ValueError(f"{key}.att_hidden must be an integer >= 1, got {self.att_hidden!r}")
        if not self.guide_sigma > 0:
            raise ValueError(f"{key}.guide_sigma must be > 0, got {self.guide_sigma}")
        if not self.guide_truncate >= 0:
            raise ValueError(f"{key}.guide_truncate must be >= 0, got {self.guide_truncate}")
        for t in LOSS_TERMS:
            w = getattr(self, f"w_{t}")
            if not (isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 and w != float("inf")):
                raise ValueError(f"{key}.w_{t} must be a finite number >= 0, got {w!r}")
        if not any(self.weights().values()):
            raise ValueError(f"{key}: every loss term is disabled or has weight 0 (use_fg ... use_sparse)")

    @classmethod
    def paper(cls) -> "WsalBmConfig":
        """The paper's full model (Table 1, last row; Eq. 11 with alpha = beta = gamma = 0.1)."""
        return cls()

    @classmethod
    def dgam(cls) -> "WsalBmConfig":
        """The BM objective of DGAM's pre-release ``train_adv`` (8e58599): biased linear heads and
        ``l_fg + 0.03 l_bg + 0.1 l_guide + 0.3 l_cluster`` (its pooling is the default)."""
        return replace(cls(), bias=True, pooling="dgam", w_bg=0.03, w_guide=0.1, w_cluster=0.3)


SPEC = ModelSpec(
    name="wsal_bm",
    display_name="WSAL-BM",
    paper="Nguyen, Ramanan, Fowlkes: Weakly-supervised Action Localization with Background Modeling, "
          "ICCV 2019",
    module="wtal.models.wsal_bm",
    model_class="WsalBm",
    config_module=__name__,
    config_class="WsalBmConfig",
    profile="localize_bm",
    profile_config="BMLocalizeConfig",
    streams=TWO_STREAM,
    configs=("wsal_bm_thumos14", "wsal_bm_activitynet13", "wsal_bm_synthetic"),
    plot_signal="tcam",
    plot_attention="attention",
    plot_weighted=True,   # the profile's wtCAM is attention x sigmoid(tcam)
)
