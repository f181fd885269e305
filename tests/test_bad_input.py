"""Mistakes a new user makes and faults they meet: each is refused early with a message naming the bad value
(CLI exit code 2, `tessera: error: ...`), and no failure replaces an existing output with a broken one."""

import errno
import json
import math
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

import tessera.pipeline
from tessera.cli import _write_output, main
from tessera.data.video_io import VideoError, read_video, write_video
from tessera.eval.claims import Claim
from tessera.eval.scorer import score
from tessera.modes import MAX_SECONDS, MAX_SHOTS, read_storyboard
from tessera.pipeline import Generator
from tessera.task import VideoTask, rehearse
from tessera.weights import SHIPPED_MODEL
from tessera.world.render import render
from tessera.world.scene import MAX_VIDEO_BYTES, Scene, sample_scene


@pytest.fixture(scope="module")
def gen():
    return Generator()


def _error(capsys) -> str:
    return capsys.readouterr().err


# ------------------------------------------------------------------------------------------- outputs


def test_a_failed_image_write_keeps_the_old_file(tmp_path, capsys, monkeypatch):
    old = tmp_path / "old.png"
    Image.new("RGB", (8, 8), "red").save(old)
    before = old.read_bytes()

    def full_disk(self, fp, *args, **kwargs):  # writes a little, then the disk is full
        with open(fp, "wb") as f:
            f.write(b"\x89PNG")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    argv = ["generate", "a red circle", "--steps", "2", "--frames", "1", "--out", str(old)]
    assert main(argv) == 2
    err = _error(capsys)
    assert str(old) in err and "No space left on device" in err
    assert old.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.png"]  # no temporary file left behind


def test_an_image_is_written_beside_the_target_and_renamed_into_place(tmp_path, monkeypatch):
    old = tmp_path / "old.png"
    Image.new("RGB", (8, 8), "red").save(old)
    before = old.read_bytes()
    written = []

    def full_disk(self, fp, *args, **kwargs):
        written.append(fp)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _write_output(old, np.zeros((1, 8, 8, 3), np.uint8), 8.0)
    assert written and written[0] != old
    assert old.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["old.png"]


@pytest.mark.parametrize(
    ("out", "words"),
    [("x.avi", "unknown output suffix '.avi'"), ("still.bmp", "unknown output suffix '.bmp'")],
)
def test_an_unwritable_output_is_refused_before_any_work(tmp_path, capsys, monkeypatch, out, words):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(tessera.pipeline.Generator, "__init__", no_model)
    assert main(["generate", "a red circle", "--frames", "1", "--out", str(tmp_path / out)]) == 2
    assert words in _error(capsys)


def test_a_read_only_folder_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import os

    monkeypatch.setattr(tessera.pipeline.Generator, "__init__", lambda *a, **k: pytest.fail("model loaded"))
    monkeypatch.setattr(os, "access", lambda path, mode: os.fspath(path) != os.fspath(tmp_path))
    assert main(["generate", "a red circle", "--out", str(tmp_path / "x.mp4")]) == 2
    assert f"cannot write into {tmp_path} (permission denied)" in _error(capsys)


