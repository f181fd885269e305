"""Flicker: how much videos change from frame to frame, and where, against the footage they should match.

    python benchmarks/flicker.py [MODEL_DIR ...] [--num 8]

For N held-out world scenes (seeds 3,000,000 onwards, as benchmarks/modes.py) each model folder (default:
the shipped model) makes three videos: the footage's VAE round trip, a plain generation from the scene's
caption and image to video from its frame 0. For each it prints the mean absolute change between consecutive
frames (0..255 levels), by step (frame f -> f + 1, averaged over scenes), its median, and the ratio of the
mean change to the footage's (the baseline, rendered in the same run: 1 is as steady as the world). For the
round trip also the temporal error: the mean absolute error of its frame-to-frame change against the
footage's (temporal.change_error, in levels), 0 when it changes exactly as the footage does.

The world VAE decodes latent frame 0 to video frame 0 and each later latent to 4 frames (1-4, 5-8, ...), so
a decoder that jumps at the start of each latent slot shows as a period-4 pattern in the steps. Models are
compared on the same scenes, seeds and requests; two model folders with the same DiT and encoder (a new
decoder, `weights.with_decoder`) decode the very same latents, so their difference is the decoder's alone.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch

from tessera.conditioning import Condition
from tessera.data.video_io import to_frames, to_video_tensor
from tessera.eval import temporal
from tessera.machine import device_name
from tessera.pipeline import GenerationRequest, Generator
from tessera.world.captions import caption
from tessera.world.render import render
from tessera.world.scene import sample_scene


def round_trip(gen: Generator, clip: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return to_frames(gen.vae.decode_latents(gen.vae.encode_latents(to_video_tensor(clip)[None]))[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=[None], help="model folders (default: the shipped model)")
    ap.add_argument("--num", type=int, default=8, help="held-out scenes")
    args = ap.parse_args()
    print(f"device: {device_name()}; {args.num} held-out scenes, 17 frames at 128x128")
    gens = {str(m or "shipped"): Generator(m) for m in args.models}
    steps: dict[str, list[np.ndarray]] = {"footage": []}
    errors: dict[str, list[float]] = {}
    for i in range(args.num):
        scene = sample_scene(3_000_000 + i, height=128, width=128, num_frames=17, split="heldout")
        clip = render(scene).video
        steps["footage"].append(temporal.frame_jumps(clip))
        request = GenerationRequest(caption(scene, seed=i), seed=i)
        for name, gen in gens.items():
            trip = round_trip(gen, clip)
            errors.setdefault(f"{name}: round trip", []).append(temporal.change_error(trip, clip))
            videos = {
                "round trip": trip,
                "plain": gen.generate(request).frames,
                "image to video": gen.generate(replace(request, conditions=(Condition(clip[0]),))).frames,
            }
            for kind, video in videos.items():
                steps.setdefault(f"{name}: {kind}", []).append(temporal.frame_jumps(video))
    base = float(np.mean(steps["footage"]))
    width = max(len(k) for k in steps)
    print(f"{'video':<{width}}  median  mean  x footage  temporal error  mean change by step (f -> f + 1)")
    for key, rows in steps.items():
        by_step = np.mean(rows, axis=0)
        err = f"{np.mean(errors[key]):14.2f}" if key in errors else " " * 14
        profile = " ".join(f"{v:4.1f}" for v in by_step)
        print(
            f"{key:<{width}}  {np.median(rows):6.2f}  {by_step.mean():4.2f}  {by_step.mean() / base:9.2f}"
            f"  {err}  {profile}"
        )


if __name__ == "__main__":
    main()
