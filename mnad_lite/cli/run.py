"""``train``, ``evaluate``, ``calibrate``, ``watch`` and ``demo`` on the command line: parse,
call the package, print."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from mnad_lite.cli import positive_int
from mnad_lite.engine.config import DEVICES, PRESETS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the run commands (train, evaluate, calibrate, watch, study, demo)."""
    for add in (_train, _evaluate, _calibrate, _watch, _study, _demo):
        add(subparsers)


def _train(subparsers: argparse._SubParsersAction) -> None:
    """``train``: a run folder from a dataset's training videos."""
    p = subparsers.add_parser("train", help="train MNAD on a dataset's training videos")
    p.add_argument("--data", required=True, type=Path, help="dataset root (any layout)")
    p.add_argument("--out", required=True, type=Path, help="run folder to create")
    p.add_argument("--preset", choices=PRESETS, default="lite")
    p.add_argument("--method", choices=("pred", "recon"), default="pred")
    p.add_argument("--no-memory", action="store_true", help="the no-memory baseline")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--seed", type=int)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override any configuration field, e.g. --set num_items=20 "
        "(values are read as JSON when they parse, else as text)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=cmd_train)


def _evaluate(subparsers: argparse._SubParsersAction) -> None:
    """``evaluate``: the paper's protocol with calibration, online score and thresholds."""
    p = subparsers.add_parser("evaluate", help="score the test videos with a trained run")
    p.add_argument("--run", required=True, type=Path, help="run folder (from train)")
    p.add_argument("--data", required=True, type=Path, help="dataset root (any layout)")
    p.add_argument(
        "--no-test-update",
        action="store_true",
        help="do not update the memory at test time (Eqs. 6-7)",
    )
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--out", type=Path, help="folder for the results (default: the run folder)")
    p.add_argument(
        "--threshold",
        metavar="T|auto|auto:Q",
        help="flag frames: T on the paper's score (0..1), or auto (auto:Q) = the 99th (Q-th) "
        "percentile of the calibration videos' online scores, on the online score",
    )
    p.add_argument(
        "--fps",
        type=float,
        help="frame rate for false alarms per minute (default: the video files' header, else 10)",
    )
    p.add_argument("--json", action="store_true", help="print eval.json instead of the table")
    p.set_defaults(handler=cmd_evaluate)


def _calibrate(subparsers: argparse._SubParsersAction) -> None:
    """``calibrate``: normal-data statistics for ``watch``."""
    p = subparsers.add_parser(
        "calibrate", help="normal-data statistics of a run (RUN/calibration.json) for watch"
    )
    p.add_argument("--run", required=True, type=Path, help="run folder (from train)")
    p.add_argument("--data", required=True, type=Path, help="dataset with normal training videos")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--overwrite", action="store_true", help="replace RUN/calibration.json")
    p.set_defaults(handler=cmd_calibrate)


def _watch(subparsers: argparse._SubParsersAction) -> None:
    """``watch``: a video file scored frame by frame, with alerts."""
    p = subparsers.add_parser("watch", help="score a video file frame by frame and raise alerts")
    p.add_argument("video", type=Path, help="video file (.avi, .mp4 ...)")
    p.add_argument("--run", required=True, type=Path, help="run folder with calibration.json")
    p.add_argument("--out", type=Path, help="new folder for the results (default RUN/watch/NAME)")
    p.add_argument(
        "--threshold",
        default="auto",
        metavar="T|auto|auto:Q",
        help="alert when the online score >= T; auto (default) = the calibration's 99th "
        "percentile, auto:Q its Q-th",
    )
    p.add_argument("--annotate", action="store_true", help="also write annotated.avi")
    p.add_argument("--fps", type=float, help="frame rate (default: the video header, else 10)")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_watch)


def _study(subparsers: argparse._SubParsersAction) -> None:
    """``study``: a grid of variants x seeds, resumable, summarised."""
    p = subparsers.add_parser(
        "study", help="a grid of variants x seeds: train, evaluate, summarise"
    )
    p.add_argument("--grid", help="builtin grid (ped2, quick) or a study .json")
    p.add_argument("--data", type=Path, help="dataset root (any layout)")
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        help="study folder (resumed if it exists; processes sharing it train each run once)",
    )
    p.add_argument("--only", help="comma-separated variants to run (default: all)")
    p.add_argument("--max-runs", type=int, help="stop after this many new trainings")
    p.add_argument("--summary-only", action="store_true", help="summarise what is finished")
    p.add_argument(
        "--status",
        action="store_true",
        help="where each run stands (epochs, minutes done and left, which process is on it); "
        "changes nothing",
    )
    p.add_argument(
        "--compact",
        type=Path,
        metavar="FILE",
        help="also write the compact summary (a few KB, for committing) to FILE",
    )
    p.add_argument(
        "--save-records",
        type=Path,
        metavar="DIR",
        help="also keep every finished run as a small record in DIR (no weights, no labels; "
        "for committing)",
    )
    p.add_argument(
        "--restore-records",
        type=Path,
        metavar="DIR",
        help="first bring the runs recorded in DIR that --out lacks back (needs --data: "
        "their labels are read from the dataset)",
    )
    p.add_argument(
        "--choose",
        action="store_true",
        help="pick the variant with the lowest held-out error (needs --data; no test labels)",
    )
    p.set_defaults(handler=cmd_study)


