"""Captions of world scenes, in English and Chinese, from short to detailed.

Sora trains on re-captioned data: each clip gets many descriptions, from a few words to a paragraph, so the
model learns to follow terse and precise prompts alike. `caption` writes one description of a `Scene`; every
random choice (synonym, template, object order) comes from `random.Random(seed)`, so a (scene, seed) pair
always gives the same text and other seeds give other phrasings of the same truth.

  short     every object with its colour, shape and motion: "a red ball bounces and a blue box slides left"
  medium    + size (medium may go unsaid), start place (thirds of the canvas) and the background kind
  detailed  + the object count, background tones, relations between clearly separated objects, objects
            passing behind others, the camera, and cuts to later shots

Every object is named at every level, so a caption never leaves an object out of the scene it describes. The
phrases come from `tessera.world.vocabulary`, whose lexicon `tessera.world.prompts` reads them back with.
"""

from __future__ import annotations

import random
from itertools import combinations

from tessera.world import vocabulary as vocab
from tessera.world.render import wall_hits
from tessera.world.scene import DIRECTIONS, Background, ObjectSpec, Scene, Shot, frame_on

LANGS = ("en", "zh")
DETAILS = ("short", "medium", "detailed")


def caption(scene: Scene, *, lang: str = "en", detail: str = "short", seed: int = 0) -> str:
    """One description of `scene`; the same (scene, lang, detail, seed) always gives the same text."""
    if lang not in LANGS:
        raise ValueError(f"unknown caption language {lang!r}; allowed: {', '.join(LANGS)}")
    if detail not in DETAILS:
        raise ValueError(f"unknown caption detail {detail!r}; allowed: {', '.join(DETAILS)}")
    rng = random.Random(seed)
    writer = _English(rng) if lang == "en" else _Chinese(rng)
    objects = rng.sample(scene.objects, len(scene.objects))  # the order objects are named in varies too
    # A wall bounce turns a mover round, a camera move changes every path on screen, and a cut every size:
    # shorter captions say them too, or "moves left" would be false for half the clip.
    walls = [writer.wall(o, side) for o in objects for _, side in wall_hits(scene, o)]
    moves = [writer.camera(scene.shots[0].camera)] if scene.shots[0].camera != "still" else []
    if detail == "short":
        extra = walls + moves
        return writer.paragraph([writer.short(objects), *extra]) if extra else writer.short(objects)
    if detail == "medium":
        extra = walls + moves + [writer.cut(scene, shot) for shot in scene.shots[1:]]
        text = writer.medium(objects, scene.background)
        return writer.paragraph([text, *extra]) if extra else text
    lines = writer.opening(objects, scene.background) + [writer.object_line(o) for o in objects] + walls
    lines += [
        writer.relation(scene.objects[i], rel, scene.objects[j]) for i, rel, j in _some_relations(rng, scene)
    ]
    lines += [writer.passing(scene.objects[i], scene.objects[j], out) for i, j, out in passes_behind(scene)]
    lines.append(writer.camera(scene.shots[0].camera))
    lines += [writer.cut(scene, shot) for shot in scene.shots[1:]]
    return writer.paragraph(lines)


def captions(scene: Scene, seed: int = 0) -> dict[str, dict[str, str]]:
    """Every language and detail: {"en": {"short": ..., "medium": ..., "detailed": ...}, "zh": {...}}."""
    return {lang: {d: caption(scene, lang=lang, detail=d, seed=seed) for d in DETAILS} for lang in LANGS}


def plain_caption(
    objects: list[ObjectSpec], *, sized: tuple[bool, ...], background: Background | None = None, seed: int = 0
) -> str:
    """The objects in one plain English sentence, in their order, and the background if given: "a large red
    ball moves to the right and a blue box spins, on plain white"; an object's size is said where `sized`
    says so (tessera.world.rewrite)."""
    writer = _English(random.Random(seed))
    items = [
        f"{writer.noun(o, 'all' if say else 'none')} {writer.verb(o)}"
        for o, say in zip(objects, sized, strict=True)
    ]
    text = _join(items, " and ")
    return text if background is None else f"{text}, {writer.background(background, full=False)}"


