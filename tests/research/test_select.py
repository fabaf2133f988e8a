"""Choosing among runs by held-out error at one common resolution (no test labels)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mnad_lite.data import ClipDataset, open_dataset
from mnad_lite.engine.config import preset
from mnad_lite.engine.inference import load_run
from mnad_lite.engine.train import train
from mnad_lite.errors import ConfigError
from mnad_lite.research.select import choose, choose_in_study, held_out_error


@pytest.fixture(scope="module")
def runs(quick_data, tmp_path_factory):
    """Two quick runs holding out the last training video, at two input sizes."""
    root = tmp_path_factory.mktemp("select")
    out = {}
    for name, size in (("small", (16, 24)), ("large", (32, 48))):
        config = preset("quick", size=size, val_videos=1, epochs=1, max_steps=2, seed=1)
        train(config, quick_data, root / name, progress=False)
        out[name] = root / name
    config = preset("quick", epochs=1, max_steps=1)
    train(config, quick_data, root / "all", progress=False)
    return out, root / "all"


def reference_error(run, data, common):
    """e written out: predict each held-out clip one by one, block-average prediction and
    target to ``common`` (an integer factor here), gray, mean squared difference."""
    model, config = load_run(run)
    model.eval()
    video = list(open_dataset(data).train)[-1]
    clips = ClipDataset([video], config.t_length, config.size, config.channels)
    (h, w), (ch, cw) = config.size, common
    errors = []
    for i in range(len(clips)):
        clip = clips[i]
        x = clip[:-1].reshape(1, -1, h, w).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            pred = model(x, update_memory=False).prediction[0].float().mean(0).numpy()
        target = clip[-1].float().mean(0).numpy()

        def blocks(a):
            return a.reshape(ch, h // ch, cw, w // cw).mean(axis=(1, 3))

        errors.append(((blocks(pred) - blocks(target)) ** 2).mean())
    return float(np.mean(errors))


@pytest.mark.parametrize("name", ["small", "large"])
def test_held_out_error_matches_the_written_out_definition(runs, quick_data, name):
    common = (8, 12)
    got = held_out_error(runs[0][name], quick_data, size=common)
    assert got == pytest.approx(reference_error(runs[0][name], quick_data, common), rel=1e-5)


def test_choose_takes_the_lowest_error_and_reports_all(runs, quick_data):
    best, errors = choose(runs[0], quick_data, size=(8, 12))
    assert set(errors) == {"small", "large"}
    assert best == min(errors, key=errors.get)
    assert all(e > 0 for e in errors.values())


def test_a_run_without_held_out_videos_is_refused_in_one_line(runs, quick_data):
    with pytest.raises(ConfigError, match=r"config\.json: val_videos=0 holds out no"):
        held_out_error(runs[1], quick_data)
    with pytest.raises(ConfigError, match="no runs"):
        choose({}, quick_data)


def test_study_choose_compares_every_candidate_and_writes_choice(quick_data, tmp_path, capsys):
    from mnad_lite.cli import main
    from mnad_lite.research.grids import StudySpec, Variant
    from mnad_lite.research.study import run_study

    spec = StudySpec(
        "pick",
        "quick",
        [0],
        [
            Variant("w4", train={"width": 4}),
            Variant("w8", train={"width": 8}),
            Variant("w4-no-update", evaluate={"test_update": False}, weights_from="w4"),
        ],
        "w4",
        {"epochs": 1, "max_steps": 2, "val_videos": 1},
    )
    out = tmp_path / "pick"
    run_study(spec, quick_data, out, only=["w4"], log=lambda _: None)
    with pytest.raises(ConfigError, match=r"w8/seed0: not finished"):
        choose_in_study(out, quick_data)
    run_study(spec, quick_data, out, log=lambda _: None)
    assert main(["study", "--out", str(out), "--data", str(quick_data), "--choose"]) == 0
    choice = json.loads((out / "choice.json").read_text())
    assert set(choice["held_out_error"]) == {"w4", "w8"}  # the weight-sharing variant is no run
    for name, error in choice["held_out_error"].items():
        assert error == pytest.approx(held_out_error(out / name / "seed0", quick_data))
    assert choice["chosen"] == min(choice["held_out_error"], key=choice["held_out_error"].get)
    assert f"chosen: {choice['chosen']}" in capsys.readouterr().out
