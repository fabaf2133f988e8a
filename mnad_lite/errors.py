"""Errors the package raises for bad input.

Every error a user can cause (a missing frame, a foreign checkpoint, a tensor of the
wrong shape) is one of these: a ``ValueError`` subclass whose message is one line that
names the file or argument and what is wrong. The command line prints that line and
exits with status 2 instead of a traceback.
"""

from __future__ import annotations


class MNADError(ValueError):
    """Base class of every user-facing error in mnad_lite."""


class DataError(MNADError):
    """A dataset, video, frame or label file that cannot be used as it is."""


class CheckpointError(MNADError):
    """A checkpoint file that is missing, corrupt or not one of ours."""


class ConfigError(MNADError):
    """A configuration value that is out of range or unknown."""
