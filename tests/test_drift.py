"""Object looks over the parts of a video (windows, shots): size, colour and presence drift."""

import numpy as np
import pytest

from tessera.eval.drift import drift, object_looks
from tessera.world.scene import COLOURS, TONES


def _video(sides, colours, frames=20, size=64):
    """A square per frame on a light grey ground, moving right; side and colour per half."""
    video = np.empty((frames, size, size, 3), np.uint8)
    video[:] = TONES["light grey"]
    for f in range(frames):
        half = f * 2 // frames
        side, x = sides[half], 8 + f
        video[f, 20 : 20 + side, x : x + side] = colours[half]
    return video


def test_an_object_that_keeps_its_look_does_not_drift():
    video = _video((12, 12), (COLOURS["red"], COLOURS["red"]))
    looks = object_looks(video, [(0, 10), (10, 20)])
    assert list(looks) == ["red"]
    first, second = looks["red"]
    assert first.presence == second.presence == 1.0 and first.area == pytest.approx(144, abs=8)
    d = drift(looks)
    assert d["objects"] == 1 and d["presence"] == 1.0
    assert d["size_ratio"] == pytest.approx(1.0, abs=0.02) and d["rgb_distance"] < 1


def test_growth_recolouring_and_loss_are_measured():
    darker = (190, 50, 45)  # still read as red, 34 RGB levels away from the palette's red
    d = drift(object_looks(_video((12, 18), (COLOURS["red"], darker)), [(0, 10), (10, 20)]))
    assert d["size_ratio"] == pytest.approx(18**2 / 12**2, rel=0.1)
    assert d["rgb_distance"] == pytest.approx(np.linalg.norm(np.subtract(COLOURS["red"], darker)), abs=3)
    gone = _video((12, 12), (COLOURS["red"], TONES["light grey"]))  # the square vanishes into the ground
    d = drift(object_looks(gone, [(0, 10), (10, 20)]))
    assert d["presence"] == 0.0 and np.isnan(d["size_ratio"])
    assert drift(object_looks(np.full((4, 32, 32, 3), 200, np.uint8), [(0, 2), (2, 4)])) == {}
    with pytest.raises(ValueError, match="frame ranges within the video's 20 frames"):
        object_looks(gone, [(0, 10), (10, 30)])
