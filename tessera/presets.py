"""Named, complete run configs. Data only: each preset is a plain function returning a config tree.

vae-world        the whole-world VAE, GPU-sized run
vae-world-cpu    the same model, a run that fits a 2-core CPU (5-frame clips and images)
vae-world-cpu-long  vae-world-cpu fine-tuned on 17-frame clips
vae-world-cpu-decoder  its decoder alone, object pixels weighted (keeps the latents)
vae-world-cpu-objects  the whole VAE, object pixels weighted (new latents)
vae-world-cpu-decoder2  vae-world-cpu-objects' decoder alone trained on (keeps the latents)
vae-world-cpu-deflicker  that decoder trained against flicker (keeps the latents)
vae-world-plain  that VAE fine-tuned on the plain world (PLAIN_WORLD) at 64x64
vae-world-one-object  vae-world-plain's decoder trained on the one-object world (keeps the latents)
vae-world-one-object-long  that decoder trained on longer at a lower rate (the shipped model's decoder)
vae-tiny         seconds on a CPU, for tests
dit-world        the whole-world DiT, GPU-sized run
dit-world-cpu    the same model, a run that fits a 2-core CPU
dit-world-cpu-refit  the CPU DiT fine-tuned on vae-world-cpu-objects' latents
dit-world-cpu-objects  the refit DiT fine-tuned further with object latents weighted
dit-world-cpu-more  that DiT trained on at batch 16, sampled at guidance 2 (the whole-world CPU model)
dit-world-plain  a DiT for the plain world at 64x64, 8x8-pixel tokens
dit-world-one-object  a DiT for the one-object world (ONE_OBJECT_WORLD) at 64x64, 16x16-pixel tokens
dit-world-one-object-phrasings  that DiT trained on over 4,000 scenes (more ways of saying each video)
dit-world-one-object-images  that DiT trained on briefly with images (1-frame buckets) beside its clips
                 (the shipped DiT)
dit-tiny         seconds on a CPU, for tests
dit-wan2.1-1.3b  the Wan2.1 T2V 1.3B architecture trained from scratch (UMT5 text encoder from a folder)
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable

from tessera.config import (
    DataConfig,
    DiTRunConfig,
    FlowConfig,
    LoopConfig,
    OptimConfig,
    RunConfig,
    SampleConfig,
    VAELossConfig,
    VAERunConfig,
    override,
)
from tessera.models.dit import DIT_SIZES
from tessera.models.vae import VAE_SIZES
from tessera.world.scene import ONE_OBJECT_WORLD, PLAIN_WHITE_WORLD, PLAIN_WORLD


def vae_world() -> VAERunConfig:
    return VAERunConfig(
        model=VAE_SIZES["world"],
        data=DataConfig(height=128, width=128, num_frames=9, crop=64, image_fraction=0.25, num_scenes=20000),
        optim=OptimConfig(lr=5e-4, warmup_steps=200, decay_to=0.05),
        loop=LoopConfig(
            steps=20000, batch_size=16, ema_decay=0.999, checkpoint_every=2000, out="runs/vae-world"
        ),
        loss=VAELossConfig(kl_weight=1e-6, ssim_weight=0.2),
    )


def vae_world_cpu() -> VAERunConfig:
    base = vae_world()
    return VAERunConfig(
        model=base.model,
        data=DataConfig(height=128, width=128, num_frames=5, crop=64, image_fraction=0.3, num_scenes=20000),
        optim=OptimConfig(lr=1e-3, warmup_steps=50, decay_to=0.05),
        loop=LoopConfig(
            steps=2800, batch_size=8, ema_decay=0.995, checkpoint_every=400, out="runs/vae-world-cpu"
        ),
        loss=base.loss,
    )


def vae_world_cpu_long() -> VAERunConfig:
    """vae-world-cpu fine-tuned on 17-frame clips (the generated length), so the streaming decoder sees its
    cache filled by earlier chunks: a causal VAE trained on short clips drifts on longer
    ones (measured: trained on 9 frames, frames 9-16 of a 17-frame clip lose 5-10 dB)."""
    base = vae_world_cpu()
    return dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, num_frames=17, image_fraction=0.1),
        optim=OptimConfig(lr=8e-4, warmup_steps=20, decay_to=0.05),
        loop=dataclasses.replace(
            base.loop,
            steps=550,
            batch_size=4,
            checkpoint_every=100,
            out="runs/vae-world-cpu-long",
            init_from="runs/vae-world-cpu/export",
        ),
    )


def vae_world_cpu_decoder() -> VAERunConfig:
    """vae-world-cpu-long's decoder alone fine-tuned with object pixels weighted 9x. That VAE returned the
    world's objects too pale for the scorer (its round trip scored adherence 0.008 against the
    footage's 0.81); with the encoder frozen, the latents, and any DiT trained on them, stay valid."""
    base = vae_world_cpu_long()
    return dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, num_scenes=3000, image_fraction=0.0),
        optim=OptimConfig(lr=3e-4, warmup_steps=20, decay_to=0.3),
        loop=dataclasses.replace(
            base.loop,
            steps=1300,
            batch_size=4,
            ema_decay=0.99,
            checkpoint_every=100,
            out="runs/vae-world-cpu-decoder",
            init_from="runs/vae-world-cpu-long/export",
        ),
        loss=dataclasses.replace(base.loss, object_weight=8.0),
        decoder_only=True,
    )


