"""Diffusers Wan folders run in tessera: a tiny random WanPipeline is built here (no download), saved with
save_pretrained, and generated with diffusers' own pipeline and with tessera (the folder directly, through
the Python API, and converted with `tessera convert wan` then generated through the CLI); the frames agree."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from tessera.cli import main as cli
from tessera.convert.wan_pipeline import WAN_NEGATIVE_PROMPT, read_model_index
from tessera.pipeline import GenerationRequest, Generator

WORDS = ["a", "red", "blue", "ball", "star", "bounces", "glides", "on", "the", "left", "down", "slowly"]
PROMPT, NEGATIVE = "a red ball bounces on the left", "blue star slowly"
SIZE = {"height": 32, "width": 32, "num_frames": 9}


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2} | {w: i + 3 for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def _tiny_wan(experts: bool = False):
    """A WanPipeline of random tiny parts (diffusers' own test sizes), a UniPC scheduler as Wan ships it."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    text_dim = 32
    encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(WORDS) + 3,
            d_model=text_dim,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            feed_forward_proj="gated-gelu",
            pad_token_id=0,
            eos_token_id=1,
        )
    ).eval()

    def transformer():
        model = WanTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=2,
            attention_head_dim=12,
            in_channels=16,
            out_channels=16,
            text_dim=text_dim,
            freq_dim=256,
            ffn_dim=32,
            num_layers=2,
            cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
            rope_max_seq_len=32,
        )
        with torch.no_grad():  # diffusers zero-inits nothing that matters here; larger weights test more
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        return model.eval()

    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    ).eval()
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=3.0
    )
    parts = {"transformer_2": transformer(), "boundary_ratio": 0.875} if experts else {}
    return WanPipeline(
        tokenizer=_tokenizer(),
        text_encoder=encoder,
        vae=vae,
        scheduler=scheduler,
        transformer=transformer(),
        **parts,
    )


@pytest.fixture(scope="module", params=[False, True], ids=["wan2.1", "two-experts"])
def wan(request, tmp_path_factory):
    """(saved folder, diffusers' frames (F, H, W, 3) in [0, 1]) for PROMPT at seed 0, 4 steps, guidance 5."""
    folder = tmp_path_factory.mktemp("wan") / "Wan-Tiny-Diffusers"
    pipe = _tiny_wan(experts=request.param)
    pipe.save_pretrained(folder)
    return folder, diffusers_frames(pipe, **SIZE)


def diffusers_frames(pipe, **inputs) -> np.ndarray:
    """diffusers' video (F, H, W, 3) in [0, 1] for PROMPT against NEGATIVE at seed 0, 4 steps, guidance 5."""
    kwargs = {"num_inference_steps": 4, "guidance_scale": 5.0, "output_type": "np"}
    noise = torch.Generator().manual_seed(0)
    return pipe(prompt=PROMPT, negative_prompt=NEGATIVE, generator=noise, **kwargs, **inputs).frames[0]


