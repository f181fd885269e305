"""Captions (en + zh, three detail levels) and the prompt parser that reads them, and people, back."""

import re

import pytest

from tessera.world.captions import DETAILS, LANGS, caption, captions, passes_behind, relations, thirds
from tessera.world.prompts import OBJECT_ATTRIBUTES, parse_prompt
from tessera.world.render import wall_hits
from tessera.world.scene import SIZES, Scene, sample_scene

SCENES = [sample_scene(seed, split="any") for seed in range(200)]


def _holds(scene: Scene, i: int, rel: str, j: int) -> bool:
    a, b = scene.objects[i], scene.objects[j]
    return {
        "left_of": a.x < b.x,
        "right_of": a.x > b.x,
        "above": a.y < b.y,
        "below": a.y > b.y,
        "behind": a.depth < b.depth,
    }[rel]


def _check_round_trip(scene: Scene, text: str, detail: str) -> None:
    parsed = parse_prompt(
        text, height=scene.height, width=scene.width, fps=scene.fps, num_frames=scene.num_frames
    )
    got, stated = parsed.scene, parsed.stated
    assert sorted(o.colour for o in got.objects) == sorted(o.colour for o in scene.objects), text
    truth = {o.colour: o for o in scene.objects}
    for obj, said in zip(got.objects, parsed.stated_values(), strict=True):
        ref = truth[obj.colour]
        assert {"colour", "shape"} <= said.keys() and obj.shape == ref.shape, text
        expected = {"size": ref.size, "motion": ref.motion, **dict(zip("xy", thirds(ref), strict=True))}
        assert all(said[k] == expected[k] for k in said.keys() - {"colour", "shape"}), (text, said, ref)
        if detail == "detailed":
            assert said.keys() == set(OBJECT_ATTRIBUTES), text
    for name in stated.background:
        assert getattr(got.background, name) == getattr(scene.background, name), text
    if stated.camera:
        assert [s.camera for s in got.shots] == [s.camera for s in scene.shots], text
    for i, rel, j in stated.relations:  # true of the original, and kept in the parsed layout
        by_colour = [
            next(k for k, o in enumerate(scene.objects) if o.colour == got.objects[m].colour) for m in (i, j)
        ]
        assert _holds(scene, by_colour[0], rel, by_colour[1]) and _holds(got, i, rel, j), (text, rel)
    if detail == "detailed":
        assert stated.background >= {"kind", "tone"} and stated.camera and stated.count == len(scene.objects)
        assert stated.cut == (len(scene.shots) > 1), text
        assert [s.num_frames for s in got.shots] == [s.num_frames for s in scene.shots], text
    elif detail == "medium":  # says camera moves and cuts, not a still camera
        assert stated.cut == (len(scene.shots) > 1) and stated.count is None, text
        assert stated.camera == (
            scene.shots[0].camera != "still" or any(s.camera != "still" for s in scene.shots[1:])
        ), text
    else:  # short: says a moving camera, nothing else of the scene
        assert not stated.cut and stated.count is None, text
        assert stated.camera == (scene.shots[0].camera != "still"), text


def test_captions_round_trip_through_the_parser():
    for seed, scene in enumerate(SCENES):
        for texts in captions(scene, seed=seed).values():
            for detail, text in texts.items():
                _check_round_trip(scene, text, detail)


def test_captions_round_trip_on_a_wide_canvas():
    for seed in range(40):
        scene = sample_scene(seed, split="any", height=128, width=224)
        for lang in LANGS:
            _check_round_trip(scene, caption(scene, lang=lang, detail="detailed", seed=seed), "detailed")


def test_captions_are_deterministic_by_seed():
    scene = SCENES[3]
    assert captions(scene, seed=5) == captions(scene, seed=5)
    assert captions(scene, seed=5) == {
        lang: {d: caption(scene, lang=lang, detail=d, seed=5) for d in DETAILS} for lang in LANGS
    }


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("detail", DETAILS)
def test_captions_have_many_phrasings(lang, detail):
    for scene in SCENES[:10]:
        texts = {caption(scene, lang=lang, detail=detail, seed=s) for s in range(20)}
        assert len(texts) >= 5, texts


