"""Clips for training and testing: t_length consecutive frames of one video.

For prediction (t_length = 5) the first 4 frames are the input and the 5th is the target
I_t; for reconstruction (t_length = 1) every frame is its own clip. A clip is indexed by
the position of its video and the index t of its **last** frame, the frame that is
predicted and scored, so clip labels are simply ``video.labels[t]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from mnad_lite.data.dataset import Video
from mnad_lite.data.frames import FrameCache, check_channels, check_size
from mnad_lite.errors import ConfigError, DataError


class ClipDataset(Dataset):
    """All clips of t_length consecutive frames, resized and scaled to [-1, 1].

    Every video is decoded once, at construction, through the frame cache; an item is then
    a slice of a uint8 array, so an epoch does not decode a single JPEG.

    Args:
        videos: the videos to cut into clips (their order defines ``index[:, 0]``).
        t_length: frames per clip (5 for prediction, 1 for reconstruction).
        size: (H, W) every frame is resized to, e.g. (256, 256).
        channels: 3 (RGB; gray sources become 3 equal channels) or 1.
        cache: the frame cache (default: the process-wide one).

    Attributes:
        index: int64 [N, 2]: (video position, index t of the clip's last frame).
        frame_counts: T of each video.
    """

    def __init__(
        self,
        videos: Sequence[Video],
        t_length: int,
        size: tuple[int, int],
        channels: int = 3,
        cache: FrameCache | None = None,
    ) -> None:
        if int(t_length) < 1:
            raise ConfigError(f"t_length must be at least 1, got {t_length}")
        self.videos = list(videos)
        self.t_length = int(t_length)
        self.size = check_size(size)
        if self.size is None:
            raise ConfigError("size (H, W) is required")
        self.channels = check_channels(channels)
        # uint8 [T, H, W, C] per video, decoded once (read-only, shared with the cache)
        self._frames = [v.frames(self.size, self.channels, cache) for v in self.videos]
        self.frame_counts = [int(f.shape[0]) for f in self._frames]
        rows = [
            np.stack([np.full(n - self.t_length + 1, i), np.arange(self.t_length - 1, n)], 1)
            for i, n in enumerate(self.frame_counts)
            if n >= self.t_length
        ]
        self.index = np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 2), np.int64)

    def __len__(self) -> int:
        """N = sum over videos of max(0, T - t_length + 1)."""
        return len(self.index)

    def __getitem__(self, i: int) -> torch.Tensor:
        """Clip i as float32 [t_length, C, H, W] in [-1, 1] (x / 127.5 - 1)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"clip {i} out of range for {len(self)} clips")
        v, t = self.index[i]
        clip = self._frames[v][t - self.t_length + 1 : t + 1]  # uint8 [L, H, W, C]
        clip = clip.transpose(0, 3, 1, 2).astype(np.float32)  # [L, C, H, W], a fresh copy
        return torch.from_numpy(clip / np.float32(127.5) - np.float32(1.0))

    def clip_labels(self) -> np.ndarray | None:
        """Label of every clip's last frame, uint8 [N], or None when a video has none."""
        labels = [v.labels for v in self.videos]
        if any(lab is None for lab in labels):
            return None
        parts = [
            np.asarray(labels[v])[self.index[self.index[:, 0] == v, 1]]
            for v in range(len(self.videos))
        ]
        return np.concatenate(parts).astype(np.uint8) if parts else np.zeros(0, np.uint8)


def split_clip(clip: torch.Tensor, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, T, C, H, W]`` clips -> (input ``[B, (T-1)*C, H, W]``, target ``[B, C, H, W]``).

    Prediction stacks the T-1 past frames on channels (frame-major, as the authors);
    reconstruction reads and targets the single frame.
    """
    if clip.ndim != 5:
        raise DataError(f"clips must be [B, T, C, H, W], got {tuple(clip.shape)}")
    target = clip[:, -1]
    if method == "recon":
        return target, target
    return clip[:, :-1].flatten(1, 2), target
