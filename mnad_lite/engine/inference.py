"""Inference: score every test frame with a trained model (no metrics, no files).

For each test frame t (the last frame of a clip; for prediction the first t_length - 1
frames of a video have no prediction and are dropped from scores *and* labels): PSNR P_t
(Eq. 14), feature distance D_t (Eq. 15) and regular score eps_t (Eqs. 6-7), in the forms
the configuration names. With the test-time update on, the frame's queries update the
memory when eps_t < gamma (Eq. 7); the items carry over to the next frame and video, as
in the authors' code.

Batching never changes a result (the authors' test loop scores only the first frame of
a batch): the encoder runs batched; with the update on, the memory read and the decoder
run frame by frame, since frame t+1 reads the items that frame t may have updated.
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
    """Per-frame results over all test videos, in video order: arrays ``[N]`` (N scored
    frames) and ``error_maps`` ``[N, h, w]`` float16 (squared error on [0, 1] frames, mean
    over channels, area-resized to :func:`map_size`)."""

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
    preds, dists, regs, upds = [], [], [], []
    for i in range(len(x)):
        out = model.decode(z[i : i + 1], [s[i : i + 1] for s in skips], False)
        eps = regular_score(out.prediction, target[i : i + 1], config.score_form)  # [1]
        do_update = bool(eps.item() < config.gamma)
        if do_update:  # Eq. 7: only frames that look normal update the items
            model.memory.update_with(flatten_queries(out.queries))
        preds.append(out.prediction)
        dists.append(out.memory.distance)
        regs.append(eps)
        upds.append(do_update)
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
    """P, D, eps, the update flag and the error map of ``clip`` ``[B, t_length, C, H, W]``
    (in [-1, 1] on the model's device, the target last; :func:`prepare` the model first).

    Returns ``psnr``, ``distance``, ``regular`` float ``[B]``, ``updated`` bool ``[B]`` and
    ``maps`` float16 ``[B, h, w]`` (as in :class:`FrameScores`), on the CPU.
    """
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
    from tqdm.auto import tqdm

    device = device or next(model.parameters()).device
    test_update = config.test_update if test_update is None else test_update
    update_on = bool(test_update) and model.memory is not None
    prepare(model, config)
    batch_size = batch_size or config.eval_batch_size
    keys = ("psnr", "distance", "regular", "updated", "maps")
    rows: dict[str, list] = {k: [] for k in ("vid", "t", *keys)}
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
        rows["vid"].append(np.full(len(clips), vid))
        rows["t"].append(clips.index[:, 1])
    seconds = time.perf_counter() - tic

    def cat(key: str) -> np.ndarray:
        parts = rows[key]
        if not parts:
            return np.zeros(0)
        if isinstance(parts[0], torch.Tensor):
            return torch.cat(parts).numpy()
        return np.concatenate(parts)

    return FrameScores(
        videos=[v.name for v in videos],
        video_ids=cat("vid").astype(np.int64),
        frame_index=cat("t").astype(np.int64),
        psnr=cat("psnr").astype(np.float64),
        distance=cat("distance").astype(np.float64),
        regular=cat("regular").astype(np.float64),
        updated=cat("updated").astype(bool),
        labels=np.concatenate(labels).astype(np.int64) if labels else None,
        error_maps=cat("maps"),
        seconds=seconds,
    )


def load_run(run: str | Path, device: torch.device | str = "cpu") -> tuple[MNAD, Config]:
    """The selected model (``RUN/model.pt``) and the configuration saved in it.

    ``device``: a torch device or a name (``"auto"``: see
    :func:`~mnad_lite.engine.runtime.pick_device`); a run trained with
    ``reproducible="portable"`` is scored portably, on the CPU, whatever it says. Raises
    CheckpointError (no readable ``model.pt``) or ConfigError (it holds no run
    configuration, or one that does not parse).
    """
    run = Path(run)
    if _saved_mode(run / "config.json") == "portable":  # before torch runs anything
        from mnad_lite.engine import portable

        portable.enable()
    if isinstance(device, str):
        device = pick_device(device)
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


def _saved_mode(path: Path) -> str | None:
    """``reproducible`` of a run's ``config.json``, or None (unreadable)."""
    try:
        return json.loads(path.read_text()).get("reproducible")
    except (OSError, ValueError, AttributeError):
        return None


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
