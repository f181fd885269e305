"""tessera against diffusers in one process, on Wan2.1 T2V-1.3B and Wan2.2 TI2V-5B sizes with random weights.

A random diffusers WanPipeline of the chosen configuration is built here (nothing is downloaded) and saved
with save_pretrained; each measure loads both sides from that folder and runs them on the same inputs in the
same dtype. A row prints tessera's time, diffusers' time, the ratio diffusers / tessera (above 1: tessera is
faster) and how far the two outputs are apart, which shows that both sides did the same computation:

- DiT forward: tessera's DiT (convert/wan_dit.py) against WanTransformer3DModel on one latent video, a
  timestep (one per token for TI2V, as its pipeline runs it) and 512 text tokens; median of --repeats calls
  after a warm-up, under torch.inference_mode.
- whole video: Generator(folder) against WanPipeline.from_pretrained(folder): same prompt, negative prompt,
  seed and steps, UniPC, guidance 5, frames out; PSNR between the two videos. On both sides the text encoder
  is a tiny random UMT5 (its width the DiT's text width) with a word-level tokenizer: it is not measured.
  (diffusers' WanTransformer3DModel is read from the folder by `diffusers_transformer`, as from_pretrained
  would, because its from_pretrained needs accelerate, which tessera does not depend on.)
- VAE decode: VideoVAE.decode_latents against AutoencoderKLWan.decode of the same latents, in float32 as both
  pipelines run their VAE, at the clip's length and at about twice it; on CUDA also the peak memory above
  what the model and latents hold, which for a streaming decoder stays flat as the clip grows.

--reduced (the default without CUDA) keeps each configuration's structure at small sizes (2 layers, width
256, an 8x8 latent grid, 9 frames, 4 steps) so a run ends in about a minute on two CPU cores; the full sizes
(480x832x81 and 704x1280x121, 50 steps) are for a GPU.

    python benchmarks/wan_speed.py --config wan2.1-1.3b --reduced
    python benchmarks/wan_speed.py --config wan2.2-5b --device cuda --dtype bf16 [--steps 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from diffusers.utils import logging as diffusers_logging
from transformers.utils import logging as transformers_logging

from tessera.convert.files import load_safetensors
from tessera.convert.wan_dit import load_wan_dit
from tessera.convert.wan_vae import load_wan_vae
from tessera.machine import device_name
from tessera.models.dit import DIT_SIZES, DiTConfig
from tessera.models.vae import VAE_SIZES, VAEConfig
from tessera.pipeline import GenerationRequest, Generator

PROMPT, NEGATIVE = "a red ball bounces on the left", "blue star slowly"
GUIDANCE = 5.0
TEXT_TOKENS = 512  # Wan's UMT5 pads every prompt to 512 tokens, and its DiT attends to all of them
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


@dataclass(frozen=True)
class Setup:
    dit: DiTConfig
    vae: VAEConfig
    height: int
    width: int
    num_frames: int
    shift: float  # the flow_shift of the checkpoint's UniPC scheduler
    expand_timesteps: bool  # TI2V: a timestep per token

    @property
    def latent_shape(self) -> tuple[int, int, int, int, int]:
        sf = self.vae.spatial_factor
        num_latent_frames = (self.num_frames - 1) // self.vae.temporal_factor + 1
        return (1, self.vae.z_dim, num_latent_frames, self.height // sf, self.width // sf)


WAN21_DIT = DIT_SIZES["wan2.1-t2v-1.3b"]
WAN22_DIT = replace(WAN21_DIT, num_heads=24, ffn_dim=14336, in_channels=48, out_channels=48)  # TI2V-5B
SETUPS = {
    "wan2.1-1.3b": Setup(WAN21_DIT, VAE_SIZES["wan2.1"], 480, 832, 81, shift=3.0, expand_timesteps=False),
    "wan2.2-5b": Setup(WAN22_DIT, VAE_SIZES["wan2.2"], 704, 1280, 121, shift=5.0, expand_timesteps=True),
}


def reduced(setup: Setup) -> Setup:
    """The same structure at CPU sizes: 2 blocks of 2 heads x 128, a narrow VAE, an 8x8 latent grid."""
    dit = replace(setup.dit, num_heads=2, ffn_dim=512, num_layers=2, text_dim=64)
    vae = replace(setup.vae, base_dim=16, num_res_blocks=1)
    if vae.decoder_base_dim is not None:  # Wan2.2's decoder is wider than its encoder
        vae = replace(vae, decoder_base_dim=24)
    side = 8 * vae.spatial_factor
    return replace(setup, dit=dit, vae=vae, height=side, width=side, num_frames=9)


def save_random_pipeline(setup: Setup, folder: Path, device: torch.device) -> None:
    """A diffusers WanPipeline of random weights in `setup`'s sizes, saved to `folder`."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

    words = sorted(set(f"{PROMPT} {NEGATIVE}".split()))
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2} | {w: i + 3 for i, w in enumerate(words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    d, v, p = setup.dit, setup.vae, setup.vae.patch_size
    torch.manual_seed(0)
    with torch.device(device):  # random init where the measures run: far faster for the full sizes
        text_encoder = UMT5EncoderModel(
            UMT5Config(
                vocab_size=len(vocab), d_model=d.text_dim, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", pad_token_id=0,
                eos_token_id=1,
            )
        )  # fmt: skip
        transformer = WanTransformer3DModel(
            patch_size=d.patch_size, num_attention_heads=d.num_heads, attention_head_dim=d.head_dim,
            in_channels=d.in_channels, out_channels=d.out_channels, text_dim=d.text_dim, freq_dim=d.freq_dim,
            ffn_dim=d.ffn_dim, num_layers=d.num_layers, cross_attn_norm=d.cross_attn_norm, eps=d.eps,
            rope_max_seq_len=d.rope_max_seq_len,
        )  # fmt: skip
        vae = AutoencoderKLWan(  # diffusers counts channels after the p x p pixel patches
            base_dim=v.base_dim, decoder_base_dim=v.decoder_base_dim, z_dim=v.z_dim,
            dim_mult=list(v.dim_mult), num_res_blocks=v.num_res_blocks,
            temperal_downsample=list(v.temporal_downsample),
            latents_mean=list(v.latents_mean), latents_std=list(v.latents_std), is_residual=v.is_residual,
            in_channels=v.in_channels * p * p, out_channels=v.out_channels * p * p,
            patch_size=p if p > 1 else None, scale_factor_temporal=v.temporal_factor,
            scale_factor_spatial=v.spatial_factor,
        )  # fmt: skip
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=setup.shift
    )
    parts = (tokenizer, text_encoder, vae, scheduler, transformer)
    WanPipeline(*parts, expand_timesteps=setup.expand_timesteps).save_pretrained(folder)


def diffusers_transformer(folder: Path, device: torch.device, dtype: torch.dtype):
    """WanTransformer3DModel from a folder as from_pretrained(torch_dtype=dtype) gives it: weights in dtype
    but for the modules the class keeps in float32 (norms, time embedder, modulation tables)."""
    from diffusers import WanTransformer3DModel

    keep = set(WanTransformer3DModel._keep_in_fp32_modules)
    with torch.device(device):
        model = WanTransformer3DModel.from_config(WanTransformer3DModel.load_config(folder))
    state = {
        key: tensor.to(device, torch.float32 if keep & set(key.split(".")) else dtype)
        for key, tensor in load_safetensors(folder).items()
    }
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(calls: dict, repeats: int, device: torch.device, *, warm_up: bool = True) -> tuple[dict, dict]:
    """(median seconds, last result) per named call. The calls alternate, so a busy machine slows each side
    alike; a warm-up call each first pays for kernel selection and allocator growth."""
    if warm_up:
        for fn in calls.values():
            fn()
    seconds, results = {name: [] for name in calls}, {}
    for _ in range(repeats):
        for name, fn in calls.items():
            sync(device)
            tic = time.perf_counter()
            results[name] = fn()
            sync(device)
            seconds[name].append(time.perf_counter() - tic)
    return {name: statistics.median(s) for name, s in seconds.items()}, results


def peak_memory(fn, device: torch.device) -> int | None:
    """Peak CUDA bytes `fn()` allocates above what is held before it; None off CUDA (CPU peak RSS is not a
    reliable measure of one call)."""
    if device.type != "cuda":
        return None
    sync(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    sync(device)
    return torch.cuda.max_memory_allocated(device) - before


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """max |ours - reference| / max |reference|."""
    ours, reference = ours.float(), reference.float()
    return ((ours - reference).abs().max() / reference.abs().max()).item()


def psnr(frames: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of uint8 frames against float frames in [0, 1]."""
    err = np.mean((frames.astype(np.float64) / 255 - reference.astype(np.float64)) ** 2)
    return float(10 * np.log10(1 / max(err, 1e-12)))


def dit_forward(folder: Path, setup: Setup, device: torch.device, dtype: torch.dtype, repeats: int) -> dict:
    ours = load_wan_dit(folder / "transformer", device, dtype).eval()
    theirs = diffusers_transformer(folder / "transformer", device, dtype)
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(setup.latent_shape, generator=g).to(device, dtype)  # (1, C, T, h, w)
    num_tokens = math.prod(setup.latent_shape[2:]) // math.prod(setup.dit.patch_size)
    t = torch.full((1, num_tokens) if setup.expand_timesteps else (1,), 500.0, device=device)  # (B,) | (B, L)
    text = torch.randn(1, TEXT_TOKENS, setup.dit.text_dim, generator=g).to(device, dtype)  # (B, S, D_text)
    calls = {
        "tessera": lambda: ours(latents, t, text),
        "diffusers": lambda: theirs(latents, t, text, return_dict=False)[0],
    }
    with torch.inference_mode():
        seconds, out = timed(calls, repeats, device)
    check = f"max rel. diff {relative_error(out['tessera'], out['diffusers']):.1e}"
    return {"measure": f"DiT forward ({num_tokens} tokens, {DTYPE_NAMES[dtype]})", **seconds, "check": check}


def whole_video(
    folder: Path, setup: Setup, device: torch.device, dtype: torch.dtype, steps: int, repeats: int
) -> dict:
    from diffusers import WanPipeline

    progress = device.type == "cuda"  # the full sizes take minutes per video
    gen = Generator(folder, device=device, dtype=DTYPE_NAMES[dtype])  # the DiT in dtype, the VAE in fp32
    transformer = diffusers_transformer(folder / "transformer", device, dtype)
    pipe = WanPipeline.from_pretrained(folder, transformer=transformer).to(device)  # float32, as saved
    pipe.set_progress_bar_config(disable=not progress)
    size = {"height": setup.height, "width": setup.width, "num_frames": setup.num_frames}

    def tessera(num_steps: int) -> np.ndarray:
        request = GenerationRequest(
            PROMPT, negative_prompt=NEGATIVE, steps=num_steps, guidance=GUIDANCE, seed=0, **size
        )
        return gen.generate(request, progress=progress).frames  # (F, H, W, 3) uint8

    def diffusers(num_steps: int) -> np.ndarray:
        noise = torch.Generator().manual_seed(0)  # on the CPU, where tessera draws its noise
        out = pipe(PROMPT, NEGATIVE, **size, num_inference_steps=num_steps, guidance_scale=GUIDANCE,
                   generator=noise, output_type="np")  # fmt: skip
        return out.frames[0]  # (F, H, W, 3) in [0, 1]

    tessera(1), diffusers(1)  # warm-up at one step: a full-length warm-up would double the run
    calls = {"tessera": lambda: tessera(steps), "diffusers": lambda: diffusers(steps)}
    seconds, out = timed(calls, repeats, device, warm_up=False)
    size = f"{setup.num_frames}x{setup.height}x{setup.width}"
    measure = f"whole video ({size}, {steps} steps, DiT {DTYPE_NAMES[dtype]})"
    return {"measure": measure, **seconds, "check": f"PSNR {psnr(out['tessera'], out['diffusers']):.1f} dB"}


def vae_decode(folder: Path, setup: Setup, device: torch.device, repeats: int) -> list[dict]:
    from diffusers import AutoencoderKLWan

    ours = load_wan_vae(folder / "vae").to(device).eval()
    theirs = AutoencoderKLWan.from_pretrained(folder / "vae").to(device).eval()  # float32, as saved
    batch, z_dim, num_latent_frames, h, w = setup.latent_shape
    rows = []
    for length in (num_latent_frames, 2 * num_latent_frames - 1):
        g = torch.Generator().manual_seed(length)
        latents = torch.randn(batch, z_dim, length, h, w, generator=g).to(device)  # normalised, as sampled
        raw = ours.denormalize(latents)  # what WanPipeline hands AutoencoderKLWan.decode
        calls = {
            "tessera": lambda latents=latents: ours.decode_latents(latents),
            "diffusers": lambda raw=raw: theirs.decode(raw, return_dict=False)[0],
        }
        with torch.inference_mode():
            seconds, out = timed(calls, repeats, device)
            memory = {f"{name} memory": peak_memory(fn, device) for name, fn in calls.items()}
        num_frames = out["tessera"].shape[2]
        check = f"max rel. diff {relative_error(out['tessera'], out['diffusers']):.1e}"
        rows.append(
            {"measure": f"VAE decode ({num_frames} frames, fp32)", **seconds, "check": check, **memory}
        )
    return rows


def gib(num_bytes: int | None) -> str:
    return "n/a (CPU)" if num_bytes is None else f"{num_bytes / 2**30:.2f} GiB"


def print_table(rows: list[dict]) -> None:
    columns = ["measure", "tessera", "diffusers", "diffusers / tessera", "agreement", "peak memory"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        memory = ""
        if "tessera memory" in r:
            memory = f"{gib(r['tessera memory'])} / {gib(r['diffusers memory'])}"
        print(
            f"| {r['measure']} | {r['tessera']:.3f} s | {r['diffusers']:.3f} s | "
            f"{r['diffusers'] / r['tessera']:.2f} | {r['check']} | {memory} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=sorted(SETUPS), default="wan2.1-1.3b")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--reduced", action=argparse.BooleanOptionalAction, default=None, help="default: on CPU")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="default: bf16 on CUDA, else fp32")
    ap.add_argument("--steps", type=int, default=None, help="whole video (default: 50, or 4 reduced)")
    ap.add_argument("--repeats", type=int, default=3, help="DiT forward and VAE decode")
    ap.add_argument("--video-repeats", type=int, default=None, help="whole video (default: 1, or 3 reduced)")
    args = ap.parse_args()
    device = torch.device(args.device)
    is_reduced = device.type != "cuda" if args.reduced is None else args.reduced
    dtype = DTYPES[args.dtype or ("bf16" if device.type == "cuda" else "fp32")]
    steps = args.steps or (4 if is_reduced else 50)
    video_repeats = args.video_repeats or (3 if is_reduced else 1)
    setup = reduced(SETUPS[args.config]) if is_reduced else SETUPS[args.config]
    for library in (diffusers_logging, transformers_logging):  # loading bars and accelerate advice
        library.set_verbosity_error()
        library.disable_progress_bar()

    d = setup.dit
    print(f"device: {device_name(device)}")
    print(
        f"config: {args.config}{' (reduced)' if is_reduced else ''}, random weights: DiT {d.num_layers} "
        f"layers x {d.num_heads} heads x {d.head_dim}, ffn {d.ffn_dim}, text width {d.text_dim}; VAE base "
        f"{setup.vae.base_dim}, z {setup.vae.z_dim}, x{setup.vae.spatial_factor} space; "
        f"{setup.num_frames}x{setup.height}x{setup.width}"
    )
    print(
        "text encoder: a tiny random UMT5 with a word-level tokenizer on both sides (not what is measured); "
        "whole video: the DiT in the given dtype on both sides (tessera's text encoder too), the VAE in fp32"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "wan"
        save_random_pipeline(setup, folder, device)
        rows = [dit_forward(folder, setup, device, dtype, args.repeats)]
        rows.append(whole_video(folder, setup, device, dtype, steps, video_repeats))
        rows += vae_decode(folder, setup, device, args.repeats)
    print()
    print_table(rows)
    if device.type == "cuda":
        short, long = rows[-2]["tessera memory"], rows[-1]["tessera memory"]
        print(f"\ntessera VAE decode peak memory, long clip / short clip: {long / short:.2f} (flat is 1)")


if __name__ == "__main__":
    main()
