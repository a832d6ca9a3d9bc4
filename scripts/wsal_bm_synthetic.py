"""Train WSAL-BM (one model per stream) on the synthetic THUMOS14-like set and report test mAP.

The measurement behind the choices of ``docs/models.md`` § WSAL-BM (pooling, ablations). It reads the
packaged ``wsal_bm_synthetic`` config (data, optimiser, epochs, batch, clip length, profile), trains
the RGB and flow models on **all** training videos, keeps the last weights, fuses the streams with the
``bm`` profile and evaluates the test videos, without the trainer (so it runs before two-stream
training lands there). Each variant is a list of ``model.wsal_bm.<key>=value`` overrides.

    python scripts/wsal_bm_synthetic.py --seeds 0 1 2 \
        --variant full: --variant paper_pooling:pooling=paper \
        --variant fg_only:use_bg=false,use_guide=false,use_cluster=false

Prints, per variant and seed: average mAP (tIoU of the config), mAP@0.5, the per-stream mean attention
and its ROC AUC against the snippet ground truth; then mean +- std over seeds and the trivial
whole-video baseline. Single-threaded torch (the heads are tiny).
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def attention_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, average ranks for ties) of ``scores`` for the boolean ``positive``."""
    from scipy.stats import rankdata

    p = int(positive.sum())
    n = positive.size - p
    if p == 0 or n == 0:
        return float("nan")
    r = rankdata(scores)
    return float((r[positive].sum() - p * (p + 1) / 2) / (p * n))


def run_variant(overrides: list[str], seed: int) -> dict:
    import torch
    from torch.utils.data import DataLoader

    from wtal.data.torch_dataset import ClipDataset, pad_collate
    from wtal.eval import evaluate_detection
    from wtal.models import get_spec
    from wtal.train.config import load_config, packaged_config
    from wtal.data.torch_dataset import pad_features
    from wtal.infer import build_dataset, localize_profile

    spec = get_spec("wsal_bm")
    cfg = load_config(packaged_config(spec.demo_config), [f"model.wsal_bm.{o}" for o in overrides])
    ds = build_dataset(cfg)
    train, test = ds.indices(cfg.data.train_subset), ds.indices(cfg.data.test_subset)
    inputs, stats = {}, {}
    for stream in spec.streams:
        d = ds.with_modality(stream)
        torch.manual_seed(seed)
        model = spec.build(d.feature_dim, d.num_classes, cfg.model_config())
        opt = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas),
                               weight_decay=cfg.optim.weight_decay)
        clips = ClipDataset(d, train, cfg.data.num_segments, cfg.data.sampling, seed=seed)
        step = 0
        for epoch in range(cfg.train.epochs):
            clips.set_epoch(epoch)
            model.train()
            for batch in DataLoader(clips, batch_size=cfg.train.batch_size, shuffle=True, collate_fn=pad_collate,
                                    generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)):
                total = model.loss(model(batch["features"], batch["lengths"]), batch, epoch=epoch, step=step)["total"]
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                step += 1
        model.eval()
        feats, lens = pad_features([d.features(i) for i in test])
        with torch.no_grad():
            li = model.localization_inputs(model(feats, lens))
        inputs.update({k if k == "lengths" else f"{k}_{stream}": v for k, v in li.items()})
        att = np.concatenate([li["attention"][j, :L].numpy() for j, L in enumerate(lens.tolist())])
        fg = np.concatenate([d.snippet_labels(i).max(axis=1) > 0 for i in test])
        stats[stream] = (float(att.mean()), attention_auc(att, fg))
    det = spec.profile_function()(**inputs, videos=[ds.videos[i] for i in test], classes=list(ds.classes),
                                  seconds_per_snippet=float(ds.seconds_per_snippet), config=localize_profile(cfg))
    tiou = list(cfg.eval.tiou)
    gt = ds.ground_truth(cfg.data.test_subset)
    res = evaluate_detection(gt, det.to_columns(), tiou_thresholds=tiou, preset=cfg.eval.preset)
    return {"avg": float(res.average_mAP), "map05": float(res.mAP[tiou.index(0.5)]) if 0.5 in tiou else float("nan"),
            "stats": stats, "ds": ds, "test": test, "cfg": cfg}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=V,KEY=V",
                   help="a named list of model.wsal_bm overrides (default: the packaged config only)")
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    variants = [v.split(":", 1) for v in (args.variant or ["full:"])]
    last = None
    for name, spec in variants:
        overrides = [o for o in spec.split(",") if o]
        avgs = []
        for seed in args.seeds:
            t0 = time.time()
            r = run_variant(overrides, seed)
            last = r
            avgs.append(r["avg"])
            s = " ".join(f"{k}: mean attention {m:.3f}, AUC {a:.3f};" for k, (m, a) in r["stats"].items())
            print(f"{name} seed {seed}: average mAP {100 * r['avg']:.2f}, mAP@0.5 {100 * r['map05']:.2f}; {s} "
                  f"{time.time() - t0:.0f} s", flush=True)
        print(f"{name}: average mAP {100 * np.mean(avgs):.2f} +- {100 * np.std(avgs):.2f} over seeds {args.seeds}",
              flush=True)
    from wtal.eval import evaluate_detection
    from wtal.train.demo import whole_video_baseline

    cfg, ds = last["cfg"], last["ds"]
    base = evaluate_detection(ds.ground_truth(cfg.data.test_subset), whole_video_baseline(ds, last["test"]),
                              tiou_thresholds=list(cfg.eval.tiou), preset=cfg.eval.preset)
    print(f"trivial baseline (whole video, oracle labels): average mAP {100 * base.average_mAP:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
