"""Ground truth in the native layout: frame labels and pixel masks.

Frame labels are uint8 0/1 ``[T]`` per test video (1 = anomalous), from
``ROOT/testing/labels.csv``: the project's own, human-editable format, one anomalous
interval per row, **0-based inclusive** indices in sorted-file order (``video,start,end``
then rows such as ``01,60,179``); test videos without a row are normal throughout. Without
it, the public benchmarks' label files are looked for (:mod:`.benchmark_labels`).

Pixel masks, bool ``[T, H, W]`` per video, loaded on first use:
``testing/masks/<video>/<frame>.png`` (0 = background; no file = no anomaly).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from mnad_lite.data.frames import IMAGE_EXTS
from mnad_lite.errors import DataError

Labels = list[np.ndarray]
MaskLoader = Callable[[], np.ndarray]


def read_labels_csv(path: Path, names: Sequence[str], counts: Sequence[int]) -> Labels:
    """Labels from a ``video,start,end`` CSV of 0-based inclusive anomalous intervals."""
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


def find_labels(
    root: Path,
    names: Sequence[str],
    counts: Sequence[int],
    search_dirs: Sequence[Path] = (),
) -> tuple[str | None, Labels | None]:
    """The test labels: ``testing/labels.csv``, else the benchmarks' files (``search_dirs``:
    see :func:`~mnad_lite.data.benchmark_labels.find_benchmark_labels`).

    Returns (source relative to root, labels per video), or (None, None) when there is no
    source; DataError for an unusable one.
    """
    path = Path(root) / "testing" / "labels.csv"
    if path.is_file():
        return "testing/labels.csv", read_labels_csv(path, names, counts)
    from mnad_lite.data.benchmark_labels import find_benchmark_labels

    return find_benchmark_labels(Path(root), names, counts, search_dirs)


def read_mask(path: Path) -> np.ndarray:
    """One mask image as bool [H, W] (True where not 0); DataError if it does not decode."""
    try:
        img = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    except (OSError, cv2.error):
        img = None
    if img is None:
        raise DataError(f"{path}: cannot be decoded as a mask image")
    return img > 0


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
