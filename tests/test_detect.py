"""The detector: palette labels never confuse backgrounds with objects; shapes are told apart at any size."""

import numpy as np
import pytest

from tessera.eval.detect import (
    NUM_OBJECT_LABELS,
    OBJECT_NAMES,
    classify_shape,
    detect,
    label_pixels,
    orientation,
)
from tessera.world.render import render
from tessera.world.scene import (
    BACKGROUNDS,
    COLOURS,
    SHAPES,
    SIZES,
    TONES,
    Background,
    ObjectSpec,
    Scene,
    Shot,
)


def test_palette_colours_get_their_own_labels_and_tone_blends_stay_background():
    colours = np.array([[list(COLOURS.values())]], np.uint8)
    labels, pure = label_pixels(colours)
    assert list(labels[0, 0]) == list(range(NUM_OBJECT_LABELS)) and pure.all()
    tones = np.array(list(TONES.values()), np.float32)
    blends = np.array([[(1 - w) * a + w * b for a in tones for b in tones for w in np.linspace(0, 1, 11)]])
    labels, pure = label_pixels(np.rint(blends).astype(np.uint8)[None])
    assert (labels >= NUM_OBJECT_LABELS).all() and not pure.any()


@pytest.mark.parametrize("side", [64, 128, 256])
def test_shapes_are_recognised_at_every_size_on_every_background(side):
    rng = np.random.default_rng(side)
    wrong = 0
    for i in range(60):
        shape = SHAPES[i % len(SHAPES)]
        colour = OBJECT_NAMES[rng.integers(len(OBJECT_NAMES))]
        tone, tone2 = rng.choice(list(TONES), 2, replace=False)
        obj = ObjectSpec(
            shape, colour, list(SIZES)[i % 3], "spin" if shape in ("square", "triangle", "star") else "still"
        )
        scene = Scene(side, side, 8, (obj,), Background(BACKGROUNDS[i % 5], tone, tone2), (Shot(3),))
        r = render(scene)
        det = detect(r.video)
        for f in range(3):
            mask = det.labels[f] == OBJECT_NAMES.index(colour)
            wrong += classify_shape(mask, r.kinematics.radius[0, f]) != shape
    assert wrong <= 3  # of 180


def test_orientation_follows_a_spinning_square():
    obj = ObjectSpec("square", "blue", "large", "spin")
    scene = Scene(128, 128, 8, (obj,), Background(), (Shot(4),))
    r = render(scene)
    det = detect(r.video)
    angles = [orientation(det.labels[f] == OBJECT_NAMES.index("blue"), "square") for f in range(4)]
    period = np.pi / 2  # a square looks the same every quarter turn
    steps = np.mod(np.diff(angles) + period / 2, period) - period / 2
    assert np.allclose(steps, 2.0 / 8, atol=0.05)  # the renderer's 2 rad/s at 8 fps, counter-clockwise


def test_tracks_follow_the_object():
    obj = ObjectSpec("circle", "red", "medium", "right", x=0.2, y=0.5)
    r = render(Scene(96, 96, 8, (obj,), Background(), (Shot(9),)))
    area, x, y = detect(r.video).track("red")
    np.testing.assert_allclose(x, r.kinematics.x[0], atol=0.5)
    np.testing.assert_allclose(y, r.kinematics.y[0], atol=0.5)
    assert (area > 0).all() and np.isnan(detect(r.video).track("blue")[1]).all()
