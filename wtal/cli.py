"""The ``wtal`` command line.

Each subcommand lives in the package that owns it and exposes ``add_arguments(parser)`` and
``run(args) -> int``. Those modules must import nothing heavy (torch, matplotlib) at module level, so
``wtal --help`` and ``wtal eval`` stay fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "eval": ("wtal.eval.cli", "detection mAP of an ActivityNet results JSON against ground truth"),
    "demo": ("wtal.train.demo", "synthetic end-to-end run: train a model (--model), localize, evaluate, plot"),
    "train": ("wtal.train.cli", "train a model from a YAML config (checkpoints, logs, resume, DDP via torchrun)"),
    "localize": ("wtal.train.localize_cli", "localize actions with a trained checkpoint -> ActivityNet results JSON"),
    "bench": ("wtal.bench", "run the benchmark suite of a source checkout (wtal vs baselines, same run)"),
    "plot": ("wtal.viz.cli", "plot attention, CAS, detections and ground truth of videos"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wtal", description="Weakly-supervised temporal action localization.")
    parser.add_argument("--version", action="store_true", help="print version and build information")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        import wtal

        print(f"wtal {wtal.__version__}")
        for k, v in wtal.build_info().items():
            print(f"  {k}: {v}")
        print(f"  cuda_status: {wtal.cuda_status()}")
        return 0
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, KeyError, ImportError) as exc:
        # Bad input (or an optional package it needs) is reported as one clear line, not a traceback.
        print(f"wtal {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
