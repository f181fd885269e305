"""The `tessera` command end to end: world sample/export/render/parse and eval score, with clear errors."""

import json

import numpy as np
import pytest
from PIL import Image

from tessera.cli import main
from tessera.data.manifest import read_manifest, resolve
from tessera.data.video_io import read_video
from tessera.world.render import render
from tessera.world.scene import Scene, is_held_out


def test_world_sample_writes_clips_captions_and_a_contact_sheet(tmp_path, capsys):
    assert main(["world", "sample", "--num", "4", "--out", str(tmp_path / "s")]) == 0
    records = read_manifest(tmp_path / "s")
    assert len(records) == 4
    for r in records:
        assert set(r.captions) == {"en", "zh"} and len(r.captions["en"]) == 3
        video = read_video(resolve(tmp_path / "s", r)).frames
        assert video.shape == (17, 128, 128, 3)
        # The manifest's spec renders the very clip that was written (up to H.264 loss).
        truth = render(Scene.from_dict(r.spec)).video
        assert np.abs(video.astype(int) - truth).mean() < 4
    sheet = Image.open(tmp_path / "s" / "contact_sheet.png")
    assert sheet.width > 6 * 96 and sheet.height > 4 * 96
    assert "contact sheet" in capsys.readouterr().out


def test_world_export_any_size_and_the_held_out_split(tmp_path):
    out = tmp_path / "e"
    assert (
        main(
            [
                "world",
                "export",
                "--num",
                "3",
                "--out",
                str(out),
                "--size",
                "160x90",
                "--split",
                "heldout",
                "--format",
                "gif",
                "--frames",
                "9",
            ]
        )
        == 0
    )
    records = read_manifest(out)
    assert all(r.split == "heldout" and (r.height, r.width, r.num_frames) == (90, 160, 9) for r in records)
    assert all(any(is_held_out(o) for o in Scene.from_dict(r.spec).objects) for r in records)
    assert all(r.path.endswith(".gif") for r in records)
    assert not (out / "contact_sheet.png").exists()


def test_render_then_score_from_a_prompt_and_from_a_spec(tmp_path, capsys):
    clip = tmp_path / "ball.mp4"
    prompt = "a large red ball bounces on the left, white background"
    assert main(["world", "render", "--prompt", prompt, "--out", str(clip)]) == 0
    assert main(["world", "parse", prompt]) == 0
    parsed = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert parsed["scene"]["objects"][0]["colour"] == "red"
    assert set(parsed["stated"]["objects"][0]) >= {"colour", "shape", "size", "motion", "x"}

    assert main(["eval", "score", str(clip), "--prompt", prompt, "--json"]) == 0
    right = json.loads(capsys.readouterr().out)
    assert main(["eval", "score", str(clip), "--prompt", "a blue star moves right", "--json"]) == 0
    wrong = json.loads(capsys.readouterr().out)
    assert right["total"] > 0.95 and wrong["total"] < 0.2

    spec = tmp_path / "scene.json"
    spec.write_text(json.dumps(parsed["scene"]), encoding="utf-8")
    assert main(["eval", "score", str(clip), "--spec", str(spec)]) == 0
    table = capsys.readouterr().out
    assert "path" in table and "total" in table


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval", "score", "missing.mp4", "--prompt", "a red ball"], "no such file"),
        (["world", "render", "--prompt", "an elephant dances", "--out", "x.mp4"], "'elephant'"),
        (["world", "render", "--spec", "nowhere.json", "--out", "x.mp4"], "no such spec file"),
        (["world", "sample", "--num", "0", "--out", "s"], "--num must be >= 1"),
    ],
)
def test_user_mistakes_are_clear_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_size_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as e:
        main(["world", "sample", "--out", "s", "--size", "big"])
    assert e.value.code == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_eval_compare_pairs_the_prompts_of_two_reports(tmp_path, capsys):
    from tessera.eval.adherence import compare

    def report(totals):
        samples = [{"group": g, "seed": i, "prompt": f"p{i}", "total": t} for (g, i), t in totals.items()]
        return {"summary": {}, "samples": samples}

    a = report({("seen", 0): 0.2, ("seen", 1): 0.4, ("zh", 0): 0.5, ("human", 3): 0.9})
    b = report({("seen", 0): 0.3, ("seen", 1): 0.8, ("zh", 0): 0.1, ("heldout", 7): 1.0})
    rows = compare(a, b)
    assert set(rows) == {"seen", "zh", "all"}  # only prompts both reports scored
    assert rows["seen"]["n"] == 2 and rows["seen"]["diff"] == pytest.approx(0.25)
    assert rows["seen"]["se"] == pytest.approx(0.15)  # std of (0.1, 0.4) / sqrt(2)
    assert (rows["all"]["higher"], rows["all"]["lower"]) == (2, 1)
    for name, r in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(r))
    assert main(["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "| seen | 2 | 0.300 | 0.550 | +0.250 (0.150) | 2 / 0 |" in capsys.readouterr().out
    with pytest.raises(ValueError, match="share no prompts"):
        compare(a, report({("seen", 9): 0.5}))
    assert main(["eval", "compare", str(tmp_path / "a"), str(tmp_path / "nope")]) == 2
