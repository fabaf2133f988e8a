"""Thread settings for CPU training: intra-op threads and the OpenMP wait policy.

    python benchmarks/threads.py [--preset lite] [--rounds 3] [--steps 3] [--quick]

Runs the preset's training step (channels-last, Eq. 8, backward, Adam) in fresh
processes, one per setting, alternating the settings for ``--rounds`` rounds, and prints
each setting's median step time (wall clock) and the load average of the machine:

* ``1 thread``;
* ``N threads`` (N = the CPU count; torch's default), OpenMP's default wait policy, under
  which a thread that reaches a barrier first spins for a while before sleeping
  (``OMP_WAIT_POLICY`` removed from the child's environment: importing mnad_lite sets it
  to PASSIVE, but the child imports torch first, so that comes too late);
* ``N threads, OMP_WAIT_POLICY=PASSIVE``: waiting threads sleep at once.

The wait policy is read when OpenMP starts, so it can only be set in the environment of
a new process (``OMP_WAIT_POLICY=PASSIVE python -m mnad_lite train ...``), hence the
subprocesses. When another busy process shares the cores, N spinning threads and
barriers after every operator can make N threads several times slower than one;
on an idle machine N threads win. The ratios tell which case this machine is in.
``--quick``: one round of one step of the quick preset (a smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SETTINGS = {  # name -> (threads or None for all CPUs, OMP_WAIT_POLICY or None for unset)
    "1 thread": (1, None),
    "all threads": (None, None),
    "all threads, OMP_WAIT_POLICY=PASSIVE": (None, "PASSIVE"),
}


def child(preset_name: str, threads: int, steps: int) -> None:
    """In a fresh process: time ``steps`` training steps after one warm-up step."""
    import torch
    from timing import training_step

    from mnad_lite.engine.config import preset
    from mnad_lite.model import MNAD

    torch.set_num_threads(threads)
    config = preset(preset_name)
    torch.manual_seed(0)
    model = MNAD(**config.model_args()).train().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    h, w = config.size
    x = torch.rand(config.batch_size, model.input_channels, h, w) * 2 - 1
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.rand(config.batch_size, config.channels, h, w) * 2 - 1
    times = []
    for i in range(steps + 1):
        tic = time.perf_counter()
        training_step(model, opt, x, y)  # Eq. 8
        if i:
            times.append(time.perf_counter() - tic)
    print(json.dumps({"threads": torch.get_num_threads(), "times": times}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per process")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="quick preset, once")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.rounds, args.steps = "quick", 1, 1
    if args.child is not None:
        child(args.preset, args.child, args.steps)
        return
    cpus = os.cpu_count() or 1
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    used: dict[str, int] = {}
    loads = []
    for _ in range(args.rounds):
        for name, (threads, policy) in SETTINGS.items():
            env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
            if policy is not None:
                env["OMP_WAIT_POLICY"] = policy
            cmd = [sys.executable, __file__, "--preset", args.preset, "--steps", str(args.steps)]
            cmd += ["--child", str(threads or cpus)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            times[name] += result["times"]
            used[name] = result["threads"]
            loads.append(os.getloadavg()[0])
    print(
        f"training step, preset {args.preset}, channels-last, {cpus} CPUs; load average "
        f"(1 min) during the runs: {min(loads):.1f} to {max(loads):.1f}"
    )
    base = statistics.median(times["1 thread"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(
            f"  {name:<38} ({used[name]} threads): {med * 1e3:8.1f} ms "
            f"(median of {len(ts)})   x{base / med:5.2f} vs 1 thread"
        )


if __name__ == "__main__":
    main()