def test_detail_levels_add_words_and_claims():
    for seed, scene in enumerate(SCENES):
        for texts in captions(scene, seed=seed).values():
            short, medium, detailed = (texts[d] for d in DETAILS)
            assert len(short) < len(medium) < len(detailed)
            said = [parse_prompt(t).stated for t in (short, medium, detailed)]
            assert said[1].background <= said[2].background and not said[0].background
            for objs in zip(*(s.objects for s in said), strict=True):
                assert objs[0] - {"motion"} <= objs[1] <= objs[2]


def test_chinese_captions_are_chinese():
    for seed, scene in enumerate(SCENES[:50]):
        for text in captions(scene, seed=seed)["zh"].values():
            assert re.search(r"[\u4e00-\u9fff]", text) and not re.search(r"[A-Za-z]", text), text


def test_detailed_captions_tell_events_cuts_and_camera():
    behind = next(s for s in SCENES if passes_behind(s))
    mover, cover, _ = passes_behind(behind)[0]
    en, zh = (caption(behind, lang=lang, detail="detailed") for lang in LANGS)
    assert "behind" in en and "后面" in zh
    for text in (en, zh):
        parsed = parse_prompt(text)
        colours = [o.colour for o in parsed.scene.objects]
        pair = (colours.index(behind.objects[mover].colour), colours.index(behind.objects[cover].colour))
        assert (pair[0], "behind", pair[1]) in parsed.stated.relations
    cut = next(s for s in SCENES if len(s.shots) > 1)
    assert "cuts to" in caption(cut, detail="detailed") or "switches to" in caption(cut, detail="detailed")
    assert "切" in caption(cut, lang="zh", detail="detailed")
    panning = next(s for s in SCENES if s.shots[0].camera.startswith("pan"))
    assert "pans" in caption(panning, detail="detailed")
    apart = next(s for s in SCENES if relations(s))
    assert all(parse_prompt(caption(apart, lang=lang, detail="detailed")).stated.relations for lang in LANGS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "A big red ball bouncing on the left, white background",
            [{"size": "large", "colour": "red", "shape": "circle", "motion": "bounce", "x": "left"}],
        ),
        (
            "a blue star spins and a green square moves left",
            [
                {"colour": "blue", "shape": "star", "motion": "spin"},
                {"colour": "green", "shape": "square", "motion": "left"},
            ],
        ),
        (
            "On the left, a red ball bounces",
            [{"colour": "red", "shape": "circle", "motion": "bounce", "x": "left"}],
        ),
        ("a big, red ball", [{"size": "large", "colour": "red", "shape": "circle"}]),
        (
            "a tiny purple ring drifting up-right",
            [{"size": "small", "colour": "purple", "shape": "ring", "motion": "up-right"}],
        ),
        (
            "A small yellow star is moving to the right at the bottom of the screen",
            [{"size": "small", "colour": "yellow", "shape": "star", "motion": "right", "y": "bottom"}],
        ),
        ("two balls bounce", [{"shape": "circle", "motion": "bounce"}] * 2),
        (
            "Video of a cyan square sliding leftwards",
            [{"colour": "cyan", "shape": "square", "motion": "left"}],
        ),
        (
            "an orange disc that grows larger in the top right corner",
            [{"colour": "orange", "shape": "circle", "motion": "grow", "x": "right", "y": "top"}],
        ),
        (
            "三个物体：一个红球，一个蓝色方块和一个黄色星星",
            [
                {"colour": "red", "shape": "circle"},
                {"colour": "blue", "shape": "square"},
                {"colour": "yellow", "shape": "star"},
            ],
        ),
        (
            "一个大红球在左边弹跳，白色背景",
            [{"size": "large", "colour": "red", "shape": "circle", "motion": "bounce", "x": "left"}],
        ),
        (
            "蓝色的方块向右移动，红色的星星在旋转",
            [
                {"colour": "blue", "shape": "square", "motion": "right"},
                {"colour": "red", "shape": "star", "motion": "spin"},
            ],
        ),
        ("两个球在弹跳", [{"shape": "circle", "motion": "bounce"}] * 2),
        (
            "一个红色的球在左上角向右下方移动",
            [{"colour": "red", "shape": "circle", "motion": "down-right", "x": "left", "y": "top"}],
        ),
        (
            "一个小的绿色圆环在画面中间变小",
            [
                {
                    "size": "small",
                    "colour": "green",
                    "shape": "ring",
                    "motion": "shrink",
                    "x": "centre",
                    "y": "middle",
                }
            ],
        ),
    ],
)
def test_hand_written_prompts_parse(text, expected):
    assert parse_prompt(text).stated_values() == expected


