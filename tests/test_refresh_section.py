"""scripts/refresh_section.py: one section re-executed, the rest of the notebook untouched."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from refresh_section import refresh, section  # noqa: E402


def notebook(path: Path, value_file: str) -> Path:
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        md("# Title"),
        md("## Setup"),
        code("from pathlib import Path\nBASE = 10"),
        md("## 1. Stored"),
        code("print('stored section')"),
        md("## 2. Reads a file"),
        code(f"v = int(Path({value_file!r}).read_text())\nprint(BASE + v)"),
        md("A note inside the section"),
        code("print(v * 2)"),
        md("## 3. After"),
        code("print('after')"),
    ]
    stale = nbformat.v4.new_output("stream", name="stdout", text="stale\n")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [stale], 99
    nbformat.write(nb, path)
    return path


def test_section_spans_to_the_next_level_two_heading(tmp_path):
    nb = nbformat.read(notebook(tmp_path / "nb.ipynb", "x"), as_version=4)
    assert section(nb.cells, "## 2.") == [5, 6, 7, 8]
    with pytest.raises(SystemExit, match="0 markdown cells"):
        section(nb.cells, "## 9.")


def test_refresh_replaces_only_the_section_outputs(tmp_path):
    (tmp_path / "value.txt").write_text("5")
    path = notebook(tmp_path / "nb.ipynb", "value.txt")  # relative: runs in the notebook's folder
    assert refresh(path, "## 2.") == [6, 8]
    nb = nbformat.read(path, as_version=4)
    texts = {
        i: "".join(o.get("text", "") for o in c.outputs)
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
    }
    assert texts == {2: "stale\n", 4: "stale\n", 6: "15\n", 8: "10\n", 10: "stale\n"}
    assert all(c.execution_count == 99 for c in nb.cells if c.cell_type == "code")


def test_a_failing_cell_leaves_the_notebook_unchanged(tmp_path):
    path = notebook(tmp_path / "nb.ipynb", "missing.txt")
    before = path.read_bytes()
    with pytest.raises(SystemExit, match="FileNotFoundError.*unchanged"):
        refresh(path, "## 2.")
    assert path.read_bytes() == before


def test_a_new_cell_is_numbered_into_the_stored_order(tmp_path):
    (tmp_path / "value.txt").write_text("5")
    path = notebook(tmp_path / "nb.ipynb", "value.txt")
    nb = nbformat.read(path, as_version=4)
    for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = n + 1  # a full run: 1, 2, 3, 4, 5
    new = nbformat.v4.new_code_cell("1 + 1")  # added to section 2 since, never run
    nb.cells.insert(7, new)
    nbformat.write(nb, path)
    assert refresh(path, "## 2.") == [6, 7, 9]
    nb = nbformat.read(path, as_version=4)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == [1, 2, 3, 4, 5, 6]
    assert nb.cells[7].outputs[0]["execution_count"] == 4  # the result of 1 + 1
    assert nb.cells[7].outputs[0]["data"]["text/plain"] == "2"
