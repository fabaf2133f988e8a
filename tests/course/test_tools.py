"""mnad_lite.course.tools: the shape trace of notebook 04, and notebook 07's small tools (a
frame that shows an anomaly kind, a model's maps on it, how much a map stands out on a box)."""

from __future__ import annotations

import math
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from mnad_lite.course import box_contrast, course_config, frame_maps, kind_frame, scale_box
from mnad_lite.course.tools import trace_shapes
from mnad_lite.data import open_dataset
from mnad_lite.data.dataset import Event
from mnad_lite.errors import MNADError
from mnad_lite.model import MNAD


def test_trace_shapes_shows_the_papers_data_flow_and_restores_the_model():
    """The decoder's first block reads concat(q, p̂) [B, 2C, h, w] in the trace, although
    the model's fast path never builds it (MNAD.fused_read); the model comes back in
    its mode, with its fused read and its items."""
    torch.manual_seed(0)
    model = MNAD(in_channels=1, width=4).train()
    model.fused_read = True  # the fast path (opt-in): the trace still shows concat(q, p̂)
    items = model.memory.items.clone()
    rows = {name: (inp, out) for name, inp, out in trace_shapes(model, torch.rand(2, 4, 32, 48))}
    c = 8 * 4
    assert rows["encoder.stages.3"][1] == (2, c, 4, 6)
    assert rows["memory"] == ((2, c, 4, 6), (2, 2 * c, 4, 6))
    assert rows["decoder.inner"] == ((2, 2 * c, 4, 6), (2, c, 4, 6))
    assert rows["decoder.head"][1] == (2, 1, 32, 48)
    assert model.training and model.fused_read
    assert torch.equal(model.memory.items, items)


def test_kind_frame_picks_the_largest_box_shown_alone():
    events = [
        Event("01", "grass_walker", 2, 6, {t: [0, 0, t, t] for t in range(2, 7)}),
        Event("01", "cart", 5, 9, {t: [0, 0, 50, 50] for t in range(5, 10)}),
        Event("02", "grass_walker", 0, 3, {0: [0, 0, 9, 9], 3: [0, 0, 3, 3]}),
    ]
    dataset = types.SimpleNamespace(events=events)
    # video 01 frames 5-6 overlap the cart; frame 4 is the largest alone there (5x5),
    # video 02 frame 0 (10x10) is larger but comes before ``first``
    event, t = kind_frame(dataset, "grass_walker", first=1)
    assert (event.video, t) == ("01", 4)
    event, t = kind_frame(dataset, "grass_walker", first=0)
    assert (event.video, t) == ("02", 0)
    with pytest.raises(ValueError, match="skateboarder"):
        kind_frame(dataset, "skateboarder")


def test_kind_frame_on_the_quick_benchmark(quick_data):
    dataset = open_dataset(quick_data)
    event, t = kind_frame(dataset, "grass_walker", first=4)
    assert event.kind == "grass_walker" and event.start <= t <= event.end and t >= 4
    assert t in event.boxes
    assert all(
        not (e.start <= t <= e.end)
        for e in dataset.events
        if e.video == event.video and e is not event
    )


