"""The course map: each notebook, what it teaches, what to read first, what it costs.

The table (:func:`course_map`) is written into the README between ``<!-- course-map -->``
and ``<!-- /course-map -->`` and onto the site's landing page; its times are the measured
ones of ``notebooks/timings.json`` (``python scripts/time_course.py --write``), so the
map never states a time that was not measured.

    python -m mnad_lite.course.outline [README.md] [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

#: notebook -> (what it teaches, the notebooks to read first).
CHAPTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "01_data": (
        "the task, the benchmarks and their ground truth, the synthetic scene and its five "
        "anomaly kinds, clips of t_length frames",
        (),
    ),
    "02_memory": (
        "the memory read and update (Eqs. 1-5) on tiny tensors, the authors' vs the paper's "
        "Eq. 5, why items get no gradient; a widget over M",
        ("01_data",),
    ),
    "03_losses": (
        "prediction vs reconstruction, compactness and separateness (Eqs. 8-13) on a 2-D "
        "toy; a widget over λ_c and λ_s",
        ("02_memory",),
    ),
    "04_training": (
        "the full network's shapes, the presets, training with live loss curves, the same "
        "code on a GPU",
        ("02_memory", "03_losses"),
    ),
    "05_evaluation": (
        "PSNR, feature distance and the score (Eqs. 14-17), the test-time update (Eqs. 6-7), "
        "score curves, error maps, the evaluation choices side by side",
        ("04_training",),
    ),
    "06_experiments": (
        "the questions users ask, answered with runs: the memory, the losses, M, "
        "reconstruction, seeds; the Ped2 study beside the paper",
        ("05_evaluation",),
    ),
    "07_place": (
        "anomalies of place: why queries cannot see where, position-aware queries, the "
        "place study's per-kind verdict",
        ("05_evaluation",),
    ),
    "08_alerts": (
        "your own video: from a file to a dataset, calibration on normal footage, watch, "
        "alarms, false alarms per minute against recall; a widget over the threshold",
        ("04_training", "05_evaluation"),
    ),
}
BEGIN, END = "<!-- course-map -->", "<!-- /course-map -->"
ROOT = Path(__file__).resolve().parents[2]


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "not measured"
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def course_map(root: str | Path = ROOT, link: str = "notebooks/{stem}.ipynb") -> str:
    """The course map as a Markdown table, one row per notebook of ``root/notebooks``,
    with the measured first-run (empty cache) and cached times of ``timings.json``.
    ``link`` is each notebook's link (the site passes ``{stem}.html``)."""
    root = Path(root)
    timings_path = root / "notebooks" / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    first, cached = timings.get("first_run", {}), timings.get("cached", {})
    rows = [
        "| notebook | what it teaches | read first | first run | cached |",
        "|---|---|---|---|---|",
    ]
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        stem = path.stem
        teaches, before = CHAPTERS.get(stem, ("", ()))
        title = stem.replace("_", " ", 1)
        needs = ", ".join(b[:2] for b in before) or "nothing"
        rows.append(
            f"| [{title}]({link.format(stem=stem)}) | {teaches} | {needs} "
            f"| {_minutes(first.get(stem))} | {_minutes(cached.get(stem))} |"
        )
    total = [
        sum(t.get(p.stem, 0) for p in (root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        for t in (first, cached)
    ]
    machine = first.get("machine", "?")
    rows.append(
        f"\nFull mode, measured on {machine} ({first.get('date', '?')}): "
        f"{_minutes(total[0])} the first time (an empty cache: every course model "
        f"trains), {_minutes(total[1])} once the runs are cached."
    )
    return "\n".join(rows)


def refresh(text: str, table: str) -> str:
    """``text`` with its course-map block replaced by ``table``."""
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"no {BEGIN} ... {END} block")
    return pattern.sub(lambda _: f"{BEGIN}\n{table}\n{END}", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", nargs="?", type=Path, default=ROOT / "README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if the map is stale")
    args = parser.parse_args(argv)
    text = args.page.read_text()
    new = refresh(text, course_map(ROOT))
    if args.check:
        if new != text:
            print(f"{args.page}: the course map is out of date; run python -m {__spec__.name}")
            return 1
        return 0
    if new != text:
        args.page.write_text(new)
        print(f"rewrote the course map of {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
