"""The parser reads prompts as people write them: a table of phrasings written apart from the caption
generator's phrase tables (tessera/world/vocabulary.py), in English and Chinese, each with the objects it
describes; and words it does not know are left out, listed, in score mode."""

import json

import numpy as np
import pytest

from tessera.cli import main
from tessera.data.video_io import write_video
from tessera.world.prompts import parse_prompt
from tessera.world.render import render

STILL2 = [("red", "circle", "still"), ("blue", "square", "still")]
PHRASINGS = [
    ("a scarlet ball glides to the right", [("red", "circle", "right")]),
    ("The crimson sphere plummets.", [("red", "circle", "fall")]),
    ("a blue square races to the left", [("blue", "square", "left")]),
    ("a lime green triangle drifts upward", [("green", "triangle", "up")]),
    ("a yellow ring keeps shrinking", [("yellow", "ring", "shrink")]),
    ("a violet star keeps getting bigger", [("purple", "star", "grow")]),
    ("an orange box spinning around", [("orange", "square", "spin")]),
    ("a pink circle moves from the right side to the left side", [("pink", "circle", "left")]),
    ("a cyan ball travels from the top to the bottom", [("cyan", "circle", "down")]),
    ("a green ball bouncing up and down", [("green", "circle", "bounce")]),
    ("a red ball falls and bounces", [("red", "circle", "bounce")]),
    ("a red ball drops to the floor and bounces", [("red", "circle", "bounce")]),
    ("a red circle and a blue square; neither one moves", STILL2),
    ("a red circle and a blue square, both of them stay still", STILL2),
    ("two balls both bounce", [("red", "circle", "bounce"), ("orange", "circle", "bounce")]),
    ("a teal donut that is not moving", [("cyan", "ring", "still")]),
    ("a purple triangle goes around in circles", [("purple", "triangle", "circle")]),
    ("a big yellow star heading down and to the right", [("yellow", "star", "down-right")]),
    ("a small red dot zooms off to the left", [("red", "circle", "left")]),
    ("a blue ball moving slowly towards the upper left", [("blue", "circle", "up-left")]),
    ("a blue ball moves diagonally up to the right", [("blue", "circle", "up-right")]),
    ("an orange star rotating", [("orange", "star", "spin")]),
    ("a pink square slides leftward", [("pink", "square", "left")]),
    ("a green ring rises", [("green", "ring", "up")]),
    ("a purple ball sinks to the bottom", [("purple", "circle", "down")]),
    ("a red ball moving right on a white background", [("red", "circle", "right")]),
    ("there is a yellow triangle that grows", [("yellow", "triangle", "grow")]),
    ("a cyan square stays in one place", [("cyan", "square", "still")]),
    ("一个红色的圆自下而上移动", [("red", "circle", "up")]),
    ("一个红色的圆自右向左移动", [("red", "circle", "left")]),
    ("一个红色的球在地板上弹跳", [("red", "circle", "bounce")]),
    ("红球从左边滚到右边", [("red", "circle", "right")]),
    ("蓝色方块往下掉", [("blue", "square", "fall")]),
    ("一颗黄色的星星在原地旋转", [("yellow", "star", "spin")]),
    ("绿色的圆环越变越小", [("green", "ring", "shrink")]),
    ("一个紫色三角形慢慢变大", [("purple", "triangle", "grow")]),
    ("粉色的球向右上方飞去", [("pink", "circle", "up-right")]),
    ("一个橙色的正方形一动不动", [("orange", "square", "still")]),
    ("青色的圆在转圈", [("cyan", "circle", "circle")]),
    ("一个红球和一个蓝色方块，两个都不动", STILL2),
    ("一个红色的圆从上往下落", [("red", "circle", "down")]),
]


@pytest.mark.parametrize(("text", "objects"), PHRASINGS, ids=[t for t, _ in PHRASINGS])
def test_people_s_phrasings_describe_their_objects(text, objects):
    parsed = parse_prompt(text, height=64, width=64, num_frames=17)
    assert [(o.colour, o.shape, o.motion) for o in parsed.scene.objects] == objects
    assert all("motion" in said for said in parsed.stated.objects)  # each motion is a claim to check


def test_the_from_side_is_not_the_direction():
    parsed = parse_prompt("a red ball moves from the right side to the left side")
    (ball,) = parsed.scene.objects
    assert ball.motion == "left" and ball.x > 0.5  # starts on the right, heads left


def test_both_and_neither_need_objects_named_before_them():
    with pytest.raises(ValueError, match="none is named before it"):
        parse_prompt("neither moves")


def test_unknown_words_are_errors_or_in_score_mode_left_out_and_listed():
    text = "a red ball glides merrily to the right, wobbling"
    with pytest.raises(ValueError, match="'merrily', 'wobbling'"):
        parse_prompt(text)
    parsed = parse_prompt(text, skip_unknown=True)
    assert parsed.skipped == ("merrily", "wobbling")
    assert [(o.colour, o.shape, o.motion) for o in parsed.scene.objects] == [("red", "circle", "right")]
    with pytest.raises(ValueError, match="no object"):  # nothing left to check
        parse_prompt("a wobbly thingamajig", skip_unknown=True)


def test_eval_score_warns_of_the_words_it_left_out(tmp_path, capsys):
    parsed = parse_prompt("a red ball moves to the right", height=64, width=64, num_frames=9)
    path = tmp_path / "clip.mp4"
    write_video(path, render(parsed.scene).video, fps=parsed.scene.fps)
    code = main(["eval", "score", str(path), "--prompt", "a red ball glides jauntily to the right", "--json"])
    out = capsys.readouterr()
    assert code == 0
    assert "'jauntily'" in out.err
    result = json.loads(out.out)
    assert result["skipped_words"] == ["jauntily"]
    assert result["total"] > 0.8 and np.isfinite(result["total"])