def thirds(obj: ObjectSpec) -> tuple[str, str]:
    """The cell of the canvas's 3x3 grid the object starts in, e.g. ("left", "top")."""
    return vocab.THIRDS[0][min(int(obj.x * 3), 2)], vocab.THIRDS[1][min(int(obj.y * 3), 2)]


def relations(scene: Scene) -> list[tuple[int, str, int]]:
    """(i, relation, j) for each pair of objects whose start places are clearly apart, sideways first."""
    found = []
    for i, j in combinations(range(len(scene.objects)), 2):
        a, b = scene.objects[i], scene.objects[j]
        if abs(a.x - b.x) > vocab.CLEAR_GAP:
            found.append((i, "left_of" if a.x < b.x else "right_of", j))
        elif abs(a.y - b.y) > vocab.CLEAR_GAP:
            found.append((i, "above" if a.y < b.y else "below", j))
    return found


def passes_behind(scene: Scene) -> list[tuple[int, int, bool]]:
    """(mover, cover, comes_out) for each object moving sideways behind a still, nearer one at its height."""
    wu = max(scene.width / scene.height, 1.0)  # canvas size in units, as the world measures it
    hu = max(scene.height / scene.width, 1.0)
    last = (scene.num_frames - 1) / scene.fps  # time of the last frame
    found = []
    for i, a in enumerate(scene.objects):
        if a.motion not in ("left", "right"):
            continue
        end = a.x + DIRECTIONS[a.motion][0] * a.speed * last / wu
        for j, b in enumerate(scene.objects):
            if b.motion != "still" or b.depth <= a.depth or abs(a.y - b.y) * hu > b.radius:
                continue
            if min(a.x, end) < b.x < max(a.x, end):
                clear = (a.radius + b.radius) / wu  # centre distance at which the mover is fully out again
                found.append((i, j, abs(end - b.x) > clear))
    return found


def cut_kind(shot: Shot) -> str:
    return "close" if shot.zoom > 1.15 else "wide" if shot.zoom < 0.87 else "same"


def close_up_focus(scene: Scene, shot: Shot) -> int | None:
    """The object a close-up is framed on, if the framing centres on one's start place."""
    if cut_kind(shot) != "close":
        return None
    for i, o in enumerate(scene.objects):
        cx, cy = frame_on(o.x, o.y, shot.zoom)
        if abs(cx - shot.cx) < 0.01 and abs(cy - shot.cy) < 0.01:
            return i
    return None


def _some_relations(rng: random.Random, scene: Scene) -> list[tuple[int, str, int]]:
    found = relations(scene)
    chosen = rng.sample(found, min(2, len(found)))  # all pairs of four objects would drown the caption
    return [(j, vocab.INVERSE[r], i) if rng.random() < 0.5 else (i, r, j) for i, r, j in chosen]


def _join(items: list[str], last: str, sep: str = ", ") -> str:
    return items[0] if len(items) == 1 else sep.join(items[:-1]) + last + items[-1]


