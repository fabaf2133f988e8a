"""A picture of a synthetic dataset: a normal training frame beside an anomalous one."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mnad_lite.data.layouts import open_dataset
from mnad_lite.data.synthetic import write_image
from mnad_lite.errors import DataError


def preview(root: str | Path, path_png: str | Path, kind: str | None = None) -> Path:
    """Save a picture: a normal training frame next to an anomalous test frame.

    The anomalous objects' masks are outlined in red and their kinds written above. The
    frame shown is the one where the chosen event (the first one, or the first of ``kind``)
    is largest. Returns the PNG path.
    """
    ds = open_dataset(root)
    events = [e for e in ds.events if kind is None or e.kind == kind]
    if not ds.train or not events:
        raise DataError(f"{root}: needs training videos and synthetic events for a preview")
    event = events[0]
    video = ds.video(event.video)
    masks = video.masks()
    t = max(event.boxes, key=lambda f: int(masks[f].sum())) if masks is not None else event.start
    normal = ds.train[0].frames()[ds.train[0].num_frames // 2]
    anomal = np.ascontiguousarray(video.frames()[t][..., ::-1])  # RGB -> BGR for cv2
    if masks is not None:
        contours, _ = cv2.findContours(
            masks[t].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        cv2.drawContours(anomal, contours, -1, (0, 0, 255), 1, cv2.LINE_AA)
    h, w = normal.shape[:2]
    bar = max(16, h // 12)
    pad = 4
    canvas = np.full((h + bar, 2 * w + pad, 3), 255, np.uint8)
    canvas[bar:, :w] = normal[..., ::-1]
    canvas[bar:, w + pad :] = anomal
    font = cv2.FONT_HERSHEY_SIMPLEX
    kinds = " + ".join(e.kind for e in ds.events if e.video == video.name and t in e.boxes)
    titles = (
        (2, f"normal: training {ds.train[0].name}"),
        (w + pad + 2, f"{kinds}: testing {video.name}, frame {t}"),
    )
    scale = bar / 30
    while scale > 0.25 and max(cv2.getTextSize(s, font, scale, 1)[0][0] for _, s in titles) > w - 4:
        scale *= 0.9  # shrink until both titles fit their panels
    for x, text in titles:
        cv2.putText(canvas, text, (x, bar - 5), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    path = Path(path_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, canvas, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path
