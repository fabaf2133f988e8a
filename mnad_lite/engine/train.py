"""Training: Eq. 8, ``L = L_rec + λ_c L_compact + λ_s L_separate``, with resumable runs.

A run folder holds everything about one training run::

    RUN/
      config.json       the Config (every field, presets resolved)
      log.jsonl         a JSON line per epoch: the loss terms, memory diagnostics, the
                        epoch's lr, validation, seconds
      last.pt           the latest epoch: weights, items, optimizer, RNG state, log
      model.pt          the selected weights: best validation error, or the last epoch
      provenance.jsonl  a line per start or resume: start epoch, date, machine, CPU
                        capability, threads, device, torch, code version

Model selection never looks at test labels: the last ``val_videos`` training videos are
held out and scored by their prediction error (MSE), else the last epoch is kept. A resumed
run keeps the data order and ends with an uninterrupted run's weights (on the CPU with one
thread: ``runtime.set_threads``). Several processes: :mod:`mnad_lite.engine.distributed`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from mnad_lite.data import open_dataset
from mnad_lite.data.clips import ClipDataset, split_clip
from mnad_lite.engine import runtime
from mnad_lite.engine.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from mnad_lite.engine.config import Config
from mnad_lite.engine.inference import validation_error
from mnad_lite.engine.runtime import Dist, autocast, to_layout
from mnad_lite.errors import ConfigError, DataError
from mnad_lite.files import write_text_atomic
from mnad_lite.losses import total_loss
from mnad_lite.memory import accumulate_diagnostics, summarize_diagnostics
from mnad_lite.model import MNAD

StepCallback = Callable[[dict[str, Any]], None]
TERMS = ("loss", "rec", "compact", "separate")


def cosine_lr(lr: float, epoch: int, epochs: int) -> float:
    """The rate of ``epoch`` (0-based): torch's ``CosineAnnealingLR`` (the authors'
    schedule) in closed form, so a run resumed with more epochs follows the longer one's."""
    return lr * (1 + math.cos(math.pi * epoch / max(epochs, 1))) / 2


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model, the run folder and the epoch log."""

    model: MNAD
    run: Path
    log: list[dict[str, Any]]


@dataclass
class Session:
    """Everything one training run works with (built by :func:`build`)."""

    config: Config
    run: Path
    device: torch.device
    dist: Dist
    model: MNAD
    net: nn.Module  # what trains: the model, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    loader: DataLoader  # shuffled by its own generator; sharded with several processes
    val_loader: DataLoader | None
    steps_per_epoch: int
    start_epoch: int = 0
    best: float = float("inf")
    log: list[dict[str, Any]] = field(default_factory=list)

    def full_config(self) -> dict[str, Any]:
        return {"model": self.config.model_args(), "train": self.config.to_dict()}


def open_run(config: Config, run: Path, resume: bool, dist: Dist) -> Config:
    """Create the run folder and save the configuration, or check the run to resume (its
    configuration wins; the epoch count may grow, the device change). Raises ConfigError
    when there is nothing to resume, the process count differs, or ``run`` holds a run."""
    last = run / "last.pt"
    if resume:
        if not last.is_file():
            raise ConfigError(f"{last}: nothing to resume (no checkpoint in the run folder)")
        saved = Config.from_dict(read_checkpoint(last)["config"]["train"])
        if saved.world_size != config.world_size:
            raise ConfigError(
                f"{run}: trained with world_size={saved.world_size}; resume it with as many "
                f"processes (this is {config.world_size})"
            )
        saved.epochs, saved.device = max(saved.epochs, config.epochs), config.device
        config = saved
    elif last.exists() or (run / "model.pt").exists():
        raise ConfigError(f"{run}: already holds a run; use --resume or another --out folder")
    if dist.is_main:
        run.mkdir(parents=True, exist_ok=True)
        config.save(run / "config.json")
    return config


def _loaders(
    config: Config, dataset: Any, dist: Dist, device: torch.device
) -> tuple[DataLoader, DataLoader | None]:
    """The training and validation (or None) loaders; a DataError when there is no batch."""
    train_videos, val_videos = config.split_videos(list(dataset.train))
    if not train_videos:
        raise DataError(f"{dataset.root}: no training videos")
    clips = ClipDataset(train_videos, config.t_length, config.size, config.channels)
    if len(clips) == 0:
        raise DataError(f"{dataset.root}: training videos are shorter than t_length")
    sampler = None
    if dist.active:
        from mnad_lite.engine.distributed import shard

        sampler = shard(clips, dist, config, dataset.root)
    loader = DataLoader(
        clips,
        batch_size=config.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=len(clips) >= config.batch_size or sampler is not None,
        generator=torch.Generator(),
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
    )
    val_loader = None
    if val_videos:
        val_clips = ClipDataset(val_videos, config.t_length, config.size, config.channels)
        val_loader = DataLoader(val_clips, batch_size=config.eval_batch_size)
    return loader, val_loader


def build(
    config: Config, dataset: Any, run: Path, resume: bool, dist: Dist, device: torch.device
) -> Session:
    """Seed; the loaders, the model (resumed from ``last.pt``; DDP with several processes), Adam."""
    runtime.set_threads(config.num_threads)
    runtime.seed_everything(config.seed)
    loader, val_loader = _loaders(config, dataset, dist, device)
    model = MNAD(**config.model_args()).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps = len(loader) if config.max_steps is None else min(len(loader), config.max_steps)
    s = Session(config, run, device, dist, model, model, optimizer, loader, val_loader, steps)
    if resume:
        model, state = load_checkpoint(run / "last.pt", model, map_location=device)
        optimizer.load_state_dict(state["optimizer"])
        s.start_epoch, s.best = state["epoch"] + 1, state["best"]
        s.log = json.loads(state["log"])
        torch.set_rng_state(state["rng"]["torch"])
    if dist.active:
        from mnad_lite.engine.distributed import data_parallel

        s.net = data_parallel(model, device)
    return s


def train_epoch(
    s: Session, epoch: int, on_step: StepCallback | None = None, progress: bool = True
) -> dict[str, Any]:
    """One pass of Eq. 8 over the training clips; returns the epoch's log entry."""
    if s.dist.active:  # several processes: the terms and diagnostics of every rank
        from mnad_lite.engine.distributed import mean_over_ranks, sum_over_ranks
    config = s.config
    s.loader.generator.manual_seed(config.seed * 1_000_003 + epoch)  # same order on resume
    if s.dist.active:
        s.loader.sampler.set_epoch(epoch)  # the shards' order depends on (seed, epoch) only
    lr = cosine_lr(config.lr, epoch, config.epochs)
    for group in s.optimizer.param_groups:
        group["lr"] = lr
    s.net.train()
    sums = dict.fromkeys(TERMS, 0.0)
    diag = None
    tic = time.perf_counter()
    shown = progress and s.dist.is_main
    desc = f"epoch {epoch + 1}/{config.epochs}"
    bar = tqdm(total=s.steps_per_epoch, desc=desc, disable=not shown, leave=False)
    for step, clip in enumerate(s.loader):
        if step >= s.steps_per_epoch:
            break
        x, target = split_clip(clip.to(s.device, non_blocking=True), config.method)
        with autocast(s.device, config.amp):
            out = s.net(to_layout(x, config.channels_last))
        terms = total_loss(
            out, target, config.lambda_compact, config.lambda_separate, config.loss_form
        )
        s.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        s.optimizer.step()
        stacked = torch.stack([terms[k].detach().float() for k in TERMS])
        if s.dist.active:  # each term is a mean over equal shards: the global batch's
            stacked = mean_over_ranks(stacked)
        values = dict(zip(TERMS, stacked.tolist(), strict=True))
        for k, v in values.items():
            sums[k] += v
        if out.memory is not None:
            diag = accumulate_diagnostics(diag, out.memory.diagnostics)
        bar.set_postfix({k: f"{v:.4f}" for k, v in values.items()})
        bar.update()
        if on_step is not None:
            on_step({"epoch": epoch, "step": step, **values})
    bar.close()
    if diag is not None and s.dist.active:  # sums over every rank's queries
        diag = {k: sum_over_ranks(v) for k, v in diag.items()}
    return {
        "epoch": epoch + 1,
        **{k: v / max(s.steps_per_epoch, 1) for k, v in sums.items()},
        **(summarize_diagnostics(diag) if diag is not None else {}),
        "lr": lr,  # the rate this epoch trained with
        "seconds": round(time.perf_counter() - tic, 3),
    }


