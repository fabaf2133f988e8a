"""Typed configuration: every field checked when built, loaded or overridden (issue 8)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mnad_lite.engine.config import Config, preset
from mnad_lite.errors import ConfigError


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"use_memory": "maybe"}, "use_memory"),
        ({"lr": "abc"}, "lr"),
        ({"lr": 0}, "lr"),
        ({"loss_form": "papr"}, "loss_form"),
        ({"weight_norm": "max"}, "weight_norm"),
        ({"psnr_form": "both"}, "psnr_form"),
        ({"channels": 2}, "channels"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"epochs": True}, "epochs"),
        ({"size": (100, 64)}, "size"),
        ({"size": "big"}, "size"),
        ({"lambda_score": 1.5}, "lambda_score"),
        ({"gamma": -1}, "gamma"),
        ({"device": "tpu"}, "device"),
        ({"num_threads": 0}, "num_threads"),
        ({"method": "recon", "t_length": 5}, "t_length"),
        ({"margin": float("nan")}, "margin"),
    ],
)
def test_bad_values_name_their_field(overrides, field):
    with pytest.raises(ConfigError, match=field) as err:
        preset("quick", **overrides)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "text,value",
    [("true", True), ("yes", True), ("1", True), ("no", False), ("FALSE", False), ("0", False)],
)
def test_booleans_read_words(text, value):
    assert preset("quick", use_memory=text).use_memory is value
    assert preset("quick", test_update=text).test_update is value


def test_text_from_the_command_line_becomes_typed_values():
    c = preset("quick", lr="5e-4", epochs="3", size="64x96", max_steps="none", gamma="0.02")
    assert (c.lr, c.epochs, c.size, c.max_steps, c.gamma) == (5e-4, 3, (64, 96), None, 0.02)
    assert isinstance(c.epochs, int) and isinstance(c.lr, float)


def test_method_defaults_fill_none_fields():
    assert preset("quick", method="recon").lambda_score == 0.7
    assert preset("quick").lambda_score == 0.6 and preset("quick").gamma == 0.01


def test_round_trip(tmp_path):
    c = preset("lite", seed=3, psnr_form="paper")
    c.save(tmp_path / "config.json")
    assert Config.load(tmp_path / "config.json") == c
    data = c.to_dict()
    data["lam"] = data.pop("lambda_score")  # no old names are read: one name per field
    with pytest.raises(ConfigError, match="unknown configuration fields: lam"):
        Config.from_dict(data)


def test_load_refuses_unknown_fields_and_unreadable_files(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**preset("quick").to_dict(), "colour": "blue"}))
    with pytest.raises(ConfigError, match="unknown configuration fields: colour"):
        Config.load(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        Config.load(path)


def test_every_field_is_checked():
    """A new field without a type the checker knows would fail here, not silently pass."""
    for f in dataclasses.fields(Config):
        default = getattr(Config(), f.name)
        assert Config(**{f.name: default}) == Config(), f.name


def test_split_videos_holds_out_the_last_training_videos():
    videos = ["01", "02", "03", "04"]
    assert preset("quick").split_videos(videos) == (videos, [])
    assert preset("quick", val_videos=1).split_videos(videos) == (["01", "02", "03"], ["04"])
    assert preset("quick", val_videos=3).split_videos(videos) == (["01"], ["02", "03", "04"])
    with pytest.raises(ConfigError, match="val_videos=4 leaves no training video"):
        preset("quick", val_videos=4).split_videos(videos)


def test_deep_skip_is_on_by_default_and_reaches_the_model():
    """deep_skip (beyond the paper): True is the paper's U-Net; False reaches the decoder
    through model_args (so checkpoints rebuild it) and is refused for reconstruction."""
    from mnad_lite.model import MNAD

    assert Config().deep_skip is True
    assert MNAD(**Config(width=2).model_args()).decoder.concat == [True, True, True]
    args = Config(width=2, deep_skip=False).model_args()
    assert args["deep_skip"] is False
    assert MNAD(**args).decoder.concat == [False, True, True]
    assert Config.from_dict({"deep_skip": "false"}).deep_skip is False
    with pytest.raises(ConfigError, match="deep_skip=false applies to prediction"):
        preset("quick", method="recon", deep_skip=False)


def test_the_fast_preset_is_the_variant_its_study_chose():
    """preset("fast") trains exactly like the fast-ped2 study's chosen variant (bar the
    study's thread count and the preset's name), so the study's numbers describe it."""
    from mnad_lite.research.grids import StudySpec

    root = Path(__file__).resolve().parents[2] / "docs" / "studies"
    spec = StudySpec.from_dict(json.loads((root / "fast-ped2.json").read_text()))
    summary = json.loads((root / "fast-ped2-summary.json").read_text())
    chosen = spec.variant(summary["choice"]["chosen"])
    studied = dataclasses.asdict(spec.config(chosen, seed=0))
    fast = dataclasses.asdict(preset("fast", seed=0))
    assert studied.pop("num_threads") == 1 and fast.pop("num_threads") is None
    assert (studied.pop("preset"), fast.pop("preset")) == ("lite", "fast")
    assert fast == studied
    assert fast["val_videos"] == 2 and tuple(fast["size"]) == (160, 240)