def test_an_existing_folder_of_other_files_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.setattr(tessera.pipeline.Generator, "__init__", lambda *a, **k: pytest.fail("model loaded"))
    assert main(["generate", "a red circle", "--out", str(tmp_path)]) == 2
    assert "other than frames (notes.txt" in _error(capsys)
    assert (tmp_path / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------------------------------- bounds


@pytest.mark.parametrize("seconds", [math.inf, math.nan, 0.0, -1.0, 1e9])
def test_duration_is_bounded(seconds):
    with pytest.raises(ValueError, match=f"--duration must be a number of seconds in \\(0, {MAX_SECONDS}\\]"):
        VideoTask(prompt="a red circle", duration=seconds)


def test_a_storyboard_of_too_many_shots_is_refused(tmp_path):
    path = tmp_path / "shots.json"
    path.write_text(json.dumps([{"prompt": "a red circle", "frames": 1}] * (MAX_SHOTS + 1)))
    with pytest.raises(ValueError, match=f"{MAX_SHOTS + 1} shots; the most is {MAX_SHOTS}"):
        read_storyboard(path, fps=8)


def test_a_storyboard_longer_than_the_limit_is_refused_before_sampling(gen, tmp_path):
    path = tmp_path / "shots.json"
    path.write_text(json.dumps([{"prompt": "a red circle", "seconds": MAX_SECONDS}] * 2))
    with pytest.raises(ValueError, match=f"the most is {MAX_SECONDS} s"):
        rehearse(gen, VideoTask(storyboard=path))


# ------------------------------------------------------------------------------------------- storyboards


@pytest.mark.parametrize(
    ("shot", "words"),
    [
        ({"prompt": "a blue square", "seconds": "two"}, 'shot 1: "seconds" must be a number'),
        ({"prompt": "a blue square", "seconds": math.nan}, 'shot 1: "seconds" must be a number'),
        (
            {"prompt": "a blue square", "frames": 1.5},
            'shot 1: "frames" must be a whole number, at least 1 frame, got 1.5',
        ),
        ({"prompt": "a blue square", "frames": True}, 'shot 1: "frames" must be a whole number'),
        ({"prompt": 7, "frames": 9}, 'shot 1: "prompt" must be a non-empty prompt (text), got 7'),
    ],
)
def test_a_bad_storyboard_field_names_the_shot_and_field(tmp_path, shot, words):
    path = tmp_path / "shots.json"
    path.write_text(json.dumps([{"prompt": "a red circle", "seconds": 1}, shot]))
    with pytest.raises(ValueError, match="shot") as caught:
        read_storyboard(path, fps=8)
    assert words in str(caught.value) and str(path) in str(caught.value)


def test_a_latin1_storyboard_says_it_is_not_utf8(tmp_path):
    path = tmp_path / "shots.json"
    path.write_bytes('[{"prompt": "un cercle rouge à gauche", "seconds": 1}]'.encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8 text .*save it as UTF-8"):
        read_storyboard(path, fps=8)


# ------------------------------------------------------------------------------------------- devices, sizes


@pytest.mark.parametrize("device", ["tpu9", "cuda:banana"])
def test_an_unknown_device_is_a_clear_error(device):
    with pytest.raises(ValueError, match=f"device {device!r} is not a torch device; use cpu, cuda"):
        Generator(device=device)


def test_a_missing_device_is_a_clear_error():
    if tessera.pipeline.torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="device 'cuda' is not available on this machine; available: cpu"):
        Generator(device="cuda")


@pytest.mark.parametrize("aspect", ["1e300:1e-300", "1e-300:1e300", "100:1"])
def test_an_extreme_aspect_is_refused(gen, aspect):
    with pytest.raises(ValueError, match="is too extreme: W/H must be in 1/16..16"):
        gen.size_for_aspect(aspect)


def test_an_image_over_pillows_pixel_limit_says_the_limit(tmp_path, monkeypatch):
    Image.new("RGB", (64, 64)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(VideoError, match="too large an image .*the most is 200 pixels"):
        read_video(tmp_path / "big.png")


# ------------------------------------------------------------------------------------------- model folders


@pytest.fixture
def model_copy(tmp_path):
    return shutil.copytree(SHIPPED_MODEL, tmp_path / "model")


@pytest.mark.parametrize("keep", [0, 5, 1000])
def test_a_truncated_weights_file_is_named(model_copy, keep):
    path = model_copy / "dit.safetensors"
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(
        ValueError, match="dit.safetensors: not a readable safetensors file, truncated or corrupt"
    ):
        Generator(model_copy)


def test_weights_that_do_not_fit_model_json_are_named(model_copy):
    spec = json.loads((model_copy / "model.json").read_text())
    spec["dit"]["ffn_dim"] = 512
    (model_copy / "model.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="dit.safetensors does not fit DiT's config: shapes differ"):
        Generator(model_copy)


def test_a_bad_model_json_is_named(model_copy):
    spec = json.loads((model_copy / "model.json").read_text())
    spec["dit"]["patch_size"] = "abc"
    (model_copy / "model.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="model.json: 'dit' is not a valid DiTConfig"):
        Generator(model_copy)
    (model_copy / "model.json").write_text('{"format": "tessera-model", ')
    with pytest.raises(ValueError, match="model.json: not valid JSON"):
        Generator(model_copy)


# ------------------------------------------------------------------------------------------- world, eval


def _spec(tmp_path, **changes) -> str:
    d = sample_scene(0).to_dict() | changes
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(d))
    return str(path)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"colour": "red"}, "unknown scene spec key(s) ['colour']; allowed: height, width"),
        ({"height": "128"}, "scene spec 'height' must be a whole number, got '128'"),
        ({"height": 100000, "width": 100000}, "too large: each side must be <= 4096"),
        ({"shots": [{"num_frames": 10**6}]}, f"the most a scene renders is {MAX_VIDEO_BYTES:,}"),
    ],
)
def test_world_render_refuses_a_bad_spec_before_rendering(tmp_path, capsys, changes, words):
    assert (
        main(["world", "render", "--spec", _spec(tmp_path, **changes), "--out", str(tmp_path / "x.mp4")]) == 2
    )
    assert words in _error(capsys)
    assert not (tmp_path / "x.mp4").exists()


