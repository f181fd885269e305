"""Wan VAE weights into VideoVAE: diffusers `vae/` folders of Wan2.1 and Wan2.2 (our keys are diffusers'
keys), and the original Wan-Video layout of Wan2.1 (as in ComfyUI's safetensors repack of Wan2.1_VAE.pth),
through an explicit key table.

Only safetensors are read; the original `Wan2.1_VAE.pth` is a pickle and is refused (convert it first).
"""

from __future__ import annotations

from pathlib import Path

import torch

from tessera.convert.files import load_config_json, load_safetensors
from tessera.models.vae import VAE_SIZES, VAEConfig, VideoVAE

# diffusers config.json fields -> VAEConfig fields ("temperal" is diffusers' spelling); in_channels,
# out_channels and patch_size are converted in vae_config_from_diffusers
_DIFFUSERS_FIELDS = {
    "base_dim": "base_dim",
    "z_dim": "z_dim",
    "dim_mult": "dim_mult",
    "num_res_blocks": "num_res_blocks",
    "temperal_downsample": "temporal_downsample",
    "dropout": "dropout",
    "latents_mean": "latents_mean",
    "latents_std": "latents_std",
    "is_residual": "is_residual",
    "decoder_base_dim": "decoder_base_dim",
}
# fields whose only supported value is diffusers' default (other attn_scales add attention to the levels)
_DIFFUSERS_FIXED = {"attn_scales": []}
# Written by diffusers' Wan2.2 conversion script (`clip_output: false`) and read by no diffusers release:
# decode always clamps to [-1, 1], as diffusers and the original Wan2.2 do.
_DIFFUSERS_UNREAD = {"clip_output"}


def vae_config_from_diffusers(config: dict) -> VAEConfig:
    """VAEConfig from the config.json of a diffusers AutoencoderKLWan (missing fields take diffusers'
    defaults, which are Wan2.1's). Settings this VAE does not implement raise ValueError naming them.

    diffusers counts in/out channels after the pixel patches (12 for Wan2.2's 2x2 patches of RGB); VAEConfig
    counts the video's (3)."""
    class_name = config.get("_class_name", "AutoencoderKLWan")
    if class_name != "AutoencoderKLWan":
        raise ValueError(f"config is for {class_name!r}, expected 'AutoencoderKLWan'")
    known = {
        *_DIFFUSERS_FIELDS,
        *_DIFFUSERS_FIXED,
        *_DIFFUSERS_UNREAD,
        "in_channels",
        "out_channels",
        "patch_size",
        "scale_factor_temporal",
        "scale_factor_spatial",
    }
    unknown = sorted(k for k in config if not k.startswith("_") and k not in known)
    if unknown:
        raise ValueError(f"unsupported AutoencoderKLWan config fields {unknown}; known: {sorted(known)}")
    for name, supported in _DIFFUSERS_FIXED.items():
        if name in config and config[name] != supported:
            raise ValueError(f"AutoencoderKLWan {name}={config[name]!r} is not supported, only {supported!r}")
    patch_size = 1 if config.get("patch_size") is None else config["patch_size"]  # None: no pixel patches
    if not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"AutoencoderKLWan patch_size={patch_size!r} must be a positive int or null")
    channels = {}
    for name in ("in_channels", "out_channels"):
        num = config.get(name, 3)
        if num % patch_size**2:
            raise ValueError(
                f"AutoencoderKLWan {name}={num} is not a multiple of patch_size**2={patch_size**2} "
                "(diffusers counts channels after the pixel patches)"
            )
        channels[name] = num // patch_size**2
    cfg = VAEConfig(
        **{ours: config[theirs] for theirs, ours in _DIFFUSERS_FIELDS.items() if theirs in config},
        **channels,
        patch_size=patch_size,
    )
    for name, ours in (
        ("scale_factor_temporal", cfg.temporal_factor),
        ("scale_factor_spatial", cfg.spatial_factor),
    ):
        if config.get(name) not in (None, ours):
            raise ValueError(f"{name}={config[name]} disagrees with the architecture, which gives {ours}")
    return cfg


# ---- original Wan-Video names -> diffusers names (as diffusers' scripts/convert_wan_to_diffusers.py)

