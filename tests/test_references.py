"""Every ``mnad_lite.…`` name written in the notebooks' prose, the README or docs/ resolves: a
module that imports, then attributes that exist, so a rename cannot leave stale pointers."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"\bmnad_lite(?:\.[A-Za-z_]\w*)+")


def written_names() -> list[tuple[str, str]]:
    """(name, where) for every dotted mnad_lite name in markdown cells and the README."""
    texts = {"README.md": (ROOT / "README.md").read_text()}
    for page in sorted((ROOT / "docs").rglob("*.md")):
        texts[str(page.relative_to(ROOT))] = page.read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] == "markdown":
                texts[f"{path.name} cell {i}"] = "".join(cell["source"])
    found = {(m.group(0), where) for where, text in texts.items() for m in NAME.finditer(text)}
    return sorted(found)


def resolve(name: str) -> bool:
    """True if the longest importable prefix of ``name`` has the remaining attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith("mnad_lite"):
                continue
            raise
        for attribute in parts[cut:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


def test_the_notebooks_and_the_readme_name_the_package():
    assert len(written_names()) > 20  # the pattern finds what the texts cite


@pytest.mark.parametrize(("name", "where"), written_names())
def test_every_written_name_resolves(name, where):
    assert resolve(name), f"{where} names {name}, which does not exist"


def test_a_stale_name_is_caught():
    assert resolve("mnad_lite.losses.total_loss")
    assert not resolve("mnad_lite.train.total_loss")  # a function has no such attribute
    assert not resolve("mnad_lite.figures.error_maps")  # no such module
