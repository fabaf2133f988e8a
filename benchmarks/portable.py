"""What the portable CPU mode costs: the course model's training step and batched scoring,
machine mode against portable mode, each in NCHW and channels-last.

    python benchmarks/portable.py [--rounds 3] [--repeats 10] [--quick]

A process is either portable or not (:mod:`mnad_lite.engine.portable` pins kernels before
they first run), so each mode runs in fresh processes, alternated over ``--rounds``
(machine, portable, machine, ...); inside a process the two layouts are interleaved
(``timing.interleaved``). Ratios are against the machine mode in channels-last (the
package's CPU default) and say why the course trains portable runs in NCHW.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import json, sys
sys.path.insert(0, {here!r})
mode, repeats, quick = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
from mnad_lite.engine import portable
if mode == "portable":
    portable.enable()
import torch
from timing import interleaved, set_threads, training_step
from mnad_lite.course import course_config
from mnad_lite.model import MNAD
set_threads(1)
torch.manual_seed(0)
config = course_config(quick)
h, w = config.size
fns = {{}}
for layout, fmt in (("NCHW", torch.contiguous_format), ("channels-last", torch.channels_last)):
    net = MNAD(**config.model_args()).to(memory_format=fmt)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    x = torch.rand(config.batch_size, net.input_channels, h, w).contiguous(memory_format=fmt)
    y = torch.rand(config.batch_size, config.channels, h, w)
    xe = torch.rand(config.eval_batch_size, net.input_channels, h, w).contiguous(memory_format=fmt)

    def step(net=net, opt=opt, x=x, y=y):
        training_step(net, opt, x, y)

    def score(net=net, xe=xe):
        with torch.no_grad():
            net.eval()
            net(xe, update_memory=False)
            net.train()

    fns[f"train {{layout}}"], fns[f"score {{layout}}"] = step, score
t = interleaved(fns, repeats, warmup=1)
print(json.dumps({{k: v.wall_median for k, v in t.items()}}))
"""


def measure(mode: str, repeats: int, quick: bool) -> dict[str, float]:
    """Medians (s) of one fresh process in ``mode``."""
    env = {k: v for k, v in os.environ.items() if k != "MNAD_REPRODUCIBLE"}
    code = CHILD.format(here=str(HERE))
    out = subprocess.run(
        [sys.executable, "-c", code, mode, str(repeats), "1" if quick else "0"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="the quick model, once")
    args = parser.parse_args(argv)
    rounds, repeats = (1, 2) if args.quick else (args.rounds, args.repeats)
    runs: dict[str, list[dict[str, float]]] = {"machine": [], "portable": []}
    for _ in range(rounds):
        for mode in runs:
            runs[mode].append(measure(mode, repeats, args.quick))
    import torch

    model = "quick" if args.quick else "course (48x72, width 16, batch 4; scoring batch 16)"
    print(f"portable vs machine mode | {model} | torch {torch.__version__}, 1 thread, cpu")
    for part in ("train", "score"):
        ref = statistics.median(r[f"{part} channels-last"] for r in runs["machine"])
        for mode, results in runs.items():
            for layout in ("channels-last", "NCHW"):
                t = statistics.median(r[f"{part} {layout}"] for r in results)
                print(
                    f"  {part} {mode:<8} {layout:<13} {t * 1e3:8.1f} ms   "
                    f"x{ref / t:5.2f} vs machine channels-last"
                )


if __name__ == "__main__":
    main()