@pytest.mark.parametrize(
    ("text", "background", "camera", "relations", "num_shots"),
    [
        ("a red ball above a blue box, the camera zooms in", {}, "zoom-in", ((0, "above", 1),), 1),
        ("红球在蓝方块左边，镜头向左平移", {}, "pan-left", ((0, "left_of", 1),), 1),
        ("a pink triangle passes behind a large blue square", {}, None, ((0, "behind", 1),), 1),
        ("一个粉色的三角形从蓝色的大方块后面穿过", {}, None, ((0, "behind", 1),), 1),
        (
            "a ball on a gradient from sky blue to navy, then the view cuts to a close-up of the ball",
            {"kind": "gradient", "tone": "sky", "tone2": "navy"},
            None,
            (),
            2,
        ),
        (
            "一个绿色三角形落下，背景是米色，地面是土色，然后镜头切换到特写",
            {"kind": "ground", "tone": "cream", "tone2": "soil"},
            None,
            (),
            2,
        ),
        (
            "a star on a checkerboard of cream and black with a static camera",
            {"kind": "checker", "tone": "cream", "tone2": "black"},
            "still",
            (),
            1,
        ),
        ("a red ball above a soil ground line", {"kind": "ground", "tone2": "soil"}, None, (), 1),
    ],
)
def test_hand_written_scene_claims_parse(text, background, camera, relations, num_shots):
    parsed = parse_prompt(text)
    scene, stated = parsed.scene, parsed.stated
    assert {k: getattr(scene.background, k) for k in stated.background} == background
    assert stated.camera == (camera is not None) and scene.shots[0].camera == (camera or "still")
    assert stated.relations == relations and all(_holds(scene, *r) for r in relations)
    assert len(scene.shots) == num_shots and stated.cut == (num_shots > 1)
    if num_shots > 1:
        assert scene.shots[1].zoom > 1 and sum(s.num_frames for s in scene.shots) == 17
    if relations and relations[0][1] == "behind":  # the mover crosses sideways at the cover's height
        mover, cover = scene.objects
        assert mover.motion in ("left", "right") and mover.y == cover.y and cover.motion == "still"


def test_stated_holds_only_what_the_text_says():
    parsed = parse_prompt("a red ball")
    assert parsed.stated.objects == (frozenset({"colour", "shape"}),)
    assert not (
        parsed.stated.background or parsed.stated.camera or parsed.stated.cut or parsed.stated.relations
    )
    assert parsed.stated.count is None
    scene = parsed.scene  # everything unsaid has its default
    assert (scene.height, scene.width, scene.fps, scene.num_frames, len(scene.shots)) == (128, 128, 8, 17, 1)
    assert (scene.objects[0].size, scene.objects[0].motion, scene.shots[0].camera) == (
        "medium",
        "still",
        "still",
    )
    assert (scene.background.kind, scene.background.tone) == ("solid", "white")
    assert parse_prompt("a big ball on the left").stated.objects == (frozenset({"size", "shape", "x"}),)
    assert parse_prompt("a ball on a white background").stated.background == {"kind", "tone"}
    assert parse_prompt("a ball above a ground line").stated.background == {"kind"}
    assert parse_prompt("three shapes").stated.count == 3 and parse_prompt("a ball").stated.count is None


