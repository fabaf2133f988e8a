"""Tests for mnad_lite.model: the U-Net around the memory (MNAD.md section 2)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mnad_lite.errors import MNADError
from mnad_lite.memory import update
from mnad_lite.model import MNAD, Decoder, Encoder, ModelOutput, count_parameters

W = 4  # CPU-sized width: same architecture, narrower


def conv_params(c_in, c_out):
    return 9 * c_in * c_out + c_out  # 3x3 kernel + bias (also for the transposed conv)


def bn_params(c):
    return 2 * c


def reference_count(method, in_channels, t_length, width, use_memory=True):
    """Parameter count of the layer list in MNAD.md section 2, scaled by ``width``."""
    w = width
    c_in = in_channels * max(t_length - 1, 1)
    total = 0
    # encoder: three conv blocks, then a block ending in a plain conv (no BN, no ReLU)
    for a, b in [(c_in, w), (w, 2 * w), (2 * w, 4 * w)]:
        total += conv_params(a, b) + bn_params(b) + conv_params(b, b) + bn_params(b)
    total += conv_params(4 * w, 8 * w) + bn_params(8 * w) + conv_params(8 * w, 8 * w)
    # decoder: conv block 2C (or C) -> 8w
    dec_in = 16 * w if use_memory else 8 * w
    total += conv_params(dec_in, 8 * w) + bn_params(8 * w) + conv_params(8 * w, 8 * w)
    total += bn_params(8 * w)
    if method == "pred":  # up halves the width; the skip concatenation doubles it again
        ups = [(8 * w, 4 * w), (4 * w, 2 * w), (2 * w, w)]
    else:  # no skips: up keeps the width
        ups = [(8 * w, 8 * w), (4 * w, 4 * w), (2 * w, 2 * w)]
    for a, b in ups:
        total += conv_params(a, b) + bn_params(b)
    for a, b in [(8 * w, 4 * w), (4 * w, 2 * w)]:
        total += conv_params(a, b) + bn_params(b) + conv_params(b, b) + bn_params(b)
    # head: 2w -> w -> w -> in_channels
    total += conv_params(2 * w, w) + bn_params(w) + conv_params(w, w) + bn_params(w)
    total += conv_params(w, in_channels)
    return total


def small(method="pred", in_channels=3, **kw):
    torch.manual_seed(0)
    return MNAD(method, in_channels=in_channels, width=W, **kw)


def frames(model, b=2, h=32, w=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, model.input_channels, h, w, generator=g) * 2 - 1


# --- the default initialisation --------------------------------------------------------


def test_the_default_initialisation_is_unchanged():
    """Every stored result (the notebooks' checked outputs, the studies' runs) was trained
    from this initialisation: a new option (position, read_temperature, read_gradient,
    deep_skip) must leave the default model's modules, their order and its random draws as
    they were. Layout: names and shapes; values: a position-weighted sum (torch 2.13.0)."""
    import hashlib

    torch.manual_seed(0)
    state = MNAD("pred", in_channels=1, width=W).state_dict()
    layout = ";".join(f"{k}:{tuple(v.shape)}" for k, v in state.items())
    assert hashlib.sha256(layout.encode()).hexdigest()[:16] == "de1e19bf4ffc7efc"
    values = list(state.values())
    weighted = sum((i + 1) * float(v.double().sum()) for i, v in enumerate(values))
    assert weighted == pytest.approx(32293.492717, abs=1e-5)


# --- parameter counts ------------------------------------------------------------------


def test_paper_parameter_counts():
    """Width 64, 3 channels: 15,650,819 (pred, MNAD.md) and 17,195,267 (recon, the
    authors' 17,196,291 minus their unused 512-channel BatchNorm)."""
    pred = MNAD("pred", in_channels=3, t_length=5, width=64)
    assert count_parameters(pred) == 15_650_819
    assert count_parameters(pred) == reference_count("pred", 3, 5, 64)
    del pred
    recon = MNAD("recon", in_channels=3, width=64)
    assert count_parameters(recon) == 17_195_267
    assert count_parameters(recon) == 17_196_291 - 2 * 512


@pytest.mark.parametrize(
    "method,in_channels,t_length,width,use_memory",
    [
        ("pred", 3, 5, 4, True),
        ("pred", 1, 5, 8, True),
        ("pred", 2, 3, 4, False),
        ("recon", 1, 1, 8, True),
        ("recon", 3, 1, 4, False),
    ],
)
def test_width_scales_every_stage(method, in_channels, t_length, width, use_memory):
    model = MNAD(method, in_channels, t_length, width=width, use_memory=use_memory)
    assert count_parameters(model) == reference_count(
        method, in_channels, t_length, width, use_memory
    )


def test_count_parameters_skips_frozen():
    model = small()
    n = count_parameters(model)
    model.encoder.stages[0][0].weight.requires_grad_(False)
    assert count_parameters(model) == n - model.encoder.stages[0][0].weight.numel()


# --- shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,in_channels,h,w",
    [
        ("pred", 3, 32, 32),
        ("pred", 1, 64, 48),
        ("pred", 3, 48, 64),
        ("recon", 3, 64, 48),
        ("recon", 1, 32, 32),
    ],
)
def test_output_shapes(method, in_channels, h, w):
    model = small(method, in_channels)
    expected_in = in_channels * (4 if method == "pred" else 1)
    assert model.input_channels == expected_in
    x = frames(model, b=2, h=h, w=w)
    out = model(x)
    assert isinstance(out, ModelOutput)
    assert out.prediction.shape == (2, in_channels, h, w)
    assert out.prediction.abs().max() <= 1  # tanh
    c = 8 * W
    assert out.queries.shape == (2, c, h // 8, w // 8)
    assert out.memory.features.shape == (2, 2 * c, h // 8, w // 8)
    assert out.memory.read_weights.shape == (2, (h // 8) * (w // 8), 10)
    assert out.memory.distance.shape == (2,)
    # queries are L2-normalised along channels
    norms = out.queries.norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))
    assert out.compactness.ndim == 0 and out.separateness.ndim == 0


def test_input_channels_follow_t_length():
    model = MNAD("pred", in_channels=2, t_length=3, width=W)
    assert model.input_channels == 4
    out = model(torch.zeros(1, 4, 16, 24))
    assert out.prediction.shape == (1, 2, 16, 24)


def test_encoder_stage_shapes_and_negative_queries():
    enc = Encoder(6, width=W)
    torch.manual_seed(0)
    q, skips = enc(torch.randn(2, 6, 64, 48))
    assert q.shape == (2, 8 * W, 8, 6)
    assert [tuple(s.shape) for s in skips] == [
        (2, W, 64, 48),
        (2, 2 * W, 32, 24),
        (2, 4 * W, 16, 12),
    ]
    assert (skips[0] >= 0).all()  # ends in ReLU
    assert (q < 0).any()  # last stage ends in a plain conv: queries may be negative


# --- input validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,shape,expected",
    [
        ("pred", (1, 3, 32, 32), "[B, 12, H, W]"),
        ("pred", (1, 12, 36, 32), "[B, 12, H, W]"),
        ("pred", (1, 12, 32, 30), "[B, 12, H, W]"),
        ("pred", (12, 32, 32), "[B, 12, H, W]"),
        ("recon", (1, 12, 32, 32), "[B, 3, H, W]"),
        ("recon", (2, 3, 20, 32), "[B, 3, H, W]"),
    ],
)
def test_bad_input_shape_raises_with_expected_shape(method, shape, expected):
    model = small(method)
    with pytest.raises(MNADError) as info:
        model(torch.zeros(shape))
    assert isinstance(info.value, ValueError)
    msg = str(info.value)
    assert expected in msg
    assert "divisible by 8" in msg
    assert str(tuple(shape)) in msg


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "segment"},
        {"method": "pred", "t_length": 1},
        {"method": "recon", "t_length": 5},
        {"method": "pred", "in_channels": 0},
        {"method": "pred", "width": 0},
    ],
)
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(MNADError):
        MNAD(**kwargs)


