"""Resumable checkpoints, sharded with torch.distributed.checkpoint (DCP), all as safetensors + JSON.

A checkpoint is a folder `OUT/checkpoints/step_NNNNNNN/` holding
    shards/model/, shards/ema/, shards/optimizer/   the model, its EMA and the AdamW moments: one
                   safetensors file per process that saved them, each holding that process's shards and
                   where they sit in the whole tensors (DCP's HuggingFace storage), so a run saved by N
                   processes loads into M (DCP reshards)
    ema.safetensors  the EMA weights whole, gathered by rank 0: what tools that score a checkpoint read
    state.json     step, resolved config, the optimizer's hyper-parameters, rank 0's RNG state, how many
                   processes saved it, and under "extra" the loop's own JSON state (the batch sampler's
                   position)
Every process writes its shards into a temporary folder; rank 0 writes the rest and renames the folder into
place last, so a process killed at any moment leaves either no `step_*` folder or a whole one, and
`latest_checkpoint` takes only those. A checkpoint of format 1 (model, EMA and optimizer whole, written by
one process) still resumes, on one process. Nothing is ever pickled. Exports (EMA weights + config, what
`Generator` reads) are separate: tessera.weights.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from safetensors.torch import load_file, save_file
from torch import nn
from torch.distributed.checkpoint import HuggingFaceStorageReader, HuggingFaceStorageWriter
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from tessera.train.distributed import World

STATE_NAME = "state.json"
SHARDS = "shards"
CHECKPOINT_FORMAT = 2  # 2: DCP shards; 1 (no "format"): whole-model safetensors of one process (still read)
SINGLE = World(rank=0, size=1, device=torch.device("cpu"))
# DCP's warning when one process saves or loads without a process group, which is what it is told to do
_ALONE = "torch.distributed is disabled"
FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def full_state(module: nn.Module, world: World) -> dict[str, torch.Tensor]:
    """A (maybe sharded) module's whole state dict on rank 0's CPU ({} on the other ranks); every process
    must call it."""
    if world.size == 1:
        return {k: v.detach().cpu() for k, v in module.state_dict().items()}
    return get_model_state_dict(module, options=FULL)


def load_full_state(module: nn.Module, state: dict[str, torch.Tensor], world: World) -> None:
    """Rank 0's whole `state` into every process's (maybe sharded) `module`; the others pass {}."""
    if world.size == 1:
        module.load_state_dict(state)
        return
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(module, dict(state), options=options)  # a copy: it replaces the dict's entries


def _tensors(
    model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What DCP saves and loads in place, this process's shards of every tensor of the run, and the
    optimizer's hyper-parameters (JSON). Names are the model's own, whatever wraps its blocks (activation
    checkpointing, compile), so a run may change those between a save and a resume."""
    optim = get_optimizer_state_dict(model, optimizer)
    tensors = {
        "model": get_model_state_dict(model),
        "ema": get_model_state_dict(ema),
        "optimizer": optim["state"],
    }
    return tensors, optim["param_groups"]


def _remove(folder: Path) -> None:
    """Delete a checkpoint folder so that no kill midway leaves a `step_*` folder that looks whole: it is
    renamed out of the way (atomic) before it is emptied."""
    doomed = folder.with_name(f".removing_{folder.name}")  # the next save sweeps it, if a kill stops this
    shutil.rmtree(doomed, ignore_errors=True)
    if folder.exists():
        folder.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _write_synced(path: Path, write) -> None:
    write(path)
    with path.open("rb") as f:
        os.fsync(f.fileno())


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
    world: World = SINGLE,
) -> Path:
    """Write checkpoint `step` and keep only the newest `keep` of them (0: all); every process calls it.
    `extra` is JSON-ready state beyond the model's (the DiT loop's sampler position), returned by
    `load_checkpoint`."""
    root = Path(out) / "checkpoints"
    final = root / f"step_{step:07d}"
    tmp = root / f".tmp_step_{step:07d}"
    if world.is_main:
        for left in root.glob(".*_step_*"):  # what a process killed while writing or removing one left
            shutil.rmtree(left, ignore_errors=True)
        tmp.mkdir(parents=True)
    world.barrier()
    tensors, param_groups = _tensors(model, ema, optimizer)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _ALONE)
        for part, values in tensors.items():
            writer = HuggingFaceStorageWriter(str(tmp / SHARDS / part), save_distributed=True)
            dcp.save(values, storage_writer=writer, no_dist=world.size == 1)
    ema_whole = {k: v.contiguous() for k, v in full_state(ema, world).items()}
    if world.is_main:
        _write_synced(tmp / "ema.safetensors", lambda p: save_file(ema_whole, str(p)))
        state = {
            "format": CHECKPOINT_FORMAT,
            "step": step,
            "config": config,
            "optimizer": {"param_groups": param_groups},
            "torch_rng": torch.get_rng_state().tolist(),
            "world_size": world.size,
            "extra": extra or {},
        }
        _write_synced(tmp / STATE_NAME, lambda p: p.write_text(json.dumps(state)))
        _remove(final)
        tmp.rename(final)  # the moment the checkpoint exists, whole
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself survives a power cut
        finally:
            os.close(fd)
        for old in sorted(root.glob("step_*"))[:-keep] if keep else ():
            _remove(old)
    world.barrier()
    return final


