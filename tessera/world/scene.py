"""The synthetic world: scene specs, their vocabulary, random scenes, and the held-out split.

A scene is a small, JSON-serialisable description of a video whose truth we know: a canvas, a background, one
to four objects (shape, colour, size, motion, start place, depth) and one or more shots (framing and camera).
`tessera.world.render` turns a scene into pixels; `tessera.world.captions` turns it into words (and words back
into a scene); `tessera.eval` checks a video against it.

Geometry. Positions in a spec are fractions of the canvas: x in [0, 1] left to right, y in [0, 1] top to
bottom. Lengths and speeds are in "units" of the canvas's shorter side (so a scene looks the same at 64x64 and
256x256, and a 16:9 canvas is simply wider). Time is in seconds; frame i is at i / fps. Shots follow each
other in time: objects keep moving through a cut, only the framing changes.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass, field
from typing import Any

# Object colours are saturated and far apart; background tones are muted, so the two never mix up.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (222, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 40),
    "green": (40, 175, 65),
    "cyan": (30, 200, 215),
    "blue": (40, 70, 225),
    "purple": (140, 55, 200),
    "pink": (245, 110, 185),
}
TONES: dict[str, tuple[int, int, int]] = {
    "white": (246, 246, 242),
    "light grey": (196, 198, 200),
    "cream": (236, 226, 200),
    "sky": (172, 202, 232),
    "sand": (212, 192, 146),
    "dark grey": (62, 64, 68),
    "navy": (26, 32, 64),
    "black": (16, 16, 18),
    "soil": (112, 82, 58),
    "moss": (78, 100, 76),
}
SHAPES = ("circle", "square", "triangle", "star", "ring")
SIZES: dict[str, float] = {"small": 0.07, "medium": 0.105, "large": 0.15}  # radius, in units
DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "up-left": (-0.7071, -0.7071),
    "up-right": (0.7071, -0.7071),
    "down-left": (-0.7071, 0.7071),
    "down-right": (0.7071, 0.7071),
}
MOTIONS = ("still", *DIRECTIONS, "bounce", "fall", "circle", "grow", "shrink", "spin")
BACKGROUNDS = ("solid", "gradient", "ground", "stripes", "checker")
CAMERAS = ("still", "pan-left", "pan-right", "zoom-in", "zoom-out")
SYMMETRIC_SHAPES = ("circle", "ring")  # spinning them changes nothing visible

# Compositional generalisation: these attribute pairs never occur in training scenes. Every colour, shape and
# motion is still seen in training, only not in these combinations.
HELD_OUT_COLOUR_SHAPE = frozenset(
    {("red", "triangle"), ("blue", "star"), ("green", "ring"), ("yellow", "square"), ("purple", "circle")}
)
HELD_OUT_SHAPE_MOTION = frozenset({("star", "bounce"), ("ring", "right"), ("triangle", "circle")})
SPLITS = ("train", "heldout", "any")
STARTS = ("anywhere", "by-motion")
START_JITTER = 0.04  # units: how far a "by-motion" start place may lie from its motion's place


MAX_SIDE = 4096  # the largest canvas side a scene renders, in pixels
MAX_VIDEO_BYTES = 2**32  # the most pixel bytes (frames x height x width x 3) a scene renders


def _check_choice(what: str, value: Any, allowed: Any) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(map(str, allowed))}")


@dataclass(frozen=True)
class SceneMix:
    """Which part of the world random scenes are drawn from. The default is all of it; a smaller model may
    train (and be evaluated) on a part it can learn, e.g. one or two medium or large objects on a plain
    background, and says so in its model card. The chances are per scene (occlusion, a cut to a close-up, a
    camera move) or per straight-line mover (a wall bounce)."""

    max_objects: int = 4
    sizes: tuple[str, ...] = tuple(SIZES)
    backgrounds: tuple[str, ...] = BACKGROUNDS
    tones: tuple[str, ...] = tuple(TONES)  # the background's main tone
    p_occlusion: float = 0.15
    p_multishot: float = 0.1
    p_camera: float = 0.15
    p_wall: float = 0.1
    # Where an object starts: "anywhere" its path stays on the canvas, or "by-motion": where its motion has
    # the most room (a mover at the side it leaves, a faller at the top, the rest in the middle), give or
    # take START_JITTER, moving at one speed. Then a caption decides the video but for that jitter, which a
    # small model learns far sooner than a layout it must also invent.
    start: str = "anywhere"

    def __post_init__(self) -> None:
        _check_choice("start rule", self.start, STARTS)
        if not 1 <= self.max_objects <= 4:
            raise ValueError(f"max_objects must be 1..4, got {self.max_objects}")
        for what, values, allowed in (
            ("sizes", self.sizes, SIZES),
            ("backgrounds", self.backgrounds, BACKGROUNDS),
            ("tones", self.tones, TONES),
        ):
            if not values:
                raise ValueError(f"{what} must name at least one of {list(allowed)}")
            for v in values:
                _check_choice(what[:-1], v, allowed)
        for name in ("p_occlusion", "p_multishot", "p_camera", "p_wall"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SceneMix:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


WHOLE_WORLD = SceneMix()
# The part of the world a 2-core CPU can learn in hours: one or two medium or large objects on a plain
# background, no camera moves or cuts.
PLAIN_WORLD = SceneMix(
    max_objects=2,
    sizes=("medium", "large"),
    backgrounds=("solid",),
    p_occlusion=0.1,
    p_multishot=0.0,
    p_camera=0.0,
)
# The plain world on one background tone: a caption never names the background, so over many tones the
# best guess for it near pure noise is a blend of them all, which the sampler never resolves into one.
PLAIN_WHITE_WORLD = dataclasses.replace(PLAIN_WORLD, tones=("white",))
# One large object on white, starting where its motion has room: every word of a short caption decides
# what the video shows, and nothing else is left to chance but a few pixels of start place.
ONE_OBJECT_WORLD = SceneMix(
    max_objects=1,
    sizes=("large",),
    backgrounds=("solid",),
    tones=("white",),
    p_occlusion=0.0,
    p_multishot=0.0,
    p_camera=0.0,
    p_wall=0.0,
    start="by-motion",
)
SCENE_MIXES: dict[str, SceneMix] = {
    "whole": WHOLE_WORLD,
    "plain": PLAIN_WORLD,
    "plain-white": PLAIN_WHITE_WORLD,
    "one-object": ONE_OBJECT_WORLD,
}


@dataclass(frozen=True)
class ObjectSpec:
    shape: str
    colour: str
    size: str = "medium"
    motion: str = "still"
    x: float = 0.5  # start centre (the orbit centre for "circle"), fraction of canvas width
    y: float = 0.5  # fraction of canvas height
    speed: float = 0.3  # units per second for moving motions
    depth: int = 0  # larger is nearer the viewer: drawn later, hides what is behind

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check_choice("shape", self.shape, SHAPES)
        _check_choice("colour", self.colour, COLOURS)
        _check_choice("size", self.size, SIZES)
        _check_choice("motion", self.motion, MOTIONS)
        if not (0.0 <= self.x <= 1.0 and 0.0 <= self.y <= 1.0):
            raise ValueError(f"object start place ({self.x}, {self.y}) must lie in [0, 1] x [0, 1]")
        if not 0.0 <= self.speed <= 3.0:
            raise ValueError(f"object speed {self.speed} must be in [0, 3] units per second")

    @property
    def radius(self) -> float:
        return SIZES[self.size]

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


@dataclass(frozen=True)
class Background:
    kind: str = "solid"
    tone: str = "white"
    tone2: str = "light grey"  # the second tone of gradients, textures and the ground

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check_choice("background kind", self.kind, BACKGROUNDS)
        _check_choice("background tone", self.tone, TONES)
        _check_choice("background tone2", self.tone2, TONES)


@dataclass(frozen=True)
class Shot:
    num_frames: int
    camera: str = "still"
    zoom: float = 1.0  # framing: 1 shows the whole canvas, 2 shows a quarter of it
    cx: float = 0.5  # framing centre, fractions of the canvas
    cy: float = 0.5

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check_choice("camera", self.camera, CAMERAS)
        if self.num_frames < 1:
            raise ValueError(f"shot num_frames must be >= 1, got {self.num_frames}")
        if not 0.5 <= self.zoom <= 4.0:
            raise ValueError(f"shot zoom {self.zoom} must be in [0.5, 4]")


@dataclass(frozen=True)
class Scene:
    height: int
    width: int
    fps: int
    objects: tuple[ObjectSpec, ...]
    background: Background = field(default_factory=Background)
    shots: tuple[Shot, ...] = (Shot(num_frames=16),)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.height < 8 or self.width < 8:
            raise ValueError(f"canvas {self.height}x{self.width} is too small: each side must be >= 8 pixels")
        if max(self.height, self.width) > MAX_SIDE:
            raise ValueError(
                f"canvas {self.height}x{self.width} is too large: each side must be <= {MAX_SIDE}"
            )
        frames = sum(s.num_frames for s in self.shots)
        needed = frames * self.height * self.width * 3
        if needed > MAX_VIDEO_BYTES:
            raise ValueError(
                f"{frames} frames of {self.width}x{self.height} need {needed:,}"
                f" bytes of pixels; the most a scene renders is {MAX_VIDEO_BYTES:,} (use fewer frames or a "
                "smaller canvas)"
            )
        if not 1 <= self.fps <= 120:
            raise ValueError(f"fps {self.fps} must be in [1, 120]")
        if not 1 <= len(self.objects) <= 4:
            raise ValueError(f"a scene has 1 to 4 objects, got {len(self.objects)}")
        colours = [o.colour for o in self.objects]
        if len(set(colours)) != len(colours):
            raise ValueError(f"objects in a scene must have distinct colours (they name them), got {colours}")
        if not self.shots:
            raise ValueError("a scene needs at least one shot")
        for o in self.objects:
            o.validate()
        self.background.validate()
        for s in self.shots:
            s.validate()

    @property
    def num_frames(self) -> int:
        return sum(s.num_frames for s in self.shots)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    @property
    def unit(self) -> float:
        """Pixels per unit: the canvas's shorter side."""
        return float(min(self.height, self.width))

    def shot_starts(self) -> list[int]:
        """First frame index of each shot."""
        starts, total = [], 0
        for s in self.shots:
            starts.append(total)
            total += s.num_frames
        return starts

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scene:
        if not isinstance(d, dict):
            raise ValueError(f"a scene spec is a JSON object, got {type(d).__name__}")
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ValueError(f"unknown scene spec key(s) {unknown}; allowed: {', '.join(fields)}")
        for name in ("height", "width", "fps"):
            if name in d and (not isinstance(d[name], int) or isinstance(d[name], bool)):
                raise ValueError(f"scene spec {name!r} must be a whole number, got {d[name]!r}")
        try:
            return cls(
                height=d["height"],
                width=d["width"],
                fps=d["fps"],
                objects=tuple(ObjectSpec(**o) for o in d["objects"]),
                background=Background(**d.get("background", {})),
                shots=tuple(Shot(**s) for s in d["shots"]),
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a valid scene spec: {e}") from e

    @classmethod
    def from_json(cls, text: str) -> Scene:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> Scene:
        return dataclasses.replace(self, **changes)


def is_held_out(obj: ObjectSpec) -> bool:
    return (obj.colour, obj.shape) in HELD_OUT_COLOUR_SHAPE or (
        obj.shape,
        obj.motion,
    ) in HELD_OUT_SHAPE_MOTION


def scene_split(scene: Scene) -> str:
    """'heldout' when any object uses a held-out attribute combination, else 'train'."""
    return "heldout" if any(is_held_out(o) for o in scene.objects) else "train"


def sample_scene(
    seed: int,
    *,
    height: int = 128,
    width: int = 128,
    fps: int = 8,
    num_frames: int = 17,
    split: str = "train",
    mix: SceneMix = WHOLE_WORLD,
    **changes: Any,
) -> Scene:
    """A random scene, deterministic by seed, drawn from the train split, the held-out split, or either, and
    from the part of the world `mix` allows; `changes` replace fields of `mix` (`p_wall=0.5`)."""
    _check_choice("split", split, SPLITS)
    if changes:
        mix = dataclasses.replace(mix, **changes)
    rng = random.Random(seed)
    for _ in range(1000):
        scene = _draw_scene(rng, height, width, fps, num_frames, mix)
        if split == "any" or scene_split(scene) == split:
            return scene
        if split == "heldout":
            # Held-out combinations are rare by chance; plant one in a random object so this split is cheap.
            scene = _plant_held_out(rng, scene)
            if scene is not None:
                return scene
    raise RuntimeError(f"could not draw a {split} scene for seed {seed}")  # pragma: no cover


def _draw_scene(rng, height, width, fps, num_frames, mix: SceneMix) -> Scene:
    aspect = width / height
    wu, hu = max(aspect, 1.0), max(1.0 / aspect, 1.0)  # canvas size in units
    num_objects = rng.choices(range(1, mix.max_objects + 1), weights=[4, 4, 2, 1][: mix.max_objects])[0]
    colours = rng.sample(list(COLOURS), num_objects)
    duration = num_frames / fps
    if num_objects >= 2 and rng.random() < mix.p_occlusion:
        objects = _occlusion_pair(rng, colours[:2], wu, duration, mix.sizes)
        objects += [
            _draw_object(rng, c, wu, hu, duration, objects, 2 + i, mix) for i, c in enumerate(colours[2:])
        ]
    else:
        objects = []
        depths = rng.sample(range(num_objects), num_objects)
        for c, d in zip(colours, depths, strict=True):
            objects.append(_draw_object(rng, c, wu, hu, duration, objects, d, mix))
    kind = rng.choice(mix.backgrounds)
    tone, tone2 = rng.sample(list(TONES), 2)
    if tone not in mix.tones:  # mapped, not redrawn: every other draw of the scene stays as it was
        tone = mix.tones[list(TONES).index(tone) % len(mix.tones)]
        tone2 = tone2 if tone2 != tone else next(t for t in TONES if t != tone)
    shots = [Shot(num_frames=num_frames, camera=_draw_camera(rng, mix.p_camera))]
    if num_frames >= 8 and rng.random() < mix.p_multishot:
        first = num_frames // 2
        zoom = rng.uniform(1.4, 1.8)
        focus = rng.choice(objects)
        cx, cy = frame_on(focus.x, focus.y, zoom)
        shots = [
            Shot(num_frames=first),
            Shot(num_frames=num_frames - first, zoom=round(zoom, 3), cx=round(cx, 3), cy=round(cy, 3)),
        ]
    return Scene(
        height=height,
        width=width,
        fps=fps,
        objects=tuple(objects),
        background=Background(kind, tone, tone2),
        shots=tuple(shots),
    )


def frame_on(x: float, y: float, zoom: float) -> tuple[float, float]:
    """The centre of a close-up on a place (fractions), kept so that the view stays inside the canvas."""
    half = 0.5 / zoom
    return min(max(x, half), 1 - half), min(max(y, half), 1 - half)


def _draw_camera(rng: random.Random, p_camera: float) -> str:
    return rng.choice(CAMERAS[1:]) if rng.random() < p_camera else "still"


def _draw_object(rng, colour, wu, hu, duration, others, depth, mix: SceneMix) -> ObjectSpec:
    shape = rng.choice(SHAPES)
    motion = rng.choice([m for m in MOTIONS if not (m == "spin" and shape in SYMMETRIC_SHAPES)])
    size = rng.choice(list(mix.sizes))
    r = SIZES[size] * (1.5 if motion == "grow" else 1.0)
    speed = rng.uniform(0.2, 0.4) if mix.start == "anywhere" else 0.3
    to_wall = motion in DIRECTIONS and rng.random() < mix.p_wall
    if motion in DIRECTIONS and not to_wall:
        # Otherwise a straight-line mover never reaches a wall: "moves up" stays true for the whole clip.
        dx, dy = DIRECTIONS[motion]
        room = min((extent - 2 * (r + 0.03)) / abs(d) for extent, d in ((wu, dx), (hu, dy)) if d)
        speed = min(speed, 0.9 * room / duration)
    best = None
    for _ in range(50):  # keep start places apart so objects are told apart at the start
        if mix.start == "by-motion":
            x, y = _motion_start(rng, "still" if to_wall else motion, r, wu, hu)
        else:
            x, y = _start_place(rng, "still" if to_wall else motion, r, speed, wu, hu, duration)
        gap = min((abs(x - o.x) * wu + abs(y - o.y) * hu for o in others), default=9.0)
        if best is None or gap > best[0]:
            best = (gap, x, y)
        if gap > 0.35:
            break
    _, x, y = best
    if to_wall:  # fast enough to meet the wall ahead a third to two thirds of the way through the clip
        speed = distance_to_wall(x * wu, y * hu, DIRECTIONS[motion], r, wu, hu) / (
            rng.uniform(0.33, 0.66) * duration
        )
        speed = min(max(speed, 0.2), 2.0)
    return ObjectSpec(shape, colour, size, motion, round(x, 3), round(y, 3), round(speed, 3), depth)


def distance_to_wall(x: float, y: float, d: tuple[float, float], r: float, wu: float, hu: float) -> float:
    """How far (units) a disc of radius r at (x, y) travels along direction d before touching a wall."""
    reach = []
    for pos, step, extent in ((x, d[0], wu), (y, d[1], hu)):
        if step > 0:
            reach.append((extent - r - pos) / step)
        elif step < 0:
            reach.append((pos - r) / -step)
    return max(min(reach), 0.0)


def _start_place(rng, motion, r, speed, wu, hu, duration) -> tuple[float, float]:
    """A start place (fractions) that keeps the object's path on the canvas for the clip."""
    lo_x, hi_x = (r + 0.03) / wu, 1 - (r + 0.03) / wu
    lo_y, hi_y = (r + 0.03) / hu, 1 - (r + 0.03) / hu
    if motion in DIRECTIONS:
        dx, dy = DIRECTIONS[motion]
        travel_x, travel_y = dx * speed * duration / wu, dy * speed * duration / hu
        lo_x, hi_x = max(lo_x, lo_x - travel_x), min(hi_x, hi_x - travel_x)
        lo_y, hi_y = max(lo_y, lo_y - travel_y), min(hi_y, hi_y - travel_y)
    elif motion in ("bounce", "fall"):
        lo_y, hi_y = lo_y, min(hi_y, 0.45)
    elif motion == "circle":
        pad_x, pad_y = (ORBIT_RADIUS + r + 0.03) / wu, (ORBIT_RADIUS + r + 0.03) / hu
        lo_x, hi_x, lo_y, hi_y = pad_x, 1 - pad_x, pad_y, 1 - pad_y
    if lo_x > hi_x:
        lo_x = hi_x = 0.5
    if lo_y > hi_y:
        lo_y = hi_y = 0.5
    return rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)


