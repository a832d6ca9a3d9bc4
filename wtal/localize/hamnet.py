"""HAM-Net post-processing profile (asrafulashiq/hamnet ``system/tester.py`` + ``utils/utils.py``).

What the authors' test loop does for one video, and what :func:`localize_hamnet` does for a whole
padded batch at once (research/seed_models.md §1.4):

1. ``s = cas * attention`` (``cas``: logits of C classes + background, background last; the
   background column is multiplied too).
2. Video scores: mean of the ``k = max(1, T // ratio)`` largest values of ``s`` over time, per class,
   softmax over the C+1 columns, background dropped.
3. Classes with video score ``>= class_threshold`` (0.2); no argmax fallback: a video without such a
   class yields nothing.
4. Thresholded signal: the class-agnostic **attention**, at ``np.linspace(0.1, 0.9, 10)``, strict
   ``>``; every maximal run is a proposal (no minimum length). The authors' ``if temp_list.any()``
   test skips a threshold whose only above-threshold position is index 0 (``drop_index0_only``).
5. Score: outer-inner contrast on ``s[:, c]`` (no softmax), outer windows of 0.25·len on each side
   (see :func:`wtal.ops.oic_scores`, variant ``hamnet``), plus ``gamma * video_score[c]`` (0.2).
6. Times: ``start * seconds_per_snippet`` and ``(last + 1) * seconds_per_snippet``.
7. Per (video, class), over all thresholds: Gaussian soft-NMS (sigma 0.3) with the ``+1`` IoU on
   seconds; every proposal is kept with its decayed score.

Output order: video (batch order), class index, then descending final score (ties: soft-NMS
selection order; the selection order itself is not always descending in the final score, because the
Gaussian decay raises negative scores). Known differences from the repository, all on purpose:

* Ties: when two *different* segments of one (video, class) have exactly the same current score during
  soft-NMS, wtal selects the one that came first (threshold, then time); the repository's
  ``np.argmax`` runs over an array it permutes while selecting, so it can pick another one. With
  real-valued scores this does not happen; the tests exercise both cases.
* Everything is computed in float64 (the repository uses float32 torch outputs); the tester skips test
  videos without ground-truth labels, which a post-processing step cannot know about.
* ``seconds_per_snippet`` may differ per video; ``16 / 25`` reproduces the repository (its
  ``t_factor = 16 * v_len / (scale * num_segments * 25)`` with ``scale = 1`` and ``v_len =
  num_segments``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from wtal.localize import _common as cm
from wtal.localize.detections import Detections

__all__ = ["HamNetLocalizeConfig", "localize_hamnet", "hamnet_video_scores"]

# CPU tensors take the fused C++ path of hamnet_video_scores; tests turn this off to run the torch
# path (the one CUDA tensors take) on the CPU.
_NUMPY_TOPK_ON_CPU = True
# CPU tensors score all proposals in one oic_scores kernel call that reads s = cas * attention in
# place; tests turn this off to run the bucketed path (the one CUDA tensors take) on the CPU.
_IN_PLACE_OIC_ON_CPU = True


@dataclass(frozen=True)
class HamNetLocalizeConfig:
    """Settings of the HAM-Net profile; defaults are the repository's THUMOS14 test settings.

    Attributes:
        ratio: top-k pooling ratio of the video score, ``k = max(1, T // ratio)`` (``rat``; 10 on
            THUMOS14, 20 on ActivityNet: :meth:`activitynet`).
        class_threshold: keep classes with video score ``>=`` this (``class_thresh``).
        thresholds: attention thresholds (``act_thresh = np.linspace(0.1, 0.9, 10)``), strict ``>``.
        gamma: weight of the video score added to each proposal score (``gamma_oic``).
        outer_ratio: outer-window ratio of the OIC score (``lambda_``).
        sigma: Gaussian soft-NMS width.
        drop_index0_only: reproduce ``if temp_list.any()`` (a threshold whose only above-threshold
            position is index 0 gives no proposal).
    """

    ratio: int = 10
    class_threshold: float = 0.2
    thresholds: tuple[float, ...] = field(
        default_factory=lambda: tuple(float(x) for x in np.linspace(0.1, 0.9, 10)))
    gamma: float = 0.2
    outer_ratio: float = 0.25
    sigma: float = 0.3
    drop_index0_only: bool = True

    @classmethod
    def thumos14(cls) -> "HamNetLocalizeConfig":
        return cls()

    @classmethod
    def activitynet(cls) -> "HamNetLocalizeConfig":
        return cls(ratio=20)

    def validate(self) -> None:
        from wtal.ops._arrays import check_float, check_positive_int

        check_positive_int(self.ratio, "config.ratio")
        check_float(self.class_threshold, "config.class_threshold")
        check_float(self.gamma, "config.gamma")
        check_float(self.outer_ratio, "config.outer_ratio", lo=0.0)
        if check_float(self.sigma, "config.sigma") <= 0:
            raise ValueError("config.sigma must be > 0")
        th = np.asarray(self.thresholds, dtype=np.float64)
        if th.ndim != 1 or th.size == 0 or np.isnan(th).any():
            raise ValueError("config.thresholds must be a non-empty 1-D sequence of numbers (no NaN)")


def hamnet_video_scores(cas, att, lens_host: np.ndarray, lens, ratio: int):
    """HAM-Net's video scores ``softmax(topk_mean(cas * attention))`` [B, C+1] in float64.

    ``cas`` [B, T, C+1], ``att`` [B, T]; products and means in float64; the top-k mean uses
    ``k = max(1, len // ratio)``; the order of the float64 sum of the k largest is unspecified (the
    paths agree to its rounding, ~k ulp). CPU: one fused C++ kernel
    (``_C.scaled_topk_mean``); otherwise torch per length bucket. Both read only the valid part of each
    row and raise ValueError naming ``cas`` or ``attention`` for NaN or inf there."""
    torch = cm.torch_mod()
    B, T, K = cas.shape
    dev = cas.device
    if dev.type == "cpu" and _NUMPY_TOPK_ON_CPU:
        # One fused C++ pass (threads over videos): products, selection and sum over the valid
        # prefixes only, NaN checks included.
        from wtal._ext import _C

        pooled = _C.scaled_topk_mean(np.ascontiguousarray(cas.numpy()), np.ascontiguousarray(att.numpy()),
                                     np.ascontiguousarray(lens_host, dtype=np.int64), int(ratio))
        return torch.softmax(torch.from_numpy(pooled), dim=1)
    pooled = torch.empty(B, K, dtype=torch.float64, device=dev)
    for idx, Tb in cm.buckets(lens_host, 1.3):
        lb_host = lens_host[idx]
        kb_host = np.maximum(lb_host // ratio, 1)
        kmax = int(kb_host.max())
        idx_t = torch.from_numpy(idx).to(dev)
        sub = cas[:, :Tb].index_select(0, idx_t).to(torch.float64)
        ab = att[:, :Tb].index_select(0, idx_t).to(torch.float64)
        lb = lens.index_select(0, idx_t)
        cm.check_nan(ab, lb, "attention", rows=idx)
        cm.check_nan(sub, lb, "cas", rows=idx)
        sub = (sub * ab[..., None]).transpose(1, 2)
        valid = torch.arange(Tb, device=dev)[None, :] < lb[:, None]
        sub = sub.masked_fill(~valid[:, None, :], float("-inf"))
        top = torch.topk(sub, kmax, dim=-1).values.cumsum(-1)
        kb = torch.from_numpy(kb_host).to(dev)
        total = top.gather(-1, (kb - 1)[:, None, None].expand(-1, K, 1)).squeeze(-1)
        pooled[idx_t] = total / kb[:, None].to(torch.float64)
    return torch.softmax(pooled, dim=1)


@cm.single_threaded_torch
def localize_hamnet(cas: Any, attention: Any, lengths: Any, *, videos: Sequence[str],
                    classes: Sequence[str], seconds_per_snippet: Any,
                    config: HamNetLocalizeConfig = HamNetLocalizeConfig()) -> Detections:
    """HAM-Net detections for a padded batch of videos (see the module docstring for the steps).

    Args:
        cas: ``[B, T, C+1]`` snippet class logits, background last (HAM-Net's ``element_logits``
            before the attention product), float32/float64, numpy or torch (CPU or CUDA).
        attention: ``[B, T]`` class-agnostic foreground attention in [0, 1] (``element_atn``), same
            kind and device as ``cas``.
        lengths: ``[B]`` valid snippets per video, integers in ``[1, T]``; positions from
            ``lengths[b]`` on are ignored (padding may hold anything, NaN included).
        videos: ``B`` video names.
        classes: ``C`` class names (background excluded).
        seconds_per_snippet: scalar or ``[B]``; ``16 / 25`` for I3D features at 25 fps.
        config: :class:`HamNetLocalizeConfig`.

    Returns:
        :class:`Detections` in seconds, ordered by video, class, then descending score.

    Raises:
        ValueError: shapes that disagree, ``lengths`` outside ``[1, T]``, NaN or inf in the valid part of
            ``cas`` or ``attention`` (the message names the input), bad names or config values.
        TypeError: non-float ``cas``/``attention``, non-integer ``lengths``.
    """
    from wtal.ops import connected_components, nms, nms_settings

    torch = cm.torch_mod()
    if not isinstance(config, HamNetLocalizeConfig):
        raise TypeError(f"config must be a HamNetLocalizeConfig, got {type(config).__name__}")
    config.validate()
    x = cm.to_tensor(cas, "cas", 3)
    a = cm.to_tensor(attention, "attention", 2)
    B, T, K = x.shape
    if K < 2:
        raise ValueError(f"cas must have C+1 >= 2 columns (classes + background), got {K}")
    C = K - 1
    if tuple(a.shape) != (B, T):
        raise ValueError(f"attention must have shape [B, T] = [{B}, {T}] to match cas, got {list(a.shape)}")
    dev = x.device
    cm.check_same_device(dev, attention=a)
    lens_host, lens = cm.lengths_arg(lengths, B, T, dev)
    vnames = cm.names_arg(videos, B, "videos", "one per video")
    cnames = cm.names_arg(classes, C, "classes", "C = cas.shape[2] - 1")
    sps = torch.from_numpy(cm.seconds_arg(seconds_per_snippet, B)).to(dev)
    if B == 0 or T == 0:
        return Detections.empty()
    a = a.contiguous()

    # 1-2: suppressed CAS and video scores, one length bucket at a time (never the padded tail).
    video_score = hamnet_video_scores(x, a, lens_host, lens, config.ratio)[:, :C]

    # 3: (video, class) pairs, row-major.
    pb, pc = torch.nonzero(video_score >= config.class_threshold, as_tuple=True)
    P = int(pb.shape[0])
    if P == 0:
        return Detections.empty()

    # 4: components of the attention, shared by every selected class of a video.
    seg = connected_components(a, lens, np.asarray(config.thresholds, dtype=np.float64),
                               drop_index0_only_runs=config.drop_index0_only)
    seg_row, seg_start, seg_end = seg.row, seg.start, seg.end
    per_video = torch.bincount(seg_row, minlength=B)
    first = cm.exclusive_cumsum(per_video)
    # index_select throughout: advanced indexing of 1-D CPU tensors costs ~4x more
    owner, within = cm.expand_ranges(per_video.index_select(0, pb))   # pair-major, then threshold, then time
    pbo, pco = pb.index_select(0, owner), pc.index_select(0, owner)
    si = first.index_select(0, pbo) + within
    starts, ends = seg_start.index_select(0, si), seg_end.index_select(0, si)
    S = int(owner.shape[0])
    if S == 0:
        return Detections.empty()

    # 5: OIC on s[:, :, c] of each pair.
    if dev.type == "cpu" and _IN_PLACE_OIC_ON_CPU:
        score = _oic_cpu(x, a, lens, pb, pc, owner, starts, ends, config)
    else:
        score = _oic_bucketed(x, a, lens, lens_host, pb, pc, per_video, starts, ends, S, config)
    score = score + config.gamma * video_score[pb, pc].index_select(0, owner)

    # 6-7: seconds, then one batched soft-NMS over all (video, class) groups.
    f = sps.index_select(0, pbo)
    t = torch.empty((S, 2), dtype=torch.float64, device=dev)
    torch.mul(starts, f, out=t[:, 0])
    torch.mul(ends, f, out=t[:, 1])
    groups = pbo * C + pco                                   # sorts as (video, class)
    settings = nms_settings("hamnet")
    settings["sigma"] = config.sigma
    # Groups ascend as (video, class); within a group by final score, which is not always the
    # selection order (decays raise negative scores).
    keep, kept = nms(t, score, groups=groups, kept_order="score", **settings)
    g = groups.index_select(0, keep)
    t = t.index_select(0, keep)
    return cm.to_detections(vnames, cnames, g // C, g % C, t[:, 0], t[:, 1], kept)


def _oic_cpu(x, a, lens, pb, pc, owner, starts, ends, config: HamNetLocalizeConfig):
    """OIC scores on the CPU in one kernel call: the row of pair p is the strided column
    x[pb[p], :, pc[p]] times a[pb[p], :] (products in float64, as in the bucketed path), read in place."""
    from wtal._ext import _C
    from wtal.ops.oic_scores import OIC_VARIANTS

    torch = cm.torch_mod()
    xn, an = np.ascontiguousarray(x.numpy()), np.ascontiguousarray(a.numpy())
    T, K = xn.shape[1], xn.shape[2]
    b = pb.numpy()
    out = _C.oic_scores(xn.reshape(-1), b * (T * K) + pc.numpy(), lens.numpy()[b], owner.numpy(),
                        starts.numpy(), ends.numpy(), OIC_VARIANTS.index("hamnet"), float(config.outer_ratio),
                        1.0, stride=K, scale=an.reshape(-1), scale_start=b * T)
    return torch.from_numpy(out)


def _oic_bucketed(x, a, lens, lens_host, pb, pc, per_video, starts, ends, S: int, config: HamNetLocalizeConfig):
    """OIC scores one length bucket of pairs at a time (padded rows; the CUDA path)."""
    from wtal.ops import oic_scores

    torch = cm.torch_mod()
    dev = x.device
    score = torch.empty(S, dtype=torch.float64, device=dev)
    pb_host = pb.cpu().numpy()
    pair_first = cm.exclusive_cumsum(per_video[pb])               # first segment of each pair
    for idx, Tb in cm.buckets(lens_host[pb_host]):
        idx_t = torch.from_numpy(idx).to(dev)
        bi = pb[idx_t]
        local, within_b = cm.expand_ranges(per_video[bi])         # bucket-local pair, then segment
        if local.shape[0] == 0:
            continue
        m = pair_first[idx_t][local] + within_b
        rows = x[:, :Tb][bi, :, pc[idx_t]].to(torch.float64) * a[bi, :Tb].to(torch.float64)
        score[m] = oic_scores(rows, lens[bi], local, starts[m], ends[m], variant="hamnet",
                              outer_ratio=config.outer_ratio, outer_weight=1.0)
    return score
