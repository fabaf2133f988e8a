"""Finding a dataset on disk: the native layout, the original UCSD release, CUHK Avenue.

:func:`open_dataset` looks at a folder, recognises one of three layouts and returns an
:class:`~mnad_lite.data.dataset.AnomalyDataset` without decoding more than one frame per
video (to learn its size). Frames are ordered naturally (``9.jpg`` before ``10.jpg``); they
need not start at 0 nor be zero-padded, but a gap in their numbers is an error.

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

UCSD original (ROOT is ``UCSDped2`` or the folder holding it)::

    UCSDped2/
    ├── Train/Train001/001.tif ...
    └── Test/
        ├── Test001/001.tif ...
        ├── Test001_gt/001.bmp ...                pixel masks
        └── UCSDped2.m                            gt_frame = [61:180]; (1-based)

CUHK Avenue as released::

    ROOT/
    ├── training_videos/01.avi ...
    ├── testing_videos/01.avi ...
    └── ground_truth_demo/testing_label_mask/1_label.mat ...   volLabel masks

Labels are looked for in the order of :mod:`mnad_lite.data.labels`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from mnad_lite.data import labels as _labels
from mnad_lite.data.dataset import AnomalyDataset, Event, Video
from mnad_lite.data.frames import IMAGE_EXTS, VIDEO_EXTS, natural_key, probe_video, read_image
from mnad_lite.errors import DataError

SPLITS = ("training", "testing")


def _visible(p: Path) -> bool:
    return not p.name.startswith(".")  # .DS_Store, ._001.tif (macOS), hidden folders


def list_frames(folder: Path) -> list[Path]:
    """The image files of a video folder in natural order; DataError if none or a gap."""
    files = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_EXTS and _visible(p) and p.is_file()
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


def file_video(path: Path, split: str, name: str | None = None) -> Video:
    """A video stored as one file (.avi, .mp4 ...): count and size from its header."""
    count, hw = probe_video(path)
    return Video(name or path.stem, split, path, count, hw)


def _subdirs(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and _visible(p)),
        key=lambda p: natural_key(p.name),
    )


def _video_files(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTS and _visible(p)),
        key=lambda p: natural_key(p.name),
    )


# ---------------------------------------------------------------------------- native
def _native_split(root: Path, split: str) -> list[Video] | None:
    frames_dir, videos_dir = root / split / "frames", root / split / "videos"
    if frames_dir.is_dir():
        dirs = _subdirs(frames_dir)
        if not dirs:
            raise DataError(f"{frames_dir}: no video folders")
        return [image_video(d, split) for d in dirs]
    if videos_dir.is_dir():
        files = _video_files(videos_dir)
        if not files:
            raise DataError(f"{videos_dir}: no video files")
        return [file_video(p, split) for p in files]
    return None


def _native_masks(root: Path, test: list[Video]) -> None:
    masks_dir = root / "testing" / "masks"
    pixel_dir = root / "testing" / "test_pixel_mask"
    for v in test:
        if (masks_dir / v.name).is_dir() and v.frame_paths:
            v._mask_loader = _labels.png_mask_loader(
                masks_dir / v.name, v.frame_paths, v.frame_size
            )
        elif (pixel_dir / f"{v.name}.npy").is_file():
            v._mask_loader = _labels.npy_mask_loader(
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
    return _finish(root, "native", train, test, (), read_manifest(root / "manifest.json"))


# ---------------------------------------------------------------------------- UCSD
def _ucsd_base(root: Path) -> Path | None:
    if (root / "Train").is_dir() or (root / "Test").is_dir():
        return root
    found = [
        p
        for p in _subdirs(root)
        if p.name.lower().startswith("ucsdped")
        and ((p / "Train").is_dir() or (p / "Test").is_dir())
    ]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise DataError(f"{root}: holds several UCSD datasets ({names}); open one of them")
    return found[0] if found else None


def _ucsd_split(folder: Path, split: str) -> list[Video]:
    if not folder.is_dir():
        return []
    dirs = [d for d in _subdirs(folder) if not d.name.lower().endswith("_gt")]
    if not dirs:
        raise DataError(f"{folder}: no video folders")
    return [image_video(d, split) for d in dirs]


def _open_ucsd(root: Path, base: Path) -> AnomalyDataset:
    train = _ucsd_split(base / "Train", "training")
    test = _ucsd_split(base / "Test", "testing")
    for v in test:
        gt = base / "Test" / f"{v.name}_gt"
        if gt.is_dir():
            v._mask_loader = _labels.ordered_mask_loader(gt, v.num_frames, v.frame_size)
    return _finish(root, "ucsd", train, test, (base, base / "Test"))


# ---------------------------------------------------------------------------- Avenue
def _open_avenue(root: Path) -> AnomalyDataset:
    splits = {}
    for split, folder in (("training", "training_videos"), ("testing", "testing_videos")):
        path = root / folder
        files = _video_files(path) if path.is_dir() else []
        if path.is_dir() and not files:
            raise DataError(f"{path}: no video files")
        splits[split] = [file_video(p, split) for p in files]
    test = splits["testing"]
    mask_dir = root / "ground_truth_demo" / "testing_label_mask"
    for v in test:
        path = mask_dir / f"{int(v.name) if v.name.isdigit() else v.name}_label.mat"
        if path.is_file():
            v._mask_loader = _labels.vol_label_loader(path, v.num_frames, v.frame_size)
    ds = _finish(root, "avenue", splits["training"], test)
    if ds.label_source is None and test and all(v.has_masks for v in test):
        # frame labels = "any pixel of the mask" (MNAD.md section 7: differs from the
        # labels most papers use; put an avenue.mat with gt in ROOT to use those)
        for v in test:
            v.labels = lambda v=v: v._mask_loader().any(axis=(1, 2)).astype("uint8")
        ds.label_source = mask_dir.relative_to(root).as_posix()
    return ds


# ---------------------------------------------------------------------------- common
def _finish(
    root: Path,
    layout: str,
    train: list[Video],
    test: list[Video],
    search_dirs: Sequence[Path] = (),
    events: list[Event] | None = None,
) -> AnomalyDataset:
    if not train and not test:
        raise DataError(f"{root}: no videos found")
    source = None
    if test:
        source, labels = _labels.find_labels(
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
    if _ucsd_base(root) is not None:
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
    if layout == "avenue":
        return _open_avenue(root)
    if layout == "ucsd":
        return _open_ucsd(root, _ucsd_base(root))
    raise DataError(
        f"{root}: no dataset found (expected training/frames/, testing/frames/, "
        "UCSDped*/Train/ or training_videos/)"
    )
