"""One training step of the memory alone, forward + backward: mnad_lite against the authors.

The step, on a raw query map x ``[B, C, H, W]`` (the encoder output): L2-normalise the
queries, read (Eqs. 1-2), compactness and separateness losses (Eqs. 10-13), update the
items (Eqs. 3-5), then backward through the queries with a fixed upstream gradient for
the decoder input (standing in for the decoder) plus 0.1 x each memory loss (Eq. 8).
Default shape: the paper's (batch 4, 32x32 queries, C = 512, M = 10).

Implementations, timed interleaved in this one process on the same inputs:

* ``authors``: their algorithm, re-implemented in ``benchmarks/authors_algorithm.py``
  (similarity recomputed per use, Python loop with ``nonzero`` for the update, torch's
  MSE and triplet losses on gathered ``[N, C]`` items), NCHW input as in their network;
* ``reference``: mnad_lite's vectorised memory with ``F.normalize`` and autograd
  (``Memory.fused_normalize = False``), channels-last input as in training;
* ``mnad_lite``: the default path (normalisation with a fused backward, ``||q||^2``
  known), building the same ``concat(q, p̂)`` decoder input as the authors;
* ``mnad_lite, w only``: the default path without building ``concat(q, p̂)``: what
  :class:`mnad_lite.model.MNAD` runs, whose decoder applies its first conv to q and the
  read weights (``Decoder.read_conv``). Its output is not the authors', so it is checked
  on the losses, gradients and items only; the conv's own saving is in ``speed.py``.

Before timing, the script asserts that every implementation gives the authors' decoder
input, loss values, gradient with respect to x and updated items to float32 tolerance.

    python benchmarks/memory_bench.py [--threads 1] [--repeats 20] [--device cpu]

Read ``x N wall, x N cpu vs authors``: N times faster than the authors' algorithm, by the
median wall clock and by the median process CPU time (see ``timing.py``).
"""

from __future__ import annotations

import argparse

import torch
from authors_algorithm import authors_memory
from timing import header, interleaved, report, set_threads

from mnad_lite.memory import Memory

LAMBDA = 0.1  # λ_c = λ_s for prediction (MNAD.md section 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=32, help="query map side (32 for 256x256)")
    parser.add_argument("--dim", type=int, default=512, help="C (512 in the paper)")
    parser.add_argument("--items", type=int, default=10, help="M (10 in the paper)")
    args = parser.parse_args()
    device = torch.device(args.device)
    threads = set_threads(args.threads)
    torch.manual_seed(0)
    b, c, s = args.batch, args.dim, args.size
    x = torch.randn(b, c, s, s, device=device)  # the encoder's raw output
    x_cl = x.contiguous(memory_format=torch.channels_last)
    upstream = torch.randn(b, 2 * c, s, s, device=device)  # d loss / d concat(q, p̂)
    upstream = upstream.contiguous(memory_format=torch.channels_last)
    mem = Memory(num_items=args.items, feat_dim=c).to(device).train()
    start = mem.items.clone()

    def authors():
        xg = x.detach().requires_grad_()
        out = authors_memory(xg, start)
        losses = LAMBDA * out.compactness + LAMBDA * out.separateness
        torch.autograd.backward([out.features, losses], [upstream, None])
        return out.features, out.compactness, out.separateness, xg.grad, out.items

    def ours(fused: bool, features: bool):
        mem.fused_normalize = fused
        mem.items.copy_(start)
        xg = x_cl.detach().requires_grad_()
        out = mem(xg)
        losses = LAMBDA * out.compactness + LAMBDA * out.separateness
        if features:
            torch.autograd.backward([out.features, losses], [upstream, None])
        else:  # the decoder's gradient reaches q only (read weights are detached)
            torch.autograd.backward([out.queries, losses], [upstream[:, :c], None])
        feats = out.features.detach() if features else None
        return feats, out.compactness, out.separateness, xg.grad, mem.items.clone()

    fns = {
        "authors": authors,
        "reference": lambda: ours(False, True),
        "mnad_lite": lambda: ours(True, True),
        "mnad_lite, w only": lambda: ours(True, False),
    }
    # agreement with the authors' algorithm, on the same step
    expected = authors()
    for name, fn in fns.items():
        got = fn()
        for what, want, have in zip(
            ("decoder input", "compactness", "separateness", "grad x", "items"),
            expected,
            got,
            strict=True,
        ):
            if have is not None:
                torch.testing.assert_close(
                    have, want, msg=lambda m, n=name, w=what: f"{n} {w}: {m}"
                )
    header(
        f"memory step fwd+bwd, batch {b}, {s}x{s} queries, C={c}, M={args.items}",
        threads,
        device,
    )
    print("  outputs agree with the authors' algorithm (decoder input, losses, grad x, items)")
    timings = interleaved(fns, args.repeats, warmup=2, device=device)
    report(timings, "authors")


if __name__ == "__main__":
    main()
