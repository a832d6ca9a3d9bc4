"""``wtal localize``: detections of a trained model, on a dataset or on feature files.

    wtal localize --checkpoint CKPT [--data CONFIG.yaml] [--subset S] [--out RESULTS.json] [--eval]
    wtal localize --checkpoint CKPT --features video.npy|FOLDER [--out RESULTS.json]
    wtal localize --checkpoint RGB.pt --checkpoint FLOW.pt ...     (two single-stream checkpoints, fused)

On a dataset: every video of a subset (default: the config's test subset). The dataset is the
checkpoint's own data config unless ``--data`` names a YAML file (a training config or just its
``data`` section); ``--set data.root=...`` adjusts it. On feature files: one ``.npy`` ``[T, D]``, or a
folder of them (one per video, the video name is the file stem), with the joint features of the
training data (``[T, D_rgb + D_flow]`` for two-stream models). Both run :mod:`wtal.infer`, so a video
gives the same detections either way. Writes the ActivityNet results JSON atomically (``--out``), or
prints the top detections.
"""
from __future__ import annotations

import argparse
import os


def add_arguments(p: argparse.ArgumentParser) -> None:
    from wtal.models import models_help

    p.add_argument("--checkpoint", action="append", required=True, metavar="CKPT",
                   help=f"a checkpoint written by wtal train / wtal demo (models: {models_help()}); give two "
                        "single-stream checkpoints (rgb and flow) of a two-stream model to fuse them")
    p.add_argument("--features", default=None, metavar="NPY|DIR",
                   help="localize feature files instead of a dataset: one .npy [T, D] or a folder of per-video "
                        ".npy files (video name = file stem)")
    p.add_argument("--data", default=None, metavar="CONFIG.yaml",
                   help="YAML with the dataset (a training config or its data section); default: the checkpoint's")
    p.add_argument("--subset", default=None, help="subset of the dataset to localize (default: data.test_subset)")
    p.add_argument("--out", default=None, metavar="RESULTS.json",
                   help="ActivityNet results JSON to write (default: print the top detections)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override data.* / localize.* / eval.* / train.eval_* values (repeatable)")
    p.add_argument("--device", default="auto", help="auto (default: CUDA if available), cpu, cuda or cuda:N")
    p.add_argument("--eval", action="store_true", help="also evaluate against the subset's ground truth (dataset)")
    p.add_argument("--ambiguous", default=None, metavar="Ambiguous_test.txt",
                   help="with --features: ambiguous segments (THUMOS14 Ambiguous_test.txt) for profiles that take them")
    p.add_argument("--seconds-per-snippet", type=float, default=None, metavar="S",
                   help="with --features: seconds per feature row (default: the training data's)")
    p.add_argument("--top", type=int, default=20, metavar="N", help="rows printed without --out (default 20)")


def data_config_from(path: str, cfg) -> None:
    """Replace ``cfg.data`` by the data section of YAML ``path`` (its ``base:`` chain merged in)."""
    from wtal.train.config import DataConfig, _build, read_config_file

    if not os.path.isfile(path):
        raise FileNotFoundError(f"--data: file not found: {path}")
    doc = read_config_file(path)
    section = doc.get("data", doc)
    if not isinstance(section, dict):
        raise ValueError(f"{path}: expected a mapping with a 'data' section")
    if "kind" not in section:
        raise ValueError(f"{path}: the data section sets no data.kind (synthetic | wtalc | pervideo | activitynet)")
    cfg.data = _build(DataConfig, section, "data.", path)


def load_predictor_and_data(args: argparse.Namespace):
    """(predictor, dataset) from ``--checkpoint``, ``--data`` and ``--set`` (shared with ``wtal plot``)."""
    from wtal.infer import build_dataset, data_label, load

    predictor = load(args.checkpoint, device=args.device, overrides=args.overrides)
    cfg = predictor.config
    if args.data:
        data_config_from(args.data, cfg)
        for a in args.overrides:  # --set data.* wins over --data
            if a.split("=", 1)[0].strip().startswith("data"):
                from wtal.train.config import apply_override

                apply_override(cfg, a)
        cfg.validate()
    dataset = build_dataset(cfg)
    if predictor.spec.two_stream and dataset.modality != "joint":
        dataset = dataset.with_modality("joint")
    predictor.check_dataset(dataset, data_label(cfg, dataset))
    return predictor, dataset


def read_features(path: str) -> tuple[list[str], list]:
    """(video names, ``[T, D]`` float arrays) of one ``.npy`` file or a folder of them."""
    from wtal.safe_npy import load_npy

    if os.path.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.endswith(".npy"))
        if not files:
            raise ValueError(f"--features: no .npy files in {path}")
        paths = [os.path.join(path, f) for f in files]
    elif os.path.isfile(path):
        paths = [path]
    else:
        raise FileNotFoundError(f"--features: no such file or folder: {path}")
    names, arrays = [], []
    for p in paths:
        x = load_npy(p)
        if x.dtype.kind != "f" or x.ndim != 2 or x.shape[0] < 1:
            raise ValueError(f"{p}: expected float features [T, D] with T >= 1, got {x.dtype} {list(x.shape)}")
        names.append(os.path.splitext(os.path.basename(p))[0])
        arrays.append(x)
    return names, arrays


def format_detections(det, top: int) -> str:
    """The ``top`` highest-scoring rows of ``det`` as a small table."""
    import numpy as np

    n = len(det.score)
    order = np.argsort(-det.score, kind="stable")[: max(top, 0)]
    lines = [f"{'video':<24} {'label':<24} {'start (s)':>10} {'end (s)':>10} {'score':>10}"]
    for i in order:
        lines.append(f"{str(det.video[i])[:24]:<24} {str(det.label[i])[:24]:<24} {det.t_start[i]:10.2f} "
                     f"{det.t_end[i]:10.2f} {det.score[i]:10.4f}")
    if n > len(order):
        lines.append(f"... {n - len(order)} more (write them all with --out RESULTS.json)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.features is not None:
        if args.data or args.subset or args.eval:
            raise ValueError("--features localizes feature files: --data, --subset and --eval need a dataset")
        from wtal.infer import load

        predictor = load(args.checkpoint, device=args.device, overrides=args.overrides)
        names, arrays = read_features(args.features)
        ambiguous = None
        if args.ambiguous:
            from wtal.eval.io import load_ambiguous

            ambiguous = load_ambiguous(args.ambiguous)
        det = predictor.localize(arrays, videos=names, seconds_per_snippet=args.seconds_per_snippet,
                                 ambiguous=ambiguous)
        what = f"{len(names)} video(s) of {args.features}"
    else:
        if args.ambiguous or args.seconds_per_snippet is not None:
            raise ValueError("--ambiguous and --seconds-per-snippet apply to --features; on a dataset use "
                             "--set eval.ambiguous=true (its own ambiguous file and snippet length)")
        from wtal.infer import evaluate, subset_indices

        predictor, dataset = load_predictor_and_data(args)
        cfg = predictor.config
        subset = args.subset or cfg.data.test_subset
        idx = subset_indices(dataset, subset, cfg)
        det = predictor.localize_dataset(dataset, idx)
        what = f"{len(idx)} videos of subset {subset!r}"
    if args.out:
        det.write(args.out)
        print(f"wrote {len(det.score)} detections for {what} to {args.out}")
    else:
        print(f"{len(det.score)} detections for {what}:")
        print(format_detections(det, args.top))
    if args.features is None and args.eval:
        print(evaluate(dataset.ground_truth(subset), det, cfg).to_table())
    return 0
