"""From what a prompt said to a complete scene: the background, a layout that honours every stated place and
relation while keeping objects apart, wall bounces, and the shots. Unstated attributes get defaults; see
tessera.world.prompts for the reading of the words themselves.
"""

from __future__ import annotations

import dataclasses
from itertools import combinations
from typing import Any

from tessera.world import vocabulary as vocab
from tessera.world.scene import (
    COLOURS,
    DIRECTIONS,
    SIZES,
    Background,
    ObjectSpec,
    Shot,
    distance_to_wall,
    frame_on,
)

Token = tuple[str, Any, str]  # kind, value, the words it came from


_CENTRES = {"left": 1 / 6, "centre": 0.5, "right": 5 / 6, "top": 1 / 6, "middle": 0.5, "bottom": 5 / 6}
_AXIS_ORDER = {"left_of": (0, False), "right_of": (0, True), "above": (1, False), "below": (1, True)}


def background(tokens: list[Token]) -> tuple[Background, frozenset[str]]:
    kinds, tones, ground_tones = [], [], []
    for i, (kind, value, word) in enumerate(tokens):
        prev = tokens[i - 1][:2] if i else ("", None)
        nxt = tokens[i + 1][:2] if i + 1 < len(tokens) else ("", None)
        if kind == "tone":
            if nxt[0] in ("shape", "size"):
                raise ValueError(
                    f"{word!r} is a background tone, not an object colour; colours: {', '.join(COLOURS)}"
                )
            # "a soil ground", "地面是土色的": the tone next to the ground word is the ground's (tone2)
            (ground_tones if ("bgkind", "ground") in (prev, nxt) else tones).append(value)
        elif kind == "colour" and nxt[0] in ("bgword", "bgkind"):
            tone_names = ", ".join(vocab.EN_TONES)
            raise ValueError(f"{word!r} is an object colour, not a background tone; tones: {tone_names}")
        elif kind == "bgkind":
            kinds.append(value)
    if len(set(kinds)) > 1:
        raise ValueError(f"conflicting background kinds: {', '.join(dict.fromkeys(kinds))}")
    kind = kinds[0] if kinds else "solid" if tones or ground_tones else None
    if kind == "ground" and ground_tones:
        named = {"tone2": ground_tones[0]} | ({"tone": tones[0]} if tones else {})
        extra = tones[1:] + ground_tones[1:]
    else:
        slots = ("tone",) if kind == "solid" else ("tone", "tone2")
        named = dict(zip(slots, tones + ground_tones, strict=False))  # the rest are `extra`
        extra = (tones + ground_tones)[len(slots) :]
    if extra:
        raise ValueError(
            f"too many background tones for a {kind} background: {', '.join(tones + ground_tones)}; "
            f"two tones need a kind: {', '.join(k for k in vocab.EN_KINDS if k != 'solid')}"
        )
    return Background(kind or "solid", **named), frozenset(named) | ({"kind"} if kind else set())


_TOWARDS = {"left": "left", "right": "right", "top": "up", "bottom": "down"}


def head_for_walls(said: list[dict[str, Any]], walls: list[tuple[int, str]]) -> None:
    """An object said to bounce off a wall moves towards it ("a ball bounces off the left wall")."""
    for i, side in walls:
        motion = said[i].setdefault("motion", _TOWARDS[side])
        if motion not in DIRECTIONS or DIRECTIONS[motion][0 if side in ("left", "right") else 1] == 0:
            raise ValueError(f"an object that {motion!r} cannot bounce off the {side} wall")


def reach_walls(objects: tuple[ObjectSpec, ...], walls, wu: float, hu: float, duration: float):
    """Speed up objects said to bounce off a wall so that they meet it halfway through the clip."""
    objects = list(objects)
    for i in dict.fromkeys(i for i, _ in walls):
        o = objects[i]
        reach = distance_to_wall(o.x * wu, o.y * hu, DIRECTIONS[o.motion], o.radius, wu, hu)
        objects[i] = dataclasses.replace(o, speed=round(min(max(reach / (0.5 * duration), 0.2), 2.0), 3))
    return tuple(objects)


def objects(said: list[dict[str, Any]], relations: list, wu: float, hu: float) -> tuple[ObjectSpec, ...]:
    spare = iter(c for c in COLOURS if c not in {t.get("colour") for t in said})
    motions = [t.get("motion", "still") for t in said]
    for i, rel, j in relations:
        if rel == "behind" and "motion" not in said[i]:  # passing behind is a sideways move
            right_of = _CENTRES.get(said[i].get("x"), 0) > _CENTRES.get(said[j].get("x"), 1)
            motions[i] = "left" if right_of else "right"
    radii = [SIZES[t.get("size", "medium")] for t in said]
    places = _layout(said, motions, radii, relations, wu, hu)
    depths = _rank(len(said), [(i, j) for i, rel, j in relations if rel == "behind"])
    order = sorted(range(len(said)), key=lambda i: (depths[i], i))  # nearer later: distinct depths
    return tuple(
        ObjectSpec(
            shape=t.get("shape", "circle"),
            colour=t.get("colour") or next(spare),
            size=t.get("size", "medium"),
            motion=motions[i],
            x=round(places[i][0], 3),
            y=round(places[i][1], 3),
            depth=order.index(i),
        )
        for i, t in enumerate(said)
    )


