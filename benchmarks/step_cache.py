"""Step caching (first-block residual cache, models/dit.py StepCache): speed-up against quality.

    python benchmarks/step_cache.py [--model DIR] [--steps 50] [--thresholds 0.05 0.1 0.2] [--device cpu]

Generates the same prompt and seed without the cache (the baseline, measured in the same run) and at each
threshold, and prints per threshold: the share of DiT calls that ran the first block only, the time, the
speed-up against the baseline and the PSNR of the video against the baseline's. Default: the shipped model;
`--model` takes any model folder, a diffusers Wan folder included (with `--device cuda --dtype bf16`).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tessera.machine import device_name
from tessera.pipeline import GenerationRequest, Generator

PROMPT = "a large red circle moves to the right and a small blue star falls"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    err = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(err, 1e-12)))


def timed(gen: Generator, request: GenerationRequest, repeats: int):
    times, video = [], None
    for _ in range(repeats):
        if gen.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        video = gen.generate(request)
        if gen.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), video


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--prompt", default=PROMPT)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "fp16"))
    args = ap.parse_args()
    gen = Generator(args.model, device=args.device, dtype=args.dtype)
    request = GenerationRequest(args.prompt, steps=args.steps)
    gen.generate(GenerationRequest(args.prompt, steps=1))  # warm-up
    base_time, base = timed(gen, request, args.repeats)
    print(f"device: {device_name(gen.device)}; model: {gen.model_dir}; {args.steps} steps, {args.dtype}")
    print("| threshold | DiT calls skipped | seconds | speed-up | PSNR vs no cache |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| off (baseline) | 0.00 | {base_time:.2f} | 1.00x | inf |")
    for threshold in args.thresholds:
        cached = GenerationRequest(args.prompt, steps=args.steps, step_cache=threshold)
        seconds, video = timed(gen, cached, args.repeats)
        skipped = video.info["blocks_skipped"]
        ratio, quality = base_time / seconds, psnr(video.frames, base.frames)
        print(f"| {threshold:g} | {skipped:.2f} | {seconds:.2f} | {ratio:.2f}x | {quality:.1f} dB |")


if __name__ == "__main__":
    main()
