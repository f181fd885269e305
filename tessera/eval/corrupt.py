"""Wrong videos for a scene, which the scorer must catch, and degraded but right ones, which it must not
punish. Used by its tests and its benchmark.

Each function takes a scene (and its rendering) and returns a video of the same shape that breaks the scene in
one known way, or None where that corruption would change nothing for this scene (a mirrored video of a
centred still ball is still right).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from tessera.data.video_io import read_video, write_video
from tessera.world.render import render
from tessera.world.scene import COLOURS, SYMMETRIC_SHAPES, Scene, Shot, sample_scene


def another_scene(scene: Scene, video: np.ndarray, seed: int) -> np.ndarray:
    other = sample_scene(
        seed + 1_000_003,
        height=scene.height,
        width=scene.width,
        fps=scene.fps,
        num_frames=scene.num_frames,
        split="any",
    )
    return render(other.replace(shots=(Shot(scene.num_frames),))).video


def shuffled_frames(scene: Scene, video: np.ndarray, seed: int) -> np.ndarray | None:
    if not _moves(scene):
        return None
    perm = np.random.default_rng(seed).permutation(scene.num_frames)
    return video[perm]


def frozen(scene: Scene, video: np.ndarray, seed: int) -> np.ndarray | None:
    """The first frame held still, for a scene where something moves."""
    if not _moves(scene):
        return None
    return np.repeat(video[:1], scene.num_frames, axis=0)


def colours_swapped(scene: Scene, video: np.ndarray, seed: int) -> np.ndarray:
    """Two objects trade colours; a lone object takes another colour."""
    colours = [o.colour for o in scene.objects]
    if len(colours) >= 2:
        swap = {colours[0]: colours[1], colours[1]: colours[0]}
    else:
        others = [c for c in COLOURS if c != colours[0]]
        swap = {colours[0]: others[seed % len(others)]}
    objects = tuple(dataclasses.replace(o, colour=swap.get(o.colour, o.colour)) for o in scene.objects)
    return render(scene.replace(objects=objects)).video


def mirrored(scene: Scene, video: np.ndarray, seed: int) -> np.ndarray | None:
    """Left and right swapped, for a scene where that shows: an object off-centre or moving sideways."""
    sideways = any(
        abs(o.x - 0.5) > 0.15 or o.motion in ("left", "right", "circle") or "-" in o.motion
        for o in scene.objects
    )
    return np.ascontiguousarray(video[:, :, ::-1]) if sideways else None


def object_deleted(scene: Scene, video: np.ndarray, seed: int) -> np.ndarray | None:
    """One object vanishes halfway through (needs another object to remain, and the vanishing one to have
    stayed in view: deleting what has left the frame changes nothing)."""
    if len(scene.objects) < 2:
        return None
    half = scene.num_frames // 2
    visible = render(scene, masks=True).visible[:, half:].sum((2, 3)) > 4  # (K, F - half)
    # Only an object that would have stayed in view is really deleted; pick one, rotating by seed.
    candidates = [k for k in range(len(scene.objects)) if visible[k].mean() >= 0.75]
    if not candidates:
        return None
    k = candidates[seed % len(candidates)]
    rest = scene.replace(objects=scene.objects[:k] + scene.objects[k + 1 :])
    out = video.copy()
    out[half:] = render(rest).video[half:]
    return out


def _moves(scene: Scene) -> bool:
    visible_motion = any(
        o.motion != "still" and not (o.motion == "spin" and o.shape in SYMMETRIC_SHAPES)
        for o in scene.objects
    )
    return visible_motion or any(s.camera != "still" for s in scene.shots)


# ----------------------------------------------------------------- degradations a generator's output has
# Videos that are still right, only less clean: the scorer must keep scoring them high.


def compressed(video: np.ndarray, fps: int, crf: int = 28) -> np.ndarray:
    """Through H.264 at a given quality and back (sizes must be even)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        write_video(path, video, fps, crf=crf)
        return read_video(path).frames


def blurred(video: np.ndarray, radius: float = 1.0) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(f).filter(ImageFilter.GaussianBlur(radius))) for f in video])


def exposed(video: np.ndarray, gain: float = 0.8) -> np.ndarray:
    """Darker (gain < 1) or brighter, as a clip whose exposure drifted."""
    return np.clip(video * gain, 0, 255).astype(np.uint8)


def noisy(video: np.ndarray, sigma: float = 8.0, seed: int = 0) -> np.ndarray:
    grain = np.random.default_rng(seed).normal(0.0, sigma, video.shape)
    return np.clip(video + grain, 0, 255).astype(np.uint8)


CORRUPTIONS: dict[str, Callable[[Scene, np.ndarray, int], np.ndarray | None]] = {
    "another scene": another_scene,
    "frames shuffled": shuffled_frames,
    "still video": frozen,
    "colours swapped": colours_swapped,
    "mirrored": mirrored,
    "object deleted": object_deleted,
}
