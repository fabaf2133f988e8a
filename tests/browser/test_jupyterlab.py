"""The widget notebooks in a real JupyterLab, driven by Playwright in headless Chromium.

For every notebook of ``WIDGET_NOTEBOOKS`` (a copy, in quick mode): open it, run all
cells, wait for the kernel to go idle, check that every code cell ran and none shows an
error, then move each widget's first slider by one step with the keyboard and check that
the widget's picture changes. Screenshots go to ``$BROWSER_ARTIFACTS`` (or a folder under
pytest's tmp dir, printed at the end). A notebook listed here without a slider fails.

Run with ``make test-browser`` (or ``pytest -m browser tests/browser``); the plain unit
run leaves the ``browser``-marked tests out (``-m "not browser"`` in pyproject's addopts)
and runs only the static check of the notebook list.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
# The notebooks with widgets; every one must have at least one slider. Add 05 here when
# its widget lands.
WIDGET_NOTEBOOKS = ("02_memory.ipynb", "03_losses.ipynb", "05_evaluation.ipynb", "08_alerts.ipynb")
NOTEBOOK_TIMEOUT_S = 600  # opening and running one notebook in quick mode
WIDGET_TIMEOUT_S = 120  # one slider step, until the widget's picture changes
PAGE_TIMEOUT_MS = 120_000

# Widgets displayed by a cell (not those nested in a widget's own Output area).
WIDGET_ROOTS = (
    ".jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output > .jupyter-widgets"
)
# Progress of a run: the code cells' prompts and the kernel's status.
RUN_STATE_JS = """() => ({
  prompts: [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .map(e => e.textContent.trim()),
  status: document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status ?? null,
})"""
# Error outputs as the reader sees them: JupyterLab renders a traceback as stderr text.
TRACEBACKS_JS = """() => [...document.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
  .map(e => e.textContent).filter(t => t.includes('Traceback (most recent call last)'))
  .map(t => t.slice(0, 400))"""
# The widget's pictures (its Output's PNGs, or Image widgets), as one string; null if none.
PICTURE_JS = "el => [...el.querySelectorAll('img')].map(i => i.src).join('|') || null"


def open_and_run_all(context, lab, name: str, shots: Path):
    """Open ``name`` in JupyterLab, run all cells and wait until the kernel is idle.

    Returns the page and the final run state (``prompts``, ``status``). On a timeout, a
    screenshot goes to ``shots``.
    """
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    page.wait_for_selector("#jp-main-statusbar :text('| Idle')")  # kernel started
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    deadline = time.monotonic() + NOTEBOOK_TIMEOUT_S
    time.sleep(1)
    while True:
        state = page.evaluate(RUN_STATE_JS)
        if state["status"] == "dead":
            pytest.fail(f"{name}: the kernel died ({state['status']}):\n{lab.log_tail()}")
        if state["status"] == "idle" and "[*]:" not in state["prompts"]:
            time.sleep(1)  # idle between two cells is not the end: look again
            state = page.evaluate(RUN_STATE_JS)
            if state["status"] == "idle" and "[*]:" not in state["prompts"]:
                return page, state
        if time.monotonic() > deadline:
            page.screenshot(path=str(shots / f"{Path(name).stem}-timeout.png"))
            pytest.fail(f"{name}: still running after {NOTEBOOK_TIMEOUT_S} s: {state}")
        time.sleep(1)


def saved_errors(page, lab, name: str) -> list[str]:
    """Save the notebook (Ctrl+S) and list its error outputs as 'cell N: Ename: value'."""
    path = lab.folder / name
    before = path.stat().st_mtime_ns
    page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 60
    while path.stat().st_mtime_ns == before:
        if time.monotonic() > deadline:
            pytest.fail(f"{name}: Ctrl+S did not save the notebook within 60 s")
        time.sleep(0.5)
    time.sleep(0.5)  # the file is written at once, but be sure it is complete
    cells = json.loads(path.read_text())["cells"]
    return [
        f"cell {i}: {out.get('ename')}: {out.get('evalue')}"
        for i, cell in enumerate(cells)
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


def shutdown_kernels(lab) -> None:
    """Stop every kernel of the test server (each notebook starts its own)."""
    for session in lab.api("GET", "/api/sessions") or []:
        lab.api("DELETE", f"/api/sessions/{session['id']}")


def slider_value(slider) -> str:
    """The slider's readout as shown (e.g. '10', '0.15')."""
    return slider.locator(".widget-readout").first.inner_text().strip()


def check_widget(page, root, stem: str, index: int, artifacts: Path) -> str:
    """Move the widget's first slider one step (right, or left at its maximum); its
    picture must change.

    Returns a one-line summary ("λ_c: 0.10 -> 0.15").
    """
    label = f"{stem} widget {index}"
    sliders = root.locator(".widget-slider")
    if sliders.count() == 0:
        pytest.fail(f"{label} has no slider")
    slider = sliders.first
    name = slider.locator(".widget-label").first.inner_text().strip()
    root.scroll_into_view_if_needed()
    before = root.evaluate(PICTURE_JS)
    if not before:
        pytest.fail(f"{label} shows no picture (no <img>) before the slider moves")
    value_before = slider_value(slider)
    root.screenshot(path=str(artifacts / f"{stem}-widget{index}-before.png"))

    handle = slider.locator(".noUi-handle").first
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    handle.focus()
    handle.press("ArrowLeft" if at_max else "ArrowRight")
    try:
        page.wait_for_function(
            f"([el, old]) => {{ const src = ({PICTURE_JS})(el); return src && src !== old }}",
            arg=[root.element_handle(), before],
            timeout=WIDGET_TIMEOUT_S * 1000,
        )
    except Exception as err:  # playwright's TimeoutError
        root.screenshot(path=str(artifacts / f"{stem}-widget{index}-unchanged.png"))
        pytest.fail(
            f"{label}: picture unchanged {WIDGET_TIMEOUT_S} s after moving '{name}' "
            f"from {value_before} to {slider_value(slider)} ({type(err).__name__})"
        )
    value_after = slider_value(slider)
    assert value_after != value_before, f"{label}: the slider '{name}' did not move"
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    root.screenshot(path=str(artifacts / f"{stem}-widget{index}-after.png"))
    return f"{name}: {value_before} -> {value_after}"


def test_widget_notebook_list_is_sound():
    """The constant names real notebooks, each storing the output of a slider widget.

    No browser needed: this one runs in the unit suite too."""
    assert WIDGET_NOTEBOOKS, "no widget notebook listed"
    for name in WIDGET_NOTEBOOKS:
        path = NOTEBOOKS / name
        assert path.is_file(), f"{name} is listed in WIDGET_NOTEBOOKS but does not exist"
        outputs = [
            out.get("data", {}).get("text/plain", "")
            for cell in json.loads(path.read_text())["cells"]
            for out in cell.get("outputs", [])
        ]
        text = "".join("".join(t) if isinstance(t, list) else t for t in outputs)
        # a stored widget view, or (after scripts/clean_notebooks.py) its static picture
        # with the note that replaces the view
        widget = "Slider(" in text or "(interactive widget;" in text
        assert widget, f"{name} stores no output of a widget with a slider"


@pytest.mark.browser
def test_failing_cell_is_detected(context_and_lab, artifacts: Path):
    """Self-check of the detectors: a cell raising an error is seen, and what follows did
    not run. Without this, a broken detector would let every notebook pass."""
    context, lab = context_and_lab
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in ("x = 1", "1 / 0", "y = 2")]
    nbformat.write(nb, lab.folder / "selfcheck.ipynb")
    page, state = open_and_run_all(context, lab, "selfcheck.ipynb", artifacts)
    try:
        assert state["prompts"] == ["[1]:", "[2]:", "[ ]:"], state
        tracebacks = page.evaluate(TRACEBACKS_JS)
        assert len(tracebacks) == 1 and "ZeroDivisionError" in tracebacks[0], tracebacks
        assert saved_errors(page, lab, "selfcheck.ipynb") == [
            "cell 1: ZeroDivisionError: division by zero"
        ]
    finally:
        page.close()
        shutdown_kernels(lab)


@pytest.fixture(scope="session")
def context_and_lab(browser_context, lab):
    """The browser and the server, started in that order (the browser skip comes first)."""
    return browser_context, lab


@pytest.mark.browser
@pytest.mark.parametrize("name", WIDGET_NOTEBOOKS)
def test_widget_notebook_runs_and_sliders_redraw(name: str, context_and_lab, artifacts: Path):
    context, lab = context_and_lab
    stem = Path(name).stem
    shutil.copy(NOTEBOOKS / name, lab.folder / name)
    started = time.monotonic()
    page, state = open_and_run_all(context, lab, name, artifacts)
    try:
        ran = time.monotonic() - started
        page.screenshot(path=str(artifacts / f"{stem}-after-run.png"))
        not_run = [i for i, p in enumerate(state["prompts"]) if not p[1:-2].isdigit()]
        assert not not_run, f"{name}: code cells {not_run} did not run: {state['prompts']}"
        tracebacks = page.evaluate(TRACEBACKS_JS)
        assert not tracebacks, f"{name}: {len(tracebacks)} error output(s):\n" + "\n".join(
            tracebacks
        )
        errors = saved_errors(page, lab, name)
        assert not errors, f"{name}: error outputs in the saved notebook: {errors}"

        widgets = page.locator(WIDGET_ROOTS).all()
        sliders = page.locator(f"{WIDGET_ROOTS} .widget-slider").count()
        assert sliders, f"{name} is listed in WIDGET_NOTEBOOKS but shows no slider"
        moved = [check_widget(page, root, stem, i, artifacts) for i, root in enumerate(widgets)]
        print(f"{name}: ran in {ran:.0f} s; sliders moved: {'; '.join(moved)}")
    finally:
        page.close()
        shutdown_kernels(lab)
