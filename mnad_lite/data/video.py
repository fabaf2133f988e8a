"""Video files (.avi, .mp4 ...): listing and reading them, and turning one into frames.

Decoded frames follow :mod:`.frames`: uint8 ``[T, H, W, C]``, RGB (C = 3) or gray (C = 1).
A file that cannot be read is a one-line DataError naming it.

``extract_frames("street.mp4", "data/mine", "testing")`` writes
``data/mine/testing/frames/street/000.jpg ...`` (0-based, zero-padded to at least 3
digits), which :func:`~mnad_lite.data.open_dataset` then loads. Label a test video by
adding rows ``video,start,end`` (0-based, inclusive) to ``data/mine/testing/labels.csv``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from mnad_lite.data.dataset import Video
from mnad_lite.data.frames import IMAGE_EXTS, check_size, natural_key, resize
from mnad_lite.data.layouts import visible
from mnad_lite.errors import DataError

#: Extensions of the video files that count as videos (compared lower-case).
VIDEO_EXTS = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv")
SPLITS = ("training", "testing")


def open_capture(path: Path) -> cv2.VideoCapture:
    """Open a video file with OpenCV, or raise DataError naming it."""
    if not Path(path).is_file():
        raise DataError(f"{path}: no such video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise DataError(f"{path}: cannot be read as a video (OpenCV could not open it)")
    return cap


def probe_video(path: Path) -> tuple[int, tuple[int, int]]:
    """Frame count and (H, W) of a video file from its header (decodes one frame at most)."""
    cap = open_capture(path)
    try:
        count = int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        hw = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        ok, frame = cap.read()
        if not ok:
            raise DataError(f"{path}: cannot be read as a video (no frame decodes)")
        if hw[0] <= 0 or hw[1] <= 0:
            hw = frame.shape[:2]
        if count <= 0:  # header without a frame count: count by grabbing
            count = 1
            while cap.grab():
                count += 1
        return count, hw
    finally:
        cap.release()


def file_video(path: Path, split: str, name: str | None = None) -> Video:
    """A video stored as one file (.avi, .mp4 ...): count and size from its header."""
    count, hw = probe_video(path)
    return Video(name or path.stem, split, path, count, hw)


def video_files(folder: Path) -> list[Path]:
    """The visible video files of ``folder`` in natural order."""
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTS and visible(p)),
        key=lambda p: natural_key(p.name),
    )


def folder_videos(folder: Path, split: str) -> list[Video]:
    """The videos of a folder of video files (ShanghaiTech's ``training/videos``)."""
    files = video_files(folder)
    if not files:
        raise DataError(f"{folder}: no video files")
    return [file_video(p, split) for p in files]


def convert_frame(bgr: np.ndarray, channels: int) -> np.ndarray:
    """A frame as OpenCV decodes it from a video (BGR [H, W, 3]) -> RGB [H, W, 3] or
    gray [H, W, 1], the convention of every decoded frame here."""
    if channels == 1:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[..., None]
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def video_fps(path: Path) -> float | None:
    """Frames per second from a video file's header, or None when it does not say."""
    cap = open_capture(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()
    return fps if np.isfinite(fps) and 0 < fps < 1000 else None


def decode_video(
    path: Path,
    size: tuple[int, int] | None,
    channels: int,
    num_frames: int | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Decode a video file into uint8 [T, H, W, channels], RGB or gray (into ``out`` if given).

    ``num_frames`` is the count the dataset announced (from the header); a file that
    decodes to another count is a DataError, since labels were matched to that count.
    ``out`` (shape [num_frames, H, W, channels]) requires ``num_frames``.
    """
    cap = open_capture(path)
    frames: list[np.ndarray] = []
    count = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            img = resize(convert_frame(bgr, channels), size)
            if out is None:
                frames.append(img)
            elif count < len(out):
                out[count] = img
            count += 1
            if out is not None and count > len(out):
                break
    finally:
        cap.release()
    if count == 0:
        raise DataError(f"{path}: cannot be read as a video (no frame decodes)")
    if num_frames is not None and count != num_frames:
        got = "more" if count > num_frames else count
        raise DataError(f"{path}: header says {num_frames} frames but {got} decode")
    return np.stack(frames) if out is None else out


def _existing_frames(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS]


def _checked(video_path: Path, split: str, name: str | None, every: int) -> str:
    """The video's name in the dataset, after checking the arguments (one-line errors)."""
    if split not in SPLITS:
        raise DataError(f"split must be 'training' or 'testing', got {split!r}")
    if every < 1:
        raise DataError(f"every must be at least 1, got {every}")
    name = name or video_path.stem
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise DataError(f"{name!r}: not a usable video name")
    return name


def _absolute(
    video_path: Path, count: int, start: int, end: int | None, every: int
) -> tuple[int, int | None]:
    """(first, stop) source frames for ``frames[start:end:every]``; negative values count
    from the end, as in Python (which needs the header's frame ``count``)."""
    if start >= 0 and (end is None or end >= 0):
        return start, end
    if count <= 0:
        raise DataError(f"{video_path}: frame count unknown, negative start/end unusable")
    wanted = range(*slice(start, end, every).indices(count))
    return wanted.start, wanted.stop


def _move_into(tmp: Path, target: Path, existing: list[Path]) -> None:
    """The frames written in ``tmp`` become ``target``'s (its ``existing`` frames go)."""
    if target.exists():  # overwrite=True, or a folder without frames
        for p in existing:
            p.unlink()
        for p in tmp.iterdir():
            p.replace(target / p.name)
        tmp.rmdir()
    else:
        tmp.replace(target)


def extract_frames(
    video_path: str | Path,
    out_root: str | Path,
    split: str,
    name: str | None = None,
    start: int = 0,
    end: int | None = None,
    every: int = 1,
    size: tuple[int, int] | None = None,
    overwrite: bool = False,
    quality: int = 95,
) -> Path:
    """Extract frames of a video into ``out_root/split/frames/<name>/NNN.jpg``.

    Source frames are selected like ``frames[start:end:every]`` (start inclusive, end
    exclusive; negative values count from the end, as in Python). ``size`` = (H, W)
    resizes. Existing frames of that video are only replaced with ``overwrite=True``.
    Returns the folder written. Frames are written to a temporary folder first, so a
    failure leaves nothing half-written.
    """
    video_path = Path(video_path)
    name = _checked(video_path, split, name, every)
    size = check_size(size)
    frames_dir = Path(out_root) / split / "frames"
    target = frames_dir / name
    existing = _existing_frames(target)
    if existing and not overwrite:
        raise DataError(
            f"{target}: already holds {len(existing)} frames; pass --overwrite to replace them"
        )
    cap = open_capture(video_path)
    try:
        count = int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        first, stop = _absolute(video_path, count, start, end, every)
        frames_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=frames_dir))
        try:
            written = _read_write(cap, tmp, first, stop, every, size, quality, video_path)
            if written == 0:
                of = f" of its {count} frames" if count > 0 else ""
                span = f"[{start}:{'' if end is None else end}:{every}]"
                raise DataError(f"{video_path}: no frames in the range {span}{of}")
            _rename_padded(tmp, written)
            _move_into(tmp, target, existing)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        cap.release()
    return target


def _read_write(
    cap: cv2.VideoCapture,
    folder: Path,
    start: int,
    stop: int | None,
    every: int,
    size: tuple[int, int] | None,
    quality: int,
    video_path: Path,
) -> int:
    """Decode frames start, start + every, ... < stop; write them as 0.jpg, 1.jpg ..."""
    written, index = 0, 0
    while stop is None or index < stop:
        keep = index >= start and (index - start) % every == 0
        ok = cap.grab()  # grab without decoding the frames we skip
        if not ok:
            break
        if keep:
            ok, bgr = cap.retrieve()
            if not ok:
                raise DataError(f"{video_path}: frame {index} does not decode")
            path = folder / f"{written}.jpg"
            if not cv2.imwrite(str(path), resize(bgr, size), [cv2.IMWRITE_JPEG_QUALITY, quality]):
                raise DataError(f"{path}: cannot be written")
            written += 1
        index += 1
    if index == 0:
        raise DataError(f"{video_path}: cannot be read as a video (no frame decodes)")
    return written


def _rename_padded(folder: Path, n: int) -> None:
    """0.jpg ... -> 000.jpg ...: width = digits of n - 1, at least 3."""
    width = max(3, len(str(n - 1)))
    for i in range(n):
        (folder / f"{i}.jpg").replace(folder / f"{i:0{width}d}.jpg")