def _motion_start(rng, motion, r, wu, hu) -> tuple[float, float]:
    """Where `motion` has the most room (fractions): a mover at the side or corner it leaves, a faller or a
    bouncer at the top middle, anything else in the middle; moved by up to START_JITTER either way."""
    lo_x, lo_y = (r + 0.03) / wu, (r + 0.03) / hu
    x, y = 0.5, 0.5
    if motion in DIRECTIONS:
        dx, dy = DIRECTIONS[motion]
        x = 0.5 if dx == 0 else (lo_x if dx > 0 else 1 - lo_x)
        y = 0.5 if dy == 0 else (lo_y if dy > 0 else 1 - lo_y)
    elif motion in ("bounce", "fall"):
        y = lo_y
    jx, jy = (rng.uniform(-START_JITTER, START_JITTER) / extent for extent in (wu, hu))
    return min(max(x + jx, lo_x), 1 - lo_x), min(max(y + jy, lo_y), 1 - lo_y)


def _occlusion_pair(rng, colours, wu, duration, sizes) -> list[ObjectSpec]:
    """A still object of the largest allowed size in front, and one of the smallest passing behind it from
    one side to the other."""
    smallest, largest = min(sizes, key=SIZES.get), max(sizes, key=SIZES.get)
    front = ObjectSpec(
        rng.choice(("square", "circle")),
        colours[0],
        largest,
        "still",
        x=0.5,
        y=round(rng.uniform(0.4, 0.6), 3),
        depth=1,
    )
    going = rng.choice(("left", "right"))
    r = SIZES[smallest]
    start = (r + 0.04) / wu
    # Crosses the canvas in the clip; a clip too short for that (an image) gets the fastest allowed speed.
    speed = round(min((1 - 2 * start) * wu / duration, 3.0), 3)
    back = ObjectSpec(
        rng.choice(SHAPES),
        colours[1],
        smallest,
        going,
        x=round(start if going == "right" else 1 - start, 3),
        y=front.y,
        speed=speed,
        depth=0,
    )
    return [front, back]


def _plant_held_out(rng: random.Random, scene: Scene) -> Scene | None:
    i = rng.randrange(len(scene.objects))
    obj = scene.objects[i]
    used = {o.colour for j, o in enumerate(scene.objects) if j != i}
    # Sorted: a frozenset of strings iterates in an order that changes with every process (hash seeds), and
    # the choice below must pick the same scene for the same seed everywhere.
    pairs = sorted(HELD_OUT_COLOUR_SHAPE)
    options = [dataclasses.replace(obj, colour=c, shape=s) for c, s in pairs if c not in used]
    motions = sorted(HELD_OUT_SHAPE_MOTION)
    options += [dataclasses.replace(obj, shape=s) for s, m in motions if m == obj.motion]
    if not options:
        return None
    objects = list(scene.objects)
    objects[i] = rng.choice(options)
    return scene.replace(objects=tuple(objects))


ORBIT_RADIUS = 0.15  # units: the radius of "circle" motion
