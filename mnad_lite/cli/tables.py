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
        ("frame AUC, micro, online (normal-data stats)", "frame_auc_online"),
        ("frame AUC, macro (mean of per-video AUCs)", "frame_auc_macro"),
        ("frame AUC, PSNR only", "psnr_auc"),
        ("equal error rate", "eer"),
        ("average precision", "ap"),
        ("pixel AUC", "pixel_auc"),
    ]
    for label, key in rows:
        if report.get(key) is not None:
            lines.append(f"  {label:<44}: {100 * report[key]:6.2f} %")
    loc = report.get("localization")
    if loc and loc.get("rbdc") is not None:
        lines.append(
            f"  {'RBDC / TBDC (calibrated pixel threshold)':<44}: "
            f"{100 * loc['rbdc']:6.2f} % / {100 * loc['tbdc']:.2f} %"
        )
    if report.get("macro_videos_skipped"):
        lines.append(
            f"  (macro leaves out {int(report['macro_videos_skipped'])} single-class videos)"
        )
    for kind, row in report.get("per_kind_auc", {}).items():
        lines.append(
            f"  frame AUC, {kind} ({row['frames']} frames)".ljust(46)
            + f": {100 * row['auc']:6.2f} %"
        )
    lines += _decision_lines(report)
    cal = report.get("calibration")
    if cal:
        lines.append(
            f"  calibration: {cal['frames']} frames of {len(cal['videos'])} "
            f"{'held-out' if cal['source'] == 'val_videos' else 'training'} videos"
        )
    lines.append(f"  {report['fps']:.1f} frames/s on {report['device']}")
    return "\n".join(lines)


def _decision_lines(report: dict[str, Any]) -> list[str]:
    """A threshold's flags, precision, recall and alarms (nothing without a threshold)."""
    lines: list[str] = []
    if report.get("threshold") is not None:
        lines.append(
            f"  threshold {report['threshold']:.4g} on {report.get('threshold_score', 'score')}: "
            f"{report['flagged_frames']} frames flagged"
        )
        lines.append(f"    chosen: {report.get('threshold_choice', 'given')}")
        alarms = report.get("alarms") or {}
        if report.get("precision") is not None:
            lines.append(
                f"    precision {100 * report['precision']:.1f} %, recall "
                f"{100 * report['recall']:.1f} %, F1 {100 * report['f1']:.1f} %"
            )
        if "false_alarms_per_minute" in alarms:
            lines.append(
                f"    {alarms['false_alarms']} false alarms in {alarms['alarms']} alarms = "
                f"{alarms['false_alarms_per_minute']:.2f} per minute of video at "
                f"{alarms['video_fps']:g} fps; {alarms['events_detected']} of "
                f"{alarms['events']} anomalous events flagged"
            )
    return lines
