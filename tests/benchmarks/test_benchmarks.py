"""The benchmarks (benchmarks/): their baselines compute what mnad_lite computes, and
every script runs.

``benchmarks/authors_algorithm.py`` is the authors' algorithm the benchmarks time
mnad_lite against; it must compute what mnad_lite computes, or the ratios mean nothing.
``benchmarks/authors_code.py`` runs the authors' own code from a clone the user gives;
its tests run when ``MNAD_AUTHORS_CODE`` names one (nothing of it is in this project).
Each script's ``--quick`` mode runs in a fresh process, so CI catches a broken script.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mnad_lite.memory import Memory
from mnad_lite.model import MNAD

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from authors_algorithm import AuthorsMNAD, authors_memory  # noqa: E402
from authors_code import (  # noqa: E402
    PRED_MODEL,
    AuthorsCodeMemory,
    AuthorsCodeMNAD,
    cuda_as,
    load,
)

W = 4


def queries_map(b=2, c=6, h=3, w=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, h, w, generator=g)


@pytest.mark.parametrize("fused", [False, True])
def test_authors_algorithm_computes_what_mnad_lite_computes(fused):
    torch.manual_seed(0)
    mem = Memory(num_items=6, feat_dim=16).train()
    mem.fused_normalize = fused
    x = queries_map(b=2, c=16, h=5, w=7, seed=5)
    upstream = queries_map(b=2, c=32, h=5, w=7, seed=6)
    start = mem.items.clone()
    xg = x.clone().requires_grad_()
    ours = mem(xg)
    loss = (ours.features * upstream).sum() + 0.1 * ours.compactness + 0.1 * ours.separateness
    loss.backward()
    ours_grad = xg.grad
    xg = x.clone().requires_grad_()
    theirs = authors_memory(xg, start)
    loss = (theirs.features * upstream).sum() + 0.1 * theirs.compactness
    (loss + 0.1 * theirs.separateness).backward()
    torch.testing.assert_close(theirs.features, ours.features)
    torch.testing.assert_close(theirs.compactness, ours.compactness)
    torch.testing.assert_close(theirs.separateness, ours.separateness)
    torch.testing.assert_close(xg.grad, ours_grad)
    torch.testing.assert_close(theirs.items, mem.items)
    assert not torch.allclose(theirs.items, start)  # the update did move the items


@pytest.mark.parametrize("method", ["pred", "recon"])
def test_authors_network_has_our_weights_and_prediction(method):
    torch.manual_seed(0)
    model = MNAD(method, in_channels=1, width=W).eval()
    authors = AuthorsMNAD(model).eval()
    x = torch.rand(1, model.input_channels, 16, 24)
    with torch.no_grad():
        ours = model(x, update_memory=False).prediction
        theirs, _ = authors(x, model.memory.items, train=False)
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-6)


def test_authors_network_refuses_what_the_authors_code_lacks():
    for kw in ({"position": "query"}, {"use_memory": False}):
        with pytest.raises(ValueError):
            AuthorsMNAD(MNAD(in_channels=1, width=W, **kw))


# --- the authors' own code (--authors-code DIR) ---------------------------------------------

AUTHORS_CODE = os.environ.get("MNAD_AUTHORS_CODE")  # a clone of cvlab-yonsei/MNAD
needs_authors_code = pytest.mark.skipif(
    not AUTHORS_CODE, reason="set MNAD_AUTHORS_CODE to a clone of the authors' repository"
)


def test_authors_code_is_refused_where_it_cannot_stand_for_the_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="--authors-code takes a clone"):
        load(tmp_path, PRED_MODEL)
    for kw in ({"width": W}, {"width": 64, "position": "query"}, {"width": 64, "margin": 2.0}):
        with pytest.raises(ValueError):
            AuthorsCodeMNAD(MNAD(in_channels=1, **kw), tmp_path)  # refused before loading


def test_cuda_as_moves_to_the_device_and_restores_tensor_cuda():
    original = torch.Tensor.cuda
    with cuda_as("cpu"):
        assert torch.zeros(2).cuda().device.type == "cpu"
    assert torch.Tensor.cuda is original


@needs_authors_code
def test_authors_memory_code_computes_what_the_algorithm_computes():
    torch.manual_seed(0)
    x = queries_map(b=2, c=16, h=5, w=7, seed=5).double()
    upstream = queries_map(b=2, c=32, h=5, w=7, seed=6).double()
    items = torch.nn.functional.normalize(torch.rand(6, 16, dtype=torch.float64), dim=1)
    results = []
    for fn in (AuthorsCodeMemory(AUTHORS_CODE, 6, 16), authors_memory):
        xg = x.clone().requires_grad_()
        out = fn(xg, items)
        loss = (out.features * upstream).sum() + 0.1 * out.compactness + 0.1 * out.separateness
        loss.backward()
        results.append((out.features, out.compactness, out.separateness, xg.grad, out.items))
    for theirs, ours in zip(results[0][:4], results[1][:4], strict=True):
        torch.testing.assert_close(theirs, ours, rtol=1e-10, atol=1e-12)
    # their update sums into torch.zeros(M, C): float32 whatever the queries' dtype
    torch.testing.assert_close(results[0][4], results[1][4], rtol=1e-6, atol=1e-7)


@needs_authors_code
@pytest.mark.parametrize("method", ["pred", "recon"])
def test_authors_network_code_computes_what_the_algorithm_computes(method):
    """Their convAE with mnad_lite's weights: the same training pass (prediction, both
    losses, every gradient, items) and eval prediction as authors_algorithm, in float64."""
    torch.manual_seed(0)
    model = MNAD(method, in_channels=1, width=64).double().train()
    items = model.memory.items.clone()
    x = torch.rand(2, model.input_channels, 16, 16, dtype=torch.float64) * 2 - 1
    results = []
    for net in (AuthorsCodeMNAD(model, AUTHORS_CODE), AuthorsMNAD(model)):
        net = net.double().train()
        prediction, mem = net(x, items, True)
        (prediction.square().mean() + 0.1 * mem.compactness + 0.1 * mem.separateness).backward()
        name = getattr(net, "our_name", lambda n: n)
        grads = {name(n): p.grad for n, p in net.named_parameters() if p.grad is not None}
        with torch.no_grad():
            evaluated = net.eval()(x[:1], items, False)[0]
        results.append((prediction, mem, grads, evaluated))
    (p1, m1, g1, e1), (p2, m2, g2, e2) = results
    torch.testing.assert_close(p1, p2, rtol=1e-10, atol=1e-12)
    for name in ("compactness", "separateness"):
        torch.testing.assert_close(getattr(m1, name), getattr(m2, name), rtol=1e-10, atol=1e-12)
    # their update sums into torch.zeros(M, C): float32 whatever the queries' dtype
    torch.testing.assert_close(m1.items, m2.items, rtol=1e-6, atol=1e-7)
    assert g1.keys() == g2.keys()
    scale = max(float(g.abs().max()) for g in g2.values())
    for name, g in g2.items():
        torch.testing.assert_close(g1[name], g, rtol=1e-9, atol=1e-12 * scale, msg=name)
    torch.testing.assert_close(e1, e2, rtol=1e-10, atol=1e-12)


# --- every script runs (--quick) ------------------------------------------------------------

QUICK = {  # script -> (extra arguments, a line its output must have)
    "memory_bench": ([], "outputs agree with the authors' algorithm"),
    "speed": ([], "agreement, mnad_lite vs reference (channels-last)"),
    "profile_step": ([], "self CPU time per step"),
    "threads": ([], "OMP_WAIT_POLICY=PASSIVE"),
    "budget": ([], "whole epochs within the budget"),
    "data_bench": ([], "data share of a step"),
    "run_time": (["--predicted-min", "1"], "measured / predicted: x"),
    "portable": ([], "vs machine channels-last"),
}
if AUTHORS_CODE:
    QUICK["memory_bench --authors-code"] = (["--authors-code", AUTHORS_CODE], "authors-code")


@pytest.fixture(scope="module")
def quick_runs():
    """Every script with --quick, started at once in fresh processes (this checkout's
    mnad_lite first on the path), so the slowest, not the sum, sets the time."""
    root = BENCHMARKS.parent
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    procs = {}
    for name, (extra, _) in QUICK.items():
        script = BENCHMARKS / f"{name.split()[0]}.py"
        cmd = [sys.executable, str(script), "--quick", *extra]
        procs[name] = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("name", list(QUICK))
def test_benchmark_script_runs_quick(name, quick_runs):
    """A changed API breaks a script here, not on the day someone times something."""
    out, _ = quick_runs[name].communicate(timeout=600)
    assert quick_runs[name].returncode == 0, out
    assert QUICK[name][1] in out, out


def test_budget_counts_steps_validation_and_scoring():
    """budget.py's minutes: training steps on the videos not held out, the validation
    pass on the held-out ones every epoch, and scoring the test set once."""
    from budget import run_minutes

    from mnad_lite.engine.config import preset

    config = preset("lite", val_videos=2, epochs=3)  # t_length 5: 6 clips per 10 frames
    m = run_minutes(config, step_s=1.0, score_s=0.5, train=[10, 10, 10, 10], test=[10, 10])
    assert m["steps"] == 12 // 4  # 2 videos fitted on, batch 4
    assert m["epoch"] == pytest.approx((3 * 1.0 + 2 * 0.5) / 60)  # 12 val clips, 2 batches of 8
    assert m["scoring"] == pytest.approx(2 * 0.5 / 60)
    assert m["run"] == pytest.approx(3 * m["epoch"] + m["scoring"])
    no_val = run_minutes(preset("lite"), 1.0, 0.5, [10, 10, 10, 10], [10, 10])
    assert no_val["steps"] == 24 // 4 and no_val["epoch"] == pytest.approx(6 / 60)


def test_run_time_refuses_a_run_folder_that_exists(tmp_path, capsys):
    """Timing a resumed run would report part of a run: an existing --out is refused, and
    nothing in it is touched."""
    from run_time import main as run_time_main

    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    assert run_time_main(["--data", str(tmp_path), "--out", str(out)]) == 1
    assert "run: exists; give a new folder" in capsys.readouterr().out
    assert (out / "config.json").read_text() == "{}"


def test_the_time_paragraphs_state_the_committed_measurement():
    """The fast preset's measured time is typed into docs/results.md and fast-ped2.md; every
    number there is that of the committed run_time.json (docs/studies/fast-ped2-time.json)."""
    import json

    root = BENCHMARKS.parent
    record = json.loads((root / "docs/studies/fast-ped2-time.json").read_text())
    assert record["preset"] == "fast" and record["predicted_min"] is not None
    total, predicted = record["total_min"], record["predicted_min"]
    fragments = [
        f"--threads {record['threads']} --predicted-min {predicted}",
        f"{record['date']}, {record['threads']} threads, nothing else running",
        f"training {record['train_min']:.1f} minutes ({record['epochs']} epochs, median "
        f"{record['median_epoch_min']:.2f} minutes each",
        f"evaluation {record['evaluate_min']:.1f} minute",
        f"{total:.1f} minutes in all, x{total / predicted:.2f} the {predicted:.1f} minutes",
        f"{total - 45:.1f} minutes over the 45-minute budget",
        f"scored {100 * record['frame_auc']:.2f}",
    ]
    for name in ("docs/results.md", "docs/studies/fast-ped2.md"):
        text = " ".join((root / name).read_text().split())  # line breaks as spaces
        for fragment in fragments:
            assert fragment in text, f"{name}: {fragment!r}"
