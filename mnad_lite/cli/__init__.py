"""Command line: a thin layer over the package.

``python -m mnad_lite <command>`` (also installed as ``mnad-lite``). Every command
parses its arguments, calls one package function and prints the result. Errors from
bad arguments or data (:class:`mnad_lite.errors.MNADError`) and files that cannot be
written or read (:class:`OSError`: an ``--out`` on a file, a read-only folder) are printed
as one line naming the file and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mnad_lite.errors import MNADError


def positive_int(text: str) -> int:
    """An argparse type: a whole number > 0 (a batch size, a count)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


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
    except OSError as err:  # the file system said no: name the file, no traceback
        where = f"{err.filename}: " if err.filename else ""
        print(f"mnad-lite: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mnad-lite: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
