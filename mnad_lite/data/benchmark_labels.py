"""The public benchmarks' label files and pixel masks (UCSD, CUHK Avenue, ShanghaiTech).

Frame labels are uint8 0/1 ``[T]`` per test video, masks bool ``[T, H, W]``. Without a
``testing/labels.csv`` (:mod:`.layouts`), the labels come from the first found of:

1. a ``*.mat`` with a ``gt`` cell of 1-based [start; end] ranges per video (``ped2.mat``);
2. a UCSD ``.m`` file, one ``gt_frame = [61:180];`` line per test video (1-based
   inclusive; ``[1:146, 150:160]`` too);
3. ``frame_labels_*.npy``: all test videos concatenated, (N,) or (1, N) (the authors');
4. ShanghaiTech's ``testing/test_frame_mask/<video>.npy``, one [T] array per video.

Masks: UCSD's ``Test0xx_gt/*.bmp``, ShanghaiTech's ``testing/test_pixel_mask/<video>.npy``
[T, H, W], Avenue's ``<n>_label.mat`` (``volLabel``, which also gives its labels).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io

from mnad_lite.data.frames import IMAGE_EXTS, natural_key
from mnad_lite.data.layouts import Labels, MaskLoader, read_mask
from mnad_lite.errors import DataError


def ranges_to_labels(
    ranges: Sequence[tuple[int, int]], num_frames: int, one_based: bool, where: str
) -> np.ndarray:
    """uint8 [num_frames] with 1 inside every inclusive (start, end) range."""
    labels = np.zeros(num_frames, dtype=np.uint8)
    base = 1 if one_based else 0
    for start, end in ranges:
        s, e = int(start) - base, int(end) - base
        if s < 0 or e < s or e >= num_frames:
            raise DataError(
                f"{where}: range {start}-{end} is outside frames {base}..{num_frames - 1 + base}"
            )
        labels[s : e + 1] = 1
    return labels


def _check_count(path: Path, what: str, found: int, names: Sequence[str]) -> None:
    if found != len(names):
        raise DataError(
            f"{path}: {what} has {found} entries but there are {len(names)} test videos"
        )


def mat_variables(path: Path) -> list[str]:
    """Names of the variables in a .mat file, without loading them."""
    try:
        return [name for name, _, _ in scipy.io.whosmat(str(path))]
    except NotImplementedError:
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) files are not supported") from None
    except Exception as err:  # scipy raises several types for non-MAT input
        raise DataError(f"{path}: not a readable MATLAB .mat file ({err})") from None


def mat_with_gt(paths: Sequence[Path]) -> Path:
    """The first of these .mat files that holds a ``gt`` variable (DataError if none)."""
    with_gt = [p for p in paths if "gt" in mat_variables(p)]
    if not with_gt:
        found = ", ".join(mat_variables(paths[0])) or "nothing"
        raise DataError(f"{paths[0]}: no variable 'gt' of frame ranges (found: {found})")
    return with_gt[0]


def _load_mat(path: Path, variable: str) -> np.ndarray:
    try:
        data = scipy.io.loadmat(str(path), variable_names=[variable])
    except Exception as err:
        raise DataError(f"{path}: not a readable MATLAB .mat file ({err})") from None
    if variable not in data:
        found = ", ".join(mat_variables(path)) or "nothing"
        raise DataError(f"{path}: no variable {variable!r} (found: {found})")
    return data[variable]


def _gt_ranges(entry: np.ndarray, where: str) -> list[tuple[int, int]]:
    e = np.asarray(entry)
    if e.dtype == object:
        e = np.asarray(e.tolist())
    if e.size == 0:
        return []
    e = e.astype(np.int64)  # the real ped2.mat stores uint8: no arithmetic on it
    if e.ndim == 1 and e.size == 2:
        e = e.reshape(2, 1)
    if e.ndim == 2 and e.shape[0] != 2 and e.shape[1] == 2:
        e = e.T
    if e.ndim != 2 or e.shape[0] != 2:
        raise DataError(f"{where}: expected [start; end] rows, found shape {e.shape}")
    return [(int(s), int(t)) for s, t in zip(e[0], e[1], strict=True)]


def read_mat_gt(path: Path, names: Sequence[str], counts: Sequence[int]) -> Labels:
    """Labels from a .mat ``gt`` cell: one 2xK array of 1-based [start; end] per video.

    ``scipy.io.loadmat`` returns the real ``ped2.mat`` ``gt`` as an object array of shape
    (1, 12) whose entries are uint8 arrays of shape (2, 1).
    """
    gt = _load_mat(path, "gt")
    if gt.dtype == object:
        entries = list(gt.ravel())
    elif gt.ndim == 3:  # numeric (V, 2, K): every video had the same number of ranges
        entries = list(gt)
    else:  # a single video's (2, K)
        entries = [gt]
    _check_count(path, "gt", len(entries), names)
    return [
        ranges_to_labels(
            _gt_ranges(e, f"{path}: gt of video {name}"), n, True, f"{path}: gt of video {name}"
        )
        for e, name, n in zip(entries, names, counts, strict=True)
    ]


_GT_FRAME = re.compile(r"gt_frame\s*=\s*\[([^\]]*)\]")


def _parse_matlab_ranges(body: str, where: str) -> list[tuple[int, int]]:
    ranges = []
    for token in re.split(r"[,;\s]+", body.strip()):
        if not token:
            continue
        parts = token.split(":")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise DataError(f"{where}: cannot read {token!r} as a frame range") from None
        if len(nums) == 1:
            ranges.append((nums[0], nums[0]))
        elif len(nums) == 2:
            ranges.append((nums[0], nums[1]))
        elif len(nums) == 3 and nums[1] == 1:  # start:1:end
            ranges.append((nums[0], nums[2]))
        elif len(nums) == 3:  # start:step:end, rare: single frames
            ranges.extend((f, f) for f in range(nums[0], nums[2] + 1, nums[1]))
        else:
            raise DataError(f"{where}: cannot read {token!r} as a frame range")
    return ranges


def ucsd_m_entries(path: Path) -> list[str] | None:
    """The bodies of the ``gt_frame = [...]`` lines of a .m file (None if it has none)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err})") from None
    lines = [line.split("%", 1)[0] for line in text.splitlines()]  # drop MATLAB comments
    bodies = [m.group(1) for line in lines for m in _GT_FRAME.finditer(line)]
    return bodies or None


