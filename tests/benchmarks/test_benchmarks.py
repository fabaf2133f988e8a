"""The benchmarks (benchmarks/): their baselines compute what mnad_lite computes.

``benchmarks/authors_algorithm.py`` is the authors' algorithm the benchmarks time
mnad_lite against; it must compute what mnad_lite computes, or the ratios mean nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from mnad_lite.memory import Memory
from mnad_lite.model import MNAD

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from authors_algorithm import AuthorsMNAD, authors_memory  # noqa: E402

W = 4


def queries_map(b=2, c=6, h=3, w=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, h, w, generator=g)


@pytest.mark.parametrize("fused", [False, True])
def test_authors_algorithm_computes_what_mnad_lite_computes(fused):
    torch.manual_seed(0)
    mem = Memory(num_items=6, feat_dim=16).train()
    mem.fused_normalize = fused
    x = queries_map(b=2, c=16, h=5, w=7, seed=5)
    upstream = queries_map(b=2, c=32, h=5, w=7, seed=6)
    start = mem.items.clone()
    xg = x.clone().requires_grad_()
    ours = mem(xg)
    loss = (ours.features * upstream).sum() + 0.1 * ours.compactness + 0.1 * ours.separateness
    loss.backward()
    ours_grad = xg.grad
    xg = x.clone().requires_grad_()
    theirs = authors_memory(xg, start)
    loss = (theirs.features * upstream).sum() + 0.1 * theirs.compactness
    (loss + 0.1 * theirs.separateness).backward()
    torch.testing.assert_close(theirs.features, ours.features)
    torch.testing.assert_close(theirs.compactness, ours.compactness)
    torch.testing.assert_close(theirs.separateness, ours.separateness)
    torch.testing.assert_close(xg.grad, ours_grad)
    torch.testing.assert_close(theirs.items, mem.items)
    assert not torch.allclose(theirs.items, start)  # the update did move the items


@pytest.mark.parametrize("method", ["pred", "recon"])
def test_authors_network_has_our_weights_and_prediction(method):
    torch.manual_seed(0)
    model = MNAD(method, in_channels=1, width=W).eval()
    authors = AuthorsMNAD(model).eval()
    x = torch.rand(1, model.input_channels, 16, 24)
    with torch.no_grad():
        ours = model(x, update_memory=False).prediction
        theirs, _ = authors(x, model.memory.items, train=False)
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-6)


def test_authors_network_refuses_what_the_authors_code_lacks():
    for kw in ({"position": "query"}, {"use_memory": False}):
        with pytest.raises(ValueError):
            AuthorsMNAD(MNAD(in_channels=1, width=W, **kw))
