"""The command line turns user errors (MNADError) into one line and exit status 2.

The real sub-commands live elsewhere; these tests plug a tiny parser into
:func:`mnad_lite.cli.main` so they check only the error handling.
"""

from __future__ import annotations

import argparse

import pytest

from mnad_lite import cli
from mnad_lite.errors import CheckpointError, ConfigError, DataError, MNADError


def fake_parser(handler):
    parser = argparse.ArgumentParser(prog="mnad-lite")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.set_defaults(handler=handler)
    return parser


def use_handler(monkeypatch, handler):
    monkeypatch.setattr(cli, "build_parser", lambda: fake_parser(handler))


@pytest.mark.parametrize("error_type", [MNADError, DataError, CheckpointError, ConfigError])
def test_user_error_is_one_line_and_status_2(monkeypatch, capsys, error_type):
    def handler(args):
        raise error_type("runs/x.pt: not an mnad_lite checkpoint")

    use_handler(monkeypatch, handler)
    assert cli.main(["run"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "mnad-lite: error: runs/x.pt: not an mnad_lite checkpoint\n"


def test_every_error_class_is_a_value_error():
    for cls in (MNADError, DataError, CheckpointError, ConfigError):
        assert issubclass(cls, ValueError) and issubclass(cls, MNADError)


@pytest.mark.parametrize("returned,status", [(None, 0), (0, 0), (3, 3)])
def test_handler_result_is_the_exit_status(monkeypatch, returned, status):
    use_handler(monkeypatch, lambda args: returned)
    assert cli.main(["run"]) == status


def test_interrupt_exits_130(monkeypatch, capsys):
    def handler(args):
        raise KeyboardInterrupt

    use_handler(monkeypatch, handler)
    assert cli.main(["run"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_programming_errors_are_not_hidden(monkeypatch):
    """Only user errors become status 2; a bug keeps its traceback."""

    def handler(args):
        raise RuntimeError("bug")

    use_handler(monkeypatch, handler)
    with pytest.raises(RuntimeError, match="bug"):
        cli.main(["run"])


def test_unknown_command_is_a_usage_error(monkeypatch):
    use_handler(monkeypatch, lambda args: 0)
    with pytest.raises(SystemExit) as info:
        cli.main(["nonsense"])
    assert info.value.code == 2
