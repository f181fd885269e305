"""Prompt adherence: check a video, claim by claim, against the world scene it was asked to show.

The scene is rendered (tessera.data.render) and both the reference rendering and the video under test go
through the same detector (tessera.eval.detect), so every claim compares like with like: detector biases
cancel, and a clean render of the scene scores ~1.

Two modes. With the full spec (`stated=None`) every claim the spec makes is checked, including each object's
exact path. With `stated` (what a prompt actually said, from tessera.data.prompts), only those claims are
checked, and places and motions are judged qualitatively: a prompt that says "a red ball moves left" is met by
any red ball moving left, wherever it starts.

Each claim scores in [0, 1] (usually the share of frames where it holds) and passes at PASS. A criterion's
score is the mean of its claims. Criteria fall in three groups (GROUPS): what is shown, how and where it
moves, and whether it holds together over time. A group's score is the mean of its criteria (so twelve
pairwise relations do not drown one motion), and the total is the
product of the group scores: a video has to get all three right, so right objects that do the wrong thing
(a still frame for a bouncing ball, frames out of order) score low, as they should.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tessera.data.render import Rendering, render
from tessera.data.world import SYMMETRIC_SHAPES, Scene
from tessera.eval.detect import (
    NUM_OBJECT_LABELS,
    OBJECT_NAMES,
    SYMMETRY,
    Detections,
    classify_shape,
    detect,
    orientation,
)

PASS = 0.8
# What is shown, how and where it moves, and whether it holds together over time.
GROUPS = {
    "content": ("present", "colour", "shape", "size", "count", "background"),
    "motion": ("motion", "path", "place", "physics", "relation"),
    "continuity": ("permanence", "identity", "flicker"),
}
CRITERIA = tuple(name for names in GROUPS.values() for name in names)
SIZE_TOLERANCE = 1.45  # area ratio; the world's sizes are ~2.2x apart in area, so this splits them
PATH_TOLERANCE = 0.1  # of the shorter side
SHAPE_FRAMES = 4  # frames sampled for shape and size checks


@dataclass(frozen=True)
class Claim:
    criterion: str
    subject: str  # "red circle", "red circle / blue square", "scene"
    score: float
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.score >= PASS


@dataclass(frozen=True)
class Score:
    total: float
    claims: tuple[Claim, ...]
    criteria: dict[str, float] = field(default_factory=dict)
    groups: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> list[Claim]:
        return [c for c in self.claims if not c.passed]

    def table(self) -> str:
        lines = [f"{'criterion':<11} {'subject':<28} {'score':>5}  {'':4} detail"]
        for c in self.claims:
            mark = "ok" if c.passed else "FAIL"
            lines.append(f"{c.criterion:<11} {c.subject:<28} {c.score:5.2f}  {mark:<4} {c.detail}")
        lines.append("")
        lines += [f"{name:<11} {value:5.2f}" for name, value in self.criteria.items()]
        lines.append("")
        lines += [f"{name:<11} {value:5.2f}" for name, value in self.groups.items()]
        lines.append(f"{'total':<11} {self.total:5.2f}")
        return "\n".join(lines)


@dataclass
class _Context:
    """Everything the claim checks share: the scene, its reference rendering, and both detections."""

    scene: Scene
    ref: Rendering
    expected: Detections
    seen: Detections
    video: np.ndarray
    exact: bool

    @property
    def side(self) -> float:
        return float(min(self.scene.height, self.scene.width))

    def min_area(self) -> float:
        return max(4.0, 8e-4 * self.scene.height * self.scene.width)

    def visible_frames(self, k: int) -> np.ndarray:
        """Frames where object k should be seen."""
        area, _, _ = self.expected.track(self.scene.objects[k].colour)
        return np.nonzero(area >= self.min_area())[0]

    def whole_frames(self, k: int) -> np.ndarray:
        """Frames where object k is expected whole: unoccluded and inside the frame."""
        vis, amo = self.ref.visible[k].sum((1, 2)), self.ref.amodal[k].sum((1, 2))
        kin = self.ref.kinematics
        r = kin.radius[k] * 1.3
        inside = ((kin.x[k] - r >= 0) & (kin.x[k] + r <= self.scene.width)
                  & (kin.y[k] - r >= 0) & (kin.y[k] + r <= self.scene.height))
        ok = inside & (vis >= 0.97 * amo) & (amo > 0)
        return np.intersect1d(np.nonzero(ok)[0], self.visible_frames(k))

    def shot_of(self, frames: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.scene.shot_starts(), frames, side="right") - 1


def score(video: np.ndarray, scene: Scene, *, stated=None) -> Score:
    """Score a (F, H, W, 3) uint8 video against a scene; see the module docstring for `stated`."""
    if video.ndim != 4 or video.shape[1:3] != (scene.height, scene.width) or video.shape[0] != scene.num_frames:
        raise ValueError(
            f"video of shape {tuple(video.shape)} does not match the scene's "
            f"{scene.num_frames} frames of {scene.height}x{scene.width}; resample it first"
        )
    ref = render(scene, masks=True)
    ctx = _Context(scene, ref, detect(ref.video), detect(video), video, exact=stated is None)
    claims: list[Claim] = []
    for k in range(len(scene.objects)):
        claims += _object_claims(ctx, k)
    claims += _relation_claims(ctx)
    claims += _count_claims(ctx)
    claims += _permanence_claims(ctx)
    claims += _identity_claims(ctx)
    claims += [_flicker_claim(ctx), _background_claim(ctx)]
    claims = [c for c in claims if c is not None]
    if stated is not None:
        claims = [c for c in claims if stated.includes(c, scene)]
    criteria = {}
    for name in CRITERIA:
        scores = [c.score for c in claims if c.criterion == name]
        if scores:
            criteria[name] = float(np.mean(scores))
    groups = {}
    for group, names in GROUPS.items():
        scores = [criteria[name] for name in names if name in criteria]
        if scores:
            groups[group] = float(np.mean(scores))
    total = float(np.prod(list(groups.values()))) if groups else 0.0
    return Score(total, tuple(claims), criteria, groups)


# ------------------------------------------------------------------------------------------ per object


def _object_claims(ctx: _Context, k: int) -> list[Claim]:
    obj = ctx.scene.objects[k]
    frames = ctx.visible_frames(k)
    if len(frames) == 0:
        return []  # never on screen: nothing to claim about it
    claims = [_presence(ctx, k, frames)]
    if ctx.exact:
        claims.append(_colour_at_place(ctx, k, frames))
    claims += _shape_and_size(ctx, k)
    claims.append(_motion(ctx, k, frames))
    claims.append(_path(ctx, k, frames) if ctx.exact else _place(ctx, k, frames))
    if obj.motion in ("bounce", "fall"):
        claims.append(_physics(ctx, k, frames))
    return [c for c in claims if c is not None]


def _presence(ctx: _Context, k: int, frames: np.ndarray) -> Claim:
    """An object of this colour is on screen whenever the scene says it should be."""
    obj = ctx.scene.objects[k]
    want, _, _ = ctx.expected.track(obj.colour)
    got, _, _ = ctx.seen.track(obj.colour)
    ok = got[frames] >= np.maximum(0.3 * want[frames], ctx.min_area() * 0.5)
    return Claim("present", obj.name, float(ok.mean()), f"seen in {ok.sum()}/{len(frames)} frames")


def _colour_at_place(ctx: _Context, k: int, frames: np.ndarray) -> Claim:
    """Where the object should be, the video shows the object's colour (not another object's)."""
    obj = ctx.scene.objects[k]
    label = OBJECT_NAMES.index(obj.colour)
    ok = []
    for f in frames:
        where = ctx.ref.visible[k, f] > 0.5
        colours = ctx.seen.labels[f][where & ctx.seen.core[f]]
        colours = colours[colours < NUM_OBJECT_LABELS]
        ok.append(len(colours) > 0.3 * where.sum() and (colours == label).mean() >= 0.5)
    return Claim("colour", obj.name, float(np.mean(ok)), f"{obj.colour} where expected in {sum(ok)}/{len(ok)}")


def _object_mask(det: Detections, colour: str, f: int) -> np.ndarray:
    """All pixels of a colour around its core pixels: edges included, for outline measurements."""
    core = det.mask(colour, f)
    ys, xs = np.nonzero(core)
    out = np.zeros_like(core)
    if len(xs):
        y0, y1, x0, x1 = max(ys.min() - 2, 0), ys.max() + 3, max(xs.min() - 2, 0), xs.max() + 3
        out[y0:y1, x0:x1] = det.labels[f, y0:y1, x0:x1] == OBJECT_NAMES.index(colour)
    return out


def _sample(frames: np.ndarray, n: int) -> np.ndarray:
    if len(frames) <= n:
        return frames
    return frames[np.linspace(0, len(frames) - 1, n).round().astype(int)]


def _shape_and_size(ctx: _Context, k: int) -> list[Claim]:
    obj = ctx.scene.objects[k]
    frames = _sample(ctx.whole_frames(k), SHAPE_FRAMES)
    if len(frames) == 0:
        return []
    want, _, _ = ctx.expected.track(obj.colour)
    got, _, _ = ctx.seen.track(obj.colour)
    shapes = [classify_shape(_object_mask(ctx.seen, obj.colour, f), ctx.ref.kinematics.radius[k, f])
              for f in frames]
    ratio = got[frames] / np.maximum(want[frames], 1.0)
    sized = np.abs(np.log(np.maximum(ratio, 1e-6))) <= math.log(SIZE_TOLERANCE)
    seen_as = max(set(shapes), key=shapes.count)
    return [
        Claim("shape", obj.name, float(np.mean([s == obj.shape for s in shapes])), f"looks like a {seen_as}"),
        Claim("size", obj.name, float(sized.mean()), f"area x{np.median(ratio):.2f} of expected"),
    ]


def _windows(ctx: _Context, frames: np.ndarray, length: int) -> list[np.ndarray]:
    """Runs of consecutive frames within one shot, cut into pieces of about `length` frames."""
    out = []
    shots = ctx.shot_of(frames)
    breaks = np.nonzero((np.diff(frames) != 1) | (np.diff(shots) != 0))[0] + 1
    for run in np.split(frames, breaks):
        if len(run) < 2:
            continue
        pieces = max(1, round((len(run) - 1) / length))
        edges = np.linspace(0, len(run) - 1, pieces + 1).round().astype(int)
        out += [run[a : b + 1] for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
    return out


def _motion(ctx: _Context, k: int, frames: np.ndarray) -> Claim | None:
    obj = ctx.scene.objects[k]
    if obj.motion in ("grow", "shrink"):
        return _growth(ctx, k, frames)
    if obj.motion == "spin":
        return _spin(ctx, k)
    _, ex, ey = ctx.expected.track(obj.colour)
    _, gx, gy = ctx.seen.track(obj.colour)
    ok = []
    for win in _windows(ctx, frames, length=max(2, ctx.scene.fps // 2)):
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
    return Claim("motion", ctx.scene.objects[k].name, float(np.mean(ok)),
                 f"{obj.motion}: {sum(ok)}/{len(ok)} stretches move as expected")


def _growth(ctx: _Context, k: int, frames: np.ndarray) -> Claim:
    obj = ctx.scene.objects[k]
    whole = ctx.whole_frames(k)
    use = whole if len(whole) >= 2 else frames
    want, _, _ = ctx.expected.track(obj.colour)
    got, _, _ = ctx.seen.track(obj.colour)
    a, b = use[0], use[-1]
    want_log = math.log(want[b] / want[a])
    got_log = math.log(max(got[b], 1.0) / max(got[a], 1.0))
    ok = got_log * want_log > 0 and abs(got_log) >= 0.4 * abs(want_log)
    return Claim("motion", obj.name, float(ok), f"{obj.motion}: area x{math.exp(got_log):.2f} "
                 f"(expected x{math.exp(want_log):.2f})")


def _spin(ctx: _Context, k: int) -> Claim | None:
    obj = ctx.scene.objects[k]
    if obj.shape in SYMMETRIC_SHAPES:
        return None  # a spinning circle looks still: nothing to check

    def turn(det: Detections) -> float:
        angles = [orientation(_object_mask(det, obj.colour, f), obj.shape) for f in ctx.whole_frames(k)]
        angles = np.array([a for a in angles if a is not None])
        if len(angles) < 2:
            return 0.0
        period = 2 * math.pi / SYMMETRY[obj.shape]
        steps = np.mod(np.diff(angles) + period / 2, period) - period / 2
        return float(np.abs(steps).mean())

    want, got = turn(ctx.expected), turn(ctx.seen)
    if want == 0.0:
        return None
    ok = got >= 0.5 * want
    return Claim("motion", obj.name, float(ok), f"spin: turns {got:.2f} rad/frame (expected {want:.2f})")


def _path(ctx: _Context, k: int, frames: np.ndarray) -> Claim:
    obj = ctx.scene.objects[k]
    _, ex, ey = ctx.expected.track(obj.colour)
    _, gx, gy = ctx.seen.track(obj.colour)
    err = np.hypot(gx[frames] - ex[frames], gy[frames] - ey[frames]) / ctx.side
    ok = np.nan_to_num(err, nan=1.0) <= PATH_TOLERANCE
    return Claim("path", obj.name, float(ok.mean()), f"median error {np.nanmedian(err) if ok.any() else 1:.3f}")


def _place(ctx: _Context, k: int, frames: np.ndarray) -> Claim:
    """Where the object starts, by thirds of the frame, with a margin for places near a border."""
    obj = ctx.scene.objects[k]
    _, ex, ey = ctx.expected.track(obj.colour)
    _, gx, gy = ctx.seen.track(obj.colour)
    first = frames[: max(1, len(frames) // 4)]
    ok = []
    for f in first:
        fx = _third(ex[f] / ctx.scene.width), _third(ey[f] / ctx.scene.height)
        if not np.isfinite(gx[f]):
            ok.append(False)
            continue
        margin = 0.08
        ok.append(all(lo - margin <= v <= hi + margin for (lo, hi), v in
                      zip(fx, (gx[f] / ctx.scene.width, gy[f] / ctx.scene.height), strict=True)))
    return Claim("place", obj.name, float(np.mean(ok)), f"starts in the right place in {sum(ok)}/{len(ok)}")


def _third(v: float) -> tuple[float, float]:
    i = min(int(v * 3), 2)
    return i / 3, (i + 1) / 3


def _physics(ctx: _Context, k: int, frames: np.ndarray) -> Claim | None:
    """Falls speed up downwards, land where the floor is, and (for bounces) rise again."""
    obj = ctx.scene.objects[k]
    run = _windows(ctx, frames, length=10**6)
    if not run or len(run[0]) < 4:
        return None
    run = run[0]
    _, _, ey = ctx.expected.track(obj.colour)
    _, _, gy = ctx.seen.track(obj.colour)
    if not np.isfinite(gy[run]).all():
        return Claim("physics", obj.name, 0.0, "lost track of the object")
    land = run[int(np.argmax(ey[run]))]  # the first frame at the lowest point
    fall = run[run <= land]
    checks = {}
    if len(fall) >= 3:
        accel = np.polyfit(fall, gy[fall], 2)[0]
        want = np.polyfit(fall, ey[fall], 2)[0]
        checks["accelerates down"] = accel > 0.3 * want if want > 0 else True
    checks["lands on the floor"] = abs(np.max(gy[run]) - np.max(ey[run])) < 0.08 * ctx.side
    if obj.motion == "bounce":
        after = run[run > land]
        rebound = ey[land] - ey[after].min() if len(after) else 0.0
        if rebound > 0.03 * ctx.side:
            checks["bounces back up"] = gy[land] - gy[after].min() > 0.3 * rebound
    passed = [name for name, ok in checks.items() if ok]
    failed = [name for name, ok in checks.items() if not ok]
    return Claim("physics", obj.name, len(passed) / len(checks),
                 "fails: " + ", ".join(failed) if failed else "ok")


# ------------------------------------------------------------------------------------------- the scene


def _relation_claims(ctx: _Context) -> list[Claim]:
    objs = ctx.scene.objects
    claims = []
    for i in range(len(objs)):
        for j in range(i + 1, len(objs)):
            frames = np.intersect1d(ctx.visible_frames(i), ctx.visible_frames(j))
            if not ctx.exact:
                frames = frames[: max(1, len(frames) // 4)]  # prompts describe how the scene starts
            for axis, names, extent in ((0, ("left of", "right of"), ctx.scene.width),
                                        (1, ("above", "below"), ctx.scene.height)):
                claims += _relation(ctx, i, j, frames, axis, names, extent)
    return claims


def _relation(ctx, i, j, frames, axis, names, extent) -> list[Claim]:
    ci, cj = ctx.scene.objects[i].colour, ctx.scene.objects[j].colour
    pos = 1 + axis  # index of x or y in a track
    want = ctx.expected.track(ci)[pos][frames] - ctx.expected.track(cj)[pos][frames]
    clear = np.abs(want) > 0.15 * extent  # only claim what is plain to see
    if clear.sum() == 0:
        return []
    got = ctx.seen.track(ci)[pos][frames] - ctx.seen.track(cj)[pos][frames]
    ok = np.sign(np.nan_to_num(got[clear])) == np.sign(want[clear])
    name = names[0] if np.median(want[clear]) < 0 else names[1]
    subject = f"{ctx.scene.objects[i].name} {name} {ctx.scene.objects[j].name}"
    return [Claim("relation", subject, float(ok.mean()), f"holds in {ok.sum()}/{clear.sum()} frames")]


def _count_claims(ctx: _Context) -> list[Claim]:
    """As many distinct objects as the scene has, no more (no stray extra objects), frame by frame."""
    floor = ctx.min_area()
    want = (ctx.expected.area[:NUM_OBJECT_LABELS] >= floor).sum(0)
    got = (ctx.seen.area[:NUM_OBJECT_LABELS] >= floor).sum(0)
    ok = want == got
    return [Claim("count", "scene", float(ok.mean()), f"{int(np.median(got))} objects (expected "
                                                      f"{int(np.median(want))}) in most frames")]


def _permanence_claims(ctx: _Context) -> list[Claim]:
    """An object that goes behind another comes out again, looking as it did, where it should."""
    claims = []
    for k, obj in enumerate(ctx.scene.objects):
        vis, amo = ctx.ref.visible[k].sum((1, 2)), ctx.ref.amodal[k].sum((1, 2))
        hidden = np.nonzero((amo > 0) & (vis < 0.2 * amo))[0]
        shown = ctx.whole_frames(k)
        if len(hidden) == 0 or not (shown < hidden[0]).any() or not (shown > hidden[-1]).any():
            continue
        before, after = shown[shown < hidden[0]][-1], shown[shown > hidden[-1]][0]
        area, x, y = ctx.seen.track(obj.colour)
        _, ex, ey = ctx.expected.track(obj.colour)
        want, _, _ = ctx.expected.track(obj.colour)
        same_size = area[before] > 0 and 0.6 < (area[after] / area[before]) / (want[after] / want[before]) < 1.6
        checks = [area[after] > 0, same_size,
                  classify_shape(_object_mask(ctx.seen, obj.colour, after), ctx.ref.kinematics.radius[k, after])
                  == obj.shape]
        if ctx.exact:
            checks.append(bool(np.hypot(x[after] - ex[after], y[after] - ey[after]) < 0.15 * ctx.side))
        else:
            direction = np.sign(ex[after] - ex[before])
            checks.append(bool(np.sign(np.nan_to_num(x[after] - x[before])) == direction))
        claims.append(Claim("permanence", obj.name, float(np.mean(checks)),
                            f"hidden in frames {hidden[0]}..{hidden[-1]}; {sum(checks)}/{len(checks)} checks"))
    return claims


def _identity_claims(ctx: _Context) -> list[Claim]:
    """Across a cut to another framing, each object keeps its shape and its size relative to the framing."""
    starts = ctx.scene.shot_starts()
    claims = []
    for cut in starts[1:]:
        for k, obj in enumerate(ctx.scene.objects):
            whole = ctx.whole_frames(k)
            before, after = whole[whole < cut], whole[whole >= cut]
            if len(before) == 0 or len(after) == 0:
                continue
            a, b = before[-1], after[0]
            area, _, _ = ctx.seen.track(obj.colour)
            want, _, _ = ctx.expected.track(obj.colour)
            seen_shape = classify_shape(_object_mask(ctx.seen, obj.colour, b), ctx.ref.kinematics.radius[k, b])
            checks = [area[a] > 0 and area[b] > 0, seen_shape == obj.shape]
            if area[a] > 0 and want[a] > 0:
                rel = (area[b] / area[a]) / (want[b] / want[a])
                checks.append(abs(math.log(max(rel, 1e-6))) <= math.log(SIZE_TOLERANCE))
            claims.append(Claim("identity", obj.name, float(np.mean(checks)),
                                f"across the cut at frame {cut}: {sum(checks)}/{len(checks)} checks"))
    return claims


def _frame_changes(video: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per transition: change of mean brightness, and median pixel change over pixels that are background."""
    luma = video.astype(np.float32).mean(-1)  # (F, H, W)
    mean = luma.mean((1, 2))
    both = background[1:] & background[:-1]
    diffs = np.abs(np.diff(luma, axis=0))
    pixel = np.array([np.median(d[m]) if m.any() else 0.0 for d, m in zip(diffs, both, strict=True)])
    return np.abs(np.diff(mean)), pixel