def test_world_render_refuses_fps_zero(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["world", "render", "--prompt", "a red circle", "--fps", "0", "--out", str(tmp_path / "x.mp4")])
    assert caught.value.code == 2
    assert "--fps: 0 must be >= 1" in _error(capsys)


def test_eval_score_refuses_a_video_of_another_size(tmp_path, capsys):
    scene = sample_scene(0, height=64, width=96)
    write_video(tmp_path / "v.mp4", render(scene).video, scene.fps)
    spec = _spec(tmp_path)  # a 128x128 scene
    assert main(["eval", "score", str(tmp_path / "v.mp4"), "--spec", spec]) == 2
    assert "v.mp4 is 96x64, but the spec's canvas is 128x128" in _error(capsys)


def test_a_score_with_numpy_numbers_writes_as_json():
    claim = Claim("colour", "red circle", np.float32(0.9))
    assert type(claim.passed) is bool and claim.passed
    scene = sample_scene(0)
    result = score(render(scene).video, scene)
    data = json.loads(json.dumps(result.to_dict()))
    numpy_numbers = replace(
        result, total=np.float32(0.5), criteria={k: np.float32(v) for k, v in result.criteria.items()}
    )
    assert json.loads(json.dumps(numpy_numbers.to_dict()))["total"] == 0.5
    assert all(type(c["passed"]) is bool and type(c["score"]) is float for c in data["claims"])


def test_scene_round_trip_still_works():
    scene = sample_scene(3)
    assert Scene.from_json(scene.to_json()) == scene


# ----------------------------------------------------------------------------- files that name files


def test_a_shard_outside_its_folder_is_refused(tmp_path):
    from safetensors.torch import save_file

    from tessera.convert.files import load_safetensors

    folder = tmp_path / "transformer"
    folder.mkdir()
    save_file({"w": torch.zeros(2)}, str(tmp_path / "outside.safetensors"))
    index = folder / "diffusion_pytorch_model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"w": "../outside.safetensors"}}))
    with pytest.raises(ValueError, match="shard '../outside.safetensors' is not a file name inside"):
        load_safetensors(folder)
    index.write_text("{")
    with pytest.raises(ValueError, match="index.json: not a safetensors index"):
        load_safetensors(folder)


def test_a_damaged_state_json_is_named(tmp_path):
    from tessera.train.checkpoint import load_checkpoint

    (tmp_path / "state.json").write_text('{"step": 3,')
    with pytest.raises(ValueError, match="state.json: not valid JSON .*the checkpoint is damaged"):
        load_checkpoint(tmp_path, None, None, None)


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("optim.lr=-1", "optim.lr must be a positive number, got -1"),
        ("optim.lr=nan", "optim.lr must be a positive number, got nan"),
        ("optim.decay_to=2", "optim.decay_to must be a fraction of lr in [0, 1], got 2"),
    ],
)
def test_a_bad_optimizer_setting_is_refused(override, words):
    from tessera.presets import load_config

    with pytest.raises(ValueError) as caught:
        load_config("dit-tiny", [override])
    assert words in str(caught.value)


