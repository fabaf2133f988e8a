"""Training: Eq. 8, determinism, resume after an interruption, model selection."""

from __future__ import annotations

import json
import math

import pytest
import torch

from mnad_lite.data.clips import split_clip
from mnad_lite.engine.checkpoint import read_checkpoint
from mnad_lite.engine.config import preset
from mnad_lite.engine.train import cosine_lr, train
from mnad_lite.errors import ConfigError
from mnad_lite.losses import total_loss
from mnad_lite.model import MNAD


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def test_quick_run_writes_its_folder(quick_data, tmp_path):
    config = preset("quick", epochs=2)
    result = train(config, quick_data, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert json.loads((run / "config.json").read_text()) == config.to_dict()
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2] == [e["epoch"] for e in result.log]
    for entry in log:
        assert {"loss", "rec", "compact", "separate", "lr", "seconds"} <= entry.keys()
        expected = entry["rec"] + 0.1 * entry["compact"] + 0.1 * entry["separate"]
        assert entry["loss"] == pytest.approx(expected, rel=1e-5)  # Eq. 8 with λ = 0.1
    assert log[1]["rec"] < log[0]["rec"]  # it learns
    saved = read_checkpoint(run / "model.pt")
    assert saved["config"]["model"] == config.model_args()
    # the memory items trained (changed by Eq. 4) and travel with the weights
    fresh = MNAD(**config.model_args())
    assert not torch.allclose(result.model.memory.items, fresh.memory.items)
    assert torch.equal(saved["state_dict"]["memory.items"], result.model.memory.items)


def test_same_seed_same_weights(quick_data, tmp_path):
    config = preset("quick", epochs=1, seed=3)
    a = train(config, quick_data, tmp_path / "a", progress=False).model
    b = train(config, quick_data, tmp_path / "b", progress=False).model
    assert_same_weights(a, b)
    c = train(preset("quick", epochs=1, seed=4), quick_data, tmp_path / "c", progress=False)
    assert not torch.equal(a.encoder.stages[0][0].weight, c.model.encoder.stages[0][0].weight)


