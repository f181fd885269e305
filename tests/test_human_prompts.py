"""Prompts in people's words (tessera.eval.human_prompts) and the parser reading them: synonyms, other word
orders, "from A to B" in English and Chinese, and the scorer on true renders against them."""

import re

import numpy as np
import pytest

from tessera.eval.human_prompts import LANGS, human_prompt
from tessera.eval.scorer import score
from tessera.world.captions import captions, thirds
from tessera.world.prompts import parse_prompt
from tessera.world.render import render, wall_hits
from tessera.world.scene import Scene, sample_scene

SCENES = [sample_scene(seed, split="any") for seed in range(300)]


def _parse(scene: Scene, text: str):
    size = {"height": scene.height, "width": scene.width, "fps": scene.fps, "num_frames": scene.num_frames}
    return parse_prompt(text, **size)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a scarlet ball rolls to the right", [{"colour": "red", "shape": "circle", "motion": "right"}]),
        ("A crimson sphere glides left", [{"colour": "red", "shape": "circle", "motion": "left"}]),
        (
            "to the right moves a big red circle",
            [{"size": "large", "colour": "red", "shape": "circle", "motion": "right"}],
        ),
        (
            "Leftward drifts a little violet star",
            [{"size": "small", "colour": "purple", "shape": "star", "motion": "left"}],
        ),
        (
            "a cobalt cube drifts from the top left corner to the bottom right corner",
            [{"colour": "blue", "shape": "square", "motion": "down-right", "x": "left", "y": "top"}],
        ),
        (
            "a tiny turquoise wedge heads toward the upper left corner",
            [{"size": "small", "colour": "cyan", "shape": "triangle", "motion": "up-left"}],
        ),
        ("an emerald disc plummets", [{"colour": "green", "shape": "circle", "motion": "fall"}]),
        ("a violet star keeps shrinking", [{"colour": "purple", "shape": "star", "motion": "shrink"}]),
        ("a hot pink hoop stays put", [{"colour": "pink", "shape": "ring", "motion": "still"}]),
        (
            "there is a golden star shape that whirls",
            [{"colour": "yellow", "shape": "star", "motion": "spin"}],
        ),
        (
            "a huge aqua orb goes round and round",
            [{"size": "large", "colour": "cyan", "shape": "circle", "motion": "circle"}],
        ),
        (
            "a lilac triangle gets bigger and bigger",
            [{"colour": "purple", "shape": "triangle", "motion": "grow"}],
        ),
        ("upward floats a tangerine dot", [{"colour": "orange", "shape": "circle", "motion": "up"}]),
        ("a teal block rises", [{"colour": "cyan", "shape": "square", "motion": "up"}]),
        ("a plum tile sinks slowly", [{"colour": "purple", "shape": "square", "motion": "down"}]),
        (
            "A massive crimson box hops up and down",
            [{"size": "large", "colour": "red", "shape": "square", "motion": "bounce"}],
        ),
        ("a ball in crimson drifts leftwards", [{"colour": "red", "shape": "circle", "motion": "left"}]),
        (
            "a smallish yellow five-pointed star races from left to right",
            [{"size": "small", "colour": "yellow", "shape": "star", "motion": "right", "x": "left"}],
        ),
        (
            "a green doughnut travels from the bottom edge to the top edge",
            [{"colour": "green", "shape": "ring", "motion": "up", "y": "bottom"}],
        ),
        (
            "a pink cube doesn't budge, while an orange triangle tumbles down",
            [
                {"colour": "pink", "shape": "square", "motion": "still"},
                {"colour": "orange", "shape": "triangle", "motion": "fall"},
            ],
        ),
        (
            "an average-sized blue ball glides right until it hits the right edge and bounces back",
            [{"size": "medium", "colour": "blue", "shape": "circle", "motion": "right"}],
        ),
        (
            "一个红球自左向右移动",
            [{"colour": "red", "shape": "circle", "motion": "right", "x": "left"}],
        ),
        ("蓝色方块自下而上移动", [{"colour": "blue", "shape": "square", "motion": "up", "y": "bottom"}]),
        ("红色的星星往上飘", [{"colour": "red", "shape": "star", "motion": "up"}]),
        ("绿色的圆环一动不动", [{"colour": "green", "shape": "ring", "motion": "still"}]),
        ("粉色的三角形越来越小", [{"colour": "pink", "shape": "triangle", "motion": "shrink"}]),
        ("一个金黄色的皮球越来越大", [{"colour": "yellow", "shape": "circle", "motion": "grow"}]),
        (
            "从左上角往右下角移动的是一个宝蓝色方块",
            [{"colour": "blue", "shape": "square", "motion": "down-right", "x": "left", "y": "top"}],
        ),
        ("只见一颗鲜红色的五角星原地打转", [{"colour": "red", "shape": "star", "motion": "spin"}]),
        (
            "一个巨大的翠绿色圆圈兜圈子",
            [{"size": "large", "colour": "green", "shape": "ring", "motion": "circle"}],
        ),
        (
            "一个迷你桃红色方块往下掉",
            [{"size": "small", "colour": "pink", "shape": "square", "motion": "fall"}],
        ),
        ("有个蓝绿色的圆点在蹦蹦跳跳", [{"colour": "cyan", "shape": "circle", "motion": "bounce"}]),
        (
            "画面里有一个紫罗兰色的三角块，它由右往左滑",
            [{"colour": "purple", "shape": "triangle", "motion": "left", "x": "right"}],
        ),
        (
            "橘色的圆盘纹丝不动，同时一个玫红色的环缓缓上升",
            [
                {"colour": "orange", "shape": "circle", "motion": "still"},
                {"colour": "pink", "shape": "ring", "motion": "up"},
            ],
        ),
        (
            "向左边滚动的是一个不大不小的红球",
            [{"size": "medium", "colour": "red", "shape": "circle", "motion": "left"}],
        ),
        (
            "一个宝蓝色的正方形从上到下移动",
            [{"colour": "blue", "shape": "square", "motion": "down", "y": "top"}],
        ),
        ("柠檬黄色的正方块一路向左滑行", [{"colour": "yellow", "shape": "square", "motion": "left"}]),
    ],
)
def test_hand_written_human_phrasings_parse(text, expected):
    assert parse_prompt(text).stated_values() == expected


