"""The fast paths, opt-in and kept out of the package: equal per step to float rounding,
different over a training run, so every stored result trained without them.

* :class:`FusedMemory`: the queries' L2 normalisation with a one-pass backward
  (:class:`_UnitQueries`);
* :class:`FusedDecoder` / :class:`FusedMNAD`: the decoder's first conv applied to q and
  the read weights (:func:`read_conv`) instead of to ``concat(q, p̂)``.

``FusedMNAD(...)`` builds the model with both on (``fused_read`` and the memory's
``fused_normalize`` switch them per instance; False is the package's reference path).
``benchmarks/speed.py`` and ``memory_bench.py`` time them; ``tests/benchmarks/test_fused.py``
holds them to the reference. Measured gains: ``docs/performance.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mnad_lite.errors import MNADError
from mnad_lite.memory import NORM_EPS, Memory, MemoryOutput
from mnad_lite.model import MNAD, Cut, Decoder, ModelOutput


class _UnitQueries(torch.autograd.Function):
    """L2 normalisation along channels with a short backward (used by :class:`FusedMemory`).

    ``forward(x [B, C, H, W], eps) -> q`` with ``q = x / max(||x||, eps)``, exactly as
    ``F.normalize(x, dim=1)``.

    ``backward``: ``dx = (dq - q <q, dq>) / max(||x||, eps)``, dropping ``q <q, dq>`` on
    clamped rows, where the divisor is the constant eps. Autograd's backward of
    ``F.normalize`` differentiates the division and the norm one op at a time (about ten
    passes over ``[B, C, H, W]``); this reads q and dq twice.
    """

    @staticmethod
    def forward(ctx, x: Tensor, eps: float) -> Tensor:  # type: ignore[override]
        norm = torch.linalg.vector_norm(x, dim=1, keepdim=True)  # ||x||   [B, 1, H, W]
        divisor = norm.clamp_min(eps)
        q = x / divisor
        ctx.save_for_backward(q, divisor, norm >= eps)  # clamp_min passes grads where >=
        return q

    @staticmethod
    def backward(ctx, dq: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        q, divisor, unclamped = ctx.saved_tensors
        radial = (q * dq).sum(1, keepdim=True) * unclamped  # <q, dq>   [B, 1, H, W]
        return torch.addcmul(dq, q, radial, value=-1).div_(divisor), None


class FusedMemory(Memory):
    """:class:`mnad_lite.memory.Memory` normalising with :class:`_UnitQueries` when
    ``fused_normalize`` (the reference ``F.normalize`` otherwise)."""

    fused_normalize: bool = True

    def normalize_queries(self, x: Tensor) -> Tensor:
        if not self.fused_normalize:
            return super().normalize_queries(x)
        return _UnitQueries.apply(x, NORM_EPS)


def read_conv(conv: nn.Conv2d, mem: MemoryOutput) -> Tensor:
    """The decoder's first conv ``conv`` on ``concat(q, p̂)``, without p̂ (Eq. 2).

    The read p̂ = sum_m w^m p_m is linear in the read weights w, so the conv of its
    half of the kernel, K_p ``[O, C, 3, 3]``, equals a conv of the weight map w
    ``[B, M, H, W]`` with ``K_w[o, m] = sum_c K_p[o, c] p_m[c]`` ``[O, M, 3, 3]``: M
    input channels instead of C, and no ``[B, 2C, H, W]`` concatenation. Zero padding
    of p̂ is zero padding of w (p̂ = 0 where w = 0), so borders are exact too. w and p
    are detached, as in the read; gradients reach K_p through K_w. Equal to
    ``inner[0](mem.features)`` up to float rounding.
    """
    b, c, h, w = mem.queries.shape
    if conv.in_channels != 2 * c:
        raise MNADError(
            f"read_conv: the first conv reads {conv.in_channels} channels, not 2C = {2 * c}"
        )
    weight = conv.weight  # [O, 2C, 3, 3]: K_q, then K_p
    device = weight.device.type if weight.device.type in ("cuda", "mps", "xpu") else "cpu"
    with torch.autocast(device, enabled=False):  # K_w in the parameters' dtype
        items = mem.items.to(weight.dtype)
        k_w = torch.einsum("ocyx,mc->omyx", weight[:, c:], items)  # [O, M, 3, 3]
    kernel = torch.cat([weight[:, :c], k_w], dim=1)  # [O, C + M, 3, 3]
    w_map = mem.read_weights.reshape(b, h, w, -1).permute(0, 3, 1, 2)  # [B, M, H, W]
    x = torch.cat([mem.queries, w_map], dim=1).to(weight.dtype)  # [B, C + M, H, W]
    return F.conv2d(x, kernel, conv.bias, conv.stride, conv.padding)


class FusedDecoder(Decoder):
    """:class:`mnad_lite.model.Decoder` that also takes a memory output: its first conv then
    reads ``concat(q, p̂)`` through :func:`read_conv`, without building it."""

    def forward(self, z: Tensor | MemoryOutput, skips: list[Tensor] | None = None) -> Tensor:
        if isinstance(z, Tensor):
            return super().forward(z, skips)
        assert isinstance(self.inner[0], nn.Conv2d)
        return self.up_path(self.inner[1:](read_conv(self.inner[0], z)), skips)


class FusedMNAD(MNAD):
    """:class:`mnad_lite.model.MNAD` with both fast paths (``fused_read``, and its memory's
    ``fused_normalize``; False on either is the reference path)."""

    fused_read: bool = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.decoder.__class__ = FusedDecoder
        if self.memory is not None:
            self.memory.__class__ = FusedMemory

    def decode(self, z, skips, update_memory=None, cut: Cut | None = None) -> ModelOutput:
        if self.memory is None or not self.fused_read or cut is not None:
            return super().decode(z, skips, update_memory, cut)  # a probe: the reference
        mem = self.memory(z, update=update_memory)
        prediction = self.decoder(mem, skips if self.method == "pred" else None)
        return ModelOutput(prediction=prediction, queries=mem.queries, memory=mem)
