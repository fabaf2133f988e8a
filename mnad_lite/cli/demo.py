"""The demo: the synthetic benchmark, a small model trained on the CPU, its evaluation.

``python -m mnad_lite demo`` (and ``make demo``) generates the default synthetic set (if
``data/synthetic`` holds none yet), trains a CPU-sized MNAD on it (the course model of
notebook 04), evaluates it with the paper's protocol and prints the table and where the
figures are. On the CPU the run is portable (:mod:`mnad_lite.engine.portable`): its numbers
are the README's on every x86-64 machine. Nothing existing is overwritten: a second demo
writes ``runs/demo-2`` and so on.
"""

from __future__ import annotations

import time
from pathlib import Path

from mnad_lite.engine.config import Config, preset

#: The demo's configuration: the course model (the lite architecture on 48x72 frames, 3
#: epochs of 150 steps), portable on one thread (tested equal to ``course_config(False)``).
DEMO_OVERRIDES = {
    "size": (48, 72),
    "width": 16,
    "epochs": 3,
    "max_steps": 150,
    "eval_batch_size": 16,
    "reproducible": "portable",
    "num_threads": 1,
    "channels_last": False,
}


def demo_config(device: str = "auto", **overrides) -> Config:
    """The demo's configuration; on a GPU (``device`` cuda or mps) not portable."""
    gpu = {"reproducible": "machine", "num_threads": None} if device in ("cuda", "mps") else {}
    return preset("lite", **{**DEMO_OVERRIDES, **gpu, "device": device, **overrides})


def free_run_dir(out: Path) -> Path:
    """``out`` if it holds no run yet, else ``out-2``, ``out-3`` ... (never overwrite)."""
    candidate, n = out, 1
    while (candidate / "model.pt").exists() or (candidate / "last.pt").exists():
        n += 1
        candidate = out.with_name(f"{out.name}-{n}")
    return candidate


def run_demo(
    data: str | Path = "data/synthetic",
    out: str | Path = "runs/demo",
    device: str = "auto",
    **overrides,
) -> dict:
    """Generate (if needed), train, evaluate; print a short report. Returns eval.json's dict."""
    from mnad_lite.alerts.evaluation import evaluate
    from mnad_lite.cli.tables import format_report
    from mnad_lite.data import generate, open_dataset
    from mnad_lite.engine.train import train

    data, out = Path(data), free_run_dir(Path(out))
    tic = time.perf_counter()
    if (data / "training" / "frames").is_dir():
        print(f"[1/3] using the dataset already in {data}")
    else:
        print(f"[1/3] generating the synthetic benchmark (preset default) in {data} ...")
        generate(data, "default", seed=0)
    info = open_dataset(data).info()
    print(
        f"      {info['train_videos']} training videos ({info['train_frames']} frames), "
        f"{info['test_videos']} test videos ({info['test_frames']} frames, "
        f"{info['anomalous_frames']} anomalous)"
    )
    config = demo_config(device, **overrides)
    print(
        f"[2/3] training MNAD ({config.method}, {config.size[0]}x{config.size[1]}, width "
        f"{config.width}, {config.epochs} epochs) into {out} ..."
    )
    train(config, data, out, progress=True)
    print("[3/3] evaluating on the test videos ...")
    report = evaluate(out, data, device=device)
    print(format_report(report))
    print(
        f"done in {time.perf_counter() - tic:.0f} s. Results: {out / 'eval.json'}, "
        f"{out / 'scores.csv'}; figures: {out / 'figures'}/"
    )
    ped2 = Path("data/ped2")
    if ped2.is_dir():
        print(
            f"UCSD Ped2 found in {ped2}: python -m mnad_lite train --data {ped2} "
            f"--out runs/ped2 --preset lite, then python -m mnad_lite evaluate "
            f"--run runs/ped2 --data {ped2}"
        )
    else:
        print("For the real benchmark, put UCSD Ped2 in data/ped2 (see the README).")
    return report
