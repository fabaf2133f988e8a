"""Inference: score every test frame with a trained model (no metrics, no files).

A test frame t is the last of a clip (for prediction the first t_length - 1 frames of a
video are dropped from scores *and* labels): PSNR P_t (Eq. 14), feature distance D_t
(Eq. 15), regular score eps_t (Eqs. 6-7), in the configured forms. With the test-time
update on, frames with eps_t < gamma update the memory (Eq. 7), whose items carry over to
the next frame and video as in the authors' code; the memory read and the decoder then run
frame by frame, so batching never changes a result.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from mnad_lite.data.clips import ClipDataset, split_clip
from mnad_lite.engine.checkpoint import load_checkpoint
from mnad_lite.engine.config import Config
from mnad_lite.engine.runtime import pick_device, to_layout
from mnad_lite.errors import ConfigError
from mnad_lite.memory import flatten_queries
from mnad_lite.model import MNAD
from mnad_lite.scoring import frame_error, psnr, regular_score

MAP_SIZE = 64  # side of the stored per-frame error maps (pixel AUC, pictures)


@dataclass
class FrameScores:
    """Per-frame results of all test videos in order: ``[N]`` arrays, and ``error_maps``
    ``[N, h, w]`` float16 (squared error on [0, 1] frames, channel mean, :func:`map_size`)."""

    videos: list[str]
    video_ids: np.ndarray
    frame_index: np.ndarray
    psnr: np.ndarray
    distance: np.ndarray
    regular: np.ndarray
    updated: np.ndarray
    labels: np.ndarray | None
    error_maps: np.ndarray
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.psnr)

    @property
    def video_names(self) -> np.ndarray:
        """``[N]`` the name of each frame's video."""
        return np.asarray(self.videos, dtype=object)[self.video_ids]


