"""Command line: a thin layer over the package.

``python -m mnad_lite <command>`` (also installed as ``mnad-lite``). Every command
parses its arguments, calls one package function and prints the result. Errors from
bad arguments or data (:class:`mnad_lite.errors.MNADError`) are printed as one line
and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mnad_lite.errors import MNADError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnad-lite",
        description="MNAD (memory-guided normality) for video anomaly detection.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    from mnad_lite.cli import data, run

    run.register(sub)
    data.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except MNADError as err:
        print(f"mnad-lite: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mnad-lite: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
