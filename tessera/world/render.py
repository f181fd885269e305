"""Rendering a world scene to pixels: kinematics, camera, anti-aliased shapes, occlusion.

Everything here is a pure function of the scene spec, so a scene renders the same on every machine, at every
resolution (up to sampling). Shapes are drawn from signed distance functions measured in pixels, so each
pixel's coverage is `clip(0.5 - sdf, 0, 1)`: edges are anti-aliased at any size.

Shape letters: K objects, F frames, H height, W width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tessera.world.scene import COLOURS, DIRECTIONS, ORBIT_RADIUS, TONES, ObjectSpec, Scene

GRAVITY = 3.0  # units / s^2
RESTITUTION = 0.8  # bounce keeps this share of speed
GROUND_LEVEL = 0.8  # the ground line, as a fraction of canvas height
SPIN_RATE = 2.0  # radians / s
PAN_SPEED = 0.15  # units / s
CAMERA_ZOOM_RANGE = 0.3  # zoom-in goes from 1x to 1.3x the shot's framing within the shot
GROW_RANGE = (0.6, 1.4)  # size multiplier from start to end of clip for "grow" (reversed for "shrink")
TEXTURE_MIX = 0.35  # how much of tone2 shows in stripes and checks: textures stay low-contrast

# Outline of each shape relative to its nominal radius r, so that shapes of one size look alike in area.
SQUARE_HALF = 0.85
TRIANGLE_R = 1.2
STAR_OUTER, STAR_INNER = 1.25, 0.5
RING_INNER = 0.45  # thick enough (0.55 r) to survive blur and compression at 64 px
# How far each shape reaches below its centre (unrotated), so it rests on the floor instead of sinking in.
BOTTOM_EXTENT = {
    "circle": 1.0,
    "square": SQUARE_HALF,
    "triangle": TRIANGLE_R / 2,
    "star": STAR_OUTER * math.cos(math.pi / 5),
    "ring": 1.0,
}


@dataclass(frozen=True)
class Kinematics:
    """Where everything is at each frame, in pixels of the output video.

    x, y, radius, angle: (K, F) object centre, size (pixels), rotation (radians, counter-clockwise on screen).
    """

    x: np.ndarray
    y: np.ndarray
    radius: np.ndarray
    angle: np.ndarray


@dataclass(frozen=True)
class Rendering:
    """video: (F, H, W, 3) uint8. visible: (K, F, H, W) float32 coverage of each object after occlusion;
    amodal: the same without occlusion (the whole object, as if nothing were in front of it)."""

    video: np.ndarray
    visible: np.ndarray
    amodal: np.ndarray
    kinematics: Kinematics


def canvas_units(scene: Scene) -> tuple[float, float]:
    """Canvas width and height in units (the shorter side is 1)."""
    return scene.width / scene.unit, scene.height / scene.unit


def floor_level(scene: Scene) -> float:
    """The y (units) that bouncing and falling objects land on: the ground line, else the canvas bottom."""
    _, hu = canvas_units(scene)
    return GROUND_LEVEL * hu if scene.background.kind == "ground" else hu


def frame_times(scene: Scene) -> np.ndarray:
    return np.arange(scene.num_frames) / scene.fps


def object_track(scene: Scene, obj: ObjectSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """World-space (units) centre x, y, size multiplier and angle of one object at each frame."""
    t = frame_times(scene)
    wu, hu = canvas_units(scene)
    x0, y0, r = obj.x * wu, obj.y * hu, obj.radius
    x, y = np.full_like(t, x0), np.full_like(t, y0)
    scale, angle = np.ones_like(t), np.zeros_like(t)
    if obj.motion in DIRECTIONS:
        dx, dy = DIRECTIONS[obj.motion]
        x = _reflect(x0 + dx * obj.speed * t, r, wu - r)
        y = _reflect(y0 + dy * obj.speed * t, r, hu - r)
    elif obj.motion in ("bounce", "fall"):
        restitution = RESTITUTION if obj.motion == "bounce" else 0.0
        y = _drop(y0, floor_level(scene) - BOTTOM_EXTENT[obj.shape] * r, restitution, t)
    elif obj.motion == "circle":
        omega = obj.speed / ORBIT_RADIUS
        x = x0 + ORBIT_RADIUS * np.cos(omega * t)
        y = y0 + ORBIT_RADIUS * np.sin(omega * t)  # y points down, so this turns clockwise on screen
    elif obj.motion in ("grow", "shrink"):
        lo, hi = GROW_RANGE if obj.motion == "grow" else GROW_RANGE[::-1]
        scale = lo + (hi - lo) * t / max(scene.duration, 1e-9)
    elif obj.motion == "spin":
        angle = SPIN_RATE * t
    return x, y, scale, angle


WALLS = (("left", "right"), ("top", "bottom"))  # the walls of the x axis, then of the y axis


def wall_hits(scene: Scene, obj: ObjectSpec) -> list[tuple[float, str]]:
    """When (seconds) and which wall a straight-line mover bounces off within the clip, in time order."""
    if obj.motion not in DIRECTIONS:
        return []
    wu, hu = canvas_units(scene)
    hits = []
    for axis, (start, extent) in enumerate(((obj.x * wu, wu), (obj.y * hu, hu))):
        velocity = DIRECTIONS[obj.motion][axis] * obj.speed
        lo, hi = obj.radius, extent - obj.radius
        if velocity == 0 or hi <= lo:
            continue
        # Unfolded, the path is a straight line; it meets a wall wherever it crosses lo + k * (hi - lo).
        span = hi - lo
        end = start + velocity * scene.duration
        first, last = sorted(((start - lo) / span, (end - lo) / span))
        for k in range(math.floor(first) + 1, math.ceil(last)):
            t = (lo + k * span - start) / velocity
            if 0 < t < scene.duration:
                hits.append((t, WALLS[axis][k % 2]))
    return sorted(hits)


def _reflect(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Bounce a coordinate between two walls: a triangle wave."""
    if hi <= lo:
        return np.full_like(v, (lo + hi) / 2)
    span = hi - lo
    m = np.mod(v - lo, 2 * span)
    return lo + np.where(m <= span, m, 2 * span - m)