@pytest.mark.parametrize(
    ("text", "motion", "start"),
    [
        ("a red ball rolls from the left side to the right side", "right", {"x": "left"}),
        ("a red ball rolls from the right side to the left side", "left", {"x": "right"}),
        ("a blue box slides from left to right", "right", {"x": "left"}),
        ("a green star drifts from the bottom to the top", "up", {"y": "bottom"}),
        (
            "a pink ring moves from the top right corner to the bottom left corner",
            "down-left",
            {"x": "right", "y": "top"},
        ),
        ("a yellow dot travels from the left edge towards the top right", "up-right", {"x": "left"}),
        ("from the left side to the right side rolls a red ball", "right", {"x": "left"}),
        ("a cyan box moves from the right", "left", {"x": "right"}),  # no goal: away from where it starts
        ("一个红球从左边移到右边", "right", {"x": "left"}),
        ("一个红球从右边移到左边", "left", {"x": "right"}),
        ("红球自右向左滚动", "left", {"x": "right"}),
        ("蓝色方块由下往上移动", "up", {"y": "bottom"}),
        ("绿色星星自上而下移动", "down", {"y": "top"}),
        ("粉色圆环从右上角移动到左下角", "down-left", {"x": "right", "y": "top"}),
        ("黄色的圆点从左下方朝右上方飘", "up-right", {"x": "left", "y": "bottom"}),
        ("青色方块从画面左侧一路滑到右侧", "right", {"x": "left"}),
    ],
)
def test_from_a_to_b_heads_for_b_and_starts_at_a(text, motion, start):
    (said,) = parse_prompt(text).stated_values()
    assert said["motion"] == motion and {k: said[k] for k in said.keys() & {"x", "y"}} == start


def test_from_words_that_name_no_place_say_nothing():
    parsed = parse_prompt("a ball on a gradient from sky blue to navy")
    assert (parsed.scene.background.tone, parsed.scene.background.tone2) == ("sky", "navy")
    assert parsed.stated_values() == [{"shape": "circle"}]
    assert parse_prompt("一个粉色的三角形从蓝色的大方块后面穿过").stated_values()[0] == {
        "colour": "pink",
        "shape": "triangle",
    }
    for text in ("a red ball moves from the left to the left", "红球从左边移到左边"):
        with pytest.raises(ValueError, match="needs a direction"):
            parse_prompt(text)


def test_every_human_prompt_parses_back_to_its_scene():
    for seed, scene in enumerate(SCENES):
        for lang in LANGS:
            text = human_prompt(scene, lang, seed)
            parsed = _parse(scene, text)
            truth = {o.colour: o for o in scene.objects}
            assert sorted(o.colour for o in parsed.scene.objects) == sorted(truth), text
            for said in parsed.stated_values():
                ref = truth[said["colour"]]
                assert (
                    {"colour", "shape", "motion"}
                    <= said.keys()
                    <= {"colour", "shape", "motion", "size", "x", "y"}
                )
                expected = {"shape": ref.shape, "motion": ref.motion, "size": ref.size}
                expected |= dict(zip("xy", thirds(ref), strict=True))
                assert all(said[k] == expected[k] for k in said.keys() - {"colour"}), (text, said, ref)
            walls = {(parsed.scene.objects[i].colour, side) for i, side in parsed.stated.walls}
            assert walls == {(o.colour, side) for o in scene.objects for _, side in wall_hits(scene, o)}, text
            assert parsed.scene.shots[0].camera == scene.shots[0].camera, text
            stated = parsed.stated
            assert not (stated.background or stated.cut or stated.relations) and stated.count is None, text


