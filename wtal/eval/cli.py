"""``wtal eval``: score an ActivityNet results JSON against ground truth.

::

    wtal eval --gt GT.json --pred RESULTS.json [--subset validation]
              [--tiou 0.5:0.95:10 | --tiou 0.1,0.2,0.3] [--preset anet] [--out METRICS.json]
              [--per-class] [--tie-policy stable|numpy] [--ambiguous Ambiguous_test.txt]
              [--official-compat] [--unknown-labels raise|ignore]
              [--diagnose DIR [--diagnose-dataset activitynet|thumos14]] ...

Prints a table (mAP in % per tIoU threshold and the average; per-class AP with ``--per-class``) and
optionally writes ``METRICS.json`` atomically: ``{"tiou": [...], "mAP": [...], "average_mAP": x,
"ap": {class: [...]}}`` (fractions, not %; floats written with full precision). ``--diagnose DIR``
also writes DETAD's error diagnosis (:mod:`wtal.eval.diagnose`): ``DIR/diagnosis.json`` and, when
matplotlib is installed, ``false_positive_analysis.png`` and ``false_negative_analysis.png``.

``--gt`` is an ActivityNet ground-truth JSON or a W-TALC annotation folder (``segments.npy`` ...);
``--gt`` and ``--pred`` also take ``.parquet`` / ``.csv`` / ``.npz`` tables (:mod:`wtal.eval.columnar`).
Without ``--subset``, all videos are evaluated when the ground truth has a single subset; if it has
several (ActivityNet: training/validation/testing), ``--subset`` is required rather than silently
mixing them. Bad input exits with status 2 and one line ``wtal eval: error: ...``.

Nothing heavy is imported at module level: the evaluator is imported by :func:`run`.
"""
from __future__ import annotations

import argparse
import re
from typing import Any

