"""Text to image and the first frames of clips, for a model folder (default: the shipped model).

- text to image: the scorer's content group (the objects a caption names, their colours, shapes and sizes)
  of a 1-frame generation for the seen captions of `eval run`, against the footage's own first frames (the
  baseline, what a perfect image scores);
- the first frames: how many clips of the `eval run` prompts jump by more than 15 levels (mean absolute
  frame-to-frame change) within frames 0-4, the first latent slots, against the footage of the same scenes.

    python benchmarks/stills_and_starts.py [--model DIR] [--num 32]
"""

from __future__ import annotations

import argparse

import numpy as np

from tessera.eval.adherence import eval_prompts, model_world
from tessera.eval.scorer import score_prompt
from tessera.machine import device_name
from tessera.pipeline import GenerationRequest, Generator
from tessera.world.render import render

JUMP = 15.0  # levels: a burst, several times the footage's usual frame-to-frame change


def content(image: np.ndarray, prompt: str) -> float:
    """The scorer's content group of a 1-frame video: a still has no motion to judge."""
    return score_prompt(image, prompt).groups.get("content", 0.0)


def early_jump(video: np.ndarray) -> float:
    return float(np.abs(np.diff(video.astype(np.float32), axis=0)).mean((1, 2, 3))[:4].max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--num", type=int, default=32, help="prompts per eval run group")
    args = ap.parse_args()
    gen = Generator(args.model)
    v = gen.spec["video"]
    size = {"height": v["height"], "width": v["width"], "fps": v["fps"], "num_frames": v["num_frames"]}
    prompts = eval_prompts(args.num, **size, mix=model_world(gen.spec))
    images, footage_images, jumps, footage_jumps = [], [], [], []
    for group, seed, prompt, scene in prompts:
        truth = render(scene).video
        if group == "seen":
            image = gen.generate(GenerationRequest(prompt, seed=seed, num_frames=1)).frames
            images.append(content(image, prompt))
            footage_images.append(content(truth[:1], prompt))
        jumps.append(early_jump(gen.generate(GenerationRequest(prompt, seed=seed)).frames))
        footage_jumps.append(early_jump(truth))
    print(f"device: {device_name(gen.device)}; model: {gen.model_dir}; {len(prompts)} prompts")
    base = np.mean(footage_images)
    print(
        f"text to image, content: {np.mean(images):.3f} over {len(images)} seen captions "
        f"(the footage's first frames {base:.3f}; ratio {np.mean(images) / base:.2f})"
    )
    burst, footage_burst = int(np.sum(np.array(jumps) > JUMP)), int(np.sum(np.array(footage_jumps) > JUMP))
    print(
        f"clips with a jump > {JUMP:.0f} levels in frames 0-4: {burst} / {len(jumps)} "
        f"(the footage: {footage_burst}; median jump {np.median(jumps):.1f}, "
        f"the footage's {np.median(footage_jumps):.1f})"
    )


if __name__ == "__main__":
    main()
