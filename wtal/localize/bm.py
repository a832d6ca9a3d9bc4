"""WSAL-BM post-processing profile, as the closest public code does it (bfshi/DGAM
``lib/core/function.py test_final`` + ``lib/utils/utils.py``; research/seed_models.md §4.5), batched.

Inputs, per stream (one model per stream):

* ``tcam_*`` ``[B, T, C]``: the T-CAM logits ``x W[:C]^T`` (no background column, no sigmoid).
* ``attention_*`` ``[B, T]``: the foreground attention λ in [0, 1].
* ``video_scores_*`` ``[B, C]``: class probabilities, ``softmax(W x_fg)`` over C+1 with the
  background column dropped (the repository's ``class_result``).

Steps for a stream ("self", with the other stream "other"):

1. Predicted classes: ``video_scores > class_threshold`` (0.1); if none exceeds it, the argmax. The
   repository then tests ``if prediction.any()``, which is False when the only predicted class is
   index 0: that stream yields nothing for the video (``drop_class0_only``).
2. ``wtCAM = λ σ(tCAM_self)``; score channel ``λ (α λ σ(tCAM_self) + (1 - α) λ σ(tCAM_other))``
   (α 0.35 RGB / 0.65 flow on THUMOS14; λ applied twice, the other stream weighted by this stream's λ).
3. Linear upsampling ×``scale`` (20) of wtCAM, the score channel and λ
   (:func:`wtal.ops.upsample_linear`, scipy ``interp1d`` with extrapolation).
4. Thresholded signal ``0.8 wtCAM + 0.2 λ²`` (on ActivityNet first ``gaussian_filter1d(σ=25)``,
   :func:`wtal.ops.gaussian_smooth`) ``> threshold`` (0.03 RGB / 0.08 flow on THUMOS14, 0.01 on
   ActivityNet); every maximal run (``if temp_list.any()`` drops a lone index 0).
5. Score ``mean(inner) - 0.3 (left + right)`` on the score channel, outer windows ``len // 4 + 1``
   (:func:`wtal.ops.oic_scores`, variant ``bm``).
6. Times ``index * seconds_per_snippet / scale``: the repository's
   ``idx * 16 * v_len / (scale * NUM_SEGMENTS * 25)`` with ``seconds_per_snippet = 16 * v_len /
   (25 * NUM_SEGMENTS)`` for its uniformly resampled ``NUM_SEGMENTS`` snippets (``16 / 25`` when the
   features are not resampled). ``seconds_per_snippet`` may be given per video.

Fusion: for a video where both streams predicted something, each class predicted by both streams gets
the union of the two streams' proposals (exact duplicates merged), sorted by descending score (ties:
descending start, then end, as the repository's structured ``np.sort`` reversed), then NMS with IoU
``> 0.5`` (``torchvision.ops.nms``); classes predicted by one stream pass through unchanged, and a
video with one stream only outputs that stream.

Output order: video (batch order), class index, descending score (ties: NMS/selection order).
Departures, on purpose: float64 throughout (the repository casts the fusion NMS input to float32
tensors, which can only matter for an IoU within float32 rounding of 0.5); a length-1 video is held
constant by the upsampling (scipy refuses it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from wtal.localize import _common as cm
from wtal.localize.detections import Detections

__all__ = ["BMLocalizeConfig", "localize_bm"]


@dataclass(frozen=True)
class BMLocalizeConfig:
    """Settings of the BM profile; defaults are DGAM's THUMOS14 test settings.

    Attributes:
        class_threshold: predicted classes have ``video_scores > this`` (else the argmax).
        alpha_rgb, alpha_flow: weight of the stream's own T-CAM in its score channel.
        threshold_rgb, threshold_flow: threshold of the signal ``0.8 wtCAM + 0.2 λ²`` (strict ``>``).
        scale: upsampling factor (``TEST.SCALE``).
        smooth_sigma: Gaussian smoothing of the upsampled signal before thresholding (ActivityNet:
            25), ``None`` for none.
        cam_weight, attention_weight: the 0.8 and 0.2 of the signal.
        outer_ratio: outer windows are ``int(outer_ratio * len) + 1`` positions (``len // 4 + 1``).
        outer_weight: weight of ``left + right`` outer means (0.3).
        fusion_iou: IoU threshold of the fusion NMS (strict ``>``, torchvision's rule).
        drop_class0_only: reproduce ``if prediction.any()`` (a stream predicting only class 0 yields
            nothing for that video).
    """

    class_threshold: float = 0.1
    alpha_rgb: float = 0.35
    alpha_flow: float = 0.65
    threshold_rgb: float = 0.03
    threshold_flow: float = 0.08
    scale: int = 20
    smooth_sigma: float | None = None
    cam_weight: float = 0.8
    attention_weight: float = 0.2
    outer_ratio: float = 0.25
    outer_weight: float = 0.3
    fusion_iou: float = 0.5
    drop_class0_only: bool = True

    @classmethod
    def thumos14(cls) -> "BMLocalizeConfig":
        return cls()

    @classmethod
    def activitynet(cls) -> "BMLocalizeConfig":
        """DGAM's ActivityNet settings: α 0.5/0.5, threshold 0.01/0.01 after σ=25 smoothing."""
        return cls(alpha_rgb=0.5, alpha_flow=0.5, threshold_rgb=0.01, threshold_flow=0.01,
                   smooth_sigma=25.0)

    def validate(self) -> None:
        from wtal.ops._arrays import check_float, check_positive_int

        for name in ("class_threshold", "alpha_rgb", "alpha_flow", "threshold_rgb", "threshold_flow",
                     "cam_weight", "attention_weight", "outer_weight"):
            check_float(getattr(self, name), f"config.{name}")
        check_positive_int(self.scale, "config.scale")
        check_float(self.outer_ratio, "config.outer_ratio", lo=0.0)
        check_float(self.fusion_iou, "config.fusion_iou", lo=0.0, hi=1.0)
        if self.smooth_sigma is not None and check_float(self.smooth_sigma, "config.smooth_sigma") <= 0:
            raise ValueError("config.smooth_sigma must be > 0 or None")


def _predicted(vs, threshold: float, drop_class0_only: bool):
    """[B, C] bool of predicted classes and [B] bool 'stream produces proposals'."""
    torch = cm.torch_mod()
    above = vs > threshold
    any_above = vs.max(dim=1).values > threshold
    onehot = torch.zeros_like(above)
    onehot[torch.arange(vs.shape[0], device=vs.device), vs.argmax(dim=1)] = True
    pred = torch.where(any_above[:, None], above, onehot)
    check = pred[:, 1:].any(dim=1) if drop_class0_only else pred.any(dim=1)
    return pred, check


def _stream(tc_self, tc_other, att, pred, check, lens_host, lens, sps, alpha, threshold, config):
    """Proposals of one stream: (key, start, end, score, t_start, t_end) in (pair, time) order."""
    from wtal.ops import connected_components, gaussian_smooth, oic_scores, upsample_linear

    torch = cm.torch_mod()
    dev = tc_self.device
    C = tc_self.shape[2]
    pb, pc = torch.nonzero(pred & check[:, None], as_tuple=True)
    out = {k: [] for k in ("key", "score", "t0", "t1")}
    if pb.shape[0] == 0:
        return None
    pb_host = pb.cpu().numpy()
    scale = config.scale
    for idx, Tb in cm.buckets(lens_host[pb_host]):
        idx_t = torch.from_numpy(idx).to(dev)
        bi, ci = pb[idx_t], pc[idx_t]
        nb = bi.shape[0]
        a = att[bi, :Tb].to(torch.float64)
        wt = a * torch.sigmoid(tc_self[:, :Tb][bi, :, ci].to(torch.float64))
        sub = a * torch.sigmoid(tc_other[:, :Tb][bi, :, ci].to(torch.float64))
        score_ch = a * (alpha * wt + (1 - alpha) * sub)
        lb = lens[bi]
        up, up_len = upsample_linear(torch.cat([wt, score_ch, a]), torch.cat([lb, lb, lb]), scale)
        up_wt, up_score, up_a = up[:nb], up[nb:2 * nb], up[2 * nb:]
        up_len = up_len[:nb]
        sig = config.cam_weight * up_wt + config.attention_weight * up_a * up_a
        if config.smooth_sigma is not None:
            sig = gaussian_smooth(sig, up_len, config.smooth_sigma)
        seg = connected_components(sig, up_len, np.asarray([threshold], dtype=np.float64),
                                   drop_index0_only_runs=True)
        if seg.row.shape[0] == 0:
            continue
        sc = oic_scores(up_score, up_len, seg.row, seg.start, seg.end, variant="bm",
                        outer_ratio=config.outer_ratio, outer_weight=config.outer_weight)
        f = sps[bi[seg.row]] / scale
        out["key"].append(bi[seg.row] * C + ci[seg.row])
        out["score"].append(sc)
        out["t0"].append(seg.start.to(torch.float64) * f)
        out["t1"].append(seg.end.to(torch.float64) * f)
    if not out["key"]:
        return None
    return tuple(torch.cat(out[k]) for k in ("key", "score", "t0", "t1"))


@cm.single_threaded_torch
def localize_bm(tcam_rgb: Any, attention_rgb: Any, video_scores_rgb: Any, tcam_flow: Any,
                attention_flow: Any, video_scores_flow: Any, lengths: Any, *, videos: Sequence[str],
                classes: Sequence[str], seconds_per_snippet: Any,
                config: BMLocalizeConfig = BMLocalizeConfig()) -> Detections:
    """BM (DGAM reading) two-stream detections for a padded batch (see the module docstring).

    Args:
        tcam_rgb, tcam_flow: ``[B, T, C]`` T-CAM logits of each stream.
        attention_rgb, attention_flow: ``[B, T]`` attention of each stream.
        video_scores_rgb, video_scores_flow: ``[B, C]`` class probabilities of each stream.
        lengths: ``[B]`` valid snippets per video, integers in ``[1, T]``.
        videos: ``B`` video names. classes: ``C`` class names.
        seconds_per_snippet: scalar or ``[B]`` seconds per (input, not upsampled) snippet.
        config: :class:`BMLocalizeConfig` (:meth:`BMLocalizeConfig.activitynet` for ActivityNet).

    Returns:
        :class:`Detections` in seconds, ordered by video, class, then descending score.

    Raises:
        ValueError: shapes that disagree, ``lengths`` outside ``[1, T]``, NaN or inf in the valid part of an
            input (the message names it).
        TypeError: non-float inputs, non-integer ``lengths``.
    """
    from wtal.ops import nms

    torch = cm.torch_mod()
    if not isinstance(config, BMLocalizeConfig):
        raise TypeError(f"config must be a BMLocalizeConfig, got {type(config).__name__}")
    config.validate()
    tr = cm.to_tensor(tcam_rgb, "tcam_rgb", 3)
    B, T, C = tr.shape
    if C < 1:
        raise ValueError("tcam_rgb must have at least one class column")
    dev = tr.device
    tf = cm.to_tensor(tcam_flow, "tcam_flow", 3)
    ar = cm.to_tensor(attention_rgb, "attention_rgb", 2)
    af = cm.to_tensor(attention_flow, "attention_flow", 2)
    vr = cm.to_tensor(video_scores_rgb, "video_scores_rgb", 2)
    vf = cm.to_tensor(video_scores_flow, "video_scores_flow", 2)
    for name, t, shape in (("tcam_flow", tf, (B, T, C)), ("attention_rgb", ar, (B, T)),
                           ("attention_flow", af, (B, T)), ("video_scores_rgb", vr, (B, C)),
                           ("video_scores_flow", vf, (B, C))):
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {list(shape)} to match tcam_rgb [B, T, C], "
                             f"got {list(t.shape)}")
    cm.check_same_device(dev, tcam_flow=tf, attention_rgb=ar, attention_flow=af, video_scores_rgb=vr,
                         video_scores_flow=vf)
    lens_host, lens = cm.lengths_arg(lengths, B, T, dev)
    vnames = cm.names_arg(videos, B, "videos", "one per video")
    cnames = cm.names_arg(classes, C, "classes", "C = tcam_rgb.shape[2]")
    sps = torch.from_numpy(cm.seconds_arg(seconds_per_snippet, B)).to(dev)
    for name, t in (("tcam_rgb", tr), ("tcam_flow", tf), ("attention_rgb", ar), ("attention_flow", af)):
        cm.check_nan(t, lens, name)
    for name, t in (("video_scores_rgb", vr), ("video_scores_flow", vf)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or inf")
    if B == 0:
        return Detections.empty()

    pr, cr = _predicted(vr, config.class_threshold, config.drop_class0_only)
    pf, cf = _predicted(vf, config.class_threshold, config.drop_class0_only)
    props_r = _stream(tr, tf, ar, pr, cr, lens_host, lens, sps, config.alpha_rgb, config.threshold_rgb, config)
    props_f = _stream(tf, tr, af, pf, cf, lens_host, lens, sps, config.alpha_flow, config.threshold_flow, config)
    parts = [p for p in (props_r, props_f) if p is not None]
    if not parts:
        return Detections.empty()
    key, score, t0, t1 = (torch.cat([p[i] for p in parts]) for i in range(4))

    # Fusion groups: classes predicted by both streams of a video where both streams are active.
    fuse_group = ((pr & cr[:, None]) & (pf & cf[:, None])).reshape(-1)
    fused = fuse_group[key]
    fi = torch.nonzero(fused, as_tuple=True)[0]
    if fi.shape[0]:
        k, s, a0, a1 = key[fi], score[fi], t0[fi], t1[fi]
        # key ascending, then score, start, end descending (the repository's reversed np.sort)
        o = cm.stable_argsort(a1, descending=True)
        o = o[cm.stable_argsort(a0[o], descending=True)]
        o = o[cm.stable_argsort(s[o], descending=True)]
        o = o[cm.stable_argsort(k[o])]
        k, s, a0, a1 = k[o], s[o], a0[o], a1[o]
        dup = torch.zeros_like(k, dtype=torch.bool)
        if k.shape[0] > 1:
            dup[1:] = (k[1:] == k[:-1]) & (s[1:] == s[:-1]) & (a0[1:] == a0[:-1]) & (a1[1:] == a1[:-1])
        u = torch.nonzero(~dup, as_tuple=True)[0]
        k, s, a0, a1 = k[u], s[u], a0[u], a1[u]
        keep, _ = nms(torch.stack([a0, a1], dim=1), s, groups=k, method="hard", overlap="iou",
                      iou_threshold=config.fusion_iou, suppress_equal=False)
        rest = torch.nonzero(~fused, as_tuple=True)[0]
        key = torch.cat([k[keep], key[rest]])
        score = torch.cat([s[keep], score[rest]])
        t0 = torch.cat([a0[keep], t0[rest]])
        t1 = torch.cat([a1[keep], t1[rest]])

    vid, cls = key // C, key % C
    o = cm.canonical_order(vid, cls, score)
    return cm.to_detections(vnames, cnames, vid[o], cls[o], t0[o], t1[o], score[o])