def test_the_scorer_passes_true_renders_against_their_human_prompts():
    totals = []
    for seed, scene in enumerate(SCENES[:50]):
        parsed = _parse(scene, human_prompt(scene, LANGS[seed % 2], seed))
        totals.append(score(render(scene).video, parsed.scene, stated=parsed.stated).total)
    assert np.mean(totals) >= 0.9, totals


def test_human_prompts_use_other_words_than_captions():
    written = {lang: set() for lang in LANGS}
    for seed, scene in enumerate(SCENES):
        for lang, texts in captions(scene, seed=seed).items():
            written[lang] |= _pieces(" ".join(texts.values()), lang)
    for lang in LANGS:
        human = set().union(*(_pieces(human_prompt(s, lang, seed), lang) for seed, s in enumerate(SCENES)))
        assert len(human - written[lang]) >= 40, sorted(human - written[lang])


def _pieces(text: str, lang: str) -> set[str]:
    """English words; Chinese character pairs (Chinese has no spaces to cut words at)."""
    if lang == "en":
        return set(re.findall(r"[a-z]+", text.lower()))
    return {
        text[i : i + 2] for i in range(len(text) - 1) if re.fullmatch(r"[\u4e00-\u9fff]{2}", text[i : i + 2])
    }


def test_human_prompts_are_deterministic_by_seed_and_vary_with_it():
    scene = next(s for s in SCENES if len(s.objects) == 2)
    for lang in LANGS:
        assert human_prompt(scene, lang, 3) == human_prompt(scene, lang, 3)
        assert len({human_prompt(scene, lang, seed) for seed in range(20)}) >= 15
    with pytest.raises(ValueError, match="language 'fr'.*allowed: en, zh"):
        human_prompt(scene, "fr")


def test_sizes_go_unsaid_when_a_cut_would_change_them():
    cut = [(seed, s) for seed, s in enumerate(SCENES) if len(s.shots) > 1]
    assert cut and all(
        "size" not in said
        for seed, s in cut
        for lang in LANGS
        for said in _parse(s, human_prompt(s, lang, seed)).stated_values()
    )


def test_eval_run_adds_the_human_group_on_the_seen_scenes():
    from tessera.eval.adherence import EVAL_SEED, GROUPS, Sample, eval_prompts, summarize

    size = {"height": 64, "width": 64, "fps": 8, "num_frames": 17}
    prompts = eval_prompts(4, **size)
    assert [p[0] for p in prompts] == list(GROUPS) * 4 and GROUPS[-1] == "human"
    for i, (_, seed, text, truth) in enumerate(p for p in prompts if p[0] == "human"):
        seen = sample_scene(seed, split="train", **size)
        assert seed == EVAL_SEED + i and text == human_prompt(seen, ("en", "zh")[i % 2], seed)
        assert truth == seen and bool(re.search(r"[\u4e00-\u9fff]", text)) == (i % 2 == 1)
    rows = (("seen", 0.6, True), ("human", 0.45, False), ("zh", 0.5, True))
    summary = summarize([Sample(g, 0, "", total, {}, 1.0, agrees) for g, total, agrees in rows])
    assert summary["adherence_human"] == 0.45 and summary["human_minus_seen"] == pytest.approx(-0.15)
    assert summary["parse_agreement_seen"] == 1.0 and summary["parse_agreement_human"] == 0.0


def test_eval_checks_the_parsers_reading_against_the_scene_written_from():
    from tessera.eval.adherence import eval_prompts, parse_agrees

    size = {"height": 64, "width": 64, "fps": 8, "num_frames": 17}
    for group, _, text, truth in eval_prompts(12, **size):
        assert parse_agrees(parse_prompt(text, **size), truth), (group, text)
    scene = next(s for s in SCENES if len(s.objects) == 1)
    o = scene.objects[0]
    other = next(c for c in ("red", "blue") if c != o.colour)
    wrong = parse_prompt(f"a {other} {o.shape} spins", height=scene.height, width=scene.width)
    assert not parse_agrees(wrong, scene)


def test_the_writer_keeps_its_own_words():
    import ast
    import inspect

    import tessera.eval.human_prompts as writer

    tree = ast.parse(inspect.getsource(writer))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    assert imported == {"__future__", "random", "tessera.world.render", "tessera.world.scene"}
