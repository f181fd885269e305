"""The pieces of one optimisation step that both training loops share, as small pure functions."""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn
from torch.distributed.tensor import DTensor

from tessera.config import LoopConfig, OptimConfig

PRECISIONS = ("auto", "bf16", "fp32")


def resolve_device(name: str) -> torch.device:
    """ "auto" -> cuda if present, else cpu; anything else must be a device torch knows."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"loop.device={name!r} but no CUDA device is available; use cpu or auto")
    return device


def native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bf16 matrices natively: CUDA, or a CPU with AVX512-BF16 or AMX tiles.

    On such a CPU (here a 2-core AMD EPYC with AVX512-BF16) a world DiT training step runs 1.85x and a world
    VAE step 1.68x faster than in fp32 (benchmarks/precision.py); on other CPUs bf16 is emulated and slower
    than fp32. torch exposes the CPU's features only privately, so a missing probe
    counts as no.
    """
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def use_bf16(loop: LoopConfig, device: torch.device) -> bool:
    """loop.precision resolved: "bf16" always, "fp32" never, "auto" where the device has native bf16."""
    if loop.precision not in PRECISIONS:
        raise ValueError(f"loop.precision {loop.precision!r}; allowed: {', '.join(PRECISIONS)}")
    return loop.precision == "bf16" or (loop.precision == "auto" and native_bf16(device))


def autocast(loop: LoopConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast where `use_bf16` says so (weights, optimizer state and losses stay float32)."""
    if not use_bf16(loop, device):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def lr_at(step: int, optim: OptimConfig, total_steps: int) -> float:
    """Linear warm-up to optim.lr, then cosine decay to optim.decay_to * lr at the last step."""
    if step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    span = max(1, total_steps - optim.warmup_steps)
    progress = min(1.0, (step - optim.warmup_steps) / span)
    floor = optim.decay_to
    return optim.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def build_optimizer(model: nn.Module, optim: OptimConfig) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases, norms and 1-d tables (decaying them only hurts)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    keep = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": optim.weight_decay},
        {"params": keep, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=optim.lr, betas=optim.betas)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, all parameters in one foreach call (buffers copied)."""
    torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in model.parameters()], 1 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


def ema_decay_at(step: int, decay: float) -> float:
    """EMA decay warmed up over the first steps so early averages are not dominated by the random init."""
    return min(decay, (1 + step) / (10 + step))


def apply_gradients(
    loss: torch.Tensor,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    optim: OptimConfig,
    loop: LoopConfig,
    step: int,
) -> torch.Tensor:
    """One update from `loss`: this step's learning rate, backward, clip, AdamW step, EMA.

    Returns the gradient norm before clipping (what a log should show when training goes unstable), of the
    whole model also when its parameters are sharded over processes.
    """
    for group in optimizer.param_groups:
        group["lr"] = lr_at(step, optim, loop.steps)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
    optimizer.step()
    ema_update(ema, model, ema_decay_at(step, loop.ema_decay))
    return grad_norm.full_tensor() if isinstance(grad_norm, DTensor) else grad_norm