def latest_checkpoint(out: str | Path) -> Path | None:
    """The newest complete checkpoint folder under OUT/checkpoints, or None. A checkpoint whose files were
    damaged after it was written (state.json not JSON, a safetensors file cut short or with a broken header)
    is passed over for the one before it, with a warning naming the file."""
    found = sorted(p for p in (Path(out) / "checkpoints").glob("step_*") if (p / STATE_NAME).is_file())
    for folder in reversed(found):
        problem = _damage(folder)
        if problem is None:
            return folder
        warnings.warn(f"{problem}; resuming from the checkpoint before it", stacklevel=2)
    return None


def _damage(folder: Path) -> str | None:
    """What is wrong with a checkpoint folder's files, from state.json and the safetensors headers and sizes
    (no tensor is read), or None."""
    try:
        json.loads((folder / STATE_NAME).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"{folder / STATE_NAME}: not valid JSON ({e})"
    for path in sorted(folder.rglob("*.safetensors")):
        size = path.stat().st_size
        try:
            with path.open("rb") as f:
                length = int.from_bytes(f.read(8), "little")
                if not 0 < length <= size - 8:
                    raise ValueError(f"a header of {length} bytes in a file of {size}")
                header = json.loads(f.read(length))
            end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            return f"{path}: not a readable safetensors file ({e})"
        if 8 + length + end != size:
            return f"{path}: truncated or padded ({size} bytes, its header describes {8 + length + end})"
    return None


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    world: World = SINGLE,
) -> dict[str, Any]:
    """Restore model, EMA, optimizer and RNG in place from a checkpoint folder, whatever number of processes
    saved it; every process calls it. Returns its state.json (with "extra" {} when written without it)."""
    path = Path(path)
    try:
        state = json.loads((path / STATE_NAME).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path / STATE_NAME}: not valid JSON ({e}); the checkpoint is damaged") from e
    if not isinstance(state, dict):
        raise ValueError(f"{path / STATE_NAME}: must hold a JSON object; the checkpoint is damaged")
    state.setdefault("extra", {})
    if state.get("format", 1) == 1:
        _load_whole(path, state, model, ema, optimizer, world)
        return state
    if state["format"] != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {state['format']}; this tessera reads 1 and {CHECKPOINT_FORMAT}"
        )
    tensors, _ = _tensors(model, ema, optimizer)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _ALONE)
        for part, values in tensors.items():
            reader = HuggingFaceStorageReader(str(path / SHARDS / part))
            dcp.load(values, storage_reader=reader, no_dist=world.size == 1)
    set_model_state_dict(model, tensors["model"])
    set_model_state_dict(ema, tensors["ema"])
    groups = state["optimizer"]["param_groups"]
    set_optimizer_state_dict(model, optimizer, {"state": tensors["optimizer"], "param_groups": groups})
    torch.set_rng_state(torch.tensor(state["torch_rng"], dtype=torch.uint8))
    return state


def _load_whole(
    path: Path,
    state: dict[str, Any],
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    world: World,
) -> None:
    """Restore from a checkpoint of format 1, written by one process before DCP: model.safetensors,
    ema.safetensors and optimizer.safetensors (the AdamW state flattened to "INDEX.KEY", its scalars in
    state.json). A run resumed so writes its next checkpoint in the current format."""
    if world.size > 1:
        raise ValueError(
            f"{path}: a checkpoint of format 1 (one process, before sharded checkpoints); resume it with "
            "one process until its next checkpoint, then with as many as you like"
        )
    device = str(next(model.parameters()).device)
    model.load_state_dict(load_file(str(path / "model.safetensors"), device=device))
    ema.load_state_dict(load_file(str(path / "ema.safetensors"), device=device))
    flat = load_file(str(path / "optimizer.safetensors"), device=device)
    moments: dict[int, dict[str, Any]] = {}
    for name, value in list(flat.items()) + list(state["optimizer"]["scalars"].items()):
        index, key = name.split(".", 1)
        moments.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": moments, "param_groups": state["optimizer"]["param_groups"]})
    torch.set_rng_state(torch.tensor(state["torch_rng"], dtype=torch.uint8))
