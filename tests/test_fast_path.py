"""The fast paths against the reference paths they replace.

* ``Memory.fused_normalize``: the queries' L2 normalisation with a one-pass backward
  (``memory._UnitQueries``) against ``F.normalize`` with autograd;
* ``MNAD.fused_read``: the decoder's first conv applied to q and the read weights
  (``Decoder.read_conv``) against the same conv on ``concat(q, p̂)``
  (the benchmarks' baseline is pinned in tests/benchmarks, the OpenMP wait policy in
  tests/test_init.py).

In float64 a fast path must equal its reference to rounding (1e-10); in float32 to
float32 tolerance.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from mnad_lite.memory import NORM_EPS, Memory, MemoryOutput, _UnitQueries, init_items
from mnad_lite.model import MNAD, Decoder

W = 4


def queries_map(b=2, c=6, h=3, w=5, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, h, w, generator=g, dtype=dtype)


# --- fused normalisation ------------------------------------------------------------------


def test_unit_queries_forward_is_f_normalize_bit_for_bit():
    x = queries_map()
    x[0, :, 1, 2] = 0  # an all-zero query: the clamp divides by eps
    q, q_sq = _UnitQueries.apply(x, NORM_EPS)
    assert torch.equal(q, F.normalize(x, dim=1))
    expected = torch.ones(2, 1, 3, 5)
    expected[0, 0, 1, 2] = 0
    torch.testing.assert_close(q_sq, expected)


def test_unit_queries_backward_passes_gradcheck():
    x = queries_map(dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: _UnitQueries.apply(t, NORM_EPS)[0], (x,))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_unit_queries_backward_equals_autograd_of_f_normalize(layout):
    x = queries_map(seed=1, dtype=torch.float64).contiguous(memory_format=layout)
    x[1, :, 0, 0] = 0  # zero row: both give dq / eps
    x[1, :, 2, 4] *= 1e-14  # tiny row, below eps: the clamp is active
    upstream = queries_map(seed=2, dtype=torch.float64)
    grads = []
    for fn in (lambda t: _UnitQueries.apply(t, NORM_EPS)[0], lambda t: F.normalize(t, dim=1)):
        xg = x.clone().requires_grad_()
        fn(xg).backward(upstream)
        grads.append(xg.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-10 / NORM_EPS * 1e-12)


def memory_step(mem: Memory, x: torch.Tensor, upstream: torch.Tensor, fused: bool):
    mem.fused_normalize = fused
    start = mem.items.clone()
    xg = x.clone().requires_grad_()
    out = mem(xg)
    loss = (out.features * upstream).sum() + 0.1 * out.compactness + 0.1 * out.separateness
    loss.backward()
    items = mem.items.clone()
    mem.items.copy_(start)
    return out, xg.grad, items


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_fused_memory_equals_reference(layout):
    torch.manual_seed(0)
    mem = Memory(num_items=5, feat_dim=8).train()
    x = queries_map(b=3, c=8, h=4, w=6, seed=3).contiguous(memory_format=layout)
    x[2, :, 3, 5] = 0  # a zero query: ||q||^2 = 0, not 1
    upstream = queries_map(b=3, c=16, h=4, w=6, seed=4)
    fast, fast_grad, fast_items = memory_step(mem, x, upstream, fused=True)
    ref, ref_grad, ref_items = memory_step(mem, x, upstream, fused=False)
    torch.testing.assert_close(fast.features, ref.features, rtol=0, atol=0)
    torch.testing.assert_close(fast.compactness, ref.compactness, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(fast.separateness, ref.separateness, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(fast.distance, ref.distance, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(fast_grad, ref_grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast_items, ref_items, rtol=0, atol=0)


# --- fused read ---------------------------------------------------------------------------


def memory_output(b=2, c=8, h=3, w=5, m=4, seed=0, dtype=torch.float64) -> MemoryOutput:
    g = torch.Generator().manual_seed(seed)
    q = F.normalize(torch.randn(b, c, h, w, generator=g, dtype=dtype), dim=1)
    rw = torch.softmax(3 * torch.randn(b, h * w, m, generator=g, dtype=dtype), dim=-1)
    items = init_items(m, c, g).to(dtype)
    zero = torch.zeros((), dtype=dtype)
    return MemoryOutput(q.requires_grad_(), rw, items, zero, zero, zero.expand(b))


@pytest.mark.parametrize("hw", [(3, 5), (1, 1), (4, 4)])
def test_read_conv_equals_conv_on_concat_in_float64(hw):
    """Exact (to float64 rounding) at every position, borders included."""
    torch.manual_seed(0)
    dec = Decoder(16, 1, width=1).double()
    mem = memory_output(h=hw[0], w=hw[1])
    upstream = torch.randn(2, 8, *hw, dtype=torch.float64)
    results = []
    for fn in (dec.read_conv, lambda m: dec.inner[0](m.features)):
        dec.zero_grad()
        mem.queries.grad = None
        mem.__dict__.pop("features", None)  # the cached concat, rebuilt for each path
        out = fn(mem)
        out.backward(upstream)
        conv = dec.inner[0]
        results.append((out, mem.queries.grad, conv.weight.grad, conv.bias.grad))
    for fast, ref in zip(*results, strict=True):
        torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)


def test_read_conv_is_not_the_identity_of_the_read():
    """Control: the read half of the kernel matters (w and items are used, not ignored)."""
    torch.manual_seed(0)
    dec = Decoder(16, 1, width=1).double()
    mem = memory_output()
    before = dec.read_conv(mem)
    mem.items = mem.items.flip(0)
    assert not torch.allclose(dec.read_conv(mem), before)


def grads_of_step(model: MNAD, x: torch.Tensor, y: torch.Tensor):
    start = model.memory.items.clone()
    out = model(x)
    loss = F.mse_loss(out.prediction, y) + 0.1 * out.compactness + 0.1 * out.separateness
    model.zero_grad()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    items = model.memory.items.clone()
    model.memory.items.copy_(start)
    return out, grads, items


def relative_l2(a: torch.Tensor, b: torch.Tensor, floor: float) -> float:
    return float((a - b).norm() / max(float(a.norm()), floor))


@pytest.mark.parametrize("method", ["pred", "recon"])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_fast_model_step_equals_reference(method, layout):
    torch.manual_seed(0)
    model = MNAD(method, in_channels=1, width=W).train().to(memory_format=layout)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, model.input_channels, 24, 32, generator=g) * 2 - 1
    x = x.contiguous(memory_format=layout)
    y = torch.rand(2, 1, 24, 32, generator=g) * 2 - 1
    ref_model = copy.deepcopy(model)
    ref_model.fused_read, ref_model.memory.fused_normalize = False, False
    fast, fast_grads, fast_items = grads_of_step(model, x, y)
    ref, ref_grads, ref_items = grads_of_step(ref_model, x, y)
    torch.testing.assert_close(fast.prediction, ref.prediction, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast.compactness, ref.compactness, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(fast.separateness, ref.separateness, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(fast_items, ref_items, rtol=0, atol=0)
    # relative L2 per tensor; a conv bias before batch norm has a zero gradient in exact
    # arithmetic, so its float noise is measured against the other gradients' scale
    floor = 1e-2 * max(float(v.norm()) for v in ref_grads.values())
    worst = max(relative_l2(ref_grads[k], fast_grads[k], floor) for k in ref_grads)
    assert worst < 1e-3, worst


def test_fast_model_never_builds_the_2c_concatenation():
    """The default path reads the memory through the conv: no [B, 2C, h, w] tensor."""
    torch.manual_seed(0)
    model = MNAD("pred", in_channels=1, width=W).train()
    x = torch.rand(2, model.input_channels, 16, 24)
    cats = []

    class Spy(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func is torch.cat:
                cats.append(tuple(out.shape))
            return out

    with Spy():
        model(x)
    assert (2, 16 * W, 2, 3) not in cats and (2, 8 * W + 10, 2, 3) in cats
    cats.clear()
    model.fused_read = False
    with Spy():
        model(x)
    assert (2, 16 * W, 2, 3) in cats  # control: the reference path does build it


def test_memory_output_features_are_built_once_and_match_the_read():
    torch.manual_seed(0)
    mem = Memory(num_items=4, feat_dim=6).eval()
    out = mem(queries_map(c=6))
    assert out.features is out.features  # cached
    read = out.read_weights @ out.items
    b, c, h, w = out.queries.shape
    torch.testing.assert_close(out.features[:, c:], read.reshape(b, h, w, c).permute(0, 3, 1, 2))
    torch.testing.assert_close(out.features[:, :c], out.queries)
