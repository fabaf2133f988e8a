"""Clips for training and testing: t_length consecutive frames of one video.

For prediction (t_length = 5) the first 4 frames are the input and the 5th is the target
I_t; for reconstruction (t_length = 1) every frame is its own clip. A clip is indexed by
its video and the index t of its **last** frame, the one predicted and scored, so its
label is ``video.labels[t]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from mnad_lite.data.cache import FrameCache, default_cache
from mnad_lite.data.dataset import Video
from mnad_lite.data.frames import check_channels, check_size
from mnad_lite.errors import ConfigError, DataError


class ClipDataset(Dataset):
    """All clips of t_length consecutive frames, resized and scaled to [-1, 1].

    Construction decodes nothing; items read their frames from the frame cache
    (:mod:`.cache`, each video decoded once, on first use, or up front by :meth:`preload`).

    Args:
        videos: the videos to cut into clips (their order defines ``index[:, 0]``).
        t_length: frames per clip (5 for prediction, 1 for reconstruction).
        size: (H, W) every frame is resized to, e.g. (256, 256).
        channels: 3 (RGB; gray sources become 3 equal channels) or 1.
        cache: the frame cache (default: the process-wide one, :func:`.default_cache`).

    Attributes:
        index: int64 [N, 2]: (video position, index t of the clip's last frame).
        frame_counts: T of each video.
        frame_bytes: bytes of all the videos' frames, decoded at ``size``.
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
        self._cache = cache
        self.frame_counts = [int(v.num_frames) for v in self.videos]
        rows = [
            np.stack([np.full(n - self.t_length + 1, i), np.arange(self.t_length - 1, n)], 1)
            for i, n in enumerate(self.frame_counts)
            if n >= self.t_length
        ]
        self.index = np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 2), np.int64)
        self.frame_bytes = sum(self.frame_counts) * self.size[0] * self.size[1] * self.channels

    @property
    def cache(self) -> FrameCache:
        """The frame cache items are read through (this process's default if none given)."""
        return self._cache if self._cache is not None else default_cache()

    def preload(self) -> int:
        """Decode every video's frames into the cache now; returns how many were decoded."""
        return sum(self.cache.preload(v, self.size, self.channels) for v in self.videos)

    def __len__(self) -> int:
        """N = sum over videos of max(0, T - t_length + 1)."""
        return len(self.index)

    def __getitem__(self, i: int) -> torch.Tensor:
        """Clip i as float32 [t_length, C, H, W] in [-1, 1] (x / 127.5 - 1)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"clip {i} out of range for {len(self)} clips")
        v, t = self.index[i]
        clip = np.empty((self.t_length, self.channels, *self.size), dtype=np.float32)
        # the frames (uint8 [L, H, W, C]) are copied straight into the float clip's NHWC view
        start, stop = int(t) - self.t_length + 1, int(t) + 1
        hwc = clip.transpose(0, 2, 3, 1)
        self.cache.frame_range(self.videos[v], start, stop, self.size, self.channels, out=hwc)
        np.divide(clip, np.float32(127.5), out=clip)
        clip -= np.float32(1.0)
        return torch.from_numpy(clip)

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
