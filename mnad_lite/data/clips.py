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
    """All clips of ``t_length`` frames of ``videos``, resized to ``size`` (H, W), scaled to
    [-1, 1]. Construction decodes nothing: items read ``cache`` (default: the process-wide
    one), which decodes each video once. ``index`` is int64 [N, 2] (video position, t of the
    clip's last frame); ``frame_counts`` the T of each video."""

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
        first = self.t_length - 1  # the first frame a clip can end at
        clips = [(i, t) for i, n in enumerate(self.frame_counts) for t in range(first, n)]
        self.index = np.array(clips, dtype=np.int64).reshape(-1, 2)

    @property
    def cache(self) -> FrameCache:
        return self._cache or default_cache()

    def preload(self) -> int:
        """Decode every video's frames into the cache now; returns how many were decoded."""
        before = self.cache.decoded
        for v in self.videos:
            self.cache.video(v, self.size, self.channels)
        return self.cache.decoded - before

    def __len__(self) -> int:
        """N = sum over videos of max(0, T - t_length + 1)."""
        return len(self.index)

    def __getitem__(self, i: int) -> torch.Tensor:
        """Clip i as float32 [t_length, C, H, W] in [-1, 1] (x / 127.5 - 1)."""
        v, t = self.index[i]  # IndexError beyond the last clip
        frames = self.cache.video(self.videos[v], self.size, self.channels)
        clip = np.empty((self.t_length, self.channels, *self.size), dtype=np.float32)
        clip.transpose(0, 2, 3, 1)[...] = frames[t - self.t_length + 1 : t + 1]  # uint8 NHWC
        np.divide(clip, np.float32(127.5), out=clip)
        clip -= np.float32(1.0)
        return torch.from_numpy(clip)

    def clip_labels(self) -> np.ndarray | None:
        """Label of every clip's last frame, uint8 [N], or None when a video has none."""
        labels = [v.labels for v in self.videos]
        if any(lab is None for lab in labels):
            return None
        scored = [np.asarray(lab)[self.t_length - 1 :] for lab in labels]  # frames with a clip
        return np.concatenate(scored).astype(np.uint8) if scored else np.zeros(0, np.uint8)


def split_clip(clip: torch.Tensor, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, T, C, H, W]`` clips -> (input ``[B, (T-1)*C, H, W]``, target ``[B, C, H, W]``):
    prediction stacks the T-1 past frames on channels (frame-major, as the authors);
    reconstruction reads and targets the single frame."""
    if clip.ndim != 5:
        raise DataError(f"clips must be [B, T, C, H, W], got {tuple(clip.shape)}")
    target = clip[:, -1]
    if method == "recon":
        return target, target
    return clip[:, :-1].flatten(1, 2), target