def read_ucsd_m(path: Path, names: Sequence[str], counts: Sequence[int]) -> Labels:
    """Labels from a UCSD ``.m`` file: ``gt_frame = [61:180];`` lines, 1-based inclusive."""
    bodies = ucsd_m_entries(path)
    if bodies is None:
        raise DataError(f"{path}: no gt_frame lines")
    _check_count(path, "gt_frame", len(bodies), names)
    out = []
    for body, name, n in zip(bodies, names, counts, strict=True):
        where = f"{path}: gt_frame of video {name}"
        out.append(ranges_to_labels(_parse_matlab_ranges(body, where), n, True, where))
    return out


def _binary(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if not np.isin(arr, (0, 1)).all():
        raise DataError(f"{path}: labels must be 0 or 1")
    return arr.astype(np.uint8)


def _load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable .npy file ({err})") from None


def read_frame_labels_npy(path: Path, names: Sequence[str], counts: Sequence[int]) -> Labels:
    """Labels from one array of all test videos concatenated, shape (N,) or (1, N)."""
    arr = _load_npy(path)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise DataError(f"{path}: expected shape (N,) or (1, N), found {arr.shape}")
    total = int(sum(counts))
    if arr.size != total:
        raise DataError(
            f"{path}: {arr.size} labels but the {len(names)} test videos have {total} frames"
        )
    labels = _binary(arr, path)
    bounds = np.cumsum([0, *counts])
    return [labels[a:b].copy() for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def read_frame_mask_dir(folder: Path, names: Sequence[str], counts: Sequence[int]) -> Labels:
    """ShanghaiTech labels: ``folder/<video>.npy``, one [T] 0/1 array per test video."""
    out = []
    for name, n in zip(names, counts, strict=True):
        path = folder / f"{name}.npy"
        if not path.is_file():
            raise DataError(f"{path}: missing (no frame labels for test video {name})")
        arr = _load_npy(path).reshape(-1)
        if arr.size != n:
            raise DataError(f"{path}: {arr.size} labels but video {name} has {n} frames")
        out.append(_binary(arr, path))
    return out


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _unique_files(dirs: Sequence[Path], pattern: str) -> list[Path]:
    seen: dict[Path, None] = {}
    for d in dirs:
        if d.is_dir():
            for p in sorted(d.glob(pattern), key=lambda q: natural_key(q.name)):
                if p.is_file():
                    seen.setdefault(p, None)
    return list(seen)


def find_benchmark_labels(
    root: Path,
    names: Sequence[str],
    counts: Sequence[int],
    search_dirs: Sequence[Path] = (),
) -> tuple[str | None, Labels | None]:
    """The test labels from the first label file of the module docstring's order (1-3 are
    looked for in root, root/testing and ``search_dirs``, the layout's own folders).

    Returns (source relative to root, labels per video), or (None, None) when there is no
    source; DataError for an unusable one.
    """
    dirs = [root, root / "testing", *search_dirs]
    mats = _unique_files(dirs, "*.mat")
    if mats:
        path = mat_with_gt(mats)
        return _rel(path, root), read_mat_gt(path, names, counts)
    for path in _unique_files(dirs, "*.m"):
        if ucsd_m_entries(path) is not None:
            return _rel(path, root), read_ucsd_m(path, names, counts)
    npys = _unique_files(dirs, "frame_labels_*.npy")
    if npys:  # prefer frame_labels_<root name>.npy when several are present
        named = [p for p in npys if p.stem.lower() == f"frame_labels_{root.name.lower()}"]
        path = (named or npys)[0]
        return _rel(path, root), read_frame_labels_npy(path, names, counts)
    folder = root / "testing" / "test_frame_mask"
    if folder.is_dir():
        return _rel(folder, root), read_frame_mask_dir(folder, names, counts)
    return None, None


# ---------------------------------------------------------------------------- masks
def _check_mask_shape(arr: np.ndarray, where: Path, n: int, hw: tuple[int, int]) -> np.ndarray:
    if arr.ndim != 3 or arr.shape[0] != n:
        raise DataError(f"{where}: masks have shape {arr.shape}, expected ({n}, H, W)")
    if arr.shape[1:] != tuple(hw):
        h, w = hw
        raise DataError(f"{where}: masks are {arr.shape[1]}x{arr.shape[2]}, frames {h}x{w}")
    return arr


def ordered_mask_loader(folder: Path, n: int, hw: tuple[int, int]) -> MaskLoader:
    """UCSD masks: the images of ``folder`` (``Test001_gt/001.bmp`` ...) in natural order."""

    def load() -> np.ndarray:
        files = sorted(
            (
                p
                for p in folder.iterdir()
                if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")
            ),
            key=lambda p: natural_key(p.name),
        )
        if len(files) != n:
            raise DataError(f"{folder}: {len(files)} mask images for {n} frames")
        return _check_mask_shape(np.stack([read_mask(p) for p in files]), folder, n, hw)

    return load


def npy_mask_loader(path: Path, n: int, hw: tuple[int, int]) -> MaskLoader:
    """ShanghaiTech masks: one [T, H, W] array per video."""

    def load() -> np.ndarray:
        return _check_mask_shape(_load_npy(path, mmap=True) != 0, path, n, hw)

    return load


def vol_label_masks(path: Path, n: int, hw: tuple[int, int]) -> np.ndarray:
    """Avenue masks: ``volLabel`` of a ``<n>_label.mat`` (a 1xT cell of HxW arrays)."""
    vol = _load_mat(path, "volLabel")
    entries = list(vol.ravel()) if vol.dtype == object else list(np.moveaxis(vol, -1, 0))
    if len(entries) != n:
        raise DataError(f"{path}: volLabel has {len(entries)} masks but the video has {n} frames")
    arr = np.stack([np.asarray(e) != 0 for e in entries])
    return _check_mask_shape(arr, path, n, hw)


def vol_label_loader(path: Path, n: int, hw: tuple[int, int]) -> MaskLoader:
    return lambda: vol_label_masks(path, n, hw)
