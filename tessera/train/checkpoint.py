"""Resumable checkpoints and exports, all as safetensors + JSON (nothing is ever pickled).

A checkpoint is a folder `OUT/checkpoints/step_NNNNNNN/` holding model.safetensors, ema.safetensors,
optimizer.safetensors (AdamW moments, flattened) and state.json (step, resolved config, optimizer
hyper-parameters, RNG state, and under "extra" the loop's own JSON state, e.g. the batch sampler's position).
It is written to a temporary folder and renamed, so a crash never leaves a half checkpoint;
`latest_checkpoint` finds the newest complete one. Exports (EMA weights + config, what `Generator` reads)
are separate: tessera.weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

STATE_NAME = "state.json"


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for index, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in list(tensors.items()) + list(meta["scalars"].items()):
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    out: str | Path,
    step: int,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    config: dict[str, Any],
    keep: int = 2,
    *,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write checkpoint `step` atomically and keep only the newest `keep` of them (0: all). `extra` is
    JSON-ready state beyond the model's (the DiT loop's sampler position); `load_checkpoint` returns it."""
    root = Path(out) / "checkpoints"
    final = root / f"step_{step:07d}"
    tmp = root / f".tmp_step_{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, str(tmp / "ema.safetensors"))
    opt_tensors, opt_meta = _flatten_optimizer(optimizer)
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    state = {
        "step": step,
        "config": config,
        "optimizer": opt_meta,
        "torch_rng": torch.get_rng_state().tolist(),
        "extra": extra or {},
    }
    (tmp / STATE_NAME).write_text(json.dumps(state))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in sorted(root.glob("step_*"))[:-keep] if keep else ():
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out: str | Path) -> Path | None:
    """The newest complete checkpoint folder under OUT/checkpoints, or None."""
    found = sorted(p for p in (Path(out) / "checkpoints").glob("step_*") if (p / STATE_NAME).is_file())
    return found[-1] if found else None


def load_checkpoint(
    path: str | Path, model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """Restore model, EMA, optimizer and RNG in place from a checkpoint folder; return its state.json (with
    "extra" {} when the checkpoint was written without it)."""
    path = Path(path)
    state = json.loads((path / STATE_NAME).read_text())
    state.setdefault("extra", {})
    device = next(model.parameters()).device
    model.load_state_dict(load_file(str(path / "model.safetensors"), device=str(device)))
    ema.load_state_dict(load_file(str(path / "ema.safetensors"), device=str(device)))
    tensors = load_file(str(path / "optimizer.safetensors"), device=str(device))
    optimizer.load_state_dict(_unflatten_optimizer(tensors, state["optimizer"]))
    torch.set_rng_state(torch.tensor(state["torch_rng"], dtype=torch.uint8))
    return state
