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

:func:`train` is :func:`open_run` (create or resume the folder), :func:`build` (data,
model, optimizer), then per epoch :func:`train_epoch` (one pass of Eq. 8) and
:func:`finish_epoch` (validate, select, checkpoint).

Model selection never looks at test labels: with ``val_videos > 0`` the last training
videos are held out and scored by their prediction error (MSE); otherwise the last epoch
is kept. ``resume=True`` continues from the last completed epoch with the same data
order, so an interrupted run ends with the same weights as an uninterrupted one (on the
CPU, for a fixed thread count). Several processes (``torchrun --nproc_per_node W -m
mnad_lite train ...``): :mod:`mnad_lite.engine.distributed`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from mnad_lite.data.clips import ClipDataset, split_clip
from mnad_lite.engine.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from mnad_lite.engine.config import Config
from mnad_lite.engine.inference import validation_error
from mnad_lite.engine.runtime import (
    Dist,
    autocast,
    detect_processes,
    pick_device,
    provenance,
    rank_device,
    seed_everything,
    set_threads,
    to_layout,
)
from mnad_lite.errors import ConfigError, DataError
from mnad_lite.files import write_text_atomic
from mnad_lite.losses import total_loss
from mnad_lite.memory import accumulate_diagnostics, summarize_diagnostics
from mnad_lite.model import MNAD

StepCallback = Callable[[dict[str, Any]], None]
TERMS = ("loss", "rec", "compact", "separate")


def cosine_lr(lr: float, epoch: int, epochs: int) -> float:
    """The learning rate of ``epoch`` (0-based), ``lr (1 + cos(pi epoch / epochs)) / 2``:
    torch's ``CosineAnnealingLR`` (the authors' schedule) in closed form. It depends only
    on the total, so a run resumed with more epochs follows the longer run's schedule."""
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
    model: MNAD
    optimizer: torch.optim.Optimizer
    loader: DataLoader
    loader_gen: torch.Generator
    val_loader: DataLoader | None
    steps_per_epoch: int
    start_epoch: int = 0
    best: float = float("inf")
    log: list[dict[str, Any]] | None = None
    dist: Dist = field(default_factory=Dist)
    net: nn.Module | None = None  # what trains: the model, or its DDP wrapper
    sampler: DistributedSampler | None = None  # several processes only

    def full_config(self) -> dict[str, Any]:
        return {"model": self.config.model_args(), "train": self.config.to_dict()}


def open_run(config: Config, run: Path, resume: bool, dist: Dist | None = None) -> Config:
    """Create the run folder, or check the one to resume, and save the configuration
    (rank 0 only). Resuming, the run's own configuration wins: only the epoch count may
    grow and the device change. Raises ConfigError when there is nothing to resume, the
    number of processes differs, or ``run`` holds a run and ``resume`` is off.
    """
    dist = dist or Dist()
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
) -> tuple[DataLoader, torch.Generator, DistributedSampler | None, DataLoader | None]:
    """(training loader, its shuffling generator, its sampler when sharded, validation
    loader or None); one-line DataErrors for datasets that give no batch."""
    train_videos, val_videos = config.split_videos(list(dataset.train))
    if not train_videos:
        raise DataError(f"{dataset.root}: no training videos")
    clips = ClipDataset(train_videos, config.t_length, config.size, config.channels)
    if len(clips) == 0:
        raise DataError(f"{dataset.root}: training videos are shorter than t_length")
    loader_gen = torch.Generator()
    sampler = None
    if dist.active:  # equal shards and equal batches: the memory's all_gather needs them
        sampler = DistributedSampler(
            clips, dist.world_size, dist.rank, shuffle=True, seed=config.seed, drop_last=True
        )
    loader = DataLoader(
        clips,
        batch_size=config.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=len(clips) >= config.batch_size or sampler is not None,
        generator=loader_gen,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
    )
    if sampler is not None and len(loader) == 0:
        raise DataError(
            f"{dataset.root}: {len(clips)} training clips give none of the "
            f"{dist.world_size} processes a full batch of {config.batch_size}"
        )
    val_loader = None
    if val_videos:
        val_clips = ClipDataset(val_videos, config.t_length, config.size, config.channels)
        val_loader = DataLoader(val_clips, batch_size=config.eval_batch_size)
    return loader, loader_gen, sampler, val_loader


def build(
    config: Config, dataset: Any, run: Path, resume: bool, dist: Dist | None = None
) -> Session:
    """Seed, then the data loaders, the model (resumed from ``last.pt``) and Adam; with
    several processes (process group joined) the model in DDP (``Session.net``)."""
    dist = dist or Dist()
    set_threads(config.num_threads)
    seed_everything(config.seed)
    device = rank_device(pick_device(config.device), dist)
    loader, loader_gen, sampler, val_loader = _loaders(config, dataset, dist, device)
    model = MNAD(**config.model_args()).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps = len(loader) if config.max_steps is None else min(len(loader), config.max_steps)
    session = Session(config, run, device, model, optimizer, loader, loader_gen, val_loader, steps)
    session.log, session.dist, session.net, session.sampler = [], dist, model, sampler
    if resume:
        model, state = load_checkpoint(run / "last.pt", model, map_location=device)
        optimizer.load_state_dict(state["optimizer"])
        session.start_epoch, session.best = state["epoch"] + 1, state["best"]
        session.log = json.loads(state["log"])
        torch.set_rng_state(state["rng"]["torch"])
    if dist.active:
        from mnad_lite.engine.distributed import data_parallel

        session.net = data_parallel(model, device)
    return session


