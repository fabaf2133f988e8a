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
(one per core, say): each claims a run with a ``.claim`` file holding its process id and
skips runs that a live process has claimed; a claim left by a killed process is taken
over. The grid may grow between invocations (new variants or
seeds); a variant whose definition changed is refused, so old results never mix with a
new definition. A finished run can be kept as a small record without weights or labels
and brought back into a study folder (:mod:`mnad_lite.pipeline.records`); the committed
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

import dataclasses
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnad_lite.errors import ConfigError
from mnad_lite.metrics import rank_auc
from mnad_lite.report.results import read_scores_csv, write_text_atomic
from mnad_lite.report.study_text import mechanism_table

#: The per-run numbers the summary reports (keys of eval.json), in order.
METRICS = ("frame_auc", "frame_auc_global", "frame_auc_macro", "psnr_auc", "distance_auc", "eer")
#: The scores judged per anomaly kind (keys of eval.json's ``per_kind_auc_terms``) and their
#: labels in summary.md.
KIND_TERMS = {
    "frame_auc": "paper protocol",
    "frame_auc_global": "global min-max",
    "psnr_auc": "PSNR only",
    "distance_auc": "D only",
}
#: Anomaly kinds listed first in summary.md (the rest follow alphabetically).
KINDS_FIRST = ("grass_walker",)
#: Memory diagnostics of the last training epoch (keys of log.jsonl).
DIAGNOSTICS = ("items_used", "usage_entropy", "cos_nearest", "max_read_weight", "hinge_active")
BOOTSTRAP = 2000  # resamples of the test videos
CONFIDENCE = 0.95


@dataclass
class Variant:
    """One configuration of a study.

    Attributes:
        name: folder name (letters, digits, ``-`` and ``_``).
        train: configuration overrides (fields of :class:`mnad_lite.config.Config`).
        evaluate: evaluation options (``test_update``).
        weights_from: reuse the trained runs of this variant (same seeds) and only
            evaluate differently (e.g. the test-time update off: no extra training).
        seeds: seeds of this variant (None: the study's seeds).
        stage: runs are made stage by stage (1 first), then seed by seed.
        note: what the variant tests; ``beyond_paper`` marks variants outside the paper.
    """

    name: str
    train: dict[str, Any] = field(default_factory=dict)
    evaluate: dict[str, Any] = field(default_factory=dict)
    weights_from: str | None = None
    seeds: list[int] | None = None
    stage: int = 1
    note: str = ""
    beyond_paper: bool = False

    def definition(self) -> dict[str, Any]:
        """What makes two variants the same (seeds and stage may change)."""
        return {
            "train": self.train,
            "evaluate": self.evaluate,
            "weights_from": self.weights_from,
        }


@dataclass
class StudySpec:
    """A grid: a preset with base overrides, variants, seeds and the reference variant."""

    name: str
    preset: str
    seeds: list[int]
    variants: list[Variant]
    reference: str
    base: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ConfigError(f"study {self.name}: variant names repeat: {names}")
        for v in self.variants:
            if not v.name or not all(c.isalnum() or c in "-_" for c in v.name):
                raise ConfigError(f"study {self.name}: bad variant name {v.name!r}")
            if v.weights_from is not None and v.weights_from not in names:
                raise ConfigError(f"variant {v.name}: weights_from {v.weights_from!r} unknown")
            if set(v.evaluate) - {"test_update"}:
                raise ConfigError(f"variant {v.name}: evaluate accepts only test_update")
        if self.reference not in names:
            raise ConfigError(f"study {self.name}: reference {self.reference!r} is no variant")

    def seeds_of(self, variant: Variant) -> list[int]:
        if variant.weights_from is not None:
            source = self.variant(variant.weights_from)
            return variant.seeds or self.seeds_of(source)
        return variant.seeds or self.seeds

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise ConfigError(f"study {self.name}: no variant {name!r}")

    def config(self, variant: Variant, seed: int):
        """The :class:`~mnad_lite.config.Config` a variant trains with for ``seed``."""
        from mnad_lite.engine.config import preset

        trained = self.variant(variant.weights_from) if variant.weights_from else variant
        return preset(self.preset, **{**self.base, **trained.train, "seed": seed})

    def runs(self) -> list[tuple[Variant, int]]:
        """Every (variant, seed), in the order they are made."""
        order = []
        for i, v in enumerate(self.variants):
            source_stage = self.variant(v.weights_from).stage if v.weights_from else v.stage
            for k, seed in enumerate(self.seeds_of(v)):
                order.append(((max(v.stage, source_stage), k, i), v, seed))
        return [(v, s) for _, v, s in sorted(order, key=lambda item: item[0])]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudySpec:
        try:
            variants = [Variant(**v) for v in data["variants"]]
            return cls(**{**data, "variants": variants})
        except (KeyError, TypeError) as err:
            raise ConfigError(f"not a study definition ({err})") from None


