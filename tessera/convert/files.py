"""Reading a diffusers-style weights folder: one safetensors file or shards named by an index json.

Only safetensors are read; pickled checkpoints (.pth, .bin, .pt) are refused, never unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".pkl")


def load_config_json(folder: str | Path) -> dict:
    """The folder's config.json as a dict (ValueError if missing or not JSON)."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ValueError(f"{folder}: no config.json (expected a diffusers-style model folder)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def load_safetensors(path: str | Path, stem: str = "diffusion_pytorch_model") -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file, or of a folder holding `{stem}.safetensors` or sharded
    `{stem}-0000k-of-0000n.safetensors` files listed in `{stem}.safetensors.index.json`."""
    path = Path(path)
    if path.is_file():
        if path.suffix in PICKLE_SUFFIXES:
            raise ValueError(
                f"{path}: pickled checkpoints are not loaded (unsafe); convert it to safetensors"
            )
        if path.suffix != ".safetensors":
            raise ValueError(f"{path}: expected a .safetensors file")
        return load_file(str(path))
    if not path.is_dir():
        raise ValueError(f"{path}: no such file or folder")
    single = path / f"{stem}.safetensors"
    if single.is_file():
        return load_file(str(single))
    index = path / f"{stem}.safetensors.index.json"
    if index.is_file():
        try:
            weight_map: dict[str, str] = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{index}: not a safetensors index (JSON with a weight_map): {e}") from None
        tensors: dict[str, torch.Tensor] = {}
        for shard in sorted(set(weight_map.values())):
            shard_path = path / shard
            if not isinstance(shard, str) or shard_path.resolve().parent != path.resolve():
                raise ValueError(f"{index}: shard {shard!r} is not a file name inside {path}")
            tensors.update(load_file(str(shard_path)))
        missing = sorted(set(weight_map) - set(tensors))
        if missing:
            raise ValueError(
                f"{index}: {len(missing)} tensors listed but absent from the shards, e.g. {missing[0]}"
            )
        return tensors
    found = sorted(p.name for p in path.iterdir())
    raise ValueError(f"{path}: neither {single.name} nor {index.name} found (folder holds: {found[:8]})")
