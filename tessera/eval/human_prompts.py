"""World prompts in the words people use, not the caption generator's, for `tessera eval run`'s "human" group.

A model trained on `tessera.world.captions` may learn its phrasings rather than the language: "a red ball
moves right" followed, "a scarlet sphere rolls from the left side to the right side" not. `human_prompt`
describes a scene's objects the way people write them, with its own phrase tables (synonyms of colours,
shapes, sizes and motions; verb-first orders such as "to the right moves a big red circle"; "from A to B";
Chinese written several ways: 自左向右, 从左边移到右边, 往上飘, 越来越小), so that following them
measures generalisation to people's words.

It says what a short caption says and no more, all of it checkable in prompt mode: each object's colour,
shape and motion, sometimes its size (not across a cut: the close-up it does not mention enlarges
everything), the start place only as the "from" of "from A to B" (and only when the object starts there),
the walls a mover bounces off, and a moving camera (without which motions on screen would not be what the
words say). The tables are written apart from tessera.world.vocabulary on
purpose: the parser has to have learnt these words, not share them.
"""

from __future__ import annotations

import random

from tessera.world.render import wall_hits
from tessera.world.scene import DIRECTIONS, ObjectSpec, Scene

LANGS = ("en", "zh")

# ---- English
_EN_COLOURS = {
    "red": ("red", "scarlet", "crimson", "cherry red", "bright red"),
    "orange": ("orange", "tangerine", "bright orange"),
    "yellow": ("yellow", "gold", "lemon yellow"),
    "green": ("green", "emerald", "grass green", "leaf green"),
    "cyan": ("cyan", "turquoise", "aqua", "teal"),
    "blue": ("blue", "cobalt", "royal blue"),
    "purple": ("purple", "violet", "lilac", "plum"),
    "pink": ("pink", "hot pink", "rose pink", "bubblegum pink"),
}
_EN_SHAPES = {
    "circle": ("circle", "ball", "sphere", "disc", "dot", "orb"),
    "square": ("square", "box", "cube", "block", "tile"),
    "triangle": ("triangle", "triangular shape", "wedge"),
    "star": ("star", "five-pointed star", "star shape"),
    "ring": ("ring", "hoop", "donut", "doughnut"),
}
_EN_SIZES = {
    "small": ("small", "tiny", "little", "smallish"),
    "medium": ("medium-sized", "mid-sized", "average-sized", "moderately sized"),
    "large": ("big", "large", "huge", "massive", "giant"),
}
_EN_MOTIONS = {
    "still": ("stays put", "sits still", "doesn't move", "stays where it is", "remains still", "never moves"),
    "bounce": ("bounces", "hops up and down", "jumps up and down", "keeps bouncing", "hops"),
    "fall": ("falls", "plummets", "drops", "falls straight down", "tumbles down", "drops like a stone"),
    "circle": ("goes round and round", "travels in a circle", "loops around", "runs in circles", "orbits"),
    "grow": ("grows", "keeps growing", "gets bigger and bigger", "swells", "expands", "grows in size"),
    "shrink": ("shrinks", "keeps shrinking", "gets smaller and smaller", "dwindles", "shrinks away"),
    "spin": ("spins", "twirls", "whirls", "rotates", "spins on the spot", "spins like a top"),
}
_EN_GO = ("moves", "glides", "heads", "drifts", "races", "travels", "slides", "floats")  # also verb-last
# Never after its direction: "to the left makes its way a ball" is not said.
_EN_GO_PHRASES = ("makes its way",)
_EN_ROLL = ("rolls",)  # only what is round rolls
_EN_SELF_GO = {"up": ("rises", "climbs"), "down": ("sinks", "descends")}  # verbs that say their direction
_EN_WAYS = {  # said after the verb; the first few also before it ("to the right moves a red ball")
    "left": ("to the left", "leftward", "towards the left", "left", "over to the left", "leftwards"),
    "right": ("to the right", "rightward", "towards the right", "right", "over to the right", "rightwards"),
    "up": ("upward", "towards the top", "up", "upwards", "toward the top edge"),
    "down": ("downward", "towards the bottom", "down", "downwards", "toward the bottom edge"),
    "up-left": (
        "up and to the left",
        "towards the top left",
        "diagonally up and left",
        "toward the upper left",
    ),
    "up-right": (
        "up and to the right",
        "towards the top right",
        "diagonally up and right",
        "toward the upper right",
    ),
    "down-left": ("down and to the left", "towards the bottom left", "diagonally down and left"),
    "down-right": ("down and to the right", "towards the bottom right", "diagonally down and right"),
}
_EN_FRONTED = 3  # how many of each _EN_WAYS entry may come before the verb
# "from A to B": the same style on both ends ("from left to right", "from the left edge to the right edge").
_EN_SIDES = {
    "left": ("left", "the left", "the left side", "the left edge"),
    "right": ("right", "the right", "the right side", "the right edge"),
    "top": ("top", "the top", "the top", "the top edge"),
    "bottom": ("bottom", "the bottom", "the bottom", "the bottom edge"),
}
_EN_CORNERS = ("{v} {h}", "the {v} {h}", "the {v} {h} corner", "the {v} {h} corner")
_EN_WALLS = (
    "bounces back off the {side} wall",
    "hits the {side} edge and bounces back",
    "rebounds from the {side} wall",
    "reaches the {side} wall and bounces back",
)
_EN_CAMERA = {
    "pan-left": ("the camera pans to the left", "the camera swings left", "the camera tracks left"),
    "pan-right": ("the camera pans to the right", "the camera swings right", "the camera tracks right"),
    "zoom-in": ("the camera zooms in", "the camera moves in closer", "the camera slowly pushes in"),
    "zoom-out": ("the camera pulls back", "the camera zooms out", "the camera pulls out"),
}
_EN_JOINS = (", ", "; ", " and ", ". ", ", while ", ". Meanwhile, ", ", whereas ")

