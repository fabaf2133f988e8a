"""Interleaved A/B timing for a shared, noisy machine (imported by the benchmark scripts).

Every comparison runs its implementations in one process, alternating them
(A, B, A, B, ...) so that load from other processes hits all of them alike, and reports
medians. Two clocks are kept: wall time (what a user waits) and the process's CPU time
(``time.process_time``, all threads of this process). With one thread CPU time ignores
the time the process spends descheduled, so it is the steadier of the two on a busy
machine; with several threads it also counts threads that spin while they wait, so read
the wall clock there. Ratios are ``median(reference) / median(candidate)``: above 1 means
the candidate is faster.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Timing:
    """Medians (seconds) of one implementation over the interleaved repetitions."""

    name: str
    wall: list[float]
    cpu: list[float]

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def sync(device: torch.device | str) -> None:
    """Wait for queued CUDA work, so that a timer sees the kernels it launched."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved(
    fns: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int = 2,
    device: torch.device | str = "cpu",
) -> dict[str, Timing]:
    """Time every function ``repeats`` times, alternating them; ``warmup`` untimed rounds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    out = {name: Timing(name, [], []) for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync(device)
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            sync(device)
            out[name].cpu.append(time.process_time() - cpu)
            out[name].wall.append(time.perf_counter() - wall)
    return out


def report(
    timings: dict[str, Timing], reference: str, unit: float = 1e3, label: str = "ms"
) -> None:
    """Print each implementation's medians and its ratio against ``reference``."""
    ref = timings[reference]
    width = max(len(n) for n in timings)
    for name, t in timings.items():
        ratio = ""
        if name != reference:
            ratio = (
                f"   x{ref.wall_median / t.wall_median:5.2f} wall, "
                f"x{ref.cpu_median / t.cpu_median:5.2f} cpu vs {reference}"
            )
        print(
            f"  {name:<{width}}  wall {t.wall_median * unit:9.2f} {label}  "
            f"cpu {t.cpu_median * unit:9.2f} {label}{ratio}"
        )


def versus(timings: dict[str, Timing], candidate: str, reference: str) -> None:
    """One line: ``candidate`` against ``reference`` (both in ``timings``)."""
    a, b = timings[candidate], timings[reference]
    print(
        f"  {candidate} vs {reference}: x{b.wall_median / a.wall_median:.2f} wall, "
        f"x{b.cpu_median / a.cpu_median:.2f} cpu"
    )


def header(what: str, threads: int, device: torch.device | str = "cpu") -> None:
    """One line naming the measurement, torch version, device and thread count."""
    print(
        f"{what} | torch {torch.__version__}, {torch.device(device).type}, "
        f"{threads} intra-op thread(s)"
    )


def set_threads(threads: int) -> int:
    """``torch.set_num_threads`` (explicitly, always) and return the count in use."""
    torch.set_num_threads(threads)
    return torch.get_num_threads()


def training_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    lambda_compact: float = 0.1,
    lambda_separate: float = 0.1,
) -> None:
    """One training step: forward, Eq. 8 (:func:`mnad_lite.losses.total_loss`), backward,
    optimizer step. mnad_lite is imported here, not at the top, so that a script can
    import torch first (``threads.py`` measures what importing mnad_lite changes)."""
    from mnad_lite.losses import total_loss

    loss = total_loss(model(x), y, lambda_compact, lambda_separate)["loss"]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
