"""Training and inference speed of a preset, and what channels-last memory format buys.

    python benchmarks/speed.py [--preset lite|paper|quick] [--device cpu|cuda] [--steps 5]

Prints, for the preset's network and frame size: seconds per training step (batch of
the preset, Eq. 8 with backward and Adam) in NCHW and in channels-last (NHWC) layout with
their ratio, and inference frames per second (batch 8 and batch 1). Timings are medians
of ``--steps`` runs after two warm-up steps, both layouts measured in this one process.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mnad_lite.engine.config import preset
from mnad_lite.engine.runtime import pick_device
from mnad_lite.losses import total_loss
from mnad_lite.model import MNAD


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_time(fn, steps: int, device: torch.device) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(steps):
        sync(device)
        tic = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lite")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    device = pick_device(args.device)
    config = preset(args.preset)
    h, w = config.size
    torch.manual_seed(0)
    amp = device.type == "cuda" and torch.cuda.is_bf16_supported()
    print(
        f"preset {args.preset}: {h}x{w}, {config.channels} channels, width {config.width}, "
        f"batch {config.batch_size}, {device.type}"
        f"{' (bf16 autocast)' if amp else ''}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    step_times = {}
    for layout in ("nchw", "channels_last"):
        model = MNAD(**config.model_args()).to(device).train()
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        model = model.to(memory_format=fmt)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr)
        x = torch.randn(config.batch_size, model.input_channels, h, w, device=device)
        x = x.contiguous(memory_format=fmt)
        y = torch.rand(config.batch_size, config.channels, h, w, device=device) * 2 - 1

        def step(model=model, opt=opt, x=x, y=y):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                out = model(x)
            loss = total_loss(out, y, config)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        step_times[layout] = median_time(step, args.steps, device)
        print(
            f"  training step, {layout:<13}: {step_times[layout] * 1e3:9.1f} ms "
            f"({config.batch_size / step_times[layout]:.1f} clips/s)"
        )
    print(f"  channels-last speed-up: {step_times['nchw'] / step_times['channels_last']:.1f}x")

    model = model.eval()
    for batch in (8, 1):
        x = torch.randn(batch, model.input_channels, h, w, device=device)
        x = x.contiguous(memory_format=torch.channels_last)

        @torch.no_grad()
        def infer(x=x):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                model(x, update_memory=False)

        t = median_time(infer, args.steps, device)
        print(f"  inference, batch {batch}: {batch / t:8.1f} frames/s")


if __name__ == "__main__":
    main()
