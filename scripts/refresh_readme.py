"""Rewrite the study blocks of a page (docs/results.md) from the committed summaries.

    python scripts/refresh_readme.py [docs/results.md] [--check]

A block is everything between
``<!-- study-summary: PATH [published=DATASET] [target=AUC] [WHERE] -->`` and
``<!-- /study-summary -->``; PATH (relative to the page, else to the repository) is a study
summary
(``docs/studies/<study>-summary.json``), DATASET a key of
:data:`mnad_lite.research.published.PUBLISHED` (the published numbers to compare with), AUC a
frame AUC in % that the chosen (else the reference) variant should reach over 3 seeds
(:func:`mnad_lite.research.text.target_answer`) and the optional WHERE opens the
verdict's sentence ("On Ped2"). The block becomes
:func:`mnad_lite.research.text.readme_block` of it: the table, the mechanism table, the
published numbers and the verdict, so the README states exactly the file's numbers.
``--check`` changes nothing and exits 1 when a block is out of date (the test suite runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from mnad_lite.research.published import PUBLISHED
from mnad_lite.research.text import readme_block

REPO = Path(__file__).resolve().parents[1]

BLOCK = re.compile(
    r"(<!-- study-summary: (?P<path>\S+)(?: published=(?P<published>\S+))?"
    r"(?: target=(?P<target>\d+(?:\.\d+)?))?"
    r"(?: (?P<where>[^>]*?))? -->\n)(?P<body>.*?)(?P<end><!-- /study-summary -->)",
    re.S,
)


def refresh(text: str, root: Path) -> str:
    """``text`` with every study block rewritten from the summary it names."""

    def block(match: re.Match) -> str:
        path = root / match["path"]
        if not path.exists():
            path = REPO / match["path"]
        try:
            summary = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise SystemExit(f"{path}: cannot read the study summary ({err})") from None
        where = match["where"] or "In this study"
        key = match["published"]
        if key is not None and key not in PUBLISHED:
            raise SystemExit(
                f"study-summary marker of {match['path']}: no published numbers for {key!r} "
                f"(known: {', '.join(sorted(PUBLISHED))})"
            )
        target = None if match["target"] is None else float(match["target"])
        body = readme_block(summary, match["path"], where, PUBLISHED.get(key or "", []), target)
        return f"{match.group(1)}{body}\n{match['end']}"

    return BLOCK.sub(block, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("readme", nargs="?", type=Path, default=REPO / "docs" / "results.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if a block is stale")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    new = refresh(text, args.readme.parent)
    if not BLOCK.search(text):
        print(f"{args.readme}: no study-summary block", file=sys.stderr)
        return 1
    if args.check:
        if new != text:
            print(f"{args.readme}: a study block is out of date; run scripts/refresh_readme.py")
            return 1
        return 0
    if new != text:
        args.readme.write_text(new)
        print(f"rewrote the study blocks of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
