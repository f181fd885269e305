"""Wan2.1 text-to-video transformer weights -> tessera's DiT.

Two layouts are read (key names as in diffusers' transformer_wan.py and scripts/convert_wan_to_diffusers.py):
- a diffusers `transformer/` folder: config.json plus one or sharded safetensors. tessera's DiT uses
  diffusers' key names, so the tensors load as they are;
- an original Wan-Video safetensors file (`diffusion_pytorch_model*.safetensors` of the Wan-AI repos, or a
  ComfyUI repack with every key under `model.diffusion_model.`). Its keys are renamed by an explicit table and
  the architecture is read from the tensor shapes.

Image-conditioned variants (I2V, FLF2V, VACE) are refused: tessera conditions on images through per-token
time, not through CLIP image tokens, so their extra weights would have nowhere to go.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch

from tessera.convert.files import load_config_json, load_safetensors
from tessera.models.dit import DiT, DiTConfig

# diffusers WanTransformer3DModel config field -> DiTConfig field.
_DIFFUSERS_FIELDS = {
    "patch_size": "patch_size",
    "num_attention_heads": "num_heads",
    "attention_head_dim": "head_dim",
    "in_channels": "in_channels",
    "out_channels": "out_channels",
    "text_dim": "text_dim",
    "freq_dim": "freq_dim",
    "ffn_dim": "ffn_dim",
    "num_layers": "num_layers",
    "cross_attn_norm": "cross_attn_norm",
    "eps": "eps",
    "rope_max_seq_len": "rope_max_seq_len",
}
# Fields of image-conditioned variants: allowed only when unset.
_IMAGE_FIELDS = ("image_dim", "added_kv_proj_dim", "pos_embed_seq_len")
# diffusers stores qk_norm but always builds RMSNorm across heads; that is the only value we accept.
_QK_NORM = "rms_norm_across_heads"


def dit_config_from_diffusers(config: dict[str, Any]) -> DiTConfig:
    """DiTConfig from a diffusers WanTransformer3DModel config.json; ValueError for unsupported fields."""
    class_name = config.get("_class_name", "WanTransformer3DModel")
    if class_name != "WanTransformer3DModel":
        raise ValueError(f"config is for {class_name}; only WanTransformer3DModel (Wan2.1 T2V) is supported")
    image_fields = {name: config[name] for name in _IMAGE_FIELDS if config.get(name) is not None}
    if image_fields:
        raise ValueError(f"image-conditioned Wan (I2V/FLF2V) is not supported: config sets {image_fields}")
    if config.get("qk_norm", _QK_NORM) != _QK_NORM:
        raise ValueError(f"qk_norm={config['qk_norm']!r} is not supported; expected {_QK_NORM!r}")
    bookkeeping = {name for name in config if name.startswith("_")}
    unknown = sorted(set(config) - set(_DIFFUSERS_FIELDS) - set(_IMAGE_FIELDS) - {"qk_norm"} - bookkeeping)
    if unknown:
        raise ValueError(f"unsupported WanTransformer3DModel config fields {unknown}")
    fields = {ours: config[theirs] for theirs, ours in _DIFFUSERS_FIELDS.items() if theirs in config}
    if fields.get("out_channels") is None:  # diffusers: out_channels = out_channels or in_channels
        fields["out_channels"] = fields.get("in_channels", DiTConfig.in_channels)
    return DiTConfig(**fields, text_mask=False)


# Original Wan-Video module -> diffusers module, outside the blocks ...
_TOP_LEVEL_KEYS = {
    "patch_embedding": "patch_embedding",
    "time_embedding.0": "condition_embedder.time_embedder.linear_1",
    "time_embedding.2": "condition_embedder.time_embedder.linear_2",
    "time_projection.1": "condition_embedder.time_proj",
    "text_embedding.0": "condition_embedder.text_embedder.linear_1",
    "text_embedding.2": "condition_embedder.text_embedder.linear_2",
    "head.head": "proj_out",
    "head.modulation": "scale_shift_table",  # a bare parameter
}
# ... and inside `blocks.{i}.`. The original calls its affine cross-attention norm `norm3` (its norms run in
# the order norm1, norm3, norm2); diffusers and tessera call it `norm2`.
_BLOCK_KEYS = {
    "modulation": "scale_shift_table",  # a bare parameter
    "self_attn.q": "attn1.to_q",
    "self_attn.k": "attn1.to_k",
    "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0",
    "self_attn.norm_q": "attn1.norm_q",
    "self_attn.norm_k": "attn1.norm_k",
    "cross_attn.q": "attn2.to_q",
    "cross_attn.k": "attn2.to_k",
    "cross_attn.v": "attn2.to_v",
    "cross_attn.o": "attn2.to_out.0",
    "cross_attn.norm_q": "attn2.norm_q",
    "cross_attn.norm_k": "attn2.norm_k",
    "norm3": "norm2",
    "ffn.0": "ffn.net.0.proj",
    "ffn.2": "ffn.net.2",
}
_COMFY_PREFIX = "model.diffusion_model."
_BLOCK_KEY = re.compile(r"blocks\.(\d+)\.(.+)")


def original_to_diffusers_dit_key(key: str) -> str:
    """The diffusers (= tessera) name of an original Wan-Video T2V transformer tensor name.

    ValueError for names outside the T2V model (e.g. I2V's `img_emb.*`, `cross_attn.k_img`).
    """
    name = key.removeprefix(_COMFY_PREFIX)
    match = _BLOCK_KEY.fullmatch(name)
    prefix, table, rest = (
        (f"blocks.{match[1]}.", _BLOCK_KEYS, match[2]) if match else ("", _TOP_LEVEL_KEYS, name)
    )
    if rest in table:
        return prefix + table[rest]
    module, _, param = rest.rpartition(".")
    if module in table and param in ("weight", "bias"):
        return f"{prefix}{table[module]}.{param}"
    raise ValueError(f"{key!r} is not a tensor of the original Wan2.1 T2V transformer")


def _is_original_layout(state: dict[str, torch.Tensor]) -> bool:
    return any(key.removeprefix(_COMFY_PREFIX) == "head.modulation" for key in state)


def dit_config_from_state_dict(state: dict[str, torch.Tensor]) -> DiTConfig:
    """Architecture read from diffusers-named tensor shapes (Wan's head_dim is always 128)."""
    try:
        patch = state["patch_embedding.weight"]  # (D, C_in, pt, ph, pw)
        dim, in_channels, patch_size = patch.shape[0], patch.shape[1], tuple(patch.shape[2:])
        out_features = state["proj_out.weight"].shape[0]  # pt*ph*pw*C_out
        text_dim = state["condition_embedder.text_embedder.linear_1.weight"].shape[1]
        freq_dim = state["condition_embedder.time_embedder.linear_1.weight"].shape[1]
        ffn_dim = state["blocks.0.ffn.net.0.proj.weight"].shape[0]
    except KeyError as e:
        raise ValueError(f"not a Wan2.1 transformer state dict: no tensor {e}") from None
    if dim % 128:
        raise ValueError(f"model width {dim} is not a multiple of Wan's head_dim 128; cannot infer num_heads")
    num_layers = len({int(m[1]) for key in state if (m := _BLOCK_KEY.fullmatch(key))})
    return DiTConfig(
        patch_size=patch_size,
        num_heads=dim // 128,
        head_dim=128,
        in_channels=in_channels,
        out_channels=out_features // math.prod(patch_size),
        text_dim=text_dim,
        freq_dim=freq_dim,
        ffn_dim=ffn_dim,
        num_layers=num_layers,
        cross_attn_norm="blocks.0.norm2.weight" in state,
        text_mask=False,
    )


def load_wan_dit(
    path: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype | None = None
) -> DiT:
    """A DiT holding Wan2.1 T2V weights from a diffusers folder or an original-layout safetensors file.

    Loading is strict (every tensor used, every weight present, shapes equal). dtype None keeps the file's;
    otherwise the weights are cast as `DiT.cast` does (the time path and norms stay float32).
    The model is built on the meta device, so no memory is spent on a random init first.
    """
    path = Path(path)
    state = load_safetensors(path)
    if path.is_dir():
        cfg = dit_config_from_diffusers(load_config_json(path))
    else:
        if _is_original_layout(state):
            state = {original_to_diffusers_dit_key(key): tensor for key, tensor in state.items()}
        cfg = dit_config_from_state_dict(state)
    with torch.device("meta"):
        model = DiT(cfg) if dtype is None else DiT(cfg).cast(dtype)
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not match {cfg}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    wrong = [
        (key, tuple(state[key].shape), tuple(ref.shape))
        for key, ref in expected.items()
        if state[key].shape != ref.shape
    ]
    if wrong:
        raise ValueError(f"{path}: tensor shapes differ from {cfg} (key, file, model): {wrong[:5]}")
    model.load_state_dict(
        {
            key: t.to(device=device, dtype=None if dtype is None else expected[key].dtype)
            for key, t in state.items()
        },
        strict=True,
        assign=True,
    )
    model.rope.to_empty(device=device)  # the rotary tables are buffers, not weights: compute them here
    model.rope.reset_tables()
    return model
