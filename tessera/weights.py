"""Exported model folders: weights as safetensors, architecture and defaults as JSON. Nothing is pickled.

A VAE folder:    config.json (VAEConfig) + vae.safetensors
A model folder:  model.json + dit.safetensors + vae.safetensors, where model.json holds
                 {"format": "tessera-model", "dit": DiTConfig, "vae": VAEConfig, "text_encoder": spec,
                  "sample": SampleConfig, "video": {"height", "width", "num_frames", "fps"},
                  "limits": {"max_frames", "max_side"}, "card": {...free-form facts...}}
The model shipped inside the package lives in tessera/weights/world (SHIPPED_MODEL).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from tessera.models.dit import DiT, DiTConfig
from tessera.models.vae import VAEConfig, VideoVAE

SHIPPED_MODEL = Path(__file__).parent / "weights" / "world"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
MODEL_FORMAT = "tessera-model"


def save_weights(module: nn.Module, path: str | Path, dtype: torch.dtype = torch.float32) -> Path:
    """A module's state dict as one safetensors file; floating tensors cast to `dtype`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: (v.to(dtype) if v.is_floating_point() else v).contiguous().cpu()
        for k, v in module.state_dict().items()
    }
    save_file(tensors, str(path))
    return path


def load_weights(module: nn.Module, path: str | Path, *, new_children: tuple[str, ...] = ()) -> nn.Module:
    """Load a safetensors file strictly into `module`, cast to the module's dtype and device.

    `new_children` names submodules (dotted paths) that the file must not hold and that keep their fresh
    initialisation: a model grown by a part that starts as a no-op, fine-tuned from weights without it.
    Any other missing or unexpected key is an error."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such weights file")
    ref = next(module.parameters())
    try:
        tensors = load_file(str(path), device=str(ref.device))  # load_state_dict casts to each param's dtype
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{path}: not a readable safetensors file, truncated or corrupt ({e})") from e
    prefixes = tuple(f"{name}." for name in new_children)
    held = sorted(k for k in tensors if k.startswith(prefixes))
    if held:
        raise ValueError(f"{path} already holds {held[:3]}..., which were to start fresh")
    own = module.state_dict()
    wrong = [
        f"{k} {tuple(v.shape)} (want {tuple(own[k].shape)})"
        for k, v in tensors.items()
        if k in own and v.shape != own[k].shape
    ]
    if wrong:
        raise ValueError(f"{path} does not fit {type(module).__name__}'s config: shapes differ, {wrong[:3]}")
    result = module.load_state_dict(tensors, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(prefixes)]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"{path} does not fit {type(module).__name__}: missing {missing[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )
    return module


def _build(cls, cfg, device: torch.device | str, dtype: torch.dtype = torch.float32):
    with torch.device("meta"):
        module = cls(cfg)
    if dtype != torch.float32:  # cast while on meta, so the full-precision weights are never allocated
        module = module.cast(dtype)
    module.to_empty(device=device)
    module.init_weights()  # recomputes non-persistent buffers (RoPE tables); weights are overwritten next
    return module


def save_vae_dir(folder: str | Path, vae: VideoVAE, extra: dict[str, Any] | None = None) -> Path:
    folder = Path(folder)
    save_weights(vae, folder / "vae.safetensors")
    (folder / "config.json").write_text(
        json.dumps({**vae.cfg.to_dict(), **({"extra": extra} if extra else {})}, indent=2)
    )
    return folder


def load_vae_dir(folder: str | Path, device: torch.device | str = "cpu") -> VideoVAE:
    """A VAE exported by `tessera train-vae` (config.json + vae.safetensors), or the VAE of a model folder
    (model.json + vae.safetensors), so a new DiT can train on a shipped model's latents."""
    folder = Path(folder)
    if (folder / "config.json").is_file():
        data = json.loads((folder / "config.json").read_text())
    elif (folder / "model.json").is_file():
        data = read_model_spec(folder)["vae"]
    else:
        raise ValueError(
            f"{folder}: neither an exported VAE folder (config.json) nor a model folder (model.json); "
            "run `tessera train-vae` first"
        )
    data = dict(data)
    data.pop("extra", None)
    vae = _build(VideoVAE, VAEConfig.from_dict(data), device)
    return load_weights(vae, folder / "vae.safetensors").eval().requires_grad_(False)


