"""Finding the world's objects in a video: palette labels, per-colour tracks, shape and orientation.

The world draws objects in saturated colours on muted backgrounds (tessera.world.scene), so every pixel is
labelled with its nearest palette entry through a 32x32x32 lookup table. Edges, where an object's colour mixes
with what is behind it, can land on a third colour (red over white looks pink); a pixel only counts as "core"
when at least three of its four neighbours share its label, which drops such one-pixel seams but keeps thin
rings; so do pixels very near an object colour, which keeps one-pixel lines. A colour's core pixels in a
frame are that object's detection.

Videos read from H.264 files (tessera's default MP4 export, and most video) carry colour at half the
resolution of brightness (4:2:0 chroma subsampling): a small object's rim takes its neighbours' colour, so
it looks smaller and rounder than it was drawn. `chroma_subsampled` tells such a video from a rendered or
generated one, and `chroma_420` puts a drawing through the same channel, so that claims can expect what the
truth looks like after it (tessera.eval.claims).

Shape letters: F frames, H height, W width, P palette entries.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tessera.world.render import shape_sdf
from tessera.world.scene import COLOURS, SHAPES, TONES

OBJECT_NAMES = tuple(COLOURS)
TONE_NAMES = tuple(TONES)
NUM_OBJECT_LABELS = len(OBJECT_NAMES)  # labels 0..7 are object colours, the rest background tones
EXPOSURES = (0.8, 0.9, 1.0, 1.1)  # brightness gains the palette is matched at
PURE_DISTANCE = 30.0  # RGB distance within which a pixel is an object's colour beyond doubt
SYMMETRY = {"square": 4, "triangle": 3, "star": 5}  # rotational symmetry order of the shapes that can spin
# RGB -> (Y, Cb, Cr) offsets aside (BT.601, full range), and back.
_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_RGB = np.linalg.inv(_YCC)
# chroma_subsampled's threshold: the chroma left inside aligned 2x2 blocks, against its pixel-to-pixel
# change, is 0.04-0.34 in rendered world videos and 0.00-0.03 after the default MP4 export (60 scenes each).
SUBSAMPLED_RESIDUAL = 0.033


@lru_cache(maxsize=1)
def _label_table() -> np.ndarray:
    """(32, 32, 32) uint8: palette label of each 5-bit RGB cell, with the "pure" flag in the top bit."""
    colours = [np.array(c, np.float32) for c in COLOURS.values()]
    labels = list(range(NUM_OBJECT_LABELS))
    # Gradients and textures blend two tones; a blend must read as background, never as an object colour
    # (navy fading to sky passes near purple). Each blend takes the label of the nearer tone.
    tones = [np.array(c, np.float32) for c in TONES.values()]
    for i, tone in enumerate(tones):
        colours.append(tone)
        labels.append(NUM_OBJECT_LABELS + i)
    for i, j in itertools.combinations(range(len(tones)), 2):
        for w in np.linspace(0.1, 0.9, 9):
            colours.append((1 - w) * tones[i] + w * tones[j])
            labels.append(NUM_OBJECT_LABELS + (i if w < 0.5 else j))
    # A generator's exposure drifts: every entry also stands for itself a little darker or brighter (a clip
    # 25% too dark scores 0.96 instead of 0.37). The price is a little tolerance to heavy grain.
    palette = np.clip(np.concatenate([np.array(colours) * g for g in EXPOSURES]), 0, 255)  # (P, 3)
    labels = np.tile(np.array(labels, np.uint8), len(EXPOSURES))
    centres = np.arange(32, dtype=np.float32) * 8 + 3.5
    grid = np.stack(np.meshgrid(centres, centres, indexing="ij"), axis=-1)  # (32, 32, 2): green, blue
    table = np.empty((32, 32, 32), np.uint8)
    for r, red in enumerate(centres):  # one red slice at a time keeps the distance table small
        cells = np.concatenate([np.full((32, 32, 1), red), grid], axis=-1)  # (32, 32, 3)
        dist = ((cells[..., None, :] - palette) ** 2).sum(-1)  # (32, 32, P)
        nearest = dist.argmin(-1)
        # Cells within PURE_DISTANCE of an object colour are that colour without doubt, even as a thin line.
        pure = (labels[nearest] < NUM_OBJECT_LABELS) & (
            np.take_along_axis(dist, nearest[..., None], -1)[..., 0] < PURE_DISTANCE**2
        )
        table[r] = labels[nearest] | (pure.astype(np.uint8) << 7)
    return table


def label_pixels(video: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F, H, W, 3) uint8 -> (F, H, W) uint8 palette labels, and (F, H, W) bool "pure object colour"."""
    q = video >> 3
    cell = _label_table()[q[..., 0], q[..., 1], q[..., 2]]
    return cell & 0x7F, cell >= 0x80


