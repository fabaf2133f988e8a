"""How long a preset really takes here: train it on a dataset, then score the test set once.

    python benchmarks/run_time.py --preset fast --data DIR --out runs/time-fast \\
        [--threads 2] [--seed 0] [--set FIELD=VALUE ...] [--predicted-min 44.3] [--quick]

``budget.py`` predicts a run's minutes from the time of one step; this measures a whole
run with the wall clock: ``train`` (every epoch's steps and its validation pass over the
held-out videos) and ``evaluate`` (calibration on the held-out videos and scoring every
test video, no figures), on ``--threads`` threads. It prints the minutes of training, of
evaluation and of both, the median epoch, and with ``--predicted-min`` (budget.py's
"run min") the ratio measured / predicted. It writes ``OUT/run_time.json`` beside the
run's ``config.json`` and ``eval.json``. One run is one measurement: start it with
nothing else running. ``OUT`` must not exist (the time of a resumed run is not the time
of a run). ``--quick`` times the quick preset on a generated quick synthetic set in a
temporary folder: a check that the script runs, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch
from timing import header, set_threads

from mnad_lite.cli.run import parse_overrides
from mnad_lite.engine.config import PRESETS, preset
from mnad_lite.engine.evaluation import evaluate
from mnad_lite.engine.train import train
from mnad_lite.errors import MNADError
from mnad_lite.files import write_text_atomic


def measure(config, data: str | Path, out: Path) -> dict:
    """Train ``config`` on ``data`` into ``out`` and evaluate it, timed; the record."""
    tic = time.perf_counter()
    result = train(config, data, out, progress=False)
    trained = time.perf_counter()
    report = evaluate(out, data, figures=False, progress=False)
    done = time.perf_counter()
    epochs = [e["seconds"] for e in result.log]
    return {
        "preset": config.preset,
        "threads": torch.get_num_threads(),
        "epochs": len(epochs),
        "train_min": (trained - tic) / 60,
        "evaluate_min": (done - trained) / 60,
        "total_min": (done - tic) / 60,
        "median_epoch_min": statistics.median(epochs) / 60 if epochs else None,
        "frame_auc": report.get("frame_auc"),
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=PRESETS, default="fast")
    parser.add_argument("--data", help="dataset root (any layout mnad_lite reads)")
    parser.add_argument("--out", type=Path, help="run folder to create (must not exist)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--predicted-min", type=float, help="budget.py's run minutes")
    parser.add_argument("--quick", action="store_true", help="quick preset: a smoke test")
    args = parser.parse_args(argv)
    if not args.quick:
        if args.data is None or args.out is None:
            parser.error("--data and --out are needed (or --quick)")
        return run(args)
    from mnad_lite.data.synthetic import generate

    with tempfile.TemporaryDirectory() as tmp:  # removed on success and on failure
        args.preset, args.data = "quick", generate(Path(tmp) / "data", "quick")
        args.out = Path(tmp) / "run"
        return run(args)


def run(args: argparse.Namespace) -> int:
    """Train and score one run as ``args`` says, print the times, write ``run_time.json``."""
    if args.out.exists():
        print(f"{args.out}: exists; give a new folder (a resumed run is not timed)")
        return 1
    threads = set_threads(args.threads)
    header(f"run_time: preset {args.preset}, seed {args.seed}", threads)
    try:
        config = preset(
            args.preset, **{**parse_overrides(args.set), "seed": args.seed, "num_threads": threads}
        )
        record = measure(config, args.data, args.out)
    except MNADError as err:
        print(f"error: {err}")
        return 1
    print(
        f"measured: train {record['train_min']:.1f} min ({record['epochs']} epochs, median "
        f"{record['median_epoch_min']:.2f} min), evaluate {record['evaluate_min']:.1f} min, "
        f"total {record['total_min']:.1f} min; frame AUC {100 * (record['frame_auc'] or 0):.2f}"
    )
    if args.predicted_min:
        record["predicted_min"] = args.predicted_min
        ratio = record["total_min"] / args.predicted_min
        print(f"measured / predicted: x{ratio:.2f} ({args.predicted_min:.1f} min predicted)")
    write_text_atomic(args.out / "run_time.json", json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out / 'run_time.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
