"""The lexicon prompts are read with, built from the phrase tables of tessera.world.vocabulary and the words
people write beyond them (tessera.world.synonyms).

A lexicon maps a phrase (English: a tuple of lower-case words; Chinese: a string) to the tokens it stands
for, each a (kind, value) pair; an empty tuple marks a known filler that carries nothing ("the", "的"). The
token kinds are listed in tessera.world.vocabulary. Because the lexicon is built from the same tables that
captions are written with, a phrase added to a table is understood at once.
"""

from __future__ import annotations

import re
from typing import Any

from tessera.world import synonyms as syn
from tessera.world import vocabulary as vocab
from tessera.world.scene import COLOURS

_VERB_FORMS = {**vocab.EN_VERB_FORMS, **syn.EN_VERB_FORMS}


def _words(phrase: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[a-z0-9]+", phrase.lower()))


def _verb_forms(phrase: str) -> list[str]:
    first, _, rest = phrase.partition(" ")
    return [f"{form} {rest}".strip() for form in (first, *_VERB_FORMS.get(first, ()))]


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("x", "s")) else "s")


def _english_lexicon() -> dict[tuple[str, ...], tuple[tuple[str, Any], ...]]:
    lex: dict[tuple[str, ...], tuple[tuple[str, Any], ...]] = {}

    def add(phrases, *tokens: tuple[str, Any], verbs: bool = False) -> None:
        for phrase in phrases:
            for form in _verb_forms(phrase) if verbs else [phrase]:
                lex[_words(form)] = tokens

    add(syn.EN_FILLERS.split())
    add(syn.EN_FILLER_PHRASES)
    add(syn.EN_SEPARATORS, ("sep", None))
    add(syn.EN_FROM, ("from", None))
    add(syn.EN_ALL, ("all", None))
    add(syn.EN_ALL_STILL, ("all", None), ("motion", "still"))
    add(("a", "an"), ("det", "a"))
    add(("the",), ("det", "the"))
    for n, words in vocab.EN_COUNTS.items():
        add([w.removeprefix("a ") for w in words] + [str(n)], ("count", n))
    colours = {c: (c,) for c in COLOURS}
    tables = {
        "colour": colours,
        "tone": vocab.EN_TONES,
        "size": vocab.EN_SIZES,
        "dir": vocab.EN_DIRECTIONS,
        "bgkind": vocab.EN_KINDS,
    }
    for kind, table in {**tables, "rel": vocab.EN_RELATIONS, "motion": vocab.EN_MOTIONS}.items():
        for value, words in table.items():
            words += syn.EN_EXTRA.get(kind, {}).get(value, ())
            add(words, (kind, value), verbs=kind in ("motion", "dir"))  # "rises", "rising": up
    for shape, words in [*vocab.EN_SHAPES.items(), (None, ("object", "shape", "thing"))]:
        words += syn.EN_EXTRA["shape"].get(shape, ())
        add(words + tuple(_plural(w) for w in words), ("shape", shape))
    for where, cores in [
        *vocab.EN_PLACES.items(),
        *syn.EN_PARTIAL_PLACES.items(),
    ]:  # after "dir": "left" is a way
        cores += syn.EN_EXTRA["place"].get(where, ())
        cores += tuple(c.replace("centre", "center") for c in cores if "centre" in c)
        ways = [f"{p} {c}".strip() for p in ("", "the", "to the", "towards the", "toward the") for c in cores]
        add(ways, ("way", where))
        add(
            [f"{p} {c}" for p in ("on the", "in the", "at the", "near the", "on", "in", "at") for c in cores],
            ("place", where),
        )
    add(vocab.EN_GO + syn.EN_EXTRA["go"], ("go", None), verbs=True)
    add(
        ("behind", "passes behind", "goes behind", "moves behind", "slides behind"),
        ("rel", "behind"),
        verbs=True,
    )
    add(("in front of",), ("rel", "in_front_of"))
    for side in vocab.WALL_SIDES:
        hits = [h.format(side=side) for h in vocab.EN_WALL_HITS + syn.EN_EXTRA["wall"]] + [
            f"bounces off the {side}",
            f"hits the {side} wall",
        ]
        add(hits, ("wall", side), verbs=True)
    add(("comes out the other side", "comes out on the other side", "emerges on the other side"), verbs=True)
    for camera, moves in vocab.EN_CAMERA_MOVES.items():
        add([f"{who} {m}" for who in ("camera", "view", "shot") for m in moves], ("camera", camera))
        if camera != "still":  # "is still" alone would be an object's
            add(moves, ("camera", camera), verbs=True)
        more = syn.EN_EXTRA["camera"].get(camera, ())  # "moves in" alone would be an object's
        said = [f"{who} {how}{m}" for who in ("camera", "view") for how in ("", "slowly ") for m in more]
        add(said, ("camera", camera))
    add(("static camera", "still camera", "fixed camera", "shot is static"), ("camera", "still"))
    for kind, targets in vocab.EN_CUTS.items():
        add(
            [f"cuts to {t}" for t in targets] + [f"switches to {t}" for t in targets],
            ("cut", kind),
            verbs=True,
        )
        add([f"cuts to {t} of" for t in targets], ("cut", kind), ("focus", None), verbs=True)
        add([f"switches to {t} of" for t in targets], ("cut", kind), ("focus", None), verbs=True)
    add(("background", "backdrop"), ("bgword", None))
    return lex


