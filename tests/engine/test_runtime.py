"""What a run ran on (mnad_lite.engine.runtime.provenance and code_version)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import torch

from mnad_lite.engine.runtime import code_version, provenance

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@needs_git
def test_code_version_names_the_commit_and_whether_the_folder_changed(tmp_path):
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    (tmp_path / "other.txt").write_text("outside the package\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    head = git("rev-parse", "HEAD")
    assert code_version(pkg) == {"commit": head, "modified": False}
    (tmp_path / "other.txt").write_text("changed outside the package\n")
    assert code_version(pkg) == {"commit": head, "modified": False}  # only the package counts
    (pkg / "a.py").write_text("x = 2\n")
    assert code_version(pkg) == {"commit": head, "modified": True}


def test_code_version_outside_a_checkout_is_unknown(tmp_path):
    assert code_version(tmp_path) == {"commit": None, "modified": None}


def test_provenance_names_the_machine_threads_and_device():
    p = provenance(torch.device("cpu"), num_threads=1)
    assert p["threads"] == 1 and p["device"] == "cpu" and p["torch"] == torch.__version__
    assert p["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert provenance(torch.device("cpu"))["threads"] == torch.get_num_threads()
