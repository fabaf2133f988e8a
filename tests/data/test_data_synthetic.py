"""The synthetic benchmark: determinism, consistency of labels/masks/manifest, safety."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mnad_lite.data import KINDS, generate, open_dataset, preview
from mnad_lite.errors import ConfigError, DataError


def tree_bytes(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, quick_root):
    again = tree_bytes(generate(tmp_path / "a", "quick", seed=0))
    assert again == tree_bytes(quick_root)
    other = tree_bytes(generate(tmp_path / "b", "quick", seed=1))
    assert other.keys() != again.keys() or other != again
    assert other["training/frames/01/000.jpg"] != again["training/frames/01/000.jpg"]


def test_quick_preset_layout_and_every_kind(quick_root):
    ds = open_dataset(quick_root)
    info = ds.info()
    assert (info["train_videos"], info["test_videos"]) == (4, 5)
    assert info["frame_size"] == [120, 180]
    assert info["masks"] and info["label_source"] == "testing/labels.csv"
    assert set(info["events"]) == set(KINDS)
    assert 0.2 < info["anomalous_fraction"] < 0.9  # normal and anomalous test frames both
    assert ds.test[0].frames(channels=1).shape == (40, 120, 180, 1)


def test_labels_masks_and_manifest_agree(quick_root):
    ds = open_dataset(quick_root)
    manifest = json.loads((quick_root / "manifest.json").read_text())
    assert manifest["preset"] == "quick" and manifest["seed"] == 0 and manifest["version"] >= 1
    for v in ds.test:
        masks = v.masks()
        events = [e for e in ds.events if e.video == v.name]
        assert events
        expected = np.zeros(v.num_frames, np.uint8)
        for e in events:
            expected[e.start : e.end + 1] = 1
            for t, (x0, y0, x1, y1) in e.boxes.items():
                assert masks[t, y0 : y1 + 1, x0 : x1 + 1].any()
        assert np.array_equal(v.labels, expected)
        # every frame with a mask pixel is labelled anomalous
        assert not (masks.any(axis=(1, 2)) & (v.labels == 0)).any()
    assert all(v.labels is None for v in ds.train)


def test_masks_are_0_or_255(quick_root):
    path = next((quick_root / "testing" / "masks").rglob("*.png"))
    assert set(np.unique(cv2.imread(str(path), cv2.IMREAD_UNCHANGED))) <= {0, 255}


def test_refuses_to_overwrite_frames(tmp_path):
    out = generate(tmp_path / "s", "quick", seed=3)
    (out / "notes.txt").write_text("mine")
    before = (out / "training" / "frames" / "01" / "000.jpg").read_bytes()
    with pytest.raises(DataError, match="already holds frames; pass --overwrite"):
        generate(out, "quick", seed=4)
    assert (out / "training" / "frames" / "01" / "000.jpg").read_bytes() == before
    generate(out, "quick", seed=4, overwrite=True)
    assert (out / "training" / "frames" / "01" / "000.jpg").read_bytes() != before
    assert (out / "notes.txt").read_text() == "mine"  # only what the generator writes goes


def test_unknown_preset(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset"):
        generate(tmp_path, "huge")


def test_preview_picture(tmp_path, quick_root):
    path = preview(quick_root, tmp_path / "p.png")
    img = cv2.imread(str(path))
    assert img.shape[1] > 2 * 180 and img.shape[0] > 120
    red = (img[..., 2] > 200) & (img[..., 1] < 80) & (img[..., 0] < 80)
    assert red.any()  # the mask outline