def psnr(frames: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of uint8 frames against float frames in [0, 1]."""
    err = np.mean((frames.astype(np.float64) / 255 - reference.astype(np.float64)) ** 2)
    return float(10 * np.log10(1 / max(err, 1e-12)))


def request(**changes) -> GenerationRequest:
    fields = {"prompt": PROMPT, "negative_prompt": NEGATIVE, "steps": 4, "guidance": 5.0, "seed": 0, **SIZE}
    return GenerationRequest(**fields | changes)


def test_a_diffusers_folder_generates_diffusers_video(wan):
    folder, reference = wan
    assert reference.std() > 0.02  # the tiny pipeline makes a picture, not a flat field
    gen = Generator(folder)
    assert gen.spec["sample"]["solver"] == "unipc" and gen.spec["sample"]["shift"] == 3.0
    assert gen.spec["sample"]["negative_prompt"] == WAN_NEGATIVE_PROMPT
    assert len(gen.experts) == (1 if (folder / "transformer_2").is_dir() else 0)
    video = gen.generate(request())
    assert video.frames.shape == reference.shape[:3] + (3,)
    assert psnr(video.frames, reference) >= 40
    assert psnr(gen.generate(request(seed=1)).frames, reference) < 30  # the comparison can fail
    if gen.experts:  # the low-noise expert takes over at the boundary, not before, not never
        gen.spec["sample"]["experts"]["boundary"] = 0.5
        assert psnr(gen.generate(request()).frames, reference) < 30
        gen.experts = []
        assert psnr(gen.generate(request()).frames, reference) < 30


def test_wan_semantics_are_what_makes_the_match(wan):
    """Masking the text padding (tessera's own models' default) or feeding float timesteps moves the video
    away from diffusers': both Wan conventions are needed."""
    folder, reference = wan
    gen = Generator(folder)
    matched = psnr(gen.generate(request()).frames, reference)
    for dit in (gen.dit, *gen.experts):
        object.__setattr__(dit.cfg, "text_mask", True)
    masked = psnr(gen.generate(request()).frames, reference)
    for dit in (gen.dit, *gen.experts):
        object.__setattr__(dit.cfg, "text_mask", False)
    gen.spec["sample"]["integer_times"] = False
    floats = psnr(gen.generate(request()).frames, reference)
    assert masked < matched - 5 and floats < matched - 5, (matched, masked, floats)


def test_convert_then_generate_through_the_cli(wan, tmp_path, capsys):
    folder, reference = wan
    out = tmp_path / "converted"
    assert cli(["convert", "wan", str(folder), str(out), "--dtype", "fp32"]) == 0
    spec = json.loads((out / "model.json").read_text())
    assert spec["text_encoder"] == "umt5:text_encoder" and (out / "tokenizer").is_dir()
    assert (out / "dit_2.safetensors").is_file() == (folder / "transformer_2").is_dir()
    args = ["--model", str(out), "--negative", NEGATIVE, "--steps", "4", "--guidance", "5"]
    args += ["--size", "32x32", "--frames", "9", "--out", str(tmp_path / "png")]
    assert cli(["generate", PROMPT, *args]) == 0
    frames = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / "png").glob("*.png"))])
    assert psnr(frames, reference) >= 40
    capsys.readouterr()
    assert cli(["convert", "wan", str(folder), str(out)]) == 2  # never writes over a folder
    assert "not empty" in capsys.readouterr().err


def test_every_mode_runs_on_a_wan_model(wan):
    """What diffusers' WanPipeline does not offer: every tessera mode, through per-token time."""
    from tessera import modes
    from tessera.conditioning import Condition

    gen = Generator(wan[0])
    fast = request(steps=2)
    clip = gen.generate(fast).frames  # (9, 32, 32, 3)
    animated = gen.generate(replace(fast, conditions=(Condition(clip[0]),))).frames
    assert animated.shape == clip.shape
    for direction in ("forward", "backward"):
        longer = modes.extend(gen, fast, clip[:5], direction).frames
        given = longer[:5] if direction == "forward" else longer[-5:]
        assert len(longer) > 5 and np.array_equal(given, clip[:5])  # given frames come back unchanged
    joined = modes.connect(gen, fast, clip[:5], clip[4:]).frames
    assert np.array_equal(joined[:5], clip[:5]) and np.array_equal(joined[-5:], clip[4:])
    assert np.array_equal(modes.loop(gen, fast).frames[:9], clip)
    assert modes.edit(gen, fast, clip, 0.6).frames.shape == clip.shape
    assert len(modes.long_video(gen, fast, 21).frames) == 21
    shots = [modes.Shot("a red ball bounces", 9), modes.Shot("a blue star glides down", 8)]
    assert len(modes.storyboard(gen, fast, shots).frames) == 17


def test_unsupported_folders_say_why(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "WanImageToVideoPipeline"}))
    with pytest.raises(ValueError, match="not supported"):
        read_model_index(tmp_path)
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline"}))
    with pytest.raises(ValueError, match="missing the folders"):
        read_model_index(tmp_path)


def _tiny_ti2v():
    """Wan2.2 TI2V's shape in miniature: the residual VAE with 2x2 pixel patches (16x in space), a DiT over
    its latents, per-token timesteps (expand_timesteps)."""
    from diffusers import AutoencoderKLWan, WanPipeline

    base = _tiny_wan()
    torch.manual_seed(1)
    z = 8
    vae = AutoencoderKLWan(
        base_dim=8,
        decoder_base_dim=12,
        z_dim=z,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        is_residual=True,
        patch_size=2,
        in_channels=12,
        out_channels=12,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        latents_mean=torch.randn(z).tolist(),
        latents_std=(1 + torch.rand(z)).tolist(),
    ).eval()
    config = dict(base.transformer.config) | {"in_channels": z, "out_channels": z}
    transformer = type(base.transformer).from_config(config).eval()
    with torch.no_grad():
        for p in transformer.parameters():
            p.add_(0.05 * torch.randn_like(p))
    parts = {"tokenizer": base.tokenizer, "text_encoder": base.text_encoder, "scheduler": base.scheduler}
    return WanPipeline(vae=vae, transformer=transformer, expand_timesteps=True, **parts)


