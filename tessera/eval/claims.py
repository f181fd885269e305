"""What every claim check shares: the Claim record, the scoring context, and frame selection.

The context holds the scene, its reference rendering, and the detector's view of both the reference
(`expected`) and the video under test (`seen`). In full-spec mode (`stated is None`) claims compare the video
with the reference frame by frame. In prompt mode the reference is only one instance of what the prompt
allows, so claims read the video's own detections and judge them against the prompt's words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from tessera.eval.detect import (
    NUM_OBJECT_LABELS,
    OBJECT_NAMES,
    SYMMETRY,
    Detections,
    chroma_420,
    classify_shape,
    detect,
)
from tessera.world.prompts import Stated
from tessera.world.render import Rendering, camera_track, shape_sdf
from tessera.world.scene import COLOURS, TONES, Scene

PASS = 0.8
SIZE_TOLERANCE = 1.45  # area ratio; the world's sizes are ~2.2x apart in area, so this splits them
SHAPE_FRAMES = 4  # frames sampled for shape and size checks


@dataclass(frozen=True)
class Claim:
    criterion: str
    subject: str  # "red circle", "red circle left of blue square", "scene"
    score: float
    detail: str = ""
    about: tuple = ()  # (k,) for a claim about object k; (i, "left_of", j) for a relation; () for the scene

    @property
    def passed(self) -> bool:
        return bool(self.score >= PASS)  # a numpy score would give a numpy bool, which json cannot write


@dataclass
class Context:
    scene: Scene
    ref: Rendering
    expected: Detections
    seen: Detections
    video: np.ndarray
    stated: Stated | None
    subsampled: bool = False  # the video's colour went through 4:2:0 (detect.chroma_subsampled)

    @property
    def exact(self) -> bool:
        return self.stated is None

    @property
    def side(self) -> float:
        return float(min(self.scene.height, self.scene.width))

    def min_area(self) -> float:
        return max(4.0, 8e-4 * self.scene.height * self.scene.width)

    def visible_frames(self, k: int) -> np.ndarray:
        """Frames where the reference shows object k."""
        area, _, _ = self.expected.track(self.scene.objects[k].colour)
        return np.nonzero(area >= self.min_area())[0]

    def seen_frames(self, k: int) -> np.ndarray:
        """Frames where the video shows object k's colour."""
        area, _, _ = self.seen.track(self.scene.objects[k].colour)
        return np.nonzero(area >= 0.5 * self.min_area())[0]

    def whole_frames(self, k: int) -> np.ndarray:
        """Frames where the reference shows object k whole: unoccluded and inside the frame."""
        vis, amo = self.ref.visible[k].sum((1, 2)), self.ref.amodal[k].sum((1, 2))
        kin = self.ref.kinematics
        r = kin.radius[k] * 1.3
        inside = (
            (kin.x[k] - r >= 0)
            & (kin.x[k] + r <= self.scene.width)
            & (kin.y[k] - r >= 0)
            & (kin.y[k] + r <= self.scene.height)
        )
        ok = inside & (vis >= 0.97 * amo) & (amo > 0)
        return np.intersect1d(np.nonzero(ok)[0], self.visible_frames(k))

    def clear_frames(self, k: int) -> np.ndarray:
        """Frames to measure object k's outline in: whole in the reference (full spec), or, in prompt mode,
        clear of the frame's border and of every other object in the video itself."""
        if self.exact:
            return self.whole_frames(k)
        out = []  # frames where the object is seen clear; if it never is, every frame it is seen in
        area, _, _ = self.seen.track(self.scene.objects[k].colour)
        seen = self.seen_frames(k)
        full = np.median(np.sort(area[seen])[-3:]) if len(seen) else 0.0  # its size when not cut off
        changes_size = self.scene.objects[k].motion in ("grow", "shrink")
        for f in seen:
            ys, xs = np.nonzero(self.seen.mask(self.scene.objects[k].colour, f))
            if len(xs) == 0 or ys.min() < 1 or xs.min() < 1:
                continue
            y0, y1, x0, x1 = ys.min() - 2, ys.max() + 3, xs.min() - 2, xs.max() + 3
            if y1 > self.scene.height or x1 > self.scene.width:
                continue
            labels = self.seen.labels[f, y0:y1, x0:x1][self.seen.core[f, y0:y1, x0:x1]]
            others = (labels < NUM_OBJECT_LABELS) & (
                labels != OBJECT_NAMES.index(self.scene.objects[k].colour)
            )
            if others.sum() <= 2 and (area[f] >= 0.8 * full or changes_size):
                out.append(f)
        out = np.array(out, int) if out else self.seen_frames(k)
        first_shot = out[self.shot_of(out) == 0]  # the default framing, where sizes mean what they say
        return first_shot if len(first_shot) else out

    def expected_area(self, k: int, frames: np.ndarray) -> np.ndarray:
        """Core area (pixels) object k should have at these frames when seen whole."""
        obj = self.scene.objects[k]
        radius = self.ref.kinematics.radius[k, frames]
        tone = self.scene.background.tone  # edges blend with what is behind, and so count more or less
        return np.array(
            [_core_area(obj.shape, obj.colour, tone, round(r * 2) / 2, self.subsampled) for r in radius]
        )

    def shapes_allowed(self, k: int, f: int) -> frozenset[str]:
        """The shapes object k may be seen as in frame f: its own, and, in a video whose colour went through
        4:2:0, whatever that channel makes of it at its size (a 5-pixel star loses its points)."""
        obj = self.scene.objects[k]
        if not self.subsampled:
            return frozenset({obj.shape})
        radius = round(float(self.ref.kinematics.radius[k, f]) * 2) / 2
        return _channel_shapes(obj.shape, obj.colour, self.scene.background.tone, radius)

    @cached_property
    def shot_starts(self) -> list[int]:
        """First frame of each shot: the scene's (full spec), or the cuts seen in the video (prompt mode,
        where the prompt may not mention a cut that the video has)."""
        if self.exact:
            return self.scene.shot_starts()
        area, valid = (
            self.seen.area[:NUM_OBJECT_LABELS],
            self.seen.area[:NUM_OBJECT_LABELS] >= self.min_area(),
        )
        starts = [0]
        for f in range(1, self.scene.num_frames):
            both = valid[:, f - 1] & valid[:, f]
            if not both.any():
                continue
            # A cut to another framing rescales everything at once; nothing in the world grows that fast.
            jumps = np.abs(np.log(area[both, f] / area[both, f - 1])) > math.log(1.6)
            if jumps.mean() > 0.5:
                starts.append(f)
        return sorted(set(starts) | set(self.scene.shot_starts()))  # and where the prompt's own cuts fall

    def world_track(self, k: int, det: Detections | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Object k's centre in the video (or in `det`), undoing the scene's camera moves: pixels of the
        default framing, so that "moves left" means left in the world even while the camera pans or zooms."""
        _, x, y = (det or self.seen).track(self.scene.objects[k].colour)
        cam_x, cam_y, ppu = camera_track(self.scene)
        unit = self.scene.unit
        wx = ((x - self.scene.width / 2) / ppu + cam_x) * unit
        wy = ((y - self.scene.height / 2) / ppu + cam_y) * unit
        return wx, wy

    def shot_of(self, frames: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.shot_starts, frames, side="right") - 1

    def object_mask(self, det: Detections, k: int, f: int) -> np.ndarray:
        """All pixels of object k's colour around its core pixels: edges included, for outlines."""
        return det.outline(self.scene.objects[k].colour, f)

    def shape_seen(self, k: int, f: int) -> str | None:
        """The shape the video shows for object k in frame f."""
        return classify_shape(self.object_mask(self.seen, k, f), self.ref.kinematics.radius[k, f])

    def windows(self, frames: np.ndarray, length: int) -> list[np.ndarray]:
        """Runs of consecutive frames within one shot, cut into pieces of about `length` frames."""
        out = []
        shots = self.shot_of(frames)
        breaks = np.nonzero((np.diff(frames) != 1) | (np.diff(shots) != 0))[0] + 1
        for run in np.split(frames, breaks):
            if len(run) < 2:
                continue
            pieces = max(1, round((len(run) - 1) / length))
            edges = np.linspace(0, len(run) - 1, pieces + 1).round().astype(int)
            out += [run[a : b + 1] for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
        return out


def from_checks(
    criterion: str, subject: str, checks: dict[str, bool], about: tuple = (), context: str = ""
) -> Claim:
    """A claim scored by the share of named checks that hold; its detail names the ones that failed."""
    failed = [name for name, ok in checks.items() if not ok]
    detail = "fails: " + ", ".join(failed) if failed else "ok"
    return Claim(criterion, subject, 1 - len(failed) / len(checks), f"{context}{detail}", about)


def sample(frames: np.ndarray, n: int) -> np.ndarray:
    """Up to n frames spread evenly over the given ones."""
    if len(frames) <= n:
        return frames
    return frames[np.linspace(0, len(frames) - 1, n).round().astype(int)]


def _drawn(shape: str, colour: str, tone: str, radius: float, angle: float = 0.0) -> np.ndarray:
    """(4, S, S, 3) uint8: a shape alone on a tone, at this radius (pixels), its centre at each of the four
    places a 2x2 pixel block has (a whole or a half pixel off in x and y)."""
    size = int(math.ceil(radius * 1.4)) * 2 + 6
    ground, paint = np.array(TONES[tone], np.float32), np.array(COLOURS[colour], np.float32)
    out = []
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        c = np.arange(size) + 0.5 - size / 2
        px, py = np.meshgrid(c - dx / 2, c - dy / 2)
        alpha = np.clip(0.5 - shape_sdf(shape, px, py, radius, angle), 0.0, 1.0)[..., None]
        out.append(np.rint(ground + (paint - ground) * alpha).astype(np.uint8))
    return np.stack(out)


@lru_cache(maxsize=2048)
def _core_area(shape: str, colour: str, tone: str, radius: float, subsampled: bool = False) -> float:
    """How many core pixels the detector finds for a shape drawn alone on a tone at this radius (pixels),
    through 4:2:0 if `subsampled` (the mean over where the shape sits on the 2x2 blocks)."""
    images = _drawn(shape, colour, tone, radius)
    if not subsampled:
        return float(detect(images[:1]).area[OBJECT_NAMES.index(colour), 0])
    return float(detect(chroma_420(images)).area[OBJECT_NAMES.index(colour)].mean())


@lru_cache(maxsize=2048)
def _channel_shapes(shape: str, colour: str, tone: str, radius: float) -> frozenset[str]:
    """The shape and what the classifier makes of it through 4:2:0 at this radius, at a few rotations and
    the four places on the 2x2 blocks."""
    seen = {shape}
    for angle in np.linspace(0, 2 * math.pi / SYMMETRY.get(shape, 4), 3, endpoint=False):
        det = detect(chroma_420(_drawn(shape, colour, tone, radius, float(angle))))
        seen |= {classify_shape(det.outline(colour, f), radius) for f in range(len(det.labels))}
    return frozenset(seen - {None})
