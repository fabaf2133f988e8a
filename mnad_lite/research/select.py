"""Choosing among trained runs without test labels: held-out error at one resolution.

Runs that hold out training videos (``val_videos > 0``) are compared by how well they
predict those videos' frames, which are normal by construction (training data) and were
never trained on. Runs at different input sizes see different pixels, so each run's
prediction Î_t and target I_t are first brought to one common size by area averaging
(``F.interpolate(mode="area")``), gray (channel mean), and compared there:

    e = mean over held-out clips and pixels of (Î_t - I_t)^2   at ``size``

The run with the lowest ``e`` is chosen. No test video and no label is read. This is
a choice rule beyond the paper (which reports one configuration).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mnad_lite.errors import ConfigError

#: The common resolution of the comparison (the ``lite`` preset's input size).
COMMON_SIZE = (128, 128)


def _open(data: str | Path | Any) -> Any:
    from mnad_lite.data import open_dataset

    return open_dataset(data) if isinstance(data, (str, Path)) else data


@torch.no_grad()
def held_out_error(
    run: str | Path, data: str | Path | Any, size: tuple[int, int] = COMMON_SIZE
) -> float:
    """Mean squared prediction error ``e`` of ``run``'s selected model on the training
    videos it held out, with prediction and target area-averaged to ``size`` (gray).

    Raises a one-line :class:`~mnad_lite.errors.ConfigError` when the run held out no
    training video (nothing unseen to compare on).
    """
    from mnad_lite.alerts.calibration import calibration_videos
    from mnad_lite.data import ClipDataset, split_clip
    from mnad_lite.engine.inference import load_run
    from mnad_lite.engine.runtime import to_layout

    model, config = load_run(run)
    dataset = _open(data)
    videos, source = calibration_videos(dataset, config)  # the videos training held out
    if source != "val_videos":
        raise ConfigError(
            f"{Path(run) / 'config.json'}: val_videos={config.val_videos} holds out no "
            f"training video of {len(dataset.train)}; held-out error needs 0 < val_videos "
            f"< {len(dataset.train)}"
        )
    clips = ClipDataset(videos, config.t_length, config.size, config.channels)
    total, count = 0.0, 0
    model.eval()
    for clip in DataLoader(clips, batch_size=config.eval_batch_size):
        x, target = split_clip(clip, config.method)
        prediction = model(to_layout(x, config.channels_last), update_memory=False).prediction
        pair = torch.stack([prediction.float(), target.float()]).mean(dim=2, keepdim=True)
        pair = F.interpolate(pair.flatten(0, 1), size=size, mode="area")
        p, t = pair.chunk(2)
        total += float(((p - t) ** 2).sum())
        count += t.numel()
    return total / max(count, 1)


def choose(
    runs: Mapping[str, str | Path], data: str | Path | Any, size: tuple[int, int] = COMMON_SIZE
) -> tuple[str, dict[str, float]]:
    """(name of the run with the lowest :func:`held_out_error`, every run's error)."""
    if not runs:
        raise ConfigError("choose: no runs to choose from")
    dataset = _open(data)  # listed once for every run
    errors = {name: held_out_error(run, dataset, size) for name, run in runs.items()}
    return min(errors, key=errors.__getitem__), errors


def choose_in_study(
    out: str | Path, data: str | Path | Any, size: tuple[int, int] = COMMON_SIZE
) -> dict[str, Any]:
    """:func:`choose` among a study's trained variants, each by its first seed's run.

    Every variant that trains (not one reusing another's weights) must have finished
    that run. Writes and returns ``out/choice.json``: the common ``size``, the seed,
    every variant's ``held_out_error`` and the ``chosen`` variant.
    """
    from mnad_lite.files import write_json
    from mnad_lite.research.grids import run_dir, stored_spec

    out = Path(out)
    spec = stored_spec(out)
    runs = {}
    for variant in spec.variants:
        if variant.weights_from is not None:
            continue
        seed = spec.seeds_of(variant)[0]
        run = run_dir(out, variant, seed)
        if not (run / "eval.json").is_file():
            raise ConfigError(f"{run}: not finished; every candidate's run must be")
        runs[variant.name] = run
    chosen, errors = choose(runs, data, size)
    choice = {
        "rule": "lowest held-out error (mnad_lite.research.select), no test labels",
        "size": list(size),
        "runs": {name: str(run.relative_to(out)) for name, run in runs.items()},
        "held_out_error": errors,
        "chosen": chosen,
    }
    write_json(out / "choice.json", choice)
    return choice
