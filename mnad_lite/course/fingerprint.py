"""The course's fingerprint chain: does this machine reproduce the course bit for bit?

Four links, each depending on the one before, for the quick course run (CI) and the full
course reference run (notebook 04's model, which 05 to 07 reuse):

1. ``data_sha256``: the generated synthetic set (every file's bytes: frames, masks,
   labels, manifest);
2. ``first_loss``: Eq. 8 at the first training step (the data as decoded, the seeded
   initialisation, one forward pass);
3. ``weights_sha256``: every tensor of the trained ``model.pt`` (all training steps);
4. ``frame_auc``: the paper protocol's frame AUC on the test videos (scoring, metrics).

The committed chain is ``notebooks/fingerprints.json``; ``tests/course/test_fingerprint.py``
recomputes the quick one from an empty cache in a fresh portable process, and
``make test-cpus`` under emulated CPUs. When a link differs, the first one that does says
where the bits parted: data generation, the first forward pass, training, or scoring.

    python -m mnad_lite.course.fingerprint --quick --check notebooks/fingerprints.json
    python -m mnad_lite.course.fingerprint --full --write notebooks/fingerprints.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from mnad_lite.errors import MNADError

#: The links in the order they are computed; the first that differs is reported.
LINKS = ("data_sha256", "first_loss", "weights_sha256", "frame_auc")


def folder_sha256(root: str | Path) -> str:
    """SHA-256 over every file under ``root`` (relative path and bytes, sorted by path)."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def weights_sha256(checkpoint: str | Path) -> str:
    """SHA-256 over the state dict of ``checkpoint`` (names and raw bytes, sorted)."""
    from mnad_lite.engine.checkpoint import read_checkpoint

    state = read_checkpoint(Path(checkpoint))["state_dict"]
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode() + b"\0")
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def chain(quick: bool) -> dict[str, Any]:
    """The chain of the quick (``quick``) or full course run, from the course cache (what
    is missing is made: data, training, scoring). Enables the portable mode first."""
    from mnad_lite.course.cache import (
        cached_report,
        cached_run,
        course_config,
        course_data,
        read_jsonl,
    )
    from mnad_lite.engine import portable

    portable.enable()
    data = course_data(quick)
    run = cached_run(course_config(quick), data)
    report = cached_report(run, data)
    return {
        "data_sha256": folder_sha256(data),
        "first_loss": read_jsonl(run / "steps.jsonl")[0]["loss"],
        "weights_sha256": weights_sha256(run / "model.pt"),
        "frame_auc": report["frame_auc"],
    }


def first_difference(got: dict[str, Any], expected: dict[str, Any]) -> str | None:
    """None when every link agrees exactly, else a sentence naming the first that does not."""
    for link in LINKS:
        if got.get(link) != expected.get(link):
            return (
                f"link {LINKS.index(link) + 1} of {len(LINKS)} ({link}) differs: got "
                f"{got.get(link)!r}, committed {expected.get(link)!r}"
            )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mnad_lite.course.fingerprint", description=__doc__.split("\n")[0]
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="the quick course run (CI)")
    mode.add_argument("--full", action="store_true", help="the full course reference run")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", type=Path, metavar="FILE", help="compare with FILE")
    action.add_argument("--write", type=Path, metavar="FILE", help="store the chain in FILE")
    args = parser.parse_args(argv)
    key = "quick" if args.quick else "full"
    try:
        got = chain(args.quick)
        print(json.dumps({key: got}, indent=2))
        if args.check:
            try:
                expected = json.loads(args.check.read_text())[key]
            except (OSError, ValueError, KeyError) as err:
                raise MNADError(f"{args.check}: no committed {key} chain ({err})") from None
            problem = first_difference(got, expected)
            if problem:
                print(f"fingerprint: {key} chain: {problem}", file=sys.stderr)
                return 1
            print(f"fingerprint: {key} chain reproduced ({len(LINKS)} of {len(LINKS)} links)")
        if args.write:
            stored = json.loads(args.write.read_text()) if args.write.is_file() else {}
            stored[key] = got
            args.write.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    except MNADError as err:
        print(f"fingerprint: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