@pytest.mark.parametrize("position", ["none", "query"])
def test_frame_maps_shapes_and_identities(quick_data, position):
    config = course_config(True, position=position)
    torch.manual_seed(0)
    model = MNAD(**config.model_args())
    dataset = open_dataset(quick_data)
    event, t = kind_frame(dataset, "grass_walker", first=config.t_length - 1)
    maps = frame_maps(model, dataset.video(event.video), t, config)
    h, w = config.size
    assert maps["frame"].shape == maps["prediction"].shape == maps["error"].shape == (h, w)
    assert maps["distance_map"].shape == (h // 8, w // 8)
    c = model.feat_dim  # C + 2 with position-aware queries
    assert maps["queries"].shape == (c, h // 8, w // 8) and maps["items"].shape[1] == c
    # PSNR (code form) is 10 log10(1 / mean error); D is the mean of the D map (Eq. 15)
    assert maps["psnr"] == pytest.approx(10 * math.log10(1 / maps["error"].mean()), rel=1e-4)
    assert maps["distance"] == pytest.approx(float(maps["distance_map"].mean()), rel=1e-4)
    assert not model.training  # scored in eval mode


def test_frame_maps_without_memory(quick_data):
    config = course_config(True, use_memory=False)
    model = MNAD(**config.model_args())
    dataset = open_dataset(quick_data)
    maps = frame_maps(model, dataset.test[0], config.t_length - 1, config)
    assert maps["distance_map"] is None and maps["items"] is None and math.isnan(maps["distance"])
    with pytest.raises(ValueError, match="ends no clip"):
        frame_maps(model, dataset.test[0], 0, config)


def test_box_contrast_and_scale_box():
    values = np.ones((4, 6))
    values[1:3, 2:4] = 3.0  # the cells of rows 1-2, columns 2-3
    # the same cells as a box on a 32 x 48 frame (8 pixels per cell)
    assert box_contrast(values, [16, 8, 32, 24], (32, 48)) == pytest.approx(3.0)
    # a box that touches one more column of cells (x up to 33) dilutes the inside mean
    assert box_contrast(values, [16, 8, 33, 24], (32, 48)) == pytest.approx((4 * 3 + 2) / 6)
    with pytest.raises(ValueError, match="all or none"):
        box_contrast(values, [0, 0, 48, 32], (32, 48))
    # inclusive pixel indices of a 240 x 360 frame -> edges on 64 x 96
    assert scale_box([0, 0, 359, 239], (240, 360), (64, 96)) == pytest.approx([0, 0, 96, 64])
    assert scale_box([90, 60, 179, 119], (240, 360), (64, 96)) == pytest.approx([24, 16, 48, 32])


def test_study_file_is_found_from_the_notebooks_the_root_and_anywhere_else(tmp_path, monkeypatch):
    """Notebooks read ../docs/studies; from the repository root it is docs/studies; a
    notebook copied elsewhere falls back to the checkout the package runs from."""
    import mnad_lite
    from mnad_lite.course import study_file
    from mnad_lite.errors import MNADError

    repo = Path(mnad_lite.__file__).resolve().parents[1]
    committed = repo / "docs" / "studies" / "ped2-summary.json"
    assert study_file("ped2-summary.json", repo / "notebooks").resolve() == committed
    assert study_file("ped2-summary.json", repo).resolve() == committed
    assert study_file("ped2-summary.json", tmp_path).resolve() == committed
    monkeypatch.chdir(repo / "notebooks")  # the default start: the working directory
    assert study_file("place.json").resolve() == repo / "docs" / "studies" / "place.json"

    # a local copy wins over the checkout (the course folder a learner set up)
    (tmp_path / "docs" / "studies").mkdir(parents=True)
    (tmp_path / "docs" / "studies" / "ped2-summary.json").write_text("{}")
    assert study_file("ped2-summary.json", tmp_path) == tmp_path / "docs/studies/ped2-summary.json"

    with pytest.raises(MNADError, match=r"study file nothing\.json not found \(looked for") as err:
        study_file("nothing.json", tmp_path)
    assert "\n" not in str(err.value)


def test_the_committed_model_and_ped2_are_found_or_named(monkeypatch, tmp_path):
    from mnad_lite.course import committed_model, find_ped2

    assert (committed_model() / "model.pt").is_file()
    with pytest.raises(MNADError, match="no committed model"):
        committed_model("nothing-here")
    fake = tmp_path / "ped2"
    (fake / "testing" / "frames").mkdir(parents=True)
    monkeypatch.setenv("MNAD_PED2", str(fake))
    assert find_ped2(tmp_path) == fake


# --- the native child process of notebooks 04, 05 and 08 -------------------------------------


def test_run_natively_drops_the_portable_pins_and_names_a_failure(monkeypatch):
    import json

    from mnad_lite.course.tools import run_natively
    from mnad_lite.engine.config import SWITCH
    from mnad_lite.engine.portable import ENVIRONMENT

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")  # what portable.enable() leaves
    monkeypatch.setenv(SWITCH, "portable")
    code = (
        "import json, os, sys; "
        "print(json.dumps({k: os.environ.get(k) for k in json.loads(sys.argv[1])}))"
    )
    names = [*ENVIRONMENT, SWITCH]
    assert json.loads(run_natively(code, names, "env")) == dict.fromkeys(names)
    with pytest.raises(MNADError, match=r"^boom failed: ValueError: bad$"):
        run_natively("raise ValueError('bad')", {}, "boom")


def test_evaluate_natively_returns_what_evaluate_writes(quick_run, quick_data, tmp_path):
    import json

    from mnad_lite.course import evaluate_natively

    report = evaluate_natively(quick_run, quick_data, tmp_path / "out", videos=1, figures=False)
    assert report == json.loads((tmp_path / "out" / "eval.json").read_text())
    assert report["videos"] == 1 and 0 <= report["frame_auc"] <= 1
    alerts = evaluate_natively(
        quick_run,
        quick_data,
        tmp_path / "a",
        videos=1,
        alerts=True,
        threshold="auto",
        figures=False,
    )
    assert "alarms" in alerts and alerts["calibration"]["frames"] > 0


def test_training_speed_natively_times_the_same_steps(quick_data):
    from mnad_lite.course.tools import training_speed

    speed = training_speed(course_config(True), quick_data, steps=1, warmup=1, native=True)
    assert speed["steps"] == 1 and speed["seconds_per_step"] > 0
    assert speed["steps_per_second"] == pytest.approx(1 / speed["seconds_per_step"])
