"""The synthetic scene, drawn frame by frame: a fixed camera over a walkway with grass on
both sides (:class:`Scene`), figures as lists of drawing primitives, agents that move them
and :func:`render_video`; :mod:`.synthetic` plans the videos and writes the dataset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

# A primitive is an OpenCV drawing call: (function, geometry, thickness, gray level 0..255),
# drawn by :func:`draw` as function(image, *geometry, gray, thickness, line type).
Prim = tuple


class Scene:
    """The fixed camera: walkway geometry, perspective scale, static background. The walkway's
    edges are straight lines y = a + b x (slightly tilted, like Ped2); ``scale(y)`` is the
    size of an object whose feet are at row y, relative to one at the bottom of the frame."""

    def __init__(self, h: int, w: int, rng: np.random.Generator) -> None:
        self.h, self.w = h, w
        self.top0, self.top1 = 0.36 * h, 0.30 * h  # walkway's far edge at x = 0 and x = w
        self.bot0, self.bot1 = 0.80 * h, 0.72 * h  # near edge
        self.person_h = 0.2 * h  # a pedestrian's height at scale 1
        self.background = self._draw_background(rng)

    def edges(self, x: float) -> tuple[float, float]:
        f = min(max(x / self.w, 0.0), 1.0)
        return self.top0 + f * (self.top1 - self.top0), self.bot0 + f * (self.bot1 - self.bot0)

    def lane_y(self, x: float, u: float) -> float:
        """Feet row at column x on lane u (0 = far edge, 1 = near edge of the walkway)."""
        top, bot = self.edges(x)
        return top + u * (bot - top)

    def scale(self, y: float) -> float:
        return 0.55 + 0.6 * y / self.h

    def _draw_background(self, rng: np.random.Generator) -> np.ndarray:
        h, w = self.h, self.w

        def smooth(cells: int, amp: float) -> np.ndarray:  # low-frequency texture
            small = rng.standard_normal((max(2, h // cells), max(2, w // cells)))
            return cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC) * amp

        fine = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.7)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        top = self.top0 + xx / w * (self.top1 - self.top0)
        bot = self.bot0 + xx / w * (self.bot1 - self.bot0)
        walk = (yy >= top) & (yy <= bot)
        grass = 92 + smooth(12, 9) + fine * 16 + 6 * yy / h  # darker, rough
        paving = 160 + smooth(20, 5) + fine * 4
        bg = np.where(walk, paving, grass).astype(np.float32)
        img = np.clip(bg, 0, 255).astype(np.uint8)
        # paving joints: lines along the walkway, and across it every tile
        for u in (0.33, 0.66):
            left, right = (0, round(self.lane_y(0, u))), (w, round(self.lane_y(w, u)))
            cv2.line(img, left, right, 146, 1, cv2.LINE_AA)
        x = 0.0
        while x < w:
            top_x, bot_x = self.edges(x)
            slant = 0.12 * (bot_x - top_x)
            far, near = (round(x + slant), round(top_x)), (round(x), round(bot_x))
            cv2.line(img, far, near, 146, 1, cv2.LINE_AA)
            x += 0.45 * self.person_h * self.scale((top_x + bot_x) / 2)
        # curbs along both edges
        for y0, y1, val in ((self.top0, self.top1, 196), (self.bot0, self.bot1, 200)):
            cv2.line(img, (0, round(y0)), (w, round(y1)), val, max(1, round(h / 120)), cv2.LINE_AA)
        return img


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x), round(y)


def _thick(v: float) -> int:
    return max(1, round(v))


#: A figure's gait: (leg swing in radians, forward lean, crouch 0..1).
GAITS = {
    "pedestrian": (0.45, 0.0, 0.0),
    "runner": (0.7, 0.25, 0.0),
    "grass_walker": (0.25, 0.0, 0.0),
    "skateboarder": (0.0, 0.25, 1.0),
}


def person_prims(
    x: float, y: float, size: float, phase: float, facing: int, look: dict, gait: tuple
) -> list[Prim]:
    """A figure with feet at (x, y), ``size`` pixels tall: its legs swing by
    ``swing * sin(phase)``; a crouch bends the knees, lowers it and puts its arms out."""
    swing, lean, crouch = gait
    s = size * (1 - 0.25 * crouch)
    bob = 0.02 * s * abs(math.sin(phase)) if swing > 0 else 0.0
    hip = (x, y - 0.48 * s - bob)
    leg = 0.5 * s
    prims: list[Prim] = []
    for sign, shade in ((1, 0), (-1, 14)):  # far leg slightly darker
        a = sign * swing * math.sin(phase) + (sign * 0.2 if crouch else 0.0)
        bend = facing * s * (0.03 + 0.08 * crouch)  # knees point forward
        knee = (hip[0] + 0.5 * leg * math.sin(a) + bend, hip[1] + 0.5 * leg * math.cos(a))
        foot = (hip[0] + leg * math.sin(a), hip[1] + leg * math.cos(a) * (1 - 0.1 * crouch))
        thick = _thick(0.085 * s)
        val = max(0, look["legs"] - shade)
        prims.append((cv2.line, (_pt(*hip), _pt(*knee)), thick, val))
        prims.append((cv2.line, (_pt(*knee), _pt(*foot)), thick, val))
    shoulder = (x + facing * lean * 0.35 * s, y - 0.82 * s - bob)
    mid = ((hip[0] + shoulder[0]) / 2, (hip[1] + shoulder[1]) / 2)
    angle = math.degrees(math.atan2(shoulder[0] - hip[0], hip[1] - shoulder[1]))
    body = (_pt(*mid), (_thick(0.1 * s), _thick(0.2 * s)), angle, 0, 360)
    prims.append((cv2.ellipse, body, cv2.FILLED, look["body"]))
    for sign in (1, -1):
        a = sign * 1.1 if crouch else -sign * 0.8 * swing * math.sin(phase) + facing * lean
        joint = (shoulder[0], shoulder[1] + 0.05 * s)
        hand = (joint[0] + 0.34 * s * math.sin(a), joint[1] + 0.34 * s * math.cos(a))
        prims.append((cv2.line, (_pt(*joint), _pt(*hand)), _thick(0.06 * s), look["body"]))
    head = (shoulder[0] + facing * 0.03 * s, shoulder[1] - 0.1 * s)
    prims.append((cv2.circle, (_pt(*head), _thick(0.075 * s)), cv2.FILLED, look["skin"]))
    return prims


def bicycle_prims(
    x: float, y: float, size: float, phase: float, facing: int, look: dict
) -> list[Prim]:
    """A cyclist: two wheels, a frame, a rider leaning forward and pedalling."""
    s = size
    r = 0.18 * s
    back, front = (x - facing * 0.32 * s, y - r), (x + facing * 0.32 * s, y - r)
    seat = (x - facing * 0.08 * s, y - 0.55 * s)
    crank = (x, y - r)
    bar = (x + facing * 0.26 * s, y - 0.62 * s)
    t = _thick(0.03 * s)
    tubes = ((back, crank), (crank, seat), (seat, back), (crank, bar), (bar, front))
    prims: list[Prim] = [(cv2.circle, (_pt(*c), _thick(r)), t, 40) for c in (back, front)]
    prims += [(cv2.line, (_pt(*a), _pt(*b)), t, look["bike"]) for a, b in tubes]
    for sign in (1, -1):  # legs: hip -> knee -> pedal going round the crank
        a = phase + (0 if sign > 0 else math.pi)
        pedal = (crank[0] + 0.12 * s * math.cos(a), crank[1] + 0.12 * s * math.sin(a))
        knee = ((seat[0] + pedal[0]) / 2 + facing * 0.12 * s, (seat[1] + pedal[1]) / 2 - 0.05 * s)
        thick = _thick(0.08 * s)
        prims.append((cv2.line, (_pt(*seat), _pt(*knee)), thick, look["legs"]))
        prims.append((cv2.line, (_pt(*knee), _pt(*pedal)), thick, look["legs"]))
    shoulder = (x + facing * 0.14 * s, y - 0.92 * s)
    mid = ((seat[0] + shoulder[0]) / 2, (seat[1] + shoulder[1]) / 2)
    angle = math.degrees(math.atan2(shoulder[0] - seat[0], seat[1] - shoulder[1]))
    body = (_pt(*mid), (_thick(0.1 * s), _thick(0.2 * s)), angle, 0, 360)
    prims.append((cv2.ellipse, body, cv2.FILLED, look["body"]))
    prims.append((cv2.line, (_pt(*shoulder), _pt(*bar)), _thick(0.06 * s), look["body"]))
    head = (shoulder[0] + facing * 0.05 * s, shoulder[1] - 0.1 * s)
    prims.append((cv2.circle, (_pt(*head), _thick(0.075 * s)), cv2.FILLED, look["skin"]))
    return prims


def cart_prims(x: float, y: float, size: float, facing: int, look: dict) -> list[Prim]:
    """A cart or small car: a large box body, a cabin, a window and two wheels."""
    s = size
    r = 0.11 * s
    cx = x - facing * 0.15 * s
    body = (_pt(x - 0.75 * s, y - 0.68 * s), _pt(x + 0.75 * s, y - 0.12 * s))
    cabin = (_pt(cx - 0.38 * s, y - s), _pt(cx + 0.38 * s, y - 0.68 * s))
    window = (_pt(cx - 0.3 * s, y - 0.94 * s), _pt(cx + 0.3 * s, y - 0.72 * s))
    return [
        (cv2.rectangle, body, cv2.FILLED, look["body"]),
        (cv2.rectangle, cabin, cv2.FILLED, look["body"] - 12),
        (cv2.rectangle, window, cv2.FILLED, look["window"]),
        (cv2.circle, (_pt(x - 0.5 * s, y - r), _thick(r)), cv2.FILLED, 30),
        (cv2.circle, (_pt(x + 0.5 * s, y - r), _thick(r)), cv2.FILLED, 30),
    ]


def skateboard_prims(x: float, y: float, size: float, facing: int, look: dict) -> list[Prim]:
    """A skateboarder: a crouched figure, arms out, feet on a board with small wheels."""
    s = size
    board_y = y - 0.06 * s
    ends = (_pt(x - 0.28 * s, board_y), _pt(x + 0.28 * s, board_y))
    board: list[Prim] = [
        (cv2.line, ends, _thick(0.035 * s), 35),
        (cv2.circle, (_pt(x - 0.18 * s, y - 0.025 * s), _thick(0.03 * s)), cv2.FILLED, 220),
        (cv2.circle, (_pt(x + 0.18 * s, y - 0.025 * s), _thick(0.03 * s)), cv2.FILLED, 220),
    ]
    return board + person_prims(x, board_y, s, 0.0, facing, look, GAITS["skateboarder"])


@dataclass
class Agent:
    """A moving object: pedestrian, or one of KINDS (an anomalous event when ``eid``)."""

    kind: str
    x: float
    y: float
    speed: float  # in heights per frame
    facing: int  # +1 right / down, -1 left / up
    look: dict
    u: float = 0.5  # walkway lane for objects on the walkway
    phase: float = 0.0
    eid: int = 0  # 0 for normal pedestrians, 10 + j for event j of the video
    start: int = 0  # first frame the agent exists
    seen: dict[int, list[int]] = field(default_factory=dict)  # frame -> box

    def step(self, scene: Scene) -> None:
        size = scene.person_h * scene.scale(self.y)
        px = self.speed * size  # pixels this frame
        if self.kind == "grass_walker":
            self.y += self.facing * px
        else:
            self.x += self.facing * px
            self.y = scene.lane_y(self.x, self.u)
        stride = {"runner": 0.75, "cyclist": 0.9}.get(self.kind, 0.42) * size
        self.phase += math.pi * px / stride

    def prims(self, scene: Scene) -> list[Prim]:
        size = scene.person_h * scene.scale(self.y)
        x, y, f, look = self.x, self.y, self.facing, self.look
        if self.kind == "cyclist":
            return bicycle_prims(x, y, size, self.phase, f, look)
        if self.kind == "cart":
            return cart_prims(x, y, size, f, look)
        if self.kind == "skateboarder":
            return skateboard_prims(x, y, size, f, look)
        f = 1 if self.kind == "grass_walker" else f  # it walks toward or away from the camera
        return person_prims(x, y, size, self.phase, f, look, GAITS[self.kind])


def _look(rng: np.random.Generator) -> dict:
    """Clothes and skin gray levels of one figure."""
    body = int(rng.choice([rng.integers(20, 80), rng.integers(110, 140), rng.integers(190, 245)]))
    return {
        "body": body,
        "legs": int(rng.integers(20, 120)),
        "skin": int(rng.integers(150, 215)),
        "bike": int(rng.integers(60, 220)),
        "window": int(rng.integers(200, 250)),
    }


_SPEEDS = {  # heights per frame; a walker covers ~0.06 of its height per frame at 10 fps
    "pedestrian": (0.045, 0.085),
    "cyclist": (0.2, 0.28),
    "cart": (0.08, 0.12),
    "skateboarder": (0.15, 0.2),
    "runner": (0.2, 0.26),
    "grass_walker": (0.05, 0.08),
}


def _pedestrian(scene: Scene, rng: np.random.Generator, x: float | None = None) -> Agent:
    facing = int(rng.choice([-1, 1]))
    margin = scene.person_h * 0.5
    if x is None:  # enter at the side it walks away from
        x = -margin if facing > 0 else scene.w + margin
    u = float(rng.uniform(0.08, 0.92))
    speed = float(rng.uniform(*_SPEEDS["pedestrian"]))
    look = _look(rng)
    phase = float(rng.uniform(0, 2 * math.pi))
    x = float(x)
    return Agent("pedestrian", x, scene.lane_y(x, u), speed, facing, look, u=u, phase=phase)


def _event_agent(
    scene: Scene, rng: np.random.Generator, kind: str, eid: int, start: int, in_view: bool
) -> Agent:
    facing = int(rng.choice([-1, 1]))
    speed = float(rng.uniform(*_SPEEDS[kind]))
    look = _look(rng)
    if kind == "cart":
        look["body"] = int(rng.choice([rng.integers(40, 70), rng.integers(200, 235)]))
    if kind == "grass_walker":
        x = float(rng.uniform(0.1, 0.9) * scene.w)
        top, bot = scene.edges(x)
        if not in_view:  # enters from the top or the bottom
            y = -0.02 * scene.h if facing > 0 else scene.h + scene.person_h
        elif facing < 0:  # already on the far grass
            y = float(rng.uniform(0.08 * scene.h, 0.9 * top))
        else:  # already on the near grass
            y = float(rng.uniform(bot + 0.05 * scene.h, 0.95 * scene.h))
        return Agent(kind, x, y, speed, facing, look, eid=eid, start=start)
    margin = scene.person_h * (0.8 if kind == "cart" else 0.4)
    if in_view:
        x = float(rng.uniform(0.15, 0.85) * scene.w)
    else:
        x = -margin if facing > 0 else scene.w + margin
    u = float(rng.uniform(0.25, 0.85))
    return Agent(kind, x, scene.lane_y(x, u), speed, facing, look, u=u, eid=eid, start=start)


def draw(img: np.ndarray, prims: list[Prim], value: int | None = None, aa: bool = True) -> None:
    """Draw primitives on a uint8 image; ``value`` overrides their gray levels."""
    line = cv2.LINE_AA if aa else cv2.LINE_8
    for function, geometry, thickness, val in prims:
        gray = int(np.clip(val if value is None else value, 0, 255))
        function(img, *geometry, gray, thickness, line)


def render_video(
    scene: Scene, rng: np.random.Generator, num_frames: int, events: list[tuple[str, int, bool]]
) -> tuple[list[np.ndarray], list[np.ndarray], list[Agent]]:
    """Simulate and draw one video with ``events`` (kind, start frame, already in view): the
    frames (uint8 [H, W]), the object-id maps (uint8 [H, W]; 10 + j where event j is visible,
    1 where a pedestrian is, 0 background) and the event agents with their visible boxes."""
    h, w = scene.h, scene.w
    n_start = max(1, round(rng.uniform(1.5, 4.0) * w / 360))
    walkers = [_pedestrian(scene, rng, x=rng.uniform(0, w)) for _ in range(n_start)]
    spawn_p = 0.05 * w / 360 + 0.01
    max_walkers = max(3, round(7 * w / 360))
    margin = scene.person_h * 1.6  # walkers this far out of the frame are gone
    specials = [_event_agent(scene, rng, k, 10 + j, s, v) for j, (k, s, v) in enumerate(events)]
    gain0, amp = rng.uniform(0.93, 1.07), rng.uniform(0.02, 0.05)
    period, phi, drift = rng.uniform(60, 160), rng.uniform(0, 2 * math.pi), rng.uniform(-0.05, 0.05)
    sigma = rng.uniform(2.5, 4.0)
    frames, ids = [], []
    for t in range(num_frames):
        if len(walkers) < max_walkers and rng.random() < spawn_p:
            walkers.append(_pedestrian(scene, rng))
        active = walkers + [a for a in specials if a.start <= t]
        canvas = scene.background.copy()
        idmap = np.zeros((h, w), np.uint8)
        for a in sorted(active, key=lambda a: a.y):  # far first: near objects occlude
            prims = a.prims(scene)
            draw(canvas, prims)
            draw(idmap, prims, value=a.eid or 1, aa=False)
        gain = gain0 + amp * math.sin(2 * math.pi * t / period + phi) + drift * t / num_frames
        noise = rng.standard_normal((h, w), dtype=np.float32) * np.float32(sigma)
        frame = canvas.astype(np.float32) * np.float32(gain) + noise
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        ids.append(idmap)
        for a in specials:
            if a.start <= t:
                ys, xs = np.nonzero(idmap == a.eid)
                if len(xs):
                    a.seen[t] = [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]
        for a in active:
            a.step(scene)
        walkers = [a for a in walkers if -margin < a.x < w + margin and -margin < a.y < h + margin]
    return frames, ids, specials
