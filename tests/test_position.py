"""Position-aware queries (issue 14, beyond the paper): ``MNAD(position=...)``.

The default (``"none"``) must stay the paper's model exactly; ``"input"`` and ``"query"``
must really carry position, which a translation-equivariant encoder does not.
"""

from __future__ import annotations

import pytest
import torch

from mnad_lite.engine.checkpoint import load_checkpoint, save_checkpoint
from mnad_lite.engine.config import Config, preset
from mnad_lite.errors import ConfigError, MNADError
from mnad_lite.model import MNAD, POSITIONS, coordinate_channels, count_parameters

W = 4  # CPU-sized width


def build(method="pred", seed=0, **kw) -> MNAD:
    torch.manual_seed(seed)
    return MNAD(method, in_channels=1, width=W, **kw)


def frames(model: MNAD, b=2, h=32, w=48, seed=1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, model.input_channels, h, w, generator=g) * 2 - 1


# --- the default is the paper's model, unchanged --------------------------------------------

#: Outputs of the model before the option existed (commit c2f878c), seed 0, width 4, gray,
#: input ``frames(model)``: (method, use_memory) -> (sum of Î, Î[0, 0, 5, 7], D of frame 0).
BEFORE = {
    ("pred", True): (-333.785152902361, 0.2757742404937744, 0.047839630395174026),
    ("pred", False): (-77.56490343590849, 0.2871829569339752, None),
    ("recon", True): (49.80936030740122, 0.032236162573099136, 0.04968529939651489),
    ("recon", False): (346.80812717477147, 0.5652823448181152, None),
}


@pytest.mark.parametrize(("method", "use_memory"), list(BEFORE))
def test_default_outputs_are_those_before_the_option(method, use_memory):
    model = build(method, use_memory=use_memory)
    assert model.position == "none"
    with torch.no_grad():
        out = model(frames(model))
    total, pixel, distance = BEFORE[(method, use_memory)]
    assert out.prediction.double().sum().item() == pytest.approx(total, abs=1e-3)
    assert out.prediction[0, 0, 5, 7].item() == pytest.approx(pixel, abs=1e-5)
    if distance is not None:
        assert out.memory.distance[0].item() == pytest.approx(distance, abs=1e-6)


def test_default_parameter_counts_and_state_dict_unchanged():
    """The paper's counts (tests/test_model.py), and "none" is the default, not a variant."""
    assert count_parameters(MNAD("pred", position="none")) == 15_650_819
    assert count_parameters(MNAD("recon", position="none")) == 17_195_267
    a, b = build(), build(position="none")
    assert list(a.state_dict()) == list(b.state_dict())
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


@pytest.mark.parametrize("method", ["pred", "recon"])
@pytest.mark.parametrize("use_memory", [True, False])
def test_parameter_cost_of_each_option(method, use_memory):
    """ "input": 2 more input channels in the first 3x3 conv (2 * 9 * w weights).
    "query": 2 more channels per concatenated map at the decoder's first 3x3 conv
    (2C + 4 instead of 2C with memory, C + 2 instead of C without), out width 8w."""
    base = count_parameters(build(method, use_memory=use_memory))
    assert count_parameters(build(method, use_memory=use_memory, position="input")) == (
        base + 2 * 9 * W
    )
    extra = 4 if use_memory else 2
    assert count_parameters(build(method, use_memory=use_memory, position="query")) == (
        base + extra * 9 * 8 * W
    )


# --- shapes -------------------------------------------------------------------------------


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("method", ["pred", "recon"])
@pytest.mark.parametrize("use_memory", [True, False])
def test_shapes_of_every_option(position, method, use_memory):
    model = build(method, use_memory=use_memory, position=position)
    x = frames(model, b=3, h=32, w=48)
    c = 8 * W + (2 if position == "query" else 0)
    assert model.feat_dim == c
    z, skips = model.encode(x)
    assert z.shape == (3, c, 4, 6)
    out = model.decode(z, skips)
    assert out.prediction.shape == (3, 1, 32, 48)
    assert out.queries.shape == (3, c, 4, 6)
    if use_memory:
        assert model.memory.items.shape == (10, c)
        assert out.memory.features.shape == (3, 2 * c, 4, 6)
        assert out.memory.read_weights.shape == (3, 24, 10)
        assert out.memory.distance.shape == (3,)
    assert model(x).prediction.shape == (3, 1, 32, 48)  # forward = encode + decode


def test_bad_position_is_refused():
    with pytest.raises(MNADError, match="position must be one of"):
        MNAD(position="both")


def test_coordinate_channels():
    grid = coordinate_channels(torch.zeros(2, 5, 4, 6))
    assert grid.shape == (2, 2, 4, 6)
    xs, ys = grid[0, 0], grid[0, 1]
    assert torch.equal(grid[0], grid[1])
    assert torch.allclose(xs[0], torch.tensor([-5, -3, -1, 1, 3, 5]) / 6)  # pixel centres
    assert torch.allclose(ys[:, 0], torch.tensor([-3.0, -1, 1, 3]) / 4)
    assert (xs == xs[:1]).all() and (ys == ys[:, :1]).all()  # x varies along W, y along H
    assert grid.abs().max() < 1