def vae_world_cpu_objects() -> VAERunConfig:
    """The whole VAE fine-tuned with object pixels weighted, from vae-world-cpu-decoder, whose
    frozen encoder already lost most of a small object's colour (frame 0 alone, encoded without any temporal
    compression, came back pale), so the decoder alone could not bring it back. The latents change: the DiT
    must be trained (or fine-tuned) on this VAE's latents."""
    base = vae_world_cpu_decoder()
    return dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, image_fraction=0.2, num_scenes=20000),
        optim=OptimConfig(lr=5e-4, warmup_steps=20, decay_to=0.1),
        loop=dataclasses.replace(
            base.loop,
            steps=3000,
            ema_decay=0.995,
            checkpoint_every=250,
            out="runs/vae-world-cpu-objects",
            init_from="runs/vae-world-cpu-decoder/export",
        ),
        decoder_only=False,
    )


def vae_world_cpu_decoder2() -> VAERunConfig:
    """vae-world-cpu-objects' decoder alone trained on, in bf16 where the CPU has it. That VAE's
    encoder keeps objects' colour, so what its round trip loses (25.5 dB; corners come back round) is now
    the decoder's to win back; with the encoder frozen the latents, and the DiT trained on them, stay valid,
    so every generated video gains what the decoder gains. Measured: held-out PSNR 25.50 -> 25.85 dB, the
    round trip's adherence 0.495 -> 0.583 (48 scenes); its PSNR was flat from step 1,250 to 3,000."""
    base = vae_world_cpu_objects()
    return dataclasses.replace(
        base,
        optim=OptimConfig(lr=3e-4, warmup_steps=50, decay_to=0.1),
        loop=dataclasses.replace(
            base.loop,
            steps=5000,
            out="runs/vae-world-cpu-decoder2",
            init_from="runs/vae-world-cpu-objects/export",
        ),
        decoder_only=True,
    )


def vae_world_cpu_deflicker() -> VAERunConfig:
    """vae-world-cpu-decoder2's decoder trained on against flicker. Its round trip changed most from
    the first frames of each latent slot to the next (4.9-6.5 levels against the footage's 3-4) and least
    at each slot's end, and a DiT's latents, which are near the encoder's but not on them, doubled that
    pattern (10 levels) in generated videos. So the loss adds the error in frame-to-frame change
    (loss.temporal_weight) and the decoder reads its latents with noise of 0.1 latent standard deviations
    (latent_noise). The encoder, the latents and the DiT stay as they are. Measured (benchmarks/flicker.py,
    8 scenes): the round trip's mean change per frame 1.33x -> 1.00x the footage's, plain generation's 2.08x
    -> 1.82x; held-out PSNR 25.85 -> 26.36 dB; eval run --num 32 within its noise (-0.011, s.e. 0.018)."""
    base = vae_world_cpu_decoder2()
    return dataclasses.replace(
        base,
        optim=OptimConfig(lr=1e-4, warmup_steps=50, decay_to=0.1),
        loop=dataclasses.replace(
            base.loop,
            steps=3000,
            seed=1,  # other batches than vae-world-cpu-decoder2's, which this run continues
            out="runs/vae-world-cpu-deflicker",
            init_from="runs/vae-world-cpu-decoder2/export",
        ),
        loss=dataclasses.replace(base.loss, temporal_weight=1.0),
        latent_noise=0.1,
    )


