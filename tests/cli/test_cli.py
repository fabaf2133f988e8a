"""The command line end to end: train, evaluate, demo; errors are one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import assert_png, assert_report_matches_scores

from mnad_lite.cli import main
from mnad_lite.cli.demo import free_run_dir, run_demo

QUICK = ["--preset", "quick", "--device", "cpu", "--quiet"]


def test_train_then_evaluate(quick_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(quick_data),
                "--out",
                str(run),
                *QUICK,
                "--epochs",
                "1",
                "--set",
                "num_items=4",
                "--set",
                "weight_norm=assigned",
            ]
        )
        == 0
    )
    saved = json.loads((run / "config.json").read_text())
    assert saved["num_items"] == 4 and saved["weight_norm"] == "assigned" and saved["epochs"] == 1
    assert (
        main(
            [
                "evaluate",
                "--run",
                str(run),
                "--data",
                str(quick_data),
                "--no-figures",
                "--no-test-update",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "per-video min-max (paper)" in out and "test-time update off" in out
    report = json.loads((run / "eval.json").read_text())
    assert report["test_update"] is False and report["memory_updates"] == 0
    assert not (run / "figures").exists()


def test_resume_and_no_memory_from_the_command_line(quick_data, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--data", str(quick_data), "--out", str(run), *QUICK, "--no-memory"]
    assert main([*args, "--epochs", "1"]) == 0
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    # the first epoch was planned as the only one (lr 1e-3); the resumed run continues the
    # cosine of a 2-epoch run: epoch 2 trains at 1e-3 * (1 + cos(pi / 2)) / 2 = 5e-4
    assert [e["lr"] for e in log] == pytest.approx([1e-3, 5e-4])
    assert json.loads((run / "config.json").read_text())["use_memory"] is False


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--data", "{tmp}/nowhere", "--out", "{tmp}/r", *QUICK], "nowhere"),
        (["evaluate", "--run", "{tmp}/empty", "--data", "{data}"], "model.pt"),
        (
            ["train", "--data", "{data}", "--out", "{tmp}/r", *QUICK, "--set", "size=[30,40]"],
            "divisible by 8",
        ),
        (["train", "--data", "{data}", "--out", "{tmp}/r", *QUICK, "--set", "colour=1"], "unknown"),
        (["train", "--data", "{data}", "--out", "{tmp}/r", *QUICK, "--set", "oops"], "FIELD=VALUE"),
        (["study", "--out", "{tmp}/empty", "--summary-only"], "no study here"),
        (["study", "--out", "{tmp}/s", "--grid", "quick"], "needs --grid and --data"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(quick_data, tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    argv = [a.format(tmp=tmp_path, data=quick_data) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mnad-lite: error:") and "\n" not in err and message in err


def test_demo_runs_and_never_overwrites(quick_data, tmp_path, capsys):
    # in this process's own kernels (the portable demo: the test below)
    small = {"size": (32, 48), "width": 4, "epochs": 1, "max_steps": 3, "reproducible": "machine"}
    run_demo(quick_data, tmp_path / "demo", device="cpu", **small)
    assert_report_matches_scores(tmp_path / "demo")
    assert_png(tmp_path / "demo" / "figures" / "score_curves.png")
    assert free_run_dir(tmp_path / "demo") == tmp_path / "demo-2"
    run_demo(quick_data, tmp_path / "demo", device="cpu", **small)
    assert (tmp_path / "demo-2" / "eval.json").exists()
    out = capsys.readouterr().out
    assert "frame AUC" in out and "using the dataset already in" in out


def test_the_demo_trains_the_course_model_portably(quick_data, tmp_path):
    from mnad_lite.cli.demo import demo_config
    from mnad_lite.course import course_config

    assert demo_config() == course_config(False)  # the README's demo numbers are the course's
    assert demo_config("cuda").reproducible == "machine"  # a GPU run is not portable
    code = (
        "import json, sys; from mnad_lite.cli.demo import run_demo; "
        "run_demo(sys.argv[1], sys.argv[2], size=(32, 48), width=4, epochs=1, max_steps=2)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(quick_data), str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "demo" / "config.json").read_text())
    assert config["reproducible"] == "portable" and config["device"] == "auto"
    assert "frame AUC" in done.stdout
