"""Re-execute one section of a notebook and store its new outputs, leaving the rest as is.

    python scripts/refresh_section.py notebooks/06_experiments.ipynb "## 4." [--setup "## Setup"]

A long notebook whose one section reads a file that changed (notebook 06, section 4,
reads ``docs/studies/ped2-summary.json``, which grows as the Ped2 study's seeds finish)
need not be re-run in full (hours in full mode). This runs, in a fresh kernel with the
notebook's folder as working directory, the code cells of the setup section and then the
code cells of the target section, and writes the target section's new outputs back
into the notebook (execution counts stay as stored, the order of a full run; a cell new
since that run is numbered into that order, the later cells shifted by one); every
other cell keeps its stored outputs. A section starts at the markdown cell whose first
line starts with the given heading text and ends before the next markdown cell that
starts with ``## ``. The setup section's
outputs are not written. Cells of the target section may only use what the setup defines
(the script cannot know what else they need): a cell that fails stops the script with
its error, and the notebook is left unchanged. Run ``scripts/clean_notebooks.py`` after.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path


def section(cells: list[dict], heading: str) -> list[int]:
    """Indices of the cells from the markdown cell starting with ``heading`` to the next
    ``## `` heading (exclusive)."""

    def first_line(cell: dict) -> str:
        src = "".join(cell.get("source", ""))
        return src.lstrip().splitlines()[0] if src.strip() else ""

    starts = [
        i
        for i, c in enumerate(cells)
        if c["cell_type"] == "markdown" and first_line(c).startswith(heading)
    ]
    if len(starts) != 1:
        raise SystemExit(f"error: {len(starts)} markdown cells start with {heading!r}; need 1")
    start = starts[0]
    end = next(
        (
            i
            for i in range(start + 1, len(cells))
            if cells[i]["cell_type"] == "markdown" and first_line(cells[i]).startswith("## ")
        ),
        len(cells),
    )
    return list(range(start, end))


def _number_new_cell(cells: list[dict], index: int) -> None:
    """Number a cell added since the last full run as a full run would: one after the
    code cell before it, every later code cell (and its results) one further on."""
    before = [c.get("execution_count") or 0 for c in cells[:index] if c["cell_type"] == "code"]
    cells[index]["execution_count"] = max(before, default=0) + 1
    for cell in cells[index + 1 :]:
        if cell["cell_type"] != "code" or cell.get("execution_count") is None:
            continue
        cell["execution_count"] += 1
        for out in cell.get("outputs", []):
            if out.get("execution_count") is not None:
                out["execution_count"] += 1
    for out in cells[index].get("outputs", []):
        if "execution_count" in out:
            out["execution_count"] = cells[index]["execution_count"]


def refresh(path: Path, heading: str, setup: str = "## Setup", timeout: int = 600) -> list[int]:
    """Execute ``setup`` then ``heading``'s code cells; store the latter's outputs.

    Returns the indices of the code cells whose outputs were replaced.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    setup_ids = [i for i in section(nb.cells, setup) if nb.cells[i].cell_type == "code"]
    target_ids = [i for i in section(nb.cells, heading) if nb.cells[i].cell_type == "code"]
    if not target_ids:
        raise SystemExit(f"error: section {heading!r} of {path} has no code cell")
    mini = copy.deepcopy(nb)
    mini.cells = [copy.deepcopy(nb.cells[i]) for i in setup_ids + target_ids]
    client = NotebookClient(
        mini,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    from nbclient.exceptions import CellExecutionError

    try:
        client.execute()
    except CellExecutionError as err:
        raise SystemExit(
            f"error: {path}: a cell of {heading!r} failed ({err.ename}: {err.evalue}); "
            "the notebook is unchanged"
        ) from None
    raw = json.loads(path.read_text())  # written back as stored: outputs' text unsplit
    for k, i in enumerate(target_ids):
        done = mini.cells[len(setup_ids) + k]
        raw["cells"][i]["outputs"] = json.loads(json.dumps(done.outputs))
        if raw["cells"][i].get("execution_count") is None:
            _number_new_cell(raw["cells"], i)  # else the notebook's order stays
    path.write_text(json.dumps(raw, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return target_ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("heading", help='the section\'s heading text, e.g. "## 4."')
    parser.add_argument("--setup", default="## Setup", help="the setup section's heading")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    done = refresh(args.notebook, args.heading, args.setup, args.timeout)
    print(f"{args.notebook}: refreshed the outputs of cells {done}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
