"""The native layout: :func:`open_dataset` finds a dataset on disk, its labels and masks.

:func:`open_dataset` recognises a folder's layout (native, else the UCSD or CUHK Avenue
release: :mod:`.benchmark_layouts`) and decodes one frame per video (for its size). Frames
are ordered naturally (``9.jpg`` before ``10.jpg``); they need not start at 0 nor be
zero-padded, but a gap in their numbers is an error.

Native layout (the "Future Frame Prediction" release, what ``data synth`` and
``data from-video`` write; also ShanghaiTech as commonly distributed)::

    ROOT/
    ├── training/
    │   ├── frames/<video>/000.jpg 001.jpg ...    (or videos/<video>.avi: ShanghaiTech)
    ├── testing/
    │   ├── frames/<video>/000.jpg ...
    │   ├── labels.csv                            video,start,end (0-based, inclusive)
    │   ├── masks/<video>/000.png ...             optional pixel masks (0 = background)
    │   ├── test_frame_mask/<video>.npy           ShanghaiTech frame labels
    │   └── test_pixel_mask/<video>.npy           ShanghaiTech pixel masks [T, H, W]
    ├── ped2.mat                                  or any *.mat with a gt cell (1-based)
    ├── UCSDped2.m / frame_labels_ped2.npy        other label sources
    └── manifest.json                             synthetic data: events by kind

Frame labels, uint8 0/1 ``[T]`` per test video (1 = anomalous), come from ``labels.csv``:
the project's own, human-editable format, one anomalous interval per row (``01,60,179``),
**0-based inclusive** indices in sorted-file order; a test video without a row is normal
throughout. Without it, the public benchmarks' files are looked for
(:mod:`.benchmark_labels`). Pixel masks, bool ``[T, H, W]``, load on first use.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np

from mnad_lite.data.dataset import AnomalyDataset, Event, Video
from mnad_lite.data.frames import IMAGE_EXTS, natural_key, read_image
from mnad_lite.errors import DataError

SPLITS = ("training", "testing")
Labels = list[np.ndarray]
MaskLoader = Callable[[], np.ndarray]


def visible(p: Path) -> bool:
    """False for hidden files and folders (.DS_Store, macOS's ._001.tif ...)."""
    return not p.name.startswith(".")


def list_frames(folder: Path) -> list[Path]:
    """The image files of a video folder in natural order; DataError when there is none or
    when numbered names repeat or skip a number."""
    files = [
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and visible(p) and p.is_file()
    ]
    if not files:
        raise DataError(f"{folder}: no frames (.jpg, .png, .bmp or .tif files)")
    files.sort(key=lambda p: natural_key(p.name))
    matches = [re.match(r"^(.*?)(\d+)$", p.stem) for p in files]
    if not all(matches) or len({m.group(1) for m in matches}) != 1:
        return files  # not a numbered sequence: natural order is all we can do
    numbers = [int(m.group(2)) for m in matches]
    width = len(matches[0].group(2)) if matches[0].group(2).startswith("0") else 0
    for (a, m), (b, n) in pairwise(zip(files, numbers, strict=True)):  # equal ones sort together
        if m == n:
            raise DataError(f"{folder}: {a.name} and {b.name} have the same number {n}")
    missing = sorted(set(range(min(numbers), max(numbers) + 1)) - set(numbers))
    if missing:
        prefix = matches[0].group(1)
        shown = ", ".join(f"{prefix}{n:0{width}d}" for n in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        noun = "frame" if len(missing) == 1 else "frames"
        raise DataError(f"{folder}: {noun} {shown}{more} missing from the numbering")
    return files


def image_video(folder: Path, split: str, name: str | None = None) -> Video:
    """A folder of frames (decodes the first frame for its size)."""
    paths = list_frames(folder)
    h, w = read_image(paths[0], 1).shape[:2]
    return Video(name or folder.name, split, folder, len(paths), (h, w), frame_paths=paths)


def subdirs(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and visible(p)),
        key=lambda p: natural_key(p.name),
    )


def read_labels_csv(path: Path, names: Sequence[str], counts: Sequence[int]) -> Labels:
    """Labels from ``labels.csv``; DataError naming the file and line of a bad row."""
    labels = [np.zeros(n, dtype=np.uint8) for n in counts]
    index = {name: i for i, name in enumerate(names)}
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a BOM from spreadsheets
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot be read ({err})") from None
    rows = [
        (n, row)
        for n, row in enumerate(csv.reader(text.splitlines()), start=1)
        if row and any(c.strip() for c in row) and not row[0].lstrip().startswith("#")
    ]
    if not rows:
        raise DataError(f"{path}: empty, expected a header video,start,end")
    header = [c.strip().lower() for c in rows[0][1]]
    if not {"video", "start", "end"} <= set(header):
        raise DataError(f"{path}: header must be video,start,end, found {','.join(header)}")
    col = {k: header.index(k) for k in ("video", "start", "end")}
    for line, row in rows[1:]:
        where = f"{path} line {line}"
        if len(row) < len(header):
            raise DataError(f"{where}: expected {len(header)} columns, found {len(row)}")
        video = row[col["video"]].strip()
        i = index.get(video)
        if i is None and video.isdigit():  # "1" for "01", as spreadsheets write it
            same = [j for j, n in enumerate(names) if n.isdigit() and int(n) == int(video)]
            i = same[0] if len(same) == 1 else None
        if i is None:
            raise DataError(f"{where}: video {video!r} is not one of the test videos")
        try:
            start, end = int(row[col["start"]]), int(row[col["end"]])
        except ValueError:
            raise DataError(f"{where}: start and end must be integers") from None
        n = counts[i]
        if not 0 <= start <= end < n:
            raise DataError(
                f"{where}: interval {start}-{end} is outside frames 0..{n - 1} of video {video}"
            )
        labels[i][start : end + 1] = 1
    return labels


def read_mask(path: Path) -> np.ndarray:
    """One mask image as bool [H, W] (True where not 0); DataError if it does not decode."""
    return read_image(path, 1, "a mask image")[..., 0] > 0


def png_mask_loader(folder: Path, frame_paths: Sequence[Path], hw: tuple[int, int]) -> MaskLoader:
    """Native masks: ``folder/<frame stem>.png`` (0 background); a missing file = no anomaly."""

    def load() -> np.ndarray:
        out = np.zeros((len(frame_paths), *hw), dtype=bool)
        files = {p.stem: p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS}
        for t, frame in enumerate(frame_paths):
            path = files.get(frame.stem)
            if path is not None:
                m = read_mask(path)
                if m.shape != tuple(hw):
                    raise DataError(
                        f"{path}: mask is {m.shape[0]}x{m.shape[1]}, frames are {hw[0]}x{hw[1]}"
                    )
                out[t] = m
        return out

    return load


def _native_split(root: Path, split: str) -> list[Video] | None:
    frames_dir, videos_dir = root / split / "frames", root / split / "videos"
    if frames_dir.is_dir():
        dirs = subdirs(frames_dir)
        if not dirs:
            raise DataError(f"{frames_dir}: no video folders")
        return [image_video(d, split) for d in dirs]
    if videos_dir.is_dir():
        from mnad_lite.data.video import folder_videos

        return folder_videos(videos_dir, split)
    return None


def _native_masks(root: Path, test: list[Video]) -> None:
    for v in test:
        pngs = root / "testing" / "masks" / v.name
        npy = root / "testing" / "test_pixel_mask" / f"{v.name}.npy"  # ShanghaiTech's
        if pngs.is_dir() and v.frame_paths:
            v._mask_loader = png_mask_loader(pngs, v.frame_paths, v.frame_size)
        elif npy.is_file():
            from mnad_lite.data.benchmark_labels import npy_mask_loader

            v._mask_loader = npy_mask_loader(npy, v.num_frames, v.frame_size)


def read_manifest(path: Path) -> list[Event]:
    """The events of a synthetic dataset's ``manifest.json`` (empty if there is none)."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [
            Event(
                video=str(e["video"]),
                kind=str(e["kind"]),
                start=int(e["start"]),
                end=int(e["end"]),
                boxes={int(k): [int(c) for c in b] for k, b in e.get("boxes", {}).items()},
            )
            for e in data.get("events", [])
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise DataError(f"{path}: not a valid manifest ({err})") from None


def build_dataset(
    root: Path,
    layout: str,
    train: list[Video],
    test: list[Video],
    search_dirs: Sequence[Path] = (),
    events: list[Event] | None = None,
) -> AnomalyDataset:
    """The dataset of these videos, its test videos labelled (the module docstring says from
    where; ``search_dirs``: see :func:`.benchmark_labels.find_benchmark_labels`); DataError
    when there is no video or the labels are unusable."""
    if not train and not test:
        raise DataError(f"{root}: no videos found")
    source = None
    if test:
        names, counts = [v.name for v in test], [v.num_frames for v in test]
        path = root / "testing" / "labels.csv"
        if path.is_file():
            source, labels = "testing/labels.csv", read_labels_csv(path, names, counts)
        else:
            from mnad_lite.data.benchmark_labels import find_benchmark_labels

            source, labels = find_benchmark_labels(root, names, counts, search_dirs)
        for v, lab in zip(test, labels or [None] * len(test), strict=True):
            v._labels = lab
    return AnomalyDataset(root, layout, train, test, source, events)


def open_dataset(root: str | Path) -> AnomalyDataset:
    """Open a dataset folder in any supported layout; DataError (one line, naming the file)
    for a missing or empty folder, a gap in the frame numbering, unusable labels and the like."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    if not any(root.iterdir()):
        raise DataError(f"{root}: folder is empty")
    if any((root / s / sub).is_dir() for s in SPLITS for sub in ("frames", "videos")):
        train = _native_split(root, "training") or []
        test = _native_split(root, "testing") or []
        _native_masks(root, test)
        events = read_manifest(root / "manifest.json")
        return build_dataset(root, "native", train, test, (), events)
    from mnad_lite.data.benchmark_layouts import open_avenue, open_ucsd, ucsd_base

    if (root / "training_videos").is_dir() or (root / "testing_videos").is_dir():
        return open_avenue(root)
    if ucsd_base(root) is not None:
        return open_ucsd(root)
    raise DataError(
        f"{root}: no dataset found (expected training/frames/, testing/frames/, "
        "UCSDped*/Train/ or training_videos/)"
    )
