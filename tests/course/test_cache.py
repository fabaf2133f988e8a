"""The course helpers: cached data and runs, keyed by what they depend on, never in the data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import assert_report_matches_scores

import mnad_lite.data.synthetic
import mnad_lite.engine.evaluation
import mnad_lite.engine.train
from mnad_lite import course
from mnad_lite.data import cache as cache_mod
from mnad_lite.engine.config import preset
from mnad_lite.engine.runtime import pick_device
from mnad_lite.errors import ConfigError


def tiny(**overrides):
    """The quick course configuration, cut to one epoch of two steps; in this process's
    own kernels (a portable run needs a fresh process: test_fingerprint.py)."""
    return course.course_config(
        True, epochs=1, max_steps=2, **{"reproducible": "machine", **overrides}
    )


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def fail(*args, **kwargs):
    raise AssertionError("this call should have been served from the cache")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh MNAD_CACHE, and a process-wide frame cache rebuilt from it."""
    root = tmp_path / "cache"
    monkeypatch.setenv("MNAD_CACHE", str(root))
    monkeypatch.setattr(cache_mod, "_default_cache", None)
    return root


def test_cache_dir_follows_the_environment(cache, monkeypatch):
    assert course.cache_dir() == cache
    monkeypatch.delenv("MNAD_CACHE")
    assert course.cache_dir() == Path.home() / ".cache" / "mnad_lite"


def test_course_data_is_generated_once_into_the_cache(cache, monkeypatch):
    data = course.course_data(quick=True)
    assert data.parent == cache / "data"
    assert (data / "manifest.json").is_file()
    assert json.loads((data / "manifest.json").read_text())["preset"] == "quick"
    monkeypatch.setattr(mnad_lite.data.synthetic, "generate", fail)
    assert course.course_data(quick=True) == data
    assert [p.name for p in (cache / "data").iterdir()] == [data.name]  # no temp folder left


def test_course_config_presets():
    # portable, one thread, NCHW: the same numbers on every x86-64 machine
    runtime = {"reproducible": "portable", "num_threads": 1, "channels_last": False}
    assert course.COURSE_RUNTIME == runtime
    assert course.course_config(True) == preset("quick", **runtime)
    full = course.course_config(False, num_items=20)
    assert full.preset == "lite" and full.size == (48, 72) and full.width == 16
    assert full.num_items == 20 and full.epochs == course.COURSE_OVERRIDES["epochs"]
    assert full.reproducible == "portable" and full.num_threads == 1
    with pytest.raises(ConfigError, match="one thread"):
        course.course_config(True, num_threads=2)  # a portable run sums on one thread
    assert course.course_config(True, num_threads=2, reproducible="machine").num_threads == 2


def test_cached_run_trains_once_and_leaves_the_data_alone(cache, quick_data, monkeypatch):
    before = snapshot(quick_data)
    steps = []
    run = course.cached_run(tiny(), quick_data, on_step=steps.append)
    assert run.parent == cache / "runs" and run.name.startswith("quick-pred-")
    assert (run / "model.pt").is_file() and (run / "log.jsonl").is_file()
    assert course.read_jsonl(run / "steps.jsonl") == steps and len(steps) == 2
    assert [p.name for p in (cache / "runs").iterdir()] == [run.name]  # temp folder renamed

    report = course.cached_report(run, quick_data)
    assert report["test_update"] is True
    assert_report_matches_scores(run)
    assert (run / "report-update.json").is_file()
    assert "calibration" not in report and "frame_auc_online" not in report  # paper only

    monkeypatch.setattr(mnad_lite.engine.train, "train", fail)
    monkeypatch.setattr(mnad_lite.engine.evaluation, "evaluate", fail)
    assert course.cached_run(tiny(), quick_data) == run  # same configuration: no training
    assert course.cached_report(run, quick_data, test_update=True) == report
    assert snapshot(quick_data) == before  # nothing written beside the dataset


def test_a_different_configuration_or_dataset_gets_another_folder(tmp_path):
    key = course.run_key(tiny(), tmp_path / "a")
    assert course.run_key(tiny(), tmp_path / "a") == key
    assert course.run_key(tiny(num_items=2), tmp_path / "a") != key
    assert course.run_key(tiny(seed=1), tmp_path / "a") != key
    assert course.run_key(tiny(), tmp_path / "b") != key
    assert course.run_key(tiny(read_temperature=0.1), tmp_path / "a") != key
    assert course.run_key(tiny(read_gradient=True), tmp_path / "a") != key
    assert course.run_key(tiny(deep_skip=False), tmp_path / "a") != key