# ---- Chinese
_ZH_COLOURS = {
    "red": ("红色", "红", "鲜红色", "火红色"),
    "orange": ("橙色", "橘色", "橘黄色"),
    "yellow": ("黄色", "金黄色", "柠檬黄色", "明黄色"),
    "green": ("绿色", "翠绿色", "草绿色"),
    "cyan": ("青色", "蓝绿色"),
    "blue": ("蓝色", "宝蓝色"),
    "purple": ("紫色", "紫罗兰色"),
    "pink": ("粉色", "粉红色", "桃红色", "玫红色"),
}
_ZH_SHAPES = {
    "circle": ("圆", "球", "圆球", "皮球", "圆点", "圆盘", "球体"),
    "square": ("方块", "正方形", "方形", "正方块"),
    "triangle": ("三角形", "三角", "三角块"),
    "star": ("星星", "五角星", "星形"),
    "ring": ("圆环", "圆圈", "环"),
}
_ZH_SIZES = {
    "small": ("小", "小小的", "迷你", "小号的", "较小的"),
    "medium": ("中等大小的", "不大不小的", "中号的", "中等的"),
    "large": ("大", "巨大的", "大大的", "硕大的", "大号的"),
}
_ZH_MOTIONS = {
    "still": ("一动不动", "纹丝不动", "原地不动", "停着不动", "待在原地", "静静地待着"),
    "bounce": ("蹦蹦跳跳", "上下跳动", "跳来跳去", "一蹦一跳", "弹起又落下"),
    "fall": ("往下掉", "掉下去", "坠落", "掉了下来", "直直地落下", "落了下去"),
    "circle": ("兜圈子", "转圈圈", "绕着圈跑", "沿着圆周运动", "绕圈子"),
    "grow": ("越来越大", "慢慢变大", "不断变大", "膨胀", "变得越来越大", "越长越大"),
    "shrink": ("越来越小", "慢慢变小", "不断缩小", "收缩", "变得越来越小", "越缩越小"),
    "spin": ("原地打转", "转个不停", "不停地旋转", "自转", "原地转动"),
}
_ZH_TOWARD = ("向", "往", "朝")
_ZH_GO = ("移动", "移", "滑", "滑动", "滑行", "飘", "挪动", "前进", "飘去")
_ZH_ROLL = ("滚", "滚动")
_ZH_SELF_GO = {"up": ("上升", "缓缓上升", "往上飘"), "down": ("下降", "慢慢下沉", "往下沉")}
_ZH_SIDES = {  # said after 向/往/朝, 从/自/由 and 到 alike
    "left": ("左", "左边", "左侧"),
    "right": ("右", "右边", "右侧"),
    "top": ("上", "上方", "上面"),
    "bottom": ("下", "下方", "下面"),
}
_ZH_CORNERS = ("{h}{v}", "{h}{v}方", "{h}{v}角")  # 左上, 左上方, 左上角
_ZH_WALLS = (
    "碰到{side}的墙后弹回来",
    "撞上{side}的墙又弹回来",
    "撞到{side}的墙壁后反弹",
    "碰到{side}边缘后弹回",
)
_ZH_WALL_SIDES = {
    "left": ("左边", "左侧"),
    "right": ("右边", "右侧"),
    "top": ("上边", "顶部"),
    "bottom": ("下边", "底部"),
}
_ZH_CAMERA = {
    "pan-left": ("镜头往左摇", "镜头缓缓左移", "镜头慢慢向左平移"),
    "pan-right": ("镜头往右摇", "镜头缓缓右移", "镜头慢慢向右平移"),
    "zoom-in": ("镜头推进", "镜头慢慢推进", "镜头向前推"),
    "zoom-out": ("镜头拉开", "镜头往后拉", "镜头慢慢拉远"),
}
_ZH_JOINS = ("，", "；", "。", "，同时", "，另外", "；与此同时，")