def test_interrupted_then_resumed_equals_uninterrupted(quick_data, tmp_path):
    config = preset("quick", epochs=3)
    whole = train(config, quick_data, tmp_path / "whole", progress=False)

    def stop(info):
        if info["epoch"] == 1 and info["step"] == 3:  # Ctrl-C in the middle of epoch 2
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, quick_data, tmp_path / "cut", on_step=stop, progress=False)
    assert read_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 0
    resumed = train(config, quick_data, tmp_path / "cut", resume=True, progress=False)
    assert_same_weights(whole.model, resumed.model)
    assert [e["loss"] for e in resumed.log] == pytest.approx([e["loss"] for e in whole.log])
    # what each start ran on: one line when it started, one more when it resumed
    lines = (tmp_path / "cut" / "provenance.jsonl").read_text().splitlines()
    starts = [json.loads(line) for line in lines]
    assert [p["start_epoch"] for p in starts] == [0, 1]
    for p in starts:
        assert p["threads"] == torch.get_num_threads() and p["device"] == "cpu"
        assert p["torch"] == torch.__version__
        assert p["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
        assert {"date", "machine", "cores", "python", "commit", "modified"} <= p.keys()
        assert p["reproducible"] == "machine"
    # a finished run started again trains nothing and adds no line
    train(config, quick_data, tmp_path / "cut", resume=True, progress=False)
    assert len((tmp_path / "cut" / "provenance.jsonl").read_text().splitlines()) == 2


def test_existing_run_is_not_overwritten(quick_data, tmp_path):
    config = preset("quick", epochs=1)
    train(config, quick_data, tmp_path / "run", progress=False)
    before = (tmp_path / "run" / "model.pt").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run"):
        train(config, quick_data, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "model.pt").read_bytes() == before
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(config, quick_data, tmp_path / "empty", resume=True, progress=False)


def test_validation_selects_without_test_labels(quick_data, tmp_path):
    config = preset("quick", epochs=3, val_videos=1)
    result = train(config, quick_data, tmp_path / "run", progress=False)
    vals = [e["val_mse"] for e in result.log]
    best = min(range(3), key=lambda i: vals[i])
    assert read_checkpoint(tmp_path / "run" / "model.pt")["epoch"] == best
    with pytest.raises(ConfigError, match="leaves no training video"):
        train(preset("quick", val_videos=99), quick_data, tmp_path / "x", progress=False)


@pytest.mark.parametrize("method,memory", [("recon", True), ("pred", False)])
def test_variants_train(quick_data, tmp_path, method, memory):
    config = preset("quick", epochs=1, method=method, use_memory=memory)
    result = train(config, quick_data, tmp_path / "run", progress=False)
    assert result.model.method == method and (result.model.memory is not None) == memory
    if method == "recon":
        assert config.lambda_compact == 0.01 and config.lambda_score == 0.7
        assert config.gamma == 0.015


def test_split_clip_and_loss_terms():
    clip = torch.arange(2 * 5 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 5, 1, 8, 8)
    x, target = split_clip(clip, "pred")
    assert x.shape == (2, 4, 8, 8) and torch.equal(x[:, 3], clip[:, 3, 0])
    assert torch.equal(target, clip[:, 4])
    x, target = split_clip(clip[:, :1], "recon")
    assert torch.equal(x, target)
    config = preset("quick")
    model = MNAD(**config.model_args()).train()
    out = model(torch.zeros(2, 4, 32, 48))
    terms = total_loss(
        out, torch.zeros(2, 1, 32, 48), config.lambda_compact, config.lambda_separate
    )
    manual = (out.prediction**2).mean() + 0.1 * out.compactness + 0.1 * out.separateness
    torch.testing.assert_close(terms["loss"], manual)


def test_preset_overrides_keep_explicit_none():
    assert preset("quick").max_steps == 8
    assert preset("quick", max_steps=None).max_steps is None
    assert preset("paper").size == (256, 256) and preset("paper").channels == 3
    with pytest.raises(ConfigError, match="unknown configuration fields: colour"):
        preset("lite", colour=1)


def test_resume_with_more_epochs_continues_the_longer_schedule(quick_data, tmp_path):
    """2 epochs, then resumed to 4: the last two follow the cosine of a 4-epoch run, and
    the log records the rate each epoch trained with (issue 8: one epoch ran at lr 0)."""
    config = preset("quick", epochs=2, lr=1e-3)
    train(config, quick_data, tmp_path / "run", progress=False)
    longer = preset("quick", epochs=4, lr=1e-3)
    result = train(longer, quick_data, tmp_path / "run", resume=True, progress=False)
    lrs = [e["lr"] for e in result.log]
    assert lrs == pytest.approx([1e-3, 5e-4, 5e-4, 1e-3 * (1 + math.cos(3 * math.pi / 4)) / 2])
    assert all(lr > 0 for lr in lrs)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] == 4


def test_logged_lr_is_the_rate_the_epoch_trained_with(quick_data, tmp_path):
    seen: list[float] = []
    config = preset("quick", epochs=3, lr=1e-3, max_steps=1)
    model_lr = []

    def record(entry):
        seen.append(entry["epoch"])

    result = train(config, quick_data, tmp_path / "run", on_step=record, progress=False)
    model_lr = [cosine_lr(1e-3, e, 3) for e in range(3)]
    assert [e["lr"] for e in result.log] == pytest.approx(model_lr)
    assert model_lr[0] == 1e-3 and model_lr[-1] > 0  # the last epoch does not train at 0
    assert seen == [0, 1, 2]


def test_log_has_memory_diagnostics(quick_data, tmp_path):
    result = train(preset("quick", epochs=1), quick_data, tmp_path / "run", progress=False)
    entry = result.log[0]
    assert 1 <= entry["items_used"] <= 10
    assert 0 <= entry["usage_entropy"] <= math.log(10) + 1e-9
    assert -1 <= entry["cos_nearest"] <= 1 and 0.1 <= entry["max_read_weight"] <= 1
    no_memory = train(
        preset("quick", epochs=1, use_memory=False), quick_data, tmp_path / "nm", progress=False
    )
    assert "items_used" not in no_memory.log[0]
