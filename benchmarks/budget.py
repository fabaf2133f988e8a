"""What a wall-clock budget buys: training and scoring time of candidate configurations.

    python benchmarks/budget.py [--grid docs/studies/fast-ped2.json] [--threads 2]
                                [--repeats 5] [--budget-min 45] [--data DIR] [--quick]

For every variant of a study grid (its preset, base and ``train`` overrides; the
default grid is issue 9's part 4, ``docs/studies/fast-ped2.json``) this times, in one
process and interleaved (``timing.interleaved``), one training step (Eq. 8, backward,
Adam; channels-last as the config says) on a random batch of the variant's shape, and
one batched scoring forward (eval mode, ``eval_batch_size`` frames, the test-time
memory update on). From the clips of the dataset's videos it prints,
per variant, the predicted minutes of one epoch, of the whole run (its ``epochs``,
plus scoring the test set once) and the most whole epochs that fit ``--budget-min``.
An epoch is the training steps plus the validation pass over the ``val_videos`` held
out. Frames per video come from ``--data`` (a dataset root in any layout mnad_lite
reads) or, without it, from UCSD Ped2's published sizes (16 training videos of 2,550
frames, 12 test videos of 2,010 frames; MNAD.md section 7) spread evenly.

Timings are medians of the wall clock on this machine and only mean something with
nothing else running (stop any training first). The ratio column is against the first
variant. No frames are read and no labels are seen: the prediction is about time only.
``--quick`` times the quick preset once (a smoke test that the script runs).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from timing import header, interleaved, set_threads, training_step

from mnad_lite.engine.config import Config
from mnad_lite.engine.runtime import to_layout
from mnad_lite.model import MNAD
from mnad_lite.research.grids import load_grid

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GRID = ROOT / "docs" / "studies" / "fast-ped2.json"
#: UCSD Ped2's published sizes (MNAD.md section 7): videos and frames of each split.
PED2_TRAIN, PED2_TEST = (16, 2550), (12, 2010)


def video_lengths(data: str | None) -> tuple[list[int], list[int]]:
    """Frames per training and per test video: the dataset's, or Ped2's sizes spread
    evenly over its videos (an approximation, without ``--data``)."""
    if data is None:
        return [
            [frames // videos + (i < frames % videos) for i in range(videos)]
            for videos, frames in (PED2_TRAIN, PED2_TEST)
        ]
    from mnad_lite.data import open_dataset

    ds = open_dataset(data)
    return [v.num_frames for v in ds.train], [v.num_frames for v in ds.test]


def run_minutes(
    config: Config, step_s: float, score_s: float, train: list[int], test: list[int]
) -> dict[str, float]:
    """Predicted minutes of one epoch (training steps, then the validation pass on the
    ``val_videos`` held out of ``train``) and of the whole run (+ scoring ``test`` once).

    Args:
        step_s: seconds per training step; score_s: seconds per scoring forward of
            ``eval_batch_size`` clips; train, test: frames per video.
    """

    def clips(lengths: list[int]) -> int:
        return sum(max(n - (config.t_length - 1), 0) for n in lengths)

    held = config.val_videos if 0 < config.val_videos < len(train) else 0
    fit_on, val = (train[:-held], train[-held:]) if held else (train, [])
    steps = clips(fit_on) // config.batch_size
    if config.max_steps is not None:
        steps = min(steps, config.max_steps)
    val_batches = math.ceil(clips(val) / config.eval_batch_size)
    epoch = (steps * step_s + val_batches * score_s) / 60
    scoring = math.ceil(clips(test) / config.eval_batch_size) * score_s / 60
    return {
        "steps": steps,
        "epoch": epoch,
        "scoring": scoring,
        "run": config.epochs * epoch + scoring,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", default=str(DEFAULT_GRID), help="a study grid (.json)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget-min", type=float, default=45.0)
    parser.add_argument("--data", help="count clips in this dataset (default: Ped2's sizes)")
    parser.add_argument("--quick", action="store_true", help="quick preset, once: a smoke test")
    args = parser.parse_args(argv)

    if args.quick:
        spec = load_grid("quick")
        spec.variants = spec.variants[:2]
        args.repeats, args.threads = 1, 1
    else:
        spec = load_grid(args.grid)
    threads = set_threads(args.threads)
    header("budget: training step and batched scoring", threads)
    train, test = video_lengths(args.data)
    torch.manual_seed(0)
    configs = {
        v.name: spec.config(v, spec.seeds[0]) for v in spec.variants if v.weights_from is None
    }
    step_fns, score_fns = {}, {}
    for name, config in configs.items():
        step_fns[name], score_fns[name] = _runners(config)
    steps = interleaved(step_fns, args.repeats, warmup=1 if args.quick else 2)
    scores = interleaved(score_fns, args.repeats, warmup=1)
    first = next(iter(configs))
    print(
        f"budget {args.budget_min:g} min; training {sum(train)} frames in {len(train)} "
        f"videos, test {sum(test)} frames in {len(test)} videos"
    )
    print(
        f"{'variant':<22} {'size':>9} {'width':>5} {'s/step':>7} {'ratio':>6} "
        f"{'min/epoch':>9} {'epochs':>6} {'run min':>8} {'fit':>4} {'fit min':>8}"
    )
    for name, config in configs.items():
        step_s, score_s = steps[name].wall_median, scores[name].wall_median
        m = run_minutes(config, step_s, score_s, train, test)
        fit = max(0, math.floor((args.budget_min - m["scoring"]) / m["epoch"]))
        fit_min = fit * m["epoch"] + m["scoring"]
        ratio = step_s / steps[first].wall_median
        size = "x".join(map(str, config.size))
        print(
            f"{name:<22} {size:>9} {config.width:>5} {step_s:7.3f} {ratio:6.2f} "
            f"{m['epoch']:9.2f} {config.epochs:>6} {m['run']:8.1f} {fit:>4} {fit_min:8.1f}"
        )
    print(
        "ratio: seconds per training step against the first variant; fit: whole epochs "
        "within the budget after scoring the test set once, fit min: their predicted minutes"
    )
    sys.stdout.flush()


def _runners(config: Config):
    """A training-step and a scoring-forward closure for ``config``'s shapes."""
    model = MNAD(**config.model_args())
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    frames = config.t_length - 1 if config.method == "pred" else 1
    h, w = config.size
    x = torch.rand(config.batch_size, frames * config.channels, h, w)
    y = torch.rand(config.batch_size, config.channels, h, w)
    xs = to_layout(
        torch.rand(config.eval_batch_size, frames * config.channels, h, w), config.channels_last
    )
    x = to_layout(x, config.channels_last)
    lc, ls = config.lambda_compact, config.lambda_separate

    def step() -> None:
        model.train()
        training_step(model, optimizer, x, y, lc or 0.0, ls or 0.0)

    @torch.no_grad()
    def score() -> None:
        model.eval()
        model(xs, update_memory=config.use_memory and config.test_update)

    return step, score


if __name__ == "__main__":
    main()
