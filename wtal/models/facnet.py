"""FAC-Net (Huang, Wang, Li, ICCV 2021) as coded in LeonHLJ/FAC-Net (``model/main_branch.py``:
``WSTAL``, ``FeatureEmbedding``; ``model/losses.py``: ``NormalizedCrossEntropy``; ``train_Processor.py``),
spec in ``research/seed_models.md`` §2.

One model per stream (RGB or flow, 1024-d each); the ``facnet`` profile fuses the two at test time.
Per snippet: an embedding ``x_emb`` (two Linear+ReLU+Dropout(0.5) layers, no temporal context), then
cosine scores against C+1 action centres (background last) and one foreground centre, scaled by δ = 5.
Attention is a softmax **over time** of those scores times each temperature τ ∈ {1, 2, 5}:

* CW (class-wise foreground classification): per class j, the class-wise attention pools ``x_emb``
  into a class feature, whose cosine with the foreground centre is its foreground logit; softmax over
  the C+1 classes; label ``[y, 0]`` normalised.
* CA (class-agnostic attention): the foreground attention pools ``x_emb`` into one video feature,
  whose cosines with the action centres are class logits; softmax; label ``[y, 0]``.
* MIL: the class-wise attention pools the snippet scores themselves; softmax; label ``[y, 1]``.

Each branch averages its logits over τ before the softmax (hybrid attention). Loss:
``1.0 L_cw + 0.1 L_ca + 0.1 L_mil``, each a ``NormalizedCrossEntropy``
``-sum_c y_c / (sum y + 1e-8) log p_c``. At test, the profile reads the snippet probabilities
``softmax(scores)`` over C+1 and the CA prediction as video scores.

Where the paper and the authors' code disagree, wtal follows the **code** (it produced the published
numbers) and says so; the paper's version is a switch where that is cheap:

1. Embedding: the paper (§3.1) describes "a two-layer temporal convolutional network"; the code has two
   ``nn.Linear`` layers applied per snippet. wtal: Linear (``embed_kernel=1``); ``embed_kernel=k`` (odd)
   uses ``Conv1d(k, padding k // 2)`` layers instead (the paper gives no kernel size).
2. Dropout: the paper says dropout comes before every activation; the code applies ReLU then Dropout.
   Both orders compute the same function with the same mask (dropout scales by 0 or 1/(1-p) >= 0,
   which commutes with ReLU). wtal: the code's order, so the random stream matches too.
3. Video-level scale: the paper's Eqs. 4 and 11 scale the video cosines by δ = 5 and Eq. 13 (MIL) not at
   all; the code multiplies all three video logits by 2 more (``scale_factor * 2.0`` = 10 for CW/CA,
   ``* 2.0`` for MIL; its comment: "we keep the scale of cosine similarity as 10.0"). wtal: code
   (``video_scale=2``); ``video_scale=1`` gives the paper's equations.
4. Normalised labels: the paper's ``y / sum(y)``; the code's ``y / (sum(y) + 1e-8)``. wtal: code
   (``label_eps``).
5. Background class: the code always has one. The paper's "w/o BG" variant (Table 1, Table 3) is
   ``use_background=False``: C action centres and labels ``y`` in all three branches. Choices the paper
   leaves open: the centres are drawn exactly as with a background row (xavier over C+1 rows, the
   foreground centre initialised as minus the last row), then that row is dropped; at test a zero
   background column is appended to the snippet probabilities and video scores, so the profile's
   C+1 layout holds (it only reads the first C columns).
6. The paper's Table 3 ablations (branches, hybrid attention, background class) are the
   ``use_cw/use_ca/use_mil/use_hybrid/use_background`` switches; neither the paper nor the code says
   which video scores the variants without the CA branch were tested with: ``video_scores`` picks the
   branch (default ``ca``, the code's ``ca_pred``).

wtal departures that do not change the authors' numbers:

* L2 normalisation (the code's ``calculate_l1_norm`` is an L2 norm) clamps the norm at 1e-12 like
  ``F.normalize``: identical wherever the code's division is finite, 0 instead of NaN for an all-zero
  embedding (which ReLU + dropout can produce with small widths).
* ``log_softmax`` of the logits instead of ``log(softmax)``: equal up to rounding (the logits are
  bounded by the scales, so the code's version never underflows either).
* Variable lengths: the softmax over time runs over each video's own snippets (``lengths``), padded
  snippets are zeroed in the embedding, so a padded batch gives each video's outputs alone (the code
  only ever sees one full-length video). Every loss term is the batch mean of per-video values; the
  authors sum the losses of 10 single videos per optimizer step, which the trainer reproduces with
  ``train.accumulate_reduction: sum`` (each micro-batch's ``total`` times its number of videos).
* Parameter names equal the code's (``feature_embedding.process.{0,3}``, ``ac_center``, ``fg_center``),
  so the authors' ``.pkl`` state dicts load with ``load_state_dict``; with the same ``torch.manual_seed``
  the initial weights are the code's too (same construction and init order).

Training-procedure, evaluation and configuration choices (steps, seeds, checkpoint selection,
ActivityNet, the synthetic demo): ``docs/models.md``, section FAC-Net.
"""
from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import nn

