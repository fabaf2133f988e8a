"""Training: Eq. 8, ``L = L_rec + λ_c L_compact + λ_s L_separate``, with resumable runs.

A run folder holds everything about one training run::

    RUN/
      config.json     the Config (every field, presets resolved)
      log.jsonl       one JSON line per epoch: every loss term, lr, validation, seconds
      last.pt         the latest epoch: weights, items, optimizer, scheduler, RNG states
      model.pt        the selected weights: best validation error, or the last epoch

Model selection never looks at test labels: with ``val_videos > 0`` the last training
videos are held out and scored by their prediction error (MSE); otherwise the last
epoch is kept. Every epoch is checkpointed atomically; ``resume=True`` continues from
the last completed epoch with the same data order, so an interrupted run ends with the
same weights as an uninterrupted one (deterministic on the CPU for a fixed thread count:
1 and 2 threads sum in different orders and give slightly different weights).
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mnad_lite.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from mnad_lite.config import Config
from mnad_lite.errors import ConfigError, DataError
from mnad_lite.memory import accumulate_diagnostics, summarize_diagnostics
from mnad_lite.model import MNAD, ModelOutput

StepCallback = Callable[[dict[str, Any]], None]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds libraries that use the global RNG
    torch.manual_seed(seed)


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU. A forced device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but CUDA is not available")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ConfigError("device 'mps' requested but Apple MPS is not available")
    return torch.device(name)


def cosine_lr(lr: float, epoch: int, epochs: int) -> float:
    """The learning rate of ``epoch`` (0-based) under cosine annealing to 0 over ``epochs``.

    ``lr (1 + cos(pi epoch / epochs)) / 2``: the closed form of torch's
    ``CosineAnnealingLR`` (the authors' schedule). It depends only on the total, so a
    run resumed with more epochs follows the schedule it would have had if it had been
    planned that long from the start.
    """
    return lr * (1 + math.cos(math.pi * epoch / max(epochs, 1))) / 2


def split_clip(clip: torch.Tensor, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, T, C, H, W]`` clips -> (input ``[B, (T-1)*C, H, W]``, target ``[B, C, H, W]``).

    Prediction stacks the T-1 past frames on channels (frame-major, as the authors);
    reconstruction reads and targets the single frame.
    """
    if clip.ndim != 5:
        raise DataError(f"clips must be [B, T, C, H, W], got {tuple(clip.shape)}")
    target = clip[:, -1]
    if method == "recon":
        return target, target
    return clip[:, :-1].flatten(1, 2), target


def reconstruction_loss(prediction: torch.Tensor, target: torch.Tensor, form: str = "code"):
    """Eq. 9. ``code``: mean squared error (authors); ``paper``: ``||Î_t - I_t||_2`` per
    frame, averaged over the batch."""
    if form == "code":
        return F.mse_loss(prediction, target)
    return (prediction - target).flatten(1).norm(dim=1).mean()


def total_loss(out: ModelOutput, target: torch.Tensor, config: Config) -> dict[str, torch.Tensor]:
    """Eq. 8 and its terms: ``{"loss", "rec", "compact", "separate"}``."""
    rec = reconstruction_loss(out.prediction.float(), target.float(), config.loss_form)
    compact, separate = out.compactness, out.separateness
    loss = rec + config.lambda_compact * compact + config.lambda_separate * separate
    return {"loss": loss, "rec": rec, "compact": compact, "separate": separate}


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model, the run folder and the epoch log."""

    model: MNAD
    run: Path
    log: list[dict[str, Any]]


def _split_train_val(videos: list, val_videos: int) -> tuple[list, list]:
    if val_videos <= 0:
        return videos, []
    if val_videos >= len(videos):
        raise ConfigError(
            f"val_videos={val_videos} leaves no training video (the dataset has {len(videos)})"
        )
    return videos[:-val_videos], videos[-val_videos:]


@torch.no_grad()
def validation_error(model: MNAD, loader: DataLoader, config: Config, device: torch.device):
    """Mean prediction MSE on held-out *training* videos (no labels involved)."""
    model.eval()
    total, count = 0.0, 0
    for clip in loader:
        x, target = split_clip(clip.to(device), config.method)
        out = model(x, update_memory=False)
        total += F.mse_loss(out.prediction.float(), target, reduction="sum").item()
        count += target.numel()
    return total / max(count, 1)


def train(
    config: Config,
    data: str | Path | Any,
    run: str | Path,
    resume: bool = False,
    on_step: StepCallback | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train MNAD on the training videos of ``data`` (a root folder or an opened dataset).

    Args:
        config: the run's :class:`~mnad_lite.config.Config`.
        data: dataset root (any layout :func:`mnad_lite.data.open_dataset` reads) or an
            ``AnomalyDataset``.
        run: the run folder (created; an existing finished run is refused unless
            ``resume``, so nothing is overwritten by accident).
        resume: continue from ``run/last.pt``.
        on_step: called after every optimisation step with a dict of the loss terms,
            epoch and step (e.g. for live plots in a notebook).
        progress: show tqdm progress bars.
    """
    from tqdm.auto import tqdm

    from mnad_lite.data import ClipDataset, open_dataset

    run = Path(run)
    dataset = open_dataset(data) if isinstance(data, (str, Path)) else data
    last = run / "last.pt"
    if resume:
        if not last.is_file():
            raise ConfigError(f"{last}: nothing to resume (no checkpoint in the run folder)")
        # the run's own configuration wins when resuming; only the epoch count may grow
        saved = Config.from_dict(read_checkpoint(last)["config"]["train"])
        saved.epochs, saved.device = max(saved.epochs, config.epochs), config.device
        config = saved
    elif last.exists() or (run / "model.pt").exists():
        raise ConfigError(f"{run}: already holds a run; use --resume or another --out folder")
    run.mkdir(parents=True, exist_ok=True)
    config.save(run / "config.json")

    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    seed_everything(config.seed)
    device = pick_device(config.device)
    train_videos, val_videos = _split_train_val(list(dataset.train), config.val_videos)
    if not train_videos:
        raise DataError(f"{dataset.root}: no training videos")
    clips = ClipDataset(train_videos, config.t_length, config.size, config.channels)
    if len(clips) == 0:
        raise DataError(f"{dataset.root}: training videos are shorter than t_length")
    loader_gen = torch.Generator()
    loader = DataLoader(
        clips,
        batch_size=config.batch_size,
        shuffle=True,
        drop_last=len(clips) >= config.batch_size,
        generator=loader_gen,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
    )
    val_loader = None
    if val_videos:
        val_clips = ClipDataset(val_videos, config.t_length, config.size, config.channels)
        val_loader = DataLoader(val_clips, batch_size=config.eval_batch_size)

    model = MNAD(**config.model_args()).to(device)
    use_cuda_extras = device.type == "cuda"
    if config.channels_last:  # NHWC: faster convolutions on CPU (oneDNN) and CUDA
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    if use_cuda_extras and config.amp and torch.cuda.is_bf16_supported():
        autocast: Any = torch.autocast("cuda", dtype=torch.bfloat16)  # memory stays float32
    else:
        autocast = contextlib.nullcontext()

    log: list[dict[str, Any]] = []
    start_epoch, best = 0, float("inf")
    if resume:
        model, state = load_checkpoint(last, model, map_location=device)
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, best, log = state["epoch"] + 1, state["best"], json.loads(state["log"])
        torch.set_rng_state(state["rng"]["torch"])

    full_config = {"model": config.model_args(), "train": config.to_dict()}
    steps_per_epoch = (
        len(loader) if config.max_steps is None else min(len(loader), config.max_steps)
    )
    for epoch in range(start_epoch, config.epochs):
        loader_gen.manual_seed(config.seed * 1_000_003 + epoch)  # same order after a resume
        lr = cosine_lr(config.lr, epoch, config.epochs)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        sums = {"loss": 0.0, "rec": 0.0, "compact": 0.0, "separate": 0.0}
        diag = None
        tic = time.perf_counter()
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            disable=not progress,
            leave=False,
        )
        for step, clip in enumerate(loader):
            if step >= steps_per_epoch:
                break
            x, target = split_clip(clip.to(device, non_blocking=True), config.method)
            if config.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast:
                out = model(x)
            terms = total_loss(out, target, config)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            values = {k: float(v.detach()) for k, v in terms.items()}
            if out.memory is not None:
                diag = accumulate_diagnostics(diag, out.memory.diagnostics)
            for k, v in values.items():
                sums[k] += v
            bar.set_postfix({k: f"{v:.4f}" for k, v in values.items()})
            bar.update()
            if on_step is not None:
                on_step({"epoch": epoch, "step": step, **values})
        bar.close()
        entry: dict[str, Any] = {
            "epoch": epoch + 1,
            **{k: v / max(steps_per_epoch, 1) for k, v in sums.items()},
            **(summarize_diagnostics(diag) if diag is not None else {}),
            "lr": lr,  # the rate this epoch trained with
            "seconds": round(time.perf_counter() - tic, 3),
        }
        if val_loader is not None:
            entry["val_mse"] = validation_error(model, val_loader, config, device)
        selected = entry.get("val_mse", -epoch)  # no validation: the last epoch wins
        if selected <= best:
            best = selected
            entry["selected"] = True
            save_checkpoint(run / "model.pt", model, full_config, epoch=epoch)
        log.append(entry)
        (run / "log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
        save_checkpoint(
            last,
            model,
            full_config,
            epoch=epoch,
            best=best,
            log=json.dumps(log),
            optimizer=optimizer.state_dict(),
            rng={"torch": torch.get_rng_state()},
        )
        if progress:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in entry.items() if k != "epoch")
            print(f"epoch {epoch + 1}/{config.epochs}: {shown}", flush=True)

    if config.epochs == 0 or not (run / "model.pt").exists():
        save_checkpoint(run / "model.pt", model, full_config, epoch=-1)
    model, _ = load_checkpoint(run / "model.pt", model, map_location=device)
    return TrainResult(model=model, run=run, log=log)