def finish_epoch(s: Session, epoch: int, entry: dict[str, Any]) -> None:
    """Validate, keep the selected weights in ``model.pt``, write the log and ``last.pt``:
    rank 0 does it and sends its log entry to the other processes."""
    if s.dist.is_main:
        if s.val_loader is not None:
            entry["val_mse"] = validation_error(s.model, s.val_loader, s.config, s.device)
        selected = entry.get("val_mse", -epoch)  # no validation: the last epoch wins
        if selected <= s.best:
            s.best = selected
            entry["selected"] = True
            save_checkpoint(s.run / "model.pt", s.model, s.full_config(), epoch=epoch)
        s.log.append(entry)
        write_text_atomic(s.run / "log.jsonl", "".join(json.dumps(e) + "\n" for e in s.log))
        save_checkpoint(
            s.run / "last.pt",
            s.model,
            s.full_config(),
            epoch=epoch,
            best=s.best,
            log=json.dumps(s.log),
            optimizer=s.optimizer.state_dict(),
            rng={"torch": torch.get_rng_state()},
        )
    if s.dist.active:
        from mnad_lite.engine.distributed import from_main

        entry, s.best = from_main((entry, s.best))
        if not s.dist.is_main:
            s.log.append(entry)


def train(
    config: Config,
    data: str | Path | Any,
    run: str | Path,
    resume: bool = False,
    on_step: StepCallback | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train MNAD on the training videos of ``data`` (a dataset root or an opened dataset)
    into the run folder ``run``; ``on_step`` gets each step's loss terms. Raises a one-line
    ConfigError or DataError when the run cannot start."""
    run = Path(run)
    dist = Dist()
    if config.world_size > 1 or runtime.several_processes():
        from mnad_lite.engine import distributed

        config, dist = distributed.processes(config)
    if config.reproducible == "portable":  # before any tensor code of this run
        from mnad_lite.engine import portable

        portable.enable()
    dataset = open_dataset(data) if isinstance(data, (str, Path)) else data
    device = runtime.pick_device(config.device)
    if dist.active:  # this rank's device, the process group
        dist, device = distributed.init(dist, device)
    s = None
    try:
        config = open_run(config, run, resume, dist)
        if dist.active:
            distributed.barrier()  # the folder exists before anyone goes on
        s = build(config, dataset, run, resume, dist, device)
        if dist.is_main and s.start_epoch < config.epochs:  # each start or resume: a line
            line = {"start_epoch": s.start_epoch, "reproducible": config.reproducible}
            line.update(runtime.provenance(device, config.num_threads))
            with open(run / "provenance.jsonl", "a") as fh:
                fh.write(json.dumps(line) + "\n")
        for epoch in range(s.start_epoch, config.epochs):
            entry = train_epoch(s, epoch, on_step, progress)
            finish_epoch(s, epoch, entry)
            if progress and dist.is_main:
                shown = ", ".join(f"{k} {v:.4g}" for k, v in entry.items() if k != "epoch")
                print(f"epoch {epoch + 1}/{config.epochs}: {shown}", flush=True)
        if dist.is_main and (config.epochs == 0 or not (run / "model.pt").exists()):
            save_checkpoint(run / "model.pt", s.model, s.full_config(), epoch=-1)
        if dist.active:
            distributed.barrier()  # model.pt is written before every rank reads it
        model, _ = load_checkpoint(run / "model.pt", s.model, map_location=device)
    finally:
        if dist.active:
            distributed.close(dist, s.model if s is not None else None)
    return TrainResult(model=model, run=run, log=s.log)