from wtal.models.facnet_config import BRANCHES, FacNetConfig

__all__ = ["FACNet", "FacNetConfig", "FeatureEmbedding", "normalized_cross_entropy"]

_NORM_EPS = 1e-12


def _l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """``x / ||x||`` along the last axis (the code's ``calculate_l1_norm``), the norm clamped at 1e-12."""
    return x / x.norm(p=2, dim=-1, keepdim=True).clamp_min(_NORM_EPS)


def _softmax_over_time(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Softmax over axis 1 (time) of ``x`` [B, T] or [B, T, K], restricted to each video's valid
    snippets (``valid`` [B, T] bool, None: all); padded positions get exactly 0."""
    if valid is None:
        return F.softmax(x, dim=1)
    mask = valid if x.dim() == 2 else valid[..., None]
    return F.softmax(x.masked_fill(~mask, float("-inf")), dim=1)


def _positive_int(v, name: str) -> int:
    try:
        n = operator.index(v)
    except TypeError:
        n = None
    if isinstance(v, bool) or n is None or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    return int(n)


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def normalized_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """The code's ``NormalizedCrossEntropy`` per video: ``-sum_c y_c / (sum y + eps) log softmax(logits)_c``.

    Args:
        logits: [B, K] video-level logits.
        labels: [B, K] non-negative targets (``[y, 0]`` or ``[y, 1]`` with a background class).

    Returns:
        [B] losses (the code takes their mean over the batch).
    """
    y = labels / (labels.sum(dim=1, keepdim=True) + eps)
    return -(y * F.log_softmax(logits, dim=-1)).sum(dim=-1)


class FeatureEmbedding(nn.Module):
    """The code's ``FeatureEmbedding``: ``Linear(D, H) ReLU Dropout Linear(H, E) ReLU Dropout`` per snippet
    (``kernel=1``), or the same with ``Conv1d(kernel)`` layers over time (the paper's description).

    Args:
        n_in, n_hidden, n_out: D, H, E.
    """

    def __init__(self, n_in: int, n_hidden: int, n_out: int, dropout: float, kernel: int = 1):
        super().__init__()

        def layer(i, o):
            return nn.Linear(i, o) if kernel == 1 else nn.Conv1d(i, o, kernel, padding=kernel // 2)

        self.process = nn.Sequential(
            layer(n_in, n_hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            layer(n_hidden, n_out), nn.ReLU(inplace=True), nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, T, D] -> [B, T, E]; with ``valid`` [B, T] bool the padded snippets are zero on input to
        every temporal convolution (zero padding at each video's own end) and in the output."""
        keep = None if valid is None else valid[..., None]
        for m in self.process:
            if isinstance(m, nn.Conv1d):
                if keep is not None:
                    x = torch.where(keep, x, x.new_zeros(()))
                x = m(x.transpose(1, 2)).transpose(1, 2)
            else:
                x = m(x)
        return x if keep is None else torch.where(keep, x, x.new_zeros(()))


def _init_weights(module: nn.Module) -> None:
    """The code's ``weights_init_random``: xavier_uniform_ weights and zero bias (Linear; also the
    Conv1d of ``embed_kernel > 1``)."""
    if isinstance(module, (nn.Linear, nn.Conv1d)):
        nn.init.xavier_uniform_(module.weight)
        module.bias.data.fill_(0)


class FACNet(nn.Module):
    """FAC-Net for one stream.

    Args:
        feature_dim: D of this stream's snippet features (1024 for I3D RGB or flow).
        num_classes: C action classes (background excluded).
        config: :class:`FacNetConfig` (authors' THUMOS14 defaults).
    """

    def __init__(self, feature_dim: int, num_classes: int, config: FacNetConfig | None = None):
        super().__init__()
        config = config if config is not None else FacNetConfig()
        if not isinstance(config, FacNetConfig):
            raise TypeError(f"config must be a FacNetConfig, got {type(config).__name__}")
        config.validate()
        feature_dim, num_classes = _positive_int(feature_dim, "feature_dim"), _positive_int(num_classes, "num_classes")
        self.config = config
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        self.temperatures = config.temperature_values()
        E = config.embed_dim
        # Construction and init in the code's order (WSTAL.__init__), so one seed gives its weights:
        # the layers' default init, xavier on the C+1 centres, fg = -background centre, xavier layers.
        self.feature_embedding = FeatureEmbedding(feature_dim, config.hidden_dim or feature_dim, E,
                                                  config.dropout, config.embed_kernel)
        centres = torch.zeros(num_classes + 1, E)
        nn.init.xavier_uniform_(centres)
        self.ac_center = nn.Parameter(centres if config.use_background else centres[:num_classes].clone())
        self.fg_center = nn.Parameter(-1.0 * centres[-1, ...][None, ...])
        self.apply(_init_weights)

    @property
    def num_outputs(self) -> int:
        """K: C+1 with the background class, else C."""
        return self.num_classes + int(self.config.use_background)

    # ------------------------------------------------------------------ forward
    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Snippet scores and the three branches' video logits.

        Args:
            features: [B, T, D] float; entries past ``lengths[b]`` are ignored.
            lengths: [B] int in [1, T], valid snippets per video (None: all T).

        Returns:
            dict with ``snippet_logits`` [B, T, K] (the code's ``frm_scrs``: δ-scaled cosines with the
            action centres, background last), ``fg_logits`` [B, T] (``frm_fg_scrs``), ``cw_logits``,
            ``ca_logits``, ``mil_logits`` [B, K] (the branches' video logits before their softmax:
            ``cw_pred = softmax(cw_logits)`` etc.) and ``lengths`` [B] int64. K = C+1 (C without the
            background class); padded positions of the snippet outputs hold 0.
        """
        if not torch.is_tensor(features) or not features.is_floating_point():
            raise TypeError(f"features must be a floating-point tensor, got "
                            f"{features.dtype if torch.is_tensor(features) else type(features).__name__}")
        if features.dim() != 3 or features.shape[-1] != self.feature_dim:
            raise ValueError(f"features must have shape [B, T, {self.feature_dim}], got {list(features.shape)}")
        B, T, _ = features.shape
        if T < 1:
            raise ValueError("features must have at least one snippet (T >= 1)")
        lengths = self._lengths(lengths, B, T, features.device)
        valid = None
        if not bool((lengths == T).all()):
            valid = torch.arange(T, device=features.device)[None, :] < lengths[:, None]
            features = torch.where(valid[..., None], features, features.new_zeros(()))
        cfg = self.config
        x_emb = self.feature_embedding(features, valid)
        n_emb = _l2_normalize(x_emb)
        n_ac = _l2_normalize(self.ac_center)
        n_fg = _l2_normalize(self.fg_center)
        scores = torch.einsum("ntd,cd->ntc", n_emb, n_ac) * cfg.scale
        fg_scores = torch.einsum("ntd,kd->ntk", n_emb, n_fg).squeeze(-1) * cfg.scale
        cw_atts = [_softmax_over_time(scores * t, valid) for t in self.temperatures]
        ca_atts = [_softmax_over_time(fg_scores * t, valid) for t in self.temperatures]
        # CW: class-wise features (un-normalised x_emb pooled), their cosine with the foreground centre
        cw = [torch.einsum("nkd,d->nk", _l2_normalize(torch.einsum("ntd,ntc->ncd", x_emb, a)), n_fg[0])
              for a in cw_atts]
        # CA: the foreground feature's cosines with the action centres
        ca = [torch.einsum("nd,cd->nc", _l2_normalize(torch.einsum("ntd,nt->nd", x_emb, a)), n_ac)
              for a in ca_atts]
        # MIL: the class-wise attention pools the (already δ-scaled) snippet scores
        mil = [torch.einsum("ntc,ntc->nc", scores, a) for a in cw_atts]
        video = cfg.scale * cfg.video_scale
        return {
            "snippet_logits": scores,
            "fg_logits": fg_scores,
            "cw_logits": torch.stack(cw, -1).mean(-1) * video,
            "ca_logits": torch.stack(ca, -1).mean(-1) * video,
            "mil_logits": torch.stack(mil, -1).mean(-1) * cfg.video_scale,
            "lengths": lengths,
        }

    @staticmethod
    def _lengths(lengths, B: int, T: int, device) -> torch.Tensor:
        if lengths is None:
            return torch.full((B,), T, dtype=torch.int64, device=device)
        if not torch.is_tensor(lengths):
            lengths = torch.as_tensor(lengths)
        if lengths.is_floating_point() or lengths.dtype == torch.bool or lengths.is_complex():
            raise TypeError(f"lengths must be an integer tensor, got {lengths.dtype}")
        if tuple(lengths.shape) != (B,):
            raise ValueError(f"lengths must have shape [{B}], got {list(lengths.shape)}")
        lengths = lengths.to(device=device, dtype=torch.int64)
        if B and (bool((lengths < 1).any()) or bool((lengths > T).any())):
            raise ValueError(f"lengths must lie in [1, T={T}], got min {int(lengths.min())}, max {int(lengths.max())}")
        return lengths

    # ------------------------------------------------------------------ loss
    @property
    def find_unused_parameters(self) -> bool:
        """True when no enabled loss reaches the foreground centre: only CW and CA use it (MIL reads the
        action centres and the embedding only), as DDP must know."""
        w = self.config.weights()
        return not (w["cw"] or w["ca"])

    def branch_labels(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(``[y, 0]``, ``[y, 1]``): the code's ``awb_labels`` (CW, CA) and ``ab_labels`` (MIL); both ``y``
        without the background class."""
        if not self.config.use_background:
            return labels, labels
        zero = torch.zeros_like(labels[:, :1])
        return torch.cat([labels, zero], dim=-1), torch.cat([labels, zero + 1], dim=-1)

    def loss(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], *, epoch: int = 0,
             step: int = 0) -> dict[str, torch.Tensor]:
        """Named loss terms: ``total`` (``w_cw L_cw + w_ca L_ca + w_mil L_mil`` over the enabled branches)
        and the unweighted ``cw, ca, mil`` (batch means of per-video ``NormalizedCrossEntropy``).

        Args:
            outputs: from ``forward``.
            batch: needs ``labels`` [B, C] multi-hot (float).
            epoch, step: unused (constant learning rate, no schedule in FAC-Net).
        """
        logits = {b: _at_least_fp32(outputs[f"{b}_logits"]) for b in BRANCHES}
        labels = batch["labels"]
        if labels.dim() != 2 or labels.shape[1] != self.num_classes:
            raise ValueError(f"batch['labels'] must have shape [B, {self.num_classes}], got {list(labels.shape)}")
        labels = labels.to(logits["cw"].device, logits["cw"].dtype)
        action, with_background = self.branch_labels(labels)
        eps = self.config.label_eps
        terms = {
            "cw": normalized_cross_entropy(logits["cw"], action, eps).mean(),
            "ca": normalized_cross_entropy(logits["ca"], action, eps).mean(),
            "mil": normalized_cross_entropy(logits["mil"], with_background, eps).mean(),
        }
        w = self.config.weights()
        total = sum(w[b] * terms[b] for b in BRANCHES if w[b] != 0.0)
        return {"total": total, **terms}

    def localization_inputs(self, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Inputs of ``wtal.localize.localize_facnet`` for this stream (the inference code adds the
        ``_rgb``/``_flow`` suffix): ``cas`` [B, T, C+1] = ``softmax(snippet_logits)`` over the classes
        (the code's ``frm_pred``), ``video_scores`` [B, C+1] = the ``video_scores`` branch's prediction
        (``ca_pred``), ``lengths`` [B]. Without the background class a zero column is appended to both."""
        cas = F.softmax(_at_least_fp32(outputs["snippet_logits"]), dim=-1)
        video = F.softmax(_at_least_fp32(outputs[f"{self.config.video_scores}_logits"]), dim=-1)
        if not self.config.use_background:
            cas = torch.cat([cas, cas.new_zeros(cas.shape[:-1] + (1,))], dim=-1)
            video = torch.cat([video, video.new_zeros(video.shape[:-1] + (1,))], dim=-1)
        return {"cas": cas, "video_scores": video, "lengths": outputs["lengths"]}
