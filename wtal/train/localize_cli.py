"""``wtal localize --checkpoint CKPT [--data CONFIG.yaml] [--subset S] --out RESULTS.json``.

Runs a trained model on every video of a subset (default: the config's test subset) and writes the
ActivityNet results JSON atomically. The dataset is the checkpoint's own data config unless ``--data``
names a YAML file (a full training config or just its ``data`` section); ``--set data.root=...``
adjusts it.
"""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="a checkpoint written by wtal train / wtal demo")
    p.add_argument("--data", default=None, help="YAML with the dataset (a training config or its data section)")
    p.add_argument("--subset", default=None, help="subset to localize (default: data.test_subset)")
    p.add_argument("--out", required=True, help="ActivityNet results JSON to write")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override data.* / localize.* / eval.* values")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--eval", action="store_true", help="also evaluate against the subset's ground truth")


def data_config_from(path: str, cfg) -> None:
    """Replace ``cfg.data`` by the data section of YAML ``path``."""
    import os

    import yaml

    from wtal.train.config import DataConfig, _build

    if not os.path.isfile(path):
        raise FileNotFoundError(f"--data: file not found: {path}")
    with open(path, encoding="utf-8") as f:
        try:
            doc = yaml.safe_load(f) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: invalid YAML ({exc})") from None
    section = doc.get("data", doc) if isinstance(doc, dict) else None
    if not isinstance(section, dict):
        raise ValueError(f"{path}: expected a mapping with a 'data' section")
    cfg.data = _build(DataConfig, section, "data.", path)


def load_model_and_data(args: argparse.Namespace):
    """(model, cfg, dataset) from ``--checkpoint``, ``--data`` and ``--set`` (shared with ``wtal plot``)."""
    from wtal.train.config import apply_override
    from wtal.train.trainer import build_dataset, check_compatible, load_trained

    model, cfg, ck = load_trained(args.checkpoint, device=args.device)
    if args.data:
        data_config_from(args.data, cfg)
    for a in args.overrides:
        apply_override(cfg, a)
    cfg.validate()
    dataset = build_dataset(cfg)
    check_compatible(ck, dataset, args.checkpoint, cfg.data.root or getattr(dataset, "name", "dataset"))
    return model, cfg, dataset


def run(args: argparse.Namespace) -> int:
    from wtal.train.trainer import evaluate, predict_detections, resolve_device, subset_indices

    model, cfg, dataset = load_model_and_data(args)
    subset = args.subset or cfg.data.test_subset
    idx = subset_indices(dataset, subset, cfg)
    det = predict_detections(model, dataset, idx, device=resolve_device(args.device), cfg=cfg)
    det.write(args.out)
    print(f"wrote {len(det.score)} detections for {len(idx)} videos of subset {subset!r} to {args.out}")
    if args.eval:
        print(evaluate(dataset.ground_truth(subset), det, cfg).to_table())
    return 0
