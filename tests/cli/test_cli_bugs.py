"""Command-line mistakes a user makes get one line and status 2, never a traceback or a
silent no-op (each test failed before its fix)."""

from __future__ import annotations

import pytest

from mnad_lite.cli import main
from mnad_lite.errors import ConfigError
from mnad_lite.research.grids import builtin_grid
from mnad_lite.research.study import run_study


def test_evaluate_out_on_a_file_is_one_line(quick_run, quick_data, tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("mine\n")
    argv = ["evaluate", "--run", str(quick_run), "--data", str(quick_data), "--no-figures"]
    assert main([*argv, "--out", str(target / "results")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mnad-lite: error:" in err and str(target) in err
    assert target.read_text() == "mine\n"  # nothing of the user's was touched


def test_evaluate_out_where_nothing_can_be_written_is_one_line(quick_run, quick_data, capsys):
    argv = ["evaluate", "--run", str(quick_run), "--data", str(quick_data), "--no-figures"]
    assert main([*argv, "--out", "/proc/mnad-lite-results"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/proc/mnad-lite-results" in err


@pytest.mark.parametrize("value", ["-1", "0", "two"])
def test_batch_size_must_be_a_positive_whole_number(value, capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--run", "r", "--data", "d", "--batch-size", value])
    assert info.value.code == 2
    assert "--batch-size" in capsys.readouterr().err


def test_study_only_names_an_unknown_variant(tmp_path):
    with pytest.raises(ConfigError, match="memroy"):
        run_study(builtin_grid("quick"), tmp_path / "data", tmp_path / "study", only=["memroy"])


def test_study_only_brings_the_variants_it_depends_on():
    spec = builtin_grid("quick")
    assert spec.selection(["memory-no-test-update"]) == ["memory", "memory-no-test-update"]
    assert spec.selection(["no-memory"]) == ["no-memory"]
    assert spec.selection(None) == [v.name for v in spec.variants]
    with pytest.raises(ConfigError, match="memroy"):
        spec.selection(["memroy"])


def test_the_study_command_refuses_an_unknown_variant(tmp_path, capsys):
    argv = ["study", "--grid", "quick", "--data", str(tmp_path), "--out", str(tmp_path / "s")]
    assert main([*argv, "--only", "memroy"]) == 2
    assert "memroy" in capsys.readouterr().err
