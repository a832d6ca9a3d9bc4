"""``wtal train CONFIG.yaml [--set key=value ...] [--resume]``: train, select on validation, test.

Under ``torchrun --nproc_per_node N -m wtal.cli train ...`` it runs DDP (gloo on CPU, NCCL on CUDA).
"""
from __future__ import annotations

import argparse
import os
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    from wtal.models import registry

    packaged = ", ".join(c for s in registry().values() for c in s.configs)
    p.add_argument("config", help=f"YAML config file, or the name of a packaged config ({packaged})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=50 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run in out_dir from its last.pt")
    p.add_argument("--device", default=None, help="shortcut for --set device=... (cpu, cuda, cuda:1)")
    p.add_argument("--out-dir", default=None, help="shortcut for --set out_dir=...")


def resolve_config_path(name: str) -> str:
    if os.path.isfile(name) or os.sep in name or name.endswith((".yaml", ".yml")):
        return name
    from wtal.train.config import packaged_config

    try:
        return packaged_config(name)
    except FileNotFoundError:
        return name  # load_config reports the missing file


def run(args: argparse.Namespace) -> int:
    from wtal.train.config import load_config

    overrides = list(args.overrides)
    if args.device:
        overrides.append(f"device={args.device}")
    if args.out_dir:
        overrides.append(f"out_dir={args.out_dir}")
    cfg = load_config(resolve_config_path(args.config), overrides)
    from wtal.train.trainer import Trainer

    trainer = Trainer(cfg, resume=args.resume)
    main = trainer.dist.is_main
    try:
        summary = trainer.fit()
        if not summary["finished"]:
            if main:
                print(f"stopped after epoch {summary['epoch']} of {cfg.train.epochs}; "
                      f"continue with: wtal train {args.config} --resume (same --set options)")
            return 0
        ckpt = trainer.load_selected()
        if main:
            best = summary["best"]
            sel = f" (validation average mAP {100 * best['average_mAP']:.2f} at epoch {best['epoch']})" \
                if best and ckpt.endswith("best.pt") else ""
            print(f"selected checkpoint: {ckpt}{sel}")
        if cfg.eval.test:
            _, res = trainer.test()
            if main:
                print(f"test subset {cfg.data.test_subset!r}: predictions in "
                      f"{os.path.join(cfg.out_dir, 'predictions_' + cfg.data.test_subset + '.json')}")
                print(res.to_table())
                sys.stdout.flush()
    finally:
        trainer.close()
    return 0
