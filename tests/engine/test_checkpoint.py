"""Tests for mnad_lite.checkpoint: safe, atomic checkpoints (issue 2, section 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mnad_lite.engine.checkpoint import (
    FORMAT,
    VERSION,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from mnad_lite.errors import CheckpointError, MNADError
from mnad_lite.model import MNAD

MODEL_ARGS = {"method": "pred", "in_channels": 1, "t_length": 5, "width": 4, "num_items": 6}
CONFIG = {"model": MODEL_ARGS, "lr": 2e-4, "lambda_compact": 0.1, "videos": ["01", "02"]}


def trained_model(seed=0):
    """A small model whose weights, BN statistics and items moved away from the initial ones."""
    torch.manual_seed(seed)
    model = MNAD(**MODEL_ARGS)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(2, 4, 16, 16) * 2 - 1
    out = model.train()(x)
    loss = (out.prediction - x[:, :1]).pow(2).mean() + 0.1 * out.compactness
    loss.backward()
    opt.step()
    return model, opt


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def write_payload(path, payload):
    torch.save(payload, path)
    return path


def good_payload(model):
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": CONFIG,
        "state_dict": model.state_dict(),
    }


# --- round trip ----------------------------------------------------------------------------


def test_round_trip_weights_items_config_extras(tmp_path):
    model, opt = trained_model(0)
    path = save_checkpoint(tmp_path / "ck.pt", model, CONFIG, epoch=7, optimizer=opt.state_dict())
    assert path == tmp_path / "ck.pt" and path.is_file()

    fresh, _ = trained_model(1)  # different weights and items
    assert not torch.equal(fresh.memory.items, model.memory.items)
    loaded, payload = load_checkpoint(path, fresh)
    assert loaded is fresh
    assert_same_state(loaded, model)
    assert torch.equal(loaded.memory.items, model.memory.items)
    assert payload["config"] == CONFIG
    assert payload["format"] == FORMAT and payload["version"] == VERSION
    assert payload["epoch"] == 7

    opt2 = torch.optim.Adam(fresh.parameters(), lr=1e-3)
    opt2.load_state_dict(payload["optimizer"])
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for k, state in s1["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(s2["state"][k][name]))


def test_load_without_model_builds_it_from_config(tmp_path):
    model, _ = trained_model(0)
    path = save_checkpoint(tmp_path / "ck.pt", model, CONFIG)
    loaded, payload = load_checkpoint(path)
    assert isinstance(loaded, MNAD)
    assert (loaded.method, loaded.in_channels, loaded.width) == ("pred", 1, 4)
    assert loaded.memory.num_items == 6
    assert_same_state(loaded, model)
    x = torch.rand(1, 4, 16, 24)
    torch.testing.assert_close(loaded.eval()(x).prediction, model.eval()(x).prediction)


def test_read_checkpoint_returns_payload_without_model(tmp_path):
    model, _ = trained_model(0)
    save_checkpoint(tmp_path / "ck.pt", model, CONFIG, epoch=3)
    payload = read_checkpoint(tmp_path / "ck.pt")
    assert payload["epoch"] == 3 and payload["config"] == CONFIG
    assert torch.equal(payload["state_dict"]["memory.items"], model.memory.items)


def test_save_creates_parent_folders_and_accepts_str(tmp_path):
    model, _ = trained_model(0)
    target = tmp_path / "runs" / "ped2" / "model.pt"
    save_checkpoint(str(target), model, CONFIG)
    assert target.is_file()
    load_checkpoint(str(target))


# --- atomic writes -------------------------------------------------------------------------


def test_no_temp_files_left_behind(tmp_path):
    model, _ = trained_model(0)
    save_checkpoint(tmp_path / "ck.pt", model, CONFIG)
    save_checkpoint(tmp_path / "ck.pt", model, CONFIG, epoch=2)  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]
    assert read_checkpoint(tmp_path / "ck.pt")["epoch"] == 2


def test_failed_save_keeps_old_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    """torch.save failing half-way must not touch the existing file."""
    model, _ = trained_model(0)
    path = save_checkpoint(tmp_path / "ck.pt", model, CONFIG, epoch=1)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    other, _ = trained_model(1)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, other, CONFIG, epoch=2)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(tmp_path / "new.pt", other, CONFIG)
    monkeypatch.undo()

    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]
    assert path.read_bytes() == before
    assert read_checkpoint(path)["epoch"] == 1


# --- errors ----------------------------------------------------------------------------------


def assert_checkpoint_error(path, model=None, match=None):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model)
    err = info.value
    assert isinstance(err, MNADError) and isinstance(err, ValueError)
    msg = str(err)
    assert str(path) in msg  # names the file
    if match:
        assert match in msg
    return msg


def test_missing_file(tmp_path):
    assert_checkpoint_error(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError):
        read_checkpoint(tmp_path / "nope.pt")


def test_directory_is_not_a_checkpoint(tmp_path):
    assert_checkpoint_error(tmp_path)


@pytest.mark.parametrize("content", [b"", b"garbage bytes \x00\x01\x02" * 50, b"PK\x03\x04junk"])
def test_garbage_bytes(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    assert_checkpoint_error(path)


def test_truncated_checkpoint(tmp_path):
    model, _ = trained_model(0)
    path = save_checkpoint(tmp_path / "ck.pt", model, CONFIG)
    path.write_bytes(path.read_bytes()[:200])
    assert_checkpoint_error(path)


def test_plain_state_dict_without_format_tag(tmp_path):
    model, _ = trained_model(0)
    path = write_payload(tmp_path / "plain.pt", {"state_dict": model.state_dict(), "config": {}})
    assert_checkpoint_error(path, model, match=FORMAT)
    bare = write_payload(tmp_path / "bare.pt", model.state_dict())
    assert_checkpoint_error(bare, model)
    tensor = write_payload(tmp_path / "tensor.pt", torch.zeros(3))
    assert_checkpoint_error(tensor, model)


def test_pickled_whole_module_is_refused(tmp_path):
    """The authors' torch.save(model) pickles: refused (weights_only), not loaded."""
    model, _ = trained_model(0)
    path = write_payload(tmp_path / "whole.pt", model)
    assert_checkpoint_error(path, model)


