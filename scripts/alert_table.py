"""The README's alert table: mean ± std over runs of what ``evaluate --threshold auto`` reports.

    python scripts/alert_table.py memory=runs/a/memory-seed0,runs/a/memory-seed1 \\
        no-memory=runs/a/no-memory-seed0,...

Each argument is ``LABEL=DIR[,DIR...]``: folders holding an ``eval.json`` written with
``--threshold auto``. Prints one Markdown row per label (frame AUC with the paper's protocol
and online, the auto threshold's precision, recall and F1, false alarms per minute, anomalous
events with at least one flagged frame, RBDC and TBDC where the data have boxes or masks).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

COLUMNS = {
    "runs": None,
    "frame AUC (paper)": lambda r: 100 * r["frame_auc"],
    "frame AUC (online)": lambda r: 100 * r["frame_auc_online"],
    "precision": lambda r: 100 * r["precision"],
    "recall": lambda r: 100 * r["recall"],
    "F1": lambda r: 100 * r["f1"],
    "false alarms / min": lambda r: r["alarms"]["false_alarms_per_minute"],
    "events flagged": lambda r: 100 * r["alarms"]["events_detected"] / r["alarms"]["events"],
    "RBDC": lambda r: 100 * r["localization"]["rbdc"],
    "TBDC": lambda r: 100 * r["localization"]["tbdc"],
}


def cell(values: list[float]) -> str:
    if not values:
        return "n/a"
    mean = float(np.mean(values))
    return (
        f"{mean:.1f}" if len(values) == 1 else f"{mean:.1f} ± {float(np.std(values, ddof=1)):.1f}"
    )


def row(label: str, folders: list[Path]) -> str:
    reports = []
    for folder in folders:
        path = folder / "eval.json"
        if not path.is_file():
            raise SystemExit(f"{path}: missing; run evaluate --threshold auto --out {folder}")
        report = json.loads(path.read_text())
        if "threshold" not in report or not str(report.get("threshold_choice", "")).startswith(
            "auto"
        ):
            raise SystemExit(f"{path}: not written with --threshold auto")
        reports.append(report)
    cells = [label, str(len(reports))]
    for get in list(COLUMNS.values())[1:]:
        values = []
        for r in reports:
            try:
                values.append(float(get(r)))
            except (KeyError, TypeError):  # no boxes or masks: no localisation
                pass
        cells.append(cell(values))
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit(__doc__)
    print("| variant | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for arg in argv:
        label, _, dirs = arg.partition("=")
        print(row(label, [Path(d) for d in dirs.split(",") if d]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