def builtin_grid(name: str) -> StudySpec:
    """The grids this project runs: ``ped2`` (issue 9, Does the memory help?) and
    ``quick`` (the same questions in seconds, for tests)."""
    free_update_off = Variant(
        "memory-no-test-update",
        evaluate={"test_update": False},
        weights_from="memory",
        note="same weights as memory; the test-time update (Eqs. 6-7) off",
    )
    common = [
        Variant("memory", note="MNAD as the authors' code (the reference)"),
        Variant(
            "no-memory",
            train={"use_memory": False},
            note="no memory: the decoder reads the raw encoder output (C channels, not 2C)",
        ),
        free_update_off,
    ]
    if name == "quick":
        return StudySpec("quick", "quick", [0, 1], common, "memory")
    if name == "ped2":
        extras = [
            Variant(
                "no-memory-losses",
                train={"lambda_compact": 0.0, "lambda_separate": 0.0},
                seeds=[0],
                stage=2,
                note="memory read and update kept, λ_c = λ_s = 0 (Eq. 8)",
            ),
            Variant(
                "paper-forms",
                train={"weight_norm": "assigned", "loss_form": "paper"},
                seeds=[0],
                stage=2,
                note="the paper's printed Eq. 5 (max over U_t^m) and Eqs. 9-10 (L2 norms)",
            ),
            Variant(
                "read-gradient",
                train={"read_gradient": True},
                seeds=[0],
                stage=3,
                note="the loss reaches the queries through the read weights of Eq. 1 "
                "(the authors' code detaches them)",
                beyond_paper=True,
            ),
            Variant(
                "sharp-read",
                train={"read_temperature": 0.1},
                seeds=[0],
                stage=3,
                note="Eq. 1 at temperature 0.1: a query equal to an item can read it alone "
                "(at 1, unit vectors cap the largest weight near 0.45 for M = 10)",
                beyond_paper=True,
            ),
            Variant(
                "no-deep-skip",
                train={"deep_skip": False},
                seeds=[0],
                stage=3,
                note="the decoder without its deepest skip (1/4 resolution), the path the "
                "no_deep_skip probe measures: below 1/2 resolution it sees only concat(q, p̂)",
                beyond_paper=True,
            ),
            Variant(
                "no-deep-skip-no-memory",
                train={"deep_skip": False, "use_memory": False},
                seeds=[0],
                stage=3,
                note="no-deep-skip without the memory: its pair, so the memory is compared "
                "where the skip cannot bypass it",
                beyond_paper=True,
            ),
        ]
        return StudySpec("ped2", "lite", [0, 1, 2], common + extras, "memory", {"num_threads": 1})
    raise ConfigError(f"unknown study grid {name!r} (builtin: ped2, quick; or a .json file)")


def load_grid(name_or_path: str | Path) -> StudySpec:
    """A builtin grid by name, or a study definition from a JSON file."""
    path = Path(name_or_path)
    if path.suffix == ".json":
        try:
            return StudySpec.from_dict(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: cannot read the study definition ({err})") from None
    return builtin_grid(str(name_or_path))


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


def run_dir(out: Path, variant: Variant, seed: int) -> Path:
    return out / variant.name / f"seed{seed}"


CLAIM = ".claim"


def _alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _claim_holder(path: Path) -> tuple[int, bool, bool] | None:
    """(process id, whether it is this process, whether it may still be alive) of the
    claim at ``path``; None without a claim. An unreadable or half-written claim is stale
    (-1, False, False); a claim from another host cannot be checked and counts as alive."""
    try:
        holder = json.loads(path.read_text())
        pid, host = int(holder["pid"]), holder.get("host")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return -1, False, False
    here = host == platform.node()
    return pid, here and pid == os.getpid(), not here or (pid > 0 and _alive(pid))


def claim_run(run: Path) -> int | None:
    """Claim ``run`` for this process: None if claimed, else the id of the live process
    that holds it. A claim whose process is gone (killed, machine restarted) is taken over.
    """
    run.mkdir(parents=True, exist_ok=True)
    path = run / CLAIM
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _claim_holder(path)
            if holder is None:  # released meanwhile
                continue
            pid, mine, alive = holder
            if mine:
                return None
            if alive:
                return pid
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid(), "host": platform.node()}, f)
        return None
    return -1  # another process took it over between our two tries