# --- no-memory baseline ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pred", "recon"])
def test_no_memory_baseline(method):
    model = small(method, use_memory=False)
    assert model.memory is None
    assert "memory.items" not in model.state_dict()
    assert model.decoder.inner[0].in_channels == 8 * W  # C, not 2C
    x = frames(model, h=32, w=48)
    out = model(x)
    assert out.memory is None
    assert out.prediction.shape == (2, 3, 32, 48)
    assert out.compactness.item() == 0 and out.separateness.item() == 0
    # the decoder reads the raw encoder output
    z, _ = model.encode(x)
    torch.testing.assert_close(out.queries, z)


def test_memory_decoder_takes_2c():
    model = small()
    assert model.decoder.inner[0].in_channels == 16 * W


# --- skips -------------------------------------------------------------------------------


def _perturb_skips(model, monkeypatch):
    original = model.encoder.forward

    def forward(x):
        q, skips = original(x)
        return q, [torch.randn_like(s) * 10 for s in skips]

    monkeypatch.setattr(model.encoder, "forward", forward)


def test_recon_has_no_skips(monkeypatch):
    """Reconstruction must not see the encoder's skips (else it can copy its input)."""
    model = small("recon").eval()
    assert model.decoder.concat == [False, False, False]
    # up blocks keep the width the concatenation would have given (MNAD.md section 2)
    assert [up[0].out_channels for up in model.decoder.ups] == [8 * W, 4 * W, 2 * W]
    x = frames(model)
    before = model(x).prediction
    _perturb_skips(model, monkeypatch)
    after = model(x).prediction
    torch.testing.assert_close(before, after, rtol=0, atol=0)


