"""Step caching for sampling: reuse the DiT's work of the last full step where its first block barely
changed (DiT.forward's `cache`)."""

from __future__ import annotations

import math

import torch


class StepCache:
    """First-block residual caching for sampling (the "first block cache" of ParaAttention, after TeaCache,
    Liu et al. 2024): consecutive sampling steps change the blocks' work little, and how much the first
    block's residual changed says how much the rest would. When it changed by less than `threshold`
    (mean absolute change over mean absolute value), the rest of the blocks are skipped and their residual
    from the last full step is added instead. threshold 0 never skips. A cache serves one velocity function
    through one sampling run."""

    def __init__(self, threshold: float) -> None:
        if not (threshold >= 0 and math.isfinite(threshold)):
            raise ValueError(f"step cache threshold must be a finite number >= 0, got {threshold}")
        self.threshold = threshold
        self.first: torch.Tensor | None = None  # the first block's residual at the last full step
        self.rest: torch.Tensor | None = None  # the other blocks' residual at the last full step
        self.calls = self.skipped = 0

    def reuse(self, first: torch.Tensor) -> bool:
        """Whether this call may reuse `rest`, given its first block's residual (B, L, D)."""
        self.calls += 1
        if self.rest is not None and self.first is not None and first.shape == self.first.shape:
            change = (first - self.first).abs().mean() / self.first.abs().mean().clamp_min(1e-12)
            if change.item() < self.threshold:
                self.skipped += 1
                return True
        self.first = first
        return False