def release_run(run: Path) -> None:
    """Drop this process's claim on ``run`` (a claim of another process is left alone)."""
    holder = _claim_holder(run / CLAIM)
    if holder is not None and holder[1]:
        (run / CLAIM).unlink(missing_ok=True)


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

    from mnad_lite.engine.train import train
    from mnad_lite.pipeline.evaluation import evaluate
    from mnad_lite.pipeline.probe import probe_run

    out = Path(out)
    _check_spec(out, spec)
    trained = 0
    for variant, seed in spec.runs():
        if only and variant.name not in only:
            continue
        run = run_dir(out, variant, seed)
        if (run / "eval.json").is_file():
            continue
        config = spec.config(variant, seed)
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        source = run
        if variant.weights_from is not None:
            source = run_dir(out, spec.variant(variant.weights_from), seed)
            if not (source / "eval.json").is_file():  # the source run is not finished
                log(f"{variant.name} seed {seed}: waits for {variant.weights_from} seed {seed}")
                continue
            if not (source / "model.pt").is_file():  # restored from a record: no weights
                log(f"{variant.name} seed {seed}: {source} keeps no weights; train it again")
                continue
        needs_training = variant.weights_from is None and (
            not (run / "model.pt").is_file() or _unfinished(run, config.epochs)
        )
        if needs_training and max_runs is not None and trained >= max_runs:
            log(f"stopping: --max-runs {max_runs} reached")
            break
        holder = claim_run(run)
        if holder is not None:
            log(f"{variant.name} seed {seed}: skipped, process {holder} is working on it")
            continue
        try:
            if (run / "eval.json").is_file():  # finished by another process meanwhile
                continue
            if needs_training:
                resume = (run / "last.pt").is_file()
                log(f"{variant.name} seed {seed}: {'resuming' if resume else 'training'} in {run}")
                tic = time.perf_counter()
                train(config, data, run, resume=resume, progress=progress)
                minutes = (time.perf_counter() - tic) / 60
                log(f"{variant.name} seed {seed}: trained in {minutes:.1f} min")
                trained += 1
            test_update = variant.evaluate.get("test_update")
            if variant.weights_from is None and not (run / "probe.json").is_file():
                probe_run(run, data)  # how much the decoder relies on each path
            report = evaluate(
                source, data, test_update=test_update, figures=False, progress=False, out=run
            )
            log(f"{variant.name} seed {seed}: frame AUC {100 * (report['frame_auc'] or 0):.2f}")
        finally:
            release_run(run)
    summary = summarize(out)
    return summary


def study_status(out: str | Path, spec: StudySpec | None = None) -> list[dict[str, Any]]:
    """Where a study stands, run by run, without touching it: one dict per (variant, seed)
    in the order the runner makes them, with ``variant``, ``seed``, ``epochs`` (logged),
    ``of`` (configured), ``minutes`` (logged training time), ``left`` (minutes of training
    still to go at the run's median epoch time so far; None before its first epoch and
    for a variant that reuses another's weights),
    ``state`` ("finished", "evaluating", "training", "not started" or "waits for
    <variant>"), ``frame_auc`` (finished runs) and ``claim`` (the id of the live process
    holding the run, "stale" for a claim whose process is gone, or None).

    ``spec`` defaults to the grid stored in the folder (``study.json``).
    """
    out = Path(out)
    stored = out / "study.json"
    if spec is None:
        if not stored.is_file():
            raise ConfigError(
                f"{stored}: no study here; run `mnad-lite study --grid G --out {out}`"
            )
        spec = StudySpec.from_dict(json.loads(stored.read_text()))
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
        holder = _claim_holder(run / CLAIM)
        claim = None if holder is None else holder[0] if holder[2] else "stale"
        frame_auc = None
        if (run / "eval.json").is_file():
            state = "finished"
            frame_auc = json.loads((run / "eval.json").read_text()).get("frame_auc")
        elif variant.weights_from and not (weights / "eval.json").is_file():
            state = f"waits for {variant.weights_from}"
        elif variant.weights_from or (len(log) >= epochs and (run / "model.pt").is_file()):
            state = "evaluating"
        else:
            started = log or (run / "last.pt").is_file() or claim not in (None, "stale")
            state = "training" if started else "not started"
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
        if r["claim"] == "stale":
            state += " (stale claim: its process is gone; the next run takes it over)"
        elif r["claim"] is not None:
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


