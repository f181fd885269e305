"""Claims about the whole scene: relations, count, permanence, identity across cuts, flicker, background."""

from __future__ import annotations

import math

import numpy as np

from tessera.eval.claims import SIZE_TOLERANCE, Claim, Context, from_checks
from tessera.eval.detect import NUM_OBJECT_LABELS
from tessera.world.scene import DIRECTIONS, TONES

RELATION_MARGIN = 0.15  # of the frame: only relations this plain are claimed
BLOCK = 8  # pixels: flicker is judged on block means


def scene_claims(ctx: Context) -> list[Claim]:
    claims = _relations(ctx) + [_count(ctx)]
    claims += _permanence(ctx) if ctx.exact else _permanence_as_said(ctx)
    claims += _identity(ctx)
    claims += [_flicker(ctx), _background(ctx)]
    return [c for c in claims if c is not None]


def _relations(ctx: Context) -> list[Claim]:
    objs = ctx.scene.objects
    claims = []
    for i in range(len(objs)):
        for j in range(i + 1, len(objs)):
            frames = np.intersect1d(ctx.visible_frames(i), ctx.visible_frames(j))
            if not ctx.exact:
                frames = frames[: max(1, len(frames) // 4)]  # prompts describe how the scene starts
            for axis, names in ((0, ("left_of", "right_of")), (1, ("above", "below"))):
                claims += _relation(ctx, i, j, frames, axis, names)
    return claims


def _relation(
    ctx: Context, i: int, j: int, frames: np.ndarray, axis: int, names: tuple[str, str]
) -> list[Claim]:
    ci, cj = ctx.scene.objects[i].colour, ctx.scene.objects[j].colour
    extent = ctx.scene.width if axis == 0 else ctx.scene.height
    want = ctx.expected.track(ci)[1 + axis][frames] - ctx.expected.track(cj)[1 + axis][frames]
    clear = np.abs(want) > RELATION_MARGIN * extent
    if clear.sum() == 0:
        return []
    got = ctx.seen.track(ci)[1 + axis][frames] - ctx.seen.track(cj)[1 + axis][frames]
    ok = np.sign(np.nan_to_num(got[clear])) == np.sign(want[clear])
    name = names[0] if np.median(want[clear]) < 0 else names[1]
    subject = f"{ctx.scene.objects[i].name} {name.replace('_', ' ')} {ctx.scene.objects[j].name}"
    return [
        Claim(
            "relation",
            subject,
            float(ok.mean()),
            f"holds in {ok.sum()}/{clear.sum()} frames",
            about=(i, name, j),
        )
    ]


def _count(ctx: Context) -> Claim:
    """As many distinct objects as the scene has, no more (no stray extra objects): frame by frame for the
    full spec; over the whole clip in prompt mode, where any framing may hide some of them for a while."""
    floor = ctx.min_area()
    if not ctx.exact:
        lasting = ((ctx.seen.area[:NUM_OBJECT_LABELS] >= floor).mean(1) >= 0.2).sum()
        return Claim(
            "count",
            "scene",
            float(lasting == len(ctx.scene.objects)),
            f"{lasting} objects (said {len(ctx.scene.objects)})",
        )
    want = (ctx.expected.area[:NUM_OBJECT_LABELS] >= floor).sum(0)
    got = (ctx.seen.area[:NUM_OBJECT_LABELS] >= floor).sum(0)
    ok = want == got
    return Claim(
        "count",
        "scene",
        float(ok.mean()),
        f"{int(np.median(got))} objects (expected {int(np.median(want))}) in most frames",
    )


def _permanence(ctx: Context) -> list[Claim]:
    """Full spec: an object that goes behind another comes out again, looking as it did, where it should."""
    claims = []
    for k, obj in enumerate(ctx.scene.objects):
        vis, amo = ctx.ref.visible[k].sum((1, 2)), ctx.ref.amodal[k].sum((1, 2))
        hidden = np.nonzero((amo > 0) & (vis < 0.2 * amo))[0]
        shown = ctx.whole_frames(k)
        if len(hidden) == 0 or not (shown < hidden[0]).any() or not (shown > hidden[-1]).any():
            continue
        before, after = shown[shown < hidden[0]][-1], shown[shown > hidden[-1]][0]
        area, x, y = ctx.seen.track(obj.colour)
        want, ex, ey = ctx.expected.track(obj.colour)
        checks = {
            "comes out": area[after] > 0,
            "same size": area[before] > 0
            and 0.6 < (area[after] / area[before]) / (want[after] / want[before]) < 1.6,
            "same shape": ctx.shape_seen(k, after) in ctx.shapes_allowed(k, after),
            "where expected": bool(np.hypot(x[after] - ex[after], y[after] - ey[after]) < 0.15 * ctx.side),
        }
        context = f"hidden in frames {hidden[0]}..{hidden[-1]}; "
        claims.append(from_checks("permanence", obj.name, checks, (k,), context))
    return claims


def _permanence_as_said(ctx: Context) -> list[Claim]:
    """Prompt mode: an object said to pass behind another disappears for a while, then comes out on the far
    side with the same size and shape."""
    claims = []
    for k in sorted({i for i, rel, _ in ctx.stated.relations if rel == "behind"}):
        obj = ctx.scene.objects[k]
        area, x, _ = ctx.seen.track(obj.colour)
        typical = np.median(area[area > 0]) if (area > 0).any() else 0.0
        shown = np.nonzero(area >= 0.6 * typical)[0] if typical else np.array([], int)
        hidden = np.nonzero(area < 0.2 * typical)[0] if typical else np.array([], int)
        gaps = [h for h in hidden if (shown < h).any() and (shown > h).any()]
        if not gaps:
            claims.append(Claim("permanence", obj.name, 0.0, "never hidden and seen again", (k,)))
            continue
        before, after = shown[shown < gaps[0]][-1], shown[shown > gaps[-1]][0]
        heading = DIRECTIONS.get(obj.motion, (0.0, 0.0))[0]
        checks = {
            "same size": 0.6 < area[after] / area[before] < 1.6,
            "same shape": ctx.shape_seen(k, after) in ctx.shapes_allowed(k, after),
            "far side": heading == 0.0 or np.sign(x[after] - x[before]) == np.sign(heading),
        }
        claims.append(
            from_checks("permanence", obj.name, checks, (k,), f"hidden in frames {gaps[0]}..{gaps[-1]}; ")
        )
    return claims


def _identity(ctx: Context) -> list[Claim]:
    """Across a cut to another framing, each object keeps its shape and its size relative to the framing."""
    claims = []
    for cut in ctx.scene.shot_starts()[1:]:
        for k, obj in enumerate(ctx.scene.objects):
            whole = ctx.whole_frames(k)
            before, after = whole[whole < cut], whole[whole >= cut]
            if len(before) == 0 or len(after) == 0:
                continue
            a, b = before[-1], after[0]
            area, _, _ = ctx.seen.track(obj.colour)
            want, _, _ = ctx.expected.track(obj.colour)
            checks = {
                "seen on both sides": area[a] > 0 and area[b] > 0,
                "same shape": ctx.shape_seen(k, b) in ctx.shapes_allowed(k, b),
            }
            if area[a] > 0 and want[a] > 0:
                rel = (area[b] / area[a]) / (want[b] / want[a])
                checks["same size"] = abs(math.log(max(rel, 1e-6))) <= math.log(SIZE_TOLERANCE)
            claims.append(from_checks("identity", obj.name, checks, (k,), f"across the cut at frame {cut}: "))
    return claims


def _frame_changes(video: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per transition: change of mean brightness, and the median change of BLOCK x BLOCK block means over
    blocks that are background in both frames. Block means average pixel noise away (a generator's grain is
    not flicker) but keep what flicker is: whole regions brightening and darkening from frame to frame."""
    luma = video.astype(np.float32).mean(-1)  # (F, H, W)
    f, h, w = luma.shape
    hb, wb = max(h // BLOCK, 1), max(w // BLOCK, 1)
    crop = (slice(None), slice(0, hb * BLOCK), slice(0, wb * BLOCK))

    def blocks(a: np.ndarray) -> np.ndarray:  # (F, H, W) -> (F, hb, wb) block means
        return a[crop].reshape(f, hb, BLOCK, wb, BLOCK).mean((2, 4))

    means = blocks(luma)
    calm = blocks(background.astype(np.float32)) == 1.0  # blocks wholly background
    both = calm[1:] & calm[:-1]
    diffs = np.abs(np.diff(means, axis=0))
    pixel = np.array([np.median(d[m]) if m.any() else 0.0 for d, m in zip(diffs, both, strict=True)])
    return np.abs(np.diff(luma.mean((1, 2)))), pixel


def _flicker(ctx: Context) -> Claim | None:
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


def _background(ctx: Context) -> Claim:
    """The background's tones cover about as much of the picture as they should (the stated ones, in prompt
    mode). Tones are compared by share, so gradients and textures are judged fairly."""
    bg = ctx.scene.background
    fields = (
        ("tone", "tone2") if ctx.exact else tuple(f for f in ("tone", "tone2") if f in ctx.stated.background)
    )
    tones = list(dict.fromkeys(getattr(bg, f) for f in fields))
    want, got = _tone_shares(ctx.expected.labels), _tone_shares(ctx.seen.labels)  # (F, tones)
    ok = np.ones(ctx.scene.num_frames, bool)
    for tone in tones:
        t = list(TONES).index(tone)
        needed = want[:, t] >= 0.1
        ok &= ~needed | (got[:, t] >= 0.5 * want[:, t])
    return Claim(
        "background",
        "scene",
        float(ok.mean()),
        f"{bg.kind}, {' and '.join(tones) or 'any tone'} ({ok.sum()}/{len(ok)} frames)",
    )


def _tone_shares(labels: np.ndarray) -> np.ndarray:
    """(F, H, W) labels -> (F, number of tones): each tone's share of the frame's background pixels."""
    f = labels.shape[0]
    counts = np.stack(
        [np.bincount(labels[i].ravel(), minlength=NUM_OBJECT_LABELS + len(TONES)) for i in range(f)]
    )[:, NUM_OBJECT_LABELS:]
    return counts / np.maximum(counts.sum(1, keepdims=True), 1)
