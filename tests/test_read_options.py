"""Beyond the paper: the read (Eqs. 1-2) with a temperature τ and with a gradient through
the read weights. Both off by default: the paper's model, and the authors' detached read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mnad_lite.engine.config import Config
from mnad_lite.errors import ConfigError, MNADError
from mnad_lite.memory import Memory, read
from mnad_lite.model import MNAD


def reference_read(queries: torch.Tensor, items: torch.Tensor, tau: float) -> torch.Tensor:
    """Eqs. 1-2 written out, one query at a time: p̂^k = Σ_m softmax_m(p_m·q^k / τ) p_m."""
    out = []
    for q in queries:
        sims = torch.stack([torch.dot(p, q) / tau for p in items])
        w = torch.exp(sims) / torch.exp(sims).sum()
        out.append(sum(w[m] * items[m] for m in range(len(items))))
    return torch.stack(out)


@pytest.mark.parametrize("tau", [1.0, 0.5, 0.1])
def test_read_with_a_temperature_matches_the_equation(tau):
    g = torch.Generator().manual_seed(0)
    queries = F.normalize(torch.randn(7, 5, generator=g, dtype=torch.float64), dim=1)
    items = F.normalize(torch.randn(4, 5, generator=g, dtype=torch.float64), dim=1)
    got = read(queries, items, temperature=tau)
    torch.testing.assert_close(got, reference_read(queries, items, tau), rtol=1e-12, atol=1e-12)


def test_a_lower_temperature_sharpens_the_read():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 4, 4)
    sharpness = []
    for tau in (1.0, 0.3, 0.1):
        mem = Memory(6, 16, generator=torch.Generator().manual_seed(1), read_temperature=tau)
        sharpness.append(mem(x, update=False).read_weights.amax(-1).mean().item())
    assert sharpness[0] < sharpness[1] < sharpness[2]
    assert sharpness[0] <= torch.e / (torch.e + 5 / torch.e) + 1e-6  # τ = 1: the ceiling


def gradient_through_read(model: MNAD) -> float:
    """Largest |gradient| reaching the encoder's output z from the read half p̂ alone."""
    torch.manual_seed(0)
    z = torch.randn(2, model.feat_dim, 4, 4, requires_grad=True)
    mem = model.memory(z, update=False)
    c = mem.queries.shape[1]
    read_half = mem.features[:, c:]
    direction = torch.randn(read_half.shape, generator=torch.Generator().manual_seed(0))
    (grad,) = torch.autograd.grad((read_half * direction).sum(), z)
    return grad.abs().max().item()


def test_the_read_carries_a_gradient_only_when_asked():
    args = {"in_channels": 1, "width": 2, "num_items": 4}
    assert gradient_through_read(MNAD(**args)) == 0.0  # the authors' detached read
    assert gradient_through_read(MNAD(**args, read_gradient=True)) > 1e-6


def test_the_gradient_through_the_read_is_that_of_the_equation():
    """With read_gradient, d p̂ / d q is autograd of Eqs. 1-2 on the normalised queries."""
    torch.manual_seed(0)
    mem = Memory(
        3, 4, generator=torch.Generator().manual_seed(2), read_temperature=0.5, read_gradient=True
    ).double()
    x = torch.randn(1, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    out = mem(x, update=False)
    read_half = out.features[:, 4:].permute(0, 2, 3, 1).reshape(-1, 4)
    (got,) = torch.autograd.grad(read_half.sum(), x)
    x2 = x.detach().clone().requires_grad_(True)
    q = F.normalize(x2, dim=1).permute(0, 2, 3, 1).reshape(-1, 4)
    (want,) = torch.autograd.grad(reference_read(q, mem.items, 0.5).sum(), x2)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fused", [True, False])
def test_options_reach_the_decoder_on_both_read_paths(fused):
    """The fused first-conv read and the concat path give the same prediction and
    gradients with both options on (float64)."""
    torch.manual_seed(0)
    args = {
        "in_channels": 1,
        "width": 2,
        "num_items": 4,
        "read_temperature": 0.2,
        "read_gradient": True,
    }
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from fused import FusedMNAD  # the fused read lives beside the package

    ref = MNAD(**args).double().train()
    net = FusedMNAD(**args).double().train()
    net.load_state_dict(ref.state_dict())
    net.fused_read = fused
    x = torch.randn(2, 4, 16, 16, dtype=torch.float64)
    outs = [m(x, update_memory=False) for m in (ref, net)]
    torch.testing.assert_close(outs[0].prediction, outs[1].prediction)
    grads = []
    for m, o in zip((ref, net), outs, strict=True):
        m.zero_grad()
        o.prediction.square().mean().backward()
        grads.append({k: p.grad.clone() for k, p in m.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], rtol=1e-9, atol=1e-12)


def test_defaults_are_the_paper_and_bad_values_are_refused():
    assert Config().read_temperature == 1.0 and Config().read_gradient is False
    net = MNAD(**Config().model_args())
    assert net.memory.read_temperature == 1.0 and net.memory.read_gradient is False
    with pytest.raises(ConfigError, match="read_temperature"):
        Config(read_temperature=0)
    with pytest.raises(MNADError, match="read_temperature"):
        Memory(4, 8, read_temperature=-1.0)
    assert Config.from_dict({"read_gradient": "yes"}).read_gradient is True
