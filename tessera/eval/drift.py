"""How the objects of a long video or a storyboard look over time: per part, each object's size and colour.

A long video is made window by window, a storyboard shot by shot; the same object should keep its look
across them. `object_looks` finds the world's objects in every part (tessera/eval/detect.py: one object per
palette colour) and reports, per object colour seen in the first part, how often it is seen in each part, its
mean size (core pixels) and its mean drawn colour (RGB of its core pixels). `drift` compares every later part
with the first: size as a ratio, colour as an RGB distance (0..441), presence as the share of frames.

Shape letters: F frames, H height, W width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tessera.eval.detect import OBJECT_NAMES, detect

MIN_AREA = 12  # core pixels for an object to count as seen in a frame (a few stray pixels are not an object)


@dataclass(frozen=True)
class Look:
    """An object colour within one part: share of frames it is seen in, its mean core size and mean RGB there
    (NaN when it is never seen)."""

    presence: float
    area: float
    rgb: tuple[float, float, float]


def object_looks(video: np.ndarray, parts: list[tuple[int, int]]) -> dict[str, list[Look]]:
    """{colour: one Look per part} for the object colours seen in the first part; parts are frame ranges
    (start, end) of `video` (F, H, W, 3) uint8."""
    if not parts or any(not 0 <= a < b <= len(video) for a, b in parts):
        raise ValueError(
            f"parts must be non-empty frame ranges within the video's {len(video)} frames: {parts}"
        )
    found = detect(video)
    looks: dict[str, list[Look]] = {}
    for k, colour in enumerate(OBJECT_NAMES):
        seen = found.area[k] >= MIN_AREA  # (F,)
        a, b = parts[0]
        if not seen[a:b].any():
            continue
        looks[colour] = []
        for a, b in parts:
            frames = [f for f in range(a, b) if seen[f]]
            if not frames:
                looks[colour].append(Look(0.0, float("nan"), (float("nan"),) * 3))
                continue
            pixels = np.concatenate([video[f][found.mask(colour, f)] for f in frames]).astype(np.float64)
            looks[colour].append(
                Look(len(frames) / (b - a), float(found.area[k, frames].mean()), tuple(pixels.mean(0)))
            )
    return looks


def drift(looks: dict[str, list[Look]]) -> dict[str, float]:
    """Means over objects and later parts: presence, size ratio to the first part, RGB distance to it.

    Parts where an object is not seen count in presence only. Empty dict when no object is in the first part.
    """
    presence, ratio, distance = [], [], []
    for parts in looks.values():
        first = parts[0]
        for look in parts[1:]:
            presence.append(look.presence)
            if look.presence > 0:
                ratio.append(look.area / first.area)
                distance.append(float(np.linalg.norm(np.subtract(look.rgb, first.rgb))))
    if not presence:
        return {}
    nan = float("nan")
    return {
        "objects": float(len(looks)),
        "presence": float(np.mean(presence)),
        "size_ratio": float(np.mean(ratio)) if ratio else nan,
        "rgb_distance": float(np.mean(distance)) if distance else nan,
    }
