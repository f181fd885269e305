"""The model shipped in the package: present, small, loadable, and it generates with no downloads."""

from dataclasses import replace

import numpy as np
import pytest

from tessera.pipeline import GenerationRequest, Generator
from tessera.weights import SHIPPED_MODEL, read_model_spec

MAX_SHIPPED_BYTES = 30 * 2**20


def test_shipped_weights_are_small_safetensors():
    files = sorted(p.name for p in SHIPPED_MODEL.iterdir())
    assert files == ["dit.safetensors", "model.json", "vae.safetensors"]
    assert sum(p.stat().st_size for p in SHIPPED_MODEL.iterdir()) <= MAX_SHIPPED_BYTES
    card = read_model_spec(SHIPPED_MODEL)["card"]
    assert card["dit_steps"] > 0 and card["vae_heldout_psnr"] > 0


def test_shipped_model_generates_the_default_clip():
    gen = Generator()
    video = gen.generate(GenerationRequest("a red circle moves to the right", steps=2, seed=1))
    spec = gen.spec["video"]
    assert video.frames.shape == (spec["num_frames"], spec["height"], spec["width"], 3)
    assert video.frames.std() > 1  # not a blank frame
    again = gen.generate(GenerationRequest("a red circle moves to the right", steps=2, seed=1))
    assert np.array_equal(video.frames, again.frames)


def test_step_cache_skips_steps_and_keeps_the_video():
    gen = Generator()
    request = GenerationRequest("a large red circle moves to the right")
    base = gen.generate(request).frames
    cached = gen.generate(replace(request, step_cache=0.1))
    err = np.mean((cached.frames.astype(np.float64) - base) ** 2)
    assert cached.info["blocks_skipped"] > 0.1  # measured: 0.2 of the calls at 20 steps
    assert 10 * np.log10(255**2 / err) >= 30  # measured: 37 dB
    assert "blocks_skipped" not in gen.generate(request).info


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("num_frames", 0, "not 4k\\+1"),  # 0 is a value, not "the default"
        ("steps", 0, "steps must be in 1..1000"),
        ("steps", 10_000, "steps must be in 1..1000"),
        ("shift", 0.0, "shift must be a positive number"),
        ("seed", 2**64, "seed must be in 0..2\\*\\*63-1"),
        ("guidance", float("nan"), "guidance must be a finite number"),
        ("step_cache", 1.0, "step_cache must be in"),
    ],
)
def test_a_bad_request_is_refused_before_any_work(field, value, message):
    with pytest.raises(ValueError, match=message):
        Generator().resolve(GenerationRequest("a red circle", **{field: value}))