def _demo(subparsers: argparse._SubParsersAction) -> None:
    """``demo``: synthetic data, train, evaluate."""
    p = subparsers.add_parser("demo", help="synthetic data -> train -> evaluate, in minutes")
    p.add_argument("--data", type=Path, default=Path("data/synthetic"))
    p.add_argument("--out", type=Path, default=Path("runs/demo"))
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.set_defaults(handler=cmd_demo)


def parse_overrides(items: list[str]) -> dict:
    from mnad_lite.errors import ConfigError

    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects FIELD=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from mnad_lite.engine.config import preset
    from mnad_lite.engine.train import train

    overrides = parse_overrides(args.set)
    given = {"method": args.method, "epochs": args.epochs, "seed": args.seed, "device": args.device}
    overrides.update({k: v for k, v in given.items() if v is not None})
    if args.no_memory:
        overrides["use_memory"] = False
    config = preset(args.preset, **overrides)
    result = train(config, args.data, args.out, resume=args.resume, progress=not args.quiet)
    last = result.log[-1] if result.log else {}
    if os.environ.get("RANK", "0") != "0":  # under torchrun, process 0 reports
        return 0
    print(
        f"trained {config.preset}/{config.method} for {len(result.log)} epochs "
        f"(final loss {last.get('loss', float('nan')):.4f}); weights: {result.run / 'model.pt'}"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mnad_lite.alerts.evaluation import evaluate
    from mnad_lite.cli.tables import format_report

    if args.out is not None:  # refused now, not after the calibration
        args.out.mkdir(parents=True, exist_ok=True)
    report = evaluate(
        args.run,
        args.data,
        test_update=False if args.no_test_update else None,
        batch_size=args.batch_size,
        device=args.device,
        figures=not args.no_figures,
        threshold=args.threshold,
        out=args.out,
        fps=args.fps,
    )
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if not args.json:
        out = args.out or args.run
        print(
            f"wrote {out / 'eval.json'}, {out / 'scores.csv'}"
            + ("" if args.no_figures else f", {out / 'figures'}/")
        )
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from mnad_lite.alerts.evaluation import calibrate_run

    cal = calibrate_run(args.run, args.data, device=args.device, overwrite=args.overwrite)
    print(
        f"calibrated on {cal.frames} frames of {len(cal.videos)} "
        f"{'held-out' if cal.source == 'val_videos' else 'training'} videos: auto threshold "
        f"{cal.threshold():.4g}, pixel threshold {cal.pixel_threshold:.4g}; wrote "
        f"{args.run / 'calibration.json'}"
    )
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from mnad_lite.alerts.watch import watch

    result = watch(
        args.video,
        args.run,
        out=args.out,
        threshold=args.threshold,
        annotate=args.annotate,
        device=args.device,
        fps=args.fps,
        progress=not args.quiet,
    )
    s = result.summary
    print(
        f"{s['frames']} frames ({s['scored_frames']} scored) at {s['video_fps']:g} fps; "
        f"threshold {s['threshold']:.4g} ({s['threshold_choice']}); "
        f"{len(result.events)} events, {s['flagged_frames']} flagged frames"
    )
    for e in result.events[:10]:
        print(f"  frames {e['start']}-{e['end']}: peak {e['peak_score']:.3g} at {e['peak_frame']}")
    if len(result.events) > 10:
        print(f"  ... {len(result.events) - 10} more in events.csv")
    print(f"wrote {result.out}/")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mnad_lite.cli.demo import run_demo

    run_demo(args.data, args.out, device=args.device)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from mnad_lite.errors import ConfigError
    from mnad_lite.research.grids import load_grid
    from mnad_lite.research.study import run_study
    from mnad_lite.research.summary import summarize, write_compact_summary
    from mnad_lite.research.text import markdown

    if args.status:
        from mnad_lite.research.study import status_text, study_status

        print(status_text(study_status(args.out, load_grid(args.grid) if args.grid else None)))
        return 0
    if args.choose:
        from mnad_lite.research.select import choose_in_study

        if args.data is None:
            raise ConfigError("study --choose needs --data (the held-out videos are read)")
        choice = choose_in_study(args.out, args.data)
        for name, error in sorted(choice["held_out_error"].items(), key=lambda kv: kv[1]):
            print(f"{name:<24} held-out error {error:.6f}")
        print(f"chosen: {choice['chosen']} (wrote {args.out / 'choice.json'})")
        return 0
    if args.restore_records is not None:
        from mnad_lite.research.records import restore_records

        if args.data is None:
            raise ConfigError("study --restore-records needs --data (labels are read from it)")
        restored = restore_records(args.restore_records, args.out, args.data)
        print(f"restored {len(restored)} run(s) from {args.restore_records}: {restored}")
    if args.summary_only:
        summary = summarize(args.out)
    elif args.grid is None or args.data is None:
        raise ConfigError("study needs --grid and --data (or --summary-only to summarise)")
    else:
        spec = load_grid(args.grid)
        only = args.only.split(",") if args.only else None
        summary = run_study(spec, args.data, args.out, only=only, max_runs=args.max_runs)
    print(markdown(summary))
    print(f"wrote {args.out / 'summary.json'}, {args.out / 'summary.md'}")
    if args.save_records is not None:
        from mnad_lite.research.records import save_records

        saved = save_records(args.out, args.save_records)
        print(f"recorded {len(saved)} new run(s) in {args.save_records}: {saved}")
    if args.compact is not None:
        write_compact_summary(args.out / "summary.json", args.compact)
        print(f"wrote {args.compact} (compact)")
    return 0
