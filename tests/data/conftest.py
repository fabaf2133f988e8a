"""Small fake datasets on disk, in every layout the data package reads.

Frames are tiny (24x32) and few. Frame i of a video is a constant image of gray level
``base + 8 * i`` (PNG keeps it exact, JPEG nearly), so order and slicing can be checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from mnad_lite.data import cache as cache_mod
from mnad_lite.data import synthetic

HW = (24, 32)


def frame_image(i: int, hw: tuple[int, int] = HW, base: int = 20, color: bool = False):
    img = np.full((*hw, 3) if color else hw, base + 8 * i, dtype=np.uint8)
    if color:  # B, G, R differ so channel order can be checked
        img[..., 0], img[..., 2] = 10, 200
    return img


def write_frames(
    folder: Path,
    n: int,
    hw: tuple[int, int] = HW,
    ext: str = ".png",
    names: Sequence[str] | None = None,
    base: int = 20,
) -> list[Path]:
    """n frames named 000, 001 ... (or ``names``), frame i of gray level base + 8 i."""
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"{i:03d}" for i in range(n)]
    paths = []
    for i, name in enumerate(names):
        path = folder / f"{name}{ext}"
        assert cv2.imwrite(str(path), frame_image(i, hw, base))
        paths.append(path)
    return paths


def write_avi(path: Path, n: int, hw: tuple[int, int] = HW, base: int = 20) -> Path:
    """An MJPG .avi of n frames (readable by OpenCV's FFmpeg backend)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (hw[1], hw[0]))
    assert writer.isOpened()
    for i in range(n):
        writer.write(cv2.cvtColor(frame_image(i, hw, base), cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def write_mask(path: Path, hw: tuple[int, int] = HW, box=(2, 3, 8, 10)) -> None:
    """A 0/255 mask with a filled box (x0, y0, x1, y1 exclusive)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.zeros(hw, np.uint8)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = 255
    assert cv2.imwrite(str(path), m)


def mat_cell(items: Sequence[np.ndarray]) -> np.ndarray:
    """A MATLAB 1xN cell, as scipy.io.savemat writes and loadmat returns it."""
    cell = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        cell[0, i] = item
    return cell


def write_gt_mat(path: Path, ranges: Sequence[Sequence[tuple[int, int]]]) -> Path:
    """A ped2.mat look-alike: gt = 1xV cell of uint8 2xK [start; end] (1-based)."""
    entries = [np.array(r, dtype=np.uint8).T.reshape(2, -1) for r in ranges]
    scipy.io.savemat(str(path), {"gt": mat_cell(entries)})
    return path


class Make:
    """Builders of fake dataset trees (a fixture, so tests need no imports)."""

    hw = HW
    frames = staticmethod(write_frames)
    avi = staticmethod(write_avi)
    mask = staticmethod(write_mask)
    gt_mat = staticmethod(write_gt_mat)
    cell = staticmethod(mat_cell)

    @staticmethod
    def native(
        root: Path,
        train: Sequence[int] = (6, 5),
        test: Sequence[int] = (6, 7),
        ext: str = ".png",
        labels: str | None = "video,start,end\n01,2,4\n",
        masks: bool = True,
    ) -> Path:
        """ROOT/training/frames/01..; testing/frames/01..; labels.csv; masks of 01."""
        for split, counts in (("training", train), ("testing", test)):
            for i, n in enumerate(counts):
                write_frames(root / split / "frames" / f"{i + 1:02d}", n, ext=ext)
        if labels is not None:
            (root / "testing" / "labels.csv").write_text(labels)
        if masks:
            for t in (2, 3, 4):
                write_mask(root / "testing" / "masks" / "01" / f"{t:03d}.png")
        return root

    @staticmethod
    def ucsd(parent: Path, train: Sequence[int] = (5, 4), test: Sequence[int] = (6, 5)) -> Path:
        """parent/UCSDped2/{Train/Train001, Test/Test001, Test/Test001_gt, Test/UCSDped2.m}."""
        base = parent / "UCSDped2"
        for i, n in enumerate(train):
            write_frames(
                base / "Train" / f"Train{i + 1:03d}",
                n,
                ext=".tif",
                names=[f"{t + 1:03d}" for t in range(n)],
            )
        for i, n in enumerate(test):
            write_frames(
                base / "Test" / f"Test{i + 1:03d}",
                n,
                ext=".tif",
                names=[f"{t + 1:03d}" for t in range(n)],
            )
        for t in range(test[0]):  # masks for Test001: the object in frames 2..4 (1-based)
            box = (2, 3, 8, 10) if 2 <= t + 1 <= 4 else (0, 0, 0, 0)
            write_mask(base / "Test" / "Test001_gt" / f"{t + 1:03d}.bmp", box=box)
        (base / "Test" / "UCSDped2.m").write_text(
            "TestVideoFile = {};\n"
            "TestVideoFile{end+1}.gt_frame = [2:4];\n"
            "% a comment with gt_frame = [9:9] in it\n"
            "TestVideoFile{end+1}.gt_frame = [1:2, 4:5];\n"
        )
        return parent

    @staticmethod
    def avenue(root: Path, train: Sequence[int] = (5, 4), test: Sequence[int] = (6, 5)) -> Path:
        """root/{training_videos,testing_videos}/NN.avi + ground_truth_demo volLabel .mat."""
        for i, n in enumerate(train):
            write_avi(root / "training_videos" / f"{i + 1:02d}.avi", n)
        label_dir = root / "ground_truth_demo" / "testing_label_mask"
        label_dir.mkdir(parents=True)
        for i, n in enumerate(test):
            write_avi(root / "testing_videos" / f"{i + 1:02d}.avi", n)
            masks = [np.zeros(HW, np.uint8) for _ in range(n)]
            for t in range(1, 3):  # anomalous frames 1 and 2 (0-based)
                masks[t][5:9, 6:12] = 1
            scipy.io.savemat(str(label_dir / f"{i + 1}_label.mat"), {"volLabel": mat_cell(masks)})
        return root


@pytest.fixture
def make() -> type[Make]:
    return Make


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch, tmp_path_factory):
    """Each test starts with an empty default frame cache in a folder of its own."""
    monkeypatch.setenv("MNAD_CACHE", str(tmp_path_factory.mktemp("mnad-cache")))
    monkeypatch.setattr(cache_mod, "_default_cache", None)


@pytest.fixture(scope="session")
def quick_root(tmp_path_factory) -> Path:
    """The quick synthetic preset, generated once per test session (read-only use)."""
    return synthetic.generate(tmp_path_factory.mktemp("synth") / "quick", "quick", seed=0)
