"""Atomic file writes: a temporary sibling, flushed to disk, then renamed over the target,
so a reader (or a killed run) never sees half a file and an old file stays whole until the
new one is complete. Every file the package writes goes through :func:`atomic_write`."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

_UMASK = os.umask(0)  # read once (setting it is the only way), then put back
os.umask(_UMASK)


@contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` (``mode`` ``"w"``, ``"wb"`` or ``"w+b"``); on success it
    replaces ``path``, on any error it is removed and ``path`` is left as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # as open() would have made it (mkstemp: 0600)
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": ""})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path) as fh:
        fh.write(text)
    return Path(path)


def write_json(path: str | Path, data: Any, indent: int = 2) -> Path:
    """``data`` as indented JSON, atomically."""
    return write_text_atomic(path, json.dumps(data, indent=indent) + "\n")
