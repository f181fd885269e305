"""How a video changes from frame to frame: the jumps between consecutive frames (seams, flicker), and how
far one video's changes are from another's (motion kept through an edit or a VAE round trip).

Frames are uint8 arrays (F, H, W, 3); results are in 0..255 levels.
"""

from __future__ import annotations

import numpy as np


def frame_jumps(frames: np.ndarray) -> np.ndarray:
    """Mean absolute difference between consecutive frames, (F - 1,), in 0..255 levels: a seam shows as a
    jump well above the clip's own frame-to-frame change."""
    f = frames.astype(np.float32)
    return np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3))


def change_error(frames: np.ndarray, reference: np.ndarray) -> float:
    """Mean absolute error of the frame-to-frame change of `frames` against `reference`'s (both (F, H, W, 3)
    uint8), in 0..255 levels: 0 when they move exactly alike, whatever each frame's colours (an edit that
    recolours an object keeps its motion). train_vae.temporal_error is the same measure as a training loss."""
    if frames.shape != reference.shape:
        raise ValueError(f"frames {tuple(frames.shape)} and reference {tuple(reference.shape)} differ")
    step = lambda v: np.diff(v.astype(np.float32), axis=0)  # noqa: E731
    return float(np.abs(step(frames) - step(reference)).mean())
