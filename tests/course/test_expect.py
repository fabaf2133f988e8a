"""``expect``: the verdict line nbval compares, the value picked by mode, and the failure
message when a result moves (a deliberately changed value must fail)."""

from __future__ import annotations

import json

import pytest

from mnad_lite.course.expect import UnexpectedResult, expect


@pytest.fixture(params=["full", "quick"])
def mode(request, monkeypatch):
    monkeypatch.delenv("MNAD_EXPECT_RECORD", raising=False)
    if request.param == "quick":
        monkeypatch.setenv("MNAD_QUICK", "1")
    else:
        monkeypatch.delenv("MNAD_QUICK", raising=False)
    return request.param


def test_same_line_in_both_modes(mode, capsys):
    value = 72.0 if mode == "full" else 55.0
    assert expect("frame AUC", value + 0.3, full=72.0, quick=55.0, tol=0.5, unit="points") is None
    assert capsys.readouterr().out == "frame AUC: as expected (within 0.5 points)\n"


def test_changed_value_fails_with_numbers(mode):
    expected = 72.0 if mode == "full" else 55.0
    with pytest.raises(UnexpectedResult) as err:
        expect("frame AUC", expected + 2.0, full=72.0, quick=55.0, tol=0.5, unit="points")
    message = str(err.value)
    assert "frame AUC" in message and f"{mode} mode" in message
    assert "off by 2" in message and "within 0.5 points" in message


def test_the_other_modes_value_does_not_pass(mode):
    other = 55.0 if mode == "full" else 72.0
    with pytest.raises(UnexpectedResult):
        expect("AUC", other, full=72.0, quick=55.0, tol=0.5)


def test_exact_and_relative(mode, capsys):
    expect("parameters", 980_577, full=980_577, quick=980_577)
    assert capsys.readouterr().out == "parameters: as expected (exactly)\n"
    with pytest.raises(UnexpectedResult, match="expected 980577"):
        expect("parameters", 980_578, full=980_577, quick=980_577)
    expect("loss", 0.0101, full=0.01, quick=0.01, rel=0.02)
    with pytest.raises(UnexpectedResult):
        expect("loss", 0.0103, full=0.01, quick=0.01, rel=0.02)


def test_sequences_and_other_values(mode):
    expect("usage", [3, 4], full=[3, 4], quick=[3, 4])
    with pytest.raises(UnexpectedResult, match="element 1"):
        expect("usage", [3, 5], full=[3, 4], quick=[3, 4])
    with pytest.raises(UnexpectedResult, match="different length"):
        expect("usage", [3], full=[3, 4], quick=[3, 4])
    expect("device", "cpu", full="cpu", quick="cpu")
    with pytest.raises(UnexpectedResult, match="no expected value"):
        expect("new", 1.0, full=None, quick=None)


def test_record_mode(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MNAD_QUICK", raising=False)
    record = tmp_path / "rec.jsonl"
    monkeypatch.setenv("MNAD_EXPECT_RECORD", str(record))
    expect("AUC", 80.0, full=None, quick=None, tol=1, unit="points")
    assert capsys.readouterr().out == "AUC: as expected (within 1 points)\n"
    assert json.loads(record.read_text()) == {"name": "AUC", "value": 80.0, "mode": "full"}