TI2V_SIZE = {"height": 64, "width": 64, "num_frames": 9}


@pytest.fixture(scope="module")
def ti2v(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ti2v") / "Wan2.2-TI2V-Tiny-Diffusers"
    pipe = _tiny_ti2v()
    pipe.save_pretrained(folder)
    return folder, pipe


def test_wan22_ti2v_text_to_video_matches_diffusers(ti2v):
    folder, pipe = ti2v
    reference = diffusers_frames(pipe, **TI2V_SIZE)
    gen = Generator(folder)
    assert gen.vae.cfg.spatial_factor == 16 and gen.spec["video"]["fps"] == 24
    assert reference.std() > 0.02
    frames = gen.generate(request(**TI2V_SIZE)).frames
    assert psnr(frames, reference) >= 40
    assert psnr(gen.generate(request(**TI2V_SIZE, seed=1)).frames, reference) < 30


def test_wan22_ti2v_image_to_video_matches_diffusers(ti2v):
    """diffusers' TI2V image path (WanImageToVideoPipeline with expand_timesteps: the image's latent frame at
    timestep 0) against tessera's image to video (a Condition: per-token time 0 on the image's latents)."""
    from diffusers import WanImageToVideoPipeline

    from tessera.conditioning import Condition

    folder, pipe = ti2v
    parts = ("tokenizer", "text_encoder", "vae", "scheduler", "transformer")
    i2v = WanImageToVideoPipeline(
        **{name: getattr(pipe, name) for name in parts},
        image_encoder=None,
        image_processor=None,
        expand_timesteps=True,
    )
    rows, cols = np.mgrid[0:64, 0:64]
    image = np.stack([rows * 4, cols * 4, np.full_like(rows, 90)], axis=-1).astype(np.uint8)
    image[20:40, 24:44] = (230, 40, 40)
    reference = diffusers_frames(i2v, image=Image.fromarray(image), **TI2V_SIZE)
    gen = Generator(folder)
    frames = gen.generate(request(**TI2V_SIZE, conditions=(Condition(image),))).frames
    assert psnr(frames, reference) >= 40
    assert psnr(gen.generate(request(**TI2V_SIZE)).frames, reference) < 30  # the image is what matches


def test_bf16_offload_and_vae_tiles(wan):
    folder, reference = wan
    gen = Generator(folder, dtype="bf16", offload_text=True)
    assert gen.dit.blocks[0].attn1.to_q.weight.dtype == torch.bfloat16
    fp32_parts = [name for name, p in gen.dit.named_parameters() if p.dtype == torch.float32]
    assert fp32_parts and all(("time_embedder" in n or "norm" in n or "scale_shift" in n) for n in fp32_parts)
    # diffusers' own bf16 transformer lands 34 dB from its fp32 video; tessera's bf16 31 dB (measured)
    assert psnr(gen.generate(request()).frames, reference) >= 28
    whole = Generator(folder).generate(request(height=64, width=64)).frames
    one_tile = Generator(folder, vae_tile=64).generate(request(height=64, width=64)).frames
    assert np.array_equal(one_tile, whole)
    tiled = Generator(folder, vae_tile=32).generate(request(height=64, width=64)).frames
    assert not np.array_equal(tiled, whole) and psnr(tiled, whole / 255) >= 20  # a random VAE is not local
    with pytest.raises(ValueError, match="multiple of the VAE's spatial factor"):
        Generator(folder, vae_tile=12)
    with pytest.raises(ValueError, match="dtype"):
        Generator(folder, dtype="int8")


def test_a_model_too_large_for_the_machine_is_refused_before_loading(wan, monkeypatch):
    import tessera.weights

    pages = {"SC_AVPHYS_PAGES": 10, "SC_PAGE_SIZE": 4096}  # 40 kB free
    monkeypatch.setattr(tessera.weights.os, "sysconf", lambda name: pages[name])
    with pytest.raises(ValueError, match=r"GiB in bfloat16, but cpu has 0\.0 GiB free"):
        Generator(wan[0], dtype="bf16")
