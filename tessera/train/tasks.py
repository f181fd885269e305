"""Training tasks: which latent frames of a training clip are given, so that one DiT learns every mode."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

# Training tasks: which latent frames of a training clip are given (kept clean, time 0, no loss) so that one
# model learns every mode. "text" gives none (plain text to video); "first"/"last" one end frame (image to
# video, and its reverse); "first_last" both (connecting two shots); "prefix"/"suffix" a run at one end
# (extending forward/backward); "spans" random latents anywhere (in-betweening, loops, storyboards).
TASKS = ("text", "first", "last", "first_last", "prefix", "suffix", "spans")


def check_tasks(tasks: tuple[str, ...], weights: tuple[float, ...]) -> None:
    """ValueError unless `tasks` are known names and `weights` are one non-negative number each, not all 0."""
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise ValueError(f"unknown training tasks {unknown or tasks}; choose from {', '.join(TASKS)}")
    if len(weights) != len(tasks) or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(
            f"flow.task_weights {weights} must give one non-negative weight per task {tasks}, not all 0"
        )


def task_masks(
    tasks: tuple[str, ...], weights: tuple[float, ...], batch: int, num_latents: int, rng: np.random.Generator
) -> Tensor:
    """(B, 1, T, 1, 1) float mask of the given latent frames, one task drawn per sample; at least one latent
    stays free."""
    check_tasks(tasks, weights)
    p = np.asarray(weights, dtype=np.float64) / sum(weights)
    mask = torch.zeros(batch, 1, num_latents, 1, 1)
    if num_latents < 2:  # an image: nothing can be given and something left to predict
        return mask
    for b in range(batch):
        task = tasks[int(rng.choice(len(tasks), p=p))]
        k = int(rng.integers(1, num_latents))  # 1 .. T-1 latents for prefix / suffix
        if task == "first":
            mask[b, :, 0] = 1
        elif task == "last":
            mask[b, :, -1] = 1
        elif task == "first_last" and num_latents > 2:
            mask[b, :, [0, -1]] = 1
        elif task == "prefix":
            mask[b, :, :k] = 1
        elif task == "suffix":
            mask[b, :, -k:] = 1
        elif task == "spans":
            known = torch.from_numpy(rng.random(num_latents) < 0.3)
            known[int(rng.integers(num_latents))] = False
            mask[b, 0, known] = 1
    return mask
