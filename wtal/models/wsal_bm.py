"""WSAL-BM (Nguyen, Ramanan, Fowlkes, ICCV 2019), implemented from the paper
(``shared/papers/wsal_bm_iccv19.md``); no public code of the authors exists. Concrete layers follow the
closest public PyTorch reading, the pre-release BM losses of DGAM (``bfshi/DGAM-Weakly-Supervised-Action-
Localization`` 8e58599/8937f56 ``lib/models/model.py``, ``lib/core/loss.py``, ``lib/core/function.py``;
``research/seed_models.md`` §4).

One model per stream (RGB, flow), fused at test time by :func:`wtal.localize.localize_bm`. On snippet
features ``x_t`` (``[B, T, D]``):

* attention ``lambda_t = sigmoid(FC(ReLU(FC(x_t))))`` (Sec. 3.1: "two fully-connected layers with a
  ReLU activation for the first layer and a sigmoid for the second");
* foreground / background pooled features ``x_fg``, ``x_bg`` with weights ``lambda`` and ``1 - lambda``
  over each video's own snippets (Eqs. 1, 4);
* **one** linear classifier ``W`` over C+1 classes (background **last**, wtal's convention; the paper's
  index 0) applied to both pooled features (Eqs. 2, 5) and to every snippet (the T-CAM ``x_t W^T``);
* two clustering vectors ``u_fg, u_bg`` applied to both pooled features (Eqs. 8, 9).

Losses, each a per-video value averaged over the batch's videos (``WsalBmConfig`` weights, Eq. 11:
``L_fg + alpha L_bg + beta L_guide + gamma L_cluster``, alpha = beta = gamma = 0.1):

* ``fg``: ``-sum_c y'_c log p_fg[c]`` with ``y' = y / sum(y)`` (Eq. 3; multi-label videos share the
  mass equally, as DGAM's ``loss_fg``); a video without any action label is a background video
  (the paper's ``y = 0``): its target is the background class.
* ``bg``: ``-log p_bg[background]`` (the simplified Eq. 5 loss).
* ``guide``: ``(1/T) sum_t |lambda_t - fg_t| + |lambda_t - bg_t|`` with the top-down targets
  ``fg_t = max_{c in y} G(sigma) * softmax(x_t W^T)_c`` (Eq. 6 and footnote 1: smoothed per class,
  then max-pooled over the video's classes; 0 for a video without labels) and
  ``bg_t = G(sigma) * (1 - softmax(x_t W^T)_background)`` (Eq. 7).
* ``cluster``: ``-log z_fg - log z_bg`` = ``softplus(-(u_fg - u_bg) x_fg) + softplus(-(u_bg - u_fg) x_bg)``
  (Eqs. 8-10).
* ``sparse`` (Table 1's STPN row only, off by default): ``(1/T) sum_t lambda_t`` (``sparse_form="mean"``)
  or ``sum_t lambda_t`` (``"sum"``, STPN's L1 and DGAM's ``loss_sparse``).

Choices the paper leaves open, decided here (also in ``docs/models.md`` § WSAL-BM):

1. Attention width 256 (DGAM's ``ATT_IM_DIM``); PyTorch default initialisation (DGAM; the paper's
   TensorFlow initialisation is not stated).
2. No bias in ``W``, ``u_fg``, ``u_bg``: the paper's Eqs. 2, 5-9 have none, and without a bias the
   snippet T-CAM ``x_t W^T`` is exactly the classifier the pooled features see (synthetic set: 16.8
   without, 13.9 with a bias). ``bias=True`` gives DGAM's ``nn.Linear`` heads; the T-CAMs (guide
   targets and localization) then use ``W`` without the bias, as DGAM's ``loss_guide`` and
   ``get_tCAM`` do.
3. Pooling: DGAM's normalisation, ``x_fg = sum lambda x / (sum lambda + 1)`` and
   ``x_bg = sum (1-lambda) x / (sum (1-lambda) + 1e-6)`` in the losses, and
   ``sum lambda x / sum lambda`` for the test-time video scores (DGAM ``train`` / ``test_final``).
   This departs from the paper's Eqs. 1 and 4, which divide both sums by T (``pooling="paper"``):
   taken literally, that pooling lets L_bg (and L_fg) be lowered by shrinking ``x_fg`` to 0, and on
   the synthetic benchmark the attention of both streams collapses to 0 or 1 (average mAP 0.3 against
   16.8 with DGAM's pooling, 3 seeds, ``scripts/wsal_bm_synthetic.py``, docs/models.md).
   The +1 keeps a vanishing foreground from paying off. ``pooling="mean"`` is the plain weighted average
   (the paper's wording "attention-weighted average pooling"), which collapses the same way (4.0).
4. Gaussian smoothing sits on the snippet **probabilities** (after the softmax over C+1, before the max
   over the video's classes), along time over the video's own snippets with scipy's ``reflect``
   boundary (``gaussian_filter1d``), sigma = 1 snippet and radius ``int(4 sigma + 0.5)`` = 4 (DGAM);
   the paper gives no sigma.
5. The guide targets are detached (``guide_detach=True``): the paper calls them self-supervision for
   the bottom-up attention, and DGAM builds them from ``weight.data`` and a detached T-CAM, so
   ``L_guide`` trains only the attention. ``guide_detach=False`` lets it train ``W`` too.
6. Sparsity: the per-video mean of ``lambda`` (length-independent like every other term, so one weight
   fits THUMOS14's 30 s and 26 min videos alike); the sum is ``sparse_form="sum"``. Weight 0.1 when
   enabled (the paper's rule of "around 10x smaller than the foreground loss").
7. Training: Adam, lr 1e-4 (Sec. 4.2), no weight decay, one full-length video per step (Sec. 4.2: "we
   load all the segments for one video and process only one video per batch"); the epoch counts are
   wtal's choice (the paper trains "to convergence"), see the packaged configs.

Padding: positions past ``lengths[b]`` are zeroed before any layer and excluded from every pooling,
smoothing and mean, so a padded batch gives each video's single-video outputs and losses.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wtal.models.wsal_bm_config import LOSS_TERMS, WsalBmConfig
from wtal.ops.upsample import gaussian_weights

__all__ = ["WsalBm", "WsalBmConfig", "reflect_gaussian_smooth"]


def _valid_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    return torch.arange(T, device=lengths.device)[None, :] < lengths[:, None]


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def reflect_gaussian_smooth(x: torch.Tensor, lengths: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Differentiable ``scipy.ndimage.gaussian_filter1d(x[b, :L_b], axis=0)`` per video.

    Args:
        x: ``[B, T, K]`` float (time on axis 1).
        lengths: ``[B]`` int64 in ``[1, T]``.
        weights: ``[2r + 1]`` kernel (:func:`wtal.ops.upsample.gaussian_weights`).

    Returns:
        ``[B, T, K]``: each video's first ``L_b`` rows smoothed with scipy's "reflect" boundary
        (half-sample symmetric, repeated when the radius exceeds the video); rows past ``L_b`` are
        finite but meaningless (callers mask them).
    """
    B, T, K = x.shape
    r = (weights.shape[0] - 1) // 2
    t = torch.arange(T, device=x.device)[:, None] + torch.arange(-r, r + 1, device=x.device)[None, :]
    period = 2 * lengths.to(x.device)[:, None, None]
    m = torch.remainder(t[None], period)                    # [B, T, 2r+1] in [0, 2L)
    idx = torch.where(m >= period // 2, period - 1 - m, m)  # reflect into [0, L)
    taps = x.gather(1, idx.reshape(B, T * (2 * r + 1), 1).expand(B, T * (2 * r + 1), K))
    return (taps.reshape(B, T, 2 * r + 1, K) * weights.to(x.dtype)[None, None, :, None]).sum(dim=2)


class WsalBm(nn.Module):
    """WSAL-BM heads for one stream.

    Args:
        feature_dim: D, the snippet feature size of this stream (1024 for I3D RGB or flow).
        num_classes: C action classes; the classifier has C+1 outputs, background last.
        config: :class:`WsalBmConfig` (the paper's full model by default).
    """

    def __init__(self, feature_dim: int, num_classes: int, config: WsalBmConfig | None = None):
        super().__init__()
        config = config or WsalBmConfig()
        config.validate()
        if feature_dim < 1 or num_classes < 1:
            raise ValueError(f"feature_dim and num_classes must be >= 1, got {feature_dim}, {num_classes}")
        self.config = config
        self.feature_dim = int(feature_dim)
        self.num_classes = int(num_classes)
        self.att_fc1 = nn.Linear(feature_dim, config.att_hidden)
        self.att_fc2 = nn.Linear(config.att_hidden, 1)
        self.classifier = nn.Linear(feature_dim, num_classes + 1, bias=config.bias)
        self.cluster = nn.Linear(feature_dim, 2, bias=config.bias)  # rows: u_fg, u_bg
        w = torch.tensor(gaussian_weights(config.guide_sigma, config.guide_truncate).tolist(), dtype=torch.float64)
        self.register_buffer("guide_kernel", w, persistent=False)

    # ------------------------------------------------------------------ forward
    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Attention, T-CAM and pooled-feature logits.

        Args:
            features: ``[B, T, D]`` float; entries past ``lengths[b]`` are ignored.
            lengths: ``[B]`` int in ``[1, T]`` (None: all T).

        Returns:
            dict with ``attention [B, T]`` in [0, 1]; ``tcam [B, T, C+1]`` snippet logits ``x_t W^T``
            (background last, no bias); ``fg_logits``, ``bg_logits [B, C+1]`` of ``x_fg``, ``x_bg``;
            ``cluster_fg``, ``cluster_bg [B]`` the logits of ``z_fg``, ``z_bg``; ``video_scores [B, C]``
            (softmax over C+1 of the video-score pooling, background dropped); ``lengths [B]`` int64.
            Padded positions hold 0.
        """
        if features.dim() != 3 or features.shape[-1] != self.feature_dim:
            raise ValueError(f"features must have shape [B, T, {self.feature_dim}], got {list(features.shape)}")
        B, T, _ = features.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.int64, device=features.device)
        lengths = lengths.to(device=features.device, dtype=torch.int64)
        if lengths.shape != (B,):
            raise ValueError(f"lengths must have shape [{B}], got {list(lengths.shape)}")
        if B and (int(lengths.min()) < 1 or int(lengths.max()) > T):
            raise ValueError(f"lengths must lie in [1, T] = [1, {T}], got min {int(lengths.min())}, "
                             f"max {int(lengths.max())}")
        valid = _valid_mask(lengths, T)
        x = features.masked_fill(~valid[..., None], 0.0)
        att = torch.sigmoid(self.att_fc2(F.relu(self.att_fc1(x))))[..., 0]
        att = att.masked_fill(~valid, 0.0)
        tcam = F.linear(x, self.classifier.weight)  # zero on padding (x is)
        x_fg, x_bg, x_score = self._pool(x, att, valid, lengths)
        u_fg, u_bg = self.cluster(x_fg), self.cluster(x_bg)
        fg_logits = self.classifier(x_fg)
        score_logits = fg_logits if x_score is None else self.classifier(x_score)
        return {
            "attention": att,
            "tcam": tcam,
            "fg_logits": fg_logits,
            "bg_logits": self.classifier(x_bg),
            "cluster_fg": u_fg[:, 0] - u_fg[:, 1],
            "cluster_bg": u_bg[:, 1] - u_bg[:, 0],
            "video_scores": torch.softmax(score_logits, dim=-1)[:, : self.num_classes],
            "lengths": lengths,
        }

    def _pool(self, x: torch.Tensor, att: torch.Tensor, valid: torch.Tensor, lengths: torch.Tensor):
        """(x_fg, x_bg, x_score or None), each ``[B, D]``; ``None``: the video scores use ``x_fg``."""
        w_fg = att[..., None]
        w_bg = (1.0 - att).masked_fill(~valid, 0.0)[..., None]
        s_fg, s_bg = (x * w_fg).sum(1), (x * w_bg).sum(1)
        if self.config.pooling == "paper":
            n = lengths.to(x.dtype)[:, None]
            return s_fg / n, s_bg / n, None
        a_sum, b_sum = w_fg.sum(1), w_bg.sum(1)
        # guards: a video whose (1 -) attention underflows to 0 everywhere pools to 0, not NaN
        tiny = torch.finfo(x.dtype).tiny
        x_mean = s_fg / a_sum.clamp_min(tiny)
        if self.config.pooling == "mean":
            return x_mean, s_bg / b_sum.clamp_min(tiny), None
        return s_fg / (a_sum + 1.0), s_bg / (b_sum + 1e-6), x_mean

    # ------------------------------------------------------------------ loss
    @property
    def find_unused_parameters(self) -> bool:
        """True when the enabled terms leave a parameter without gradient (DDP must know): the
        classifier needs L_fg, L_bg or an undetached L_guide (its bias L_fg or L_bg); the clustering
        vectors need L_cluster. The attention is reached by every term."""
        w = self.config.weights()
        pooled = bool(w["fg"] or w["bg"])
        classifier = pooled or bool(w["guide"] and not self.config.guide_detach)
        bias = pooled or not self.config.bias
        return not (classifier and bias and w["cluster"])

    def loss(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], *, epoch: int = 0,
             step: int = 0) -> dict[str, torch.Tensor]:
        """Named loss terms: ``total`` (the weighted sum of the enabled terms, what is optimised) and the
        unweighted ``fg, bg, guide, cluster, sparse`` (batch means of per-video values; all are computed
        and logged, enabled or not).

        Args:
            outputs: from ``forward``.
            batch: needs ``labels [B, C]`` multi-hot (float).
            epoch, step: unused (WSAL-BM has no schedule).
        """
        cfg = self.config
        C = self.num_classes
        att = _at_least_fp32(outputs["attention"])
        tcam = _at_least_fp32(outputs["tcam"])
        fg_logits = _at_least_fp32(outputs["fg_logits"])
        bg_logits = _at_least_fp32(outputs["bg_logits"])
        lengths = outputs["lengths"].to(att.device)
        labels = batch["labels"].to(att.device, att.dtype)
        if labels.shape != (att.shape[0], C):
            raise ValueError(f"batch['labels'] must have shape [{att.shape[0]}, {C}], got {list(labels.shape)}")
        valid = _valid_mask(lengths, att.shape[1]).to(att.dtype)
        n = lengths.to(att.dtype)

        background_video = (labels.sum(dim=1, keepdim=True) == 0).to(att.dtype)
        target = torch.cat([labels, background_video], dim=1)
        target = target / target.sum(dim=1, keepdim=True)
        terms = {
            "fg": -(target * F.log_softmax(fg_logits, dim=-1)).sum(dim=-1).mean(),
            "bg": -F.log_softmax(bg_logits, dim=-1)[:, C].mean(),
            "guide": self._guide(att, tcam, labels, lengths, valid, n).mean(),
            "cluster": (F.softplus(-_at_least_fp32(outputs["cluster_fg"]))
                        + F.softplus(-_at_least_fp32(outputs["cluster_bg"]))).mean(),
        }
        att_sum = (att * valid).sum(dim=1)
        terms["sparse"] = (att_sum if cfg.sparse_form == "sum" else att_sum / n).mean()
        weights = cfg.weights()
        total = sum(weights[t] * terms[t] for t in LOSS_TERMS if weights[t] != 0.0)
        return {"total": total, **terms}

    def _guide(self, att, tcam, labels, lengths, valid, n) -> torch.Tensor:
        """Per-video self-guided loss ``[B]`` (Eqs. 6, 7)."""
        C = self.num_classes
        prob = torch.softmax(tcam, dim=-1)
        if self.config.guide_detach:
            prob = prob.detach()
        kernel = self.guide_kernel.to(prob.dtype)
        fg_prob = reflect_gaussian_smooth(prob[..., :C], lengths, kernel)
        bg_prob = reflect_gaussian_smooth(1.0 - prob[..., C:], lengths, kernel)[..., 0]
        target_fg = (fg_prob * labels[:, None, :]).max(dim=-1).values
        per_t = torch.zeros_like(att)
        if self.config.guide_target in ("both", "fg"):
            per_t = per_t + (att - target_fg).abs()
        if self.config.guide_target in ("both", "bg"):
            per_t = per_t + (att - bg_prob).abs()
        return (per_t * valid).sum(dim=1) / n

    def localization_inputs(self, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Arguments of :func:`wtal.localize.localize_bm` for this stream (the inference code adds the
        ``_rgb`` / ``_flow`` suffix): ``tcam [B, T, C]`` T-CAM logits without the background column,
        ``attention [B, T]``, ``video_scores [B, C]`` and ``lengths [B]``."""
        C = self.num_classes
        return {"tcam": _at_least_fp32(outputs["tcam"][..., :C]), "attention": _at_least_fp32(outputs["attention"]),
                "video_scores": _at_least_fp32(outputs["video_scores"]), "lengths": outputs["lengths"]}