def _drop(y0: float, floor: float, restitution: float, t: np.ndarray) -> np.ndarray:
    """Height of a dropped object at times t: piecewise parabolas, each bounce keeping `restitution`."""
    y = np.empty_like(t)
    if y0 >= floor:
        y[:] = floor
        return y
    start, speed, top = 0.0, 0.0, y0  # a flight starts at `start` from height `top` with upward speed `speed`
    remaining = np.ones_like(t, dtype=bool)
    for _ in range(64):
        # Solve top - speed*s + g/2 s^2 = floor for the landing time s of this flight.
        land = (speed + math.sqrt(speed * speed + 2 * GRAVITY * (floor - top))) / GRAVITY
        in_flight = remaining & (t < start + land)
        s = t[in_flight] - start
        y[in_flight] = top - speed * s + 0.5 * GRAVITY * s * s
        remaining &= ~in_flight
        impact = math.sqrt(speed * speed + 2 * GRAVITY * (floor - top))  # downward speed at landing
        start, speed, top = start + land, restitution * impact, floor
        if speed < 0.05 or not remaining.any():
            break
    y[remaining] = floor
    return y


def camera_track(scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """View centre (units) and pixels-per-unit at each frame, from each shot's framing and camera move."""
    wu, hu = canvas_units(scene)
    cx, cy, ppu = [], [], []
    for shot in scene.shots:
        tau = np.arange(shot.num_frames) / scene.fps  # time since the shot began
        frac = tau / max(shot.num_frames / scene.fps, 1e-9)
        pan = {"pan-left": -PAN_SPEED, "pan-right": PAN_SPEED}.get(shot.camera, 0.0)
        zoom = {"zoom-in": 1 + CAMERA_ZOOM_RANGE * frac, "zoom-out": 1 + CAMERA_ZOOM_RANGE * (1 - frac)}.get(
            shot.camera, np.ones_like(tau)
        )
        cx.append(shot.cx * wu + pan * tau)
        cy.append(np.full_like(tau, shot.cy * hu))
        ppu.append(scene.unit * shot.zoom * zoom)
    return np.concatenate(cx), np.concatenate(cy), np.concatenate(ppu)


def kinematics(scene: Scene) -> Kinematics:
    cam_x, cam_y, ppu = camera_track(scene)
    xs, ys, rs, angles = [], [], [], []
    for obj in scene.objects:
        x, y, scale, angle = object_track(scene, obj)
        xs.append((x - cam_x) * ppu + scene.width / 2)  # units -> pixels of this frame's view
        ys.append((y - cam_y) * ppu + scene.height / 2)
        rs.append(obj.radius * scale * ppu)
        angles.append(angle)
    return Kinematics(np.array(xs), np.array(ys), np.array(rs), np.array(angles))


def shape_sdf(shape: str, px: np.ndarray, py: np.ndarray, radius: float, angle: float) -> np.ndarray:
    """Signed distance (pixels, negative inside) from points (px, py), relative to the centre, to a shape."""
    if shape == "circle":
        return np.hypot(px, py) - radius
    if shape == "ring":
        d = np.hypot(px, py)
        mid, half = radius * (1 + RING_INNER) / 2, radius * (1 - RING_INNER) / 2
        return np.abs(d - mid) - half
    return _polygon_sdf(px, py, shape_outline(shape, radius, angle))


def shape_outline(shape: str, radius: float, angle: float) -> np.ndarray:
    """Polygon vertices (V, 2) of a polygonal shape in screen pixels (y down), rotated by angle."""
    if shape == "square":
        k, r, offset = 4, SQUARE_HALF * radius * math.sqrt(2), math.pi / 4
        radii = np.full(k, r)
    elif shape == "triangle":
        k, offset = 3, math.pi / 2  # apex up
        radii = np.full(k, TRIANGLE_R * radius)
    elif shape == "star":
        k, offset = 10, math.pi / 2
        radii = np.where(np.arange(k) % 2 == 0, STAR_OUTER * radius, STAR_INNER * radius)
    else:
        raise ValueError(f"not a polygonal shape: {shape!r}")
    theta = offset + angle + 2 * math.pi * np.arange(k) / k
    return np.stack([radii * np.cos(theta), -radii * np.sin(theta)], axis=1)  # minus: screen y points down


def _polygon_sdf(px: np.ndarray, py: np.ndarray, verts: np.ndarray) -> np.ndarray:
    dist2 = np.full(px.shape, np.inf)
    inside = np.zeros(px.shape, dtype=bool)
    for i in range(len(verts)):
        ax, ay = verts[i - 1]
        bx, by = verts[i]
        ex, ey = bx - ax, by - ay
        wx, wy = px - ax, py - ay
        h = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        dist2 = np.minimum(dist2, (wx - ex * h) ** 2 + (wy - ey * h) ** 2)
        # Even-odd rule: count crossings of a horizontal ray to the right of each point.
        crosses = (ay > py) != (by > py)
        x_at = ax + (py - ay) * ex / np.where(ey == 0, 1e-12, ey)
        inside ^= crosses & (px < x_at)
    return np.where(inside, -1.0, 1.0) * np.sqrt(dist2)


def background(scene: Scene) -> np.ndarray:
    """(F, H, W, 3) float32 background in [0, 255]; computed once when the camera never moves."""
    cam_x, cam_y, ppu = camera_track(scene)
    static = np.ptp(cam_x) == 0 and np.ptp(cam_y) == 0 and np.ptp(ppu) == 0
    frames = 1 if static else scene.num_frames
    out = np.empty((frames, scene.height, scene.width, 3), np.float32)
    cols = np.arange(scene.width) + 0.5
    rows = np.arange(scene.height) + 0.5
    for f in range(frames):
        wx = (cols - scene.width / 2) / ppu[f] + cam_x[f]  # pixel centres -> units
        wy = (rows - scene.height / 2) / ppu[f] + cam_y[f]
        out[f] = _background_at(scene, wx[None, :], wy[:, None], ppu[f])
    return np.broadcast_to(out, (scene.num_frames, *out.shape[1:])) if static else out


def _background_at(scene: Scene, wx: np.ndarray, wy: np.ndarray, ppu: float) -> np.ndarray:
    bg = scene.background
    a, b = np.array(TONES[bg.tone], np.float32), np.array(TONES[bg.tone2], np.float32)
    _, hu = canvas_units(scene)
    shape = np.broadcast_shapes(wx.shape, wy.shape)
    if bg.kind == "solid":
        mix = np.zeros(shape)
    elif bg.kind == "gradient":
        mix = np.broadcast_to(np.clip(wy / hu, 0, 1), shape)
    elif bg.kind == "ground":
        mix = np.broadcast_to(np.clip((wy - GROUND_LEVEL * hu) * ppu + 0.5, 0, 1), shape)
    elif bg.kind == "stripes":
        mix = np.broadcast_to(TEXTURE_MIX * _square_wave(wx / 0.2, ppu * 0.2), shape)
    else:  # checker
        sx, sy = _square_wave(wx / 0.25, ppu * 0.25), _square_wave(wy / 0.25, ppu * 0.25)
        mix = TEXTURE_MIX * np.abs(sx - sy)
    return a + (b - a) * mix[..., None]


def _square_wave(u: np.ndarray, pixels_per_period: float) -> np.ndarray:
    """0/1 square wave of period 1 in u, anti-aliased over one pixel."""
    frac = np.mod(u, 1.0)
    edge = np.minimum(np.abs(frac - 0.5), np.minimum(frac, 1 - frac)) * pixels_per_period  # pixels to an edge
    hard = (frac >= 0.5).astype(np.float32)
    return np.where(edge < 0.5, 0.5 + (hard - 0.5) * 2 * edge, hard)


def render(scene: Scene, *, masks: bool = False) -> Rendering:
    """Render a scene. With masks=True also return per-object visible and amodal coverage."""
    kin = kinematics(scene)
    num_objects, num_frames, h, w = len(scene.objects), scene.num_frames, scene.height, scene.width
    video = np.array(background(scene), np.float32)  # (F, H, W, 3)
    order = sorted(range(num_objects), key=lambda k: (scene.objects[k].depth, k))  # back to front
    amodal = np.zeros((num_objects, num_frames, h, w), np.float32) if masks else None
    for f in range(num_frames):
        for k in order:
            obj = scene.objects[k]
            alpha, (y0, y1, x0, x1) = _coverage(
                obj.shape, kin.x[k, f], kin.y[k, f], kin.radius[k, f], kin.angle[k, f], h, w
            )
            if alpha is None:
                continue
            region = video[f, y0:y1, x0:x1]
            region += (np.array(COLOURS[obj.colour], np.float32) - region) * alpha[..., None]
            if masks:
                amodal[k, f, y0:y1, x0:x1] = alpha
    visible = None
    if masks:
        visible = amodal.copy()
        for i, k in enumerate(order):  # whatever is drawn later hides what was drawn before
            for j in order[i + 1 :]:
                visible[k] *= 1.0 - amodal[j]
    frames = np.clip(np.rint(video), 0, 255).astype(np.uint8)
    return Rendering(frames, visible, amodal, kin)


def _coverage(shape, cx, cy, radius, angle, h, w):
    """Anti-aliased coverage of one shape inside its clipped bounding box, or (None, box) when off-screen."""
    reach = radius * max(STAR_OUTER, TRIANGLE_R, SQUARE_HALF * math.sqrt(2)) + 1.5
    y0, y1 = max(int(math.floor(cy - reach)), 0), min(int(math.ceil(cy + reach)), h)
    x0, x1 = max(int(math.floor(cx - reach)), 0), min(int(math.ceil(cx + reach)), w)
    if y0 >= y1 or x0 >= x1:
        return None, (0, 0, 0, 0)
    px = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - cx
    py = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - cy
    px, py = np.broadcast_arrays(px, py)
    alpha = np.clip(0.5 - shape_sdf(shape, px, py, radius, angle), 0.0, 1.0).astype(np.float32)
    return alpha, (y0, y1, x0, x1)
