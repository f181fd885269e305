"""Conditioning: media placed on the latent grid, kept exactly by the sampler, with clear errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from tessera.cli import main
from tessera.conditioning import Condition, build_conditioning, latent_index
from tessera.data.video_io import read_video, to_frames, to_video_tensor
from tessera.models.dit import DIT_SIZES
from tessera.models.text import TextEmbedding
from tessera.pipeline import GenerationRequest, Generator
from tessera.presets import load_config
from tessera.train import train_dit
from tessera.train.tasks import TASKS, task_masks
from tessera.weights import SHIPPED_MODEL, read_model_spec
from tessera.world.render import render
from tessera.world.scene import sample_scene

PROMPT = "a red circle moves to the right"
SIDE = read_model_spec(SHIPPED_MODEL)["video"]["height"]  # the shipped model's default: square, 17 frames
HALF = SIDE // 2


@pytest.fixture(scope="module")
def gen():
    return Generator()  # the shipped model: 4x time, SIDE x SIDE default


@pytest.fixture(scope="module")
def clip():
    return render(sample_scene(5, height=SIDE, width=SIDE, num_frames=17)).video


def _round_trip(gen, frames):
    """What the VAE makes of frames (F, H, W, 3) on its own: encode, decode."""
    with torch.inference_mode():
        video = to_video_tensor(frames)[None]
        return to_frames(gen.vae.decode_latents(gen.vae.encode_latents(video))[0])


def _encode(gen, frames):
    with torch.inference_mode():
        return gen.vae.encode_latents(to_video_tensor(frames)[None])


def test_latent_index_follows_the_causal_frame_rule():
    assert [latent_index(f, 4) for f in (0, 1, 4, 5, 8, 9, 16)] == [0, 1, 1, 2, 2, 3, 4]


def test_image_to_video_keeps_the_image_as_the_first_frame(gen, clip):
    image = clip[0]
    plain = gen.generate(GenerationRequest(PROMPT, steps=2, seed=1)).frames
    animated = gen.generate(GenerationRequest(PROMPT, steps=2, seed=1, conditions=(Condition(image),))).frames
    # Frame 0 is decoded from latent 0 alone (causal VAE), which the sampler kept at the image's latent.
    expected = _round_trip(gen, image[None])[0]
    assert np.abs(animated[0].astype(int) - expected).max() <= 1
    assert np.abs(plain[0].astype(int) - expected).mean() > 5  # without the condition it is another frame
    assert animated.shape == plain.shape


def test_a_video_prefix_keeps_its_frames(gen, clip):
    prefix = clip[:5]  # 5 frames = 2 latent frames at the start of a 17-frame output
    out = gen.generate(GenerationRequest(PROMPT, steps=2, seed=2, conditions=(Condition(prefix),))).frames
    assert np.abs(out[:5].astype(int) - _round_trip(gen, prefix)).max() <= 1


def test_items_land_on_the_latents_that_code_their_frames(gen, clip):
    shape = gen.latent_shape(gen.resolve(GenerationRequest(PROMPT)))  # (1, C, 5, h, w)
    clean, mask = build_conditioning(
        [Condition(clip[-1], frame=-1), Condition(clip[8], frame=8, strength=0.5)], gen.vae, shape, 17
    )
    assert mask[0, 0, :, 0, 0].tolist() == [0.0, 0.0, 0.5, 0.0, 1.0]
    # An image after frame 0 is coded as its slot's frames all showing it, after it held still before them.
    held = _encode(gen, np.repeat(clip[-1:], 17, axis=0))  # (1, C, 5, h, w)
    assert torch.equal(clean[:, :, 4:], held[:, :, 4:])
    assert torch.equal(clean[:, :, 2], _encode(gen, np.repeat(clip[8:9], 9, axis=0))[:, :, 2])
    assert not clean[:, :, :2].any() and not clean[:, :, 3].any()


def test_a_video_placed_later_is_coded_as_inside_a_whole_clip(gen, clip):
    """A video at frame 8 gets the latents its frames have inside the one-pass encoding of a whole clip
    (what the DiT trains on) far more nearly than when encoded alone."""
    shape = gen.latent_shape(gen.resolve(GenerationRequest(PROMPT)))  # (1, C, 5, h, w)
    clean, mask = build_conditioning([Condition(clip[8:], frame=8)], gen.vae, shape, 17)
    assert mask[0, 0, :, 0, 0].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    inside = _encode(gen, clip)[:, :, 3:]
    alone = _encode(gen, clip[8:])[:, :, 1:]  # its image-type latent 0 dropped
    off = lambda latents: float((latents - inside).norm() / inside.norm())  # noqa: E731
    assert off(clean[:, :, 3:]) < 0.7 * off(alone)  # measured 0.24 vs 0.52


@pytest.mark.parametrize(
    "condition, message",
    [
        (Condition(np.zeros((HALF, HALF, 3), np.uint8)), f"is {HALF}x{HALF} but the output is {SIDE}x{SIDE}"),
        (Condition(np.zeros((SIDE, SIDE, 3), np.uint8), frame=17), "outside the output's 17 frames"),
        (Condition(np.zeros((SIDE, SIDE, 3), np.uint8), frame=-18), "outside the output's 17 frames"),
        (Condition(np.zeros((6, SIDE, SIDE, 3), np.uint8)), "needs 4k\\+1 frames, got 6; trim it to 5"),
        (Condition(np.zeros((9, SIDE, SIDE, 3), np.uint8), frame=12), "run past the output's end"),
        (Condition(np.zeros((SIDE, SIDE, 3), np.uint8), strength=0.0), "strength must be in \\(0, 1\\]"),
        (Condition(np.zeros((SIDE, SIDE, 3), np.uint8), strength=1.5), "strength must be in \\(0, 1\\]"),
        (Condition(np.zeros((SIDE, SIDE, 3), np.float32)), "must be uint8 RGB"),
        (Condition(torch.zeros(16, 1, 8, 8)), "condition latents must be"),
    ],
)
def test_bad_conditions_are_clear_errors(gen, condition, message):
    with pytest.raises(ValueError, match=message):
        gen.generate(GenerationRequest(PROMPT, steps=1, conditions=(condition,)))


def test_cli_animates_an_image_of_any_size(gen, clip, tmp_path):
    Image.fromarray(clip[0]).resize((3 * HALF, SIDE)).save(tmp_path / "start.png")  # 3:2, cropped to square
    out = tmp_path / "animated.mp4"
    args = ["generate", PROMPT, "--image", str(tmp_path / "start.png"), "--steps", "1", "--out", str(out)]
    assert main(args) == 0
    frames = read_video(out).frames
    assert frames.shape == (17, SIDE, SIDE, 3)
    image = read_video(tmp_path / "start.png", num_frames=1, size=(SIDE, SIDE)).frames
    # Frame 0 is the image through the VAE and H.264: close, while the rest of the clip is free.
    assert np.abs(frames[0].astype(int) - _round_trip(gen, image)[0]).mean() < 6


def test_task_masks_give_what_each_task_names():
    rng = np.random.default_rng(0)
    masks = {task: task_masks((task,), (1.0,), 64, 5, rng)[:, 0, :, 0, 0] for task in TASKS}
    assert not masks["text"].any()
    assert masks["first"].tolist() == [[1.0, 0, 0, 0, 0]] * 64
    assert masks["last"].tolist() == [[0, 0, 0, 0, 1.0]] * 64
    assert masks["first_last"].tolist() == [[1.0, 0, 0, 0, 1.0]] * 64
    for row in masks["prefix"]:  # a run of 1..4 given latents from the start
        k = int(row.sum())
        assert 1 <= k <= 4 and row[:k].all() and not row[k:].any()
    for row in masks["suffix"]:
        k = int(row.sum())
        assert 1 <= k <= 4 and row[5 - k :].all() and not row[: 5 - k].any()
    assert masks["spans"].any() and (masks["spans"].sum(1) < 5).all()
    mixed = task_masks(TASKS, (1.0,) * len(TASKS), 256, 5, np.random.default_rng(1))
    assert (mixed.sum(dim=(1, 2, 3, 4)) < 5).all()  # something is always left to predict
    assert torch.equal(mixed, task_masks(TASKS, (1.0,) * len(TASKS), 256, 5, np.random.default_rng(1)))


@pytest.mark.parametrize(
    "tasks, weights, message",
    [(("txt",), (1.0,), "unknown training tasks"), (("text", "first"), (1.0,), "one non-negative weight")],
)
def test_bad_tasks_are_clear_errors(tasks, weights, message):
    with pytest.raises(ValueError, match=message):
        task_masks(tasks, weights, 2, 5, np.random.default_rng(0))


CPU = torch.device("cpu")


class _Spy(torch.nn.Module):
    """A stand-in DiT that records its times and predicts a fixed velocity."""

    def __init__(self, v: torch.Tensor) -> None:
        super().__init__()
        self.cfg = DIT_SIZES["tiny"]
        self.v, self.t = v, None

    def forward(self, x, t, tokens, mask):
        self.t = t
        return self.v


class _Cache:
    def __init__(self, latents):
        self.latents, self.clips = latents, [{"captions": [0]}] * len(latents)

    def latent_batch(self, clips):
        return self.latents[clips]

    def text_batch(self, ids):
        return TextEmbedding(
            tokens=torch.zeros(len(ids), 2, 16), mask=torch.ones(len(ids), 2, dtype=torch.bool)
        )


def test_given_latents_sit_at_time_zero_and_leave_the_loss():
    cfg = load_config("dit-tiny", ["flow.tasks=first", "flow.task_weights=1", "loop.batch_size=2"])
    cache = _Cache(torch.randn(3, 4, 3, 4, 4))  # (N, C, T, h, w): 3 latent frames of 2x2 tokens
    v = torch.randn(2, 4, 3, 4, 4)
    spy = _Spy(v)
    loss = train_dit.training_loss(spy, cache, cfg, 0, [0, 2], CPU)
    assert spy.t.shape == (2, 12)  # per token: 3 frames x 2 x 2 patches
    assert (spy.t[:, :4] == 0).all() and (spy.t[:, 4:] > 0).all()
    wild = v.clone()
    wild[:, :, 0] += 100.0  # any prediction on the given frame
    assert torch.allclose(train_dit.training_loss(_Spy(wild), cache, cfg, 0, [0, 2], CPU), loss)
    wild[:, :, 1] += 1.0  # but not on a free one
    assert not torch.allclose(train_dit.training_loss(_Spy(wild), cache, cfg, 0, [0, 2], CPU), loss)
