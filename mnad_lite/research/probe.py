"""How much does the decoder rely on the memory? A test-time probe of a trained run.

The prediction network can reach the decoder three ways: the normalised queries q, the
read items p̂ (Eq. 2) and the U-Net skips. :func:`probe_run` cuts one at a time at test
time (no retraining; :meth:`mnad_lite.model.MNAD.decode`'s ``probe``) and reports, per
cut, how far the prediction moves (in units of its own error) and how the frame AUC of
the paper's protocol changes. A path the decoder ignores moves nothing when cut.
This is a diagnostic beyond the paper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mnad_lite.engine.inference import load_run, probe_videos
from mnad_lite.engine.results import write_json
from mnad_lite.metrics import frame_auc
from mnad_lite.model import PROBES
from mnad_lite.scoring import anomaly_score, memory_terms


def probe_run(
    run: str | Path, data: str | Path | Any, out: str | Path | None = None, device: str = "cpu"
) -> dict[str, Any]:
    """Probe the selected model of ``run`` on the test videos of ``data``.

    Writes and returns ``probe.json`` (in ``out``, default the run folder): for the
    model as trained and for each cut, ``frame_auc`` (paper protocol, Eqs. 16-17,
    update off), ``psnr_auc`` (PSNR only), ``mean_psnr``; for the cuts ``change_ratio``
    = mean prediction change / mean prediction error and ``auc_change`` (cut - base).
    """
    from mnad_lite.data import open_dataset

    model, config = load_run(run, device)
    dev = next(model.parameters()).device
    dataset = open_dataset(data) if isinstance(data, (str, Path)) else data
    videos = list(dataset.test)
    probes = PROBES if model.memory is not None else ("no_query", "no_deep_skip")
    if not model.decoder.concat[0]:  # reconstruction, or trained without the deep skip
        probes = tuple(p for p in probes if p != "no_deep_skip")
    raw = probe_videos(model, videos, config, probes, device=dev)
    ids, labels = raw["video_ids"], raw["labels"]
    has_memory = model.memory is not None
    _, lam = memory_terms(None, config.lambda_score, has_memory)
    report: dict[str, Any] = {"run": str(run), "test_update": False, "probes": {}}
    for name in ("base", *probes):
        r = raw[name]
        entry: dict[str, Any] = {"mean_psnr": float(np.mean(r["psnr"]))}
        if labels is not None and 0 < labels.sum() < len(labels):
            dist, _ = memory_terms(r["distance"], lam, has_memory)
            entry["frame_auc"] = frame_auc(anomaly_score(r["psnr"], dist, ids, lam), labels)
            entry["psnr_auc"] = frame_auc(anomaly_score(r["psnr"], None, ids, 1.0), labels)
        if name != "base":
            entry["change_ratio"] = float(np.mean(r["change"]) / np.mean(r["base_error"]))
            if "frame_auc" in entry:
                entry["auc_change"] = entry["frame_auc"] - report["probes"]["base"]["frame_auc"]
        report["probes"][name] = entry
    out = Path(run) if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "probe.json", report)
    return report