def core_mask(labels: np.ndarray, pure: np.ndarray) -> np.ndarray:
    """(F, H, W) bool: pixels of a pure object colour, or sharing their label with 3 of 4 neighbours."""
    same = np.zeros(labels.shape, np.uint8)
    same[:, 1:] += labels[:, 1:] == labels[:, :-1]
    same[:, :-1] += labels[:, :-1] == labels[:, 1:]
    same[:, :, 1:] += labels[:, :, 1:] == labels[:, :, :-1]
    same[:, :, :-1] += labels[:, :, :-1] == labels[:, :, 1:]
    # Borders have fewer neighbours; count the missing ones as agreeing so objects touching the edge survive.
    same[:, 0] += 1
    same[:, -1] += 1
    same[:, :, 0] += 1
    same[:, :, -1] += 1
    return (same >= 3) | pure


@dataclass(frozen=True)
class Detections:
    """What a video shows, per palette label and frame.

    labels: (F, H, W) raw palette labels; core: (F, H, W) bool.
    area, x, y: (P, F) core pixel count and centroid (pixels; NaN where the label is absent).
    """

    labels: np.ndarray
    core: np.ndarray
    area: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def mask(self, colour: str, frame: int) -> np.ndarray:
        """(H, W) bool core pixels of an object colour in one frame."""
        return self.core[frame] & (self.labels[frame] == OBJECT_NAMES.index(colour))

    def outline(self, colour: str, frame: int) -> np.ndarray:
        """(H, W) bool: every pixel of the colour near its core pixels, edges included, for outlines."""
        core = self.mask(colour, frame)
        ys, xs = np.nonzero(core)
        out = np.zeros_like(core)
        if len(xs):
            y0, y1, x0, x1 = max(ys.min() - 2, 0), ys.max() + 3, max(xs.min() - 2, 0), xs.max() + 3
            out[y0:y1, x0:x1] = self.labels[frame, y0:y1, x0:x1] == OBJECT_NAMES.index(colour)
        return out

    def track(self, colour: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = OBJECT_NAMES.index(colour)
        return self.area[k], self.x[k], self.y[k]


def detect(video: np.ndarray) -> Detections:
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
        raise ValueError(f"expected a (F, H, W, 3) uint8 video, got shape {video.shape} dtype {video.dtype}")
    labels, pure = label_pixels(video)
    core = core_mask(labels, pure)
    f, h, w = labels.shape
    p = len(OBJECT_NAMES) + len(TONE_NAMES)
    # One bincount per statistic over (label, frame) cells instead of a loop over labels.
    cell = (labels.astype(np.int64) * f + np.arange(f)[:, None, None])[core]
    rows = np.broadcast_to(np.arange(h, dtype=np.float64)[:, None] + 0.5, (f, h, w))[core]
    cols = np.broadcast_to(np.arange(w, dtype=np.float64)[None, :] + 0.5, (f, h, w))[core]
    area = np.bincount(cell, minlength=p * f).reshape(p, f)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.bincount(cell, cols, minlength=p * f).reshape(p, f) / area
        y = np.bincount(cell, rows, minlength=p * f).reshape(p, f) / area
    return Detections(labels, core, area.astype(np.float64), x, y)


def _blocks(chroma: np.ndarray) -> np.ndarray:
    """(..., H, W, 2) -> (..., H/2, 2, W/2, 2, 2): aligned 2x2 blocks (an odd last row or column dropped)."""
    *lead, h, w, c = chroma.shape
    chroma = chroma[..., : h // 2 * 2, : w // 2 * 2, :]
    return chroma.reshape(*lead, h // 2, 2, w // 2, 2, c)


def chroma_subsampled(video: np.ndarray) -> bool:
    """Whether a (F, H, W, 3) uint8 video's colour was stored at half resolution (4:2:0, as H.264 files are):
    its chroma is then nearly constant over aligned 2x2 pixel blocks, whatever the picture."""
    chroma = video.astype(np.float32) @ _YCC[1:].T.astype(np.float32)
    blocks = _blocks(chroma)
    inside = float(((blocks - blocks.mean(axis=(-4, -2), keepdims=True)) ** 2).mean())
    change = float(
        ((chroma[:, :, 1:] - chroma[:, :, :-1]) ** 2).mean() + ((chroma[:, 1:] - chroma[:, :-1]) ** 2).mean()
    )
    return change > 1.0 and inside < SUBSAMPLED_RESIDUAL * change


def chroma_420(image: np.ndarray) -> np.ndarray:
    """A (..., H, W, 3) uint8 picture through 4:2:0: chroma averaged over aligned 2x2 blocks and spread back
    over them, as a decoder's nearest-neighbour upsampling returns it (an odd last row or column keeps its
    own)."""
    ycc = image.astype(np.float64) @ _YCC.T
    h, w = image.shape[-3] // 2 * 2, image.shape[-2] // 2 * 2
    blocks = _blocks(ycc[..., 1:])
    mean = np.broadcast_to(blocks.mean(axis=(-4, -2), keepdims=True), blocks.shape)
    ycc[..., :h, :w, 1:] = mean.reshape(*ycc.shape[:-3], h, w, 2)
    return np.clip(np.rint(ycc @ _RGB.T), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------- shapes


def shape_features(mask: np.ndarray) -> np.ndarray | None:
    """Rotation-invariant outline features of one binary object mask, or None when too small to tell.

    [fill, hole, c3, c4, c5]: area over the disc through the farthest pixel; how filled the middle is; and the
    3rd..5th harmonics of the normalised radius-by-angle profile (triangles ring at 3, squares at 4, stars 5).
    """
    ys, xs = np.nonzero(mask)
    if len(xs) < 6:
        return None
    cx, cy = xs.mean() + 0.5, ys.mean() + 0.5
    dx, dy = xs + 0.5 - cx, ys + 0.5 - cy
    dist = np.hypot(dx, dy) + 0.5  # +0.5: to the far edge of the pixel, not its centre
    r_max = dist.max()
    profile, theta = _radial_profile(dx, dy, dist)
    harmonics = np.abs(np.exp(-1j * np.outer([3, 4, 5], theta)) @ profile) / len(profile)
    fill = len(xs) / (math.pi * r_max**2)
    inner = 0.35 * r_max
    hole = min(1.0, (dist - 0.5 < inner).sum() / max(math.pi * inner**2, 1.0))
    return np.array([fill, hole, *harmonics])


def _radial_profile(dx: np.ndarray, dy: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Farthest extent in each angle bin, normalised to mean 1; empty bins take their neighbours' value."""
    num_bins = int(np.clip(dist.max() * 2, 12, 48))
    bins = ((np.arctan2(-dy, dx) + math.pi) / (2 * math.pi) * num_bins).astype(int) % num_bins
    reach = np.zeros(num_bins)
    np.maximum.at(reach, bins, dist)
    filled = reach > 0
    if not filled.all():
        idx = np.arange(num_bins)
        reach = np.interp(idx, idx[filled], reach[filled], period=num_bins)
    theta = (np.arange(num_bins) + 0.5) / num_bins * 2 * math.pi - math.pi
    return reach / reach.mean(), theta


_FEATURE_SCALE = np.array([1.0, 0.6, 4.0, 4.0, 4.0])  # puts the features on comparable footings


@lru_cache(maxsize=512)
def _templates(radius_px: float) -> tuple[tuple[str, np.ndarray], ...]:
    """Features of every shape drawn at a nominal radius, at a few rotations."""
    size = int(math.ceil(radius_px * 1.4)) * 2 + 4
    c = np.arange(size) + 0.5 - size / 2
    px, py = np.meshgrid(c, c)
    out = []
    for shape in SHAPES:
        for angle in np.linspace(0, 2 * math.pi / SYMMETRY.get(shape, 4), 3, endpoint=False):
            feats = shape_features(shape_sdf(shape, px, py, radius_px, angle) < 0)
            if feats is not None:
                out.append((shape, feats))
    return tuple(out)


def classify_shape(mask: np.ndarray, radius_px: float) -> str | None:
    """Nearest shape for a mask whose objects are drawn at about this nominal radius (pixels)."""
    feats = shape_features(mask)
    if feats is None:
        return None
    templates = _templates(round(radius_px * 2) / 2)
    dists = [float(np.abs((feats - t) * _FEATURE_SCALE).sum()) for _, t in templates]
    return templates[int(np.argmin(dists))][0]


def orientation(mask: np.ndarray, shape: str) -> float | None:
    """Angle (radians, modulo the shape's symmetry) of a polygon's outline, from its harmonic's phase."""
    k = SYMMETRY.get(shape)
    ys, xs = np.nonzero(mask)
    if k is None or len(xs) < 6:
        return None
    dx, dy = xs - xs.mean(), ys - ys.mean()
    profile, theta = _radial_profile(dx, dy, np.hypot(dx, dy) + 0.5)
    # The k-th harmonic's phase is -k times the rotation; counter-clockwise on screen is positive.
    return float(-np.angle(np.exp(-1j * k * theta) @ profile) / k)
