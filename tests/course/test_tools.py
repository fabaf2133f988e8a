"""Tests for mnad_lite.course.tools."""

from __future__ import annotations

import torch

from mnad_lite.course.tools import trace_shapes
from mnad_lite.model import MNAD


def test_trace_shapes_shows_the_papers_data_flow_and_restores_the_model():
    """The decoder's first block reads concat(q, p̂) [B, 2C, h, w] in the trace, although
    the model's default path never builds it (MNAD.fused_read); the model comes back in
    its mode, with its fused read and its items."""
    torch.manual_seed(0)
    model = MNAD(in_channels=1, width=4).train()
    items = model.memory.items.clone()
    rows = {name: (inp, out) for name, inp, out in trace_shapes(model, torch.rand(2, 4, 32, 48))}
    c = 8 * 4
    assert rows["encoder.stages.3"][1] == (2, c, 4, 6)
    assert rows["memory"] == ((2, c, 4, 6), (2, 2 * c, 4, 6))
    assert rows["decoder.inner"] == ((2, 2 * c, 4, 6), (2, c, 4, 6))
    assert rows["decoder.head"][1] == (2, 1, 32, 48)
    assert model.training and model.fused_read
    assert torch.equal(model.memory.items, items)