class _English:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pick = rng.choice

    def noun(self, o: ObjectSpec, size: str = "none", article: str = "a") -> str:
        """'a small red ball'; size is 'none', 'some' (medium may go unsaid) or 'all'."""
        words = [o.colour, self.pick(vocab.EN_SHAPES[o.shape])]
        if size == "all" or (size == "some" and (o.size != "medium" or self.rng.random() < 0.5)):
            words.insert(0, self.pick(vocab.EN_SIZES[o.size]))
        text = " ".join(words)
        if article == "a" and text[0] in "aeiou":
            article = "an"
        return f"{article} {text}"

    def verb(self, o: ObjectSpec, ing: bool = False) -> str:
        if o.motion in DIRECTIONS:
            phrase = f"{self.pick(vocab.EN_GO)} {self.pick(vocab.EN_DIRECTIONS[o.motion])}"
        else:
            phrase = self.pick(vocab.EN_MOTIONS[o.motion])
        if not ing:
            return phrase
        first, _, rest = phrase.partition(" ")
        return f"{vocab.EN_VERB_FORMS[first][1]} {rest}".strip()

    def place(self, o: ObjectSpec) -> str:
        return f"{self.pick(('in the', 'at the'))} {self.pick(vocab.EN_PLACES[thirds(o)])}"

    def background(self, bg: Background, full: bool) -> str:
        template = self.pick((vocab.EN_BACKGROUNDS if full else vocab.EN_BACKGROUND_KINDS)[bg.kind])
        return template.format(t=self.pick(vocab.EN_TONES[bg.tone]), t2=self.pick(vocab.EN_TONES[bg.tone2]))

    def short(self, objects: list[ObjectSpec]) -> str:
        ing = self.rng.random() < 0.4
        items = []
        for n, o in enumerate(objects):
            # A still object may go without a verb, but only last: "a box and a ball drifts" misleads.
            quiet = o.motion == "still" and n == len(objects) - 1 and self.rng.random() < 0.3
            items.append(self.noun(o) if quiet else f"{self.noun(o)} {self.verb(o, ing)}")
        if ing:
            return self.pick(("a video of ", "footage of ", "")) + _join(items, " and ")
        return _join(items, self.pick((" and ", " while ")) if len(items) == 2 else " and ")

    def medium(self, objects: list[ObjectSpec], bg: Background) -> str:
        items = []
        for o in objects:
            noun, place, verb = self.noun(o, "some"), self.place(o), self.verb(o)
            items.append(self.pick((f"{noun} {place} {verb}", f"{noun} {verb} {place}")))
        text, back = _join(items, " and "), self.background(bg, full=False)
        text = self.pick((f"{text}, {back}", f"{back}, {text}"))
        return text[0].upper() + text[1:]

    def opening(self, objects: list[ObjectSpec], bg: Background) -> list[str]:
        n = len(objects)
        noun = self.pick(("object", "shape") if n == 1 else ("objects", "shapes"))
        count = f"{self.pick(vocab.EN_COUNTS[n])} {noun}"
        return [self.pick(("", "a video of ")) + f"{count} {self.background(bg, full=True)}"]

    def object_line(self, o: ObjectSpec) -> str:
        noun, place, verb = self.noun(o, "all"), self.place(o), self.verb(o)
        return self.pick(
            (
                f"{noun} starts {place} and {verb}",
                f"{place} {noun} {verb}",
                f"there is {noun} {place}; it {verb}",
            )
        )

    def relation(self, a: ObjectSpec, rel: str, b: ObjectSpec) -> str:
        verb = f"{self.pick(('is', 'sits'))} {self.pick(vocab.EN_RELATIONS[rel])}"
        return f"{self.noun(a, article='the')} {verb} {self.noun(b, article='the')}"

    def passing(self, a: ObjectSpec, b: ObjectSpec, comes_out: bool) -> str:
        mover, cover = self.noun(a, "all", "the"), self.noun(b, "all", "the")
        if comes_out:
            return f"{mover} passes behind {cover} and comes out the other side"
        return f"{mover} goes behind {cover}"

    def wall(self, o: ObjectSpec, side: str) -> str:
        return f"{self.noun(o, article='the')} {self.pick(vocab.EN_WALL_HITS).format(side=side)}"

    def camera(self, camera: str) -> str:
        slowly = "" if camera == "still" else self.pick(("", "slowly "))
        return f"the camera {slowly}{self.pick(vocab.EN_CAMERA_MOVES[camera])}"

    def cut(self, scene: Scene, shot: Shot) -> str:
        view, verb = self.pick(("view", "shot")), self.pick(("cuts to", "switches to"))
        text = f"then the {view} {verb} {self.pick(vocab.EN_CUTS[cut_kind(shot)])}"
        focus = close_up_focus(scene, shot)
        if focus is not None:
            text += f" of {self.noun(scene.objects[focus], article='the')}"
        return text if shot.camera == "still" else f"{text} and {self.camera(shot.camera)}"

    def paragraph(self, lines: list[str]) -> str:
        return " ".join(line[0].upper() + line[1:] + "." for line in lines)


