"""Generation speed of a model folder (default: the shipped model) on this machine.

Measures `Generator.generate` with the model's defaults (the `tessera generate` path), split into text
encoding, sampling and VAE decoding, and compares it with a named baseline run in the same process: Euler
with twice the steps, which reaches about the error of 2nd-order DPM++(2M) at the default steps
(tests/test_diffusion.py measures that on an analytic flow). Prints the device and the ratio.

    python benchmarks/generate.py [--model DIR] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tessera.machine import device_name
from tessera.pipeline import GenerationRequest, Generator

PROMPT = "a large red circle moves to the right on a white background"


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    gen = Generator(args.model, device=args.device)
    request = gen.resolve(GenerationRequest(PROMPT, seed=0))
    gen.generate(request)  # warm-up: first calls pay for kernel selection

    text = timed(lambda: gen.text_encoder.encode([PROMPT, ""]), args.repeats)
    total = timed(lambda: gen.generate(request), args.repeats)
    latents = torch.randn(gen.latent_shape(request), device=gen.device)
    with torch.inference_mode():
        decode = timed(lambda: gen.vae.decode_latents(latents), args.repeats)
    baseline_request = GenerationRequest(PROMPT, seed=0, solver="euler", steps=2 * request.steps)
    baseline = timed(lambda: gen.generate(baseline_request), args.repeats)

    print(f"device: {device_name(gen.device)}")
    print(
        f"clip: {request.num_frames} frames at {request.width}x{request.height}, {request.steps} steps "
        f"{request.solver}, guidance {request.guidance}"
    )
    print(
        f"generate (default): {total:.2f} s   [text {text:.2f} s, VAE decode {decode:.2f} s, "
        f"sampling ~{total - text - decode:.2f} s]   budget 30 s"
    )
    print(
        f"baseline euler x{2 * request.steps} steps: {baseline:.2f} s   ratio baseline/default: "
        f"{baseline / total:.2f}x"
    )


if __name__ == "__main__":
    main()