_TOP = {"conv1": "quant_conv", "conv2": "post_quant_conv"}
_CODER = {  # inside encoder. / decoder.
    "conv1": "conv_in",
    "head.0": "norm_out",
    "head.2": "conv_out",
    "middle.0": "mid_block.resnets.0",
    "middle.1": "mid_block.attentions.0",
    "middle.2": "mid_block.resnets.1",
}
# decoder.upsamples is one flat list: 3 residual blocks then an upsampler per level (Wan2.1's 4 levels with
# num_res_blocks=2; the last level has no upsampler)
_DECODER_UPSAMPLES = {
    0: "up_blocks.0.resnets.0",
    1: "up_blocks.0.resnets.1",
    2: "up_blocks.0.resnets.2",
    3: "up_blocks.0.upsamplers.0",
    4: "up_blocks.1.resnets.0",
    5: "up_blocks.1.resnets.1",
    6: "up_blocks.1.resnets.2",
    7: "up_blocks.1.upsamplers.0",
    8: "up_blocks.2.resnets.0",
    9: "up_blocks.2.resnets.1",
    10: "up_blocks.2.resnets.2",
    11: "up_blocks.2.upsamplers.0",
    12: "up_blocks.3.resnets.0",
    13: "up_blocks.3.resnets.1",
    14: "up_blocks.3.resnets.2",
}
# inside a residual block: the original `residual` Sequential is RMS, SiLU, conv, RMS, SiLU, Dropout, conv
_RESIDUAL = {"residual.0": "norm1", "residual.2": "conv1", "residual.3": "norm2", "residual.6": "conv2"}
_RESIDUAL |= {"shortcut": "conv_shortcut"}
# leaves that keep their names: parameters, attention parts, resampler convs
_UNCHANGED = {"weight", "bias", "gamma", "norm", "to_qkv", "proj", "resample", "1", "time_conv"}


def original_to_diffusers_vae_key(key: str) -> str:
    """The diffusers name of an original Wan2.1 VAE key, e.g. 'decoder.upsamples.4.shortcut.weight' ->
    'decoder.up_blocks.1.resnets.0.conv_shortcut.weight'. The decoder table is Wan2.1's (4 levels, 2 residual
    blocks per level). Keys outside the table raise ValueError."""
    parts = key.split(".")
    if parts[0] in _TOP and len(parts) == 2:
        return f"{_TOP[parts[0]]}.{parts[1]}"
    if parts[0] not in ("encoder", "decoder") or len(parts) < 3:
        raise ValueError(f"not an original Wan2.1 VAE key: {key!r}")
    coder, rest = parts[0], parts[1:]
    if rest[0] == "downsamples" and coder == "encoder" and rest[1].isdigit():
        head, rest = f"down_blocks.{rest[1]}", rest[2:]  # same index: both lists are flat
    elif (
        rest[0] == "upsamples"
        and coder == "decoder"
        and rest[1].isdigit()
        and int(rest[1]) in _DECODER_UPSAMPLES
    ):
        head, rest = _DECODER_UPSAMPLES[int(rest[1])], rest[2:]
    elif ".".join(rest[:2]) in _CODER:
        head, rest = _CODER[".".join(rest[:2])], rest[2:]
    elif rest[0] in _CODER:
        head, rest = _CODER[rest[0]], rest[1:]
    else:
        raise ValueError(f"not an original Wan2.1 VAE key: {key!r}")
    if len(rest) >= 2 and ".".join(rest[:2]) in _RESIDUAL:
        rest = [_RESIDUAL[".".join(rest[:2])], *rest[2:]]
    elif rest and rest[0] in _RESIDUAL:
        rest = [_RESIDUAL[rest[0]], *rest[1:]]
    elif not rest or any(p not in _UNCHANGED for p in rest):
        raise ValueError(f"not an original Wan2.1 VAE key: {key!r}")
    return ".".join([coder, head, *rest])


def _is_original_layout(state: dict[str, torch.Tensor]) -> bool:
    return any(k.startswith(("encoder.downsamples.", "decoder.upsamples.", "encoder.conv1.")) for k in state)


def load_wan_vae(path: str | Path) -> VideoVAE:
    """A VideoVAE with Wan2.1 or Wan2.2 VAE weights, loaded strictly (every tensor used, every parameter set).

    path: a diffusers `vae/` folder (config.json + diffusion_pytorch_model.safetensors, or shards with an
    index), or a single .safetensors file, which is read with the Wan2.1 config. Wan2.1 keys in the original
    Wan-Video layout are recognised and renamed through `original_to_diffusers_vae_key`.
    """
    path = Path(path)
    cfg = vae_config_from_diffusers(load_config_json(path)) if path.is_dir() else VAE_SIZES["wan2.1"]
    state = load_safetensors(path)
    if _is_original_layout(state):
        if cfg.is_residual:
            raise ValueError(
                f"{path}: original-layout keys are mapped for Wan2.1's VAE only; this config is Wan2.2's "
                "residual VAE (use a diffusers `vae/` folder)"
            )
        if len(cfg.dim_mult) != 4 or cfg.num_res_blocks != 2:
            raise ValueError(
                f"{path}: original-layout keys need Wan2.1's structure (4 levels, 2 residual blocks), "
                f"config has dim_mult={cfg.dim_mult}, num_res_blocks={cfg.num_res_blocks}"
            )
        state = {original_to_diffusers_vae_key(k): v for k, v in state.items()}
    with torch.device("meta"):
        vae = VideoVAE(cfg)
    expected = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not match the config: {len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    wrong = [
        f"{k}: {tuple(state[k].shape)} vs {shape}" for k, shape in expected.items() if state[k].shape != shape
    ]
    if wrong:
        raise ValueError(f"{path}: {len(wrong)} tensors have the wrong shape, e.g. {wrong[:3]}")
    vae = vae.to_empty(device="cpu")
    vae.load_state_dict(state, strict=True)  # copies into float32, whatever the file's dtype
    return vae.eval()
