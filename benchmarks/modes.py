"""Measure every prompting mode (tessera/modes.py) on a model and world clips: preservation and seams.

    python benchmarks/modes.py [--model DIR] [--num 8] [--steps 20]

For N held-out world scenes it reports, as means over scenes:
- i2v: PSNR of output frame 0 to the input image (the latent is kept; this is the VAE round trip);
- extend forward / backward, connect, loop: the frame difference (mean absolute, 0..255 levels) at each seam,
  where the model's continuation meets the given frames (pasted back exactly). Baselines from the same run:
  the footage's own median and largest frame-to-frame change, and the VAE round trip's difference to the
  footage (a continuation decoded from kept latents differs from the pasted originals by about this much);
- edit at strengths 0.4 / 0.6 / 0.8: mean absolute difference to the input video, against a plain generation;
- long video: the frame difference at the first window join, against its median frame difference.
Device is printed.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from tessera import modes
from tessera.conditioning import Condition
from tessera.data.captions import caption
from tessera.data.dataset import to_frames, to_video_tensor
from tessera.data.render import render
from tessera.data.world import sample_scene
from tessera.machine import device_name
from tessera.pipeline import GenerationRequest, Generator


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def seam_jump(frames: np.ndarray, seam: int) -> float:
    """Mean absolute change (0..255 levels) between frames seam-1 and seam."""
    return float(modes.frame_jumps(frames[seam - 1 : seam + 1])[0])


def vae_mad(gen: Generator, clip: np.ndarray) -> float:
    with torch.inference_mode():
        back = to_frames(gen.vae.decode_latents(gen.vae.encode_latents(to_video_tensor(clip)[None]))[0])
    return float(np.abs(back.astype(float) - clip).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--num", type=int, default=8)
    ap.add_argument("--steps", type=int, default=None)
    args = ap.parse_args()
    gen = Generator(args.model)
    r0 = gen.resolve(GenerationRequest("x"))
    rows: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    start = time.perf_counter()
    for i in range(args.num):
        size = dict(height=r0.height, width=r0.width, num_frames=r0.num_frames, split="heldout")
        scene, other = sample_scene(3_000_000 + i, **size), sample_scene(3_100_000 + i, **size)
        clip, clip2 = render(scene).video, render(other).video
        r = GenerationRequest(caption(scene, seed=i), seed=i, steps=args.steps)
        add("footage median jump", float(np.median(modes.frame_jumps(clip))))
        add("footage max jump", float(modes.frame_jumps(clip).max()))
        add("VAE round trip MAD (what pasting given frames back undoes)", vae_mad(gen, clip))
        i2v = gen.generate(replace(r, conditions=(Condition(clip[0]),)))
        add("i2v frame-0 PSNR dB", psnr(i2v.frames[0], clip[0]))
        fwd = modes.extend(gen, r, clip, "forward")
        add("extend forward seam jump", seam_jump(fwd.frames, len(clip)))
        bwd = modes.extend(gen, r, clip, "backward")
        start_b = bwd.info["given"][0][0]
        add("extend backward seam jump", seam_jump(bwd.frames, start_b))
        con = modes.connect(gen, r, clip, clip2)
        (_, a_end), (b_start, _) = con.info["given"]
        add("connect seam jump (A end)", seam_jump(con.frames, a_end))
        add("connect seam jump (B start)", seam_jump(con.frames, b_start))
        lp = modes.loop(gen, r)
        wrapped = np.concatenate([lp.frames, lp.frames[:1]])
        add("loop seam jump (last -> first)", seam_jump(wrapped, len(lp.frames)))
        add("loop median jump inside", float(np.median(modes.frame_jumps(lp.frames))))
        plain = gen.generate(r).frames
        add("plain generation MAD to input", float(np.abs(plain.astype(float) - clip).mean()))
        for s in (0.4, 0.6, 0.8):
            ed = modes.edit(gen, r, clip, s)
            add(f"edit {s} MAD to input", float(np.abs(ed.frames.astype(float) - clip).mean()))
        long = modes.long_video(gen, r, 3 * r0.num_frames)
        add("long video jump at the first join", seam_jump(long.frames, r0.num_frames))
        add("long video median jump", float(np.median(modes.frame_jumps(long.frames))))
    print(
        f"device: {device_name(gen.device)}; model: {gen.model_dir}; scenes: {args.num}; "
        f"{time.perf_counter() - start:.0f} s"
    )
    print("| measure | mean | min | max |\n| --- | --- | --- | --- |")
    for name, values in rows.items():
        v = np.asarray(values)
        print(f"| {name} | {v.mean():.2f} | {v.min():.2f} | {v.max():.2f} |")


if __name__ == "__main__":
    main()
