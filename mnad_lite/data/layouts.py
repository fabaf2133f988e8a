"""Finding a dataset on disk: :func:`open_dataset`, and the native layout it reads.

:func:`open_dataset` looks at a folder, recognises its layout (native, else the original
UCSD release or CUHK Avenue: :mod:`.benchmark_layouts`) and returns an
:class:`~mnad_lite.data.dataset.AnomalyDataset` without decoding more than one frame per
video (to learn its size). Frames are ordered naturally (``9.jpg`` before ``10.jpg``);
they need not start at 0 nor be zero-padded, but a gap in their numbers is an error.

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

Labels are looked for in the order of :mod:`mnad_lite.data.labels`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from mnad_lite.data.dataset import AnomalyDataset, Event, Video
from mnad_lite.data.frames import IMAGE_EXTS, natural_key, read_image
from mnad_lite.data.labels import find_labels, png_mask_loader
from mnad_lite.errors import DataError

SPLITS = ("training", "testing")


def visible(p: Path) -> bool:
    """False for hidden files and folders (.DS_Store, macOS's ._001.tif ...)."""
    return not p.name.startswith(".")


def list_frames(folder: Path) -> list[Path]:
    """The image files of a video folder in natural order; DataError if none or a gap."""
    files = [
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and visible(p) and p.is_file()
    ]
    if not files:
        raise DataError(f"{folder}: no frames (.jpg, .png, .bmp or .tif files)")
    files.sort(key=lambda p: natural_key(p.name))
    check_numbering(folder, files)
    return files


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def check_numbering(folder: Path, files: Sequence[Path]) -> None:
    """Raise DataError when numbered frame names skip a number (``000, 001, 003``)."""
    matches = [_NUMBERED.match(p.stem) for p in files]
    if not all(matches) or len({m.group(1) for m in matches}) != 1:
        return  # not a numbered sequence: natural order is all we can do
    numbers = [int(m.group(2)) for m in matches]
    width = len(matches[0].group(2)) if matches[0].group(2).startswith("0") else 0
    seen: dict[int, Path] = {}
    for n, p in zip(numbers, files, strict=True):
        if n in seen:
            raise DataError(f"{folder}: {seen[n].name} and {p.name} have the same number {n}")
        seen[n] = p
    missing = sorted(set(range(min(numbers), max(numbers) + 1)) - set(numbers))
    if missing:
        prefix = matches[0].group(1)
        shown = ", ".join(f"{prefix}{n:0{width}d}" for n in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        noun = "frame" if len(missing) == 1 else "frames"
        raise DataError(f"{folder}: {noun} {shown}{more} missing from the numbering")


def image_video(folder: Path, split: str, name: str | None = None) -> Video:
    """A video stored as a folder of frames (decodes the first frame for its size)."""
    paths = list_frames(folder)
    h, w = read_image(paths[0], 1).shape[:2]
    return Video(name or folder.name, split, folder, len(paths), (h, w), frame_paths=paths)


def subdirs(folder: Path) -> list[Path]:
    """The visible subfolders of ``folder`` in natural order."""
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and visible(p)),
        key=lambda p: natural_key(p.name),
    )


def _native_split(root: Path, split: str) -> list[Video] | None:
    frames_dir, videos_dir = root / split / "frames", root / split / "videos"
    if frames_dir.is_dir():
        dirs = subdirs(frames_dir)
        if not dirs:
            raise DataError(f"{frames_dir}: no video folders")
        return [image_video(d, split) for d in dirs]
    if videos_dir.is_dir():
        from mnad_lite.data.video import file_video, video_files

        files = video_files(videos_dir)
        if not files:
            raise DataError(f"{videos_dir}: no video files")
        return [file_video(p, split) for p in files]
    return None


def _native_masks(root: Path, test: list[Video]) -> None:
    masks_dir = root / "testing" / "masks"
    pixel_dir = root / "testing" / "test_pixel_mask"
    for v in test:
        if (masks_dir / v.name).is_dir() and v.frame_paths:
            v._mask_loader = png_mask_loader(masks_dir / v.name, v.frame_paths, v.frame_size)
        elif (pixel_dir / f"{v.name}.npy").is_file():
            from mnad_lite.data.benchmark_labels import npy_mask_loader

            v._mask_loader = npy_mask_loader(
                pixel_dir / f"{v.name}.npy", v.num_frames, v.frame_size
            )


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


def _open_native(root: Path) -> AnomalyDataset:
    train = _native_split(root, "training")
    test = _native_split(root, "testing")
    if train is None and test is None:
        raise DataError(f"{root}: no training/frames or testing/frames folder")
    train, test = train or [], test or []
    _native_masks(root, test)
    return build_dataset(root, "native", train, test, (), read_manifest(root / "manifest.json"))


def build_dataset(
    root: Path,
    layout: str,
    train: list[Video],
    test: list[Video],
    search_dirs: Sequence[Path] = (),
    events: list[Event] | None = None,
) -> AnomalyDataset:
    """The dataset of these videos, its test videos labelled (``search_dirs``: see
    :func:`~mnad_lite.data.labels.find_labels`); DataError when there is no video."""
    if not train and not test:
        raise DataError(f"{root}: no videos found")
    source = None
    if test:
        source, labels = find_labels(
            root, [v.name for v in test], [v.num_frames for v in test], search_dirs
        )
        for v, lab in zip(test, labels or [None] * len(test), strict=True):
            v.labels = lab
    return AnomalyDataset(root, layout, train, test, source, events)


def detect_layout(root: Path) -> str | None:
    """ "native", "ucsd", "avenue" or None for a folder."""
    if any((root / s / sub).is_dir() for s in SPLITS for sub in ("frames", "videos")):
        return "native"
    if (root / "training_videos").is_dir() or (root / "testing_videos").is_dir():
        return "avenue"
    from mnad_lite.data.benchmark_layouts import ucsd_base

    if ucsd_base(root) is not None:
        return "ucsd"
    return None


def open_dataset(root: str | Path) -> AnomalyDataset:
    """Open a dataset folder in any supported layout (see the module docstring).

    Raises DataError (one line, naming the file) for a missing or empty folder, a gap in
    the frame numbering, unusable labels and the like.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    if not any(root.iterdir()):
        raise DataError(f"{root}: folder is empty")
    layout = detect_layout(root)
    if layout == "native":
        return _open_native(root)
    if layout is None:
        raise DataError(
            f"{root}: no dataset found (expected training/frames/, testing/frames/, "
            "UCSDped*/Train/ or training_videos/)"
        )
    from mnad_lite.data.benchmark_layouts import open_avenue, open_ucsd

    return open_avenue(root) if layout == "avenue" else open_ucsd(root)
