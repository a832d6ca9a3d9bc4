"""``wtal train CONFIG.yaml [--set key=value ...]`` and ``wtal train --resume --out-dir DIR``: train,
select on validation, test.

Under ``torchrun --nproc_per_node N -m wtal.cli train ...`` it runs DDP (gloo on CPU, NCCL on CUDA).
Messages go to stdout and to ``train.log`` in the run folder (``logging``; tqdm bars only on a
terminal).
"""
from __future__ import annotations

import argparse
import os
import shlex


def add_arguments(p: argparse.ArgumentParser) -> None:
    from wtal.models import models_help, registry

    packaged = ", ".join(c for s in registry().values() for c in s.configs)
    p.add_argument("config", nargs="?", default=None,
                   help=f"YAML config file, or the name of a packaged config ({packaged}); optional with "
                        "--resume (the run's saved config is used)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override a config value, e.g. --set train.epochs=50 (repeatable); model.name is one "
                        f"of: {models_help()}")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in the output folder from its last.pt, with its saved config")
    p.add_argument("--force-config", action="store_true",
                   help="with --resume: accept a config that differs from the saved one (the result will not "
                        "equal an uninterrupted run)")
    p.add_argument("--out-dir", default=None, metavar="DIR", help="output folder of the run (sets out_dir)")
    p.add_argument("--device", default=None, help="auto (default: CUDA if available), cpu, cuda or cuda:N "
                                                  "(sets device)")
    p.add_argument("--seed", type=int, default=None, help="training seed (sets seed)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars (sets train.progress=false)")


def resolve_config_path(name: str) -> str:
    if os.path.isfile(name) or os.sep in name or name.endswith((".yaml", ".yml")):
        return name
    from wtal.train.config import packaged_config

    try:
        return packaged_config(name)
    except FileNotFoundError:
        return name  # load_config reports the missing file


def _overrides(args: argparse.Namespace) -> list[str]:
    out = list(args.overrides)
    for key, value in (("device", args.device), ("out_dir", args.out_dir), ("seed", args.seed)):
        if value is not None:
            out.append(f"{key}={value}")
    if args.no_progress:
        out.append("train.progress=false")
    return out


def build_config(args: argparse.Namespace):
    """The run's config: CONFIG (+ overrides), or with ``--resume`` and no CONFIG the saved config of
    ``--out-dir``'s ``last.pt`` (+ overrides)."""
    from wtal.train.config import apply_override, config_from_dict, load_config

    overrides = _overrides(args)
    if args.config is not None:
        return load_config(resolve_config_path(args.config), overrides)
    if not args.resume:
        raise ValueError("a CONFIG (YAML file or packaged config name) is required unless --resume is given")
    if not args.out_dir:
        raise ValueError("--resume without a CONFIG needs --out-dir (the folder of the run to continue)")
    from wtal.train.checkpoint import load_checkpoint

    last = os.path.join(args.out_dir, "last.pt")
    if not os.path.exists(last):
        raise FileNotFoundError(f"--resume: no checkpoint to resume from at {last}")
    cfg = config_from_dict(load_checkpoint(last)["config"], f"{last} (saved config)")
    for a in overrides:
        apply_override(cfg, a)
    cfg.validate()
    return cfg


def resume_hint(out_dir: str) -> str:
    """The command that continues the run in ``out_dir`` (it needs no config: the run's is saved)."""
    return f"wtal train --resume --out-dir {shlex.quote(out_dir)}"


def run(args: argparse.Namespace) -> int:
    import logging

    from wtal.train.logging import console_log

    if args.force_config and not args.resume:
        raise ValueError("--force-config only applies with --resume")
    cfg = build_config(args)
    from wtal.train.trainer import Trainer

    log = logging.getLogger("wtal.train")
    with console_log():
        trainer = Trainer(cfg, resume=args.resume, force_config=args.force_config)
        main = trainer.dist.is_main
        try:
            summary = trainer.fit()
            if not summary["finished"]:
                if main:
                    log.info(f"stopped after epoch {summary['epoch']} of {cfg.train.epochs}; continue with: "
                             f"{resume_hint(cfg.out_dir)}")
                return 0
            ckpt = trainer.load_selected()
            if main:
                best = summary["best"]
                sel = f" (validation average mAP {100 * best['average_mAP']:.2f} at epoch {best['epoch']})" \
                    if best and ckpt.endswith("best.pt") else ""
                log.info(f"selected checkpoint: {ckpt}{sel}")
            if cfg.eval.test:
                _, res = trainer.test()
                if main:
                    log.info(f"test subset {cfg.data.test_subset!r}: predictions in "
                             f"{os.path.join(cfg.out_dir, 'predictions_' + cfg.data.test_subset + '.json')}")
                    log.info(res.to_table())
        finally:
            trainer.close()
    return 0