def test_the_key_is_the_whole_configuration_the_data_and_the_version(tmp_path):
    """No field is left out of the key: every option names its own runs."""
    import hashlib

    from mnad_lite import __version__

    key = {
        "config": tiny().to_dict(),
        "data": str((tmp_path / "a").resolve()),
        "version": __version__,
    }
    expected = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    assert course.run_key(tiny(), tmp_path / "a") == expected


def test_an_interrupted_training_leaves_no_run(cache, quick_data, monkeypatch):
    def interrupted(config, data, run, **kwargs):
        (Path(run) / "last.pt").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(mnad_lite.engine.train, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        course.cached_run(tiny(), quick_data)
    assert list((cache / "runs").iterdir()) == []


def test_markdown_table():
    rows = [{"variant": "memory", "auc": 91.234}, {"variant": "none", "auc": None}]
    assert course.markdown_table(rows).splitlines() == [
        "| variant | auc |",
        "|---|---|",
        "| memory | 91.23 |",
        "| none |  |",
    ]
    assert course.markdown_table(rows, ["auc"]).splitlines()[2] == "| 91.23 |"


def test_live_losses_records_and_replays(tmp_path):
    live = course.LiveLosses(every=2)
    for step in range(3):
        live({"epoch": 0, "step": step, "loss": 1.0, "rec": 0.5, "compact": 0.1, "separate": 0.2})
    assert len(live.steps) == 3 and live._fig is not None  # drawn once, at step 2
    (tmp_path / "steps.jsonl").write_text(json.dumps(live.steps[0]) + "\n")
    replay = course.LiveLosses()
    fig = replay.finish(tmp_path)
    assert replay.steps == live.steps[:1]
    assert [line.get_label() for line in fig.axes[0].lines] == list(course.TERMS)


def test_trace_shapes_follows_the_paper_network():
    import torch

    from mnad_lite import MNAD

    net = MNAD(width=2, num_items=3)  # the paper's layout, narrow: channels = 2 * (1, 2, 4, 8)
    rows = course.trace_shapes(net, torch.zeros(1, 12, 32, 32))
    assert [r[0] for r in rows] == list(course.TRACED)
    shapes = {name: (i, o) for name, i, o in rows}
    assert shapes["encoder.stages.3"][1] == (1, 16, 4, 4)  # queries: 8w channels at H/8
    assert shapes["memory"] == ((1, 16, 4, 4), (1, 32, 4, 4))  # concat(q, read): 2C
    assert shapes["decoder.blocks.0"][0] == (1, 16, 8, 8)  # upsampled 8 + skip 8
    assert shapes["decoder.head"][1] == (1, 3, 32, 32)
    assert net.training  # mode restored, hooks removed
    assert not any(m._forward_hooks for m in net.modules())
    no_memory = MNAD(width=2, use_memory=False)
    names = [r[0] for r in course.trace_shapes(no_memory, torch.zeros(1, 12, 16, 16))]
    assert "memory" not in names


def test_training_speed(cache, quick_data):
    speed = course.training_speed(tiny(), quick_data, steps=2, warmup=1)
    assert speed["device"] == str(pick_device("auto")) and speed["steps"] == 2
    assert speed["steps_per_second"] == pytest.approx(1 / speed["seconds_per_step"])
    assert not (cache / "runs").exists()  # nothing cached
    with pytest.raises(ValueError, match="steps"):
        course.training_speed(tiny(), quick_data, steps=1000, warmup=1)


def test_cached_runs_trains_the_missing_ones_in_parallel_processes(cache, quick_data, monkeypatch):
    from mnad_lite.course.fingerprint import weights_sha256

    configs = {"seed 0": tiny(), "seed 1": tiny(seed=1)}
    runs, reports = course.cached_runs(configs, quick_data, jobs=2)
    assert set(runs) == set(reports) == set(configs)
    assert runs["seed 0"] != runs["seed 1"]
    for name, run in runs.items():
        assert (run / "model.pt").is_file() and (run / "report-update.json").is_file()
        assert reports[name] == json.loads((run / "report-update.json").read_text())
    # a run trained in a worker process has the bits of the same run trained here
    monkeypatch.setenv("MNAD_CACHE", str(cache / "second"))
    here = course.cached_run(tiny(), quick_data)
    assert weights_sha256(here / "model.pt") == weights_sha256(runs["seed 0"] / "model.pt")
    monkeypatch.setenv("MNAD_CACHE", str(cache))
    monkeypatch.setattr(mnad_lite.engine.train, "train", fail)
    monkeypatch.setattr(mnad_lite.engine.evaluation, "evaluate", fail)
    assert course.cached_runs(configs, quick_data) == (runs, reports)  # nothing to do