def map_size(size: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of the stored error maps for frames of ``size``: at most MAP_SIZE a side."""
    h, w = size
    scale = min(1.0, MAP_SIZE / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def _score_batch(
    model: MNAD, x: torch.Tensor, target: torch.Tensor, config: Config, update_on: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(prediction, D, eps, updated) of one batch; frame by frame with the update on."""
    z, skips = model.encode(x)
    if not update_on:
        out = model.decode(z, skips, False)
        distance = out.memory.distance if out.memory else torch.zeros(len(x))
        regular = regular_score(out.prediction, target, config.score_form)  # Eq. 6   [B]
        return out.prediction, distance, regular, torch.zeros(len(x), dtype=torch.bool)
    frames = []
    for i in range(len(x)):
        out = model.decode(z[i : i + 1], [s[i : i + 1] for s in skips], False)
        eps = regular_score(out.prediction, target[i : i + 1], config.score_form)  # [1]
        do_update = bool(eps.item() < config.gamma)
        if do_update:  # Eq. 7: only frames that look normal update the items
            model.memory.update_with(flatten_queries(out.queries))
        frames.append((out.prediction, out.memory.distance, eps, do_update))
    preds, dists, regs, upds = zip(*frames, strict=True)
    return torch.cat(preds), torch.cat(dists), torch.cat(regs), torch.tensor(upds)


def prepare(model: MNAD, config: Config) -> None:
    """Put ``model`` in scoring mode: eval, and the configured form of Eq. 15."""
    if model.memory is not None:
        model.memory.distance_form = config.distance_form
    model.eval()


@torch.no_grad()
def score_clips(
    model: MNAD, clip: torch.Tensor, config: Config, update_on: bool = False
) -> dict[str, torch.Tensor]:
    """``psnr``, ``distance``, ``regular``, ``updated`` ``[B]`` and ``maps`` ``[B, h, w]``
    (as in :class:`FrameScores`, on the CPU) of ``clip`` ``[B, t_length, C, H, W]`` in
    [-1, 1] on the model's device, the target last (:func:`prepare` the model first)."""
    x, target = split_clip(clip, config.method)
    x = to_layout(x, config.channels_last)
    prediction, distance, regular, updated = _score_batch(model, x, target, config, update_on)
    prediction = prediction.float()
    err = frame_error(prediction, target).mean(dim=1, keepdim=True)  # [B, 1, H, W]
    return {
        "psnr": psnr(prediction, target, config.psnr_form).cpu(),  # Eq. 14
        "distance": distance.float().cpu(),
        "regular": regular.cpu(),
        "updated": updated.cpu(),
        "maps": F.interpolate(err, size=map_size(config.size), mode="area")[:, 0].half().cpu(),
    }


@torch.no_grad()
def score_videos(
    model: MNAD,
    videos: list,
    config: Config,
    test_update: bool | None = None,
    batch_size: int | None = None,
    device: torch.device | None = None,
    progress: bool = False,
) -> FrameScores:
    """P, D and eps for every scorable frame of ``videos``. With ``test_update`` on, the
    model's memory items change (score a copy to keep the trained ones)."""
    device = device or next(model.parameters()).device
    test_update = config.test_update if test_update is None else test_update
    update_on = bool(test_update) and model.memory is not None
    prepare(model, config)
    batch_size = batch_size or config.eval_batch_size
    keys = ("psnr", "distance", "regular", "updated", "maps")
    rows: dict[str, list[torch.Tensor]] = {k: [] for k in ("vid", "t", *keys)}
    labels: list[np.ndarray] | None = []
    tic = time.perf_counter()
    for vid, video in enumerate(tqdm(videos, desc="scoring", disable=not progress)):
        clips = ClipDataset([video], config.t_length, config.size, config.channels)
        if video.labels is None:
            labels = None
        elif labels is not None:
            labels.append(np.asarray(video.labels)[clips.index[:, 1]])
        for clip in DataLoader(clips, batch_size=batch_size):
            out = score_clips(model, clip.to(device), config, update_on)
            for k in keys:
                rows[k].append(out[k])
        rows["vid"].append(torch.full((len(clips),), vid))
        rows["t"].append(torch.from_numpy(clips.index[:, 1]))
    seconds = time.perf_counter() - tic
    cols = {k: torch.cat(parts).numpy() if parts else np.zeros(0) for k, parts in rows.items()}
    return FrameScores(
        videos=[v.name for v in videos],
        video_ids=cols["vid"].astype(np.int64),
        frame_index=cols["t"].astype(np.int64),
        psnr=cols["psnr"].astype(np.float64),
        distance=cols["distance"].astype(np.float64),
        regular=cols["regular"].astype(np.float64),
        updated=cols["updated"].astype(bool),
        labels=np.concatenate(labels).astype(np.int64) if labels else None,
        error_maps=cols["maps"],
        seconds=seconds,
    )


def load_run(run: str | Path, device: torch.device | str = "cpu") -> tuple[MNAD, Config]:
    """The selected model (``RUN/model.pt``) on ``device`` (a portable run: portably, on
    the CPU) and its configuration. Raises CheckpointError (no readable ``model.pt``) or
    ConfigError (no run configuration in it, or one that does not parse)."""
    run = Path(run)
    try:  # the saved mode first: a portable run must be portable before torch runs anything
        saved = json.loads((run / "config.json").read_text()).get("reproducible")
    except (OSError, ValueError, AttributeError):
        saved = None
    if saved == "portable":
        from mnad_lite.engine import portable

        portable.enable()
    device = pick_device(device) if isinstance(device, str) else device
    model, payload = load_checkpoint(run / "model.pt", map_location=device)
    train_cfg = payload["config"].get("train")
    if not isinstance(train_cfg, dict):
        raise ConfigError(f"{run / 'model.pt'}: holds no run configuration (not a train run)")
    config = Config.from_dict(train_cfg)
    if config.reproducible == "portable":
        from mnad_lite.engine import portable

        portable.enable()
        model, device = model.cpu(), torch.device("cpu")
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model.to(device), config


@torch.no_grad()
def validation_error(
    model: MNAD, loader: DataLoader, config: Config, device: torch.device
) -> float:
    """Mean prediction MSE on held-out *training* videos (no labels involved)."""
    model.eval()
    total, count = 0.0, 0
    for clip in loader:
        x, target = split_clip(clip.to(device), config.method)
        out = model(to_layout(x, config.channels_last), update_memory=False)
        total += F.mse_loss(out.prediction.float(), target, reduction="sum").item()
        count += target.numel()
    return total / max(count, 1)
