"""Speed of one DiT training step (`train_dit.training_loss` + `apply_gradients`) on this machine.

The step draws its batch from a latent cache (latents and caption tokens, on the CPU), picks captions, times
and conditioning tasks, noises, runs the DiT forward and backward, clips, steps AdamW and updates the EMA.
The named baseline, measured in the same run, is the DiT's forward, backward and AdamW step alone on a batch
already on the device: the ratio step / baseline is what the data path and the bookkeeping add. The cache
holds random latents and caption tokens of the preset's geometry, so no VAE or text encoder is needed.

    python benchmarks/train_step.py [--preset dit-world] [--batch 128] [--steps 20] [--device auto]
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from tessera.data.buckets import config_buckets
from tessera.diffusion.flow import TIME_SCALE
from tessera.machine import device_name, seconds_per_call
from tessera.models.dit import DiT
from tessera.presets import load_config
from tessera.train.latent_cache import CACHE_FORMAT, LatentCache
from tessera.train.optim import apply_gradients, autocast, build_optimizer, resolve_device
from tessera.train.train_dit import training_loss

SPATIAL, TEMPORAL = 4, 4  # the world VAE's compression (VAE_SIZES["world"])
CAPTION_TOKENS = 48  # about an e5+minilm caption of the world


def random_cache(folder: Path, cfg, clips: int) -> LatentCache:
    """A cache folder of `clips` random latents of the preset's first bucket, two random captions each."""
    bucket = config_buckets(cfg.data)[0]
    shape = (
        cfg.model.in_channels,
        (bucket.num_frames - 1) // TEMPORAL + 1,
        bucket.height // SPATIAL,
        bucket.width // SPATIAL,
    )
    g = torch.Generator().manual_seed(0)
    save_file(
        {f"latents/{bucket.name}": torch.randn(clips, *shape, generator=g).half()},
        str(folder / "latents.safetensors"),
    )
    captions = 2 * clips
    save_file(
        {
            "tokens": torch.randn(captions * CAPTION_TOKENS, cfg.model.text_dim, generator=g).half(),
            "offsets": torch.arange(captions + 1, dtype=torch.int64) * CAPTION_TOKENS,
            "null": torch.randn(2, cfg.model.text_dim, generator=g).half(),
        },
        str(folder / "text.safetensors"),
    )
    index = {
        "format": CACHE_FORMAT,
        "fingerprint": {},
        "clips": [
            {"key": str(i), "bucket": bucket.name, "row": i, "captions": [2 * i, 2 * i + 1]}
            for i in range(clips)
        ],
        "texts": [""] * captions,
    }
    (folder / "index.json").write_text(json.dumps(index))
    return LatentCache(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="dit-world")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    cfg = load_config(args.preset, [f"loop.batch_size={args.batch}", f"loop.device={device}"])
    torch.manual_seed(0)
    model = DiT(cfg.model).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = build_optimizer(model, cfg.optim)

    with tempfile.TemporaryDirectory() as tmp:
        cache = random_cache(Path(tmp), cfg, clips=max(256, args.batch))
        clips = list(range(args.batch))
        step = [0]

        def full_step() -> None:
            step[0] += 1
            loss = training_loss(model, cache, cfg, step[0], clips, device)
            apply_gradients(loss, model, ema, optimizer, cfg.optim, cfg.loop, step[0])

        x = cache.latent_batch(clips).to(device).float()
        text = cache.text_batch([2 * c for c in clips])
        tokens, mask = text.tokens.to(device), text.mask.to(device)
        t = torch.rand(args.batch, device=device) * TIME_SCALE

        def baseline() -> None:
            with autocast(cfg.loop, device):
                v = model(x, t, tokens, mask)
            (v.float() - x).pow(2).mean().backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        base = seconds_per_call(baseline, args.steps, device)
        full = seconds_per_call(full_step, args.steps, device)
    print(f"device: {device_name(device)}")
    print(
        f"preset {args.preset}, batch {args.batch}, {cfg.data.height}x{cfg.data.width}x{cfg.data.num_frames}"
    )
    print(f"baseline (DiT forward + backward + AdamW on a ready batch): {base * 1000:.1f} ms/step")
    print(f"training step (train_dit: data path, tasks, clip, EMA):      {full * 1000:.1f} ms/step")
    print(f"ratio step / baseline: {full / base:.2f}")


if __name__ == "__main__":
    main()