def test_query_option_queries_are_appearance_then_position():
    """With "query" each (unnormalised) query is concat(unit appearance, x, y); the memory
    sees it L2-normalised, so the share of position is fixed, not learned."""
    model = build(position="query").eval()
    z, _ = model.encode(frames(model))
    appearance, xy = z[:, :-2], z[:, -2:]
    torch.testing.assert_close(appearance.norm(dim=1), torch.ones(2, 4, 6))
    torch.testing.assert_close(xy, coordinate_channels(appearance))
    with torch.no_grad():
        out = model(frames(model))
    torch.testing.assert_close(out.queries, torch.nn.functional.normalize(z, dim=1))


# --- determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize("position", ["input", "query"])
def test_same_seed_same_model(position):
    m1, m2, m3 = (build(position=position, seed=s) for s in (3, 3, 4))
    x = frames(m1)
    o1, o2, o3 = m1(x), m2(x), m3(x)
    assert torch.equal(o1.prediction, o2.prediction)
    assert torch.equal(o1.memory.distance, o2.memory.distance)
    assert torch.equal(m1.memory.items, m2.memory.items)
    assert not torch.allclose(o1.prediction, o3.prediction)


# --- position is really carried -------------------------------------------------------------


def patch_at(row: int, col: int, size=(96, 96), side=16) -> torch.Tensor:
    """A flat grey frame with one fixed random-textured patch at (row, col), ``[1, 4, H, W]``
    (the same 4 input frames, prediction's input)."""
    g = torch.Generator().manual_seed(7)
    texture = torch.rand(side, side, generator=g) * 2 - 1
    x = torch.full((1, 4, *size), -0.2)
    x[:, :, row : row + side, col : col + side] = texture
    return x


def queries_at_patch(position: str, train: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The queries around the patch for the patch at (40, 32) and shifted by 16 pixels
    right (2 query cells), both far from the borders: ``[C, 3, 3]`` each. Both frames go
    in one batch (in training mode BatchNorm then uses the same statistics for both)."""
    model = build(position=position).train(train)
    with torch.no_grad():
        z, _ = model.encode(torch.cat([patch_at(40, 32), patch_at(40, 48)]))
    return z[0, :, 4:7, 3:6], z[1, :, 4:7, 5:8]


def test_without_the_option_a_shifted_patch_gives_the_same_queries():
    """Translation equivariance (shift by a multiple of 8): the paper's queries do not
    know where a patch is."""
    a, b = queries_at_patch("none")
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert a.norm(dim=0).min() > 0.1  # the queries are not all zero


def test_query_option_a_shifted_patch_gives_the_same_appearance_elsewhere():
    a, b = queries_at_patch("query")
    torch.testing.assert_close(a[:-2], b[:-2], atol=1e-5, rtol=1e-5)  # same appearance
    torch.testing.assert_close(a[-2], b[-2] - 2 * (2 / 12))  # x: 2 of 12 cells to the left
    torch.testing.assert_close(a[-1], b[-1])  # same row
    assert (a - b).norm(dim=0).min() > 0.3


def test_input_option_a_shifted_patch_gives_other_queries():
    """Coordinates at the input reach every query (already untrained). Training mode:
    BatchNorm scales the small differences of an untrained net up to a visible size."""
    a, b = queries_at_patch("input", train=True)
    assert ((a - b).norm(dim=0) / a.norm(dim=0)).min() > 0.1  # every query moved
    a0, b0 = queries_at_patch("none", train=True)
    assert ((a0 - b0).norm(dim=0) / a0.norm(dim=0)).max() < 0.01  # without: (almost) not


# --- configuration and checkpoints ----------------------------------------------------------


def test_config_field_is_checked_and_reaches_model_args():
    assert Config().position == "none"
    assert Config().model_args()["position"] == "none"
    cfg = preset("quick", position="query")
    assert cfg.model_args()["position"] == "query"
    assert MNAD(**cfg.model_args()).position == "query"
    with pytest.raises(ConfigError, match="position: must be one of"):
        preset("quick", position="everywhere")
    old = Config().to_dict()
    del old["position"]  # a configuration saved before the option
    assert Config.from_dict(old).position == "none"


@pytest.mark.parametrize("position", POSITIONS)
def test_checkpoint_round_trip(position, tmp_path):
    cfg = preset("quick", position=position)
    torch.manual_seed(0)
    model = MNAD(**cfg.model_args()).train()
    x = frames(model, h=32, w=48)
    model(x)  # one memory update, so the items are not their initial values
    save_checkpoint(tmp_path / "model.pt", model, {"model": cfg.model_args()})
    loaded, _ = load_checkpoint(tmp_path / "model.pt")
    assert loaded.position == position
    model.eval(), loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).prediction, model(x).prediction, atol=0, rtol=0)
    torch.testing.assert_close(loaded.memory.items, model.memory.items, atol=0, rtol=0)


def test_old_checkpoint_without_the_field_loads_as_the_paper_model(tmp_path):
    cfg = preset("quick")
    args = cfg.model_args()
    del args["position"]  # model arguments saved before the option
    torch.manual_seed(0)
    model = MNAD(**args)
    save_checkpoint(tmp_path / "old.pt", model, {"model": args})
    loaded, payload = load_checkpoint(tmp_path / "old.pt")
    assert "position" not in payload["config"]["model"]
    assert loaded.position == "none"
    assert count_parameters(loaded) == count_parameters(model)