def vae_world_plain() -> VAERunConfig:
    """The world VAE (the deflickered decoder's) fine-tuned whole on PLAIN_WORLD at 64x64, full frames,
    object pixels weighted: the plain world's DiT trains on its latents. What the round trip loses there is
    shape (corners come back round), more than at 128x128, where the same objects span twice the pixels."""
    base = vae_world_cpu_deflicker()
    return dataclasses.replace(
        base,
        data=DataConfig(
            height=64, width=64, num_frames=17, image_fraction=0.2, num_scenes=20000, world=PLAIN_WORLD
        ),
        optim=OptimConfig(lr=3e-4, warmup_steps=50, decay_to=0.1),
        loop=dataclasses.replace(
            base.loop,
            steps=1600,
            batch_size=6,
            seed=3,
            checkpoint_every=250,
            out="runs/vae-world-plain",
            init_from="runs/vae-world-cpu-deflicker/export",
        ),
        loss=dataclasses.replace(base.loss, object_weight=8.0, temporal_weight=1.0),
        decoder_only=False,
        latent_noise=0.0,
    )


def dit_world_one_object_phrasings() -> DiTRunConfig:
    """dit-world-one-object trained on over 4,000 scenes: each of the world's videos comes back about eight
    times, each time in other words (the captions' synonyms and word orders are drawn per scene), so the
    model meets more ways of saying what it already draws."""
    base = dit_world_one_object()
    return dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, num_scenes=4000),
        optim=dataclasses.replace(base.optim, lr=4e-4),
        loop=dataclasses.replace(
            base.loop,
            steps=6000,
            out="runs/dit-world-one-object-phrasings",
            init_from="runs/dit-world-one-object/export",
        ),
    )


def dit_world_one_object_images() -> DiTRunConfig:
    """dit-world-one-object-phrasings trained on with images beside its clips (1-frame buckets, half of the
    scenes): an image is a 1-frame video, which the clips alone never show it. Text to image, the scorer's
    content group: 0.58 after 600 steps, 0.80 after 1,800, 0.91 after 3,600; the clips' adherence rose from
    600 to 1,800 steps (eval run --num 32: +0.064, s.e. 0.012) and held from 1,800 to 3,600 (-0.008,
    s.e. 0.010)."""
    base = dit_world_one_object_phrasings()
    return dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, num_scenes=1000, buckets=("64x64x17", "64x64x1")),
        optim=dataclasses.replace(base.optim, lr=2e-4, warmup_steps=50),
        loop=dataclasses.replace(
            base.loop,
            steps=3600,
            checkpoint_every=1200,
            out="runs/dit-world-one-object-images",
            init_from="runs/dit-world-one-object-phrasings/export",
        ),
    )


def vae_world_one_object() -> VAERunConfig:
    """vae-world-plain's decoder trained on alone (the encoder frozen, so the latents, and a DiT trained on
    them, stay as they are) on ONE_OBJECT_WORLD, where its round trip loses the physics of falls and
    bounces and the corners of shapes first."""
    base = vae_world_plain()
    return dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, world=ONE_OBJECT_WORLD),
        loop=dataclasses.replace(
            base.loop, steps=1500, out="runs/vae-world-one-object", init_from="runs/vae-world-plain/export"
        ),
        decoder_only=True,
    )


def vae_world_one_object_long() -> VAERunConfig:
    """vae-world-one-object's decoder trained on for 2,000 more steps at half its rate, the encoder still
    frozen: its held-out PSNR was still below 30 dB."""
    base = vae_world_one_object()
    return dataclasses.replace(
        base,
        optim=dataclasses.replace(base.optim, lr=base.optim.lr / 2, warmup_steps=20),
        loop=dataclasses.replace(
            base.loop,
            steps=2000,
            out="runs/vae-world-one-object-long",
            init_from="runs/vae-world-one-object/export",
        ),
    )


