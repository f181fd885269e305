"""The words of world prompts, English and Chinese: the phrases captions write and the lexicon prompts read.

`tessera.world.captions` writes scenes with the phrase tables (EN_*, ZH_*; each tuple holds synonyms it may
choose from). `tessera.world.lexicon` builds the parser's lexicons from the same tables plus the words people
write that captions never use (`tessera.world.synonyms`), so a phrase added to a table is understood at once.
The token kinds a lexicon phrase stands for:

  det        "a" or "the"                     count      1 to 4 ("two", 两个)
  colour, tone, size, shape                   the world's names; shape None is a generic noun ("object")
  motion     a MOTIONS name but directions    dir        a DIRECTIONS name ("leftward", 向左)
  go         a verb that needs a direction ("moves"; 移动 after its direction)
  place      (x third, y third), either None ("in the top left", "on the left")
  way        a place that is a direction after a go verb ("moves to the left") and a place otherwise
  rel        a relation said between its two objects ("left of", "behind", "in_front_of")
  rel_after  a relation said after both objects (的左边, 后面穿过)
  camera     a CAMERAS name                   cut        a CUT_ZOOMS name: the start of a new shot
  focus      the next noun is what the close-up shows
  bgkind     a BACKGROUNDS name               bgword     "background", 背景
  wall       a wall the object bounces off ("bounces off the left wall", 撞到左边的墙后弹了回来)
  from       the next place is where the object starts, and the place or direction after it where it goes
  sep        the end of a clause ("and", "then", "，", "然后")
"""

from __future__ import annotations

THIRDS = (("left", "centre", "right"), ("top", "middle", "bottom"))  # names of the thirds of x, then of y
RELATIONS = ("left_of", "right_of", "above", "below", "behind")
INVERSE = {"left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above"}
CLEAR_GAP = 0.2  # fraction of the canvas: start places further apart than this are told apart in words
CUT_ZOOMS = {"close": 1.6, "wide": 0.75, "same": 1.0}  # the framing a cut goes to, by the words used for it

WALL_SIDES = ("left", "right", "top", "bottom")

