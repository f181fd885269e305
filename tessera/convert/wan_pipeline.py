"""A diffusers Wan folder (Wan2.1 T2V, Wan2.2 TI2V-5B and T2V-A14B) as a tessera model.

A diffusers checkpoint is a folder with model_index.json, transformer/ (and transformer_2/ for A14B's
low-noise expert), vae/, text_encoder/ (UMT5), tokenizer/ and scheduler/. `read_wan_pipeline` turns it into
what `weights.load_model_dir` gives for a tessera folder: DiT(s), VAE and a model.json-style spec whose
defaults are the checkpoint's own (solver, shift, size, frame rate, Wan's negative prompt), so
`Generator(folder)` runs it directly. `convert_wan` writes it once as a tessera model folder, weights in a
chosen dtype, the text encoder and tokenizer copied beside them.

Wan semantics kept, so a converted model makes diffusers' video: the DiT attends to the text's zero padding
(DiTConfig.text_mask=False), and under diffusers' UniPC scheduler the network sees integer timesteps
(`sample.integer_times`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from tessera.convert.wan_dit import load_wan_dit
from tessera.convert.wan_vae import load_wan_vae
from tessera.models.dit import DiT
from tessera.models.vae import VideoVAE

PIPELINES = ("WanPipeline",)
# Wan's default negative prompt (Wan-Video/Wan2.1, wan/configs/shared_config.py, `sample_neg_prompt`): the
# original generate.py uses it when none is given; diffusers uses the empty string.
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，"
    "形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)
# The scheduler Wan's diffusers checkpoints ship, and what tessera runs for it: the same solver over the same
# time list (schedule "unipc", diffusers' use_flow_sigmas grid), the network fed integer timesteps as UniPC's
# int64 timesteps do.
SCHEDULERS = {"UniPCMultistepScheduler": {"solver": "unipc", "schedule": "unipc", "integer_times": True}}
# UniPC settings Wan's checkpoints leave at diffusers' defaults, which is what solver "unipc" implements.
UNIPC_SETTINGS = {
    "solver_order": 2,
    "solver_type": "bh2",
    "predict_x0": True,
    "lower_order_final": True,
    "final_sigmas_type": "zero",
}


def is_diffusers_folder(path: str | Path) -> bool:
    return (Path(path) / "model_index.json").is_file()


def read_model_index(src: str | Path) -> dict[str, Any]:
    """model_index.json of a supported diffusers Wan pipeline; ValueError naming what is not supported."""
    src = Path(src)
    path = src / "model_index.json"
    if not path.is_file():
        raise ValueError(f"{src}: not a diffusers folder (no model_index.json)")
    index = json.loads(path.read_text())
    name = index.get("_class_name")
    if name not in PIPELINES:
        raise ValueError(
            f"{path}: pipeline {name!r} is not supported; supported: {', '.join(PIPELINES)} (Wan2.1 T2V, "
            "Wan2.2 TI2V-5B and T2V-A14B). Image-conditioned Wan (I2V, FLF2V, VACE) is not"
        )
    parts = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
    missing = [part for part in parts if not (src / part).is_dir()]
    if missing:
        raise ValueError(f"{src}: missing the folders {missing} of a diffusers Wan checkpoint")
    if (index.get("boundary_ratio") is None) != (not (src / "transformer_2").is_dir()):
        raise ValueError(
            f"{src}: a two-expert Wan2.2 checkpoint needs both transformer_2/ and model_index.json's "
            "boundary_ratio; this one has only one of them"
        )
    return index


def _sample_defaults(src: Path, index: dict[str, Any]) -> dict[str, Any]:
    config = json.loads((src / "scheduler" / "scheduler_config.json").read_text())
    name = config.get("_class_name")
    if name not in SCHEDULERS:
        raise ValueError(f"{src}/scheduler: {name!r} is not supported; supported: {', '.join(SCHEDULERS)}")
    wanted = {"use_flow_sigmas": True, "prediction_type": "flow_prediction", **UNIPC_SETTINGS}
    found = {key: config.get(key, UNIPC_SETTINGS.get(key)) for key in wanted}  # absent: diffusers' default
    other = {key: value for key, value in found.items() if value != wanted[key]}
    if other:
        raise ValueError(f"{src}/scheduler: settings {other} are not supported; tessera runs {wanted}")
    sample = {
        "steps": 50,  # diffusers' and Wan's defaults
        "guidance": 5.0,
        "shift": float(config.get("flow_shift", 1.0)),
        "negative_prompt": WAN_NEGATIVE_PROMPT,
        **SCHEDULERS[name],
    }
    if index.get("boundary_ratio") is not None:
        sample["experts"] = {"boundary": float(index["boundary_ratio"])}
    return sample


def _video_defaults(vae: VideoVAE) -> dict[str, int]:
    """Wan's published defaults: 480x832, 81 frames at 16 fps for Wan2.1 and A14B; 704x1280, 121 frames at
    24 fps for TI2V-5B (the residual, 16x VAE)."""
    if vae.cfg.is_residual:
        return {"height": 704, "width": 1280, "num_frames": 121, "fps": 24}
    return {"height": 480, "width": 832, "num_frames": 81, "fps": 16}


def read_wan_pipeline(
    src: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[list[DiT], VideoVAE, dict[str, Any]]:
    """The DiTs (one, or A14B's high-noise then low-noise expert), the VAE and a model spec of a diffusers
    Wan folder, weights in `dtype` (the VAE in float32). The spec's text encoder is the folder's UMT5."""
    src = Path(src).resolve()
    index = read_model_index(src)
    parts = ["transformer", "transformer_2"] if (src / "transformer_2").is_dir() else ["transformer"]
    dits = [load_wan_dit(src / part, device, dtype).eval().requires_grad_(False) for part in parts]
    vae = load_wan_vae(src / "vae").to(device).eval().requires_grad_(False)
    if vae.cfg.z_dim != dits[0].cfg.in_channels:
        raise ValueError(
            f"{src}: the VAE's {vae.cfg.z_dim} latent channels do not feed the transformer's "
            f"{dits[0].cfg.in_channels} input channels"
        )
    video = _video_defaults(vae)
    spec = {
        "text_encoder": f"umt5:{src}",
        "sample": _sample_defaults(src, index),
        "video": video,
        # Wan makes 5-10 s clips; longer ones come from `generate --duration` (window after window).
        "limits": {"max_frames": 2 * video["num_frames"] - 1, "max_side": 1280},
        "card": {"converted_from": str(src), "pipeline": index["_class_name"]},
    }
    if index.get("expand_timesteps"):
        spec["card"]["expand_timesteps"] = True  # per-token time, which tessera's DiT always supports
    return dits, vae, spec


def convert_wan(src: str | Path, out: str | Path, *, dtype: str = "bf16") -> Path:
    """Write a tessera model folder at `out` from a diffusers Wan folder: dit.safetensors (and
    dit_2.safetensors for a second expert) in `dtype`, vae.safetensors, model.json, and the folder's
    text_encoder/ and tokenizer/ (hard links where the file system allows, else copies)."""
    from tessera.weights import DTYPES, save_model_dir, save_weights

    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    src, out = Path(src).resolve(), Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} exists and is not empty; give a new folder")
    dits, vae, spec = read_wan_pipeline(src, dtype=DTYPES[dtype])
    spec = {**spec, "text_encoder": "umt5:text_encoder"}  # relative: the folder moves as one
    save_model_dir(out, dits[0], vae, spec, dtype=DTYPES[dtype])
    if len(dits) == 2:
        save_weights(dits[1], out / "dit_2.safetensors", DTYPES[dtype])
    for part in ("text_encoder", "tokenizer"):
        shutil.copytree(src / part, out / part, copy_function=_link_or_copy)
    return out


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
