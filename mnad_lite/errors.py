"""Errors for bad input: ``ValueError`` subclasses whose message is one line naming the file
or argument and what is wrong; the command line prints it and exits with status 2."""

from __future__ import annotations


class MNADError(ValueError):
    """Base class of every user-facing error in mnad_lite."""


class DataError(MNADError):
    """A dataset, video, frame or label file that cannot be used as it is."""


class CheckpointError(MNADError):
    """A checkpoint file that is missing, corrupt or not one of ours."""


class ConfigError(MNADError):
    """A configuration value that is out of range or unknown."""
