"""Tests for mnad_lite/__init__.py: what importing the package does before anything else."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("given", [None, "ACTIVE"])
def test_importing_mnad_lite_first_makes_waiting_threads_sleep(given):
    """OMP_WAIT_POLICY defaults to PASSIVE before torch loads OpenMP; a user's value wins.

    Why: with the cores shared with another busy process, spinning OpenMP threads made a
    2-thread training step about 5x slower (benchmarks/threads.py).
    """
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = "import mnad_lite, os, sys; sys.stdout.write(os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (given or "PASSIVE")
