"""From which noise level does a DiT make a video? Real latents noised to t0, then sampled back to 0.

    python benchmarks/noise_ladder.py MODEL_DIR CACHE_DIR [--num 8] [--fresh 8] [--sheet ladder.png]

For each start time t0 the clips' true latents are noised to t0 with one fixed noise and sampled to 0 with
the model's default solver, steps, shift and guidance (as an edit at strength 1 - t0: conditioning.py's
fractional mask), then decoded. Reported per t0: the latent MSE of the one-step x0 prediction at t0 (the
baseline, measured in the same run: the model's best guess of the mean, no sampling) and of the sampled
result, and the sampled video's PSNR against the clips' VAE round trip (what a perfect DiT would give back).
A DiT that has learnt the data gives back videos that keep their objects up to high t0; where the PSNR
falls is where its samples stop being the world. Clips come from the cache the DiT was trained on
(CACHE_DIR, its first --num clips of one geometry) and, with --fresh N, from N new world scenes (seeds from
10^6 on, same split and size) encoded here: the two rows at equal t0 tell underfitting (they agree) from
overfitting (fresh ones are worse). The device is printed; the times are the CPU's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tessera.config import DataConfig
from tessera.data.dataset import make_dataset
from tessera.data.video_io import to_frames
from tessera.diffusion.flow import TIME_SCALE
from tessera.diffusion.sampler import guided, sample
from tessera.diffusion.schedule import sigmas
from tessera.eval.reconstruction import psnr
from tessera.machine import device_name
from tessera.models.dit import token_times
from tessera.models.text import TextEmbedding, build_text_encoder
from tessera.train.latent_cache import LatentCache
from tessera.weights import load_model_dir

TIMES = (0.5, 0.7, 0.8, 0.9, 0.95, 1.0)


def cached_clips(cache: LatentCache, num: int) -> tuple[torch.Tensor, TextEmbedding, TextEmbedding]:
    first = cache.clips[0]["bucket"]  # latents are stored per bucket: clips of one geometry
    clips = [c for c, clip in enumerate(cache.clips) if clip["bucket"] == first][:num]
    own = [cache.clips[c]["captions"][0] for c in clips]
    return cache.latent_batch(clips).float(), cache.text_batch(own), cache.text_batch([None] * len(clips))


@torch.no_grad()
def fresh_clips(vae, spec: dict, num: int) -> tuple[torch.Tensor, TextEmbedding, TextEmbedding]:
    video = spec["video"]
    cfg = DataConfig(
        height=video["height"],
        width=video["width"],
        num_frames=video["num_frames"],
        num_scenes=num,
        seed=10**6,
        languages=("en",),
    )
    items = [make_dataset(cfg)[i] for i in range(num)]
    latents = torch.cat([vae.encode_latents(item["video"][None]) for item in items])  # (N, C, T, h, w)
    encoder = build_text_encoder(spec["text_encoder"])
    own = encoder.encode([item["captions"]["en"][0] for item in items])
    return latents, own, encoder.encode([spec["sample"]["negative_prompt"]] * num)


def velocity(dit, text: TextEmbedding):
    def fn(x: torch.Tensor, t_field: torch.Tensor) -> torch.Tensor:
        return dit(x, token_times(t_field, dit.cfg.patch_size) * TIME_SCALE, text.tokens, text.mask)

    return fn


@torch.no_grad()
def ladder(dit, vae, spec: dict, x0: torch.Tensor, own: TextEmbedding, null: TextEmbedding, name: str):
    s = spec["sample"]
    fn = guided(velocity(dit, own), velocity(dit, null), s["guidance"])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    truth = vae.decode_latents(x0)  # (N, 3, F, H, W): the round trip, what a perfect DiT gives back
    rows, strips = [], [truth]
    for t0 in TIMES:
        x_t = (1 - t0) * x0 + t0 * noise
        one_step = x_t - t0 * velocity(dit, own)(x_t, torch.full((len(x0), 1, 1, 1, 1), t0))
        # the element clock runs t0 * t over the model's schedule: the edit mode's fractional mask
        mask = torch.full((len(x0), 1, *x0.shape[2:]), 1 - t0)
        out = sample(fn, noise, sigmas(s["steps"], shift=s["shift"]), solver=s["solver"], clean=x0, mask=mask)
        video = vae.decode_latents(out)
        rows.append(
            (
                name,
                t0,
                (one_step - x0).square().mean().item(),
                (out - x0).square().mean().item(),
                psnr(video.clamp(-1, 1), truth.clamp(-1, 1)),
            )
        )
        strips.append(video)
    return rows, strips


def sheet(strips: list[torch.Tensor], path: str) -> None:
    """Clip 0 of each strip (round trip, then each t0), five frames across, one row per strip."""
    rows = []
    for video in strips:
        frames = to_frames(video[0])  # (F, H, W, 3)
        rows.append(np.concatenate(list(frames[np.linspace(0, len(frames) - 1, 5).round().astype(int)]), 1))
    from PIL import Image

    Image.fromarray(np.concatenate(rows, 0)).save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("cache")
    ap.add_argument("--num", type=int, default=8, help="cached training clips (the cache's first N)")
    ap.add_argument("--fresh", type=int, default=0, help="new world scenes, encoded here")
    ap.add_argument("--sheet", default="", help="a PNG of clip 0: round trip, then each start time")
    args = ap.parse_args()
    tic = time.perf_counter()
    dit, vae, spec = load_model_dir(args.model)
    rows, strips = ladder(dit, vae, spec, *cached_clips(LatentCache(args.cache), args.num), "training")
    if args.fresh:
        rows += ladder(dit, vae, spec, *fresh_clips(vae, spec, args.fresh), "fresh")[0]
    s = spec["sample"]
    print(f"device: {device_name('cpu')}; model: {args.model}; {time.perf_counter() - tic:.0f} s")
    print(f"sampling: {s['solver']}, {s['steps']} steps, shift {s['shift']}, guidance {s['guidance']}")
    print("| clips | t0 | x0 MSE, one step (baseline) | x0 MSE, sampled | PSNR vs round trip (dB) |")
    print("| --- | --- | --- | --- | --- |")
    for name, t0, one, sampled, db in rows:
        print(f"| {name} | {t0} | {one:.4f} | {sampled:.4f} | {db:.1f} |")
    if args.sheet:
        sheet(strips, args.sheet)
        print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
