"""The real UCSD Ped2 (common layout), when present: counts and labels.

Looked for at $MNAD_PED2, then ``<repo>/../shared/datasets/ped2``, then
``<repo>/data/ped2``. Only file lists, labels and one frame are read, so this is fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mnad_lite.data import open_dataset
from mnad_lite.data.benchmark_labels import read_ucsd_m

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = [
    *([Path(os.environ["MNAD_PED2"])] if os.environ.get("MNAD_PED2") else []),
    REPO.parent / "shared" / "datasets" / "ped2",
    REPO / "data" / "ped2",
]
PED2 = next((p for p in CANDIDATES if (p / "testing" / "frames").is_dir()), CANDIDATES[0])
# (start, end) of the anomalous frames of each test video, 1-based inclusive (MNAD.md 7)
RANGES = [
    (61, 180),
    (95, 180),
    (1, 146),
    (31, 180),
    (1, 129),
    (1, 159),
    (46, 180),
    (1, 180),
    (1, 120),
    (1, 150),
    (1, 180),
    (88, 180),
]

pytestmark = [
    pytest.mark.ped2,
    pytest.mark.skipif(
        not (PED2 / "testing" / "frames").is_dir(),
        reason=f"UCSD Ped2 not found at {' or '.join(str(p) for p in CANDIDATES)}",
    ),
]


def test_ped2_counts_and_labels():
    ds = open_dataset(PED2)
    info = ds.info()
    assert (info["train_videos"], info["train_frames"]) == (16, 2550)
    assert (info["test_videos"], info["test_frames"]) == (12, 2010)
    assert info["anomalous_frames"] == 1648
    assert info["frame_size"] == [240, 360]
    for v, (start, end) in zip(ds.test, RANGES, strict=True):
        ones = v.labels.nonzero()[0]
        assert (ones[0] + 1, ones[-1] + 1, len(ones)) == (start, end, end - start + 1)


def test_ped2_ucsd_m_agrees_with_the_mat():
    ds = open_dataset(PED2)
    m_file = PED2 / "UCSDped2.m"
    if not m_file.is_file():
        pytest.skip("no UCSDped2.m beside ped2.mat")
    labels = read_ucsd_m(m_file, [v.name for v in ds.test], [v.num_frames for v in ds.test])
    assert all((a == v.labels).all() for a, v in zip(labels, ds.test, strict=True))


def test_ped2_one_frame_decodes_as_three_equal_channels():
    v = open_dataset(PED2).test[0]
    from mnad_lite.data.frames import read_image

    img = read_image(v.frame_paths[0], 3)
    assert img.shape == (240, 360, 3)