def vae_tiny() -> VAERunConfig:
    return VAERunConfig(
        model=VAE_SIZES["tiny"],
        data=DataConfig(height=32, width=32, num_frames=5, num_scenes=64),
        optim=OptimConfig(lr=2e-3, warmup_steps=2),
        loop=LoopConfig(
            steps=20, batch_size=2, ema_decay=0.9, log_every=5, checkpoint_every=10, out="runs/vae-tiny"
        ),
    )


# Training times for the world DiT: uniform, shifted towards noise (shift 3, as its sampler), so t > 0.9 gets
# 25% of the steps. That is where the text decides what the scene holds; logit-normal with shift 2 gave it
# under 1% at t > 0.97, and the DiT it trained ignored its text. Tasks: half the samples are plain text to
# video, the product; the rest give the DiT known frames (time 0) as the prompting modes do: the first frame
# (image to video) and a prefix or a suffix (extending forward and backward) most, as they are asked for most;
# the last frame, first and last, and random spans (connecting, looping) less.
WORLD_FLOW = FlowConfig(
    time_method="uniform",
    shift=3.0,
    text_dropout=0.1,
    tasks=("text", "first", "last", "first_last", "prefix", "suffix", "spans"),
    task_weights=(0.5, 0.15, 0.05, 0.05, 0.1, 0.1, 0.05),
)


def dit_world() -> DiTRunConfig:
    return DiTRunConfig(
        model=DIT_SIZES["world"],
        vae="runs/vae-world/export",
        # Native sizes, as Sora trains: square, 16:9 and 9:16 videos and square images (world scenes are
        # drawn per bucket). The CPU run keeps one bucket: it has too few steps to spread over four.
        data=DataConfig(
            height=128,
            width=128,
            num_frames=17,
            num_scenes=20000,
            buckets=("128x128x17", "176x96x17", "96x176x17", "128x128x1"),
        ),
        optim=OptimConfig(lr=3e-4, weight_decay=0.01, warmup_steps=500, decay_to=0.1),
        loop=LoopConfig(
            steps=40000, batch_size=64, ema_decay=0.9995, checkpoint_every=2000, out="runs/dit-world"
        ),
        flow=WORLD_FLOW,
        sample=SampleConfig(steps=20, guidance=4.0, shift=3.0, solver="dpmpp_2m"),
    )


def dit_world_cpu() -> DiTRunConfig:
    base = dit_world()
    return DiTRunConfig(
        model=base.model,
        vae="runs/vae-world-cpu-long/export",
        data=DataConfig(height=128, width=128, num_frames=17, num_scenes=1500, captions_per_language=1),
        optim=OptimConfig(lr=6e-4, weight_decay=0.01, warmup_steps=100, decay_to=0.1),
        loop=LoopConfig(
            steps=5000, batch_size=8, ema_decay=0.999, checkpoint_every=250, out="runs/dit-world-cpu"
        ),
        flow=base.flow,
        sample=base.sample,
    )


def dit_world_cpu_refit() -> DiTRunConfig:
    """The CPU DiT carried over to vae-world-cpu-objects' latents: fine-tuned from the DiT trained on
    vae-world-cpu-decoder's latents rather than trained again from scratch, so it keeps what it learnt of
    the text and of layouts (vae-world-cpu-objects starts from that encoder, so its latents are near the old
    ones)."""
    base = dit_world_cpu()
    return dataclasses.replace(
        base,
        vae="runs/vae-world-cpu-objects/export",
        optim=OptimConfig(lr=3e-4, weight_decay=0.01, warmup_steps=50, decay_to=0.1),
        loop=dataclasses.replace(
            base.loop, steps=4000, out="runs/dit-world-cpu-refit", init_from="runs/dit-world-cpu/export"
        ),
    )


