"""The exercise checkers: every worked solution in the notebooks passes its checker, and a
wrong answer gets a message that says what is wrong.

The solutions are read from the notebooks themselves (the ``<details><summary>Solution``
blocks), so a solution edited in a notebook is tested as it is written. Each runs in a
namespace holding the few names of its notebook it uses, built small here (no dataset,
no training).
"""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mnad_lite.course import check

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SOLUTION = re.compile(r"<summary>Solution</summary>(.*?)</details>", re.S)
CODE = re.compile(r"```python\n(.*?)```", re.S)


def solutions() -> list[tuple[str, int, str]]:
    """(notebook, exercise number, code) of every solution that calls a checker."""
    found = []
    for path in sorted(NOTEBOOKS.glob("0*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            text = "".join(cell["source"])
            for number, block in zip(
                re.findall(r"\*\*Exercise (\d+)\.\*\*", text), SOLUTION.findall(text), strict=False
            ):
                for code in CODE.findall(block):
                    if "check.exercise_" in code:
                        found.append((path.stem, int(number), code))
    return found


class Recorder:
    """Stands in for ``mnad_lite.course.check``: calls the real checker, keeps the verdict."""

    def __init__(self) -> None:
        self.verdicts: list[check.Feedback] = []

    def __getattr__(self, name: str):
        real = getattr(check, name)

        def call(*args, **kwargs):
            verdict = real(*args, **kwargs)
            self.verdicts.append(verdict)
            return verdict

        return call


def fake_scores(seed: int) -> types.SimpleNamespace:
    """Per-frame values of 3 videos where a low PSNR and a large D mark anomalies."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(120) % 40 >= 25).astype(int)
    return types.SimpleNamespace(
        psnr=30 - 2 * labels + rng.normal(size=120),
        distance=0.01 + 0.002 * labels + 0.002 * rng.normal(size=120),
        labels=labels,
        video_ids=np.arange(120) // 40,
    )


def namespace(notebook: str) -> dict:
    """The names of ``notebook`` that its solutions use, small and fake where possible."""
    from mnad_lite.memory import init_items  # noqa: F401

    ns: dict = {"np": np, "torch": torch, "F": F}
    if notebook.startswith("01"):
        ns["ds"] = types.SimpleNamespace(train=[range(n) for n in (150, 160, 170)])
        ns["scored"] = (np.arange(100) % 3 == 0).astype(int)
    if notebook.startswith("03"):
        g = torch.Generator().manual_seed(3)
        ns["queries"] = F.normalize(torch.randn(6, 2, generator=g), dim=1)
        ns["items"] = F.normalize(torch.randn(3, 2, generator=g), dim=1)
        ns["nearest"] = (ns["queries"] @ ns["items"].t()).argmax(dim=1)
    if notebook.startswith("04"):
        from mnad_lite import MNAD
        from mnad_lite.model import count_parameters

        ns.update(MNAD=MNAD, count_parameters=count_parameters)
        ns["log"] = [{"compact": 6e-5, "cos_nearest": 0.9962}]
    if notebook.startswith("08"):
        from mnad_lite.data import open_dataset

        q = np.round(np.arange(90.0, 99.95, 0.1), 1)
        ns["tradeoff"] = {"percentile": q, "fa": 0.5 * (100 - q), "recall": 0.02 * (100 - q)}
        cam_b = types.SimpleNamespace(num_frames=40)
        ns["open_dataset"] = lambda root: types.SimpleNamespace(train=[object(), cam_b])
        ns["data"] = None
        ns["calibration"] = types.SimpleNamespace(frames=36)
        ns["config"] = types.SimpleNamespace(t_length=5)
        del open_dataset
    if notebook.startswith("05"):
        from mnad_lite.metrics import frame_auc
        from mnad_lite.scoring import anomaly_score, normalize

        ns.update(frame_auc=frame_auc, anomaly_score=anomaly_score, normalize=normalize)
        ns["with_update"], ns["without"] = fake_scores(0), fake_scores(1)
        ns["tables"] = {"with the update": {"psnr_auc": 0.8}}
    if notebook.startswith("06"):
        from mnad_lite.course import course_config

        ns["course_config"] = course_config
        ns["reports"] = {
            "MNAD, seed 0": {"frame_auc": 0.7202},
            "MNAD, seed 1": {"frame_auc": 0.7702},
            "no memory": {"frame_auc": 0.7959},
        }
    if notebook.startswith("07"):
        queries, items = place_queries()
        ns["maps"] = {"memory-position": {"queries": queries, "items": items}}
        ns["summary"] = place_summary()
    return ns


def place_queries() -> tuple[np.ndarray, np.ndarray]:
    """A unit query map [C, h, w] and unit items [M, C], as ``frame_maps`` returns them."""
    g = torch.Generator().manual_seed(11)
    queries = F.normalize(torch.randn(6, 4, 5, generator=g), dim=0).numpy()
    items = F.normalize(torch.randn(3, 6, generator=g), dim=1).numpy()
    return queries, items


def place_summary() -> dict:
    """A compact study summary: memory over seeds [0, 1, 2], memory-position over [0, 2]."""

    def per_kind(psnr, dist):
        return {
            "psnr_auc": {"grass_walker": {"values": psnr}},
            "distance_auc": {"grass_walker": {"values": dist}},
            "frame_auc": {"grass_walker": {"values": [0.7] * len(psnr)}},
        }

    return {
        "reference": "memory",
        "variants": {
            "memory": {
                "seeds": [0, 1, 2],
                "per_kind": per_kind([0.75, 0.76, 0.74], [0.6, 0.5, 0.7]),
            },
            "memory-position": {"seeds": [0, 2], "per_kind": per_kind([0.77, 0.73], [0.65, 0.4])},
        },
    }


SOLUTIONS = solutions()


def test_two_checked_exercises_per_notebook():
    per_notebook: dict[str, set[int]] = {}
    for notebook, number, _ in SOLUTIONS:
        per_notebook.setdefault(notebook, set()).add(number)
    assert sorted(per_notebook) == [p.stem for p in sorted(NOTEBOOKS.glob("0*.ipynb"))]
    assert all(len(numbers) >= 2 for numbers in per_notebook.values()), per_notebook


@pytest.mark.parametrize(
    "notebook, number, code", SOLUTIONS, ids=[f"{n}-ex{k}" for n, k, _ in SOLUTIONS]
)
def test_worked_solution_passes_its_checker(notebook, number, code, capsys):
    recorder = Recorder()
    ns = namespace(notebook)
    ns["check"] = recorder
    exec(compile("from mnad_lite.course import check as _real\n", "<setup>", "exec"), ns)
    ns["check"] = recorder  # the solution's own "from mnad_lite.course import check" is rebound
    code = code.replace("from mnad_lite.course import check\n", "")
    exec(compile(code, f"{notebook} exercise {number}", "exec"), ns)
    assert recorder.verdicts, "the solution calls no checker"
    assert all(v.ok for v in recorder.verdicts), [str(v) for v in recorder.verdicts]


def test_every_checker_is_used_by_a_solution():
    used = {name for _, _, code in SOLUTIONS for name in re.findall(r"check\.(exercise_\w+)", code)}
    checkers = {name for name in dir(check) if name.startswith("exercise_")}
    assert used == checkers


WRONG = [
    (lambda: check.exercise_01_2(480, 480, [150, 160, 170]), "counted frames"),
    (lambda: check.exercise_01_4(0.55), "class balance"),
    (lambda: check.exercise_02_1(54, [0, 1, 2]), "belongs to item 2"),
    (lambda: check.exercise_02_2(2.0, 0.5), "only one side"),
    (
        lambda: check.exercise_03_1(lambda q, p: 1 - (q @ p.t()).max(1).values.mean()),
        "grows like C",
    ),
    (lambda: check.exercise_03_2([3, 4]), "query 3"),
    (lambda: check.exercise_04_2(40 * 512), "not parameters"),
    (lambda: check.exercise_04_5(1 - 6e-5 / 2, 6e-5, 128), "multiply by C"),
    (
        lambda: check.exercise_05_1(
            check_auc_psnr_only(),
            *[getattr(fake_scores(0), k) for k in ("psnr", "distance", "labels", "video_ids")],
        ),
        "PSNR alone",
    ),
    (lambda: check.exercise_05_4([0.2, 0.2, 0.8, 0.8], [0, 0, 1, 1], [0, 0, 1, 1]), "single-class"),
    (lambda: check.exercise_06_2(256, 256), "no read"),
    (
        lambda: check.exercise_06_4(np.std([72.02, 77.02, 69.62]), [72.02, 77.02, 69.62]),
        "standard deviation",
    ),
    (lambda: check.exercise_07_1(place_d_map() * 6, *place_queries()), "summed over the C"),
    (lambda: check.exercise_07_1(np.sqrt(place_d_map() * 6), *place_queries()), "as printed"),
    (lambda: check.exercise_07_1(place_d_map()[:2], *place_queries()), "one value per query"),
    (lambda: check.exercise_07_2([0.02, -0.01], place_summary()), "points"),
    (lambda: check.exercise_07_2([-2.0, 1.0], place_summary()), "reversed"),
    (lambda: check.exercise_07_2([5.0, -30.0], place_summary()), "D only"),
    (lambda: check.exercise_07_2(0.5, place_summary()), "one value per seed"),
]


def place_d_map() -> np.ndarray:
    from mnad_lite.memory import distance_map

    queries, items = place_queries()
    return distance_map(torch.from_numpy(queries)[None], torch.from_numpy(items))[0].numpy()


def check_auc_psnr_only() -> float:
    from mnad_lite.metrics import frame_auc
    from mnad_lite.scoring import anomaly_score

    s = fake_scores(0)
    return frame_auc(anomaly_score(s.psnr, s.distance, s.video_ids, lambda_score=1.0), s.labels)


@pytest.mark.parametrize("call, phrase", WRONG, ids=[p for _, p in WRONG])
def test_wrong_answer_is_explained(call, phrase):
    verdict = call()
    assert not verdict.ok and not verdict
    assert str(verdict).startswith("✗ not yet: ")
    assert phrase in str(verdict)


def test_feedback_shows_as_text():
    verdict = check.exercise_02_2(4.0, 0.5)
    assert verdict.ok and repr(verdict) == str(verdict) and str(verdict).startswith("✓ right: ")