def human_prompt(scene: Scene, lang: str = "en", seed: int = 0) -> str:
    """A description of `scene` in people's words; the same (scene, lang, seed) always gives the same text."""
    if lang not in LANGS:
        raise ValueError(f"unknown prompt language {lang!r}; allowed: {', '.join(LANGS)}")
    rng = random.Random(seed)
    # A close-up the prompt does not mention makes everything look bigger: sizes are said in one shot only.
    sizes = 0.4 if len(scene.shots) == 1 else 0.0
    writer = _English(rng, sizes) if lang == "en" else _Chinese(rng, sizes)
    objects = rng.sample(scene.objects, len(scene.objects))
    clauses = [writer.clause(o, [side for _, side in wall_hits(scene, o)]) for o in objects]
    camera = scene.shots[0].camera
    if camera != "still":  # a pan moves everything on screen: say it, or "stays put" would look false
        said = rng.choice(_EN_CAMERA[camera] if lang == "en" else _ZH_CAMERA[camera])
        clauses.insert(0 if rng.random() < 0.3 else len(clauses), said)
    return writer.join(clauses)


def _thirds(o: ObjectSpec) -> tuple[str, str]:
    """The thirds of the canvas the object starts in, (across, down)."""
    across, down = ("left", "centre", "right"), ("top", "middle", "bottom")
    return across[min(int(o.x * 3), 2)], down[min(int(o.y * 3), 2)]


def _from_to(o: ObjectSpec) -> tuple[tuple[str | None, str | None], tuple[str | None, str | None]] | None:
    """(start, goal) sides of a straight-line mover, (horizontal, vertical): the start names only the sides
    the object really starts on, in the third it moves away from; None when it starts on neither."""
    goal = _goal(o)
    away = ({"right": "left", "left": "right"}.get(goal[0]), {"bottom": "top", "top": "bottom"}.get(goal[1]))
    start = tuple(a if a == third else None for a, third in zip(away, _thirds(o), strict=True))
    return (start, goal) if any(start) else None


def _goal(o: ObjectSpec) -> tuple[str | None, str | None]:
    """The sides a straight-line mover heads for, (horizontal, vertical)."""
    dx, dy = DIRECTIONS[o.motion]
    return {1: "right", -1: "left"}.get(_sign(dx)), {1: "bottom", -1: "top"}.get(_sign(dy))


def _sign(v: float) -> int:
    return (v > 1e-6) - (v < -1e-6)


class _English:
    def __init__(self, rng: random.Random, sizes: float) -> None:
        self.rng = rng
        self.pick = rng.choice
        self.sizes = sizes  # how often an object's size is said

    def noun(self, o: ObjectSpec) -> str:
        shape, colour = self.pick(_EN_SHAPES[o.shape]), self.pick(_EN_COLOURS[o.colour])
        size = f"{self.pick(_EN_SIZES[o.size])} " if self.rng.random() < self.sizes else ""
        if self.rng.random() < 0.15:
            return f"{_article(size or shape)} {size}{shape} in {colour}"  # "a ball in crimson"
        return f"{_article(size or colour)} {size}{colour} {shape}"

    def clause(self, o: ObjectSpec, walls: list[str]) -> str:
        noun = self.noun(o)
        if o.motion in DIRECTIONS:
            text = self.mover(o, noun, bounces=bool(walls))
        else:
            verb = self.pick(_EN_MOTIONS[o.motion])
            text = self.pick((f"{noun} {verb}", f"there is {noun} that {verb}"))
        for n, side in enumerate(walls):
            link = self.pick((" until it ", ", then ", " and ")) if n == 0 else " and then "
            text += link + self.pick(_EN_WALLS).format(side=side)
        return text

    def mover(self, o: ObjectSpec, noun: str, bounces: bool) -> str:
        verbs = _EN_GO + _EN_GO_PHRASES + (_EN_ROLL if o.shape in ("circle", "ring") else ())
        verb, ways = self.pick(verbs), _EN_WAYS[o.motion]
        sides = None if bounces else _from_to(o)  # after a bounce it heads back: "to B" would be wrong
        roll = self.rng.random()
        if sides and roll < 0.35:
            style = self.rng.randrange(len(_EN_CORNERS))
            start, goal = (self.place(s, style) for s in sides)
            return f"{noun} {verb} from {start} to {goal}"
        if 0.35 <= roll < 0.5 and verb not in _EN_GO_PHRASES:
            return f"{self.pick(ways[:_EN_FRONTED])} {verb} {noun}"  # "to the right moves a big red circle"
        if o.motion in _EN_SELF_GO and roll < 0.6:
            return f"{noun} {self.pick(_EN_SELF_GO[o.motion])}"
        return self.pick(
            (f"{noun} {verb} {self.pick(ways)}", f"there is {noun} that {verb} {self.pick(ways)}")
        )

    def place(self, sides: tuple[str | None, str | None], style: int) -> str:
        h, v = sides
        if h and v:
            return _EN_CORNERS[style].format(h=h, v=v)
        return _EN_SIDES[h or v][style]

    def join(self, clauses: list[str]) -> str:
        text = clauses[0]
        for clause in clauses[1:]:
            text += self.pick(_EN_JOINS) + clause
        sentences = [s[0].upper() + s[1:] for s in text.split(". ")]
        return ". ".join(sentences) + self.pick((".", ""))


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


