"""Fixtures shared by the tests: the quick synthetic set (once per session) and a quick run
(once per module)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mnad_lite.data import generate
from mnad_lite.engine.config import preset
from mnad_lite.engine.train import train


@pytest.fixture(scope="session", autouse=True)
def _cache_of_the_session(tmp_path_factory: pytest.TempPathFactory):
    """Frames and course runs go to a folder of this test session, never ~/.cache."""
    import os

    from mnad_lite.data import cache

    before = os.environ.get("MNAD_CACHE")
    os.environ["MNAD_CACHE"] = str(tmp_path_factory.mktemp("mnad-cache"))
    cache.set_default_cache(None)
    yield
    if before is None:
        os.environ.pop("MNAD_CACHE", None)
    else:
        os.environ["MNAD_CACHE"] = before
    cache.set_default_cache(None)


@pytest.fixture(scope="session")
def quick_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic benchmark, preset quick (a few short small videos), seed 0."""
    return generate(tmp_path_factory.mktemp("synthetic") / "quick", "quick", seed=0)


@pytest.fixture(scope="module")
def quick_run(quick_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of the quick preset, 2 epochs on ``quick_data`` (once per test module)."""
    run = tmp_path_factory.mktemp("runs") / "quick"
    train(preset("quick", epochs=2), quick_data, run, progress=False)
    return run


@pytest.fixture(autouse=True)
def _two_threads():
    """Tests run on the same thread count as CI, so results do not depend on the host."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(before, 2))
    yield
    torch.set_num_threads(before)
