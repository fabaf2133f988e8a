"""Time one training-mode memory step against a loop baseline in the authors' style.

The step: normalise the queries, compactness and separateness losses (Eqs. 10-13),
read (Eqs. 1-2) and update (Eqs. 3-5), at the paper's shape (batch 4, 32x32 queries,
C = 512, M = 10). The baseline recomputes the similarity and both softmaxes for each
use (losses, read, update) and loops over items in Python for the update, as the
authors' code does. Both run here, in one process, on the same inputs; the script
checks that they agree and prints the ratio.

    python benchmarks/memory_bench.py [--device cpu|cuda] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from mnad_lite.memory import Memory


def baseline_step(x: torch.Tensor, items: torch.Tensor):
    """Loop baseline: similarity recomputed per use, Python loop over items."""

    def scores(q):
        s = q.reshape(-1, q.shape[-1]) @ items.t()
        return F.softmax(s, dim=0), F.softmax(s, dim=1)  # over queries, over items

    q = F.normalize(x, dim=1).permute(0, 2, 3, 1)  # [B, H, W, C]
    b, h, w, c = q.shape
    flat = q.reshape(-1, c)
    # losses
    _, over_items = scores(q)
    top2 = torch.topk(over_items, 2, dim=1).indices
    pos, neg = items[top2[:, 0]], items[top2[:, 1]]
    compact = F.mse_loss(flat, pos.detach())
    separate = F.triplet_margin_loss(flat, pos.detach(), neg.detach(), margin=1.0)
    # read
    _, over_items = scores(q)
    read = torch.cat([flat, over_items.detach() @ items], dim=1).reshape(b, h, w, 2 * c)
    # update
    over_queries, over_items = scores(q)
    nearest = torch.topk(over_items, 1, dim=1).indices
    delta = torch.zeros_like(items)
    for m in range(items.shape[0]):
        idx = torch.nonzero(nearest.squeeze(1) == m)
        if idx.shape[0] != 0:
            weight = over_queries[idx, m] / torch.max(over_queries[:, m])
            delta[m] = torch.sum(weight * flat[idx].squeeze(1), dim=0)
    new_items = F.normalize(delta + items, dim=1).detach()
    return read.permute(0, 3, 1, 2), compact, separate, new_items


def timed(fn, repeats: int, device: torch.device) -> list[float]:
    out = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--items", type=int, default=10, help="M (10 in the paper)")
    parser.add_argument("--size", type=int, default=32, help="query map side (32 for 256x256)")
    parser.add_argument(
        "--layout",
        choices=("nchw", "channels_last"),
        default="channels_last",
        help="memory format of the query map (training uses channels_last)",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    mem = Memory(num_items=args.items, feat_dim=512).to(device).train()
    x = torch.randn(args.batch, 512, args.size, args.size, device=device)
    if args.layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    start_items = mem.items.clone()

    # agreement on one step
    ref = baseline_step(x, start_items)
    out = mem(x)
    torch.testing.assert_close(out.features, ref[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.compactness, ref[1], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out.separateness, ref[2], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(mem.items, ref[3], atol=1e-5, rtol=1e-5)

    def ours():
        mem.items.copy_(start_items)
        mem(x)

    def loops():
        baseline_step(x, start_items)

    with torch.no_grad():
        for fn in (ours, loops):  # warm-up
            timed(fn, 3, device)
        t_loop, t_ours = [], []
        for _ in range(args.repeats):  # interleaved, so drift hits both alike
            t_loop += timed(loops, 1, device)
            t_ours += timed(ours, 1, device)
    ml, mo = statistics.median(t_loop) * 1e3, statistics.median(t_ours) * 1e3
    print(
        f"memory step, batch {args.batch}, {args.size}x{args.size} queries, C=512, M={args.items}, "
        f"{args.layout}, {device.type}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"  loop baseline (authors' style): {ml:8.2f} ms (median of {args.repeats})")
    print(f"  mnad_lite (vectorised)        : {mo:8.2f} ms")
    print(f"  speed-up: {ml / mo:.1f}x  (outputs agree to float32 precision)")


if __name__ == "__main__":
    main()