def _chinese_lexicon() -> dict[str, tuple[tuple[str, Any], ...]]:
    lex: dict[str, tuple[tuple[str, Any], ...]] = {}

    def add(phrases, *tokens: tuple[str, Any]) -> None:
        lex.update((phrase, tokens) for phrase in phrases)

    add(syn.ZH_FILLERS.split())
    add(syn.ZH_SEPARATORS, ("sep", None))
    add(syn.ZH_ALL, ("all", None))
    add(("一个", "一只", "一颗"), ("det", "a"))
    add(("只有一个", "单个"), ("count", 1))
    for n, digit in ((2, "两"), (2, "二"), (3, "三"), (4, "四")):
        add([digit + unit for unit in "个只颗"], ("count", n))
    for colour, word in vocab.ZH_COLOURS.items():
        add((word, *syn.ZH_EXTRA["colour"][colour]), ("colour", colour))
    for size, word in vocab.ZH_SIZES.items():
        add((word, *syn.ZH_EXTRA["size"][size]), ("size", size))
    for kind, table in (("tone", vocab.ZH_TONES), ("shape", vocab.ZH_SHAPES), ("motion", vocab.ZH_MOTIONS)):
        for value, words in table.items():
            add(words + syn.ZH_EXTRA[kind].get(value, ()), (kind, value))
    add(("物体", "形状", "图形", "东西"), ("shape", None))
    for d, words in syn.ZH_DIR_WORDS.items():
        add([toward + w for toward in vocab.ZH_TOWARD for w in words], ("dir", d))
    for d, words in syn.ZH_EXTRA["dir"].items():
        add(words, ("dir", d))
    add(vocab.ZH_GO + syn.ZH_EXTRA["go"], ("go", None))
    _zh_places(add)
    for rel, words in vocab.ZH_RELATIONS.items():
        add(words, ("rel_after", rel))
    add(
        [de + w for de in ("", "的") for w in ("后面穿过", "后面经过", "背后穿过", "后方穿过")],
        ("rel_after", "behind"),
    )
    add([then + w for then in ("", "再", "然后") for w in ("从另一边出来", "从另一侧出来")])
    for side, word in vocab.ZH_WALL_SIDES.items():
        hits = [h.format(side=word) for h in vocab.ZH_WALL_HITS]
        add(hits + [f"撞到{word}的墙", f"碰到{word}的墙"], ("wall", side))
        words = syn.ZH_WALL_SIDE_WORDS[side]
        add([h.format(side=w) for h in syn.ZH_EXTRA["wall"] for w in words], ("wall", side))
    for camera, moves in vocab.ZH_CAMERA_MOVES.items():
        if camera != "still":  # 保持静止 alone would be an object's
            add(moves, ("camera", camera))
        moves += syn.ZH_EXTRA["camera"].get(camera, ())  # 向左移 alone is an object's: only after 镜头
        add([f"镜头{adverb}{m}" for adverb in ("", "缓缓", "慢慢") for m in moves], ("camera", camera))
    for kind, targets in vocab.ZH_CUTS.items():
        add(
            [v + t + s for v in ("切换到", "切到", "切换为", "转到") for t in targets for s in ("", "镜头")],
            ("cut", kind),
        )
    add(("对准", "聚焦在", "聚焦于"), ("focus", None))
    for kind, words in vocab.ZH_KINDS.items():
        add(words + {"checker": ("格子",)}.get(kind, ()), ("bgkind", kind))
    add(("背景", "背景上", "底色"), ("bgword", None))
    return lex


def _zh_places(add) -> None:
    """Places, and those of "from A to B": 从左边 starts on the left, 到右边 goes right, 自下而上 both."""
    cores: dict[tuple, tuple[str, ...]] = {}
    for where, words in [*vocab.ZH_PLACES.items(), *syn.ZH_PARTIAL_PLACES.items()]:
        # 画面 + place is listed whole so that 画面中 (a filler) cannot swallow the 中 of 画面中间.
        add([frame + core for frame in ("", "画面", "画面的") for core in words], ("place", where))
        cores[where] = cores.get(where, ()) + words
    for where, words in syn.ZH_FROM_TO_PLACES.items():
        cores[where] = cores.get(where, ()) + words  # 左 and 上 alone say nothing: only after 从, 到
    for where, words in cores.items():
        places = [frame + core for frame in ("", "画面", "画面的") for core in words]
        add([f + w for f in syn.ZH_FROM for w in places], ("from", None), ("place", where))
        add([t + w for t in syn.ZH_TO for w in places], ("way", where))
    add(syn.ZH_FROM, ("from", None))
    side = {"左": ("left", None), "右": ("right", None), "上": (None, "top"), "下": (None, "bottom")}
    for a, b in (("左", "右"), ("右", "左"), ("上", "下"), ("下", "上")):  # 而 alone would end the clause
        add([f + a + "而" + b for f in syn.ZH_FROM], ("from", None), ("place", side[a]), ("way", side[b]))


EN_LEXICON = _english_lexicon()
ZH_LEXICON = _chinese_lexicon()
