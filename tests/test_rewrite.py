"""Prompt rewriting: a world model reads a prompt it fully understands as the plain caption it amounts to,
and anything that says more is left as written."""

import json
import shutil

import pytest

from tessera.eval.human_prompts import human_prompt
from tessera.world.captions import caption
from tessera.world.prompts import parse_prompt
from tessera.world.rewrite import rewrite_prompt
from tessera.world.scene import ONE_OBJECT_WORLD, sample_scene


def _claims(text: str) -> list[dict]:
    return sorted(parse_prompt(text).stated_values(), key=lambda d: sorted(d.items()))


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("一个粉色三角形正在往右移动", [{"colour": "pink", "shape": "triangle", "motion": "right"}]),
        ("只见桃红色的三角从左一路滑到右", [{"colour": "pink", "shape": "triangle", "motion": "right"}]),
        ("原地转动的是红色的五角星。", [{"colour": "red", "shape": "star", "motion": "spin"}]),
        (
            "A huge emerald triangle dwindles.",
            [{"colour": "green", "shape": "triangle", "motion": "shrink", "size": "large"}],
        ),
        (
            "There is a bright orange box that falls straight down.",
            [{"colour": "orange", "shape": "square", "motion": "fall"}],
        ),
        (
            "a small blue star goes from the top to the bottom",
            [{"colour": "blue", "shape": "star", "motion": "down", "size": "small"}],
        ),
    ],
)
def test_people_s_words_become_a_caption_that_says_the_same(prompt, expected):
    text = rewrite_prompt(prompt)
    assert text is not None and text != prompt
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in text), text  # the captions' English
    assert _claims(text) == sorted(expected, key=lambda d: sorted(d.items())), text


@pytest.mark.parametrize(
    "prompt",
    [
        "a red ball",  # no motion: the caption would have to invent one
        "a red ball spins on white stripes",  # a background's tones beyond what a plain caption says
        "a red ball moves left while the camera pans right",  # the camera
        "a red ball on the left moves left",  # a start place the motion does not imply
        "a red ball in the top left spins",
        "a red ball bounces off the left wall",  # walls
        "a red ball to the left of a blue box, both spin",  # a relation
        "a red ball glimmers and moves left",  # a word the parser does not know
        "a dog runs",
    ],
)
def test_prompts_that_say_more_than_a_plain_caption_are_left_as_written(prompt):
    assert rewrite_prompt(prompt) is None


def test_a_background_is_carried_over():
    text = rewrite_prompt("a large red circle moves to the right on a white background")
    parsed = parse_prompt(text)
    assert parsed.stated.background == {"kind", "tone"} and parsed.scene.background.tone == "white", text
    assert parsed.stated_values() == [
        {"colour": "red", "shape": "circle", "motion": "right", "size": "large"}
    ]


def test_every_eval_prompt_of_the_one_object_world_is_rewritten_to_its_scene():
    size = {"height": 64, "width": 64, "fps": 8, "num_frames": 17, "mix": ONE_OBJECT_WORLD}
    for seed in range(60):
        scene = sample_scene(seed, split="train", **size)
        o = scene.objects[0]
        for prompt in (
            caption(scene, lang="zh", seed=seed),
            human_prompt(scene, "en", seed),
            human_prompt(scene, "zh", seed),
        ):
            text = rewrite_prompt(prompt)
            assert text is not None, prompt
            said = parse_prompt(text).stated_values()[0]
            assert (said["colour"], said["shape"], said["motion"]) == (o.colour, o.shape, o.motion), prompt


def test_the_generator_reads_a_world_prompt_as_its_caption_only_where_the_model_was_trained_on_them(
    dit_run, tmp_path
):
    from tessera.pipeline import GenerationRequest, Generator

    export = dit_run[1]
    assert json.loads((export / "model.json").read_text())["rewrite"] == "world"
    gen = Generator(export)
    request = GenerationRequest("一个红色的球从右向左移动", num_frames=1, steps=1, height=32, width=32)
    assert gen.prompt_text(request) == rewrite_prompt(request.prompt)
    assert gen.generate(request).info["prompt_read_as"] == rewrite_prompt(request.prompt)
    off = GenerationRequest(request.prompt, rewrite=False)
    assert gen.prompt_text(off) == request.prompt
    assert (
        "prompt_read_as"
        not in gen.generate(
            GenerationRequest(request.prompt, num_frames=1, steps=1, height=32, width=32, rewrite=False)
        ).info
    )

    plain = tmp_path / "model"
    shutil.copytree(export, plain)
    spec = json.loads((plain / "model.json").read_text())
    del spec["rewrite"]
    (plain / "model.json").write_text(json.dumps(spec))
    assert Generator(plain).prompt_text(request) == request.prompt