def test_pred_uses_skips(monkeypatch):
    """Control for the test above: prediction does depend on the skips."""
    model = small("pred").eval()
    assert model.decoder.concat == [True, True, True]
    x = frames(model)
    before = model(x).prediction
    _perturb_skips(model, monkeypatch)
    after = model(x).prediction
    assert not torch.allclose(before, after)


def test_no_deep_skip_ignores_only_the_deepest_skip(monkeypatch):
    """deep_skip=False (beyond the paper): the 1/4-resolution skip is not read, the two
    shallower ones are; the up-conv before it keeps 8w channels, so the block after it
    has the paper's shape and the model has 8w * 4w * 9 more up-conv weights than it
    would halving the width (and the same block)."""
    paper, model = small("pred"), small("pred", deep_skip=False)
    assert model.decoder.concat == [False, True, True]
    assert [up[0].out_channels for up in model.decoder.ups] == [8 * W, 2 * W, W]
    assert [b[0].in_channels for b in model.decoder.blocks] == [8 * W, 4 * W]
    extra = (8 * W) * (8 * W - 4 * W) * 9 + (8 * W - 4 * W) * 3  # weights, bias, BN w+b
    assert count_parameters(model) - count_parameters(paper) == extra
    model.eval()
    x = frames(model)
    base = model(x).prediction
    original = model.encoder.forward

    def perturb(level):
        def forward(inp):
            q, skips = original(inp)
            skips = list(skips)
            skips[level] = torch.randn_like(skips[level]) * 10
            return q, skips

        return forward

    monkeypatch.setattr(model.encoder, "forward", perturb(-1))  # the deepest skip
    torch.testing.assert_close(model(x).prediction, base, rtol=0, atol=0)
    monkeypatch.setattr(model.encoder, "forward", perturb(-2))  # the next one is read
    assert not torch.allclose(model(x).prediction, base)
    with pytest.raises(MNADError, match="deep_skip=False applies to prediction"):
        small("recon", deep_skip=False)


