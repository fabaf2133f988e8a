"""scripts/alert_table.py: the README's alert table, mean ± std over runs, from eval.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "alert_table.py"


def report(auc: float, f1: float, localization: bool) -> dict:
    r = {
        "frame_auc": auc,
        "frame_auc_online": auc + 0.05,
        "precision": 0.9,
        "recall": 0.2,
        "f1": f1,
        "threshold": 2.0,
        "threshold_choice": "auto: the 99th percentile of ...",
        "alarms": {"false_alarms_per_minute": 0.5, "events_detected": 3, "events": 4},
    }
    if localization:
        r["localization"] = {"rbdc": 0.5, "tbdc": 0.8}
    return r


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_mean_and_spread_per_variant(tmp_path):
    for name, auc, f1 in (("a", 0.70, 0.30), ("b", 0.80, 0.40)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "eval.json").write_text(json.dumps(report(auc, f1, True)))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "eval.json").write_text(json.dumps(report(0.9, 0.5, False)))
    out = run(f"two={tmp_path / 'a'},{tmp_path / 'b'}", f"one={tmp_path / 'c'}")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("| variant | runs | frame AUC (paper) | frame AUC (online)")
    # mean ± sample std: AUC 75.0 ± 7.1, F1 35.0 ± 7.1; events 3 of 4 = 75 %
    assert lines[2] == (
        "| two | 2 | 75.0 ± 7.1 | 80.0 ± 7.1 | 90.0 ± 0.0 | 20.0 ± 0.0 | 35.0 ± 7.1 "
        "| 0.5 ± 0.0 | 75.0 ± 0.0 | 50.0 ± 0.0 | 80.0 ± 0.0 |"
    )
    assert lines[3].endswith("| 95.0 | 90.0 | 20.0 | 50.0 | 0.5 | 75.0 | n/a | n/a |")


def test_a_report_without_the_auto_threshold_is_refused(tmp_path):
    r = report(0.7, 0.3, True)
    del r["threshold"]
    (tmp_path / "eval.json").write_text(json.dumps(r))
    out = run(f"x={tmp_path}")
    assert out.returncode != 0 and "not written with --threshold auto" in out.stderr
