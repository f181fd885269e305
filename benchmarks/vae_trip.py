"""The VAE's ceiling on adherence: the scorer on world footage and on its VAE round trip, by criterion.

    python benchmarks/vae_trip.py VAE_DIR [VAE_DIR ...] [--num 16] [--size 128] [--world whole|plain]

VAE_DIR is an exported VAE (`tessera train-vae`: config.json + vae.safetensors) or a model folder (its VAE).
For the held-out scenes of `tessera eval run`'s prompts (seeds 2,000,000 onwards, short English captions),
drawn from the part of the world `--world` names at `--size` pixels square, each clip is rendered, scored
against its caption (the baseline: the footage, what a perfect model scores), then encoded and decoded by
each VAE and scored again. Whatever a DiT generates is decoded by the VAE, so the round trip's adherence is
about the most any DiT over those latents can reach. Also printed: the round trip's PSNR and the device.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch

from tessera.data.video_io import to_frames, to_video_tensor
from tessera.eval.adherence import EVAL_SEED
from tessera.eval.reconstruction import psnr
from tessera.eval.scorer import score
from tessera.machine import device_name
from tessera.weights import load_vae_dir
from tessera.world.captions import caption
from tessera.world.prompts import parse_prompt
from tessera.world.render import render
from tessera.world.scene import SCENE_MIXES, sample_scene

FRAMES, FPS = 17, 8  # the shipped model's default request


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vaes", nargs="+", help="exported VAE folders")
    ap.add_argument("--num", type=int, default=16, help="held-out scenes")
    ap.add_argument("--size", type=int, default=128, help="square canvas side in pixels")
    ap.add_argument("--world", choices=tuple(SCENE_MIXES), default="whole", help="the part of the world")
    args = ap.parse_args()
    size, mix = args.size, SCENE_MIXES[args.world]
    vaes = {path: load_vae_dir(path).eval() for path in args.vaes}
    totals: dict[str, list[float]] = defaultdict(list)
    criteria: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    psnrs: dict[str, list[float]] = defaultdict(list)
    for i in range(args.num):
        seed = EVAL_SEED + i
        scene = sample_scene(
            seed, height=size, width=size, fps=FPS, num_frames=FRAMES, split="heldout", mix=mix
        )
        clip = render(scene).video  # (F, H, W, 3) uint8
        parsed = parse_prompt(
            caption(scene, lang="en", detail="short", seed=seed),
            height=size,
            width=size,
            fps=FPS,
            num_frames=FRAMES,
        )
        videos = {"footage": clip}
        for path, vae in vaes.items():
            x = to_video_tensor(clip)[None]  # (1, 3, F, H, W) in [-1, 1]
            trip = vae.decode_latents(vae.encode_latents(x))
            psnrs[path].append(psnr(trip, x))
            videos[path] = to_frames(trip[0])
        for name, frames in videos.items():
            s = score(frames, parsed.scene, stated=parsed.stated)
            totals[name].append(s.total)
            for criterion, value in s.criteria.items():
                criteria[name][criterion].append(value)
    print(f"device: {device_name('cpu')}; held-out scenes: {args.num}, {size}x{size}, world: {args.world}")
    names = sorted({c for per in criteria.values() for c in per})
    print("| video | adherence | PSNR dB | " + " | ".join(names) + " |")
    print("| --- " * (3 + len(names)) + "|")
    for name in totals:
        cells = [f"{np.mean(criteria[name][c]):.2f}" if criteria[name][c] else "-" for c in names]
        db = f"{np.mean(psnrs[name]):.2f}" if name in psnrs else "-"
        print(f"| {name} | {np.mean(totals[name]):.3f} | {db} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
