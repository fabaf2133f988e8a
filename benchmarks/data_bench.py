"""Does data loading ever make training wait? Clips/s of the loader against the training step.

    python benchmarks/data_bench.py [--data DIR] [--videos 2] [--preset lite] [--threads 1]
                                    [--quick]

Times, on the training videos of ``DIR`` (any layout ``mnad_lite.data.open_dataset``
reads; default: the small synthetic set generated into a temporary folder):

* ``ClipDataset``: mnad_lite's clips through its frame cache, which
  :meth:`~mnad_lite.data.clips.ClipDataset.preload` fills first (every video decoded once
  into a memory-mapped file; that one-off cost is printed), so a clip is a copy out of
  uint8 frames;
* ``per-sample decoding``: the same clips decoded from their image files on every
  access (each of the t_length frames read, resized and scaled per clip, as a loader
  that keeps no frames in memory does);

both through the training ``DataLoader`` (batch of the preset, shuffled, in this process:
``num_workers=0``), in clips per second, interleaved; and one training step of the
preset's network (channels-last, as ``train`` runs it) in clips per second, so that the
share of a step spent waiting for data can be read off: ``step clips/s / loader clips/s``.
Only image-folder videos can be decoded per sample; a video-file source is refused.
``--quick``: the quick preset, two batches once (a smoke test; ``tests/benchmarks``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from timing import header, interleaved, set_threads, training_step
from torch.utils.data import DataLoader, Dataset

from mnad_lite.data import ClipDataset, FrameCache, generate, open_dataset
from mnad_lite.data.frames import read_image, resize
from mnad_lite.engine.config import preset
from mnad_lite.model import MNAD


class PerSampleClips(Dataset):
    """The clips of a :class:`ClipDataset`, decoded from the image files on every access."""

    def __init__(self, clips: ClipDataset) -> None:
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> torch.Tensor:
        v, t = self.clips.index[i]
        paths = self.clips.videos[v].frame_paths[t - self.clips.t_length + 1 : t + 1]
        frames = [resize(read_image(p, self.clips.channels), self.clips.size) for p in paths]
        clip = np.stack(frames).transpose(0, 3, 1, 2).astype(np.float32)  # [L, C, H, W]
        return torch.from_numpy(clip / np.float32(127.5) - np.float32(1.0))


def clips_per_second(loader: DataLoader, batches: int) -> float:
    tic, n = time.perf_counter(), 0
    for i, batch in enumerate(loader):
        n += batch.shape[0]
        if i + 1 >= batches:
            break
    return n / (time.perf_counter() - tic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="dataset root (default: synthetic, generated)")
    parser.add_argument("--videos", type=int, default=2, help="training videos to use")
    parser.add_argument("--preset", default="lite")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--batches", type=int, default=20, help="batches per timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="quick preset, once")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.batches, args.repeats = "quick", 2, 1
    threads = set_threads(args.threads)
    config = preset(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data) if args.data else generate(Path(tmp) / "synthetic", "quick")
        videos = list(open_dataset(root).train)[: args.videos]
        if not all(v.frame_paths for v in videos):
            raise SystemExit("per-sample decoding needs image-folder videos")
        cache = FrameCache(Path(tmp) / "frames")  # decoded once, memory-mapped
        clips = ClipDataset(videos, config.t_length, config.size, config.channels, cache)
        tic = time.perf_counter()
        clips.preload()
        decode_s = time.perf_counter() - tic
        frames = sum(clips.frame_counts)
        header(
            f"data: {len(videos)} videos, {frames} frames, {len(clips)} clips of "
            f"{config.t_length} x {config.channels}x{config.size[0]}x{config.size[1]}",
            threads,
        )
        print(f"  ClipDataset.preload (decode every frame once): {decode_s:.2f} s")
        per_sample = PerSampleClips(clips)
        torch.testing.assert_close(per_sample[len(clips) // 2], clips[len(clips) // 2])

        def loader(ds: Dataset) -> DataLoader:
            gen = torch.Generator().manual_seed(0)
            return DataLoader(ds, batch_size=config.batch_size, shuffle=True, generator=gen)

        rates: dict[str, list[float]] = {"ClipDataset": [], "per-sample decoding": []}
        for _ in range(args.repeats):  # interleaved
            rates["ClipDataset"].append(clips_per_second(loader(clips), args.batches))
            rates["per-sample decoding"].append(clips_per_second(loader(per_sample), args.batches))
        fast = float(np.median(rates["ClipDataset"]))
        slow = float(np.median(rates["per-sample decoding"]))

        model = MNAD(**config.model_args()).train().to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr)
        batch = next(iter(loader(clips)))
        x = batch[:, :-1].flatten(1, 2).contiguous(memory_format=torch.channels_last)
        y = batch[:, -1]

        def step() -> None:
            training_step(model, opt, x, y)  # Eq. 8

        t = interleaved({"step": step}, args.repeats, warmup=1)["step"].wall_median
        train = config.batch_size / t
    print(f"  loader, ClipDataset        : {fast:9.1f} clips/s (median of {args.repeats})")
    print(
        f"  loader, per-sample decoding: {slow:9.1f} clips/s   x{fast / slow:.1f} for ClipDataset"
    )
    print(f"  training step ({args.preset}) : {train:9.1f} clips/s")
    print(
        f"  data share of a step: {100 * train / fast:.2f}% with ClipDataset, "
        f"{100 * train / slow:.1f}% decoding per sample (num_workers=0, same process)"
    )


if __name__ == "__main__":
    main()