def test_decoder_without_skips_accepts_none():
    dec = Decoder(16 * W, 1, width=W, skips=False)
    assert dec(torch.randn(1, 16 * W, 4, 6)).shape == (1, 1, 32, 48)


# --- memory items: buffer, gradients, update -----------------------------------------------


def test_items_are_a_buffer_not_a_parameter():
    model = small()
    assert "memory.items" in model.state_dict()
    assert "memory.items" in dict(model.named_buffers())
    assert "memory.items" not in dict(model.named_parameters())
    assert all(p is not model.memory.items for p in model.parameters())
    assert model.memory.items.shape == (10, 8 * W)


def test_gradients_reach_encoder_not_items():
    """Backward of L_rec + memory losses: the encoder gets gradients, the items none."""
    model = small().train()
    x = frames(model)
    target = frames(model, seed=7)[:, :3]
    out = model(x)
    loss = F.mse_loss(out.prediction, target) + 0.1 * out.compactness + 0.1 * out.separateness
    loss.backward()
    items = model.memory.items
    assert not items.requires_grad and items.grad is None
    for name, p in model.encoder.named_parameters():
        assert p.grad is not None, name
    assert any(p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_memory_losses_alone_shape_the_encoder():
    model = small().train()
    out = model(frames(model))
    (out.compactness + out.separateness).backward()
    last = model.encoder.stages[-1][-1].weight  # the plain conv producing the queries
    assert last.grad is not None and last.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.decoder.parameters())
    assert model.memory.items.grad is None


def test_training_mode_updates_items_with_eq_4():
    model = small().train()
    before = model.memory.items.clone()
    out = model(frames(model))
    after = model.memory.items
    assert not torch.allclose(before, after)
    c = out.queries.shape[1]
    queries = out.queries.detach().permute(0, 2, 3, 1).reshape(-1, c)
    torch.testing.assert_close(after, update(queries, before), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(after.norm(dim=1), torch.ones(10))


def test_eval_mode_keeps_items_unless_asked():
    model = small().eval()
    x = frames(model)
    before = model.memory.items.clone()
    model(x)
    torch.testing.assert_close(model.memory.items, before, rtol=0, atol=0)
    model(x, update_memory=True)
    assert not torch.allclose(model.memory.items, before)


def test_training_mode_update_can_be_switched_off():
    model = small().train()
    before = model.memory.items.clone()
    model(frames(model), update_memory=False)
    torch.testing.assert_close(model.memory.items, before, rtol=0, atol=0)


def test_read_happens_before_update():
    """The forward pass reads the items it started with; the update applies afterwards."""
    x = frames(small())
    a = small().eval()
    b = small().train()
    b.load_state_dict(a.state_dict())
    out_eval = a(x, update_memory=False)
    b.eval()
    out_upd = b(x, update_memory=True)
    torch.testing.assert_close(out_eval.prediction, out_upd.prediction)
    torch.testing.assert_close(out_eval.memory.features, out_upd.memory.features)


# --- determinism -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pred", "recon"])
def test_same_seed_same_model(method):
    def build(seed):
        torch.manual_seed(seed)
        return MNAD(method, in_channels=3, width=W)

    m1, m2, m3 = build(3), build(3), build(4)
    x = frames(m1)
    sd1, sd2 = m1.state_dict(), m2.state_dict()
    assert sd1.keys() == sd2.keys()
    assert all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    o1, o2, o3 = m1(x), m2(x), m3(x)
    assert torch.equal(o1.prediction, o2.prediction)
    assert torch.equal(o1.compactness, o2.compactness)
    assert torch.equal(m1.memory.items, m2.memory.items)  # same update too
    assert not torch.allclose(o1.prediction, o3.prediction)  # the seed matters
