"""FAC-Net post-processing profile (LeonHLJ/FAC-Net ``evaluation/detectionMAP.py``: ``getActLoc``,
``NonMaximumSuppression``, ``IntergrateSegs``, ``getTwoStreamDetectionMAP``), batched.

Inputs, per stream (FAC-Net trains one model per stream; ``test_main.py`` fuses them):

* ``cas_*`` ``[B, T, C+1]``: the snippet class probabilities ``softmax(frm_scrs)`` over the C+1
  columns (background last), i.e. the repository's ``frm_preds``; values sit near ``1/(C+1)``.
* ``video_scores_*`` ``[B, C+1]`` (or ``[B, C]``): the class-agnostic branch's video-level
  prediction ``ca_pred`` (softmax over C+1), the repository's ``vid_preds``; only the first C
  columns are read.

Steps for each stream (research/seed_models.md §2.4):

1. (video, class) kept if ``video_scores[c] >= class_threshold`` (0.1); no fallback. The repository
   only loops over classes with temporal ground truth in the test set: pass ``class_subset``.
2. Thresholded signal: the class's snippet probability ``cas[:, c]`` at
   ``np.arange(0.03, 0.055, 0.005)`` (5 values), strict ``>``; runs of at least 3 snippets.
3. Score ``inner - 0.6 * outer`` with the repository's windows (:func:`wtal.ops.oic_scores`, variant
   ``facnet``: the inner mean includes the first snippet after the run); no video-score term.
4. Proposal ``[s, e + 1]`` in snippets (``e`` exclusive: one snippet longer than the run).
5. Hard NMS per (video, class) over all thresholds: overlap = plus-one intersection / plus-one length
   of the lower-ranked proposal, removed if ``> 0.2``. Ties go to the later proposal (the repository
   picks the last index of an ascending ``argsort``).
6. Optional ambiguous-segment filter (``ambiguous=``): a proposal sharing any snippet with an
   ambiguous segment of its video (``range(round(t0 / sps), round(t1 / sps))``) is removed, whatever
   the class, before fusion, as the repository does inside ``getActLoc``.

Two streams (both given): the RGB probabilities **and** thresholds are multiplied by ``rgb_scale``
(0.1) first (RGB proposal scores become 10x smaller), then for each (video, class) with proposals in
both streams the RGB proposals followed by the flow proposals go through the same NMS at ``> 0.9``;
(video, class) pairs with proposals in one stream only pass through. One stream (the other ``None``):
no scaling and no fusion (``getSingleStreamDetectionMAP``).

Units: the repository keeps snippet indices (its evaluator converts the ground truth with 25/16).
``config.units="seconds"`` (default) multiplies by ``seconds_per_snippet``; ``"snippets"`` returns the
authors' snippet units ``[s, e + 1]``.

Output order: video (batch order), class index, descending score (ties: NMS selection order).
Departures from the repository, on purpose: every video of the batch is fused (``NUM_VID = 212`` is
hard-coded there), a class with no proposal in one stream does not crash the fusion, and values are
float64 (the repository scales float32 probabilities).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from wtal.localize import _common as cm
from wtal.localize.detections import Detections

__all__ = ["FacNetLocalizeConfig", "localize_facnet"]


@dataclass(frozen=True)
class FacNetLocalizeConfig:
    """Settings of the FAC-Net profile; defaults are the repository's THUMOS14 test settings.

    Attributes:
        class_threshold: keep (video, class) with ``video_scores >= this`` (``class_threshold``).
        thresholds: snippet-probability thresholds (``np.arange(0.03, 0.055, 0.005)``), strict ``>``.
        min_len: minimum run length in snippets.
        outer_ratio: outer-window ratio of the OIC score.
        outer_weight: weight of the outer mean (0.6).
        nms_threshold: per-stream NMS overlap threshold (0.2, strict ``>``).
        rgb_scale: factor applied to the RGB probabilities and thresholds when fusing (0.1).
        fusion_threshold: fusion NMS overlap threshold (0.9, strict ``>``).
        units: ``"seconds"`` or ``"snippets"`` (the authors' units).
    """

    class_threshold: float = 0.1
    thresholds: tuple[float, ...] = field(
        default_factory=lambda: tuple(float(x) for x in np.arange(0.03, 0.055, 0.005)))
    min_len: int = 3
    outer_ratio: float = 0.25
    outer_weight: float = 0.6
    nms_threshold: float = 0.2
    rgb_scale: float = 0.1
    fusion_threshold: float = 0.9
    units: str = "seconds"

    def validate(self) -> None:
        from wtal.ops._arrays import check_choice, check_float, check_positive_int

        check_float(self.class_threshold, "config.class_threshold")
        check_positive_int(self.min_len, "config.min_len")
        check_float(self.outer_ratio, "config.outer_ratio", lo=0.0)
        check_float(self.outer_weight, "config.outer_weight")
        check_float(self.nms_threshold, "config.nms_threshold", lo=0.0)
        check_float(self.fusion_threshold, "config.fusion_threshold", lo=0.0)
        check_float(self.rgb_scale, "config.rgb_scale")
        check_choice(self.units, "config.units", ("seconds", "snippets"))
        th = np.asarray(self.thresholds, dtype=np.float64)
        if th.ndim != 1 or th.size == 0 or np.isnan(th).any():
            raise ValueError("config.thresholds must be a non-empty 1-D sequence of numbers (no NaN)")


def _stream(cas, vs, lens_host, lens, class_mask, thresholds, scale, config):
    """One stream of ``getActLoc``: returns (key, start, end_plus_one, score) of the NMS survivors,
    ordered by key = video * C + class, then selection order."""
    from wtal.ops import connected_components, oic_scores

    torch = cm.torch_mod()
    dev = cas.device
    C = class_mask.shape[0]
    sel = (vs[:, :C] >= config.class_threshold) & class_mask[None, :]
    pb, pc = torch.nonzero(sel, as_tuple=True)
    empty = torch.empty(0, dtype=torch.int64, device=dev)
    if pb.shape[0] == 0:
        return empty, empty, empty, torch.empty(0, dtype=torch.float64, device=dev)
    pb_host = pb.cpu().numpy()
    keys, starts, ends, scores = [], [], [], []
    th = np.asarray(thresholds, dtype=np.float64)
    for idx, Tb in cm.buckets(lens_host[pb_host]):
        idx_t = torch.from_numpy(idx).to(dev)
        bi, ci = pb[idx_t], pc[idx_t]
        rows = cas[:, :Tb][bi, :, ci].to(torch.float64)
        if scale != 1.0:
            rows = rows * scale
        lb = lens[bi]
        seg = connected_components(rows, lb, th, min_len=config.min_len)
        if seg.row.shape[0] == 0:
            continue
        sc = oic_scores(rows, lb, seg.row, seg.start, seg.end, variant="facnet",
                        outer_ratio=config.outer_ratio, outer_weight=config.outer_weight)
        keys.append(bi[seg.row] * C + ci[seg.row])
        starts.append(seg.start)
        ends.append(seg.end + 1)
        scores.append(sc)
    if not keys:
        return empty, empty, empty, torch.empty(0, dtype=torch.float64, device=dev)
    key, s, e, score = (torch.cat(v) for v in (keys, starts, ends, scores))
    keep = _nms_later_wins(key, s, e, score, "facnet", config.nms_threshold)
    return key[keep], s[keep], e[keep], score[keep]


def _nms_later_wins(key, s, e, score, preset: str, threshold: float):
    """FAC-Net NMS with its tie rule (the later input wins): run wtal's NMS (earlier input wins) on
    the reversed input and map the kept indices back."""
    from wtal.ops import nms, nms_settings

    torch = cm.torch_mod()
    n = key.shape[0]
    rev = torch.arange(n - 1, -1, -1, device=key.device)
    settings = nms_settings(preset)
    settings["iou_threshold"] = threshold
    segs = torch.stack([s.to(torch.float64), e.to(torch.float64)], dim=1)[rev]
    keep, _ = nms(segs, score[rev], groups=key[rev], **settings)
    return rev[keep]


def _ambiguous_mask(key, s, e, C, amb, dev):
    """True for proposals sharing a snippet with an ambiguous segment of their video."""
    torch = cm.torch_mod()
    a_vid, a0, a1 = amb
    if a_vid.shape[0] == 0 or key.shape[0] == 0:
        return torch.zeros(key.shape[0], dtype=torch.bool, device=dev)
    order = cm.stable_argsort(a_vid)
    a_vid, a0, a1 = a_vid[order], a0[order], a1[order]
    B = int(a_vid.max()) + 1
    vid = key // C
    per_video = torch.bincount(a_vid, minlength=max(B, int(vid.max()) + 1))
    first = cm.exclusive_cumsum(per_video)
    owner, within = cm.expand_ranges(per_video[vid])
    j = first[vid[owner]] + within
    lo = torch.maximum(s[owner], a0[j])
    hi = torch.minimum(e[owner], a1[j])
    hit = torch.zeros(key.shape[0], dtype=torch.int64, device=dev)
    hit.index_add_(0, owner, (lo < hi).to(torch.int64))
    return hit > 0


def _ambiguous_arg(ambiguous, vnames, sps_host, dev):
    torch = cm.torch_mod()
    if isinstance(ambiguous, Mapping):
        cols = ambiguous
    else:
        raise TypeError("ambiguous must be a mapping of columns video, t_start, t_end (seconds)")
    for k in ("video", "t_start", "t_end"):
        if k not in cols:
            raise ValueError(f"ambiguous is missing the column {k!r}")
    index = {v: i for i, v in enumerate(vnames)}
    vids = [index.get(v if isinstance(v, str) else str(v), -1) for v in list(cols["video"])]
    v = np.asarray(vids, dtype=np.int64)
    t0 = np.asarray(cols["t_start"], dtype=np.float64)
    t1 = np.asarray(cols["t_end"], dtype=np.float64)
    if not (v.shape == t0.shape == t1.shape):
        raise ValueError("ambiguous columns must have equal lengths")
    if np.isnan(t0).any() or np.isnan(t1).any():
        raise ValueError("ambiguous contains NaN times")
    m = v >= 0
    v, t0, t1 = v[m], t0[m], t1[m]
    factor = 1.0 / sps_host[v]
    # Python's round() (half to even), as filter_segments: int(round(t * factor)).
    g0 = np.round(t0 * factor).astype(np.int64)
    g1 = np.round(t1 * factor).astype(np.int64)
    return tuple(torch.from_numpy(x).to(dev) for x in (v, g0, g1))


@cm.single_threaded_torch
def localize_facnet(cas_rgb: Any, video_scores_rgb: Any, cas_flow: Any, video_scores_flow: Any,
                    lengths: Any, *, videos: Sequence[str], classes: Sequence[str],
                    seconds_per_snippet: Any, config: FacNetLocalizeConfig = FacNetLocalizeConfig(),
                    class_subset: Sequence[str] | None = None,
                    ambiguous: Mapping[str, Any] | None = None) -> Detections:
    """FAC-Net detections for a padded batch, one or two streams (see the module docstring).

    Args:
        cas_rgb: ``[B, T, C+1]`` RGB snippet probabilities (softmax over C+1), or ``None``.
        video_scores_rgb: ``[B, C+1]`` RGB ``ca_pred`` (or ``[B, C]``), or ``None`` with ``cas_rgb``.
        cas_flow: ``[B, T, C+1]`` flow snippet probabilities, or ``None``.
        video_scores_flow: ``[B, C+1]`` flow ``ca_pred``, or ``None`` with ``cas_flow``.
        lengths: ``[B]`` valid snippets per video, integers in ``[1, T]``.
        videos: ``B`` video names. classes: ``C`` class names (background excluded).
        seconds_per_snippet: scalar or ``[B]`` (``16 / 25`` for I3D at 25 fps); used for seconds
            output and for the ambiguous filter.
        config: :class:`FacNetLocalizeConfig`.
        class_subset: only these classes (the repository: classes with test ground truth).
        ambiguous: columns ``video, t_start, t_end`` (seconds) of ambiguous segments, e.g. from
            ``wtal.eval.io.load_ambiguous``; videos not in the batch are ignored.

    Returns:
        :class:`Detections` (seconds or snippets per ``config.units``), ordered by video, class,
        then descending score.

    Raises:
        ValueError: shapes that disagree, no stream given, ``lengths`` outside ``[1, T]``, NaN in the
            valid part of an input (the message names it), unknown class names.
        TypeError: non-float inputs, non-integer ``lengths``.
    """
    torch = cm.torch_mod()
    if not isinstance(config, FacNetLocalizeConfig):
        raise TypeError(f"config must be a FacNetLocalizeConfig, got {type(config).__name__}")
    config.validate()
    streams = []
    for nm_c, nm_v, c, v in (("cas_rgb", "video_scores_rgb", cas_rgb, video_scores_rgb),
                             ("cas_flow", "video_scores_flow", cas_flow, video_scores_flow)):
        if (c is None) != (v is None):
            raise ValueError(f"{nm_c} and {nm_v} must both be given or both be None")
        if c is not None:
            streams.append((nm_c, nm_v, cm.to_tensor(c, nm_c, 3), cm.to_tensor(v, nm_v, 2)))
    if not streams:
        raise ValueError("at least one stream (cas_rgb or cas_flow) must be given")
    B, T, K = streams[0][2].shape
    if K < 2:
        raise ValueError(f"{streams[0][0]} must have C+1 >= 2 columns (classes + background), got {K}")
    C = K - 1
    dev = streams[0][2].device
    for nm_c, nm_v, c, v in streams:
        if tuple(c.shape) != (B, T, K):
            raise ValueError(f"{nm_c} must have shape [{B}, {T}, {K}] like {streams[0][0]}, got {list(c.shape)}")
        if v.shape[0] != B or v.shape[1] not in (C, K):
            raise ValueError(f"{nm_v} must have shape [B, C+1] = [{B}, {K}] (or [B, C]), got {list(v.shape)}")
        cm.check_same_device(dev, **{nm_c: c, nm_v: v})
    lens_host, lens = cm.lengths_arg(lengths, B, T, dev)
    vnames = cm.names_arg(videos, B, "videos", "one per video")
    cnames = cm.names_arg(classes, C, "classes", "C = cas.shape[2] - 1")
    sps_host = cm.seconds_arg(seconds_per_snippet, B)
    class_mask = torch.ones(C, dtype=torch.bool)
    if class_subset is not None:
        index = {n: i for i, n in enumerate(cnames)}
        class_mask[:] = False
        for n in class_subset:
            if n not in index:
                raise ValueError(f"class_subset names an unknown class {n!r}")
            class_mask[index[n]] = True
    class_mask = class_mask.to(dev)
    for nm_c, nm_v, c, v in streams:
        cm.check_nan(c, lens, nm_c)
        if not bool(torch.isfinite(v[:, :C]).all()):
            raise ValueError(f"{nm_v} contains NaN or inf")
    if B == 0:
        return Detections.empty()
    amb = _ambiguous_arg(ambiguous, vnames, sps_host, dev) if ambiguous is not None else None

    two = len(streams) == 2
    th = np.asarray(config.thresholds, dtype=np.float64)
    outs = []
    for i, (nm_c, nm_v, c, v) in enumerate(streams):
        rgb = two and i == 0
        scale = config.rgb_scale if rgb else 1.0
        thr = th * config.rgb_scale if rgb else th
        key, s, e, score = _stream(c, v, lens_host, lens, class_mask, thr, scale, config)
        if amb is not None:
            keep = ~_ambiguous_mask(key, s, e, C, amb, dev)
            key, s, e, score = key[keep], s[keep], e[keep], score[keep]
        outs.append((key, s, e, score))

    if two:
        (kr, sr, er, scr), (kf, sf, ef, scf) = outs
        present_r = torch.zeros(B * C, dtype=torch.bool, device=dev)
        present_f = torch.zeros(B * C, dtype=torch.bool, device=dev)
        present_r[kr] = True
        present_f[kf] = True
        both = present_r & present_f
        key, s, e, score = (torch.cat(p) for p in ((kr, kf), (sr, sf), (er, ef), (scr, scf)))
        fused = both[key]
        fi = torch.nonzero(fused, as_tuple=True)[0]
        fi = fi[cm.stable_argsort(key[fi])]        # per key: RGB picks, then flow picks
        keep = fi[_nms_later_wins(key[fi], s[fi], e[fi], score[fi], "facnet_fusion",
                                  config.fusion_threshold)]
        rest = torch.nonzero(~fused, as_tuple=True)[0]
        sel = torch.cat([keep, rest])
        key, s, e, score = key[sel], s[sel], e[sel], score[sel]
    else:
        key, s, e, score = outs[0]

    vid, cls = key // C, key % C
    o = cm.canonical_order(vid, cls, score)
    vid, cls, s, e, score = vid[o], cls[o], s[o], e[o], score[o]
    s = s.to(torch.float64)
    e = e.to(torch.float64)
    if config.units == "seconds":
        f = torch.from_numpy(sps_host).to(dev)[vid]
        s, e = s * f, e * f
    return cm.to_detections(vnames, cnames, vid, cls, s, e, score)