def _layout(said, motions, radii, relations, wu, hu) -> list[list[float]]:
    """Start places: stated thirds at their centres, the rest spread out; then kept apart and in order."""
    n = len(said)
    orders: dict[int, list[tuple[int, int]]] = {0: [], 1: []}  # (a, b): a's coordinate is the smaller
    for i, rel, j in relations:
        if rel in _AXIS_ORDER:
            axis, swap = _AXIS_ORDER[rel]
            orders[axis].append((j, i) if swap else (i, j))
    places = [[0.5, 0.5] for _ in range(n)]
    bounds = [
        [(r / wu + 0.01, 1 - r / wu - 0.01), (r / hu + 0.01, 1 - r / hu - 0.01)] for r in radii
    ]  # on canvas
    for axis, key in enumerate("xy"):
        rank, lean = _rank(n, orders[axis]), [_lean(m, axis) for m in motions]
        related = {i for pair in orders[axis] for i in pair}
        unsaid = [i for i in range(n) if key not in said[i]]
        free = sorted(unsaid, key=lambda i: (rank[i], -lean[i], i))
        for slot, i in enumerate(free):
            if axis == 0:  # side by side, movers to the right starting on the left
                places[i][0] = (slot + 0.5) / len(free) if len(free) > 1 else 0.5 - 0.25 * lean[i]
            else:  # mid-height, fallers high, risers low
                places[i][1] = (rank[i] + 0.5) / (max(rank) + 1) if i in related else 0.5 - 0.25 * lean[i]
        for i, t in enumerate(said):
            if key in t:
                centre, (lo, hi) = _CENTRES[t[key]], bounds[i][axis]
                places[i][axis], bounds[i][axis] = centre, (max(lo, centre - 0.15), min(hi, centre + 0.15))
    behind = {(i, j) for i, rel, j in relations if rel == "behind"}
    for i, j in behind:  # the mover starts on one side, at the cover's height
        if "x" not in said[j]:
            places[j][0] = 0.5
        if "x" not in said[i]:
            places[i][0] = 0.12 if DIRECTIONS.get(motions[i], (0, 0))[0] >= 0 else 0.88
        if "y" not in said[i]:
            places[i][1] = places[j][1]
    for place, bound in zip(places, bounds, strict=True):
        place[:] = [min(max(p, lo), hi) for p, (lo, hi) in zip(place, bound, strict=True)]
    _separate(places, bounds, orders, radii, behind, wu, hu)
    return places


def _separate(places, bounds, orders, radii, behind, wu, hu) -> None:
    """Nudge start places, within their thirds, until stated relations hold and objects do not overlap."""
    for _ in range(20):
        moved = False
        for axis in (0, 1):
            for a, b in orders[axis]:
                moved |= _push(places, bounds, a, b, axis, vocab.CLEAR_GAP + 0.01)
        for a, b in combinations(range(len(places)), 2):
            need = radii[a] + radii[b] + 0.02  # units
            dx, dy = abs(places[a][0] - places[b][0]) * wu, abs(places[a][1] - places[b][1]) * hu
            if max(dx, dy) >= need - 1e-9 or {(a, b), (b, a)} & behind:  # apart, or meant to cross
                continue
            lo, hi = sorted((a, b), key=lambda i: places[i][0])
            _push(places, bounds, lo, hi, 0, need / wu)
            if (
                abs(places[a][0] - places[b][0]) * wu < need - 1e-9
            ):  # no room side by side: one above the other
                lo, hi = sorted((a, b), key=lambda i: places[i][1])
                _push(places, bounds, lo, hi, 1, need / hu)
            moved = True
        if not moved:
            return


def _push(places, bounds, a: int, b: int, axis: int, gap: float) -> bool:
    """Move a and b apart along an axis until b is `gap` past a, within bounds; False if neither can move."""
    short = gap - (places[b][axis] - places[a][axis])
    if short <= 1e-9:
        return False
    before = (places[a][axis], places[b][axis])
    places[a][axis] = max(bounds[a][axis][0], places[a][axis] - short / 2)
    places[b][axis] = min(bounds[b][axis][1], places[b][axis] + short / 2)
    return (places[a][axis], places[b][axis]) != before


def _rank(n: int, pairs: list[tuple[int, int]]) -> list[int]:
    """For pairs (a, b) meaning a before b: each index's longest chain of predecessors."""
    rank = [0] * n
    for _ in range(n):
        for a, b in pairs:
            rank[b] = max(rank[b], min(rank[a] + 1, n))  # capped: a contradictory cycle must not grow forever
    return rank


def _lean(motion: str, axis: int) -> int:
    """+1 if the motion heads right (axis 0) or down (axis 1), -1 if the other way, else 0."""
    step = DIRECTIONS.get(motion, (0.0, 1.0 if motion in ("bounce", "fall") else 0.0))[axis]
    return (step > 0) - (step < 0)


def shots(specs: list[dict[str, Any]], objects: tuple[ObjectSpec, ...], num_frames: int) -> tuple[Shot, ...]:
    k = len(specs)
    if num_frames < k:
        raise ValueError(f"the prompt describes {k} shots but num_frames={num_frames}")
    lengths = [num_frames // k] * (k - 1) + [num_frames - num_frames // k * (k - 1)]
    shots = []
    for spec, length in zip(specs, lengths, strict=True):
        zoom, (cx, cy) = vocab.CUT_ZOOMS[spec["cut"] or "same"], (0.5, 0.5)
        if spec["focus"] is not None and zoom > 1:
            focus = objects[spec["focus"]]
            cx, cy = frame_on(focus.x, focus.y, zoom)
        camera = spec["camera"] or "still"
        shots.append(Shot(length, camera=camera, zoom=zoom, cx=round(cx, 3), cy=round(cy, 3)))
    return tuple(shots)
