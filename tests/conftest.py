"""Fixtures shared by the pipeline tests: the quick synthetic set, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mnad_lite.data import generate


@pytest.fixture(scope="session")
def quick_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic benchmark, preset quick (a few short small videos), seed 0."""
    return generate(tmp_path_factory.mktemp("synthetic") / "quick", "quick", seed=0)


@pytest.fixture(autouse=True)
def _two_threads():
    """Tests run on the same thread count as CI, so results do not depend on the host."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(before, 2))
    yield
    torch.set_num_threads(before)
