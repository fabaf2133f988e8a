"""What the course notebooks share, so that each one runs on its own with no hidden state.

Anything expensive is done once and cached on disk, keyed by what it depends on:

- :func:`course_data`: the synthetic benchmark (preset ``quick`` or ``default``, seed 0),
  generated once into the cache folder;
- :func:`cached_run`: a training run, trained once per (configuration, data, mnad_lite
  version); :func:`cached_report`: its evaluation, computed once per test-time-update
  setting;
- :func:`course_config`: the configuration the notebooks train (``quick`` for CI, else a
  CPU-sized model that trains on the synthetic set in a few minutes on one CPU thread),
  always in the portable CPU mode, so every learner's machine gets the same numbers;
- :func:`cached_runs`: several runs at once, the missing ones trained in parallel
  processes (one per core);
- :func:`start_course`: the first call of every notebook (portable mode, seed, QUICK).

Smaller helpers live in :mod:`mnad_lite.course.tools` (shapes, speed, tables) and
:mod:`mnad_lite.course.plots` (live loss curves).

The cache folder is ``$MNAD_CACHE`` if set, else ``~/.cache/mnad_lite``; nothing is
ever written into the repository or beside a dataset. Its layout::

    CACHE/
      data/synthetic-<preset>-seed<seed>-v<generator version>/   the generated benchmark
      runs/<preset>-<method>-<hash>/    config.json, log.jsonl, steps.jsonl, model.pt ...
      *.npy                             decoded frames (mnad_lite.data.cache), only
                                        when $MNAD_CACHE is set

A run is trained into a temporary folder beside its final one and renamed when
finished, so an interrupted or concurrent notebook never sees half a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mnad_lite.data.cache import cache_root
from mnad_lite.engine.config import Config, preset
from mnad_lite.files import write_json

#: The full (not quick) course configuration: the lite architecture on 48x72 frames, 3
#: epochs of 150 steps. Sized so that the whole course, trained in the portable mode from an
#: empty cache, takes at most 30 minutes on 2 cores (``notebooks/timings.json``); at 64x96
#: and 600 steps (the place study's recipe) it took 52, for the same frame AUC at seed 0
#: (paper protocol 72.88 here against 72.86 for ``course_config(False, size=(64, 96),
#: max_steps=200)`` through :func:`cached_run` and :func:`cached_report`, measured
#: 2026-12-06; PSNR alone 78.95 against 81.65).
COURSE_OVERRIDES: dict[str, Any] = {
    "size": (48, 72),
    "width": 16,
    "epochs": 3,
    "max_steps": 150,
    "eval_batch_size": 16,
}

#: What every course run adds to its preset: the portable CPU mode (the same bits on every
#: x86-64 CPU, :mod:`mnad_lite.engine.portable`) on one thread, in NCHW (with the portable
#: kernels NCHW is the faster layout: ``benchmarks/portable.py``).
COURSE_RUNTIME: dict[str, Any] = {
    "reproducible": "portable",
    "num_threads": 1,
    "channels_last": False,
}


def cache_dir() -> Path:
    """The course's cache: :func:`mnad_lite.data.cache.cache_root` (``$MNAD_CACHE``, else
    ``~/.cache/mnad_lite``), the folder the frame cache uses too."""
    return cache_root()


def _build_once(final: Path, done: str, build: Callable[[Path], None]) -> Path:
    """``final`` if it holds ``done`` already; else ``build`` a temporary sibling folder
    and rename it to ``final`` when finished (an interrupted build leaves nothing)."""
    if (final / done).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        build(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:  # if another process finished first, keep theirs
        os.rename(tmp, final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def course_data(quick: bool, seed: int = 0) -> Path:
    """The synthetic benchmark of the course, generated once into the cache folder.

    ``quick``: preset ``quick`` (9 short small videos, about a second to make); else
    preset ``default`` (Ped2-sized: 16 training and 12 test videos).
    """
    from mnad_lite.data.synthetic import VERSION, generate

    name = "quick" if quick else "default"
    final = cache_dir() / "data" / f"synthetic-{name}-seed{seed}-v{VERSION}"
    return _build_once(final, "manifest.json", lambda tmp: generate(tmp, name, seed=seed))


def course_config(quick: bool, **overrides: Any) -> Config:
    """The configuration the notebooks train: preset ``quick``, or the CPU course model.

    The course model is the ``lite`` preset (the paper's architecture at width 16, gray
    frames) on 48x72 frames, 3 epochs of 150 steps (:data:`COURSE_OVERRIDES`). Any field
    can be overridden (``use_memory=False``, ``num_items=20``, ``method="recon"`` ...).

    Course runs are portable (:data:`COURSE_RUNTIME`): baseline kernels on one CPU
    thread, so a run gives the same bits on every x86-64 machine, whatever its
    instruction set or core count, and the notebooks' checked results hold for every
    learner and in CI to the last digit they print.
    """
    overrides = {**COURSE_RUNTIME, **overrides}
    if quick:
        return preset("quick", **overrides)
    return preset("lite", **{**COURSE_OVERRIDES, **overrides})


def start_course(seed: int = 0) -> bool:
    """The first call of every notebook: the portable CPU mode for this process (before any
    tensor code runs: :func:`mnad_lite.engine.portable.enable`), every seed, and whether
    the notebook runs at CI size (``MNAD_QUICK=1``), which it returns."""
    from mnad_lite.course.expect import quick_mode
    from mnad_lite.engine import portable
    from mnad_lite.engine.runtime import seed_everything

    portable.enable()
    seed_everything(seed)
    return quick_mode()


def run_key(config: Config, data: str | Path) -> str:
    """The hash naming a cached run: configuration, data path and mnad_lite version."""
    from mnad_lite import __version__

    key = {
        "config": config.to_dict(),
        "data": str(Path(data).expanduser().resolve()),
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def run_dir(config: Config, data: str | Path) -> Path:
    """Where :func:`cached_run` keeps ``config`` trained on ``data``."""
    return cache_dir() / "runs" / f"{config.preset}-{config.method}-{run_key(config, data)}"


def report_path(run: Path, test_update: bool) -> Path:
    """Where :func:`cached_report` keeps a run's report for one update setting."""
    return run / f"report-{'update' if test_update else 'no-update'}.json"


