"""A synthetic, Ped2-like surveillance benchmark that exists everywhere.

A fixed camera over a walkway with grass on both sides (drawn by :mod:`.scene`), where
pedestrians walk both ways at normal speeds. Training videos hold normal activity only;
each test video adds one or more anomalous events, each a different failure of "normal":

==============  ================================================================
cyclist         a rider on a bicycle, about 3x walking speed, pedalling
cart            a large box-like vehicle on wheels, on the walkway
skateboarder    a low, crouched figure gliding smoothly (no steps) on a board
runner          a pedestrian at about 3x walking speed with fast, wide leg swings
grass_walker    a person crossing the grass perpendicularly to the walkway
==============  ================================================================

Every event has frame labels (``testing/labels.csv``), pixel masks of the visible object
(``testing/masks/<video>/<frame>.png``) and an entry in ``manifest.json`` (kind, first and
last frame, per-frame boxes). Every video draws from its own ``np.random.default_rng``
stream, so a seed gives the same pixels everywhere (and the same files with the same
OpenCV build, whose JPEG encoder writes the bytes). Presets: ``quick`` (4 + 5 videos of 40
frames at 120x180, about a second) and ``default`` (Ped2's 16 + 12 videos at 240x360).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mnad_lite.data.scene import Scene, render_video
from mnad_lite.errors import ConfigError, DataError

#: Bump when the generator changes what it draws (the manifest records it).
VERSION = 1
KINDS = ("cyclist", "cart", "skateboarder", "runner", "grass_walker")
JPEG_QUALITY = 90
_ENCODING = {
    ".jpg": [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY],
    ".png": [cv2.IMWRITE_PNG_COMPRESSION, 3],
}


@dataclass(frozen=True)
class Preset:
    """How much data a preset makes: videos per split, frames per video, (H, W)."""

    train_videos: int
    test_videos: int
    frames: tuple[int, int]  # min, max frames per video (inclusive)
    size: tuple[int, int]
    extra_event_p: float  # chance a test video gets a second event
    in_view_p: float  # chance a video's first event is already in view at frame 0
    first_start: tuple[float, float]  # first event's start, as fractions of the video


PRESETS = {
    "quick": Preset(4, 5, (40, 40), (120, 180), 0.0, 0.0, (0.3, 0.5)),
    "default": Preset(16, 12, (120, 200), (240, 360), 0.35, 0.25, (0.05, 0.35)),
}


def _plan_events(
    preset: Preset, rng: np.random.Generator, lengths: list[int]
) -> list[list[tuple[str, int, bool]]]:
    """(kind, start, in_view) per test video: every kind at least once, kinds interleaved."""
    n = len(lengths)
    kinds = list(KINDS)
    rng.shuffle(kinds)
    plan: list[list[str]] = [[] for _ in range(n)]
    for j in range(max(n, len(KINDS))):
        plan[j % n].append(kinds[j % len(kinds)])
    for i in range(n):
        if rng.random() < preset.extra_event_p:
            plan[i].append(str(rng.choice([k for k in KINDS if k not in plan[i]])))
    a, b = preset.first_start
    out = []
    for T, events in zip(lengths, plan, strict=True):
        timed = []
        for j, kind in enumerate(events):
            lo = a + (0.5 - a) * j / len(events)  # later events start later
            start = int(rng.uniform(lo, lo + (b - a) / len(events)) * T)
            in_view = bool(j == 0 and rng.random() < preset.in_view_p)
            timed.append((kind, 0 if in_view else start, in_view))
        out.append(timed)
    return out


def write_image(path: Path, img: np.ndarray, params: list[int]) -> None:
    """Encode ``img`` as its suffix says, with OpenCV's ``params``; DataError if it fails."""
    ok, buf = cv2.imencode(path.suffix, img, params)
    if not ok:
        raise DataError(f"{path}: cannot be encoded")
    path.write_bytes(buf.tobytes())


def _make_room(out: Path, overwrite: bool) -> None:
    """Refuse a file, and a folder with frames unless ``overwrite``: then remove what
    :func:`generate` writes (and nothing else)."""
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    folders = [out / s / "frames" for s in ("training", "testing")]
    if any(f.is_dir() and any(f.iterdir()) for f in folders):
        if not overwrite:
            raise DataError(f"{out}: already holds frames; pass --overwrite to replace them")
        for sub in ("training/frames", "testing/frames", "testing/masks"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for f in ("testing/labels.csv", "manifest.json"):
            (out / f).unlink(missing_ok=True)


def _write_frames(folder: Path, images: list[np.ndarray], suffix: str) -> None:
    """``folder/000<suffix>`` ...: JPEG frames, PNG masks."""
    width = max(3, len(str(len(images) - 1)))
    folder.mkdir(parents=True, exist_ok=True)
    for t, img in enumerate(images):
        write_image(folder / f"{t:0{width}d}{suffix}", img, _ENCODING[suffix])


def _events(video: str, agents: list) -> list[dict]:
    """The manifest's events of a test video: one per anomalous agent that was seen."""
    return [
        {
            "video": video,
            "kind": a.kind,
            "start": min(a.seen),
            "end": max(a.seen),
            "boxes": {str(t): b for t, b in sorted(a.seen.items())},
        }
        for a in agents
        if a.seen  # never visible (fully occluded): not an event
    ]


def generate(
    out: str | Path, preset: str = "default", seed: int = 0, overwrite: bool = False
) -> Path:
    """Write a synthetic dataset in the native layout under ``out`` and return ``out``;
    ConfigError for an unknown preset, DataError when ``out`` is a file or already holds
    frames (unless ``overwrite``: then what an earlier call wrote is replaced)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    out = Path(out)
    _make_room(out, overwrite)
    h, w = p.size
    scene = Scene(h, w, np.random.default_rng([seed, 0]))
    plan_rng = np.random.default_rng([seed, 1])
    lengths = {
        split: [int(plan_rng.integers(p.frames[0], p.frames[1] + 1)) for _ in range(n)]
        for split, n in (("training", p.train_videos), ("testing", p.test_videos))
    }
    plans = _plan_events(p, plan_rng, lengths["testing"])
    name_width = max(2, len(str(max(p.train_videos, p.test_videos))))
    manifest: dict = {
        "generator": "mnad_lite.data.synthetic",
        "version": VERSION,
        "preset": preset,
        "seed": seed,
        "frame_size": [h, w],
        "kinds": list(KINDS),
        "videos": {"training": {}, "testing": {}},
        "events": [],
    }
    for s_code, split in enumerate(("training", "testing")):
        for i, T in enumerate(lengths[split]):
            name = f"{i + 1:0{name_width}d}"
            rng = np.random.default_rng([seed, 2 + s_code, i])
            events = plans[i] if split == "testing" else []
            frames, ids, agents = render_video(scene, rng, T, events)
            _write_frames(out / split / "frames" / name, frames, ".jpg")
            manifest["videos"][split][name] = T
            if split == "testing":
                masks = [(idmap >= 10).astype(np.uint8) * 255 for idmap in ids]
                _write_frames(out / "testing" / "masks" / name, masks, ".png")
                manifest["events"] += _events(name, agents)
    labels = "".join(f"{e['video']},{e['start']},{e['end']}\n" for e in manifest["events"])
    (out / "testing" / "labels.csv").write_text("video,start,end\n" + labels, encoding="utf-8")
    manifest_text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    (out / "manifest.json").write_text(manifest_text, encoding="utf-8")
    return out
