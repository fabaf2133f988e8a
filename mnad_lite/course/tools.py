"""Small helpers of the course notebooks: tensor shapes through the network, training
speed (here or natively), the committed study files, native evaluation and Markdown tables."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from mnad_lite.engine.config import Config
from mnad_lite.errors import MNADError


def study_file(name: str, start: str | Path = ".") -> Path:
    """The committed study file ``docs/studies/<name>`` (a grid or a compact summary).

    A notebook runs from ``notebooks/``, so it looks in ``../docs/studies`` first, then in
    ``docs/studies`` below ``start`` (a run from the repository root), then in the checkout
    the package was installed from (``pip install -e .``), so a notebook copied to another
    folder still finds it. Raises :class:`MNADError` naming every place it looked.
    """
    import mnad_lite

    start = Path(start)
    places = [
        start / ".." / "docs" / "studies",
        start / "docs" / "studies",
        Path(mnad_lite.__file__).resolve().parents[1] / "docs" / "studies",
    ]
    for folder in places:
        if (folder / name).is_file():
            return folder / name
    looked = ", ".join(str(folder.resolve() / name) for folder in places)
    raise MNADError(
        f"study file {name} not found (looked for {looked}); the notebooks read "
        "the repository's docs/studies/: run them from a clone of mnad_lite"
    )


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


_NATIVE_SPEED = """
import json, sys
from mnad_lite.course.tools import training_speed
from mnad_lite.engine.config import Config
spec = json.loads(sys.argv[1])
config = Config.from_dict(spec["config"])
print(json.dumps(training_speed(config, spec["data"], spec["steps"], spec["warmup"])))
"""


def training_speed(
    config: Config, data: str | Path, steps: int = 10, warmup: int = 2, native: bool = False
) -> dict[str, Any]:
    """Optimisation steps per second of :func:`mnad_lite.engine.train.train` for ``config``.

    Trains ``warmup + steps`` steps (one epoch, into a temporary folder) on ``data`` and
    times the last ``steps``: the whole step (data, forward, Eq. 8, backward, Adam) on
    the device ``config.device`` resolves to, with its mixed precision and memory format.
    ``native``: in a child process with this machine's own kernels (:func:`run_natively`),
    as your own runs train, instead of this process's (portable in a notebook).
    """
    import dataclasses
    import time

    from mnad_lite.engine.runtime import pick_device
    from mnad_lite.engine.train import train

    if steps < 1 or warmup < 1:
        raise ValueError("steps and warmup must be >= 1")
    if native:
        spec = {"config": config.to_dict(), "data": str(data), "steps": steps, "warmup": warmup}
        return json.loads(run_natively(_NATIVE_SPEED, spec, f"timing {config.preset} steps"))
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


def kind_frame(dataset: Any, kind: str, first: int = 0) -> tuple[Any, int]:
    """A test frame that shows an anomaly of ``kind`` well: ``(event, t)``.

    Among the frames t >= ``first`` of the events of that kind (synthetic manifest,
    ``dataset.events``) where no other event of the video is under way, the one whose
    box ``event.boxes[t]`` ([x0, y0, x1, y1], pixels of the source frame) is largest;
    the first such frame on ties. ``first`` = t_length - 1 skips frames without a
    prediction. Raises ValueError if no frame qualifies.
    """
    best: tuple[int, Any, int] | None = None
    for event in dataset.events:
        if event.kind != kind:
            continue
        others = [e for e in dataset.events if e.video == event.video and e is not event]
        for t, (x0, y0, x1, y1) in sorted(event.boxes.items()):
            if t < first or any(e.start <= t <= e.end for e in others):
                continue
            area = (x1 - x0 + 1) * (y1 - y0 + 1)
            if best is None or area > best[0]:
                best = (area, event, t)
    if best is None:
        raise ValueError(f"no test frame >= {first} shows a {kind} alone")
    return best[1], best[2]


def frame_maps(model: Any, video: Any, t: int, config: Config) -> dict[str, Any]:
    """What a trained model sees and says at frame ``t`` of ``video``.

    One forward pass (eval mode, the trained items, no memory update) of the clip whose
    last frame is t. Returns numpy arrays: ``frame`` I_t ``[H, W]`` in [-1, 1] (first
    channel), ``prediction`` Î_t ``[H, W]``, ``error`` ``[H, W]`` (squared error on
    [0, 1] frames, mean over channels: the per-pixel error behind PSNR, Eq. 14),
    ``distance_map`` ``[h, w]`` (each query's term of Eq. 15,
    :func:`mnad_lite.memory.distance_map`; None without memory), ``queries`` ``[C, h, w]``
    (the L2-normalised query map), ``items`` ``[M, C]``; and the frame's ``psnr`` (Eq. 14)
    and ``distance`` D (Eq. 15) as floats, in the configuration's forms.
    """
    import numpy as np
    import torch

    from mnad_lite.data.clips import ClipDataset, split_clip
    from mnad_lite.engine.inference import prepare
    from mnad_lite.engine.runtime import to_layout
    from mnad_lite.memory import distance_map
    from mnad_lite.scoring import frame_error, psnr

    clips = ClipDataset([video], config.t_length, config.size, config.channels)
    rows = np.flatnonzero(clips.index[:, 1] == t)
    if rows.size == 0:
        raise ValueError(f"frame {t} of video {video.name} ends no clip of {config.t_length}")
    device = next(model.parameters()).device
    x, target = split_clip(clips[int(rows[0])][None], config.method)
    prepare(model, config)  # eval mode and the configured form of Eq. 15
    with torch.no_grad():
        out = model(to_layout(x.to(device), config.channels_last), update_memory=False)
        prediction, target = out.prediction.float(), target.to(device).float()
        mem = out.memory
        dmap = (
            distance_map(out.queries, model.memory.items, config.distance_form)[0]
            if mem is not None
            else None
        )
        return {
            "frame": target[0, 0].cpu().numpy(),
            "prediction": prediction[0, 0].cpu().numpy(),
            "error": frame_error(prediction, target).mean(dim=1)[0].cpu().numpy(),
            "distance_map": None if dmap is None else dmap.cpu().numpy(),
            "queries": out.queries[0].float().cpu().numpy(),
            "items": None if mem is None else model.memory.items.cpu().numpy(),
            "psnr": float(psnr(prediction, target, config.psnr_form)[0]),
            "distance": float(mem.distance[0]) if mem is not None else float("nan"),
        }


def box_contrast(values: Any, box: Sequence[float], frame_size: Sequence[int]) -> float:
    """How much a map stands out on a box: the mean over the cells that overlap ``box``
    divided by the mean over the other cells (1: no contrast).

    ``values`` ``[h, w]`` covers a frame of ``frame_size`` (H, W) pixels (an error map at
    full resolution, or a query map's D at 1/8 of it); ``box`` is [left, top, right,
    bottom] in those pixels, right and bottom exclusive (:func:`scale_box`). Cell (i, j)
    covers rows [i H/h, (i+1) H/h) and columns [j W/w, (j+1) W/w).
    """
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    h, w = values.shape
    fh, fw = frame_size
    left, top, right, bottom = box
    rows, cols = np.arange(h), np.arange(w)
    in_rows = (rows * fh / h < bottom) & ((rows + 1) * fh / h > top)
    in_cols = (cols * fw / w < right) & ((cols + 1) * fw / w > left)
    inside = in_rows[:, None] & in_cols[None, :]
    if inside.all() or not inside.any():
        raise ValueError(f"box {list(box)} covers all or none of the {h}x{w} cells")
    return float(values[inside].mean() / values[~inside].mean())


def scale_box(box: Sequence[int], source: Sequence[int], size: Sequence[int]) -> list[float]:
    """A manifest box [x0, y0, x1, y1] (inclusive pixel indices of a ``source`` (H, W)
    frame) as [left, top, right, bottom] edges (right, bottom exclusive) in the pixels of
    that frame resized to ``size`` (H, W); for ``imshow(..., extent=(0, W, H, 0))``."""
    sy, sx = size[0] / source[0], size[1] / source[1]
    x0, y0, x1, y1 = box
    return [x0 * sx, y0 * sy, (x1 + 1) * sx, (y1 + 1) * sy]


def find_ped2(start: str | Path = ".") -> Path | None:
    """UCSD Ped2 where a learner keeps it: ``$MNAD_PED2``, ``data/ped2`` of the checkout,
    or ``../shared/datasets/ped2`` beside it (a folder with ``testing/frames``); None if
    absent (it is never downloaded: see docs/data.md)."""
    import os

    import mnad_lite

    repo = Path(mnad_lite.__file__).resolve().parents[1]
    places = [Path(os.environ["MNAD_PED2"])] if os.environ.get("MNAD_PED2") else []
    places += [Path(start) / ".." / "data" / "ped2", repo / "data" / "ped2"]
    places += [repo.parent / "shared" / "datasets" / "ped2"]
    return next((p for p in places if (p / "testing" / "frames").is_dir()), None)


def committed_model(name: str = "ped2-lite") -> Path:
    """The trained model committed in the checkout: ``models/<name>`` (see its README)."""
    import mnad_lite

    path = Path(mnad_lite.__file__).resolve().parents[1] / "models" / name
    if not (path / "model.pt").is_file():
        raise MNADError(f"{path}: no committed model here; run the notebooks from a clone")
    return path


def run_natively(code: str, spec: Any, what: str) -> str:
    """Run ``python -c code json(spec)`` in a child process with this machine's own kernels
    (the portable mode's pins taken out of its environment); its stdout. A failure raises
    a one-line :class:`MNADError` starting with ``what``."""
    import os
    import subprocess
    import sys

    from mnad_lite.engine.config import SWITCH
    from mnad_lite.engine.portable import ENVIRONMENT

    pinned = set(ENVIRONMENT) | {SWITCH}
    env = {k: v for k, v in os.environ.items() if k not in pinned}
    command = [sys.executable, "-c", code, json.dumps(spec)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise MNADError(f"{what} failed: {last}")
    return done.stdout


_NATIVE_EVALUATION = """
import json, sys
from mnad_lite.data import open_dataset
spec = json.loads(sys.argv[1])
data = open_dataset(spec["data"])
data.train, data.test = data.train[: spec["videos"]], data.test[: spec["videos"]]
if spec["alerts"]:
    from mnad_lite.alerts.evaluation import evaluate
else:
    from mnad_lite import evaluate
evaluate(spec["run"], data, device="cpu", progress=False, out=spec["out"], **spec["options"])
"""


def evaluate_natively(
    run: str | Path,
    data: str | Path,
    out: str | Path,
    videos: int | None = None,
    alerts: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Evaluate a trained run in a child process with this machine's own kernels, and
    return its ``eval.json``.

    The course's portable mode is for the runs the notebooks train and check to the last
    digit; a notebook process stays portable from its first cell, and its baseline kernels
    score about 6x slower. A run trained elsewhere, such as the committed Ped2 model
    (trained and packaged natively), is scored as a learner's ``python -m mnad_lite
    evaluate`` would: natively, on every core.

    Args:
        run, data, out: the run folder, the dataset root and the output folder.
        videos: keep the first ``videos`` training and test videos (None: all).
        alerts: :func:`mnad_lite.alerts.evaluation.evaluate` (calibration, online score,
            threshold) instead of :func:`mnad_lite.evaluate`; ``options`` go to it.
    """
    spec = {"run": str(run), "data": str(data), "out": str(out), "videos": videos}
    run_natively(
        _NATIVE_EVALUATION,
        {**spec, "alerts": alerts, "options": options},
        f"evaluating {run} on {data}",
    )
    return json.loads((Path(out) / "eval.json").read_text())


def course_time(notebook: str, start: str | Path = ".") -> str:
    """One line: ``notebook``'s measured run time, the first time (empty cache, the course
    run in order) and with the cache filled, from ``notebooks/timings.json`` (written by
    ``python scripts/time_course.py --write``), found like :func:`study_file`."""
    import json

    import mnad_lite

    places = [Path(start), Path(start) / "notebooks"]
    places.append(Path(mnad_lite.__file__).resolve().parents[1] / "notebooks")
    path = next((p / "timings.json" for p in places if (p / "timings.json").is_file()), None)
    if path is None:
        return "no measured run time here (python scripts/time_course.py --write measures it)"
    record = json.loads(path.read_text())
    parts = []
    for key, label in (("first_run", "the first time (empty cache)"), ("cached", "cached")):
        if notebook in record.get(key, {}):
            seconds = record[key][notebook]
            shown = f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"
            parts.append(f"{shown} {label}")
    if not parts:
        return f"no measured run time for {notebook} in {path.name}"
    machine = record.get("first_run", record.get("cached", {})).get("machine", "?")
    return f"{notebook} run time, full mode, measured on {machine}: " + ", ".join(parts)