class _Chinese:
    def __init__(self, rng: random.Random, sizes: float) -> None:
        self.rng = rng
        self.pick = rng.choice
        self.sizes = sizes  # how often an object's size is said

    def noun(self, o: ObjectSpec) -> str:
        colour, shape = self.pick(_ZH_COLOURS[o.colour]), self.pick(_ZH_SHAPES[o.shape])
        size = self.pick(_ZH_SIZES[o.size]) if self.rng.random() < self.sizes else ""
        units = ("一个", "一颗", "") if o.shape in ("circle", "star") else ("一个", "")
        return f"{self.pick(units)}{size}{colour}{self.pick(('的', ''))}{shape}"

    def clause(self, o: ObjectSpec, walls: list[str]) -> str:
        noun = self.noun(o)
        verb = (
            self.mover(o, bounces=bool(walls)) if o.motion in DIRECTIONS else self.pick(_ZH_MOTIONS[o.motion])
        )
        busy = ("正在", "在", "正") if o.motion != "still" else ("",)
        text = self.pick(
            (
                f"{noun}{verb}",
                f"{noun}{self.pick(busy)}{verb}",
                f"只见{noun}{verb}",
                f"画面里有{noun}，它{verb}",
                f"{verb}的是{noun}",  # "向右移动的是一个红球": the motion first
            )
        )
        for n, side in enumerate(walls):
            text += ("，" if n == 0 else "，然后") + self.pick(_ZH_WALLS).format(
                side=self.pick(_ZH_WALL_SIDES[side])
            )
        return text

    def mover(self, o: ObjectSpec, bounces: bool) -> str:
        verbs = _ZH_GO + (_ZH_ROLL if o.shape in ("circle", "ring") else ())
        verb = self.pick(verbs)
        sides = None if bounces else _from_to(o)
        roll = self.rng.random()
        if sides and roll < 0.5:
            bare = self.rng.random() < 0.4  # 从左到右 or 从左边到右边, not 从左边到右
            start, goal = (self.place(s, bare) for s in sides)
            if bare and None in sides[0] and None in sides[1] and self.rng.random() < 0.5:
                return f"{self.pick(('自', '由'))}{start}而{goal}{verb}"  # one axis: 自下而上
            frame = "画面" if not bare and self.rng.random() < 0.3 else ""
            via = self.pick([v for v in verbs if v != "飘去"])  # 飘去到 is not said
            return self.pick(
                (
                    f"从{frame}{start}{via}到{goal}",
                    f"{self.pick(('从', '自', '由'))}{frame}{start}{self.pick(_ZH_TOWARD)}{goal}{verb}",
                    f"从{frame}{start}一路{via}到{goal}",
                )
            )
        if o.motion in _ZH_SELF_GO and roll < 0.7:
            return self.pick(_ZH_SELF_GO[o.motion])
        goal = self.place(_goal(o), self.rng.random() < 0.4)
        return f"{self.pick(('', '一路'))}{self.pick(_ZH_TOWARD)}{goal}{verb}"

    def place(self, sides: tuple[str | None, str | None], bare: bool) -> str:
        h, v = sides
        if h and v:
            corner = _ZH_CORNERS[0] if bare else self.pick(_ZH_CORNERS[1:])
            return corner.format(h=_ZH_SIDES[h][0], v=_ZH_SIDES[v][0])
        return _ZH_SIDES[h or v][0] if bare else self.pick(_ZH_SIDES[h or v][1:])

    def join(self, clauses: list[str]) -> str:
        text = clauses[0]
        for clause in clauses[1:]:
            text += self.pick(_ZH_JOINS) + clause
        return text + self.pick(("。", ""))
