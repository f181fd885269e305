"""Claims about one object: present, colour, shape, size, motion, path or place, physics."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tessera.eval.claims import SHAPE_FRAMES, SIZE_TOLERANCE, Claim, Context, from_checks, sample
from tessera.eval.detect import (
    NUM_OBJECT_LABELS,
    OBJECT_NAMES,
    SYMMETRY,
    Detections,
    orientation,
)
from tessera.world.render import SPIN_RATE, wall_hits
from tessera.world.scene import DIRECTIONS, ORBIT_RADIUS, SYMMETRIC_SHAPES, ObjectSpec

PATH_TOLERANCE = 0.1  # of the shorter side
DEFAULT_SPEED = ObjectSpec.speed  # units / s: what a prompt that names no speed means
STILL_TOLERANCE = 0.04  # of the shorter side, per stretch of half a second


def object_claims(ctx: Context, k: int) -> list[Claim]:
    obj = ctx.scene.objects[k]
    frames = ctx.visible_frames(k)
    if ctx.exact and len(frames) == 0:
        return []  # never on screen: nothing to claim about it
    claims = [_presence(ctx, k, frames)]
    if ctx.exact:
        claims.append(_colour_at_place(ctx, k, frames))
    claims += _shape_and_size(ctx, k)
    if obj.motion in ("grow", "shrink"):
        claims.append(_growth(ctx, k))
    elif obj.motion == "spin":
        claims.append(_spin(ctx, k))
    else:
        claims.append(_motion(ctx, k, frames) if ctx.exact else _motion_as_said(ctx, k))
    if ctx.exact:
        claims.append(_path(ctx, k, frames))
    elif ctx.stated.objects[k] & {"x", "y"}:
        claims.append(_place(ctx, k, ctx.stated.objects[k] & {"x", "y"}))
    if obj.motion in ("bounce", "fall"):
        claims.append(_physics(ctx, k, frames))
    claims.append(_walls(ctx, k))
    return [dataclasses.replace(c, about=(k,)) for c in claims if c is not None]


def _presence(ctx: Context, k: int, frames: np.ndarray) -> Claim:
    """An object of this colour is on screen: whenever the reference shows it (full spec), or, in prompt mode,
    for most of each shot it appears in (it may pass behind things for a while, or be out of a close-up)."""
    obj = ctx.scene.objects[k]
    if not ctx.exact:
        seen = ctx.seen_frames(k)
        shots = np.unique(ctx.shot_of(seen))
        span = np.isin(ctx.shot_of(np.arange(ctx.scene.num_frames)), shots).sum()
        detail = f"seen in {len(seen)}/{span} frames of its shots" if len(seen) else "never seen"
        return Claim("present", obj.name, min(1.0, len(seen) / (0.75 * max(span, 1))), detail)
    want, _, _ = ctx.expected.track(obj.colour)
    got, _, _ = ctx.seen.track(obj.colour)
    ok = got[frames] >= np.maximum(0.3 * want[frames], ctx.min_area() * 0.5)
    return Claim("present", obj.name, float(ok.mean()), f"seen in {ok.sum()}/{len(frames)} frames")


def _colour_at_place(ctx: Context, k: int, frames: np.ndarray) -> Claim:
    """Where the object should be, the video shows the object's colour (not another object's)."""
    obj = ctx.scene.objects[k]
    label = OBJECT_NAMES.index(obj.colour)
    ok = []
    for f in frames:
        where = ctx.ref.visible[k, f] > 0.5
        colours = ctx.seen.labels[f][where & ctx.seen.core[f]]
        colours = colours[colours < NUM_OBJECT_LABELS]
        ok.append(len(colours) > 0.3 * where.sum() and (colours == label).mean() >= 0.5)
    return Claim(
        "colour", obj.name, float(np.mean(ok)), f"{obj.colour} where expected in {sum(ok)}/{len(ok)}"
    )


def _shape_and_size(ctx: Context, k: int) -> list[Claim]:
    obj = ctx.scene.objects[k]
    frames = sample(ctx.clear_frames(k), SHAPE_FRAMES)
    if len(frames) == 0:
        if ctx.exact:
            return []  # never whole in the reference: nothing fair to measure
        return [Claim("shape", obj.name, 0.0, "never seen"), Claim("size", obj.name, 0.0, "never seen")]
    want = ctx.expected_area(k, frames)
    got, _, _ = ctx.seen.track(obj.colour)
    shapes = [ctx.shape_seen(k, f) for f in frames]
    shaped = [s in ctx.shapes_allowed(k, f) for s, f in zip(shapes, frames, strict=True)]
    ratio = got[frames] / np.maximum(want, 1.0)
    sized = np.abs(np.log(np.maximum(ratio, 1e-6))) <= math.log(SIZE_TOLERANCE)
    seen_as = max(set(shapes), key=shapes.count)
    return [
        Claim("shape", obj.name, float(np.mean(shaped)), f"looks like a {seen_as}"),
        Claim("size", obj.name, float(sized.mean()), f"area x{np.median(ratio):.2f} of expected"),
    ]


def _motion(ctx: Context, k: int, frames: np.ndarray) -> Claim | None:
    """Full spec: over each half-second stretch the object moves as the reference does."""
    obj = ctx.scene.objects[k]
    _, ex, ey = ctx.expected.track(obj.colour)
    _, gx, gy = ctx.seen.track(obj.colour)
    ok = []
    for win in ctx.windows(frames, length=max(2, ctx.scene.fps // 2)):
        a, b = win[0], win[-1]
        want = np.array([ex[b] - ex[a], ey[b] - ey[a]])
        got = np.array([gx[b] - gx[a], gy[b] - gy[a]])
        if not np.isfinite(got).all():
            ok.append(False)
        elif np.hypot(*want) < 0.03 * ctx.side:  # the object should stay put
            ok.append(np.hypot(*got) < 0.06 * ctx.side)
        else:
            cos = want @ got / (np.hypot(*want) * np.hypot(*got) + 1e-9)
            ratio = np.hypot(*got) / np.hypot(*want)
            ok.append(cos > 0.7 and 0.4 < ratio < 2.5)
    if not ok:
        return None
    return Claim(
        "motion", obj.name, float(np.mean(ok)), f"{obj.motion}: {sum(ok)}/{len(ok)} stretches as expected"
    )


def _motion_as_said(ctx: Context, k: int) -> Claim:
    """Prompt mode: the video's own track does what the motion word says, wherever the object is."""
    obj = ctx.scene.objects[k]
    gx, gy = ctx.world_track(k)
    stretches = ctx.windows(ctx.seen_frames(k), length=max(2, ctx.scene.fps // 2))
    if not stretches:
        return Claim("motion", obj.name, 0.0, f"{obj.motion}: not tracked long enough to tell")
    moves = np.array([[gx[w[-1]] - gx[w[0]], gy[w[-1]] - gy[w[0]]] for w in stretches])  # (windows, 2)
    spans = np.array([(w[-1] - w[0]) / ctx.scene.fps for w in stretches])  # seconds
    dist = np.hypot(moves[:, 0], moves[:, 1])
    if obj.motion == "still":
        ok = dist < STILL_TOLERANCE * ctx.side
    elif obj.motion in DIRECTIONS:
        # Half the default speed is enough: the words say which way, not how fast.
        fast = dist > 0.5 * min(obj.speed, DEFAULT_SPEED) * ctx.side * spans
        headings = _headings(DIRECTIONS[obj.motion], [side for i, side in ctx.stated.walls if i == k])
        ok = _follows(np.array([(moves @ h > 0.7 * dist) & fast for h in headings]))
    elif obj.motion in ("bounce", "fall"):
        ok = np.array([_drops_then(ctx, gy, stretches, rises=obj.motion == "bounce")])
    else:  # circle: the heading turns clockwise on screen, about as fast as an orbit does
        heading = np.unwrap(np.arctan2(moves[:, 1], moves[:, 0]))
        turn = np.diff(heading)
        want = obj.speed / ORBIT_RADIUS * spans[:-1] if len(spans) > 1 else np.array([])
        ok = (turn > 0.3 * want) if len(turn) else np.array([False])
    return Claim("motion", obj.name, float(np.mean(ok)), f"{obj.motion}: {int(np.sum(ok))}/{len(ok)} as said")


def _headings(direction: tuple[float, float], walls: list[str]) -> list[np.ndarray]:
    """The way a straight-line mover heads at first and after each wall it bounces off, in order."""
    out = [np.array(direction)]
    for side in walls:
        flip = np.array([-1.0, 1.0]) if side in ("left", "right") else np.array([1.0, -1.0])
        out.append(out[-1] * flip)
    return out


def _follows(matches: np.ndarray) -> np.ndarray:
    """(headings, stretches) bool -> per stretch, whether it fits the best reading of the stretches as
    heading 0, then 1, ... in order, every heading used. The stretch in which a turn happens is excused."""
    num_h, num_s = matches.shape
    if num_s < num_h:
        return np.zeros(num_s, bool)
    best = np.full(
        (num_s + 1, num_h), -1
    )  # best[i, j]: most fitting stretches among the first i, at heading j
    best[0, 0] = 0
    for i in range(1, num_s + 1):
        for j in range(num_h):
            stay = best[i - 1, j] + matches[j, i - 1] if best[i - 1, j] >= 0 else -1
            turn = best[i - 1, j - 1] + 1 if j and best[i - 1, j - 1] >= 0 else -1
            best[i, j] = max(stay, turn)
    fits = max(int(best[num_s, num_h - 1]), 0)
    return np.arange(num_s) < fits  # (which stretches fit matters not, only how many)


def _walls(ctx: Context, k: int) -> Claim | None:
    """Each wall the object should bounce off: it gets there, and turns back. With the full spec, only what
    the reference rendering itself shows is claimed (a bounce during a close-up elsewhere is not)."""
    obj = ctx.scene.objects[k]
    if ctx.exact:
        sides = [side for _, side in wall_hits(ctx.scene, obj)]
    else:
        sides = [side for i, side in ctx.stated.walls if i == k]
    if not sides:
        return None
    checks = _wall_checks(ctx, k, ctx.seen, ctx.seen_frames(k), sides)
    if ctx.exact:
        shown = _wall_checks(ctx, k, ctx.expected, ctx.visible_frames(k), sides)
        checks = {name: ok for name, ok in checks.items() if shown[name]}
    return from_checks("physics", obj.name, checks) if checks else None


def _wall_checks(
    ctx: Context, k: int, det: Detections, frames: np.ndarray, sides: list[str]
) -> dict[str, bool]:
    x, y = ctx.world_track(k, det)
    radius = ctx.scene.objects[k].radius * ctx.scene.unit
    checks = {}
    for side in dict.fromkeys(sides):
        along, extent = (x, ctx.scene.width) if side in ("left", "right") else (y, ctx.scene.height)
        gap = (along[frames] if side in ("left", "top") else extent - along[frames]) - radius  # to the wall
        turn = int(np.argmin(gap)) if len(gap) else 0
        checks[f"reaches the {side} wall"] = len(gap) > 0 and gap[turn] < 0.08 * extent
        checks[f"turns back from the {side} wall"] = (
            0 < turn < len(gap) - 1 and gap[turn:].max() - gap[turn] > 0.05 * extent
        )
    return checks


def _drops_then(ctx: Context, gy: np.ndarray, stretches: list[np.ndarray], rises: bool) -> bool:
    """The object goes down a clear distance, then rises again (bounce) or stays down (fall)."""
    frames = np.concatenate(stretches)
    y = gy[frames]
    low = int(np.argmax(y))
    dropped = y[low] - y[: low + 1].min() > 0.08 * ctx.side
    rose = y[low] - y[low:].min() > 0.03 * ctx.side
    return bool(dropped and (rose if rises else not rose))


def _growth(ctx: Context, k: int) -> Claim | None:
    obj = ctx.scene.objects[k]
    use = ctx.clear_frames(k)
    if len(use) < 2 and ctx.exact:
        use = ctx.visible_frames(k)
    if len(use) < 2:
        return None if ctx.exact else Claim("motion", obj.name, 0.0, f"{obj.motion}: never seen whole twice")
    a, b = use[0], use[-1]
    want = ctx.expected_area(k, np.array([a, b]))
    got, _, _ = ctx.seen.track(obj.colour)
    want_log = math.log(want[1] / want[0])
    got_log = math.log(max(got[b], 1.0) / max(got[a], 1.0))
    ok = got_log * want_log > 0 and abs(got_log) >= 0.4 * abs(want_log)
    return Claim(
        "motion",
        obj.name,
        float(ok),
        f"{obj.motion}: area x{math.exp(got_log):.2f} (expected x{math.exp(want_log):.2f})",
    )


def _spin(ctx: Context, k: int) -> Claim | None:
    obj = ctx.scene.objects[k]
    if obj.shape in SYMMETRIC_SHAPES:
        return None  # a spinning circle looks still: nothing to check
    frames = ctx.clear_frames(k)

    def turn(det: Detections) -> float:
        angles = {f: orientation(ctx.object_mask(det, k, f), obj.shape) for f in frames}
        period = 2 * math.pi / SYMMETRY[obj.shape]
        steps = [
            angles[f + 1] - angles[f]
            for f in frames
            if f + 1 in angles and angles[f] is not None and angles[f + 1] is not None
        ]
        if not steps:
            return 0.0
        return float(np.abs(np.mod(np.array(steps) + period / 2, period) - period / 2).mean())

    want = turn(ctx.expected) if ctx.exact else SPIN_RATE / ctx.scene.fps
    if want == 0.0:
        return None  # never seen whole in two frames running: the turn cannot be measured
    got = turn(ctx.seen)
    return Claim(
        "motion", obj.name, float(got >= 0.5 * want), f"spin: turns {got:.2f} rad/frame (expected {want:.2f})"
    )


def _path(ctx: Context, k: int, frames: np.ndarray) -> Claim:
    obj = ctx.scene.objects[k]
    _, ex, ey = ctx.expected.track(obj.colour)
    _, gx, gy = ctx.seen.track(obj.colour)
    err = np.hypot(gx[frames] - ex[frames], gy[frames] - ey[frames]) / ctx.side
    ok = np.nan_to_num(err, nan=1.0) <= PATH_TOLERANCE
    median = np.nanmedian(err) if np.isfinite(err).any() else 1.0
    return Claim("path", obj.name, float(ok.mean()), f"median error {median:.3f} of the frame")


def _place(ctx: Context, k: int, axes: frozenset[str]) -> Claim:
    """Where the object starts, by thirds of the frame along the stated axes, with a margin at borders."""
    obj = ctx.scene.objects[k]
    _, gx, gy = ctx.seen.track(obj.colour)
    seen = ctx.seen_frames(k)
    if obj.motion == "circle":  # the place of a circling object is the middle of its circle
        seen = seen[ctx.shot_of(seen) == 0]
        cx, cy = _circle_centre(gx[seen], gy[seen])
        gx, gy = np.full_like(gx, cx), np.full_like(gy, cy)
    along = {"x": (obj.x, gx, ctx.scene.width), "y": (obj.y, gy, ctx.scene.height)}
    first = seen[:2]  # prompts place objects where they start
    ok = [
        all(_same_third(start, got[f] / extent) for start, got, extent in (along[a] for a in sorted(axes)))
        for f in first
    ]
    return Claim(
        "place",
        obj.name,
        float(np.mean(ok)) if ok else 0.0,
        f"starts in the stated third in {sum(ok)}/{len(ok)} frames",
    )


def _same_third(want: float, got: float, margin: float = 0.08) -> bool:
    i = min(int(want * 3), 2)
    return i / 3 - margin <= got <= (i + 1) / 3 + margin


def _physics(ctx: Context, k: int, frames: np.ndarray) -> Claim | None:
    """Falls speed up downwards, land on the floor (full spec), and bounces rise again."""
    obj = ctx.scene.objects[k]
    runs = ctx.windows(frames if ctx.exact else ctx.seen_frames(k), length=10**6)
    if not runs or len(runs[0]) < 4:
        return None if ctx.exact else Claim("physics", obj.name, 0.0, "not tracked long enough to tell")
    run = runs[0]
    gy = ctx.seen.track(obj.colour)[2] if ctx.exact else ctx.world_track(k)[1]
    if not np.isfinite(gy[run]).all():
        return Claim("physics", obj.name, 0.0, "lost track of the object")
    _, _, ey = ctx.expected.track(obj.colour)
    ref_y = ey if ctx.exact else gy  # prompt mode: the video's own landing
    land = run[_first_landing(ref_y[run], 0.02 * ctx.side)]
    fall = run[run <= land]
    checks = {}
    if len(fall) >= 3:
        accel = np.polyfit(fall, gy[fall], 2)[0]
        want = np.polyfit(fall, ey[fall], 2)[0] if ctx.exact else 0.0
        if want >= 0:  # (a reference fall that ends in a bounce within these frames shows no clean curve)
            checks["accelerates down"] = accel > 0.3 * want
    if ctx.exact:
        checks["lands on the floor"] = abs(np.max(gy[run]) - np.max(ey[run])) < 0.08 * ctx.side
    if obj.motion == "bounce":
        after = run[run > land]
        rebound = (ref_y[land] - ref_y[after].min()) if len(after) else 0.0
        if not ctx.exact or rebound > 0.03 * ctx.side:
            checks["bounces back up"] = len(after) > 0 and gy[land] - gy[after].min() > max(
                0.3 * rebound, 0.02 * ctx.side
            )
    return from_checks("physics", obj.name, checks) if checks else None


def _first_landing(y: np.ndarray, rise: float) -> int:
    """Index of the first lowest point (largest y) that the object rises from by more than `rise`."""
    for i in range(1, len(y) - 1):
        if y[i] >= y[: i + 1].max() and y[i] - y[i + 1 :].min() > rise:
            return i
    return int(np.argmax(y))


def _circle_centre(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares circle through points (Kasa's fit); their mean when they are too few or in a line."""
    if len(x) < 3:
        return (float(np.mean(x)), float(np.mean(y))) if len(x) else (math.nan, math.nan)
    a = np.stack([x, y, np.ones_like(x)], axis=1)
    (b0, b1, _), *_ = np.linalg.lstsq(a, x**2 + y**2, rcond=None)
    cx, cy = b0 / 2, b1 / 2
    if not (np.isfinite(cx) and np.isfinite(cy)) or np.hypot(cx - x.mean(), cy - y.mean()) > 3 * np.ptp(
        x + y
    ):
        return float(np.mean(x)), float(np.mean(y))
    return float(cx), float(cy)