def dit_world_cpu_objects() -> DiTRunConfig:
    """The refit DiT fine-tuned further with object latents weighted (flow.object_weight=4): a short caption
    names the objects, not the background, and the objects are a few percent of the latents, so the plain
    loss hardly rewards following the text. Measured (16 prompts per group): 1,500 such steps lifted
    adherence from 0.050 / 0.056 / 0.047 to 0.074 / 0.181 / 0.084, where the refit's own last 2,750 plain
    steps had gone from 0.034 / 0.000 / 0.006 (8 prompts) to the 0.050s; not a controlled comparison."""
    base = dit_world_cpu_refit()
    return dataclasses.replace(
        base,
        optim=dataclasses.replace(base.optim, warmup_steps=20),
        loop=dataclasses.replace(
            base.loop,
            steps=1500,
            out="runs/dit-world-cpu-objects",
            init_from="runs/dit-world-cpu-refit/export",
        ),
        flow=dataclasses.replace(base.flow, object_weight=4.0),
    )


def dit_world_cpu_more() -> DiTRunConfig:
    """The objects-stage DiT trained on, same loss and data, at batch 16 (bf16 autocast on a CPU with native
    bf16 makes a step of 16 cost what one of 8 did in fp32), sampled at guidance 2. The DiT before it was as
    good on new scenes as on its 1,500 training scenes (benchmarks/noise_ladder.py --fresh): it underfit, so
    it gets more steps, not more data. Measured (eval run --num 32, seen / held-out / zh): before 0.097 /
    0.153 / 0.104 at guidance 4 and 0.131 / 0.143 / 0.141 at 2; after 0.069 / 0.111 / 0.071 at 4, 0.116 /
    0.213 / 0.142 at 2, 0.077 / 0.149 / 0.096 at 1.5 (differences of 0.04 are within the noise of 32 prompts).
    Its text moves its t = 1 prediction 4.7x more than before (benchmarks/text_probe.py), so guidance 4 now
    overshoots."""
    base = dit_world_cpu_objects()
    return dataclasses.replace(
        base,
        optim=dataclasses.replace(base.optim, lr=2e-4, warmup_steps=100),
        loop=dataclasses.replace(
            base.loop,
            steps=6000,
            batch_size=16,
            out="runs/dit-world-cpu-more",
            init_from="runs/dit-world-cpu-objects/export",
        ),
        sample=dataclasses.replace(base.sample, guidance=2.0),
    )


def dit_world_plain() -> DiTRunConfig:
    """A DiT for PLAIN_WORLD at 64x64, 17 frames, over vae-world-plain's latents: one token covers 8x8
    pixels (patch (1, 2, 2) over the 4x VAE), so a medium object spans two to three tokens a side rather
    than one; the token grid, 5x8x8, costs what the 128x128 model's did."""
    base = dit_world_cpu()
    return DiTRunConfig(
        model=dataclasses.replace(base.model, patch_size=(1, 2, 2)),
        vae="runs/vae-world-plain/export",
        data=DataConfig(
            height=64, width=64, num_frames=17, num_scenes=2000, captions_per_language=2, world=PLAIN_WORLD
        ),
        optim=OptimConfig(lr=6e-4, weight_decay=0.01, warmup_steps=100, decay_to=0.1),
        loop=LoopConfig(
            steps=6000,
            batch_size=8,
            ema_decay=0.999,
            checkpoint_every=1000,
            keep_checkpoints=0,  # every one, for the learning curve (benchmarks/overfit.py --run)
            out="runs/dit-world-plain",
        ),
        # object latents weighted: even here the objects a caption names are under a tenth of the latents
        flow=dataclasses.replace(WORLD_FLOW, object_weight=4.0),
        sample=dataclasses.replace(base.sample, guidance=2.0),
    )


def dit_world_plain_16px() -> DiTRunConfig:
    """dit-world-plain with 16x16-pixel tokens (patch (1, 4, 4): a token grid of 5x4x4, 80 tokens), which
    learn the gate's scenes faster per CPU minute than 8x8-pixel ones (docs/experiments.md); the step is
    cheap enough for batch 16."""
    base = dit_world_plain()
    return dataclasses.replace(
        base,
        model=dataclasses.replace(base.model, patch_size=(1, 4, 4)),
        loop=dataclasses.replace(
            base.loop, steps=5000, batch_size=16, checkpoint_every=1000, out="runs/dit-world-plain-16px"
        ),
    )


def dit_world_plain_white() -> DiTRunConfig:
    """dit-world-plain-16px on one background tone (PLAIN_WHITE_WORLD): the captions name the objects only,
    so all of the model's capacity goes to what they name."""
    base = dit_world_plain_16px()
    return dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, world=PLAIN_WHITE_WORLD),
        loop=dataclasses.replace(base.loop, out="runs/dit-world-plain-white"),
    )


