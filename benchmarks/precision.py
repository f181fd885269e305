"""bf16 autocast against float32: one training step of the world DiT and of the world VAE, on this machine.

The named baseline, measured in the same run, is the float32 step; the ratio fp32 / bf16 is the speed-up
that loop.precision=bf16 gives, and the last line says what loop.precision=auto picks here
(tessera/train/optim.py: bf16 on CUDA and on CPUs with AVX512-BF16 or AMX, fp32 elsewhere). A step is
forward, loss, backward and AdamW on a ready random batch (the models' own sizes, random weights): the
DiT at the preset's clip geometry with caption-length text, the VAE on the preset's crop.

    python benchmarks/precision.py [--dit-preset dit-world-cpu] [--vae-preset vae-world-cpu-objects]
                                   [--dit-batch 8] [--vae-batch 4] [--steps 5] [--device auto]
"""

from __future__ import annotations

import argparse

import torch

from tessera.config import LoopConfig
from tessera.diffusion.flow import TIME_SCALE
from tessera.machine import device_name, seconds_per_call
from tessera.models.dit import DiT
from tessera.models.vae import VideoVAE
from tessera.presets import load_config
from tessera.train.optim import autocast, build_optimizer, resolve_device, use_bf16

CAPTION_TOKENS = 48  # about an e5+minilm caption of the world


def dit_step(preset: str, batch: int, device: torch.device):
    cfg = load_config(preset, [])
    model = DiT(cfg.model).to(device)
    model.init_weights()
    optimizer = build_optimizer(model, cfg.optim)
    g = torch.Generator().manual_seed(0)
    sf, tf = 4, 4  # the world VAE's compression
    shape = (batch, cfg.model.in_channels, (cfg.data.num_frames - 1) // tf + 1)
    x = torch.randn(*shape, cfg.data.height // sf, cfg.data.width // sf, generator=g).to(device)
    text = torch.randn(batch, CAPTION_TOKENS, cfg.model.text_dim, generator=g).to(device)
    t = (torch.rand(batch, generator=g) * TIME_SCALE).to(device)
    desc = f"DiT {preset} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M), batch {batch}"

    def step(precision: str) -> None:
        with autocast(LoopConfig(precision=precision), device):
            v = model(x, t, text)
        (v.float() - x).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return desc + f", {tuple(x.shape[2:])} latents", step


def vae_step(preset: str, batch: int, device: torch.device):
    cfg = load_config(preset, [])
    model = VideoVAE(cfg.model).to(device)
    optimizer = build_optimizer(model, cfg.optim)
    side = cfg.data.crop or cfg.data.height
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, 3, cfg.data.num_frames, side, side, generator=g) * 2 - 1).to(device)
    desc = f"VAE {preset} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M), batch {batch}"

    def step(precision: str) -> None:
        with autocast(LoopConfig(precision=precision), device):
            recon, mean, logvar = model(x)
        ((recon.float() - x).abs().mean() + 1e-6 * mean.float().square().mean()).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return desc + f", {cfg.data.num_frames}x{side}x{side} clips", step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dit-preset", default="dit-world-cpu")
    ap.add_argument("--vae-preset", default="vae-world-cpu-objects")
    ap.add_argument("--dit-batch", type=int, default=8)
    ap.add_argument("--vae-batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    print(f"device: {device_name(device)}")
    for desc, step in (
        dit_step(args.dit_preset, args.dit_batch, device),
        vae_step(args.vae_preset, args.vae_batch, device),
    ):
        fp32 = seconds_per_call(lambda: step("fp32"), args.steps, device)  # noqa: B023 (called right here)
        bf16 = seconds_per_call(lambda: step("bf16"), args.steps, device)  # noqa: B023
        print(desc)
        print(f"  baseline fp32: {fp32 * 1000:.0f} ms/step   bf16 autocast: {bf16 * 1000:.0f} ms/step")
        print(f"  ratio fp32 / bf16: {fp32 / bf16:.2f}")
    print(f"loop.precision=auto picks {'bf16' if use_bf16(LoopConfig(), device) else 'fp32'} here")


if __name__ == "__main__":
    main()
