"""Rendering: determinism, resolution independence, anti-aliasing, physics, occlusion, camera and shots."""

import numpy as np
import pytest

from tessera.world.render import GRAVITY, floor_level, object_track, render, wall_hits
from tessera.world.scene import COLOURS, Background, ObjectSpec, Scene, Shot, sample_scene


def one(obj, size=(128, 128), frames=17, fps=8, background=None, shots=None):
    return Scene(size[0], size[1], fps, (obj,), background or Background(), shots or (Shot(frames),))


def colour_mask(video, colour, tol=10):
    return np.abs(video.astype(int) - COLOURS[colour]).sum(-1) < tol


def centroid(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean() + 0.5, ys.mean() + 0.5


def test_deterministic_and_shaped():
    scene = sample_scene(11, height=72, width=128, split="any")
    a, b = render(scene, masks=True), render(scene, masks=True)
    assert a.video.shape == (scene.num_frames, 72, 128, 3) and a.video.dtype == np.uint8
    np.testing.assert_array_equal(a.video, b.video)
    assert a.visible.shape == (len(scene.objects), scene.num_frames, 72, 128)


def test_same_scene_at_any_resolution_is_the_same_picture():
    obj = ObjectSpec("star", "blue", "large", "right", x=0.3, y=0.4)
    small, big = render(one(obj, (64, 64))).video, render(one(obj, (256, 256))).video
    for f in (0, 8, 16):
        (xs, ys), (xb, yb) = centroid(colour_mask(small[f], "blue")), centroid(colour_mask(big[f], "blue"))
        assert abs(xs * 4 - xb) < 2.5 and abs(ys * 4 - yb) < 2.5
        ratio = colour_mask(big[f], "blue").sum() / colour_mask(small[f], "blue").sum()
        assert 12 < ratio < 20  # 16x the pixels, give or take the edges


def test_edges_are_anti_aliased():
    video = render(one(ObjectSpec("circle", "red", "large"), frames=1)).video[0].astype(int)
    red, white = np.array(COLOURS["red"]), np.array([246, 246, 242])
    mixed = (np.abs(video - red).sum(-1) > 20) & (np.abs(video - white).sum(-1) > 20)
    assert 20 < mixed.sum() < 200  # a ring of partly covered pixels, nothing more


def test_linear_motion_moves_the_stated_way_and_stays_on_canvas():
    for motion, sign in (("left", -1), ("right", 1)):
        v = render(one(ObjectSpec("square", "green", "small", motion, x=0.5, y=0.5, speed=0.3))).video
        x0, _ = centroid(colour_mask(v[0], "green"))
        x1, _ = centroid(colour_mask(v[8], "green"))
        assert np.sign(x1 - x0) == sign and abs(x1 - x0) > 0.2 * 128
    # Fast enough to hit a wall: it bounces back and never leaves the canvas.
    scene = one(ObjectSpec("circle", "red", "small", "right", x=0.8, y=0.5, speed=1.0), frames=33)
    x, _, _, _ = object_track(scene, scene.objects[0])
    assert x.max() <= 1.0 - 0.07 + 1e-9 and x[-1] < x.max()


def test_bounce_accelerates_down_lands_on_floor_and_rises_again():
    scene = one(
        ObjectSpec("circle", "orange", "medium", "bounce", x=0.5, y=0.2),
        frames=49,
        fps=24,
        background=Background("ground", "sky", "soil"),
    )
    _, y, _, _ = object_track(scene, scene.objects[0])
    land = int(np.argmax(np.diff(y) < 0))  # the first landing: y stops growing
    rest = floor_level(scene) - 0.105  # where the ball's bottom touches the ground line
    assert y.max() <= rest + 1e-9 and y[land] > rest - 0.02
    accel = np.diff(y[:land], 2).mean() * 24**2
    assert accel == pytest.approx(GRAVITY, rel=0.05)
    assert y[land:].min() < y[land] - 0.1  # rises again after landing


def test_fall_comes_to_rest():
    scene = one(ObjectSpec("square", "blue", "medium", "fall", x=0.5, y=0.2), frames=33)
    _, y, _, _ = object_track(scene, scene.objects[0])
    assert y[-1] == pytest.approx(y.max()) and y[-5:].std() < 1e-9


def test_front_object_hides_the_one_behind():
    front = ObjectSpec("square", "blue", "large", "still", x=0.5, y=0.5, depth=1)
    back = ObjectSpec("circle", "red", "small", "right", x=0.1, y=0.5, speed=0.45, depth=0)
    scene = Scene(64, 64, 8, (front, back), Background(), (Shot(17),))
    r = render(scene, masks=True)
    vis, amo = r.visible[1].sum((1, 2)), r.amodal[1].sum((1, 2))
    assert (vis < 0.05 * amo).any()  # wholly hidden for a while...
    assert vis[0] > 0.9 * amo[0] and vis[-1] > 0.9 * amo[-1]  # ...seen before and after
    hidden = int(np.argmin(vis))
    assert not colour_mask(r.video[hidden], "red").any()


def test_camera_pan_and_cut_to_close_up():
    still = ObjectSpec("circle", "purple", "small", "still", x=0.5, y=0.5)
    panned = render(one(still, shots=(Shot(17, camera="pan-left"),))).video
    x0, _ = centroid(colour_mask(panned[0], "purple"))
    x1, _ = centroid(colour_mask(panned[-1], "purple"))
    assert x1 > x0 + 5  # the view moves left, so what stands still drifts right on screen
    cut = render(one(still, shots=(Shot(8), Shot(8, zoom=2.0)))).video
    a0, a1 = colour_mask(cut[7], "purple").sum(), colour_mask(cut[8], "purple").sum()
    assert 3.0 < a1 / a0 < 5.0  # twice the zoom, four times the area


def test_background_kinds_render_their_tones():
    for kind in ("solid", "gradient", "ground", "stripes", "checker"):
        scene = one(
            ObjectSpec("ring", "cyan", "small", x=0.1, y=0.1),
            frames=1,
            background=Background(kind, "white", "navy"),
        )
        v = render(scene).video[0].astype(int)
        assert (np.abs(v - [246, 246, 242]).sum(-1) < 6).any()
        if kind != "solid":
            assert v.std(axis=(0, 1)).sum() > 5


def test_wall_hits_are_where_the_track_turns_round():
    scene = one(ObjectSpec("circle", "red", "small", "up-left", x=0.3, y=0.4, speed=0.8), frames=33, fps=16)
    hits = wall_hits(scene, scene.objects[0])
    x, y, _, _ = object_track(scene, scene.objects[0])
    t = np.arange(33) / 16
    assert [side for _, side in hits] == ["left", "top", "right"]  # 1.17 units of travel on each axis
    for when, side in hits:
        track, sign = {"left": (x, 1), "right": (x, -1), "top": (y, 1)}[side]
        f = int(round(when * 16))
        wall = 0.07 if sign == 1 else 1 - 0.07  # where the small ball's centre touches the wall
        assert track[f] == pytest.approx(wall, abs=0.8 / 16)  # at the wall at that moment...
        before, after = track[max(f - 2, 0)], track[min(f + 2, 32)]
        assert sign * (before - track[f]) > 0 and sign * (after - track[f]) > 0  # ...and turning round
    assert all(0 < when < t[-1] + 1 / 16 for when, _ in hits)
