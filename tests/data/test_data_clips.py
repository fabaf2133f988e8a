"""ClipDataset: shapes, range, index, decoding once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnad_lite.data import ClipDataset, open_dataset
from mnad_lite.data import frames as frames_mod
from mnad_lite.errors import ConfigError


@pytest.fixture
def ds(tmp_path, make):
    return open_dataset(make.native(tmp_path, train=(6, 5, 3), test=(6, 7)))


def test_prediction_clips(ds):
    clips = ClipDataset(ds.train, t_length=5, size=(12, 16))
    assert len(clips) == 2 + 1 + 0  # T - 4 clips per video; 3 frames are too short
    assert clips.index.dtype == np.int64 and clips.index.shape == (3, 2)
    assert clips.index.tolist() == [[0, 4], [0, 5], [1, 4]]
    x = clips[1]
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32
    assert x.shape == (5, 3, 12, 16)
    assert x.min() >= -1 and x.max() <= 1
    # clip 1 = frames 1..5 of video 0, frame i has gray level 20 + 8 i
    expected = (20 + 8 * torch.arange(1, 6)) / 127.5 - 1
    assert torch.allclose(x[:, 0, 0, 0], expected)
    assert clips.frame_counts == [6, 5, 3]


def test_reconstruction_every_frame_is_a_clip(ds):
    clips = ClipDataset(ds.test, t_length=1, size=(8, 8), channels=1)
    assert len(clips) == 13
    assert clips[0].shape == (1, 1, 8, 8)
    assert clips.index[-1].tolist() == [1, 6]
    assert clips[-1].shape == (1, 1, 8, 8)
    with pytest.raises(IndexError):
        clips[13]


def test_clip_labels_are_the_last_frames_labels(ds):
    clips = ClipDataset(ds.test, t_length=3, size=(8, 8))
    labels = clips.clip_labels()
    assert labels.tolist() == [1, 1, 1, 0] + [0] * 5  # video 01 anomalous at 2..4
    assert ClipDataset(ds.train, t_length=3, size=(8, 8)).clip_labels() is None


def test_frames_are_decoded_once(ds, monkeypatch):
    calls = []
    real = frames_mod.read_image
    monkeypatch.setattr(frames_mod, "read_image", lambda p, c=3: calls.append(p) or real(p, c))
    clips = ClipDataset(ds.train, t_length=2, size=(12, 16))
    for _ in range(2):  # two epochs
        for i in range(len(clips)):
            clips[i]
    ClipDataset(ds.train, t_length=5, size=(12, 16))  # same frames, another t_length
    assert len(calls) == 6 + 5 + 3


def test_items_are_fresh_tensors(ds):
    clips = ClipDataset(ds.train, t_length=1, size=(8, 8))
    clips[0].add_(5)  # editing an item never touches the cached frames
    assert clips[0].max() <= 1


def test_bad_arguments(ds):
    with pytest.raises(ConfigError):
        ClipDataset(ds.train, t_length=0, size=(8, 8))
    with pytest.raises(ConfigError):
        ClipDataset(ds.train, t_length=1, size=(8, 8), channels=4)


def test_works_with_a_dataloader(ds):
    loader = torch.utils.data.DataLoader(
        ClipDataset(ds.train, t_length=5, size=(8, 8)), batch_size=2
    )
    batch = next(iter(loader))
    assert batch.shape == (2, 5, 3, 8, 8)
