"""``train``, ``evaluate`` and ``demo`` on the command line: parse, call the package, print."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from mnad_lite.engine.config import PRESETS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train MNAD on a dataset's training videos")
    p.add_argument("--data", required=True, type=Path, help="dataset root (any layout)")
    p.add_argument("--out", required=True, type=Path, help="run folder to create")
    p.add_argument("--preset", choices=PRESETS, default="lite")
    p.add_argument("--method", choices=("pred", "recon"), default="pred")
    p.add_argument("--no-memory", action="store_true", help="the no-memory baseline")
    p.add_argument("--epochs", type=int)
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
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

    p = subparsers.add_parser("evaluate", help="score the test videos with a trained run")
    p.add_argument("--run", required=True, type=Path, help="run folder (from train)")
    p.add_argument("--data", required=True, type=Path, help="dataset root (any layout)")
    p.add_argument(
        "--no-test-update",
        action="store_true",
        help="do not update the memory at test time (Eqs. 6-7)",
    )
    p.add_argument("--batch-size", type=int)
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--out", type=Path, help="folder for the results (default: the run folder)")
    p.add_argument(
        "--threshold",
        type=float,
        metavar="T",
        help="flag frames whose score (0..1) is at least T; chosen without test labels",
    )
    p.add_argument("--json", action="store_true", help="print eval.json instead of the table")
    p.set_defaults(handler=cmd_evaluate)

    p = subparsers.add_parser(
        "study", help="a grid of variants x seeds: train, evaluate, summarise"
    )
    p.add_argument("--grid", required=True, help="builtin grid (ped2, quick) or a study .json")
    p.add_argument("--data", required=True, type=Path, help="dataset root (any layout)")
    p.add_argument("--out", required=True, type=Path, help="study folder (resumed if it exists)")
    p.add_argument("--only", help="comma-separated variants to run (default: all)")
    p.add_argument("--max-runs", type=int, help="stop after this many new trainings")
    p.add_argument("--summary-only", action="store_true", help="summarise what is finished")
    p.set_defaults(handler=cmd_study)

    p = subparsers.add_parser("demo", help="synthetic data -> train -> evaluate, in minutes")
    p.add_argument("--data", type=Path, default=Path("data/synthetic"))
    p.add_argument("--out", type=Path, default=Path("runs/demo"))
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
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
    from mnad_lite.pipeline.evaluation import evaluate
    from mnad_lite.report.tables import format_report

    report = evaluate(
        args.run,
        args.data,
        test_update=False if args.no_test_update else None,
        batch_size=args.batch_size,
        device=args.device,
        figures=not args.no_figures,
        threshold=args.threshold,
        out=args.out,
    )
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if not args.json:
        out = args.out or args.run
        print(
            f"wrote {out / 'eval.json'}, {out / 'scores.csv'}"
            + ("" if args.no_figures else f", {out / 'figures'}/")
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mnad_lite.pipeline.demo import run_demo

    run_demo(args.data, args.out, device=args.device)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from mnad_lite.pipeline.study import load_grid, markdown, run_study, summarize

    if args.summary_only:
        summary = summarize(args.out)
    else:
        spec = load_grid(args.grid)
        only = args.only.split(",") if args.only else None
        summary = run_study(spec, args.data, args.out, only=only, max_runs=args.max_runs)
    print(markdown(summary))
    print(f"wrote {args.out / 'summary.json'}, {args.out / 'summary.md'}")
    return 0