# --- the summary --------------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, Any]:
    arr = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return {"mean": None, "std": None, "n": 0, "values": values}
    std = float(arr.std(ddof=1)) if arr.size > 1 else None
    return {"mean": float(arr.mean()), "std": std, "n": int(arr.size), "values": values}


def paired_bootstrap(
    variant_scores: list[dict[str, np.ndarray]],
    reference_scores: list[dict[str, np.ndarray]],
    resamples: int = BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean over seeds of AUC(variant) - AUC(reference), with a bootstrap interval.

    Each element of the lists is one seed's per-frame scores (``scores.csv`` columns
    video, frame, label, score), variant and reference paired by seed. The test videos
    are resampled with replacement (the same resample for every seed and both
    variants); a frame keeps its per-video normalised score. Resamples with one class
    only are dropped.
    """
    for v, r in zip(variant_scores, reference_scores, strict=True):
        if not (np.array_equal(v["video"], r["video"]) and np.array_equal(v["frame"], r["frame"])):
            raise ConfigError("paired runs scored different frames; cannot compare them")
    videos = np.unique(reference_scores[0]["video"])
    members = [[np.flatnonzero(r["video"] == name) for name in videos] for r in reference_scores]

    def diff(indices_per_seed: list[np.ndarray]) -> float | None:
        out = []
        for v, r, idx in zip(variant_scores, reference_scores, indices_per_seed, strict=True):
            labels = r["label"][idx]
            if labels.min() == labels.max():
                return None
            out.append(rank_auc(labels, v["score"][idx]) - rank_auc(labels, r["score"][idx]))
        return float(np.mean(out))

    point = diff([np.arange(len(r["label"])) for r in reference_scores])
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        pick = rng.integers(0, len(videos), len(videos))
        d = diff([np.concatenate([m[i] for i in pick]) for m in members])
        if d is not None:
            draws.append(d)
    lo, hi = np.quantile(draws, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {
        "mean_diff": point,
        "ci": [float(lo), float(hi)],
        "confidence": confidence,
        "resamples": len(draws),
        "seeds": len(variant_scores),
    }


def summarize(out: str | Path) -> dict[str, Any]:
    """Collect every finished run of the study in ``out`` into ``summary.json``, ``.md``
    and ``.png``; returns the summary. Its ``pending`` maps each variant with unfinished
    runs (not started, training or not yet scored) to their seeds."""
    import torch

    out = Path(out)
    stored = out / "study.json"
    if not stored.is_file():
        raise ConfigError(f"{stored}: no study here; run `mnad-lite study --grid G --out {out}`")
    try:
        spec = StudySpec.from_dict(json.loads(stored.read_text()))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{stored}: not a study definition ({err})") from None
    variants: dict[str, Any] = {}
    pending: dict[str, list[int]] = {}
    scores: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    for v in spec.variants:
        per_seed: dict[int, dict[str, Any]] = {}
        for seed in spec.seeds_of(v):
            run = run_dir(out, v, seed)
            if not (run / "eval.json").is_file():
                pending.setdefault(v.name, []).append(seed)
                continue
            report = json.loads((run / "eval.json").read_text())
            weights = run_dir(out, spec.variant(v.weights_from), seed) if v.weights_from else run
            log = [json.loads(x) for x in (weights / "log.jsonl").read_text().splitlines() if x]
            per_seed[seed] = {
                **{k: report.get(k) for k in METRICS},
                "memory_updates": report.get("memory_updates"),
                "train_minutes": sum(e["seconds"] for e in log) / 60,
                "epochs": len(log),
                **{k: log[-1].get(k) for k in DIAGNOSTICS if log},
            }
            probe_path = weights / "probe.json"
            if probe_path.is_file():
                probes = json.loads(probe_path.read_text())["probes"]
                for cut, entry in probes.items():
                    if cut != "base":
                        per_seed[seed][f"probe_{cut}_auc_change"] = entry.get("auc_change")
                        per_seed[seed][f"probe_{cut}_change_ratio"] = entry.get("change_ratio")
            per_seed[seed]["per_kind"] = _per_kind_of(report)
            scores.setdefault(v.name, {})[seed] = read_scores_csv(run / "scores.csv")
        if not per_seed:
            continue
        seeds = sorted(per_seed)
        probe_keys = sorted({k for r in per_seed.values() for k in r if k.startswith("probe_")})
        keys = (*METRICS, "train_minutes", *DIAGNOSTICS, *probe_keys)
        variants[v.name] = {
            "note": v.note,
            "beyond_paper": v.beyond_paper,
            "config": spec.config(v, seeds[0]).to_dict() | {"seed": None},
            "evaluate": v.evaluate,
            "weights_from": v.weights_from,
            "seeds": seeds,
            "runs": {str(s): per_seed[s] for s in seeds},
            **{k: _stats([per_seed[s].get(k) for s in seeds]) for k in keys},
            "per_kind": _per_kind_stats([per_seed[s]["per_kind"] for s in seeds]),
        }
    ref = scores.get(spec.reference, {})
    for name, entry in variants.items():
        mine = scores[name]
        common = sorted(set(mine) & set(ref))
        if name == spec.reference or not common:
            continue
        entry["vs_reference"] = paired_bootstrap(
            [mine[s] for s in common], [ref[s] for s in common]
        )
        entry["vs_reference"]["per_seed"] = {
            str(s): entry["runs"][str(s)]["frame_auc"]
            - variants[spec.reference]["runs"][str(s)]["frame_auc"]
            for s in common
        }
        # the reference runs this pair used: a committed summary may list other runs of
        # the same seeds (see merge_compact's reruns)
        entry["vs_reference"]["reference_auc"] = {
            str(s): variants[spec.reference]["runs"][str(s)]["frame_auc"] for s in common
        }
    summary = {
        "study": spec.name,
        "preset": spec.preset,
        "reference": spec.reference,
        "date": time.strftime("%Y-%m-%d"),
        # the CPU capability picks the kernels, and so the last bits of every sum
        "machine": (
            f"{platform.machine()} ({torch.backends.cpu.get_cpu_capability()}), "
            f"{os.cpu_count()} cores, torch {torch.__version__}"
        ),
        "variants": variants,
        "pending": pending,
    }
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(out / "summary.md", markdown(summary) + "\n")
    if variants:
        plot(summary, out / "summary.png")
    return summary


def seed_values(
    summary: dict[str, Any], variant: str, term: str, kind: str | None = None
) -> dict[int, float]:
    """``{seed: value}`` of one statistic of a variant: ``term`` (``"frame_auc"``,
    ``"distance_auc"`` ...) or, with ``kind``, the per-kind AUC ``per_kind[term][kind]``
    (``"grass_walker"``); seeds without a value are left out (empty if none)."""
    v = summary["variants"][variant]
    stats = v.get("per_kind", {}).get(term, {}).get(kind) if kind else v.get(term)
    if not stats:
        return {}
    return {
        int(s): float(x) for s, x in zip(v["seeds"], stats["values"], strict=True) if x is not None
    }


def seed_change(
    summary: dict[str, Any], variant: str, reference: str, term: str, kind: str | None = None
) -> dict[str, Any]:
    """How one statistic changes from ``reference`` to ``variant``, paired seed by seed.

    Only the seeds both variants report are paired (see :func:`seed_values` for ``term``
    and ``kind``). Returns ``per_seed`` ``{seed: variant - reference}``, ``n``, ``mean``
    and ``std`` of those differences (ddof = 1; None when undefined), ``up`` and ``down``
    (how many seeds rose, fell), and ``variant`` and ``reference``: each one's
    ``{seed: value}`` on the paired seeds. In the summary's unit (AUCs as fractions).
    """
    mine = seed_values(summary, variant, term, kind)
    ref = seed_values(summary, reference, term, kind)
    seeds = sorted(set(mine) & set(ref))
    diffs = [mine[s] - ref[s] for s in seeds]
    stats = _stats(diffs) if diffs else {"mean": None, "std": None}
    return {
        "per_seed": dict(zip(seeds, diffs, strict=True)),
        "n": len(seeds),
        "mean": stats["mean"],
        "std": stats["std"],
        "up": sum(d > 0 for d in diffs),
        "down": sum(d < 0 for d in diffs),
        "variant": {s: mine[s] for s in seeds},
        "reference": {s: ref[s] for s in seeds},
    }


def _round(x: Any, digits: int) -> Any:
    """Every float inside ``x`` (dicts, lists) to ``digits`` significant digits."""
    if isinstance(x, float):
        return float(f"{x:.{digits}g}") if math.isfinite(x) else x
    if isinstance(x, dict):
        return {k: _round(v, digits) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v, digits) for v in x]
    return x


def compact_summary(summary: dict[str, Any], digits: int = 6) -> dict[str, Any]:
    """A study summary small enough to commit (``docs/studies/<name>-summary.json``).

    Keeps the header (study, preset, reference, date, machine, and ``pending``, the
    grid's unfinished seeds per variant, when there are any), the reference variant's
    configuration once (``config``) and, per variant: ``note``, ``beyond_paper``,
    ``seeds``, ``config_changes`` (the fields whose value differs from ``config``),
    ``evaluate``, ``weights_from``, every statistic (``mean``, ``std``, ``n`` and each
    seed's value in ``values``, in the order of ``seeds``) of the metrics, diagnostics
    and probes, ``per_kind`` ``{term: {kind: statistic}}`` and ``vs_reference``. Drops
    ``runs`` (each seed's numbers are already the statistics' ``values``) and the full
    configuration of every variant; floats keep ``digits`` significant digits.
    :func:`markdown` and :func:`kind_markdown` read the result as they read ``summary``.
    """
    variants = summary["variants"]
    ref = variants.get(summary["reference"]) or next(iter(variants.values()), {})
    base = ref.get("config", {})
    out_variants = {}
    for name, v in variants.items():
        config = v.get("config", {})
        entry = {
            "note": v.get("note", ""),
            "beyond_paper": v.get("beyond_paper", False),
            "seeds": v["seeds"],
            "config_changes": {k: x for k, x in config.items() if base.get(k) != x},
            "evaluate": v.get("evaluate", {}),
            "weights_from": v.get("weights_from"),
        }
        for key, value in v.items():
            if isinstance(value, dict) and {"mean", "std", "n", "values"} <= set(value):
                entry[key] = value
        entry["per_kind"] = v.get("per_kind", {})
        if "vs_reference" in v:
            entry["vs_reference"] = v["vs_reference"]
        out_variants[name] = entry
    header = {k: summary[k] for k in ("study", "preset", "reference", "date", "machine")}
    if summary.get("pending"):
        header["pending"] = summary["pending"]
    return _round({**header, "config": base, "variants": out_variants}, digits)


def dumps_compact(data: Any, width: int = 100, indent: str = "") -> str:
    """JSON with one line for every dict or list that fits in ``width`` characters (a
    statistic, a seed list), indented lines above them: small and readable in a diff."""
    flat = json.dumps(data, ensure_ascii=False)
    if len(indent) + len(flat) <= width or not isinstance(data, (dict, list)) or not data:
        return flat
    inner = indent + " "
    if isinstance(data, dict):
        parts = [
            f"{inner}{json.dumps(k, ensure_ascii=False)}: "
            + dumps_compact(v, width, inner).lstrip()
            for k, v in data.items()
        ]
        return "{\n" + ",\n".join(parts) + "\n" + indent + "}"
    parts = [inner + dumps_compact(v, width, inner).lstrip() for v in data]
    return "[\n" + ",\n".join(parts) + "\n" + indent + "]"


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-5)


def _by_seed(entry: dict[str, Any], key: str) -> dict[int, Any]:
    """``{seed: value}`` of one statistic of a compact summary's variant (None when the
    variant lacks it)."""
    values = (entry.get(key) or {}).get("values") or [None] * len(entry["seeds"])
    return dict(zip(entry["seeds"], values, strict=True))


def merge_compact(previous: dict[str, Any], new: dict[str, Any], name: str) -> dict[str, Any]:
    """``new`` (a compact summary) keeping what ``previous`` holds and ``new`` lacks.

    A study folder may lose finished runs (a fresh machine, ``runs/`` wiped) while its
    committed compact summary keeps their numbers. A variant ``new`` lacks is carried
    over from ``previous``; a variant with no seed that ``previous`` lacks keeps
    ``previous``'s entry (whose paired differences may rest on reference runs now gone);
    a variant with new seeds takes ``new``'s entry. ``pending`` drops the seeds carried
    over.

    A kept seed whose run in ``new`` is another run (a different frame AUC or training
    time: trained again, here or on another machine) is recorded in the kept entry's
    ``reruns`` ``{seed: {date, machine, frame_auc, train_minutes}}``, never mixed into its
    statistics: the same seed does not give the same run on another CPU (float rounding
    grows over training), and the report says how far apart the two landed. A variant
    with new seeds whose common seeds disagree cannot be merged that way (its statistics
    would mix runs): ConfigError, ``name`` (the file) in the message.
    """
    merged = {**new, "variants": dict(new["variants"])}
    for variant, old in previous.get("variants", {}).items():
        entry = new["variants"].get(variant)
        if entry is None:
            merged["variants"][variant] = old
            continue
        before, now = _by_seed(old, "frame_auc"), _by_seed(entry, "frame_auc")
        minutes_before = _by_seed(old, "train_minutes")
        minutes_now = _by_seed(entry, "train_minutes")
        common = sorted(set(before) & set(now))
        # another run of a kept seed: its AUC or its logged training time differs
        other = [
            s
            for s in common
            if not _same(before[s], now[s])
            or (minutes_before[s] is not None and not _same(minutes_before[s], minutes_now[s]))
        ]
        if not set(now) <= set(before):
            disagree = [
                s
                for s in common
                if None not in (before[s], now[s]) and not _same(before[s], now[s])
            ]
            if disagree:
                s = disagree[0]
                raise ConfigError(
                    f"{name}: {variant} seed {s} had frame AUC {before[s]:.6f}, the run in "
                    f"the study folder {now[s]:.6f}, and the folder has new seeds of it; "
                    f"delete {name} to replace its numbers"
                )
            continue
        kept = dict(old)
        reruns = dict(old.get("reruns", {}))
        for s in other:
            known = reruns.get(str(s), {})
            if _same(known.get("frame_auc"), now[s]) and _same(
                known.get("train_minutes"), minutes_now[s]
            ):
                continue  # this rerun is recorded already
            reruns[str(s)] = {
                "date": new.get("date"),
                "machine": new.get("machine"),
                "frame_auc": now[s],
                "train_minutes": minutes_now[s],
            }
        if reruns:
            kept["reruns"] = reruns
        merged["variants"][variant] = kept
    # the previous file's order, then the variants new to it
    order = [*previous.get("variants", {}), *new["variants"]]
    merged["variants"] = {v: merged["variants"][v] for v in dict.fromkeys(order)}
    pending = {
        v: [s for s in seeds if s not in merged["variants"].get(v, {}).get("seeds", [])]
        for v, seeds in new.get("pending", {}).items()
    }
    merged.pop("pending", None)
    if any(pending.values()):
        merged = {
            **{k: x for k, x in merged.items() if k not in ("config", "variants")},
            "pending": {v: seeds for v, seeds in pending.items() if seeds},
            "config": merged["config"],
            "variants": merged["variants"],
        }
    return merged


def write_compact_summary(summary_json: str | Path, out: str | Path) -> dict[str, Any]:
    """Read a study's ``summary.json``, write :func:`compact_summary` of it to ``out``;
    with the study's ``choice.json`` (``study --choose``) beside it, as ``choice``. An
    existing ``out`` keeps the runs the study folder no longer holds
    (:func:`merge_compact`)."""
    compact = compact_summary(json.loads(Path(summary_json).read_text()))
    if Path(out).is_file():
        try:
            previous = json.loads(Path(out).read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(f"{out}: not a compact summary ({err})") from None
        compact = merge_compact(previous, compact, str(out))
    choice = Path(summary_json).parent / "choice.json"
    if choice.is_file():
        compact["choice"] = _round(json.loads(choice.read_text()), 6)
    write_text_atomic(Path(out), dumps_compact(compact) + "\n")
    return compact


def _per_kind_of(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{term: {kind: AUC}}`` of one run's eval.json (older reports: the paper's score
    only, from ``per_kind_auc``)."""
    terms = report.get("per_kind_auc_terms") or {"frame_auc": report.get("per_kind_auc") or {}}
    return {t: {k: e["auc"] for k, e in kinds.items()} for t, kinds in terms.items()}


def _per_kind_stats(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, Any]]:
    """``{term: {kind: stats over the seeds}}`` for every term and kind a run reports."""
    out: dict[str, dict[str, Any]] = {}
    for term in [t for t in KIND_TERMS if any(t in r for r in runs)]:
        kinds = sorted({k for r in runs for k in r.get(term, {})})
        out[term] = {k: _stats([r.get(term, {}).get(k) for r in runs]) for k in kinds}
    return out


