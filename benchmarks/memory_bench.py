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
  (``FusedMemory.fused_normalize = False``, the default), channels-last input as in training;
* ``mnad_lite``: the opt-in fast path (normalisation with a fused backward), building
  the same ``concat(q, p̂)`` decoder input as the authors;
* ``mnad_lite, w only``: the fast path without building ``concat(q, p̂)``: what
  :class:`mnad_lite.model.MNAD` runs with ``fused_read``, whose decoder applies its
  first conv to q and the read weights (``benchmarks/fused.py: read_conv``). Its output is not the
  authors', so it is checked on the losses, gradients and items only; the conv's own
  saving is in ``speed.py``;
* ``authors-code`` (with ``--authors-code DIR``, a clone of the authors' repository):
  their own memory module, imported from ``DIR`` (``benchmarks/authors_code.py``). The
  ratios are then given against it.

Before timing, the script asserts that every implementation gives the authors' decoder
input, loss values, gradient with respect to x and updated items to float32 tolerance.

    python benchmarks/memory_bench.py [--threads 1] [--repeats 20] [--device cpu]
                                      [--authors-code DIR] [--quick]

``--quick`` runs tiny shapes twice (batch 1, 4x4 queries, C = 16, M = 4): a check that
the script runs and agrees, not a measurement (``tests/benchmarks`` runs it).

Read ``x N wall, x N cpu vs authors``: N times faster than the authors' algorithm, by the
median wall clock and by the median process CPU time (see ``timing.py``).
"""

from __future__ import annotations

import argparse

import torch
from authors_algorithm import authors_memory
from fused import FusedMemory
from timing import header, interleaved, report, set_threads, versus

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
    parser.add_argument("--authors-code", metavar="DIR", help="a clone of the authors' repo")
    parser.add_argument("--quick", action="store_true", help="tiny shapes: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.size, args.dim, args.items, args.repeats = 1, 4, 16, 4, 2
    device = torch.device(args.device)
    threads = set_threads(args.threads)
    torch.manual_seed(0)
    b, c, s = args.batch, args.dim, args.size
    x = torch.randn(b, c, s, s, device=device)  # the encoder's raw output
    x_cl = x.contiguous(memory_format=torch.channels_last)
    upstream = torch.randn(b, 2 * c, s, s, device=device)  # d loss / d concat(q, p̂)
    upstream = upstream.contiguous(memory_format=torch.channels_last)
    mem = FusedMemory(num_items=args.items, feat_dim=c).to(device).train()
    start = mem.items.clone()

    def authors_step(memory_fn):
        """A memory step the authors' way: their memory function, their loss weights."""

        def step():
            xg = x.detach().requires_grad_()
            out = memory_fn(xg, start)
            losses = LAMBDA * out.compactness + LAMBDA * out.separateness
            torch.autograd.backward([out.features, losses], [upstream, None])
            return out.features, out.compactness, out.separateness, xg.grad, out.items

        return step

    authors = authors_step(authors_memory)

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
    if args.authors_code:
        from authors_code import AuthorsCodeMemory

        their_memory = AuthorsCodeMemory(args.authors_code, args.items, c)

        fns = {"authors-code": authors_step(their_memory), **fns}
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
        f"memory step fwd+bwd, batch {b}, {s}x{s} queries, C={c}, M={args.items}"
        + (" [--quick: a smoke test, not a measurement]" if args.quick else ""),
        threads,
        device,
    )
    print("  outputs agree with the authors' algorithm (decoder input, losses, grad x, items)")
    timings = interleaved(fns, args.repeats, warmup=1 if args.quick else 2, device=device)
    report(timings, next(iter(fns)))
    versus(timings, "mnad_lite", "reference")  # the fused normalisation alone


if __name__ == "__main__":
    main()
