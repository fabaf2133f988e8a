"""The committed UCSD Ped2 model (``models/ped2-lite``): small, loaded with
``weights_only=True``, trained by the study's recipe, and its recorded frame AUC
reproduced wherever UCSD Ped2 exists ($MNAD_PED2, ../shared/datasets/ped2, data/ped2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mnad_lite.engine.checkpoint import read_checkpoint
from mnad_lite.engine.config import Config
from mnad_lite.research.grids import builtin_grid

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "ped2-lite"
CANDIDATES = [
    *([Path(os.environ["MNAD_PED2"])] if os.environ.get("MNAD_PED2") else []),
    ROOT.parent / "shared" / "datasets" / "ped2",
    ROOT / "data" / "ped2",
]
PED2 = next((p for p in CANDIDATES if (p / "testing" / "frames").is_dir()), None)


def expected() -> dict:
    return json.loads((MODEL / "expected.json").read_text())


def test_the_package_is_small_and_loads_safely():
    files = {p.name for p in MODEL.iterdir() if p.is_file()}
    assert {"model.pt", "config.json", "log.jsonl", "provenance.jsonl", "expected.json"} <= files
    assert sum((MODEL / f).stat().st_size for f in files) <= 5 << 20
    payload = read_checkpoint(MODEL / "model.pt")  # weights_only=True inside
    assert Config.from_dict(payload["config"]["train"]) == Config.load(MODEL / "config.json")


def test_it_was_trained_by_the_study_recipe_seed_0():
    """The Ped2 study's reference variant (``memory``, seed 0): its configuration."""
    spec = builtin_grid("ped2")
    recipe = spec.config(spec.variant("memory"), 0)
    assert Config.load(MODEL / "config.json") == recipe
    log = [json.loads(x) for x in (MODEL / "log.jsonl").read_text().splitlines() if x]
    assert len(log) == recipe.epochs


@pytest.mark.skipif(
    PED2 is None, reason="UCSD Ped2 not found (MNAD_PED2, ../shared/datasets/ped2, data/ped2)"
)
def test_its_frame_auc_is_reproduced(tmp_path):
    from mnad_lite.engine.evaluation import evaluate

    report = evaluate(MODEL, PED2, device="cpu", figures=False, progress=False, out=tmp_path)
    recorded = expected()
    assert report["frames"] == recorded["frames"]
    for key in ("frame_auc", "psnr_auc", "frame_auc_global"):  # to the 0.01 point printed
        assert abs(100 * report[key] - 100 * recorded[key]) <= 0.01, key
    assert (tmp_path / "eval.json").is_file()


def test_it_is_the_studys_rerun_of_seed_0_bit_for_bit():
    """Every logged loss and diagnostic equals the study's record of its rerun of memory seed
    0 (times aside); the README's number for the first run is the summary's."""
    record = ROOT / "docs" / "studies" / "ped2-runs" / "memory" / "seed0" / "log.jsonl"

    def losses(path: Path) -> list[dict]:
        rows = [json.loads(x) for x in path.read_text().splitlines() if x]
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert losses(MODEL / "log.jsonl") == losses(record)
    summary = json.loads((ROOT / "docs" / "studies" / "ped2-summary.json").read_text())
    memory = summary["variants"]["memory"]
    assert abs(memory["reruns"]["0"]["frame_auc"] - expected()["frame_auc"]) < 1e-5
    first = memory["frame_auc"]["values"][memory["seeds"].index(0)]
    assert f"(frame AUC {100 * first:.2f})" in (MODEL / "README.md").read_text()
