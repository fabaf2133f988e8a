"""What the course notebooks share, so that each one runs on its own with no hidden state.

Anything expensive is done once and cached on disk, keyed by what it depends on:

- :func:`course_data`: the synthetic benchmark (preset ``quick`` or ``default``, seed 0),
  generated once into the cache folder;
- :func:`cached_run`: a training run, trained once per (configuration, data, mnad_lite
  version); :func:`cached_report`: its evaluation, computed once per test-time-update
  setting;
- :func:`course_config`: the configuration the notebooks train (``quick`` for CI, else a
  CPU-sized model that trains on the synthetic set in under a minute on 2 cores).

Smaller helpers: :func:`trace_shapes` (the tensor shapes through the network),
:func:`training_speed` (steps per second of :func:`mnad_lite.train.train`),
:class:`LiveLosses` (live loss curves as an ``on_step`` callback), :func:`ped2_results`
(the summary of ``scripts/reproduce_ped2.py``) and :func:`markdown_table`.

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
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from mnad_lite.config import Config, preset

#: The full (not quick) course configuration: the lite architecture on small frames, a
#: short schedule: 600 steps, about 40 s of training on 2 CPU cores (04_training measures it).
COURSE_OVERRIDES: dict[str, Any] = {
    "size": (64, 96),
    "width": 16,
    "epochs": 3,
    "max_steps": 200,
    "eval_batch_size": 16,
}

#: Frame-level micro AUC (%) on UCSD Ped2 reported elsewhere (MNAD.md section 8).
PUBLISHED_PED2: list[dict[str, Any]] = [
    {"source": "MNAD paper, Table 1", "method": "pred", "memory": True, "auc": 97.0},
    {"source": "MNAD paper, Table 1", "method": "recon", "memory": True, "auc": 90.2},
    {"source": "[Re] MNAD (arXiv 2101.12382)", "method": "pred", "memory": True, "auc": 96.3},
    {"source": "[Re] MNAD (arXiv 2101.12382)", "method": "recon", "memory": True, "auc": 88.4},
    {"source": "[Re] MNAD (arXiv 2101.12382)", "method": "recon", "memory": False, "auc": 88.8},
]


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
    frames) on 64x96 frames, 3 epochs of 200 steps (:data:`COURSE_OVERRIDES`), under a
    minute of training on 2 CPU cores. Any field can be overridden (``use_memory=False``,
    ``num_items=20``, ``method="recon"`` ...).
    """
    if quick:
        return preset("quick", **overrides)
    return preset("lite", **{**COURSE_OVERRIDES, **overrides})


def run_key(config: Config, data: str | Path) -> str:
    """The hash naming a cached run: configuration, data path and mnad_lite version."""
    from mnad_lite import __version__

    key = {
        "config": config.to_dict(),
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
    :func:`mnad_lite.train.train`), its per-step losses are written to
    ``steps.jsonl``, and the folder is renamed when training has finished.
    """
    from mnad_lite.train import train

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
    """:func:`mnad_lite.evaluate.evaluate` of a run, computed once per update setting.

    Stored as ``RUN/report-<update|no-update>.json`` (``evaluate`` also writes
    ``eval.json`` and ``scores.csv`` of its latest call).
    """
    from mnad_lite.evaluate import evaluate

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


def ped2_results(path: str | Path) -> dict[str, Any] | None:
    """The summary written by ``scripts/reproduce_ped2.py`` (``summary.json``), or None.

    ``path`` is the summary file or the folder holding it (e.g. ``runs/ped2``).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return summary if isinstance(summary, dict) and summary.get("rows") else None


def markdown_table(rows: Sequence[dict[str, Any]], columns: Iterable[str] | None = None) -> str:
    """A Markdown table of ``rows`` (dicts); floats are shown with 2 decimals."""
    columns = list(columns) if columns is not None else list(rows[0]) if rows else []

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.2f}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


#: The modules :func:`trace_shapes` follows by default, in the order they run.
TRACED = (
    "encoder.stages.0",
    "encoder.stages.1",
    "encoder.stages.2",
    "encoder.stages.3",
    "memory",
    "decoder.inner",
    "decoder.ups.0",
    "decoder.blocks.0",
    "decoder.ups.1",
    "decoder.blocks.1",
    "decoder.ups.2",
    "decoder.head",
)