# ---- English phrase tables
EN_WALL_HITS = (
    "bounces off the {side} wall",
    "hits the {side} wall and bounces back",
    "rebounds off the {side} wall",
)
EN_SHAPES = {
    "circle": ("circle", "ball", "disc"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle",),
    "star": ("star",),
    "ring": ("ring", "donut", "hoop"),
}
EN_SIZES = {"small": ("small", "little"), "medium": ("medium-sized", "medium"), "large": ("large", "big")}
EN_TONES = {
    "white": ("white",),
    "light grey": ("light grey",),
    "cream": ("cream",),
    "sky": ("sky blue",),
    "sand": ("sand", "sandy"),
    "dark grey": ("dark grey",),
    "navy": ("navy", "navy blue"),
    "black": ("black",),
    "soil": ("soil", "brown"),
    "moss": ("moss green",),
}
EN_MOTIONS = {  # every motion but the directions, which are a verb from EN_GO and a phrase from EN_DIRECTIONS
    "still": ("stays still", "sits still", "stays in place", "rests in place"),
    "bounce": ("bounces", "bounces on the floor", "bounces up and down"),
    "fall": ("falls", "falls to the ground", "drops to the floor"),
    "circle": ("circles around", "moves in a circle", "goes round in a circle"),
    "grow": ("grows", "grows larger", "gets bigger"),
    "shrink": ("shrinks", "gets smaller", "shrinks down"),
    "spin": ("spins", "rotates", "spins in place", "turns in place"),
}
EN_GO = ("moves", "slides", "drifts", "glides", "travels")
EN_DIRECTIONS = {
    "left": ("left", "to the left", "leftward"),
    "right": ("right", "to the right", "rightward"),
    "up": ("up", "upward"),
    "down": ("down", "downward"),
    "up-left": ("up and to the left", "towards the top left"),
    "up-right": ("up and to the right", "towards the top right"),
    "down-left": ("down and to the left", "towards the bottom left"),
    "down-right": ("down and to the right", "towards the bottom right"),
}
# Third person -> (base, -ing, ...): captions use "moving left" as well as "moves left", and parsing accepts
# all forms ("two balls bounce").
EN_VERB_FORMS = {
    "stays": ("stay", "staying"),
    "sits": ("sit", "sitting"),
    "rests": ("rest", "resting"),
    "bounces": ("bounce", "bouncing"),
    "falls": ("fall", "falling"),
    "drops": ("drop", "dropping"),
    "circles": ("circle", "circling"),
    "moves": ("move", "moving"),
    "goes": ("go", "going"),
    "grows": ("grow", "growing"),
    "gets": ("get", "getting"),
    "shrinks": ("shrink", "shrinking"),
    "spins": ("spin", "spinning"),
    "rotates": ("rotate", "rotating"),
    "turns": ("turn", "turning"),
    "slides": ("slide", "sliding"),
    "drifts": ("drift", "drifting"),
    "glides": ("glide", "gliding"),
    "travels": ("travel", "travelling", "traveling"),
    "pans": ("pan", "panning"),
    "zooms": ("zoom", "zooming"),
    "pushes": ("push", "pushing"),
    "pulls": ("pull", "pulling"),
    "passes": ("pass", "passing"),
    "cuts": ("cut", "cutting"),
    "switches": ("switch", "switching"),
    "comes": ("come", "coming"),
    "orbits": ("orbit", "orbiting"),
    "expands": ("expand", "expanding"),
    "emerges": ("emerge", "emerging"),
}
EN_PLACES = {  # said as "in the <core>" or "at the <core>"
    ("left", "top"): ("top left", "upper left", "top left corner"),
    ("centre", "top"): ("top centre", "top middle"),
    ("right", "top"): ("top right", "upper right", "top right corner"),
    ("left", "middle"): ("middle left", "centre left"),
    ("centre", "middle"): ("centre", "middle"),
    ("right", "middle"): ("middle right", "centre right"),
    ("left", "bottom"): ("bottom left", "lower left", "bottom left corner"),
    ("centre", "bottom"): ("bottom centre", "bottom middle"),
    ("right", "bottom"): ("bottom right", "lower right", "bottom right corner"),
}
EN_RELATIONS = {
    "left_of": ("to the left of", "left of"),
    "right_of": ("to the right of", "right of"),
    "above": ("above",),
    "below": ("below", "beneath"),
}
EN_CAMERA_MOVES = {  # said after "the camera"
    "still": ("is still", "stays still", "does not move"),
    "pan-left": ("pans left", "pans to the left"),
    "pan-right": ("pans right", "pans to the right"),
    "zoom-in": ("zooms in", "pushes in"),
    "zoom-out": ("zooms out", "pulls back"),
}
EN_CUTS = {
    "close": ("a close-up", "a closer view"),
    "wide": ("a wide shot", "a wider view"),
    "same": ("another view",),
}
EN_COUNTS = {1: ("a single", "one"), 2: ("two",), 3: ("three",), 4: ("four",)}
EN_KINDS = {  # background kind words, for the parser; the templates below use them
    "solid": ("plain", "solid"),
    "gradient": ("gradient",),
    "stripes": ("stripes", "striped"),
    "checker": ("checkerboard", "checkered"),
    "ground": ("ground", "ground line"),
}
EN_BACKGROUNDS = {  # detailed: kind and tones
    "solid": ("on a {t} background", "against a plain {t} backdrop"),
    "gradient": ("on a gradient from {t} to {t2}", "on a {t} to {t2} gradient"),
    "stripes": ("on {t} and {t2} stripes", "on a striped background of {t} and {t2}"),
    "checker": ("on a {t} and {t2} checkerboard", "on a checkered background of {t} and {t2}"),
    "ground": ("on a {t} background above a {t2} ground line", "above a {t2} ground, against a {t} backdrop"),
}
EN_BACKGROUND_KINDS = {  # medium: the kind (and the tone of a plain background, which is all it has)
    "solid": ("on a {t} background", "on plain {t}"),
    "gradient": ("on a gradient background", "on a gradient"),
    "stripes": ("on a striped background", "on stripes"),
    "checker": ("on a checkerboard", "on a checkered background"),
    "ground": ("above a ground line", "above the ground"),
}

# ---- Chinese phrase tables
ZH_WALL_SIDES = {"left": "左边", "right": "右边", "top": "上边", "bottom": "下边"}
ZH_WALL_HITS = ("撞到{side}的墙后弹了回来", "碰到{side}的墙又弹了回来")
ZH_COLOURS = {
    "red": "红色",
    "orange": "橙色",
    "yellow": "黄色",
    "green": "绿色",
    "cyan": "青色",
    "blue": "蓝色",
    "purple": "紫色",
    "pink": "粉色",
}
ZH_TONES = {
    "white": ("白色",),
    "light grey": ("浅灰色",),
    "cream": ("米色",),
    "sky": ("天蓝色",),
    "sand": ("沙色",),
    "dark grey": ("深灰色",),
    "navy": ("藏青色",),
    "black": ("黑色",),
    "soil": ("土色", "棕色"),
    "moss": ("苔绿色",),
}
ZH_SHAPES = {
    "circle": ("圆", "球", "圆形"),
    "square": ("正方形", "方块"),
    "triangle": ("三角形",),
    "star": ("星星", "五角星"),
    "ring": ("圆环", "环"),
}
ZH_SIZES = {"small": "小", "medium": "中等大小", "large": "大"}
ZH_MOTIONS = {
    "still": ("静止不动", "一动不动", "停在原地"),
    "bounce": ("弹跳", "上下弹跳", "弹来弹去"),
    "fall": ("落下", "掉落", "落到地上"),
    "circle": ("转圈", "绕圈", "做圆周运动"),
    "grow": ("变大", "逐渐变大", "越变越大"),
    "shrink": ("变小", "逐渐变小", "越变越小"),
    "spin": ("旋转", "原地旋转", "自转"),
}
ZH_TOWARD = ("向", "往", "朝")  # a direction is toward + where + a verb from ZH_GO: 向左上方移动
ZH_GO = ("移动", "滑动", "飘动")
ZH_DIRECTIONS = {
    "left": ("左",),
    "right": ("右",),
    "up": ("上",),
    "down": ("下",),
    "up-left": ("左上方",),
    "up-right": ("右上方",),
    "down-left": ("左下方",),
    "down-right": ("右下方",),
}
ZH_PLACES = {
    ("left", "top"): ("左上方", "左上角"),
    ("centre", "top"): ("顶部中间", "上方中间"),
    ("right", "top"): ("右上方", "右上角"),
    ("left", "middle"): ("左侧中部", "左边中间"),
    ("centre", "middle"): ("正中间", "中央"),
    ("right", "middle"): ("右侧中部", "右边中间"),
    ("left", "bottom"): ("左下方", "左下角"),
    ("centre", "bottom"): ("底部中间", "下方中间"),
    ("right", "bottom"): ("右下方", "右下角"),
}
ZH_RELATIONS = {  # said after both objects: 红色的球在蓝色方块的左边
    "left_of": ("的左边", "的左侧"),
    "right_of": ("的右边", "的右侧"),
    "above": ("的上方", "的上面"),
    "below": ("的下方", "的下面"),
}
ZH_CAMERA_MOVES = {  # said after 镜头
    "still": ("固定不动", "保持静止"),
    "pan-left": ("向左平移",),
    "pan-right": ("向右平移",),
    "zoom-in": ("推近", "拉近"),
    "zoom-out": ("拉远",),
}
ZH_CUTS = {"close": ("特写", "近景"), "wide": ("远景", "全景"), "same": ("另一个镜头",)}
ZH_COUNTS = {1: "只有一个", 2: "两个", 3: "三个", 4: "四个"}
ZH_KINDS = {
    "solid": ("纯色",),
    "gradient": ("渐变",),
    "stripes": ("条纹",),
    "checker": ("棋盘格",),
    "ground": ("地面",),
}
ZH_BACKGROUNDS = {
    "solid": ("背景是{t}", "{t}的背景"),
    "gradient": ("背景是从{t}到{t2}的渐变", "{t}到{t2}的渐变背景"),
    "stripes": ("背景是{t}和{t2}相间的条纹", "{t}和{t2}的条纹背景"),
    "checker": ("背景是{t}和{t2}的棋盘格", "{t}和{t2}相间的棋盘格背景"),
    "ground": ("背景是{t}，地面是{t2}", "{t}的背景，{t2}的地面"),
}
ZH_BACKGROUND_KINDS = {
    "solid": ("{t}背景",),
    "gradient": ("渐变背景",),
    "stripes": ("条纹背景",),
    "checker": ("棋盘格背景",),
    "ground": ("带地面的背景",),
}
