"""Checkpoints: state_dict (memory items included), configuration, format version.
Written atomically, loaded with ``weights_only=True`` (loading never runs code from the
file); a missing, corrupt or foreign file raises a CheckpointError naming the file."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from mnad_lite.errors import CheckpointError
from mnad_lite.files import atomic_write

FORMAT = "mnad_lite.checkpoint"
VERSION = 1


def save_checkpoint(
    path: str | Path, model: torch.nn.Module, config: dict[str, Any], **extra: Any
) -> Path:
    """Save ``model.state_dict()``, ``config`` (JSON-able data) and ``extra`` entries."""
    path = Path(path)
    reserved = {"format", "version", "config", "state_dict"} & extra.keys()
    if reserved:
        raise CheckpointError(f"{path}: extra entries may not be named {sorted(reserved)}")
    try:  # JSON-able data only, so weights_only loading can read it back
        config = json.loads(json.dumps(config))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: config is not JSON-able data ({err})") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {"format": FORMAT, "version": VERSION, "config": config}
    payload.update(state_dict=model.state_dict(), **extra)
    with atomic_write(path, "wb") as fh:
        torch.save(payload, fh)
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The validated dict of a checkpoint: ``format``, ``version``, ``config``, ``state_dict``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path}: refused: it holds pickled objects other than tensors and plain data "
            "(e.g. a whole torch.save(model)); loading it could run code"
        ) from None
    except Exception as err:  # truncated zip, garbage bytes, a folder ...
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
        first = (text.splitlines()[0] if text else type(err).__name__)[:160]
        raise CheckpointError(f"{path}: not a readable mnad_lite checkpoint ({first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an mnad_lite checkpoint (no '{FORMAT}' format tag)")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {payload.get('version')!r}, this mnad_lite "
            f"reads version {VERSION}"
        )
    if not all(isinstance(payload.get(key), dict) for key in ("state_dict", "config")):
        raise CheckpointError(f"{path}: checkpoint lacks its state_dict or config")
    return payload


def load_checkpoint(
    path: str | Path, model: torch.nn.Module | None = None, map_location: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``(model, payload)``: the weights in ``model``, or in the MNAD the checkpoint describes."""
    payload = read_checkpoint(path, map_location)
    if model is None:
        from mnad_lite.model import MNAD

        model_args = payload["config"].get("model")
        if not isinstance(model_args, dict):
            raise CheckpointError(f"{path}: checkpoint config has no 'model' arguments")
        try:
            model = MNAD(**model_args)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{path}: cannot build the model it describes ({err})") from None
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit this model ({first[:160]})") from None
    return model, payload
