"""Evaluation reports as text: the terminal table of ``eval.json``."""

from __future__ import annotations

from typing import Any


def format_report(report: dict[str, Any]) -> str:
    """A short terminal table of the evaluation choices side by side."""
    anomalous = report["anomalous_frames"]
    lines = [
        f"frames {report['frames']} ({'no labels' if anomalous is None else anomalous} "
        f"anomalous) in {report['videos']} test videos; test-time update "
        f"{'on' if report['test_update'] else 'off'} ({report['memory_updates']} updates)",
    ]
    rows = [
        ("frame AUC, micro, per-video min-max (paper)", "frame_auc"),
        ("frame AUC, micro, one global min-max", "frame_auc_global"),
        ("frame AUC, macro (mean of per-video AUCs)", "frame_auc_macro"),
        ("frame AUC, PSNR only", "psnr_auc"),
        ("equal error rate", "eer"),
        ("average precision", "ap"),
        ("pixel AUC", "pixel_auc"),
    ]
    for label, key in rows:
        if report.get(key) is not None:
            lines.append(f"  {label:<44}: {100 * report[key]:6.2f} %")
    if report.get("macro_videos_skipped"):
        lines.append(
            f"  (macro leaves out {int(report['macro_videos_skipped'])} single-class videos)"
        )
    for kind, row in report.get("per_kind_auc", {}).items():
        lines.append(
            f"  frame AUC, {kind} ({row['frames']} frames)".ljust(46)
            + f": {100 * row['auc']:6.2f} %"
        )
    lines.append(f"  {report['fps']:.1f} frames/s on {report['device']}")
    return "\n".join(lines)