def cached_run(
    config: Config,
    data: str | Path,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = False,
) -> Path:
    """Train ``config`` on ``data`` once; later calls return the finished run folder.

    The run folder is ``CACHE/runs/<preset>-<method>-<hash>`` (see :func:`run_key`). A new
    run is trained into a temporary folder (``on_step`` sees every step, as in
    :func:`mnad_lite.engine.train.train`), its per-step losses are written to
    ``steps.jsonl``, and the folder is renamed when training has finished.
    """
    from mnad_lite.engine.train import train

    final = run_dir(config, data)
    steps: list[dict[str, Any]] = []

    def record(entry: dict[str, Any]) -> None:
        steps.append(entry)
        if on_step is not None:
            on_step(entry)

    def build(tmp: Path) -> None:
        train(config, data, tmp, on_step=record, progress=progress)
        (tmp / "steps.jsonl").write_text("".join(json.dumps(s) + "\n" for s in steps))

    return _build_once(final, "model.pt", build)


def cached_report(
    run: str | Path, data: str | Path, test_update: bool | None = None
) -> dict[str, Any]:
    """:func:`mnad_lite.engine.evaluation.evaluate` of a run, computed once per update setting.

    The paper's protocol only (no calibration on the training videos, which would more
    than double the time). Stored as
    ``RUN/report-<update|no-update>.json`` (``evaluate`` also writes ``eval.json`` and
    ``scores.csv`` of its latest call).
    """
    from mnad_lite.engine.evaluation import evaluate

    run = Path(run)
    if test_update is None:
        test_update = Config.load(run / "config.json").test_update
    path = report_path(run, test_update)
    if path.is_file():
        return json.loads(path.read_text())
    report = evaluate(run, data, test_update=test_update, figures=False, progress=False)
    write_json(path, report)
    return report


def _run_and_report(config: dict[str, Any], data: str, cache: str) -> str:
    """One worker of :func:`cached_runs`: train (if missing) and score a run."""
    os.environ["MNAD_CACHE"] = cache
    run = cached_run(Config.from_dict(config), data)
    cached_report(run, data)
    return str(run)


def cached_runs(
    configs: dict[str, Config], data: str | Path, jobs: int | None = None
) -> tuple[dict[str, Path], dict[str, dict[str, Any]]]:
    """Several runs and their reports (:func:`cached_run`, :func:`cached_report`) at once.

    The missing ones train in ``jobs`` parallel processes (default: one per core, at
    most one per missing run), each on one thread: on 2 cores, twice as many runs an hour.
    A run's bits do not depend on the process it trained in (portable mode). Returns
    ``(runs, reports)``, keyed as ``configs``.
    """
    import concurrent.futures as cf
    import multiprocessing

    data = str(Path(data).expanduser().resolve())
    todo = [
        name
        for name, c in configs.items()
        if not report_path(run_dir(c, data), c.test_update).is_file()  # written last
    ]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    if todo and jobs > 1:
        context = multiprocessing.get_context("spawn")  # a fresh, portable interpreter each
        with cf.ProcessPoolExecutor(jobs, mp_context=context) as pool:
            futures = [
                pool.submit(_run_and_report, configs[n].to_dict(), data, str(cache_dir()))
                for n in todo
            ]
            for future in cf.as_completed(futures):
                future.result()  # a failed run raises here, with its own message
    runs = {name: cached_run(c, data) for name, c in configs.items()}
    reports = {name: cached_report(runs[name], data) for name in configs}
    return runs, reports


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The lines of a ``.jsonl`` file (``RUN/log.jsonl``, ``RUN/steps.jsonl``) as dicts."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
