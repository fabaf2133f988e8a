"""Strip volatile metadata from notebooks, keeping outputs and execution counts.

    python scripts/clean_notebooks.py notebooks/*.ipynb          # clean in place
    python scripts/clean_notebooks.py --check notebooks/*.ipynb  # exit 1 if any would change

nbval compares the stored outputs of ``# NBVAL_CHECK_OUTPUT`` cells, and needs the outputs
*and* the execution counts to stay in the committed notebooks (plain nbstripout would
remove both). What changes on every run and carries no content is removed:

- per-cell execution timing (``metadata.execution``, written by nbclient/nbconvert, and
  ``metadata.ExecuteTime`` from the JupyterLab execute-time extension);
- the notebook's ``metadata.widgets`` (the ipywidgets state of the last run);
- in outputs, the ``application/vnd.jupyter.widget-view+json`` entry, a random model id
  that points into the removed widget state (a reader would see "model not found");
  the output itself and its ``text/plain`` stay. ``--keep-widget-views`` keeps them.

Kernel and language metadata stay. Only the standard library is needed; files are written
as nbformat writes them (1-space indent, sorted keys, UTF-8, final newline), and only
when something changed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CELL_KEYS = ("execution", "ExecuteTime")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def clean(nb: dict, keep_widget_views: bool = False) -> dict:
    """Remove the volatile metadata from a notebook dict (in place); returns it."""
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {})
        for key in CELL_KEYS:
            meta.pop(key, None)
        if keep_widget_views:
            continue
        for output in cell.get("outputs", []):
            data = output.get("data")
            if isinstance(data, dict) and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                if not data:
                    data["text/plain"] = "(an interactive widget: run the notebook to use it)"
    return nb


def dumps(nb: dict) -> str:
    """The notebook as nbformat writes it."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if dirty")
    parser.add_argument("--keep-widget-views", action="store_true")
    args = parser.parse_args(argv)
    dirty = []
    for path in args.notebooks:
        before = path.read_text(encoding="utf-8")
        after = dumps(clean(json.loads(before), args.keep_widget_views))
        if after != before:
            dirty.append(path)
            if not args.check:
                path.write_text(after, encoding="utf-8")
    verb = "would clean" if args.check else "cleaned"
    for path in dirty:
        print(f"{verb} {path}")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
