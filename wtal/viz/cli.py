"""``wtal plot --checkpoint CKPT --video NAME [--data CONFIG.yaml] --out FILE.png``: run a trained
model on one video, localize it, and draw attention, CAS of the predicted classes, thresholds,
detections and ground truth (``wtal.viz.plots.plot_video``)."""
from __future__ import annotations

import argparse
import os
from typing import Sequence


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--video", action="append", required=True, help="video name (repeatable)")
    p.add_argument("--data", default=None, help="YAML with the dataset (default: the checkpoint's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", required=True, help="PNG file (one video) or directory (several)")
    p.add_argument("--device", default="cpu")


def render_videos(model, cfg, dataset, indices: Sequence[int], out_paths: Sequence[str], *, device="cpu",
                  max_classes: int = 3) -> list[str]:
    """Plot ``indices`` of ``dataset`` with ``model`` into ``out_paths`` (one PNG each)."""
    import numpy as np
    import torch

    from wtal.train.trainer import filter_columns, localize_profile, pad_features, predict_detections

    from wtal.models import get_spec

    spec = get_spec(cfg.model.name)
    profile = localize_profile(cfg)
    thresholds = spec.plot_thresholds or getattr(profile, "thresholds", None)
    model.eval()
    written = []
    for i, path in zip(indices, out_paths):
        name = dataset.videos[i]
        feats, lens = pad_features([dataset.features(i)])
        with torch.no_grad():
            out = model(feats.to(device), lens.to(device))
        li = {k: v.float().cpu() for k, v in model.localization_inputs(out).items() if v.is_floating_point()}
        att = li.get(spec.plot_attention) if spec.plot_attention else None
        cas = li[spec.plot_signal][0]
        if att is not None and spec.plot_weighted:
            cas = cas * att[0][:, None]  # what the profile thresholds or scores
        det = predict_detections(model, dataset, [i], device=torch.device(device), cfg=cfg)
        dcols = det.to_columns()
        gt = filter_columns(dataset.ground_truth(dataset.subsets[i]), {name})
        C = len(dataset.classes)
        top = list(dict.fromkeys([str(x) for x in gt["label"]] + [str(x) for x in dcols["label"]]))
        cls_idx = [dataset.classes.index(c) for c in top if c in dataset.classes][:max_classes]
        if not cls_idx:
            cls_idx = [int(np.argmax(cas[:, :C].mean(0).numpy()))]
        from wtal.viz.plots import plot_video

        written.append(plot_video(
            path, attention=None if att is None else att[0].numpy(), cas=cas[:, cls_idx].numpy(),
            class_names=[dataset.classes[c] for c in cls_idx], seconds_per_snippet=float(dataset.seconds_per_snippet),
            thresholds=thresholds, detections=dcols, ground_truth=gt,
            title=f"{name} ({spec.display_name}; {'CAS x attention' if spec.plot_weighted else 'CAS'} "
                  "of GT/predicted classes)"))
    return written


def run(args: argparse.Namespace) -> int:
    from wtal.train.localize_cli import load_model_and_data

    model, cfg, dataset = load_model_and_data(args)
    index = {v: i for i, v in enumerate(dataset.videos)}
    missing = [v for v in args.video if v not in index]
    if missing:
        raise ValueError(f"--video: {missing[0]!r} is not in the dataset ({len(index)} videos)")
    if len(args.video) == 1 and args.out.endswith(".png"):
        paths = [args.out]
    else:
        os.makedirs(args.out, exist_ok=True)
        paths = [os.path.join(args.out, f"{v}.png") for v in args.video]
    for p in render_videos(model, cfg, dataset, [index[v] for v in args.video], paths, device=args.device):
        print(f"wrote {p}")
    return 0
