"""Words people write in world prompts that captions never use, for the parser only.

`tessera.world.lexicon` reads prompts with the caption phrase tables of `tessera.world.vocabulary` and with
these: fillers that carry nothing, clause separators, synonyms of colours, shapes, sizes and motions, verbs
that need a direction, the words of "from A to B", places said only in passing, and more ways to say the
camera moves and wall bounces. Captions never choose from these tables, so a word added here changes how
prompts are read and never what captions (the training text) say.
"""

from __future__ import annotations

EN_FILLERS = (  # space-separated words
    "with on in at of is are it its they this there here video clip footage animation shows showing "
    "to into onto by over across along starting starts start begins also slowly quickly gently "
    "steadily smoothly sits appears located placed against scene frame screen canvas picture image "
    "camera view shot which that who where we see just very diagonally towards toward halfway "
    "through throughout until keeps keep continues continue bright vivid perfectly completely lazily"
)
EN_FILLER_PHRASES = ("all the way", "the whole time", "over and over", "off")
# Words for every object named so far: what follows them is said of each ("both bounce").
EN_ALL = (
    *("both", "both of them", "they both", "the two of them", "all of them", "they all", "each of them"),
    *("each one", "neither", "neither one", "neither of them", "none of them"),
)
# Stillness said of them all at once: "neither one moves" (a bare "moves" would want a direction).
EN_ALL_STILL = tuple(
    f"{who} {verb}"
    for who in ("neither", "neither one", "neither of them", "none of them", "nothing", "neither object")
    for verb in ("moves", "move", "is moving", "budges")
)
EN_SEPARATORS = ("and", "then", "while", "whilst", "as", "meanwhile", "but", "whereas")
# "from A to B" is a start place and a direction towards B ("rolls from the left side to the right side"
# moves right); said alone with a verb, away from A. In Chinese the from and to words join their place.
EN_FROM = ("from",)
EN_VERB_FORMS = {  # third person -> (base, -ing), as vocabulary.EN_VERB_FORMS, for the verbs below
    "remains": ("remain", "remaining"),
    "holds": ("hold", "holding"),
    "hops": ("hop", "hopping"),
    "jumps": ("jump", "jumping"),
    "plummets": ("plummet", "plummeting"),
    "plunges": ("plunge", "plunging"),
    "tumbles": ("tumble", "tumbling"),
    "loops": ("loop", "looping"),
    "traces": ("trace", "tracing"),
    "runs": ("run", "running"),
    "swells": ("swell", "swelling"),
    "inflates": ("inflate", "inflating"),
    "balloons": ("balloon", "ballooning"),
    "dwindles": ("dwindle", "dwindling"),
    "deflates": ("deflate", "deflating"),
    "contracts": ("contract", "contracting"),
    "whirls": ("whirl", "whirling"),
    "twirls": ("twirl", "twirling"),
    "rises": ("rise", "rising"),
    "climbs": ("climb", "climbing"),
    "sinks": ("sink", "sinking"),
    "descends": ("descend", "descending"),
    "heads": ("head", "heading"),
    "races": ("race", "racing"),
    "rolls": ("roll", "rolling"),
    "floats": ("float", "floating"),
    "shifts": ("shift", "shifting"),
    "cruises": ("cruise", "cruising"),
    "zips": ("zip", "zipping"),
    "makes": ("make", "making"),
    "hits": ("hit", "hitting"),
    "rebounds": ("rebound", "rebounding"),
    "reaches": ("reach", "reaching"),
    "swings": ("swing", "swinging"),
    "tracks": ("track", "tracking"),
}
EN_EXTRA = {  # words people write that captions never use
    "colour": {
        "red": ("scarlet", "crimson", "cherry red", "ruby"),
        "orange": ("tangerine",),
        "yellow": ("golden", "gold", "lemon", "lemon yellow"),
        "green": ("emerald", "grass green", "leaf green", "lime", "lime green"),
        "cyan": ("turquoise", "aqua", "teal"),
        "blue": ("cobalt", "cobalt blue", "royal blue"),
        "purple": ("violet", "lilac", "plum"),
        "pink": ("hot pink", "rose pink", "bubblegum pink"),
    },
    "tone": {
        "light grey": ("light gray", "grey", "gray"),
        "dark grey": ("dark gray",),
        "cream": ("beige",),
        "sky": ("sky", "light blue"),
        "navy": ("dark blue",),
        "soil": ("earth", "dirt"),
        "sand": ("tan",),
        "moss": ("moss", "olive"),
    },
    "shape": {
        "circle": ("disk", "dot", "sphere", "orb"),
        "square": ("cube", "tile"),
        "triangle": ("triangular shape", "wedge"),
        "star": ("star shape", "five pointed star"),
        "ring": ("doughnut",),
    },
    "size": {
        "small": ("tiny", "smallish", "petite"),
        "medium": ("mid sized", "average sized", "moderately sized", "regular sized", "normal sized"),
        "large": ("huge", "giant", "massive", "oversized", "enormous"),
    },
    "rel": {"below": ("under", "underneath")},
    "bgkind": {"checker": ("chequered", "checker"), "stripes": ("stripy",), "ground": ("floor",)},
    "motion": {
        "still": (
            "still",
            "stationary",
            "motionless",
            "static",
            "does not move",
            "doesn't move",
            "not moving",
            "stands still",
            "stays put",
            "stays where it is",
            "remains still",
            "remains in place",
            "holds still",
            "holds its position",
            "never moves",
            "never budges",
            "doesn't budge",
            "does not budge",
            "sits motionless",
            "is at rest",
            "at rest",
            "isn't moving",
            "stays in place",
            "stays in one place",
            "stays in the same place",
            "stays in the same spot",
        ),
        "bounce": (
            *("hops", "hops up and down", "jumps up and down", "bounces repeatedly"),
            *("falls and bounces", "drops and bounces", "falls and bounces back up"),
        ),
        "fall": (
            "falls down",
            "drops",
            "drops down",
            "falls to the floor",
            "plummets",
            "plunges",
            "tumbles down",
            "falls straight down",
            "drops straight down",
            "drops like a stone",
        ),
        "circle": (
            "orbits",
            "circling",
            "moves in circles",
            "goes around in a circle",
            "goes in a circle",
            "goes round and round",
            "goes round in circles",
            "loops around",
            "travels in a circle",
            "traces a circle",
            "runs in circles",
            "goes around in circles",
            "goes around in a circle",
            "goes around",
            "moves around in a circle",
            "circles around",
        ),
        "grow": (
            "expands",
            "gets larger",
            "grows bigger",
            "gets bigger and bigger",
            "gets larger and larger",
            "grows bigger and bigger",
            "grows in size",
            "swells",
            "swells up",
            "inflates",
            "balloons",
        ),
        "shrink": (
            "contracts",
            "gets smaller",
            "gets smaller and smaller",
            "shrinks away",
            "shrinks in size",
            "grows smaller",
            "dwindles",
            "deflates",
        ),
        "spin": (
            "twirls",
            "spins around",
            "rotates in place",
            "whirls",
            "whirls around",
            "spins on the spot",
            "spins like a top",
            "rotates on the spot",
            "turns on the spot",
        ),
    },
    "dir": {
        "left": ("leftwards",),
        "right": ("rightwards",),
        "up": ("upwards", "rises", "climbs"),  # verbs that say their direction
        "down": ("downwards", "sinks", "descends"),
        "up-left": ("up left", "up and left", "up to the left"),
        "up-right": ("up right", "up and right", "up to the right"),
        "down-left": ("down left", "down and left", "down to the left"),
        "down-right": ("down right", "down and right", "down to the right"),
    },
    "go": (
        "goes",
        "heads",
        "races",
        "rolls",
        "floats",
        "shifts",
        "cruises",
        "zips",
        "zooms",
        "flies",
        "makes its way",
    ),
    "place": {
        ("left", "top"): ("upper left corner",),
        ("right", "top"): ("upper right corner",),
        ("left", "bottom"): ("lower left corner",),
        ("right", "bottom"): ("lower right corner",),
    },
    "camera": {  # said after "the camera" only: "moves in" alone would be an object's
        "pan-left": ("swings left", "swings to the left", "tracks left", "tracks to the left"),
        "pan-right": ("swings right", "swings to the right", "tracks right", "tracks to the right"),
        "zoom-in": ("moves in", "moves in closer", "moves closer", "zooms in closer"),
        "zoom-out": ("pulls out", "moves back", "moves away", "zooms out wide"),
    },
    "wall": (
        "bounces back off the {side} wall",
        "hits the {side} edge and bounces back",
        "hits the {side} edge and comes back",
        "rebounds from the {side} wall",
        "reaches the {side} wall and bounces back",
    ),
}
EN_PARTIAL_PLACES = {
    ("left", None): ("left", "left side", "left hand side", "left edge"),
    ("right", None): ("right", "right side", "right hand side", "right edge"),
    (None, "top"): ("top", "top edge", "upper part"),
    (None, "bottom"): ("bottom", "bottom edge", "lower part"),
}
ZH_FILLERS = (  # space-separated words
    "的 在 着 了 地 正在 画面 画面中 画面里 画面的 视频 视频中 视频里 一段 有 是 它 它们 并 也 到 位于 "
    "出发 相间 再 个 带 镜头 不停地 一直 慢慢 缓缓 开始 可以看到 只见 正 不断 一路 渐渐 持续 缓慢 则 至"
)
ZH_SEPARATORS = (
    *("和", "与", "以及", "同时", "然后", "接着", "随后", "并且", "而"),
    *("与此同时", "另外", "还有", "此外"),
)
ZH_FROM = ("从", "自", "由")  # 从左边移到右边, 自左向右, 由下而上: the place it starts from
ZH_TO = ("到", "至")  # ...到右边: the way it goes
ZH_FROM_TO_PLACES = {  # places said only after a from or to word, besides ZH_PLACES and ZH_PARTIAL_PLACES
    ("left", None): ("左", "左面"),
    ("right", None): ("右", "右面"),
    (None, "top"): ("上", "上面", "上边", "顶端"),
    (None, "bottom"): ("下", "下面", "下边", "底端"),
    ("left", "top"): ("左上",),
    ("right", "top"): ("右上",),
    ("left", "bottom"): ("左下",),
    ("right", "bottom"): ("右下",),
}
ZH_EXTRA = {
    "colour": {
        "red": ("红", "鲜红色", "火红色"),
        "orange": ("橙", "橘色", "桔色", "橘黄色"),
        "yellow": ("黄", "金黄色", "柠檬黄", "柠檬黄色", "明黄色"),
        "green": ("绿", "翠绿色", "草绿色"),
        "cyan": ("青", "蓝绿色"),
        "blue": ("蓝", "宝蓝色"),
        "purple": ("紫", "紫罗兰色"),
        "pink": ("粉", "粉红色", "桃红色", "玫红色"),
    },
    "tone": {
        "white": ("白",),
        "black": ("黑",),
        "light grey": ("灰色", "浅灰"),
        "dark grey": ("深灰",),
        "sky": ("浅蓝色",),
        "navy": ("深蓝色",),
        "moss": ("墨绿色",),
    },
    "shape": {
        "circle": ("圆盘", "圆球", "皮球", "圆点", "球体", "圆片"),
        "square": ("方形", "正方块"),
        "triangle": ("三角", "三角块"),
        "star": ("星形", "星", "五角星形"),
        "ring": ("环形", "圆圈"),
    },
    "size": {
        "small": ("较小", "小小", "迷你", "小号"),
        "medium": ("中等", "中号", "不大不小"),
        "large": ("较大", "大号", "巨大", "硕大", "大大"),
    },
    "motion": {
        "still": (
            "静止",
            "不动",
            "保持不动",
            "纹丝不动",
            "原地不动",
            "停着不动",
            "待在原地",
            "待在原地不动",
            "静静地待着",
        ),
        "bounce": (
            *("跳动", "蹦跳", "蹦蹦跳跳", "上下跳动", "跳来跳去", "一蹦一跳", "弹起又落下"),
            *(
                f"在{floor}上{verb}"
                for floor in ("地上", "地板", "地面")
                for verb in ("弹跳", "跳", "弹", "蹦")
            ),
            *("落下又弹起", "掉下来又弹起来"),
        ),
        "fall": (
            "下落",
            "掉下来",
            "掉下去",
            "往下掉",
            "坠落",
            "掉了下来",
            "落了下去",
            "直直地落下",
            "掉到地上",
        ),
        "circle": ("绕着圈移动", "画圈", "兜圈子", "转圈圈", "绕圈子", "绕着圈跑", "沿着圆周运动"),
        "grow": ("长大", "放大", "越来越大", "变得越来越大", "越长越大", "膨胀", "胀大"),
        "shrink": ("缩小", "越来越小", "变得越来越小", "越缩越小", "收缩"),
        "spin": ("转动", "原地打转", "原地转动", "转个不停"),
    },
    "dir": {"up": ("上升", "升起"), "down": ("下降", "下沉")},  # verbs that say their direction
    "go": (
        "移",
        "运动",
        "飘",
        "滑",
        "滑行",
        "滑去",
        "飘去",
        "漂",
        "漂移",
        "挪动",
        "前进",
        "跑",
        "跑去",
        "滚",
        "滚动",
        "移去",
        "升",
        "沉",
        "飞",
        "飞去",
        "飞过去",
        "落",
    ),
    "camera": {  # said after 镜头 only: 向左移 alone is an object's
        "pan-left": ("向左摇", "往左摇", "向左移", "往左移", "左移"),
        "pan-right": ("向右摇", "往右摇", "向右移", "往右移", "右移"),
        "zoom-in": ("推进", "向前推"),
        "zoom-out": ("拉开", "往后拉", "向后拉"),
    },
    "wall": (
        "碰到{side}的墙后弹回来",
        "撞上{side}的墙又弹回来",
        "撞到{side}的墙壁后反弹",
        "碰到{side}边缘后弹回",
    ),
}
ZH_ALL = ("都", "全都", "两个都", "它们都", "两者都", "二者都", "三个都", "四个都")  # as EN_ALL
ZH_WALL_SIDE_WORDS = {  # the sides ZH_EXTRA["wall"] is said with
    "left": ("左边", "左侧"),
    "right": ("右边", "右侧"),
    "top": ("上边", "顶部"),
    "bottom": ("下边", "底部"),
}
ZH_DIR_WORDS = {  # what may follow 向/往/朝
    "left": ("左", "左边", "左侧"),
    "right": ("右", "右边", "右侧"),
    "up": ("上", "上方", "上面"),
    "down": ("下", "下方", "下面"),
    "up-left": ("左上", "左上方", "左上角"),
    "up-right": ("右上", "右上方", "右上角"),
    "down-left": ("左下", "左下方", "左下角"),
    "down-right": ("右下", "右下方", "右下角"),
}
ZH_PARTIAL_PLACES = {
    ("left", None): ("左边", "左侧"),
    ("right", None): ("右边", "右侧"),
    (None, "top"): ("上方", "顶部"),
    (None, "bottom"): ("下方", "底部"),
    ("centre", "middle"): ("中间", "正中央"),
}