def train_epoch(
    s: Session, epoch: int, on_step: StepCallback | None = None, progress: bool = True
) -> dict[str, Any]:
    """One pass of Eq. 8 over the training clips; returns the epoch's log entry."""
    from tqdm.auto import tqdm

    if s.dist.active:  # several processes: the terms and diagnostics of every rank
        from mnad_lite.engine.distributed import mean_over_ranks, sum_over_ranks
    config = s.config
    net = s.net if s.net is not None else s.model
    s.loader_gen.manual_seed(config.seed * 1_000_003 + epoch)  # same order after a resume
    if s.sampler is not None:
        s.sampler.set_epoch(epoch)  # the shards' order depends on (seed, epoch) only
    lr = cosine_lr(config.lr, epoch, config.epochs)
    for group in s.optimizer.param_groups:
        group["lr"] = lr
    net.train()
    sums = dict.fromkeys(TERMS, 0.0)
    diag = None
    tic = time.perf_counter()
    bar = tqdm(
        total=s.steps_per_epoch,
        desc=f"epoch {epoch + 1}/{config.epochs}",
        disable=not progress or not s.dist.is_main,
        leave=False,
    )
    for step, clip in enumerate(s.loader):
        if step >= s.steps_per_epoch:
            break
        x, target = split_clip(clip.to(s.device, non_blocking=True), config.method)
        with autocast(s.device, config.amp):
            out = net(to_layout(x, config.channels_last))
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
    """Validate, keep the selected weights in ``model.pt``, write the log and ``last.pt``.

    With several processes rank 0 does all of it and sends its log entry to the others.
    """
    assert s.log is not None
    if s.dist.is_main:
        _finish_main(s, epoch, entry)
    if s.dist.active:
        from mnad_lite.engine.distributed import from_main

        entry, s.best = from_main((entry, s.best))
        if not s.dist.is_main:
            s.log.append(entry)


def _finish_main(s: Session, epoch: int, entry: dict[str, Any]) -> None:
    assert s.log is not None
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


def _processes(config: Config) -> tuple[Config, Dist]:
    """The processes torchrun started (one without it) and ``config`` with their number;
    a one-line ConfigError when ``world_size`` asks for other processes than exist."""
    dist = detect_processes()
    if config.world_size > 1 and not dist.active:
        raise ConfigError(
            f"world_size={config.world_size} needs torchrun: "
            f"torchrun --nproc_per_node {config.world_size} -m mnad_lite train ..."
        )
    if dist.active and config.world_size not in (1, dist.world_size):
        raise ConfigError(
            f"world_size={config.world_size} but torchrun started {dist.world_size} processes"
        )
    return replace(config, world_size=dist.world_size), dist


def _record_provenance(s: Session) -> None:
    """A line of ``provenance.jsonl`` per start or resume: where and how this ran."""
    line = {
        "start_epoch": s.start_epoch,
        "reproducible": s.config.reproducible,
        **provenance(s.device, s.config.num_threads),
    }
    with open(s.run / "provenance.jsonl", "a") as fh:
        fh.write(json.dumps(line) + "\n")


def train(
    config: Config,
    data: str | Path | Any,
    run: str | Path,
    resume: bool = False,
    on_step: StepCallback | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train MNAD on the training videos of ``data``; a one-line ConfigError or DataError
    when the run cannot start.

    Args:
        config: the run's :class:`~mnad_lite.engine.config.Config`.
        data: a dataset root (any layout :func:`mnad_lite.data.open_dataset` reads) or an
            ``AnomalyDataset``.
        run: the run folder (an existing run is refused unless ``resume``).
        resume: continue from ``run/last.pt``.
        on_step: called after every step with a dict of the loss terms, epoch and step.
        progress: show tqdm progress bars and a line per epoch.
    """
    from mnad_lite.data import open_dataset

    run = Path(run)
    config, dist = _processes(config)
    if config.reproducible == "portable":  # before any tensor code of this run
        from mnad_lite.engine import portable

        portable.enable()
    dataset = open_dataset(data) if isinstance(data, (str, Path)) else data
    device = rank_device(pick_device(config.device), dist)
    if dist.active:  # the process group, barriers and the collectives
        from mnad_lite.engine import distributed

        dist = distributed.init(dist, device)
    s = None
    try:
        config = open_run(config, run, resume, dist)
        if dist.active:
            distributed.barrier()  # the folder exists before anyone goes on
        s = build(config, dataset, run, resume, dist)
        if dist.is_main and s.start_epoch < config.epochs:  # each start or resume: a line
            _record_provenance(s)
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
        model, _ = load_checkpoint(run / "model.pt", s.model, map_location=s.device)
    finally:
        if s is not None and s.model.memory is not None:
            s.model.memory.gather_queries = None  # the returned model is a one-process model
        if dist.owns_group:
            distributed.close(dist)
    return TrainResult(model=model, run=run, log=s.log or [])