def dit_world_one_object() -> DiTRunConfig:
    """dit-world-plain-16px on ONE_OBJECT_WORLD: one large object on white, starting where its motion has
    room, so a short caption decides the whole video; 1,000 scenes cover most of its ~480 colour x shape x
    motion combinations of the training split, each with two English and two Chinese captions."""
    base = dit_world_plain_16px()
    return dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, num_scenes=1000, world=ONE_OBJECT_WORLD),
        loop=dataclasses.replace(base.loop, steps=4000, out="runs/dit-world-one-object"),
    )


def dit_tiny() -> DiTRunConfig:
    return DiTRunConfig(
        model=dataclasses.replace(DIT_SIZES["tiny"], text_dim=384),  # MiniLM's width
        vae="",
        text_encoder="minilm",
        data=DataConfig(height=32, width=32, num_frames=5, num_scenes=16, languages=("en",)),
        optim=OptimConfig(lr=2e-3, warmup_steps=2),
        loop=LoopConfig(
            steps=20, batch_size=4, ema_decay=0.9, log_every=5, checkpoint_every=10, out="runs/dit-tiny"
        ),
        sample=SampleConfig(steps=4, guidance=2.0, shift=1.0, solver="euler"),
    )


def dit_wan21_1_3b() -> DiTRunConfig:
    return DiTRunConfig(
        model=DIT_SIZES["wan2.1-t2v-1.3b"],
        vae="weights/Wan2.1-T2V-1.3B-Diffusers/vae",
        text_encoder="umt5:weights/Wan2.1-T2V-1.3B-Diffusers/text_encoder",
        data=DataConfig(height=480, width=832, num_frames=81, fps=16),
        optim=OptimConfig(lr=1e-4, weight_decay=0.01, warmup_steps=1000),
        loop=LoopConfig(steps=100000, batch_size=8, ema_decay=0.9999, out="runs/dit-wan2.1-1.3b"),
        flow=FlowConfig(shift=3.0),
        sample=SampleConfig(steps=50, guidance=5.0, shift=3.0, solver="dpmpp_2m"),
    )


PRESETS: dict[str, Callable[[], RunConfig]] = {
    "vae-world": vae_world,
    "vae-world-cpu": vae_world_cpu,
    "vae-world-cpu-long": vae_world_cpu_long,
    "vae-world-cpu-decoder": vae_world_cpu_decoder,
    "vae-world-cpu-objects": vae_world_cpu_objects,
    "vae-world-cpu-decoder2": vae_world_cpu_decoder2,
    "vae-world-cpu-deflicker": vae_world_cpu_deflicker,
    "vae-world-plain": vae_world_plain,
    "vae-tiny": vae_tiny,
    "dit-world": dit_world,
    "dit-world-cpu": dit_world_cpu,
    "dit-world-cpu-refit": dit_world_cpu_refit,
    "dit-world-cpu-objects": dit_world_cpu_objects,
    "dit-world-cpu-more": dit_world_cpu_more,
    "dit-world-plain": dit_world_plain,
    "dit-world-plain-16px": dit_world_plain_16px,
    "dit-world-plain-white": dit_world_plain_white,
    "dit-world-one-object": dit_world_one_object,
    "dit-world-one-object-phrasings": dit_world_one_object_phrasings,
    "dit-world-one-object-images": dit_world_one_object_images,
    "vae-world-one-object": vae_world_one_object,
    "vae-world-one-object-long": vae_world_one_object_long,
    "dit-tiny": dit_tiny,
    "dit-wan2.1-1.3b": dit_wan21_1_3b,
}


def load_config(preset: str, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """The preset's config with `key=value` overrides applied, each parsed by its field's type."""
    if preset not in PRESETS:
        near = difflib.get_close_matches(preset, PRESETS, n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise ValueError(f"unknown preset {preset!r}{hint}; presets: {', '.join(sorted(PRESETS))}")
    pairs = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not key=value (e.g. optim.lr=1e-4)")
        pairs[key.strip()] = value.strip()
    return override(PRESETS[preset](), pairs)