def _flicker_claim(ctx: _Context) -> Claim | None:
    """Frame to frame, the picture changes no more than the scene's own motion explains."""
    if ctx.scene.num_frames < 2:
        return None
    want_mean, want_px = _frame_changes(ctx.ref.video, ctx.expected.labels >= NUM_OBJECT_LABELS)
    got_mean, got_px = _frame_changes(ctx.video, ctx.seen.labels >= NUM_OBJECT_LABELS)
    cuts = np.array(ctx.scene.shot_starts()[1:], int) - 1  # transitions across a cut change everything
    keep = np.setdiff1d(np.arange(len(want_mean)), cuts)
    if len(keep) == 0:
        return None
    ok = (got_mean[keep] <= want_mean[keep] + 4.0) & (got_px[keep] <= want_px[keep] + 4.0)
    return Claim("flicker", "scene", float(ok.mean()), f"steady in {ok.sum()}/{len(keep)} transitions")


def _background_claim(ctx: _Context) -> Claim:
    ok = [_dominant_tone(ctx.seen.labels[f]) == _dominant_tone(ctx.expected.labels[f])
          for f in range(ctx.scene.num_frames)]
    return Claim("background", "scene", float(np.mean(ok)), f"{ctx.scene.background.kind}, "
                 f"{ctx.scene.background.tone} ({sum(ok)}/{len(ok)} frames)")


def _dominant_tone(labels: np.ndarray) -> int:
    counts = np.bincount(labels.ravel(), minlength=NUM_OBJECT_LABELS + 1)
    return int(np.argmax(counts[NUM_OBJECT_LABELS:]))