class _Chinese:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pick = rng.choice

    def noun(self, o: ObjectSpec, size: str = "none", article: bool = True) -> str:
        colour, shape = vocab.ZH_COLOURS[o.colour], self.pick(vocab.ZH_SHAPES[o.shape])
        if size == "all" or (size == "some" and (o.size != "medium" or self.rng.random() < 0.5)):
            s = vocab.ZH_SIZES[o.size]
            options = [f"{s}的{colour}{shape}"] + ([f"{colour}的{s}{shape}"] if o.size != "medium" else [])
        else:
            options = [f"{colour}的{shape}", f"{colour}{shape}"]
        return ("一个" if article else "") + self.pick(options)

    def verb(self, o: ObjectSpec) -> str:
        busy = "" if o.motion == "still" else self.pick(("", "正在"))
        if o.motion in DIRECTIONS:
            toward, where = self.pick(vocab.ZH_TOWARD), self.pick(vocab.ZH_DIRECTIONS[o.motion])
            return f"{busy}{toward}{where}{self.pick(vocab.ZH_GO)}"
        return busy + self.pick(vocab.ZH_MOTIONS[o.motion])

    def place(self, o: ObjectSpec) -> str:
        return self.pick(vocab.ZH_PLACES[thirds(o)])

    def background(self, bg: Background, full: bool) -> str:
        template = self.pick((vocab.ZH_BACKGROUNDS if full else vocab.ZH_BACKGROUND_KINDS)[bg.kind])
        return template.format(t=self.pick(vocab.ZH_TONES[bg.tone]), t2=self.pick(vocab.ZH_TONES[bg.tone2]))

    def short(self, objects: list[ObjectSpec]) -> str:
        items = [f"{self.noun(o)}{self.verb(o)}" for o in objects]
        return self.pick(("", "画面中，", "视频里，")) + self.pick(("，", "，同时", "；")).join(items)

    def medium(self, objects: list[ObjectSpec], bg: Background) -> str:
        items = [
            f"{self.noun(o, 'some')}{self.pick(('在', '在画面'))}{self.place(o)}{self.verb(o)}"
            for o in objects
        ]
        text, back = "，".join(items), self.background(bg, full=False)
        return self.pick((f"{text}，{back}", f"在{back}上，{text}"))

    def opening(self, objects: list[ObjectSpec], bg: Background) -> list[str]:
        n = len(objects)
        count = f"画面中{'' if n == 1 else '有'}{vocab.ZH_COUNTS[n]}{self.pick(('物体', '图形'))}"
        back = self.background(bg, full=True)
        return [self.pick((f"{count}，{back}", f"{back}，{count}"))]

    def object_line(self, o: ObjectSpec) -> str:
        noun, place, verb = self.noun(o, "all"), self.place(o), self.verb(o)
        return self.pick(
            (
                f"{noun}位于画面{place}，{verb}",
                f"{noun}从画面{place}出发，{verb}",
                f"在画面{place}有{noun}，它{verb}",
            )
        )

    def relation(self, a: ObjectSpec, rel: str, b: ObjectSpec) -> str:
        where = self.pick(vocab.ZH_RELATIONS[rel])
        return f"{self.noun(a, article=False)}在{self.noun(b, article=False)}{where}"

    def passing(self, a: ObjectSpec, b: ObjectSpec, comes_out: bool) -> str:
        text = f"{self.noun(a, 'all', False)}从{self.noun(b, 'all', False)}后面穿过"
        return text + "，再从另一边出来" if comes_out else text

    def wall(self, o: ObjectSpec, side: str) -> str:
        return self.noun(o, article=False) + self.pick(vocab.ZH_WALL_HITS).format(
            side=vocab.ZH_WALL_SIDES[side]
        )

    def camera(self, camera: str) -> str:
        slowly = "" if camera == "still" else self.pick(("", "缓缓"))
        return f"镜头{slowly}{self.pick(vocab.ZH_CAMERA_MOVES[camera])}"

    def cut(self, scene: Scene, shot: Shot) -> str:
        view, verb = self.pick(("镜头", "画面")), self.pick(("切换到", "切到"))
        text = f"然后{view}{verb}{self.pick(vocab.ZH_CUTS[cut_kind(shot)])}"
        focus = close_up_focus(scene, shot)
        if focus is not None:
            text += f"，对准{self.noun(scene.objects[focus], article=False)}"
        return text if shot.camera == "still" else f"{text}，{self.camera(shot.camera)}"

    def paragraph(self, lines: list[str]) -> str:
        return "。".join(lines) + "。"
