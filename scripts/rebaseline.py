"""Write recorded values into the notebooks' ``expect(...)`` calls (re-baselining).

    MNAD_QUICK=1 MNAD_EXPECT_RECORD=/tmp/rec.jsonl pytest --nbval-lax notebooks/   # record
    python scripts/rebaseline.py /tmp/rec.jsonl notebooks/*.ipynb                  # write

Each record line (``mnad_lite.course.expect`` in record mode) holds an ``expect`` name, the
value it got and the mode (``quick`` or ``full``). For every ``expect("<name>", ...)`` call
in a code cell whose name is a plain string with a record, the ``quick=`` (or ``full=``)
argument is replaced by the recorded value; calls whose recorded value already passes are
left as they are. Only the source changes: run the notebooks again to store their outputs.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

from mnad_lite.course.expect import _compare


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def rebaseline_source(source: str, records: dict[tuple[str, str], Any]) -> tuple[str, list[str]]:
    """``source`` with the ``quick=``/``full=`` arguments of recorded ``expect`` calls
    replaced; returns it and the names changed."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax (magics): not rebaselined
        return source, []
    edits = []  # (start, end, text) in byte offsets: ast's columns count UTF-8 bytes
    data = source.encode()
    offsets = [0]
    for line in data.splitlines(True):
        offsets.append(offsets[-1] + len(line))
    changed = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "expect"):
            continue
        if not node.args or not isinstance(node.args[0], ast.Constant):
            changed.append(
                f"{ast.get_source_segment(source, node)[:60]}...: NOT CHANGED, name not a literal"
            )
            continue
        name = node.args[0].value
        kw = {k.arg: k.value for k in node.keywords}
        tol = ast.literal_eval(kw["tol"]) if "tol" in kw else 0.0
        rel = ast.literal_eval(kw["rel"]) if "rel" in kw else 0.0
        for mode in ("quick", "full"):
            if (name, mode) not in records or mode not in kw:
                continue
            value = records[(name, mode)]
            try:
                current = ast.literal_eval(kw[mode])
            except ValueError:  # an expression (e.g. a comprehension): edit it by hand
                changed.append(f"{name} [{mode}]: NOT CHANGED, not a literal; recorded {value!r}")
                continue
            if _compare(value, current, tol, rel) is None:
                continue
            arg = kw[mode]
            start = offsets[arg.lineno - 1] + arg.col_offset
            end = offsets[arg.end_lineno - 1] + arg.end_col_offset
            edits.append((start, end, repr(_rounded(value)).encode()))
            changed.append(f"{name} [{mode}]")
    for start, end, text in sorted(edits, reverse=True):
        data = data[:start] + text + data[end:]
    return data.decode(), changed


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    records = {}
    for line in Path(argv[0]).read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            records[(r["name"], r["mode"])] = r["value"]
    for path in map(Path, argv[1:]):
        nb = json.loads(path.read_text())
        total = []
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            if "expect(" not in source:
                continue
            new, changed = rebaseline_source(source, records)
            if new != source:
                cell["source"] = new.splitlines(True)
            total += changed
        if any("NOT CHANGED" not in c for c in total):
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        if total:
            print(f"{path}: " + "; ".join(total))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
