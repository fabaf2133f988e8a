"""How long the course takes: every notebook executed in order, timed, in full mode.

    python scripts/time_course.py --write               # from an empty cache, then cached
    python scripts/time_course.py --cache DIR --cached-only --inplace --write
    python scripts/time_course.py --only 08_alerts --inplace --write  # one notebook's times
    python scripts/time_course.py --first-only --record new.jsonl --keep-going --write

The first pass runs every notebook top to bottom (``jupyter nbconvert --execute``) in
course order from an empty ``MNAD_CACHE`` (a new temporary folder unless ``--cache``
names one), as a learner's first run does: each notebook trains what it needs that an
earlier one did not. The second pass runs them again with that cache filled.
``--inplace`` stores the executed outputs in the notebooks (re-baselining; run
``scripts/clean_notebooks.py`` after it). ``--write`` records the seconds in
``notebooks/timings.json``, which each notebook's setup cell prints
(:func:`mnad_lite.course.course_time`) and the README quotes. Run it with nothing else on
the machine. ``--only NAME`` times one notebook (a new one) the same way, first from an
empty cache (what it trains itself, and the course data it needs), then cached, and keeps
the other notebooks' recorded times.

Re-recording after a change that moves trained numbers: ``--first-only --record FILE``
times the first pass with ``MNAD_EXPECT_RECORD=FILE`` (every ``expect`` records its value
instead of raising; ``scripts/rebaseline.py FILE`` then writes them into the notebooks),
and ``--cached-only --inplace`` stores the outputs afterwards. ``--keep-going`` times the
notebooks after one that fails (an ``assert`` a new number broke) and lists the failures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMINGS = ROOT / "notebooks" / "timings.json"


def run_pass(
    cache: str,
    inplace: bool,
    only: str | None = None,
    record: str | None = None,
    keep_going: bool = False,
) -> dict[str, float]:
    """Seconds per notebook (``only``: that one), each executed top to bottom in full mode
    with ``cache`` (``record``: the ``MNAD_EXPECT_RECORD`` file)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MNAD_QUICK", "MNAD_EXPECT_RECORD")}
    env["MNAD_CACHE"] = cache
    if record:
        env["MNAD_EXPECT_RECORD"] = str(Path(record).resolve())
    failed = []
    seconds = {}
    for notebook in sorted((ROOT / "notebooks").glob(f"{only or '[0-9][0-9]_*'}.ipynb")):
        out = [] if inplace else ["--output-dir", tempfile.mkdtemp(prefix="mnad-time-")]
        command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook"]
        command += ["--execute", "--ExecutePreprocessor.timeout=-1"]
        command += ["--inplace"] if inplace else out
        tic = time.perf_counter()
        done = subprocess.run(command + [str(notebook)], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            if not keep_going:
                raise SystemExit(f"{notebook.name} failed:\n{done.stderr[-3000:]}")
            failed.append(notebook.stem)
            print(f"{notebook.stem} FAILED:\n{done.stderr[-3000:]}", flush=True)
            continue
        seconds[notebook.stem] = round(time.perf_counter() - tic, 1)
        print(f"{notebook.stem:<16} {seconds[notebook.stem]:7.1f} s", flush=True)
    if failed:
        print("failed (not timed):", ", ".join(failed), flush=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", help="MNAD_CACHE to use (default: a new empty folder)")
    parser.add_argument("--cached-only", action="store_true", help="only the cached pass")
    parser.add_argument("--inplace", action="store_true", help="store outputs (last pass)")
    parser.add_argument("--write", action="store_true", help=f"record in {TIMINGS.name}")
    parser.add_argument("--only", metavar="NAME", help="time this notebook only (e.g. 08_alerts)")
    parser.add_argument("--first-only", action="store_true", help="only the first pass")
    parser.add_argument("--record", metavar="FILE", help="MNAD_EXPECT_RECORD of the first pass")
    parser.add_argument("--keep-going", action="store_true", help="go on after a failed notebook")
    args = parser.parse_args(argv)
    cache = args.cache or tempfile.mkdtemp(prefix="mnad-course-")
    record = json.loads(TIMINGS.read_text()) if TIMINGS.is_file() else {}
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    today = time.strftime("%Y-%m-%d")
    if not args.cached_only:
        print("first run, empty cache:", cache)
        first = run_pass(cache, False, args.only, args.record, args.keep_going)
        record["first_run"] = (
            {**record.get("first_run", {}), **first}
            if args.only
            else {"date": today, "machine": machine, **first}
        )
    if not args.first_only:
        print("cached run:", cache)
        cached = run_pass(cache, args.inplace, args.only, keep_going=args.keep_going)
        record["cached"] = (
            {**record.get("cached", {}), **cached}
            if args.only
            else {"date": today, "machine": machine, **cached}
        )
    for key in ("first_run", "cached"):
        if key in record:
            total = sum(v for k, v in record[key].items() if k[:2].isdigit())
            print(f"{key}: {total:.0f} s in all")
    if args.write:
        TIMINGS.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
