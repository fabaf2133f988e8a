"""What the course notebooks share, so that each one runs on its own with no hidden state.

Anything expensive is done once and cached on disk, keyed by what it depends on:

- :func:`course_data`: the synthetic benchmark (preset ``quick`` or ``default``, seed 0),
  generated once into the cache folder;
- :func:`cached_run`: a training run, trained once per (configuration, data, mnad_lite
  version); :func:`cached_report`: its evaluation, computed once per test-time-update
  setting;
- :func:`course_config`: the configuration the notebooks train (``quick`` for CI, else a
  CPU-sized model that trains on the synthetic set in a few minutes on one CPU thread).

Smaller helpers live in :mod:`mnad_lite.course.tools` (shapes, speed, tables) and
:mod:`mnad_lite.course.plots` (live loss curves).

The cache folder is ``$MNAD_CACHE`` if set, else ``~/.cache/mnad_lite``; nothing is
ever written into the repository or beside a dataset. Its layout::

    CACHE/
      data/synthetic-<preset>-seed<seed>-v<generator version>/   the generated benchmark
      runs/<preset>-<method>-<hash>/    config.json, log.jsonl, steps.jsonl, model.pt ...
      *.npy                             decoded frames (mnad_lite.data.frames), only
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

from mnad_lite.engine.config import Config, preset

#: The full (not quick) course configuration: the lite architecture on small frames, a
#: short schedule: 600 steps, about 40 s of training on 2 CPU cores (04_training measures it).
COURSE_OVERRIDES: dict[str, Any] = {
    "size": (64, 96),
    "width": 16,
    "epochs": 3,
    "max_steps": 200,
    "eval_batch_size": 16,
}


def cache_dir() -> Path:
    """``$MNAD_CACHE`` if set, else ``~/.cache/mnad_lite``."""
    env = os.environ.get("MNAD_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mnad_lite"


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
    frames) on 64x96 frames, 3 epochs of 200 steps (:data:`COURSE_OVERRIDES`), a few
    minutes of training on one CPU thread. Any field can be overridden (``use_memory=False``,
    ``num_items=20``, ``method="recon"`` ...).

    Course runs train on one CPU thread (``num_threads=1``) unless overridden: the same
    numbers on every machine, whatever its core count (more threads add floating-point
    sums in another order, and training amplifies the difference), so the notebooks'
    checked results hold for every learner and in CI.
    """
    overrides = {"num_threads": 1, **overrides}
    if quick:
        return preset("quick", **overrides)
    return preset("lite", **{**COURSE_OVERRIDES, **overrides})


#: Options added after caches existed: at these (default) values they leave the key as it
#: was, so a run cached before the option existed is still found.
KEY_NEUTRAL_DEFAULTS: dict[str, object] = {
    "read_temperature": 1.0,
    "read_gradient": False,
    "deep_skip": True,
}


def run_key(config: Config, data: str | Path) -> str:
    """The hash naming a cached run: configuration, data path and mnad_lite version."""
    from mnad_lite import __version__

    settings = config.to_dict()
    for name, default in KEY_NEUTRAL_DEFAULTS.items():  # options newer than existing caches
        if settings.get(name) == default:
            del settings[name]
    key = {
        "config": settings,
        "data": str(Path(data).expanduser().resolve()),
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


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

    final = cache_dir() / "runs" / f"{config.preset}-{config.method}-{run_key(config, data)}"
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
    """:func:`mnad_lite.pipeline.evaluation.evaluate` of a run, computed once per update setting.

    Stored as ``RUN/report-<update|no-update>.json`` (``evaluate`` also writes
    ``eval.json`` and ``scores.csv`` of its latest call).
    """
    from mnad_lite.pipeline.evaluation import evaluate

    run = Path(run)
    if test_update is None:
        test_update = Config.load(run / "config.json").test_update
    path = run / f"report-{'update' if test_update else 'no-update'}.json"
    if path.is_file():
        return json.loads(path.read_text())
    report = evaluate(run, data, test_update=test_update, figures=False, progress=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=run)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, path)
    return report


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The lines of a ``.jsonl`` file (``RUN/log.jsonl``, ``RUN/steps.jsonl``) as dicts."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
