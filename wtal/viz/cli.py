"""``wtal plot --checkpoint CKPT --video NAME [--data CONFIG.yaml] (--out FILE.png | --out-dir DIR)``:
run a trained model on videos of its dataset, localize them, and draw the signals its registry entry
names (``ModelSpec.plot_*``: attention, class signal of the predicted / ground-truth classes),
thresholds, detections and ground truth (``wtal.viz.plots.plot_video``)."""
from __future__ import annotations

import argparse
import os
from typing import Sequence


def add_arguments(p: argparse.ArgumentParser) -> None:
    from wtal.models import models_help

    p.add_argument("--checkpoint", action="append", required=True, metavar="CKPT",
                   help=f"a checkpoint written by wtal train / wtal demo (models: {models_help()}); two "
                        "single-stream checkpoints of a two-stream model are fused")
    p.add_argument("--video", action="append", required=True, help="video name (repeatable)")
    p.add_argument("--data", default=None, metavar="CONFIG.yaml",
                   help="YAML with the dataset (a training config or its data section); default: the checkpoint's")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override data.* / localize.* values (repeatable)")
    p.add_argument("--out", default=None, metavar="FILE.png", help="PNG file to write (one --video)")
    p.add_argument("--out-dir", default=None, metavar="DIR", help="folder for one <video>.png per --video")
    p.add_argument("--device", default="auto", help="auto (default: CUDA if available), cpu, cuda or cuda:N")


def render_videos(predictor, dataset, indices: Sequence[int], out_paths: Sequence[str], *,
                  max_classes: int = 3) -> list[str]:
    """Plot videos ``indices`` of ``dataset`` with ``predictor`` (``wtal.infer.Predictor``) into
    ``out_paths`` (one PNG each). A two-stream predictor draws its first stream's signals."""
    import numpy as np

    from wtal.data.torch_dataset import pad_features
    from wtal.infer import filter_columns
    from wtal.viz.plots import plot_video

    spec = predictor.spec
    thresholds = spec.plot_thresholds or getattr(predictor.profile_config(), "thresholds", None)
    stream = predictor.streams[0]
    if spec.two_stream and dataset.modality != "joint":
        dataset = dataset.with_modality("joint")
    written = []
    for i, path in zip(indices, out_paths):
        name = dataset.videos[i]
        feats, lens = pad_features([dataset.features(i)])
        dev = predictor.device
        li = predictor.stream_inputs(feats.to(dev), lens.to(dev))[stream]
        li = {k: v.float().cpu() for k, v in li.items() if v is not None and v.is_floating_point()}
        att = li.get(spec.plot_attention) if spec.plot_attention else None
        cas = li[spec.plot_signal][0]
        if att is not None and spec.plot_weighted:
            cas = cas * att[0][:, None]  # what the profile thresholds or scores
        dcols = predictor.localize_dataset(dataset, [i]).to_columns()
        gt = filter_columns(dataset.ground_truth(dataset.subsets[i]), {name})
        C = len(dataset.classes)
        top = list(dict.fromkeys([str(x) for x in gt["label"]] + [str(x) for x in dcols["label"]]))
        cls_idx = [dataset.classes.index(c) for c in top if c in dataset.classes][:max_classes]
        if not cls_idx:
            cls_idx = [int(np.argmax(cas[:, :C].mean(0).numpy()))]
        signal = "CAS x attention" if spec.plot_weighted else "CAS"
        where = f", {stream} stream" if spec.two_stream else ""
        written.append(plot_video(
            path, attention=None if att is None else att[0].numpy(), cas=cas[:, cls_idx].numpy(),
            class_names=[dataset.classes[c] for c in cls_idx], seconds_per_snippet=float(dataset.seconds_per_snippet),
            thresholds=thresholds, detections=dcols, ground_truth=gt,
            title=f"{name} ({spec.display_name}{where}; {signal} of GT/predicted classes)"))
    return written


def run(args: argparse.Namespace) -> int:
    from wtal.train.localize_cli import load_predictor_and_data

    if (args.out is None) == (args.out_dir is None):
        raise ValueError("give --out FILE.png (one --video) or --out-dir DIR")
    if args.out is not None and (len(args.video) != 1 or not args.out.endswith(".png")):
        raise ValueError("--out takes one .png file for one --video; use --out-dir DIR for several videos")
    predictor, dataset = load_predictor_and_data(args)
    index = {v: i for i, v in enumerate(dataset.videos)}
    missing = [v for v in args.video if v not in index]
    if missing:
        raise ValueError(f"--video: {missing[0]!r} is not in the dataset ({len(index)} videos)")
    if args.out is not None:
        paths = [args.out]
    else:
        os.makedirs(args.out_dir, exist_ok=True)
        paths = [os.path.join(args.out_dir, f"{v}.png") for v in args.video]
    for p in render_videos(predictor, dataset, [index[v] for v in args.video], paths):
        print(f"wrote {p}")
    return 0
