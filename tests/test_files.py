"""Atomic writes: all or nothing, and the permissions a plain write would give."""

from __future__ import annotations

import os
import stat

import pytest

from mnad_lite.files import atomic_write, write_json, write_text_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_text_atomic(tmp_path / "a.txt", "old\n")
    with pytest.raises(RuntimeError), atomic_write(path) as fh:
        fh.write("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_files_get_the_permissions_of_a_plain_write(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = write_json(tmp_path / "atomic.json", {"a": 1})
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert os.access(atomic, os.R_OK) and atomic.read_text() == '{\n  "a": 1\n}\n'