def test_parse_takes_the_canvas_and_timing():
    scene = parse_prompt(
        "a red ball, then the shot cuts to a close-up", height=64, width=96, fps=12, num_frames=9
    ).scene
    assert (scene.height, scene.width, scene.fps) == (64, 96, 12)
    assert [s.num_frames for s in scene.shots] == [4, 5]


@pytest.mark.parametrize(
    "text",
    [
        "a red ball, a blue box, a green star and a pink ring",
        "four large balls",
        "a red ball in the centre and a blue box in the centre",
        "a big ball on the left and a big box on the left",
    ],
)
def test_default_places_keep_objects_apart(text):
    parsed = parse_prompt(text)
    objs = parsed.scene.objects
    for i, a in enumerate(objs):
        for b in objs[i + 1 :]:
            assert max(abs(a.x - b.x), abs(a.y - b.y)) >= SIZES[a.size] + SIZES[b.size] - 1e-6, (a, b)
    for obj, said in zip(objs, parsed.stated_values(), strict=True):  # stated thirds are kept while spreading
        assert all(said[k] == dict(zip("xy", thirds(obj), strict=True))[k] for k in said.keys() & {"x", "y"})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("an elephant and a purple-ish ball", ["'elephant'", "'purple-ish'"]),
        ("the weather is nice", ["'weather'", "'nice'"]),
        ("一个大象在跳舞", ["'象'", "'跳舞'"]),
    ],
)
def test_unknown_words_are_named(text, words):
    with pytest.raises(ValueError, match="could not understand") as error:
        parse_prompt(text)
    assert all(w in str(error.value) for w in words) and repr(text) in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no object"),
        ("on a white background, the camera pans left", "no object"),
        ("a black ball", "background tone, not an object colour"),
        ("a ball on a blue background", "object colour, not a background tone"),
        ("a red ball moves", "needs a direction"),
        ("a red ball bounces and spins", "conflicting motion"),
        ("three red balls", "distinct colours"),
        ("a ball, a box, a star, a ring and a disc", "1 to 4 objects"),
        ("a ball on a white and black background", "need a kind"),
    ],
)
def test_contradictions_and_missing_objects_raise(text, message):
    with pytest.raises(ValueError, match=message):
        parse_prompt(text)


def test_caption_rejects_unknown_language_and_detail():
    with pytest.raises(ValueError, match="language 'fr'"):
        caption(SCENES[0], lang="fr")
    with pytest.raises(ValueError, match="detail 'long'"):
        caption(SCENES[0], detail="long")


def test_wall_bounces_are_said_and_read_back_in_both_languages():
    seen = 0
    for seed in range(400):
        scene = sample_scene(seed, split="any", p_wall=0.5)
        hits = {o.colour: [side for _, side in wall_hits(scene, o)] for o in scene.objects}
        if not any(hits.values()):
            continue
        seen += 1
        for lang in LANGS:
            for detail in DETAILS:
                text = caption(scene, lang=lang, detail=detail, seed=seed)
                parsed = parse_prompt(
                    text, height=scene.height, width=scene.width, fps=scene.fps, num_frames=scene.num_frames
                )
                said = {parsed.scene.objects[i].colour: [] for i in range(len(parsed.scene.objects))}
                for i, side in parsed.stated.walls:
                    said[parsed.scene.objects[i].colour].append(side)
                assert {c: sorted(set(s)) for c, s in said.items()} == {
                    c: sorted(set(s)) for c, s in hits.items()
                }, text
        if seen >= 25:
            break
    assert seen >= 25


def test_a_wall_bounce_sets_the_motion_towards_the_wall():
    parsed = parse_prompt("a red ball bounces off the left wall")
    assert parsed.scene.objects[0].motion == "left" and parsed.stated.walls == ((0, "left"),)
    with pytest.raises(ValueError, match="cannot bounce off the top wall"):
        parse_prompt("a red ball moves left and bounces off the top wall")
