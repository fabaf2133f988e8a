"""Where the time of one training step goes, by kind of operator (torch.profiler).

    python benchmarks/profile_step.py [--preset lite] [--threads 1] [--steps 5] [--reference]
                                      [--quick]

Profiles ``--steps`` training steps of the preset (channels-last, Eq. 8, backward, Adam;
the opt-in fast paths, or the default reference paths with ``--reference``) after two
warm-up steps, and prints the self CPU time of the operators grouped by what they do, as a
share of the total, then the ten most expensive operators with their input shapes.
The profiler adds some overhead per operator; the shares are what to read. ``--quick``
profiles one step of the quick preset (a smoke test; ``tests/benchmarks`` runs it).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch
from fused import FusedMNAD
from timing import header, set_threads, training_step
from torch.profiler import ProfilerActivity, profile

from mnad_lite.engine.config import preset

GROUPS = (  # (group, operator name fragments), first match wins
    ("convolution backward", ("convolution_backward",)),
    ("convolution forward", ("mkldnn_convolution", "_convolution", "conv2d", "conv_transpose")),
    ("batch norm backward", ("batch_norm_backward",)),
    ("batch norm forward", ("native_batch_norm", "batch_norm")),
    ("ReLU forward + backward", ("relu", "threshold_backward", "clamp_min_")),
    ("max-pool forward + backward", ("max_pool",)),
    ("concatenation", ("aten::cat",)),
    ("Adam", ("Adam", "lerp", "addcdiv", "addcmul_", "_foreach")),
    ("matrix products (memory)", ("aten::mm", "aten::bmm", "matmul")),
)


def group_of(name: str) -> str:
    for group, fragments in GROUPS:
        if any(f in name for f in fragments):
            return group
    return "other (elementwise, copies, reductions, autograd)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lite")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--reference", action="store_true", help="reference paths")
    parser.add_argument("--quick", action="store_true", help="quick preset, one step")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.steps = "quick", 1
    threads = set_threads(args.threads)
    config = preset(args.preset)
    torch.manual_seed(0)
    model = FusedMNAD(**config.model_args()).train().to(memory_format=torch.channels_last)
    assert model.memory is not None
    # the fast paths are opt-in; --reference profiles the default (reference) paths
    model.fused_read = model.memory.fused_normalize = not args.reference
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    h, w = config.size
    x = torch.rand(config.batch_size, model.input_channels, h, w) * 2 - 1
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.rand(config.batch_size, config.channels, h, w) * 2 - 1

    def step() -> None:
        training_step(model, opt, x, y)  # Eq. 8

    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(args.steps):
            step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    groups: dict[str, float] = defaultdict(float)
    for e in events:
        groups[group_of(e.key)] += e.self_cpu_time_total
    path = "reference (default)" if args.reference else "fast paths"
    header(f"profile of a {args.preset} training step ({path} paths, channels-last)", threads)
    print(f"  {total / args.steps / 1e3:.1f} ms self CPU time per step (profiled)")
    for group, t in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * t / total:5.1f}%  {group}")
    print("  top operators (self CPU per step, input shapes):")
    by_shape = prof.key_averages(group_by_input_shape=True)
    for e in sorted(by_shape, key=lambda e: -e.self_cpu_time_total)[:10]:
        shapes = ", ".join(str(s) for s in e.input_shapes[:3] if s)
        per_step = e.self_cpu_time_total / args.steps / 1e3
        print(f"    {per_step:7.1f} ms  {e.key:<32} {shapes}")


if __name__ == "__main__":
    main()
