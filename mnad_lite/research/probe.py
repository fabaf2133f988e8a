"""How much does the decoder rely on the memory? A test-time probe of a trained run.

The prediction network can reach the decoder three ways: the normalised queries q, the
read items p̂ (Eq. 2) and the U-Net skips. :func:`probe_run` cuts one at a time at test
time (no retraining: :func:`cut`, handed to :meth:`mnad_lite.model.MNAD.decode`) and
reports, per cut, how far the prediction moves (in units of its own error) and how the
frame AUC of the paper's protocol changes. A path the decoder ignores moves nothing when
cut. This is a diagnostic beyond the paper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from mnad_lite.data.clips import ClipDataset, split_clip
from mnad_lite.engine.config import Config
from mnad_lite.engine.inference import load_run
from mnad_lite.engine.runtime import to_layout
from mnad_lite.errors import MNADError
from mnad_lite.files import write_json
from mnad_lite.memory import Memory
from mnad_lite.metrics import frame_auc
from mnad_lite.model import MNAD, Cut
from mnad_lite.scoring import anomaly_score, frame_error, memory_terms, psnr

PROBES = ("mean_item", "no_read", "no_query", "no_deep_skip")


def cut(probe: str, model: MNAD) -> Cut:
    """The decoder path ``probe`` cuts, for ``model.decode(..., cut=...)``.

    ``"mean_item"`` replaces every read item p̂ by the mean item (1/M) sum_m p_m;
    ``"no_read"`` zeroes the read half of ``concat(q, p̂)``; ``"no_query"`` the query half
    (without memory: the whole decoder input); ``"no_deep_skip"`` the deepest skip (the
    1/4-resolution encoder output the decoder concatenates first).
    """
    if probe not in PROBES:
        raise MNADError(f"probe must be one of {PROBES}, got {probe!r}")
    if probe == "no_deep_skip" and not model.decoder.concat[0]:
        raise MNADError("probe no_deep_skip: this model's decoder has no deepest skip")
    memory: Memory | None = model.memory

    def apply(features: torch.Tensor, skips: list[torch.Tensor]):
        if probe == "no_deep_skip":
            if skips:
                skips[-1] = torch.zeros_like(skips[-1])
            return features, skips
        features = features.clone()
        if memory is None:  # no read half: "no_query" zeroes the whole input
            return (features.zero_() if probe == "no_query" else features), skips
        c = memory.feat_dim
        if probe == "no_query":
            features[:, :c] = 0
        elif probe == "no_read":
            features[:, c:] = 0
        else:  # mean_item
            features[:, c:] = memory.items.mean(dim=0).to(features.dtype)[None, :, None, None]
        return features, skips

    return apply


@torch.no_grad()
def probe_videos(
    model: MNAD,
    videos: list,
    config: Config,
    probes: tuple[str, ...],
    batch_size: int | None = None,
    device: torch.device | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Score ``videos`` with the model as trained and with each decoder path cut.

    Test-time update off (the memory stays as trained), one encoder pass per batch.
    For ``"base"`` and every probe (:func:`cut`): ``psnr``
    and ``distance`` ``[N]`` as in :func:`~mnad_lite.engine.inference.score_videos`; for
    the probes also ``change`` ``[N]``, the mean squared change of the prediction on
    [0, 1] frames, ``mean((Î_probe - Î)^2 / 4)``, and ``base_error`` ``[N]``, the base
    prediction's own mean squared error, so ``change / base_error`` says how far a cut
    moves the prediction in units of its error. Also ``video_ids`` and ``labels`` (or None).
    """
    device = device or next(model.parameters()).device
    batch_size = batch_size or config.eval_batch_size
    model.eval()
    names = ("base", *probes)
    rows: dict[str, dict[str, list]] = {
        n: {"psnr": [], "distance": [], "change": []} for n in names
    }
    base_err: list[torch.Tensor] = []
    vids: list[np.ndarray] = []
    labels: list[np.ndarray] | None = []
    for vid, video in enumerate(videos):
        clips = ClipDataset([video], config.t_length, config.size, config.channels)
        vids.append(np.full(len(clips), vid))
        if video.labels is None or labels is None:
            labels = None
        else:
            labels.append(np.asarray(video.labels)[clips.index[:, 1]])
        for clip in DataLoader(clips, batch_size=batch_size):
            x, target = split_clip(clip.to(device), config.method)
            z, skips = model.encode(to_layout(x, config.channels_last))
            base = model.decode(z, skips, False)
            base_pred = base.prediction.float()
            base_err.append(frame_error(base_pred, target).flatten(1).mean(1).cpu())
            for name in names:
                out = base if name == "base" else model.decode(z, skips, False, cut(name, model))
                pred = out.prediction.float()
                rows[name]["psnr"].append(psnr(pred, target, config.psnr_form).cpu())
                dist = out.memory.distance if out.memory else torch.zeros(len(x))
                rows[name]["distance"].append(dist.float().cpu())
                change = ((pred - base_pred) ** 2 / 4).flatten(1).mean(1)
                rows[name]["change"].append(change.cpu())
    result: dict[str, dict[str, Any]] = {}
    for name in names:
        result[name] = {k: torch.cat(v).double().numpy() for k, v in rows[name].items()}
        result[name]["base_error"] = torch.cat(base_err).double().numpy()
    result["video_ids"] = np.concatenate(vids)  # type: ignore[assignment]
    result["labels"] = np.concatenate(labels) if labels else None  # type: ignore[assignment]
    return result


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