def test_an_mp4_cut_in_its_header_says_truncated(tmp_path):
    write_video(tmp_path / "v.mp4", np.zeros((9, 32, 32, 3), np.uint8), 8)
    data = (tmp_path / "v.mp4").read_bytes()
    for size in range(16, 1200, 7):  # every cut inside the header and index
        (tmp_path / "cut.mp4").write_bytes(data[:size])
        with pytest.raises(VideoError, match="truncated or corrupt"):
            read_video(tmp_path / "cut.mp4")


def test_a_prompt_of_raw_bytes_says_it_is_not_utf8(capsys, tmp_path):
    raw = b"a red \xff\xfe circle".decode("utf-8", "surrogateescape")  # what argv holds for such bytes
    assert main(["generate", raw, "--out", str(tmp_path / "x.mp4")]) == 2
    err = _error(capsys)
    assert "the prompt is not UTF-8 text (undecodable bytes at characters 6..7" in err
    assert "a red \\udcff\\udcfe circle" in err


def test_world_render_into_a_read_only_folder_names_the_path(tmp_path, capsys, monkeypatch):
    import tessera.data.video_io as video_io

    def read_only(tmp, *args):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp))

    monkeypatch.setattr(video_io, "_write_mp4", read_only)
    out = tmp_path / "x.mp4"
    assert main(["world", "render", "--prompt", "a red circle", "--out", str(out)]) == 2
    assert f"{out}: could not write the output (Read-only file system)" in _error(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["truncate", "header", "state"])
def test_a_damaged_checkpoint_is_named_and_the_one_before_taken(tmp_path, damage):
    from tessera.models.dit import DiT, DiTConfig
    from tessera.presets import load_config
    from tessera.train.checkpoint import latest_checkpoint, save_checkpoint
    from tessera.train.train_dit import build_optimizer

    cfg = DiTConfig(
        num_heads=2, head_dim=12, in_channels=4, out_channels=4, text_dim=8, ffn_dim=16, num_layers=1
    )
    model, ema = DiT(cfg), DiT(cfg)
    optimizer = build_optimizer(model, load_config("dit-tiny").optim)
    for step in (1, 2):
        save_checkpoint(tmp_path, step, model, ema, optimizer, {"a": 1})
    newest = latest_checkpoint(tmp_path)
    assert newest.name == "step_0000002"
    victim = sorted(newest.rglob("*.safetensors"))[-1] if damage != "state" else newest / "state.json"
    data = victim.read_bytes()
    victim.write_bytes(
        {"truncate": data[: len(data) // 2], "header": b"\xff" * 8 + data[8:], "state": b'{"step": 2'}[damage]
    )
    with pytest.warns(UserWarning, match=f"{victim}: .*resuming from the checkpoint before it"):
        assert latest_checkpoint(tmp_path).name == "step_0000001"


def test_an_enormous_prompt_is_cut_to_what_the_text_encoder_reads_with_a_warning():
    import time

    from tessera.models.text import MAX_PROMPT_CHARS, build_text_encoder
    from tessera.task import VideoTask

    prompt = "a red ball bounces, " * 5000  # 100,000 characters
    with pytest.warns(UserWarning, match="100,000 characters; the text encoder reads the first 1,000"):
        VideoTask(prompt=prompt)
    enc = build_text_encoder("e5+minilm")
    start = time.perf_counter()
    whole = enc.encode([prompt])
    assert time.perf_counter() - start < 10  # uncut, it took minutes
    cut = enc.encode([prompt[:MAX_PROMPT_CHARS]])
    assert torch.equal(whole.tokens, cut.tokens) and torch.equal(whole.mask, cut.mask)
