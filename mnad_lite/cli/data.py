"""``python -m mnad_lite data {synth,from-video,info}``: the data command line.

Each handler parses nothing itself: it calls one package function and prints what was
written where. Errors are :class:`~mnad_lite.errors.DataError` (one line, exit status 2).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def size_arg(text: str) -> tuple[int, int]:
    """An argparse type: ``"256x256"`` -> ``(256, 256)`` (:func:`mnad_lite.engine.config.
    parse_size`)."""
    from mnad_lite.engine.config import parse_size

    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command and its three subcommands to the top-level parser."""
    data = subparsers.add_parser(
        "data",
        help="make, import and inspect datasets",
        description="Make a synthetic dataset, import your own video, inspect a dataset.",
    )
    sub = data.add_subparsers(dest="data_command", required=True)

    p = sub.add_parser("synth", help="generate the synthetic Ped2-like benchmark")
    p.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    p.add_argument("--preset", choices=("quick", "default"), default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace existing frames")
    p.add_argument(
        "--preview",
        type=Path,
        metavar="PNG",
        help="also save a normal/anomalous frame picture here",
    )
    p.set_defaults(handler=cmd_synth)

    p = sub.add_parser("from-video", help="extract a video's frames into the native layout")
    p.add_argument("video", type=Path, help="a video file (.mp4, .avi ...)")
    p.add_argument("--out", required=True, type=Path, help="dataset folder (created if needed)")
    p.add_argument("--split", required=True, choices=("training", "testing"))
    p.add_argument("--name", help="video name (default: the file name without extension)")
    p.add_argument("--start", type=int, default=0, help="first source frame (inclusive)")
    p.add_argument("--end", type=int, default=None, help="last source frame (exclusive)")
    p.add_argument("--every", type=int, default=1, help="keep one frame in K")
    p.add_argument("--size", type=size_arg, metavar="HxW", help="resize, e.g. 240x360")
    p.add_argument("--overwrite", action="store_true", help="replace this video's frames")
    p.set_defaults(handler=cmd_from_video)

    p = sub.add_parser("info", help="summarise a dataset: videos, frames, labels, masks")
    p.add_argument("root", type=Path, help="dataset folder (any supported layout)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--check",
        action="store_true",
        help="also decode every frame, to find unreadable or odd-sized ones",
    )
    p.set_defaults(handler=cmd_info)


def cmd_synth(args: argparse.Namespace) -> int:
    from mnad_lite.data import synthetic
    from mnad_lite.data.layouts import open_dataset
    from mnad_lite.data.picture import preview

    tic = time.perf_counter()
    out = synthetic.generate(args.out, args.preset, args.seed, args.overwrite)
    info = open_dataset(out).info()
    print(
        f"wrote {info['train_videos']} training videos ({info['train_frames']} frames) and "
        f"{info['test_videos']} test videos ({info['test_frames']} frames, "
        f"{info['anomalous_frames']} anomalous) to {out} "
        f"in {time.perf_counter() - tic:.1f} s (preset {args.preset}, seed {args.seed})"
    )
    if args.preview:
        print(f"preview: {preview(out, args.preview)}")
    return 0


def cmd_from_video(args: argparse.Namespace) -> int:
    from mnad_lite.data.frames import read_image
    from mnad_lite.data.layouts import list_frames
    from mnad_lite.data.video import extract_frames

    folder = extract_frames(
        args.video,
        args.out,
        args.split,
        name=args.name,
        start=args.start,
        end=args.end,
        every=args.every,
        size=args.size,
        overwrite=args.overwrite,
    )
    files = list_frames(folder)
    h, w = read_image(files[0], 1).shape[:2]
    print(f"wrote {len(files)} frames ({h}x{w}) from {args.video} to {folder}")
    if args.split == "testing":
        print(
            f"label it: add rows video,start,end (0-based, inclusive) for {folder.name} "
            f"to {Path(args.out) / 'testing' / 'labels.csv'}"
        )
    return 0


def _size(hw: list[int] | None) -> str:
    return f"{hw[0]}x{hw[1]}" if hw else "mixed"


def cmd_info(args: argparse.Namespace) -> int:
    from mnad_lite.data.layouts import open_dataset

    ds = open_dataset(args.root)
    if args.check:
        for v in ds.train + ds.test:
            v.decode(channels=1)  # raises DataError naming the first bad frame
    info = ds.info()
    if args.json:
        print(json.dumps(info))
        return 0
    sizes = ", ".join(_size(s) for s in info["frame_sizes"])
    print(f"dataset   {info['root']} ({info['layout']} layout, frames {sizes})")
    print(f"training  {info['train_videos']:>4} videos {info['train_frames']:>8} frames")
    print(f"testing   {info['test_videos']:>4} videos {info['test_frames']:>8} frames")
    if info["anomalous_frames"] is not None:
        print(
            f"labels    {info['label_source']}: {info['anomalous_frames']} anomalous frames "
            f"({100 * info['anomalous_fraction']:.1f}% of the test frames)"
        )
    elif info["test_videos"]:
        print("labels    none found")
    print(f"masks     {'yes' if info['masks'] else 'no'}")
    if info["events"]:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(info["events"].items()))
        print(f"events    {sum(info['events'].values())} ({kinds})")
    if args.check:
        print("check     every frame decodes")
    return 0