def kind_order(kinds: set[str] | list[str]) -> list[str]:
    """Kinds in report order: :data:`KINDS_FIRST`, then the others alphabetically."""
    first = [k for k in KINDS_FIRST if k in kinds]
    return first + sorted(set(kinds) - set(first))


def _pm(stats: dict[str, Any], scale: float = 100.0, digits: int = 1) -> str:
    if stats["mean"] is None:
        return ""
    text = f"{scale * stats['mean']:.{digits}f}"
    if stats["std"] is not None:
        text += f" ± {scale * stats['std']:.{digits}f}"
    return text


def markdown(summary: dict[str, Any]) -> str:
    """The study as a Markdown table: mean ± std (every seed), paired difference."""
    lines = [
        "| variant | seeds | frame AUC (paper protocol) | every seed | global min-max | macro "
        "| PSNR only | D only | EER | Δ vs reference [95% CI] | train min |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, v in summary["variants"].items():
        every = ", ".join(f"{100 * x:.1f}" for x in v["frame_auc"]["values"] if x is not None)
        vs = v.get("vs_reference")
        delta = (
            f"{100 * vs['mean_diff']:+.1f} [{100 * vs['ci'][0]:+.1f}, {100 * vs['ci'][1]:+.1f}]"
            if vs
            else "(reference)"
            if name == summary["reference"]
            else ""
        )
        label = name + (" (beyond the paper)" if v["beyond_paper"] else "")
        lines.append(
            f"| {label} | {len(v['seeds'])} | {_pm(v['frame_auc'])} | {every} "
            f"| {_pm(v['frame_auc_global'])} | {_pm(v['frame_auc_macro'])} "
            f"| {_pm(v['psnr_auc'])} | {_pm(v.get('distance_auc', {'mean': None}))} "
            f"| {_pm(v['eer'])} | {delta} "
            f"| {_pm(v['train_minutes'], 1.0, 0)} |"
        )
    lines += ["", mechanism_table(summary)]
    kinds_table = kind_markdown(summary)
    return "\n".join(lines + ([""] + kinds_table if kinds_table else []))


def kind_markdown(summary: dict[str, Any]) -> list[str]:
    """Frame AUC (%) per anomaly kind, mean ± std over seeds: a row per variant and score
    (the paper's, then each term); no lines when no run reports kinds."""
    kinds = kind_order(
        {
            k
            for v in summary["variants"].values()
            for term in v.get("per_kind", {}).values()
            for k in term
        }
    )
    if not kinds:
        return []
    lines = [
        "| variant | score | " + " | ".join(kinds) + " |",
        "|---|---|" + "---|" * len(kinds),
    ]
    for name, v in summary["variants"].items():
        label = name + (" (beyond the paper)" if v["beyond_paper"] else "")
        for term, title in KIND_TERMS.items():
            per_kind = v.get("per_kind", {}).get(term)
            if per_kind:
                cells = [_pm(per_kind[k]) if k in per_kind else "" for k in kinds]
                lines.append(f"| {label} | {title} | " + " | ".join(cells) + " |")
    return lines


def plot(summary: dict[str, Any], path: Path) -> Path:
    """Every seed's paper-protocol frame AUC per variant, with mean ± std."""
    from matplotlib.figure import Figure

    names = list(summary["variants"])
    fig = Figure(figsize=(7, 0.5 + 0.45 * len(names)))
    ax = fig.subplots()
    for i, name in enumerate(names):
        stats = summary["variants"][name]["frame_auc"]
        vals = [100 * x for x in stats["values"] if x is not None]
        ax.plot(vals, [i] * len(vals), "o", color="C0", alpha=0.6)
        if stats["std"] is not None:
            m, s = 100 * stats["mean"], 100 * stats["std"]
            ax.errorbar([m], [i], xerr=[s], fmt="|", color="k", capsize=4)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("frame AUC, paper protocol (%)")
    ax.set_title(f"study {summary['study']}: every seed (dots), mean ± std (bars)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