def trace_shapes(
    model: Any, x: Any, names: Sequence[str] = TRACED
) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    """``(module name, input shape, output shape)`` of the named modules during one
    forward pass of ``x`` (eval mode, no gradients, no memory update), in running order.

    The memory's output is the decoder input ``concat(q, p̂)`` (its ``features``).
    Modules a model lacks (``memory`` without memory) are skipped.
    """
    import torch

    modules = dict(model.named_modules())
    rows: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []

    def hook(name: str) -> Callable[..., None]:
        def record(module: Any, inputs: tuple, output: Any) -> None:
            output = getattr(output, "features", output)
            rows.append((name, tuple(inputs[0].shape), tuple(output.shape)))

        return record

    handles = [modules[n].register_forward_hook(hook(n)) for n in names if n in modules]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x, update_memory=False)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return rows


def training_speed(
    config: Config, data: str | Path, steps: int = 10, warmup: int = 2
) -> dict[str, Any]:
    """Optimisation steps per second of :func:`mnad_lite.train.train` for ``config``.

    Trains ``warmup + steps`` steps (one epoch, into a temporary folder) on ``data`` and
    times the last ``steps``: the whole step (data, forward, Eq. 8, backward, Adam) on
    the device ``config.device`` resolves to, with its mixed precision and memory format.
    """
    import dataclasses
    import time

    from mnad_lite.train import pick_device, train

    if steps < 1 or warmup < 1:
        raise ValueError("steps and warmup must be >= 1")
    stamps: list[float] = []
    short = dataclasses.replace(config, epochs=1, max_steps=warmup + steps)
    with tempfile.TemporaryDirectory(prefix="mnad-speed-") as tmp:
        train(
            short, data, tmp, on_step=lambda _: stamps.append(time.perf_counter()), progress=False
        )
    if len(stamps) < warmup + steps:
        raise ValueError(f"{data}: one epoch has only {len(stamps)} steps at this batch size")
    seconds = (stamps[-1] - stamps[warmup - 1]) / steps
    return {
        "device": str(pick_device(config.device)),
        "seconds_per_step": seconds,
        "steps_per_second": 1 / seconds,
        "steps": steps,
    }


TERMS = ("loss", "rec", "compact", "separate")


def plot_losses(steps: Sequence[dict[str, Any]], ax: Any = None, terms: Sequence[str] = TERMS):
    """Loss terms of Eq. 8 against the step, on a log scale (one line per term)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.clear()
    for term in terms:
        ax.plot([s[term] for s in steps], label=term, lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title("Eq. 8: L = L_rec + λ_c L_compact + λ_s L_separate", fontsize=10)
    ax.legend(fontsize=8, ncol=len(terms))
    return ax


class LiveLosses:
    """An ``on_step`` callback that redraws the loss curves every ``every`` steps.

    In a notebook the figure is shown once and updated in place (IPython display
    handles); elsewhere it only records the steps.
    """

    def __init__(self, every: int = 20) -> None:
        self.every = every
        self.steps: list[dict[str, Any]] = []
        self._fig: Any = None
        self._handle: Any = None

    def __call__(self, entry: dict[str, Any]) -> None:
        self.steps.append(entry)
        if len(self.steps) % self.every == 0:
            self.draw()

    def draw(self) -> Any:
        """Draw (or redraw) the curves; returns the figure."""
        import matplotlib.pyplot as plt

        if self._fig is None:
            self._fig, _ = plt.subplots(figsize=(6.4, 3.2))
            plt.close(self._fig)  # shown through the display handle, not by the backend
        plot_losses(self.steps, self._fig.axes[0])
        self._fig.tight_layout()
        display = _notebook_display()
        if display is not None:
            if self._handle is None:
                self._handle = display(self._fig, display_id=True)
            else:
                self._handle.update(self._fig)
        return self._fig

    def finish(self, run: str | Path | None = None) -> Any:
        """The final curves; a run that was cached (no live steps) is read from
        ``RUN/steps.jsonl``."""
        if not self.steps and run is not None:
            self.steps = read_jsonl(Path(run) / "steps.jsonl")
        return self.draw()


def _notebook_display() -> Callable[..., Any] | None:
    """IPython's ``display`` inside a running IPython kernel, else None."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the notebook extra
        return None
    return display if get_ipython() is not None else None
