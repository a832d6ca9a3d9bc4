"""HAM-Net (Islam, Long, Radke, AAAI 2021) as coded in asrafulashiq/hamnet (``system/system_th.py``,
``system/system_anet.py``, ``utils/utils.py``), spec in ``research/seed_models.md`` §1.

Model: two temporal-conv heads on snippet features ``[B, T, D]``: a classifier giving C+1 logits per
snippet (background **last**) and a class-agnostic attention in (0, 1). Training uses six losses on
four top-k MIL poolings (``wtal.ops.hybrid_attention_pool``): BCL on the raw CAS, SAL on the
attention-weighted CAS, HAL on the CAS with the most attended snippets dropped (hard mask), SSAL on the
semi-soft attention (the attention below the threshold only), plus the sparsity and guide terms.

Where the paper and the authors' code disagree, wtal follows the **code** (it is what produced the
published numbers), and says so:

1. Drop threshold: paper ``a_i < gamma`` (absolute). The code's ``ADL`` has two branches:
   ``thr = gamma * max_t a`` (``include_min=False``) and ``thr = min_t a + gamma*(max_t a - min_t a)``
   (``include_min=True``). ``options.py`` defaults ``--adl-include-min true``, but only
   ``LightningSystem.forward`` passes it on; ``_loss_fn`` calls ``self.net(features)`` with the default
   ``include_min=False`` (asrafulashiq/hamnet 7894e05 ``system/system_th.py``), and ADL is the identity
   in eval mode, so the released training runs ``thr = gamma * max_t a``. (``research/seed_models.md``
   §1.1 and DESIGN.md describe the range branch.) wtal: what the code runs, ``drop_threshold="max"``;
   ``"range"`` is available.
2. Masked snippets: the paper zeroes them; the code's ``_multiply(x, atn, include_min=True)`` returns
   ``atn*(x - m) + m`` with ``m`` the minimum **over the C+1 classes** of that snippet (not over time), so
   a dropped snippet becomes a flat row equal to its smallest logit. wtal: code (``include_min``).
   The soft (SAL) term is the plain product ``a*s`` in the code; wtal: code.
3. Sparsity: paper ``sum_t |a_t|`` (L1); code ``mean(a)`` over batch and time. wtal: code (the sum would
   change the effective weight by a factor T).
4. Loss weights: paper Eq. 10 has independent lambda_0..3; the code mixes with ``drop_prob``:
   ``lm_1*mean(wt*HAL + (1-wt)*BCL) + lm_2*mean(wt*SSAL + (1-wt)*SAL)``. The paper's THUMOS values
   (lambda_0 = lambda_1 = 0.8, lambda_2 = lambda_3 = 0.2, alpha = beta = 0.8) equal the code's effective
   weights; the paper's ActivityNet values (all lambda 0.5, alpha 0.5, beta 0.1) do **not**: the code
   gives BCL 0.125, HAL 0.125, SAL 1.0, SSAL 1.0. wtal: the code's effective weights
   (``HamNetConfig.activitynet()``).
5. "Drop probability": the paper describes dropping; in the code ``drop_prob`` is a deterministic
   loss-mixing weight and the ADL masks are not random. wtal: code.
6. MIL labels: ``y' = [y, 1]`` (BCL, HAL) or ``[y, 0]`` (SAL, SSAL) normalised by ``sum(y') + 1e-4``, so
   background shares the mass equally with the action classes in BCL/HAL. wtal: code.
7. Guide loss: ``mean_t |1 - a_t - softmax(s_t)[bg]|`` with a per-snippet softmax over C+1, no detach.
8. Init: ``kaiming_uniform_(mode='fan_in', nonlinearity='leaky_relu')`` with the default ``a=0``
   (gain sqrt 2) although the activations are LeakyReLU(0.2); zero bias. wtal: code.
9. ActivityNet smoothing (``rat2=5``): ``AvgPool1d(17, stride 1, padding 8, count_include_pad=True)``
   after both heads, kernel fixed at 17 also at test time on full-length videos. wtal: code.

wtal additions that do not change the authors' numbers: variable-length batches (``lengths``): hidden
activations are zeroed past each video's end after every layer, so a padded batch gives the per-video
(batch 1, zero conv padding) outputs of the authors' test loop up to float rounding; top-k uses ``k_b = max(1,
length_b // ratio)`` over each video's own snippets. With all lengths equal to T (training) every term is
the authors' value.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wtal.models.hamnet_config import LOSS_TERMS, HamNetConfig

__all__ = ["HAMNet", "HamNetConfig", "hamnet_losses_eager", "hybrid_attention_pool_eager", "mil_loss"]


def _valid_mask(lengths: torch.Tensor | None, batch: int, length: int, device) -> torch.Tensor | None:
    if lengths is None:
        return None
    t = torch.arange(length, device=device)
    return t[None, :] < lengths.to(device)[:, None]


def init_weights_hamnet(module: nn.Module) -> None:
    """The authors' ``init_weights``: kaiming_uniform_(fan_in, leaky_relu, a=0) and zero bias."""
    if isinstance(module, (nn.Conv1d, nn.Linear)):
        nn.init.kaiming_uniform_(module.weight, mode="fan_in", nonlinearity="leaky_relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class HAMNet(nn.Module):
    """HAM-Net heads.

    Args:
        feature_dim: D, the snippet feature size (2048 for I3D RGB+flow).
        num_classes: C action classes; the classifier outputs C+1 logits, background last.
        config: architecture/loss settings (authors' THUMOS14 defaults).
    """

    def __init__(self, feature_dim: int, num_classes: int, config: HamNetConfig | None = None):
        super().__init__()
        config = config or HamNetConfig()
        config.validate()
        if feature_dim < 1 or num_classes < 1:
            raise ValueError(f"feature_dim and num_classes must be >= 1, got {feature_dim}, {num_classes}")
        self.config = config
        self.feature_dim = int(feature_dim)
        self.num_classes = int(num_classes)
        hid = config.cls_hidden or feature_dim
        self.cls_conv1 = nn.Conv1d(feature_dim, hid, 3, padding=1)
        self.cls_conv2 = nn.Conv1d(hid, hid, 3, padding=1)
        self.cls_drop = nn.Dropout(config.dropout)
        self.cls_out = nn.Conv1d(hid, num_classes + 1, 1)
        self.att_conv1 = nn.Conv1d(feature_dim, config.att_hidden, 3, padding=1)
        self.att_conv2 = nn.Conv1d(config.att_hidden, config.att_hidden, 3, padding=1)
        self.att_out = nn.Conv1d(config.att_hidden, 1, 1)
        self.apply(init_weights_hamnet)

    # ------------------------------------------------------------------ forward
    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Snippet logits and attention.

        Args:
            features: [B, T, D] float; entries past ``lengths[b]`` are ignored.
            lengths: [B] int, valid snippets per video (None: all T).

        Returns:
            dict with ``cas`` [B, T, C+1] logits (background last), ``attention`` [B, T] in (0, 1) and
            ``lengths`` [B] int64. Padded positions hold 0 in both.
        """
        if features.dim() != 3 or features.shape[-1] != self.feature_dim:
            raise ValueError(f"features must have shape [B, T, {self.feature_dim}], got {list(features.shape)}")
        B, T, _ = features.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.int64, device=features.device)
        lengths = lengths.to(device=features.device, dtype=torch.int64)
        full = bool((lengths == T).all())
        m = None if full else _valid_mask(lengths, B, T, features.device)[:, None, :].to(features.dtype)

        def masked(y):
            return y if m is None else y * m.to(y.dtype)

        x = masked(features.transpose(1, 2))
        h = masked(F.leaky_relu(self.cls_conv1(x), 0.2))
        h = masked(F.leaky_relu(self.cls_conv2(h), 0.2))
        cas = masked(self.cls_out(self.cls_drop(h)))
        g = masked(F.leaky_relu(self.att_conv1(x), 0.2))
        g = masked(F.leaky_relu(self.att_conv2(g), 0.2))
        att = masked(torch.sigmoid(self.att_out(g)))
        k = self.config.smooth_kernel
        if k:
            cas = masked(F.avg_pool1d(cas, k, stride=1, padding=k // 2, count_include_pad=True))
            att = masked(F.avg_pool1d(att, k, stride=1, padding=k // 2, count_include_pad=True))
        return {"cas": cas.transpose(1, 2), "attention": att[:, 0, :], "lengths": lengths}

    # ------------------------------------------------------------------ loss
    @property
    def find_unused_parameters(self) -> bool:
        """True when the enabled terms leave a head without gradient (the attention head needs SAL, SSAL,
        sparsity or guide; the classifier any term but sparsity), as DDP must know."""
        w = self.config.weights()
        attention = any(w[t] for t in ("sal", "ssal", "sparse", "guide"))
        classifier = any(w[t] for t in ("bcl", "hal", "sal", "ssal", "guide"))
        return not (attention and classifier)

    def loss(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], *, epoch: int = 0,
             step: int = 0) -> dict[str, torch.Tensor]:
        """Named loss terms: ``total`` (what is optimised: the weighted sum of the enabled terms) and the
        unweighted ``bcl, hal, sal, ssal, sparse, guide`` (batch means of per-video values).

        Args:
            outputs: from ``forward``.
            batch: needs ``labels`` [B, C] multi-hot (float).
            epoch, step: unused (HAM-Net has no schedule).
        """
        cfg = self.config
        cas = _at_least_fp32(outputs["cas"])  # AMP: losses in float32
        att = _at_least_fp32(outputs["attention"])
        lengths = outputs.get("lengths")
        labels = batch["labels"].to(cas.device, cas.dtype)
        if _use_eager(cfg.pooling):
            pooled = hybrid_attention_pool_eager(cas, att, gamma=cfg.gamma, ratio=cfg.topk_ratio, lengths=lengths,
                                                 include_min=cfg.include_min, threshold=cfg.drop_threshold)
        else:
            from wtal.ops import hybrid_attention_pool

            pooled = hybrid_attention_pool(cas, att, gamma=cfg.gamma, ratio=cfg.topk_ratio, lengths=lengths,
                                           include_min=cfg.include_min, threshold=cfg.drop_threshold)
        base, soft, semi_soft, hard = pooled
        terms = {
            "bcl": mil_loss(base, labels, is_back=True).mean(),
            "hal": mil_loss(hard, labels, is_back=True).mean(),
            "sal": mil_loss(soft, labels, is_back=False).mean(),
            "ssal": mil_loss(semi_soft, labels, is_back=False).mean(),
        }
        terms.update(_attention_terms(cas, att, lengths))
        weights = cfg.weights()
        total = sum(weights[t] * terms[t] for t in LOSS_TERMS if weights[t] != 0.0)
        if not torch.is_tensor(total):  # every enabled weight is 0
            total = cas.sum() * 0.0
        return {"total": total, **terms}

    def localization_inputs(self, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Keyword arguments for ``wtal.localize.localize_hamnet``: raw ``cas`` logits [B, T, C+1]
        (background last), ``attention`` [B, T] and ``lengths`` [B]. The profile itself forms the
        authors' ``s_supp = cas * attention`` and video scores."""
        return {"cas": outputs["cas"].float(), "attention": outputs["attention"].float(),
                "lengths": outputs["lengths"]}


# ---------------------------------------------------------------------- the authors' loss, eagerly
def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _use_eager(pooling: str) -> bool:
    if pooling == "eager":
        return True
    if pooling == "auto":
        try:
            from wtal.ops import hybrid_attention_pool  # noqa: F401
        except ImportError:
            return True
    return False


def mil_loss(pooled: torch.Tensor, labels: torch.Tensor, *, is_back: bool) -> torch.Tensor:
    """The authors' ``topkloss`` after pooling: ``-sum y' log_softmax(pooled)`` per video.

    Args:
        pooled: [B, C+1] top-k pooled logits (background last).
        labels: [B, C] multi-hot.
        is_back: background label 1 (BCL, HAL) or 0 (SAL, SSAL); ``y'`` is normalised by ``sum + 1e-4``.

    Returns:
        [B] losses.
    """
    back = torch.ones_like(labels[:, :1]) if is_back else torch.zeros_like(labels[:, :1])
    y = torch.cat([labels, back], dim=-1)
    y = y / (y.sum(dim=1, keepdim=True) + 1e-4)
    return -(y * F.log_softmax(pooled, dim=-1)).sum(dim=-1)


def _topk_mean(x: torch.Tensor, ratio: int, lengths: torch.Tensor | None) -> torch.Tensor:
    """Mean of the k largest values over time: x [B, T, K] -> [B, K], k_b = max(1, len_b // ratio)."""
    B, T, _ = x.shape
    if lengths is None or bool((lengths == T).all()):
        return torch.topk(x, k=max(1, T // ratio), dim=1).values.mean(dim=1)
    lengths = lengths.to(x.device)
    k = torch.clamp(lengths // ratio, min=1)
    valid = _valid_mask(lengths, B, T, x.device)[:, :, None]
    vals = torch.topk(x.masked_fill(~valid, float("-inf")), k=int(k.max()), dim=1).values
    take = torch.arange(vals.shape[1], device=x.device)[None, :, None] < k[:, None, None]
    return torch.where(take, vals, torch.zeros_like(vals)).sum(dim=1) / k[:, None].to(x.dtype)


def adl_masks(attention: torch.Tensor, gamma: float, lengths: torch.Tensor | None = None, threshold: str = "max"):
    """The authors' ADL: per-video threshold over time, ``thr = gamma max a`` (``threshold="max"``, what
    their training runs) or ``min a + gamma (max a - min a)`` (``"range"``); semi-soft
    ``a_drop = 1[a < thr] a``; hard ``1[a_drop > 0]``.

    Args:
        attention: [B, T]. Positions past ``lengths`` are excluded from min/max and masked out.

    Returns:
        (semi_soft [B, T], hard [B, T]); the comparison masks carry no gradient.
    """
    a = attention
    if lengths is None or bool((lengths == a.shape[1]).all()):
        valid = None
        amin = a.min(dim=1, keepdim=True).values
        amax = a.max(dim=1, keepdim=True).values
    else:
        valid = _valid_mask(lengths, a.shape[0], a.shape[1], a.device)
        amin = a.masked_fill(~valid, float("inf")).min(dim=1, keepdim=True).values
        amax = a.masked_fill(~valid, float("-inf")).max(dim=1, keepdim=True).values
    thr = (amax - amin) * gamma + amin if threshold == "range" else amax * gamma
    keep = a < thr if valid is None else (a < thr) & valid
    semi = keep.to(a.dtype) * a
    hard = (semi > 0).to(a.dtype)
    return semi, hard


def hybrid_attention_pool_eager(cas: torch.Tensor, attention: torch.Tensor, *, gamma: float, ratio: int,
                                lengths: torch.Tensor | None = None, include_min: bool = True,
                                threshold: str = "max"):
    """Eager PyTorch version of ``wtal.ops.hybrid_attention_pool``, written the authors' way
    (materialise ``s_supp``, ``s_drop``, ``s_drop_supp``, then four ``torch.topk`` calls).

    Args:
        cas: [B, T, C+1] logits; attention: [B, T].

    Returns:
        (base, soft, semi_soft, hard), each [B, C+1]: top-k means of ``s``, ``a s``,
        ``a_drop (s - m) + m`` and ``1[a_drop > 0] (s - m) + m`` with ``m`` the per-snippet minimum over
        classes (0 if not ``include_min``).
    """
    semi, hard = adl_masks(attention, gamma, lengths, threshold)
    m = cas.min(dim=-1, keepdim=True).values if include_min else 0.0
    s_supp = attention[..., None] * cas
    s_drop = hard[..., None] * (cas - m) + m
    s_drop_supp = semi[..., None] * (cas - m) + m
    return (_topk_mean(cas, ratio, lengths), _topk_mean(s_supp, ratio, lengths),
            _topk_mean(s_drop_supp, ratio, lengths), _topk_mean(s_drop, ratio, lengths))


def _attention_terms(cas: torch.Tensor, att: torch.Tensor, lengths: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Sparsity ``mean_t a`` and guide ``mean_t |1 - a - softmax(s)[bg]|`` per video, then the batch mean
    (the authors' ``mean`` over batch and time when all lengths are equal)."""
    guide = (1.0 - att - torch.softmax(cas, dim=-1)[..., -1]).abs()
    if lengths is None or bool((lengths == att.shape[1]).all()):
        return {"sparse": att.mean(), "guide": guide.mean()}
    valid = _valid_mask(lengths, att.shape[0], att.shape[1], att.device).to(att.dtype)
    n = lengths.to(att.device, att.dtype).clamp_min(1.0)
    return {"sparse": ((att * valid).sum(1) / n).mean(), "guide": ((guide * valid).sum(1) / n).mean()}


def hamnet_losses_eager(cas: torch.Tensor, attention: torch.Tensor, labels: torch.Tensor,
                        config: HamNetConfig) -> dict[str, torch.Tensor]:
    """All six unweighted terms the authors' way (full-length batch), for the benchmark baseline."""
    base, soft, semi, hard = hybrid_attention_pool_eager(cas, attention, gamma=config.gamma, ratio=config.topk_ratio,
                                                         include_min=config.include_min,
                                                         threshold=config.drop_threshold)
    out = {"bcl": mil_loss(base, labels, is_back=True).mean(), "hal": mil_loss(hard, labels, is_back=True).mean(),
           "sal": mil_loss(soft, labels, is_back=False).mean(),
           "ssal": mil_loss(semi, labels, is_back=False).mean()}
    out.update(_attention_terms(cas, attention, None))
    w = config.weights()
    out["total"] = sum(w[t] * out[t] for t in LOSS_TERMS if w[t])
    return out

