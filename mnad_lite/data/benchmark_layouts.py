"""The public benchmarks' layouts as released: the original UCSD Ped1/Ped2, CUHK Avenue.

:func:`~mnad_lite.data.open_dataset` comes here when a folder is not in the native layout
(:mod:`.layouts`); their label files and masks are read by :mod:`.benchmark_labels`.

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
"""

from __future__ import annotations

from pathlib import Path

from mnad_lite.data.benchmark_labels import ordered_mask_loader, vol_label_loader
from mnad_lite.data.dataset import AnomalyDataset, Video
from mnad_lite.data.layouts import build_dataset, image_video, subdirs
from mnad_lite.data.video import file_video, video_files
from mnad_lite.errors import DataError


def ucsd_base(root: Path) -> Path | None:
    """The folder holding ``Train``/``Test``: root or one ``UCSDped*`` in it (else None)."""
    if (root / "Train").is_dir() or (root / "Test").is_dir():
        return root
    found = [
        p
        for p in subdirs(root)
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
    dirs = [d for d in subdirs(folder) if not d.name.lower().endswith("_gt")]
    if not dirs:
        raise DataError(f"{folder}: no video folders")
    return [image_video(d, split) for d in dirs]


def open_ucsd(root: Path) -> AnomalyDataset:
    """The original UCSD release in root (or in its one ``UCSDped*`` folder)."""
    base = ucsd_base(root)
    train = _ucsd_split(base / "Train", "training")
    test = _ucsd_split(base / "Test", "testing")
    for v in test:
        gt = base / "Test" / f"{v.name}_gt"
        if gt.is_dir():
            v._mask_loader = ordered_mask_loader(gt, v.num_frames, v.frame_size)
    return build_dataset(root, "ucsd", train, test, (base, base / "Test"))


def open_avenue(root: Path) -> AnomalyDataset:
    """CUHK Avenue as released; without a label file, frame labels come from its masks."""
    splits = {}
    for split, folder in (("training", "training_videos"), ("testing", "testing_videos")):
        path = root / folder
        files = video_files(path) if path.is_dir() else []
        if path.is_dir() and not files:
            raise DataError(f"{path}: no video files")
        splits[split] = [file_video(p, split) for p in files]
    test = splits["testing"]
    mask_dir = root / "ground_truth_demo" / "testing_label_mask"
    for v in test:
        path = mask_dir / f"{int(v.name) if v.name.isdigit() else v.name}_label.mat"
        if path.is_file():
            v._mask_loader = vol_label_loader(path, v.num_frames, v.frame_size)
    ds = build_dataset(root, "avenue", splits["training"], test)
    if ds.label_source is None and test and all(v.has_masks for v in test):
        # frame labels = "any pixel of the mask" (MNAD.md section 7: differs from the
        # labels most papers use; put an avenue.mat with gt in ROOT to use those)
        for v in test:
            v._labels = lambda v=v: v._mask_loader().any(axis=(1, 2)).astype("uint8")
        ds.label_source = mask_dir.relative_to(root).as_posix()
    return ds
