"""The rendered course (scripts/build_site.py) in headless Chromium: equations typeset.

tests/test_site.py checks the pages' structure without a browser; here the landing page
and every chapter are opened from disk (``file://``, as a reader would open a downloaded
copy), MathJax must typeset the equations without errors and without fetching anything
that is missing, and screenshots of the landing page and of chapter 02 are saved.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MATHJAX_TIMEOUT_MS = 60_000
# MathJax 2 probes web-font support with a font at about:blank: a failure by design.
EXPECTED_FAILURES = ("about:blank",)


def build(out: Path) -> list[Path]:
    spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.build_site(out, quiet=True)


def count_display_maths(nb_path: Path) -> int:
    """Number of ``$$`` equations in the notebook's markdown cells."""
    cells = json.loads(nb_path.read_text())["cells"]
    return sum("".join(c["source"]).count("$$") // 2 for c in cells if c["cell_type"] == "markdown")


@pytest.mark.browser
def test_site_pages_typeset_their_equations(browser_context, artifacts, tmp_path):
    pytest.importorskip("nbconvert")
    pages = build(tmp_path / "site")
    failed: list[str] = []
    page = browser_context.new_page()
    page.on("requestfailed", lambda r: failed.append(r.url))
    try:
        for path in pages:
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            has_mathjax = page.evaluate("() => !!window.MathJax")
            nb_path = ROOT / "notebooks" / f"{path.stem}.ipynb"
            displays = count_display_maths(nb_path) if nb_path.is_file() else 0
            if displays:
                assert has_mathjax, f"{path.name}: MathJax did not load"
            if has_mathjax:
                page.wait_for_function(
                    "() => MathJax.Hub && MathJax.Hub.queue.pending === 0 "
                    "&& MathJax.Hub.queue.running === 0",
                    timeout=MATHJAX_TIMEOUT_MS,
                )
                typeset = page.locator(".MathJax_Display").count()
                errors = page.locator(".MathJax_Error, merror").all_inner_texts()
                assert not errors, f"{path.name}: MathJax errors {errors}"
                assert typeset >= displays, f"{path.name}: {typeset} of {displays} typeset"
                raw = page.evaluate(
                    "() => [...document.querySelectorAll('.jp-RenderedMarkdown')]"
                    ".map(e => e.innerText).filter(t => t.includes('$$')).length"
                )
                assert raw == 0, f"{path.name}: {raw} cells still show raw $$ maths"
            if path.stem == "index":
                page.screenshot(path=str(artifacts / "site-index.png"), full_page=True)
            elif path.stem == "02_memory":  # the first equations of the chapter
                page.locator(".MathJax_Display").first.scroll_into_view_if_needed()
                page.screenshot(path=str(artifacts / "site-02_memory.png"))
        missing = [u for u in failed if not u.startswith(EXPECTED_FAILURES)]
        assert not missing, f"requests that failed: {missing}"
    finally:
        page.close()
