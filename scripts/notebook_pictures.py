"""Save one picture per course notebook for the README: ``docs/notebooks/NN_topic.png``.

The picture is the first PNG output of the cell whose source contains ``README_PICTURE``,
or else the first PNG output of the notebook. Run after executing the notebooks:

    python scripts/notebook_pictures.py notebooks/*.ipynb
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import nbformat


def picture(path: Path) -> bytes | None:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    marked = [c for c in cells if "README_PICTURE" in c.source]
    for cell in marked + cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                return base64.b64decode(png)
    return None


def main(paths: list[str]) -> int:
    out = Path("docs/notebooks")
    out.mkdir(parents=True, exist_ok=True)
    for name in paths:
        data = picture(Path(name))
        if data is None:
            print(f"{name}: no picture in its outputs", file=sys.stderr)
            continue
        target = out / (Path(name).stem + ".png")
        target.write_bytes(data)
        print(f"{target} ({len(data) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