def save_model_dir(
    folder: str | Path, dit: DiT, vae: VideoVAE, spec: dict[str, Any], dtype: torch.dtype = torch.float16
) -> Path:
    """Write a model folder. `spec` holds text_encoder, sample, video, limits and card (see module doc)."""
    folder = Path(folder)
    save_weights(dit, folder / "dit.safetensors", dtype)
    save_weights(vae, folder / "vae.safetensors", dtype)
    meta = {"format": MODEL_FORMAT, "dit": dit.cfg.to_dict(), "vae": vae.cfg.to_dict(), **spec}
    (folder / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    return folder


def with_decoder(model_dir: str | Path, vae_dir: str | Path, out: str | Path) -> Path:
    """A copy of a model folder at `out` whose VAE is the one in `vae_dir`, whose encoder and latent
    statistics must be the model's own (a decoder trained on with the encoder frozen): the DiT was trained on
    that encoder's latents, so any other VAE would be a silent mismatch. The card records the VAE's folder."""
    dit, vae, spec = load_model_dir(model_dir)
    new = load_vae_dir(vae_dir)
    encoder = ("encoder.", "quant_conv.")
    old_weights, new_weights = vae.state_dict(), new.state_dict()
    same_encoder = all(  # to the float16 of a model folder: a retrained encoder differs far more
        torch.allclose(old_weights[k], new_weights[k], rtol=1e-3, atol=1e-6)
        for k in old_weights
        if k.startswith(encoder)
    )
    cfg_old, cfg_new = vae.cfg.to_dict(), new.cfg.to_dict()
    if not same_encoder or cfg_old != cfg_new:
        raise ValueError(
            f"{vae_dir} codes video differently from {model_dir}'s VAE (encoder weights or latent statistics "
            "differ); only a VAE whose decoder alone was trained on (decoder_only=true) fits its DiT"
        )
    spec = {k: v for k, v in spec.items() if k not in ("format", "dit", "vae")}
    spec["card"] = {**spec.get("card", {}), "decoder_from": str(vae_dir)}
    return save_model_dir(out, dit, new, spec)


def read_model_spec(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / "model.json"
    if not path.is_file():
        raise ValueError(f"{folder}: not a tessera model folder (no model.json)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: must hold a JSON object, got {type(meta).__name__}")
    if meta.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {MODEL_FORMAT!r}")
    return meta


def load_model_dir(
    folder: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[DiT, VideoVAE, dict[str, Any]]:
    """DiT (in `dtype`, as DiT.cast) and VAE (float32) of a model folder, in eval mode, and its model.json."""
    folder = Path(folder)
    meta = read_model_spec(folder)
    dit_cfg, vae_cfg = (
        _config(folder, meta, key, cls) for key, cls in (("dit", DiTConfig), ("vae", VAEConfig))
    )
    dit = load_weights(_build(DiT, dit_cfg, device, dtype), folder / "dit.safetensors")
    vae = load_weights(_build(VideoVAE, vae_cfg, device), folder / "vae.safetensors")
    return dit.eval().requires_grad_(False), vae.eval().requires_grad_(False), meta


def _config(folder: Path, meta: dict[str, Any], key: str, cls):
    """model.json's `key` section as `cls` (DiTConfig, VAEConfig); ValueError naming the file otherwise."""
    if not isinstance(meta.get(key), dict):
        raise ValueError(f"{folder / 'model.json'}: {key!r} must be a JSON object, got {meta.get(key)!r}")
    try:
        cfg = cls.from_dict(meta[key])
        with torch.device("meta"):
            DiT(cfg) if cls is DiTConfig else VideoVAE(cfg)  # types inside the config show on building
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise ValueError(f"{folder / 'model.json'}: {key!r} is not a valid {cls.__name__} ({e})") from e
    return cfg


def load_model(
    folder: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[list[DiT], VideoVAE, dict[str, Any]]:
    """What `Generator` runs: a tessera model folder or a diffusers Wan folder (model_index.json).

    Returns the DiTs (one, or two experts, high-noise first, where the spec's `sample.experts` says where they
    hand over), the VAE and the spec. A text encoder named by a relative path lives inside the folder."""
    from tessera.convert.wan_pipeline import is_diffusers_folder, read_wan_pipeline

    folder = Path(folder)
    if is_diffusers_folder(folder):
        return read_wan_pipeline(folder, device, dtype)
    dit, vae, spec = load_model_dir(folder, device, dtype)
    dits = [dit]
    if "experts" in spec["sample"]:
        expert = load_weights(_build(DiT, dit.cfg, device, dtype), folder / "dit_2.safetensors")
        dits.append(expert.eval().requires_grad_(False))
    kind, _, path = spec["text_encoder"].partition(":")
    if path and not Path(path).is_absolute():
        spec = {**spec, "text_encoder": f"{kind}:{(folder / path).resolve()}"}
    return dits, vae, spec


def check_fits(folder: str | Path, device: torch.device, dtype: torch.dtype) -> None:
    """ValueError before loading when the DiT weights alone exceed the device's free memory (CUDA) or the
    machine's available memory (CPU), saying what would help; a model that passes may still run short on
    activations. Weight sizes come from the safetensors headers, so nothing is read in full."""
    folder = Path(folder)
    files = sorted({*folder.glob("dit*.safetensors"), *folder.glob("transformer*/*.safetensors")})
    if not files:
        return
    needed = sum(_num_elements(f) for f in files) * torch.finfo(dtype).bits // 8
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
    elif device.type == "cpu" and hasattr(os, "sysconf"):
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    else:
        return
    if needed > free:
        gib = 2**30
        raise ValueError(
            f"{folder}: the DiT weights need {needed / gib:.1f} GiB in {str(dtype).removeprefix('torch.')}, "
            f"but {device} has {free / gib:.1f} GiB free; try --dtype bf16 (half of fp32) or a device with "
            "more memory"
        )


def _num_elements(path: Path) -> int:
    """Elements of all tensors in a safetensors file, from its header."""
    try:
        with path.open("rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 0 < size <= path.stat().st_size - 8:
                raise ValueError(f"a header of {size} bytes in a file of {path.stat().st_size}")
            header = json.loads(f.read(size))
        return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise ValueError(f"{path}: not a readable safetensors file, truncated or corrupt ({e})") from e