SENTINEL_CALLS = []


def _mark(path):
    """Run only if a checkpoint's pickle is executed."""
    SENTINEL_CALLS.append(path)
    Path(path).write_text("executed")
    return path


class Evil:
    def __reduce__(self):
        return (_mark, (str(self.sentinel),))

    def __init__(self, sentinel):
        self.sentinel = sentinel


def test_loading_never_executes_pickled_code(tmp_path):
    SENTINEL_CALLS.clear()
    model, _ = trained_model(0)
    sentinel = tmp_path / "sentinel.txt"
    payload = {**good_payload(model), "extra": Evil(sentinel)}
    path = write_payload(tmp_path / "evil.pt", payload)
    assert_checkpoint_error(path, model)
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
    assert not sentinel.exists() and not SENTINEL_CALLS
    # control: an unsafe load of the same file would run the code
    torch.load(path, weights_only=False)
    assert sentinel.exists()


def test_error_message_is_one_clean_line(tmp_path):
    """Errors are one line the CLI can print (errors.py): no newlines, no terminal codes."""
    model, _ = trained_model(0)
    path = write_payload(tmp_path / "whole.pt", model)
    msg = assert_checkpoint_error(path, model)
    assert "\n" not in msg
    assert msg.isprintable(), repr(msg)


def test_wrong_version(tmp_path):
    model, _ = trained_model(0)
    path = write_payload(tmp_path / "v2.pt", {**good_payload(model), "version": VERSION + 1})
    msg = assert_checkpoint_error(path, model, match="version")
    assert str(VERSION + 1) in msg
    no_version = good_payload(model)
    del no_version["version"]
    assert_checkpoint_error(write_payload(tmp_path / "v0.pt", no_version), model)


def test_missing_state_dict_or_config(tmp_path):
    model, _ = trained_model(0)
    for key in ("state_dict", "config"):
        payload = good_payload(model)
        del payload[key]
        assert_checkpoint_error(write_payload(tmp_path / f"no_{key}.pt", payload), model)


def test_weights_that_do_not_fit(tmp_path):
    model, _ = trained_model(0)
    path = save_checkpoint(tmp_path / "ck.pt", model, CONFIG)
    wider = MNAD(**{**MODEL_ARGS, "width": 8})
    assert_checkpoint_error(path, wider, match="do not fit")
    no_memory = MNAD(**{**MODEL_ARGS, "use_memory": False})
    assert_checkpoint_error(path, no_memory)


def test_config_without_model_arguments(tmp_path):
    model, _ = trained_model(0)
    path = save_checkpoint(tmp_path / "ck.pt", model, {"lr": 1e-3})
    assert_checkpoint_error(path)
    load_checkpoint(path, MNAD(**MODEL_ARGS))  # fine with an explicit model


def test_config_describing_an_impossible_model(tmp_path):
    model, _ = trained_model(0)
    bad = {"model": {**MODEL_ARGS, "method": "segment"}}
    assert_checkpoint_error(save_checkpoint(tmp_path / "a.pt", model, bad))
    unknown = {"model": {**MODEL_ARGS, "depth": 3}}
    assert_checkpoint_error(save_checkpoint(tmp_path / "b.pt", model, unknown))
    other = {"model": {**MODEL_ARGS, "width": 8}}  # builds, but the weights do not fit
    assert_checkpoint_error(save_checkpoint(tmp_path / "c.pt", model, other))


# --- the configuration is JSON-able data ---------------------------------------------------


def test_non_json_config_is_refused_at_save_time(tmp_path):
    """A config that load_checkpoint cannot read back (a Path object here) must be
    refused by save_checkpoint, before anything is written: otherwise training saves a
    checkpoint that can never be loaded."""
    model, _ = trained_model(0)
    config = {**CONFIG, "data_root": tmp_path / "ped2"}
    with pytest.raises(MNADError):
        save_checkpoint(tmp_path / "ck.pt", model, config)
    assert list(tmp_path.iterdir()) == []


def test_json_able_numpy_float_in_config_round_trips(tmp_path):
    """np.float64 is a float (json.dumps accepts it): a config holding one must load."""
    model, _ = trained_model(0)
    config = {**CONFIG, "lam": np.float64(0.6)}
    path = save_checkpoint(tmp_path / "ck.pt", model, config)
    payload = read_checkpoint(path)
    assert payload["config"]["lam"] == pytest.approx(0.6)
