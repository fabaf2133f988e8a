"""Studies: a grid of configurations x seeds, trained, evaluated once and summarised.

A study folder holds one run folder per (variant, seed) and the summary::

    OUT/
      study.json                    the grid (variants, seeds, base configuration)
      <variant>/seed<k>/            a run folder (config.json, log.jsonl, model.pt,
                                    eval.json, scores.csv); a variant that reuses
                                    another's weights holds only its evaluation
      summary.json, summary.md, summary.png

Runs are long, so everything resumes: a finished run (``eval.json`` present) is skipped,
an interrupted one continues from its ``last.pt``; kill the process at any time and
start the same command again. Several processes may work on one study folder at once
(one per core, say): each locks a run while working on it (``.claim``, an OS file lock
through ``filelock``) and skips runs another process holds; the lock of a killed
process is gone with it. The grid may grow between invocations (new variants or
seeds); a variant whose definition changed is refused, so old results never mix with a
new definition. A finished run can be kept as a small record without weights or labels
and brought back into a study folder (:mod:`mnad_lite.research.records`); the committed
compact summary keeps the runs a study folder lost (:func:`merge_compact`).

The summary gives, per variant, the mean, standard deviation and every seed's value of
the evaluation choices (paper protocol, one global min-max, macro, PSNR only, D only,
EER), the memory diagnostics of the last epoch and the training time; the AUC of every
anomaly kind (synthetic benchmark) for the paper's score and each of its terms (each
run's ``per_kind_auc_terms`` in ``eval.json``); and, for every variant, the paired
difference of the paper-protocol frame AUC against the reference variant (same seed),
with a bootstrap confidence interval over test videos. Nothing is selected on
test labels: each run keeps its last epoch (or its validation choice) and is evaluated
once.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from mnad_lite.errors import ConfigError
from mnad_lite.files import write_text_atomic
from mnad_lite.research.grids import StudySpec, Variant, run_dir, stored_spec
from mnad_lite.research.summary import summarize


def _check_spec(out: Path, spec: StudySpec) -> None:
    """Refuse a study folder whose stored grid defines a variant differently."""
    stored_path = out / "study.json"
    if stored_path.is_file():
        stored = StudySpec.from_dict(json.loads(stored_path.read_text()))
        if (stored.preset, stored.base) != (spec.preset, spec.base):
            raise ConfigError(
                f"{stored_path}: the study there uses preset {stored.preset} with "
                f"{stored.base}; use another --out folder"
            )
        for old in stored.variants:
            new = next((v for v in spec.variants if v.name == old.name), None)
            if new is not None and new.definition() != old.definition():
                raise ConfigError(
                    f"{stored_path}: variant {old.name} was defined as {old.definition()}, "
                    f"now {new.definition()}; rename the variant or use another --out folder"
                )
        names = {v.name for v in spec.variants}
        spec.variants += [v for v in stored.variants if v.name not in names]
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(stored_path, json.dumps(spec.to_dict(), indent=2) + "\n")


#: A run's lock file (an OS file lock, through ``filelock``), held by the process working
#: on the run; the OS drops it when its process dies, so a killed run is free again.
CLAIM = ".claim"
#: The id of the process holding the lock, written beside it while it holds it.
HOLDER = ".claim-pid"


def claim_run(run: Path) -> FileLock | None:
    """Lock ``run`` for this process: the held lock (give it to :func:`release_run` when
    done), or None when another process holds it."""
    run.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run / CLAIM)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return None
    (run / HOLDER).write_text(str(os.getpid()))
    return lock


def release_run(run: Path, lock: FileLock) -> None:
    """Give up the lock of :func:`claim_run`."""
    (run / HOLDER).unlink(missing_ok=True)
    lock.release()


def claim_holder(run: Path) -> int | None:
    """The id of the process working on ``run`` (-1 when it cannot be read), or None when
    no process holds its lock."""
    if not (run / CLAIM).is_file():
        return None
    probe = FileLock(run / CLAIM)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        try:
            return int((run / HOLDER).read_text())
        except (OSError, ValueError):
            return -1
    probe.release()
    return None


def run_study(
    spec: StudySpec,
    data: str | Path,
    out: str | Path,
    only: list[str] | None = None,
    max_runs: int | None = None,
    progress: bool = False,
    log=print,
) -> dict[str, Any]:
    """Make every missing run of ``spec`` (train, then evaluate once), then summarise.

    Args:
        spec: the grid; data: dataset root; out: the study folder.
        only: restrict to these variants (their sources are trained when needed).
        max_runs: stop after this many new trainings (None: all).
    Returns:
        The summary (also written to ``out/summary.json`` and ``summary.md``).
    """
    import torch

    out = Path(out)
    selected = spec.selection(only)
    _check_spec(out, spec)
    trained = 0
    for variant, seed in spec.runs():
        run = run_dir(out, variant, seed)
        if variant.name not in selected or (run / "eval.json").is_file():
            continue
        config = spec.config(variant, seed)
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        source = _source(spec, out, variant, seed, log)
        if source is None:
            continue
        needs_training = variant.weights_from is None and (
            not (run / "model.pt").is_file() or _unfinished(run, config.epochs)
        )
        if needs_training and max_runs is not None and trained >= max_runs:
            log(f"stopping: --max-runs {max_runs} reached")
            break
        lock = claim_run(run)
        if lock is None:
            holder = claim_holder(run)
            log(f"{variant.name} seed {seed}: skipped, process {holder} is working on it")
            continue
        try:
            if not (run / "eval.json").is_file():  # not finished by another process meanwhile
                trained += _make_run(
                    variant, seed, config, data, run, source, needs_training, progress, log
                )
        finally:
            release_run(run, lock)
    return summarize(out)


def _source(spec: StudySpec, out: Path, variant: Variant, seed: int, log: Any) -> Path | None:
    """The run whose weights ``variant`` evaluates (its own, or its ``weights_from``'s);
    None (and a line in the log) while that run is unfinished or keeps no weights."""
    if variant.weights_from is None:
        return run_dir(out, variant, seed)
    source = run_dir(out, spec.variant(variant.weights_from), seed)
    if not (source / "eval.json").is_file():  # the source run is not finished
        log(f"{variant.name} seed {seed}: waits for {variant.weights_from} seed {seed}")
        return None
    if not (source / "model.pt").is_file():  # restored from a record: no weights
        log(f"{variant.name} seed {seed}: {source} keeps no weights; train it again")
        return None
    return source


def _make_run(
    variant: Variant,
    seed: int,
    config: Any,
    data: str | Path,
    run: Path,
    source: Path,
    needs_training: bool,
    progress: bool,
    log: Any,
) -> int:
    """Train (or resume) the run if it needs it, probe it, evaluate it once into ``run``;
    returns how many trainings it made (0 or 1)."""
    from mnad_lite.alerts.evaluation import evaluate
    from mnad_lite.engine.train import train
    from mnad_lite.research.probe import probe_run

    if needs_training:
        resume = (run / "last.pt").is_file()
        log(f"{variant.name} seed {seed}: {'resuming' if resume else 'training'} in {run}")
        tic = time.perf_counter()
        train(config, data, run, resume=resume, progress=progress)
        log(f"{variant.name} seed {seed}: trained in {(time.perf_counter() - tic) / 60:.1f} min")
    if variant.weights_from is None and not (run / "probe.json").is_file():
        probe_run(run, data)  # how much the decoder relies on each path
    test_update = variant.evaluate.get("test_update")
    report = evaluate(source, data, test_update=test_update, figures=False, progress=False, out=run)
    log(f"{variant.name} seed {seed}: frame AUC {100 * (report['frame_auc'] or 0):.2f}")
    return int(needs_training)


def _state(
    variant: Variant, run: Path, weights: Path, logged: int, epochs: int, claim: int | None
) -> tuple[str, float | None]:
    """(where a run stands, its frame AUC when finished); see :func:`study_status`."""
    if (run / "eval.json").is_file():
        return "finished", json.loads((run / "eval.json").read_text()).get("frame_auc")
    if variant.weights_from and not (weights / "eval.json").is_file():
        return f"waits for {variant.weights_from}", None
    if variant.weights_from or (logged >= epochs and (run / "model.pt").is_file()):
        return "evaluating", None
    started = logged or (run / "last.pt").is_file() or claim is not None
    return ("training" if started else "not started"), None


def study_status(out: str | Path, spec: StudySpec | None = None) -> list[dict[str, Any]]:
    """Where a study stands, run by run, without touching it: one dict per (variant, seed)
    in the order the runner makes them, with ``variant``, ``seed``, ``epochs`` (logged),
    ``of`` (configured), ``minutes`` (logged training time), ``left`` (minutes of training
    still to go at the run's median epoch time so far; None before its first epoch and
    for a variant that reuses another's weights),
    ``state`` ("finished", "evaluating", "training", "not started" or "waits for
    <variant>"), ``frame_auc`` (finished runs) and ``claim`` (the id of the process
    holding the run's lock, or None).

    ``spec`` defaults to the grid stored in the folder (``study.json``).
    """
    out = Path(out)
    spec = spec if spec is not None else stored_spec(out)
    rows = []
    for variant, seed in spec.runs():
        run = run_dir(out, variant, seed)
        weights = (
            run_dir(out, spec.variant(variant.weights_from), seed) if variant.weights_from else run
        )
        log_path = weights / "log.jsonl"
        log = (
            [json.loads(x) for x in log_path.read_text().splitlines() if x.strip()]
            if log_path.is_file()
            else []
        )
        epochs = spec.config(variant, seed).epochs
        claim = claim_holder(run)
        state, frame_auc = _state(variant, run, weights, len(log), epochs, claim)
        seconds = [e.get("seconds", 0.0) for e in log]
        rows.append(
            {
                "variant": variant.name,
                "seed": seed,
                "epochs": len(log),
                "of": epochs,
                "minutes": sum(seconds) / 60,
                "left": None
                if variant.weights_from or not seconds
                else max(epochs - len(log), 0) * float(np.median(seconds)) / 60,
                "state": state,
                "frame_auc": frame_auc,
                "claim": claim,
            }
        )
    return rows


def status_text(rows: list[dict[str, Any]]) -> str:
    """:func:`study_status` as a fixed-width table, one line per run."""
    lines = [f"{'variant':<24} {'seed':>4} {'epochs':>7} {'min':>6} {'left':>6}  state"]
    for r in rows:
        state = r["state"]
        if r["frame_auc"] is not None:
            state += f", frame AUC {100 * r['frame_auc']:.2f}"
        if r["claim"] is not None:
            state += f" (process {r['claim']} is on it)"
        elif r["state"] in ("training", "evaluating"):
            state += " (no process is on it: run the study again to resume)"
        epochs = f"{r['epochs']:>3}/{r['of']:<3}"
        left = "" if r["left"] is None else f"{r['left']:.0f}"
        lines.append(
            f"{r['variant']:<24} {r['seed']:>4} {epochs} {r['minutes']:>6.1f} {left:>6}  {state}"
        )
    going = [r["left"] for r in rows if r["left"]]
    waiting = sum(r["state"] == "not started" for r in rows)
    lines.append(
        f"left: about {sum(going):.0f} min of training in {len(going)} started run(s) "
        f"(at each one's median epoch so far), and {waiting} run(s) not started"
    )
    return "\n".join(lines)


def _unfinished(run: Path, epochs: int) -> bool:
    log_path = run / "log.jsonl"
    if not log_path.is_file():
        return True
    return len([x for x in log_path.read_text().splitlines() if x.strip()]) < epochs
