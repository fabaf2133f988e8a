"""The course's measured run times (notebooks/timings.json, scripts/time_course.py): every
notebook has both, the README states their totals, each setup cell prints its own."""

from __future__ import annotations

import json
from pathlib import Path

from mnad_lite.course import course_time

ROOT = Path(__file__).resolve().parents[2]
TIMINGS = json.loads((ROOT / "notebooks" / "timings.json").read_text())
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def total_minutes(key: str) -> int:
    return round(sum(TIMINGS[key][name] for name in NOTEBOOKS) / 60)


def test_every_notebook_has_both_times():
    for key in ("first_run", "cached"):
        assert all(TIMINGS[key][name] > 0 for name in NOTEBOOKS), key


def test_the_readme_states_the_measured_totals():
    readme = (ROOT / "README.md").read_text()
    assert f"took {total_minutes('first_run')} minutes on this project's" in readme
    assert f"({total_minutes('cached')} minutes in all" in readme


def test_the_course_page_states_the_measured_totals_and_no_typed_times_per_notebook():
    page = " ".join((ROOT / "docs" / "course.md").read_text().split())
    first, cached = total_minutes("first_run"), total_minutes("cached")
    assert f"course took {first} minutes from an empty cache" in page
    assert f"and {cached} minutes once the runs were cached" in page
    assert f"({TIMINGS['first_run']['date']})" in page


def test_each_setup_cell_prints_its_own_time():
    for name in NOTEBOOKS:
        line = course_time(name, ROOT)
        assert line.startswith(name) and "first time" in line and "cached" in line
        cells = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"]
        assert f'print(course_time("{name}"))' in "".join(cells[2]["source"])
    assert course_time("99_missing", ROOT).startswith("no measured run time for 99_missing")


def test_each_notebook_opens_with_the_notation_page_and_the_course_map():
    for name in NOTEBOOKS:
        first = "".join(
            json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"][0]["source"]
        )
        assert "(../docs/notation.md)" in first and "(../README.md)" in first, name
