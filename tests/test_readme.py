"""The README is the front page: short, its course map and its headline numbers computed
from the files they come from, every link to a page of the repository alive."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mnad_lite.course.outline import course_map
from mnad_lite.course.outline import main as outline_main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_is_a_front_page():
    assert README.count("\n") <= 250
    for page in ("course", "results", "alerts", "place", "performance", "data", "architecture"):
        assert f"(docs/{page}.md)" in README, page


def test_the_course_map_is_the_measured_one():
    assert course_map(ROOT) in README
    assert outline_main([str(ROOT / "README.md"), "--check"]) == 0
    for stem in sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"(notebooks/{stem}.ipynb)" in course_map(ROOT), stem


def test_a_stale_course_map_is_found(tmp_path: Path):
    page = tmp_path / "README.md"
    page.write_text("<!-- course-map -->\nold\n<!-- /course-map -->\n")
    assert outline_main([str(page), "--check"]) == 1


def pm(stats: dict) -> str:
    return f"{100 * stats['mean']:.2f} ± {100 * stats['std']:.2f}"


def test_the_headline_numbers_are_those_of_the_committed_files():
    ped2 = json.loads((ROOT / "docs/studies/ped2-summary.json").read_text())
    fast = json.loads((ROOT / "docs/studies/fast-ped2-summary.json").read_text())
    course = json.loads((ROOT / "notebooks/fingerprints.json").read_text())["full"]
    v = ped2["variants"]
    chosen = fast["variants"][fast["choice"]["chosen"]]
    vs = v["no-memory"]["vs_reference"]
    text = " ".join(README.split())
    for fragment in (
        f"| {pm(v['memory']['frame_auc'])} | 3 seeds |",
        f"| {pm(v['no-memory']['frame_auc'])} | 3 seeds |",
        f"| {pm(chosen['frame_auc'])} | 3 seeds |",
        f"| {100 * course['frame_auc']:.2f} | 1, portable |",
        f"by {100 * vs['mean_diff']:+.2f} points (95 % interval over test videos "
        f"{100 * vs['ci'][0]:+.2f} to {100 * vs['ci'][1]:+.2f})",
    ):
        assert fragment in text, fragment
    assert "no difference this study can detect" in (ROOT / "docs/results.md").read_text()
    results = " ".join((ROOT / "docs/results.md").read_text().split())
    assert f"frame AUC {100 * course['frame_auc']:.1f} % with the paper's protocol" in results
    assert f"course reference run's, {100 * course['frame_auc']:.2f} %" in text
    assert f"per-video min-max (paper) : {100 * course['frame_auc']:.2f} %" in text


def test_every_relative_link_of_the_readme_and_docs_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)}: {target}"
