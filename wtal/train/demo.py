"""``wtal demo [--model NAME] [--out DIR] [--device cpu|cuda] [--quick] [--seed N]``.

Generates the synthetic THUMOS14-like set (``wtal.data.synthetic``), trains a registered model (the
registry's default unless ``--model``) with its packaged ``<name>_synthetic`` config (checkpoint
selected on a validation split of the training videos),
localizes the test videos, evaluates mAP@tIoU 0.1:0.7 and compares it with a trivial baseline
evaluated the same way: every test video predicted as one segment covering the whole video for each of
its **true** video-level labels (an oracle-label baseline; it needs no model at all). Writes
``metrics.json``, ``predictions.json``, the checkpoint(s) and ``plots/*.png`` into ``--out`` (the plots
only where matplotlib is installed: ``pip install "wtal[train]"``; without it one line says they were
skipped).

``--quick`` (< 1 min on 2 CPU cores, used by the tests) trains a smaller set for fewer epochs; the
default takes a few minutes on 2 CPU cores. Both use a small feature dimension and short videos
(documented in each ``wtal/configs/<name>_synthetic.yaml``), not the 2048-d I3D layout.
"""
from __future__ import annotations

import argparse
import json
import os
import time

# --quick: fewer, shorter videos and fewer epochs (the synthetic options are make_synthetic arguments)
QUICK_OVERRIDES = ("train.epochs=30", "train.eval_every=10", "data.options.num_videos=[200, 100]",
                   "data.options.max_duration=120")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from wtal.models import default_model, model_names, models_help

    p.add_argument("--model", default=default_model(), choices=model_names(),
                   help=f"model to train: {models_help()} (default {default_model()})")
    p.add_argument("--out", default="wtal-demo", help="output directory (default ./wtal-demo)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--quick", action="store_true", help="small and fast (< 1 min on 2 CPU cores)")
    p.add_argument("--seed", type=int, default=0, help="training seed (the synthetic data keeps its own seed)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the demo config")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")


def whole_video_baseline(dataset, indices) -> dict:
    """Columns of the oracle-label whole-video baseline: one [0, duration] segment, score 1, for each
    true video-level class of each video."""
    import numpy as np

    video, label, ts, te, score = [], [], [], [], []
    for i in indices:
        for c in np.flatnonzero(np.asarray(dataset.labels[i]) > 0):
            video.append(dataset.videos[i])
            label.append(dataset.classes[c])
            ts.append(0.0)
            te.append(float(dataset.durations[i]))
            score.append(1.0)
    return {"video": np.array(video, dtype=object), "label": np.array(label, dtype=object),
            "t_start": np.array(ts, dtype=np.float64), "t_end": np.array(te, dtype=np.float64),
            "score": np.array(score, dtype=np.float64)}


def run(args: argparse.Namespace) -> int:
    from wtal.train.config import load_config, packaged_config

    t0 = time.time()
    overrides = [f"out_dir={args.out}", f"device={args.device}", f"seed={args.seed}", "eval.test=false"]
    if args.quick:
        overrides += list(QUICK_OVERRIDES)
    if args.no_progress:
        overrides.append("train.progress=false")
    from wtal.models import get_spec

    spec = get_spec(args.model, "--model")
    cfg = load_config(packaged_config(spec.demo_config), overrides + list(args.overrides))

    from wtal.eval import evaluate_detection
    from wtal.train.trainer import Trainer, subset_indices
    from wtal.viz.cli import render_videos

    trainer = Trainer(cfg)
    ds = trainer.dataset
    print(f"synthetic {ds.name}: {len(ds.videos)} videos, {len(ds.classes)} classes, {ds.feature_dim}-d; "
          f"training on {len(trainer.train_idx)}, validating on {len(trainer.val_idx)}")
    try:
        summary = trainer.fit()
        ckpt = trainer.load_selected()
        test_idx = subset_indices(ds, cfg.data.test_subset, cfg)
        det = trainer.predict(test_idx)
    finally:
        trainer.close()
    det.write(os.path.join(cfg.out_dir, "predictions.json"))
    gt = ds.ground_truth(cfg.data.test_subset)
    tiou = list(cfg.eval.tiou)
    res = evaluate_detection(gt, det.to_columns(), tiou_thresholds=tiou, preset=cfg.eval.preset)
    base = evaluate_detection(gt, whole_video_baseline(ds, test_idx), tiou_thresholds=tiou, preset=cfg.eval.preset)
    try:
        import matplotlib  # noqa: F401  (only the plots need it: not part of a plain `pip install .`)
    except ImportError:
        plots = []
        print('plots skipped: matplotlib is not installed (pip install "wtal[train]" adds it)')
    else:
        plot_dir = os.path.join(cfg.out_dir, "plots")
        os.makedirs(plot_dir, exist_ok=True)
        gt_videos = list(dict.fromkeys(str(v) for v in gt["video"]))[:3]
        pos = {v: i for i, v in enumerate(ds.videos)}
        plots = render_videos(trainer.model, cfg, ds, [pos[v] for v in gt_videos],
                              [os.path.join(plot_dir, f"{v}.png") for v in gt_videos], device=str(trainer.device))
    elapsed = time.time() - t0
    metrics = {
        **res.to_dict(),
        "model": args.model, "quick": bool(args.quick), "seed": args.seed, "checkpoint": ckpt,
        "validation_best": summary["best"], "seconds": round(elapsed, 1),
        "baseline_whole_video_oracle_labels": base.to_dict(),
    }
    from wtal._atomic import atomic_write_text

    atomic_write_text(os.path.join(cfg.out_dir, "metrics.json"), json.dumps(metrics, indent=1, default=_plain))
    print(f"\n{spec.display_name} on synthetic {cfg.data.test_subset!r} ({len(test_idx)} videos), checkpoint {ckpt}:")
    print(res.to_table())
    print(f"trivial baseline (whole video, oracle video labels): average mAP {100 * base.average_mAP:.2f}")
    print(f"{spec.display_name} average mAP {100 * res.average_mAP:.2f} vs baseline {100 * base.average_mAP:.2f}; "
          f"wrote metrics.json, predictions.json, {len(plots)} plots to {cfg.out_dir} in {elapsed:.0f} s")
    return 0


def _plain(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(type(o).__name__)
