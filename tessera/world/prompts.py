"""World prompts, English or Chinese, read back into scenes, with a record of what the text actually claimed.

`parse_prompt` understands every caption `tessera.world.captions` writes and hand-written prompts, in the same
vocabulary or in the words people use beyond it (`tessera.world.synonyms`): "A big red ball bouncing on the
left, white background", "a scarlet sphere rolls from the left side to the right side", "两个球在弹跳，镜头向
左平移", "粉色的三角形越来越小". It returns a complete, valid `Scene` (what the text leaves open gets a
default) and a `Stated` record, so a scorer checks a generated video only against what the prompt said.

How it reads. Text is cut into tokens by greedy longest match against the lexicon of
`tessera.world.lexicon` (English word by word; Chinese character by character, as it has no spaces);
fillers are known but dropped, and any leftover word fails the parse, naming it. Punctuation and joining words
("and", "then", "，", "同时") end a clause. In a clause, colour, size and count words wait for the shape noun
they modify; motion and place words attach to the clause's latest object (to its first one when they come
before it, and to the previous clause's object when the clause names none); a way said before its verb and
its noun is the direction ("to the right moves a big red circle"), and "from A to B" is a start place and the
direction from A towards B (自左向右, 从左边移到右边). A noun whose colour was named before refers back to
that object. Background tones and kinds, the camera and cuts belong to the whole scene.
`tessera.world.prompt_scene` then lays the scene out from what was said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tessera.world import lexicon, prompt_scene
from tessera.world import vocabulary as vocab
from tessera.world.captions import thirds
from tessera.world.prompt_scene import Token
from tessera.world.scene import (
    DIRECTIONS,
    Scene,
)

OBJECT_ATTRIBUTES = ("shape", "colour", "size", "motion", "x", "y")
_BACKGROUND_TOKENS = {"tone", "bgkind", "bgword"}


@dataclass(frozen=True)
class Stated:
    """What a prompt said, so a scorer checks only that.

    objects: per scene object (same order), the ObjectSpec field names the text gave, among
        OBJECT_ATTRIBUTES; "x" ("y") means the start place's third across (down) was named: "on the left"
        states "x" only, "in the top left" both. Unstated fields hold defaults, not claims.
    background: the Background field names the text gave, among "kind", "tone", "tone2".
    camera: the text said what the camera does (in any shot).
    cut: the text described cuts to later shots (each cut is a shot of `scene.shots`).
    relations: (i, relation, j) object index pairs, relation in vocabulary.RELATIONS: "left_of", "right_of",
        "above", "below" (start places) or "behind" (i passes behind j, which is nearer the viewer).
    count: the number of objects, when the text counted them ("two balls", "三个物体"); else None.
    walls: (i, side) for each wall object i was said to bounce off ("left", "right", "top", "bottom").
    """

    objects: tuple[frozenset[str], ...]
    background: frozenset[str] = frozenset()
    camera: bool = False
    cut: bool = False
    relations: tuple[tuple[int, str, int], ...] = ()
    count: int | None = None
    walls: tuple[tuple[int, str], ...] = ()

    def to_dict(self) -> dict:
        return {
            "objects": [sorted(o) for o in self.objects],
            "background": sorted(self.background),
            "camera": self.camera,
            "cut": self.cut,
            "relations": [list(r) for r in self.relations],
            "count": self.count,
            "walls": [list(w) for w in self.walls],
        }


@dataclass(frozen=True)
class ParsedPrompt:
    scene: Scene
    stated: Stated
    skipped: tuple[str, ...] = ()  # words not understood and left out (parse_prompt(skip_unknown=True))

    def stated_values(self) -> list[dict[str, Any]]:
        """Each object's stated attributes with their values; a start place as the third of the canvas it
        falls in ("left", "top", ...), which is as much as words say of it."""
        out = []
        for obj, names in zip(self.scene.objects, self.stated.objects, strict=True):
            cell = dict(zip("xy", thirds(obj), strict=True))
            out.append({name: cell[name] if name in cell else getattr(obj, name) for name in names})
        return out


def parse_prompt(
    text: str,
    *,
    height: int = 128,
    width: int = 128,
    fps: int = 8,
    num_frames: int = 17,
    skip_unknown: bool = False,
) -> ParsedPrompt:
    """An English or Chinese world prompt as a complete scene and what it stated; ValueError if unreadable.

    A word the parser does not know is an error naming it, or with `skip_unknown` left out and listed in
    `ParsedPrompt.skipped` (the scorer then checks what the rest of the prompt says)."""
    tokens, unknown = _tokenize(text)
    if unknown and not skip_unknown:
        raise ValueError(f"could not understand {', '.join(map(repr, unknown))} in prompt {text!r}")
    tokens = _from_to(tokens)
    reader = _Reader()
    clause: list[Token] = []
    for token in [*tokens, ("sep", None, "")]:
        if token[0] == "sep":
            reader.clause(clause)
            clause = []
        else:
            clause.append(token)
    reader.close()
    if not reader.things:
        raise ValueError(
            f"no object in prompt {text!r}: name a shape ({', '.join(vocab.EN_SHAPES['circle'])}, ...)"
        )
    said = [t.said for t in reader.things]
    prompt_scene.head_for_walls(said, reader.walls)
    background, bg_stated = prompt_scene.background(tokens)
    aspect = width / height
    wu, hu = max(aspect, 1.0), max(1.0 / aspect, 1.0)
    objects = prompt_scene.objects(said, reader.relations, wu, hu)
    objects = prompt_scene.reach_walls(objects, reader.walls, wu, hu, num_frames / fps)
    shots = prompt_scene.shots(reader.shots, objects, num_frames)
    scene = Scene(height=height, width=width, fps=fps, objects=objects, background=background, shots=shots)
    stated = Stated(
        objects=tuple(frozenset(t) for t in said),
        background=bg_stated,
        camera=any(s["camera"] for s in reader.shots),
        cut=len(reader.shots) > 1,
        relations=tuple(dict.fromkeys(reader.relations)),
        count=len(reader.things) if reader.counted else None,
        walls=tuple(dict.fromkeys(reader.walls)),
    )
    return ParsedPrompt(scene, stated, tuple(unknown))


_EN_LONGEST = max(map(len, lexicon.EN_LEXICON))
_ZH_LONGEST = max(map(len, lexicon.ZH_LEXICON))
_PIECE = re.compile(r"([a-z0-9]+(?:['’-][a-z0-9]+)*)|([\u3400-\u9fff]+)|([,.;:!?，。；：！？、])|(\S)")


def _tokenize(text: str) -> tuple[list[Token], list[str]]:
    """The known words of `text` as tokens, and the unknown ones (each once, in order)."""
    tokens: list[Token] = []
    unknown: list[str] = []
    run: list[tuple[str, str]] = []  # English words (split at hyphens) and the written word each came from
    for word, han, stop, other in _PIECE.findall(text.lower()):
        if word:
            run += [(part, word) for part in re.split(r"['’-]", word)]
            continue
        _match_english(run, tokens, unknown)
        run = []
        if han:
            _match_chinese(han, tokens, unknown)
        elif stop:
            tokens.append(("sep", None, stop))
        elif other.isalnum():  # a letter of another script; other symbols (quotes, brackets) carry no meaning
            unknown.append(other)
    _match_english(run, tokens, unknown)
    return tokens, list(dict.fromkeys(unknown))


def _match_english(run: list[tuple[str, str]], tokens: list[Token], unknown: list[str]) -> None:
    i = 0
    while i < len(run):
        for n in range(min(_EN_LONGEST, len(run) - i), 0, -1):
            key = tuple(part for part, _ in run[i : i + n])
            if key in lexicon.EN_LEXICON:
                tokens += [(kind, value, " ".join(key)) for kind, value in lexicon.EN_LEXICON[key]]
                i += n
                break
        else:
            if not unknown or unknown[-1] != run[i][1]:  # report "purple-ish" once, as written
                unknown.append(run[i][1])
            i += 1


def _match_chinese(han: str, tokens: list[Token], unknown: list[str]) -> None:
    i, bad = 0, ""
    while i < len(han):
        n = next(
            (n for n in range(min(_ZH_LONGEST, len(han) - i), 0, -1) if han[i : i + n] in lexicon.ZH_LEXICON),
            0,
        )
        if not n:
            bad += han[i]  # neighbouring unknown characters are reported together, as one word
            i += 1
            continue
        if bad:
            unknown.append(bad)
            bad = ""
        tokens += [(kind, value, han[i : i + n]) for kind, value in lexicon.ZH_LEXICON[han[i : i + n]]]
        i += n
    if bad:
        unknown.append(bad)


def _from_to(tokens: list[Token]) -> list[Token]:
    """Each "from A to B" as a start place and a direction: "rolls from the left side to the right side"
    starts on the left and moves right, 从左上角移到右下角 down-right. With no B but a verb ("moves from the
    left"), the way is away from A. A from word before anything but a place ("from sky blue to navy") says
    nothing."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        if tokens[i][0] != "from" or i + 1 == len(tokens) or tokens[i + 1][0] not in ("place", "way"):
            out += [] if tokens[i][0] == "from" else [tokens[i]]
            i += 1
            continue
        moving = bool(out) and out[-1][0] == "go"  # "moves from the left"
        start = tokens[i + 1]
        said = " ".join(dict.fromkeys((tokens[i][2], start[2])))  # "from the left"; 从左边 is one word
        out.append(("place", start[1], said))
        i += 2
        while i < len(tokens) and tokens[i][0] == "go":  # 从左边移到右边: the verb between A and B
            out.append(tokens[i])
            moving, i = True, i + 1
        goal = tokens[i] if i < len(tokens) else ("", None, "")
        if goal[0] == "dir":  # 自左向右
            out.append(goal)
            i += 1
        elif goal[0] == "way":  # "to the right", 到右边; not a place ("on the right")
            out.append(("dir", _heading(start[1], goal[1], f"{said} {goal[2]}"), goal[2]))
            i += 1
        elif moving and _heading(start[1], (None, None), said, strict=False):
            out.append(("dir", _heading(start[1], (None, None), said), said))
    return out


def _heading(start: tuple, goal: tuple, words: str, strict: bool = True) -> str | None:
    """The direction from place `start` towards place `goal`, both (x third, y third) with either None: an
    unsaid start is the middle, an unsaid goal the side across from the start. None (or with `strict`, a
    ValueError naming `words`) when that goes nowhere."""
    where = []
    for names, a, b in zip(vocab.THIRDS, start, goal, strict=True):
        a = a or names[1]
        b = b or names[2 - names.index(a)]
        step = names.index(b) - names.index(a)
        where.append(names[1 + (step > 0) - (step < 0)])
    if not strict and where == [names[1] for names in vocab.THIRDS]:
        return None
    return _direction((where[0], where[1]), words)


# ---- reading tokens into objects, relations and shots


@dataclass
class _Thing:
    said: dict[str, Any] = field(default_factory=dict)  # ObjectSpec field -> value; x, y hold third names
    placeholder: bool = False  # counted ("three shapes: ...") and waiting for its description


@dataclass
class _Clause:
    before: list[int]  # the objects the previous clause was about ("它", "it" refer to them)
    mods: dict[str, tuple[Any, str]]  # colour, size, count, det words waiting for their noun
    pending: list[Token]  # motion and place words said before the clause's first noun
    groups: list[list[int]] = field(default_factory=list)  # the nouns of this clause, in order
    go: str | None = None  # a movement verb waiting for its direction ("moves ... left")
    rel: tuple[str, str] | None = None  # a relation waiting for its second noun ("... left of ...")
    focus: bool = False  # the next noun is what a close-up shows, not a new subject
    last: str = ""  # the kind of the previous token


_SIDES = {
    ("left", None): "left_of",
    ("right", None): "right_of",
    (None, "top"): "above",
    (None, "bottom"): "below",
}


class _Reader:
    def __init__(self) -> None:
        self.things: list[_Thing] = []
        self.relations: list[tuple[int, str, int]] = []
        self.walls: list[tuple[int, str]] = []
        self.counted = False
        self.subject: list[int] = []
        self.carry: tuple[dict[str, tuple[Any, str]], list[Token]] = ({}, [])  # said before any noun
        self.shots: list[dict[str, Any]] = [{"cut": None, "camera": None, "focus": None}]

    def clause(self, tokens: list[Token]) -> None:
        c = _Clause(self.subject, *self.carry)
        self.carry = ({}, [])
        for i, (kind, value, word) in enumerate(tokens):
            if kind in ("det", "count", "size", "colour"):
                if kind != "det" and c.mods.get(kind, (value,))[0] != value:
                    raise ValueError(f"conflicting {kind} words {c.mods[kind][1]!r} and {word!r}")
                c.mods[kind] = (value, word)
            elif kind == "shape":
                self.noun(c, value)
            elif kind == "all" and not self.things and word == "both":
                c.mods["count"] = (2, word)  # "both balls bounce": the two balls are new
            elif kind == "all":
                if not self.things:
                    raise ValueError(f"{word!r} refers to objects, but none is named before it")
                self.subject = list(range(len(self.things)))
                self.take_pending(c, self.subject)
            elif kind in ("motion", "dir", "go", "way", "place", "wall"):
                if c.groups:
                    self.attribute(c, c.groups[-1], (kind, value, word))
                elif kind == "go" and c.pending and c.pending[-1][0] == "way":
                    # "To the right moves a big red circle": a way said before its verb is its direction.
                    where = c.pending[-1]
                    c.pending[-1] = ("dir", _direction(where[1], word), where[2])
                else:
                    c.pending.append((kind, value, word))
            elif kind == "rel":
                rest = {k for k, _, _ in tokens[i + 1 :]}
                if "shape" in rest or not rest & _BACKGROUND_TOKENS:  # else it places the background's ground
                    c.rel = (value, word)
            elif kind == "rel_after":
                nouns = [c.before, *c.groups] if c.before else c.groups
                if len(nouns) < 2:
                    raise ValueError(f"{word!r} needs two objects before it")
                self.relate(nouns[-2], value, nouns[-1], word)
            elif kind in ("camera", "cut", "focus"):
                self.shot_word(c, kind, value, word)
            c.last = kind
        self.finish(c)

    def noun(self, c: _Clause, shape: str | None) -> None:
        mods, c.mods = {k: v for k, (v, _) in c.mods.items()}, {}
        group = self.resolve(mods, shape)
        if c.focus:
            self.shots[-1]["focus"] = group[0]
            c.focus = False
            return
        if c.rel:
            self.relate((c.groups or [c.before])[-1], c.rel[0], group, c.rel[1])
            c.rel = None
        self.subject = group
        self.take_pending(c, group)

    def take_pending(self, c: _Clause, group: list[int]) -> None:
        """`group` is what the clause speaks of now; motion and place words said before it are its."""
        c.groups.append(group)
        pending, c.pending = c.pending, []
        for token in pending:
            self.attribute(c, group, token)

    def resolve(self, mods: dict[str, Any], shape: str | None) -> list[int]:
        """The objects a noun names: ones named before (same colour, or "the" + unique shape) or new ones."""
        count = mods.get("count")
        self.counted |= count is not None
        said = {k: mods[k] for k in ("colour", "size") if k in mods} | ({"shape": shape} if shape else {})
        if count in (None, 1):
            same = self.find(said, definite=mods.get("det") == "the")
            if same is not None:
                return [same]
        if not said:  # "three shapes", "an object": their description may follow
            return [self.add(_Thing(placeholder=True)) for _ in range(count or 1)]
        return [self.claim(dict(said)) for _ in range(count or 1)]

    def find(self, said: dict[str, Any], definite: bool) -> int | None:
        if "colour" in said:
            matches = [i for i, t in enumerate(self.things) if t.said.get("colour") == said["colour"]]
        elif definite:  # "the ball": the one ball named so far
            matches = [
                i for i, t in enumerate(self.things) if said.get("shape") in (None, t.said.get("shape"))
            ]
        else:
            return None
        if len(matches) != 1:
            return None
        thing = self.things[matches[0]]
        clash = {k: (thing.said[k], v) for k, v in said.items() if thing.said.get(k, v) != v}
        if clash and "colour" in said:
            raise ValueError(f"two {said['colour']} objects ({clash}): each object needs its own colour")
        if clash:
            return None
        thing.said.update(said)
        return matches[0]

    def claim(self, said: dict[str, Any]) -> int:
        for i, t in enumerate(self.things):
            if t.placeholder and not t.said:
                t.said = said
                return i
        return self.add(_Thing(said))

    def add(self, thing: _Thing) -> int:
        self.things.append(thing)
        if len(self.things) > 4:
            raise ValueError(f"a scene has 1 to 4 objects; the prompt describes {len(self.things)} or more")
        return len(self.things) - 1

    def attribute(self, c: _Clause, group: list[int], token: Token) -> None:
        kind, value, word = token
        if kind == "wall":
            self.walls += [(i, value) for i in group]
            return
        if kind in ("way", "place") and c.last == "shape" and len(c.groups) >= 2 and value in _SIDES:
            self.relate(c.groups[-2], _SIDES[value], group, word)  # 红球在蓝方块左边: a relation, not a place
            return
        if kind == "go":
            if not any(self.things[i].said.get("motion") in DIRECTIONS for i in group):
                c.go = word  # 向左移动 names the direction first; "moves left" after
            return
        if kind == "way" and c.go:
            kind, value, c.go = "dir", _direction(value, c.go), None
        for i in group:
            if kind in ("motion", "dir"):
                self.set(i, "motion", value, word)
            else:
                for key, third in zip("xy", value, strict=True):
                    if third:
                        self.set(i, key, third, word)
        if kind == "dir":
            c.go = None

    def set(self, i: int, key: str, value: Any, word: str) -> None:
        old = self.things[i].said.setdefault(key, value)
        if key == "motion" and {old, value} == {"fall", "bounce"}:  # "falls ... and bounces": a bounce
            self.things[i].said[key] = "bounce"  # is a fall that bounces back off the floor
            return
        if old != value:
            raise ValueError(f"conflicting {key} for one object: {old!r} and {value!r} (from {word!r})")

    def relate(self, before: list[int], rel: str, after: list[int], word: str) -> None:
        if not before:
            raise ValueError(f"{word!r} needs an object before it")
        if rel == "in_front_of":
            before, rel, after = after, "behind", before
        for i in before:
            for j in after:
                if i == j:
                    raise ValueError(f"{word!r} relates an object to itself")
                self.relations.append((i, rel, j))

    def shot_word(self, c: _Clause, kind: str, value: Any, word: str) -> None:
        if kind == "cut":
            self.shots.append({"cut": value, "camera": None, "focus": None})
        elif kind == "focus":
            c.focus = True
        elif self.shots[-1]["camera"] not in (None, value):
            raise ValueError(f"conflicting camera moves {self.shots[-1]['camera']!r} and {value!r}")
        else:
            self.shots[-1]["camera"] = value

    def finish(self, c: _Clause) -> None:
        target = c.groups[-1] if c.groups else c.before
        if c.pending and not target:
            self.carry = ({}, c.pending)  # "On the left, a red ball bounces": the object comes next
        for token in c.pending if target else []:
            self.attribute(c, target, token)
        leftover = {k: v for k, v in c.mods.items() if k != "det"}
        if leftover and c.groups:
            self.describe(c.groups[-1], leftover)  # "the ball is red"
        elif leftover:
            self.carry = (leftover, self.carry[1])  # "a big, red ball" or a trailing "..., red"
        if c.go:
            raise ValueError(f"{c.go!r} needs a direction, e.g. 'moves left' or 'drifts up and to the right'")
        if c.rel:
            raise ValueError(f"{c.rel[1]!r} needs an object after it")
        if c.focus:
            raise ValueError("a close-up 'of' what? name an object after it")

    def describe(self, group: list[int], mods: dict[str, tuple[Any, str]]) -> None:
        for kind, (value, word) in mods.items():
            if kind == "count":
                raise ValueError(f"{word!r} counts no noun: say e.g. 'two balls'")
            for i in group:
                self.set(i, kind, value, word)

    def close(self) -> None:
        if self.subject:  # modifiers left at the end ("a ball, red") describe the last object
            self.describe(self.subject, self.carry[0])


def _direction(where: tuple[str | None, str | None], verb: str) -> str:
    h, v = where
    parts = [{"top": "up", "bottom": "down"}.get(v or ""), {"left": "left", "right": "right"}.get(h or "")]
    if not any(parts):
        raise ValueError(f"{verb!r} needs a direction (left, right, up, down or between), not the centre")
    return "-".join(p for p in parts if p)
