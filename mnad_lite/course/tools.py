"""Small helpers of the course notebooks: tensor shapes through the network, training
speed, the stored Ped2 results and Markdown tables."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from mnad_lite.engine.config import Config


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

    The memory's output is the decoder input ``concat(q, p̂)`` (its ``features``): the
    trace runs the model's reference path (``fused_read`` off, restored after), where the
    decoder's first conv reads that tensor. Modules a model lacks (``memory`` without
    memory) are skipped.
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
    was_training, fused_read = model.training, getattr(model, "fused_read", None)
    try:
        model.eval()
        if fused_read is not None:  # the paper's data flow: the decoder reads concat(q, p̂)
            model.fused_read = False
        with torch.no_grad():
            model(x, update_memory=False)
    finally:
        model.train(was_training)
        if fused_read is not None:
            model.fused_read = fused_read
        for handle in handles:
            handle.remove()
    return rows


def training_speed(
    config: Config, data: str | Path, steps: int = 10, warmup: int = 2
) -> dict[str, Any]:
    """Optimisation steps per second of :func:`mnad_lite.engine.train.train` for ``config``.

    Trains ``warmup + steps`` steps (one epoch, into a temporary folder) on ``data`` and
    times the last ``steps``: the whole step (data, forward, Eq. 8, backward, Adam) on
    the device ``config.device`` resolves to, with its mixed precision and memory format.
    """
    import dataclasses
    import time

    from mnad_lite.engine.runtime import pick_device
    from mnad_lite.engine.train import train

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