__all__ = ["add_arguments", "run", "parse_tiou"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``wtal eval`` options on ``parser``."""
    parser.add_argument("--gt", required=True, metavar="GT.json",
                        help="ground truth: ActivityNet JSON ({'database': ...}), a W-TALC annotation folder, or "
                             "a .parquet/.csv/.npz table (video, t_start, t_end, label[, subset])")
    parser.add_argument("--pred", required=True, metavar="RESULTS.json",
                        help="predictions: ActivityNet results JSON ({'results': {video: [...]}}) or a "
                             ".parquet/.csv/.npz table (video, t_start, t_end, label, score; ActionFormer's "
                             "video-id, t-start, t-end accepted)")
    parser.add_argument("--subset", default=None,
                        help="evaluate only ground-truth videos of this subset (e.g. validation, test); "
                             "required when the ground truth has several subsets")
    parser.add_argument("--tiou", default=None, metavar="A:B:N | T1,T2,...",
                        help="tIoU thresholds: 'A:B:N' is exactly numpy.linspace(A, B, N) (the official "
                             "0.5:0.95:10), or a comma-separated list; default: the preset's thresholds")
    from wtal.eval.presets import PRESETS  # light: the package __init__ has imported it already

    parser.add_argument("--preset", default="anet",
                        help="evaluation protocol (default anet = official ActivityNet); one of "
                             + ", ".join(PRESETS))
    parser.add_argument("--out", default=None, metavar="METRICS.json",
                        help="also write the metrics as JSON (atomically)")
    parser.add_argument("--per-class", action="store_true", help="print the AP of every class")
    parser.add_argument("--tie-policy", default="stable", choices=("stable", "numpy"),
                        help="order of equal scores and equal-tIoU GT candidates: 'stable' (a fixed "
                             "deterministic rule, default) or 'numpy' (numpy's own argsort, as the reference "
                             "code calls it: its numbers on the same numpy build and CPU)")
    parser.add_argument("--ambiguous", default=None, metavar="Ambiguous_test.txt",
                        help="W-TALC/FAC-Net presets: drop predictions overlapping these ambiguous segments")
    parser.add_argument("--official-compat", action="store_true",
                        help="evaluate invalid inputs (NaN, reversed or zero-length segments) exactly as the "
                             "official code does instead of rejecting them")
    parser.add_argument("--unknown-labels", default=None, choices=("raise", "ignore"),
                        help="prediction labels without a ground-truth class: error (official) or drop; "
                             "default: the preset's choice")
    parser.add_argument("--prediction-units", default="seconds", choices=("seconds", "snippets"),
                        help="snippet-IoU presets (wtalc, facnet): unit of the predicted segments")
    parser.add_argument("--wtalc-zero-if-class-missing", action="store_true",
                        help="reproduce the W-TALC/FAC-Net bug: mAP 0 if any class has no prediction (opt-in)")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="evaluator threads (0 = all cores)")
    parser.add_argument("--diagnose", default=None, metavar="DIR",
                        help="also write DETAD's false-positive/false-negative diagnosis to DIR (diagnosis.json, "
                             "PNG plots when matplotlib is installed)")
    parser.add_argument("--diagnose-dataset", default="activitynet", choices=("activitynet", "thumos14"),
                        help="DETAD's settings for --diagnose: tIoU thresholds and length/coverage bins "
                             "(default activitynet)")


def parse_tiou(text: str) -> Any:
    """Parse ``--tiou``: ``"A:B:N"`` -> ``numpy.linspace(A, B, N)``; ``"T1,T2,..."`` -> float64 array.

    Raises:
        ValueError: the text is neither form, a value is not a number, or ``N`` is not an integer >= 1.
    """
    import numpy as np

    s = text.strip()
    if ":" in s:
        parts = [p.strip() for p in s.split(":")]
        if len(parts) != 3:
            raise ValueError(f"--tiou {text!r}: expected A:B:N (numpy.linspace(A, B, N)) or a comma list")
        try:
            a, b = float(parts[0]), float(parts[1])
        except ValueError:
            raise ValueError(f"--tiou {text!r}: A and B must be numbers") from None
        try:
            n = int(parts[2])
        except ValueError:
            raise ValueError(f"--tiou {text!r}: N must be an integer (the number of thresholds)") from None
        if n < 1:
            raise ValueError(f"--tiou {text!r}: N must be >= 1")
        return np.linspace(a, b, n)
    items = [p.strip() for p in s.split(",")]
    if not s or any(not p for p in items):
        raise ValueError(f"--tiou {text!r}: expected A:B:N or a comma-separated list of numbers")
    try:
        return np.array([float(p) for p in items], dtype=np.float64)
    except ValueError:
        raise ValueError(f"--tiou {text!r}: every threshold must be a number") from None


def _load_ground_truth(path: str, subset: str | None):
    import os

    from wtal.eval import io

    if os.path.isdir(path):
        if subset is None:
            cols, info = io.ground_truth_from_wtalc(path, subset=None, return_info=True)
        else:
            cols, info = io.ground_truth_from_wtalc(path, subset=subset, return_info=True)
    else:
        cols, info = io.load_ground_truth(path, subset=subset, return_info=True)
    if subset is None:
        subsets = list(dict.fromkeys(info.subsets.tolist()))
        if len(subsets) > 1:
            shown = ", ".join(repr(s) for s in subsets)
            raise ValueError(f"{path}: the ground truth has several subsets ({shown}); pick one with --subset")
    return cols, info


_ROW = re.compile(r"\brow (\d+)")


def _locate(message: str, gt_path: str, pred_path: str, gt: dict, pred: dict) -> str:
    """Name the file (and the video of the first offending row) in an evaluator error message."""
    if message.startswith("predictions"):
        path, cols = pred_path, pred
    elif message.startswith("ground_truth"):
        path, cols = gt_path, gt
    elif message.startswith("tiou_thresholds"):
        return "--tiou: " + message
    else:
        return message
    # the evaluator names its Python keywords; point at the matching options instead
    message = (message.replace("unknown_labels='ignore'", "--unknown-labels ignore")
               .replace("official_compat=True", "--official-compat"))
    m = _ROW.search(message)
    if m is not None:
        i = int(m.group(1))
        if 0 <= i < len(cols["video"]):
            message = message[:m.end()] + f" (video {cols['video'][i]!r})" + message[m.end():]
    return f"{path}: {message}"


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, optionally write METRICS.json. Returns the exit status (0)."""
    import json
    import os

    from wtal._atomic import atomic_write_text
    from wtal.eval import io
    from wtal.eval.detection import evaluate_detection
    from wtal.eval.presets import get_preset

    preset = get_preset(args.preset)
    tiou = parse_tiou(args.tiou) if args.tiou is not None else None
    if args.ambiguous is not None and not preset.ambiguous_filtering:
        raise ValueError(f"--ambiguous is used only by the W-TALC/FAC-Net presets (wtalc, facnet), "
                         f"not by --preset {preset.name}")
    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0, got {args.threads}")
    if args.out is not None and os.path.isdir(args.out):
        raise ValueError(f"--out {args.out}: is a directory; give the METRICS.json file name")
    if args.diagnose is not None and os.path.exists(args.diagnose) and not os.path.isdir(args.diagnose):
        raise ValueError(f"--diagnose {args.diagnose}: exists and is not a directory")
    if args.diagnose is not None and args.prediction_units != "seconds":
        raise ValueError("--diagnose works in seconds; it cannot be combined with --prediction-units snippets")

    gt, info = _load_ground_truth(args.gt, args.subset)
    pred = io.load_predictions(args.pred)
    ambiguous = io.load_ambiguous(args.ambiguous) if args.ambiguous is not None else None

    try:
        result = evaluate_detection(
            gt, pred, tiou_thresholds=tiou, preset=preset, tie_policy=args.tie_policy,
            unknown_labels=args.unknown_labels, official_compat=args.official_compat, ambiguous=ambiguous,
            prediction_units=args.prediction_units,
            wtalc_zero_if_class_missing=args.wtalc_zero_if_class_missing, num_threads=args.threads)
    except ValueError as exc:
        raise ValueError(_locate(str(exc), args.gt, args.pred, gt, pred)) from exc
    except TypeError as exc:
        raise TypeError(_locate(str(exc), args.gt, args.pred, gt, pred)) from exc

    gt_videos = set(gt["video"].tolist())
    pred_videos = set(pred["video"].tolist())
    subset = f"subset {args.subset!r}" if args.subset is not None else "all videos"
    print(f"ground truth: {args.gt} ({subset}: {len(info.videos)} videos, {len(gt['video'])} instances, "
          f"{len(result.classes)} classes)")
    print(f"predictions:  {args.pred} ({len(pred['video'])} predictions on {len(pred_videos)} videos, "
          f"{len(pred_videos - gt_videos)} of them without ground truth)")
    if len(pred["video"]) and not pred_videos & gt_videos:
        import sys

        print("wtal eval: warning: no predicted video has ground truth (check the video ids and --subset)",
              file=sys.stderr)
    print(result.to_table(per_class=args.per_class))
    if args.out is not None:
        try:
            atomic_write_text(args.out, json.dumps(result.to_dict(), indent=2) + "\n")
        except OSError as exc:
            raise ValueError(f"--out {args.out}: cannot write ({exc.strerror or exc})") from exc
        print(f"wrote {args.out}")
    if args.diagnose is not None:
        from wtal.eval.diagnose import write_diagnosis

        # unknown (NaN) or non-positive durations leave those GT out of the coverage bins only
        durations = {v: d for v, d in zip(info.videos.tolist(), info.durations.tolist()) if d > 0}
        diag = result.diagnose(args.diagnose_dataset, durations=durations)
        try:
            files, note = write_diagnosis(diag, args.diagnose)
        except (ValueError, OSError) as exc:
            raise ValueError(f"--diagnose {args.diagnose}: {exc}") from exc
        print(diag.summary())
        for n in diag.notes:
            print(f"diagnosis: {n}")
        print("wrote " + ", ".join(files))
        if note:
            print(f"wtal eval: {note}")
    return 0
