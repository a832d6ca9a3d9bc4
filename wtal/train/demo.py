"""``wtal demo [--model NAME] [--out-dir DIR] [--device auto|cpu|cuda] [--quick] [--seed N]``.

Generates the synthetic THUMOS14-like set (``wtal.data.synthetic``), trains a registered model (the
registry's default unless ``--model``) with its packaged ``<name>_synthetic`` config (checkpoint
selected on a validation split of the training videos),
localizes the test videos, evaluates mAP@tIoU 0.1:0.7 and compares it with a trivial baseline
evaluated the same way: every test video predicted as one segment covering the whole video for each of
its **true** video-level labels (an oracle-label baseline; it needs no model at all). Writes
``metrics.json``, ``predictions.json``, the checkpoint(s), ``train.log`` and ``plots/*.png`` into
``--out-dir`` (``--out`` is the same option, kept for the documented ``wtal demo --out DIR``).

Training, selection and the test evaluation are ``wtal train``'s (:class:`wtal.train.trainer.Trainer`
``fit``, ``load_selected``, ``test``); the demo adds the baseline and the plots.

``--quick`` (< 1 min on 2 CPU cores, used by the tests) trains a smaller set for fewer epochs; the
default takes a few minutes on 2 CPU cores. Both use a small feature dimension and short videos
(documented in each ``wtal/configs/<name>_synthetic.yaml``), not the 2048-d I3D layout.
"""
from __future__ import annotations

import argparse
import os
import time

# --quick: fewer, shorter videos and fewer epochs (the synthetic options are make_synthetic arguments)
QUICK_OVERRIDES = ("train.epochs=30", "train.eval_every=10", "data.options.num_videos=[200, 100]",
                   "data.options.max_duration=120")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from wtal.models import default_model, model_names, models_help

    p.add_argument("--model", default=default_model(), choices=model_names(),
                   help=f"model to train: {models_help()} (default {default_model()})")
    p.add_argument("--out-dir", "--out", dest="out_dir", default="wtal-demo", metavar="DIR",
                   help="output folder (default ./wtal-demo); must not hold a run yet")
    p.add_argument("--device", default="auto", help="auto (default: CUDA if available), cpu, cuda or cuda:N")
    p.add_argument("--quick", action="store_true", help="small and fast (< 1 min on 2 CPU cores)")
    p.add_argument("--seed", type=int, default=0, help="training seed (the synthetic data keeps its own seed)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the demo config (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")


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
    import logging

    from wtal.models import get_spec
    from wtal.train.config import load_config, packaged_config
    from wtal.train.logging import console_log

    t0 = time.time()
    overrides = [f"out_dir={args.out_dir}", f"device={args.device}", f"seed={args.seed}"]
    if args.quick:
        overrides += list(QUICK_OVERRIDES)
    if args.no_progress:
        overrides.append("train.progress=false")
    spec = get_spec(args.model, "--model")
    cfg = load_config(packaged_config(spec.demo_config), overrides + list(args.overrides))

    from wtal.infer import evaluate, subset_indices
    from wtal.localize import Detections
    from wtal.train.trainer import Trainer
    from wtal.viz.cli import render_videos

    log = logging.getLogger("wtal.train")
    with console_log():
        trainer = Trainer(cfg)
        ds = trainer.dataset
        try:
            summary = trainer.fit()
            ckpt = trainer.load_selected()
            test_idx = subset_indices(ds, cfg.data.test_subset, cfg)
            base = evaluate(ds.ground_truth(cfg.data.test_subset),
                            Detections.from_columns(whole_video_baseline(ds, test_idx)), cfg)
            extra = {"model": args.model, "quick": bool(args.quick), "seed": args.seed, "checkpoint": ckpt,
                     "validation_best": summary["best"], "seconds": round(time.time() - t0, 1),
                     "baseline_whole_video_oracle_labels": base.to_dict()}
            _, res = trainer.test(predictions_file="predictions.json", metrics_file="metrics.json",
                                  extra_metrics=extra)
            gt = ds.ground_truth(cfg.data.test_subset)
            plot_dir = os.path.join(cfg.out_dir, "plots")
            os.makedirs(plot_dir, exist_ok=True)
            gt_videos = list(dict.fromkeys(str(v) for v in gt["video"]))[:3]
            pos = {v: i for i, v in enumerate(ds.videos)}
            plots = render_videos(trainer.predictor, ds, [pos[v] for v in gt_videos],
                                  [os.path.join(plot_dir, f"{v}.png") for v in gt_videos])
        finally:
            trainer.close()
        elapsed = time.time() - t0
        log.info(f"\n{spec.display_name} on synthetic {cfg.data.test_subset!r} ({len(test_idx)} videos), "
                 f"checkpoint {ckpt}:")
        log.info(res.to_table())
        log.info(f"trivial baseline (whole video, oracle video labels): average mAP {100 * base.average_mAP:.2f}")
        log.info(f"{spec.display_name} average mAP {100 * res.average_mAP:.2f} vs baseline "
                 f"{100 * base.average_mAP:.2f}; wrote metrics.json, predictions.json, {len(plots)} plots to "
                 f"{cfg.out_dir} in {elapsed:.0f} s")
    return 0
