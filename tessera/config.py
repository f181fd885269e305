"""Run configuration: the dataclasses of a run, typed dotted overrides, and JSON round trips.

A run config is a tree of dataclasses. A preset (tessera.presets, `load_config(preset, overrides)`) builds a
complete tree; overrides are
`dotted.key=value` strings parsed by the type of the field they name (`optim.lr=3e-4`,
`model.patch_size=1x2x2`, `model.dim_mult=1,2,4,4`). Unknown keys are errors that suggest near matches. The
resolved config is saved with every run and checkpoint as JSON and can be read back with `from_dict`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from tessera.models.dit import DiTConfig
from tessera.models.vae import VAEConfig
from tessera.world.scene import SceneMix


@dataclass(frozen=True)
class DataConfig:
    """Where clips come from and their shape. `source` is "world" (rendered on the fly from seeds) or the
    folder of a manifest.jsonl with real or exported clips. `buckets` lets the DiT train at several
    geometries at once (tessera/data/buckets.py): a manifest clip trains in the bucket nearest its own size,
    a world scene is drawn at one of them; height x width x num_frames remain the default generation size."""

    source: str = "world"
    height: int = 128
    width: int = 128
    num_frames: int = 17
    buckets: tuple[str, ...] = ()  # WIDTHxHEIGHTxFRAMES each (176x96x17,96x176x17,128x128x1); (): the above
    fps: int = 8
    crop: int = 0  # > 0: train on random square crops of this side (the VAE is convolutional)
    image_fraction: float = 0.25  # share of batches made of single frames: images train the same model
    num_scenes: int = 4000  # world: distinct training scenes (seeds seed..seed+num_scenes-1)
    world: SceneMix = field(default_factory=SceneMix)  # world: the part of it scenes are drawn from
    languages: tuple[str, ...] = ("en", "zh")
    captions_per_language: int = 0  # 0: every caption of a clip; n: n of them, rotating with the clip index
    num_workers: int = 0
    seed: int = 0


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 3e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 100
    decay_to: float = 0.1  # cosine decay to this fraction of lr at the last step
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"optim.lr must be a positive number, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        if not all(0 <= beta < 1 for beta in self.betas):
            raise ValueError(f"optim.betas must each be in [0, 1), got {self.betas}")
        if self.warmup_steps < 0:
            raise ValueError(f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.decay_to <= 1:
            raise ValueError(f"optim.decay_to must be a fraction of lr in [0, 1], got {self.decay_to}")


@dataclass(frozen=True)
class LoopConfig:
    steps: int = 1000
    batch_size: int = 8
    ema_decay: float = 0.999
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: int = 2  # the newest this many stay on disk; 0 keeps all (for learning curves)
    eval_every: int = 0  # 0: only at the end
    precision: str = "auto"  # "auto" (bf16 autocast where the device has native bf16: CUDA, AVX512-BF16 or
    # AMX CPUs; fp32 elsewhere), "bf16", "fp32"
    device: str = "auto"
    # Recompute each block's activations in the backward pass (less memory, about a third more compute)
    activation_checkpointing: bool = False
    compile: bool = False  # torch.compile each block (tessera/train/parallelize.py)
    seed: int = 0
    out: str = "runs/run"
    init_from: str = ""  # an exported folder whose weights start the run (fine-tuning); "" = fresh init


@dataclass(frozen=True)
class VAELossConfig:
    kl_weight: float = 1e-6
    ssim_weight: float = 0.2  # structure term: (1 - SSIM), per frame
    l1_weight: float = 1.0
    # L1 weight of a pixel: 1 + object_weight * how much of it shows an object (world data has masks): the
    # world's objects are a few percent of its pixels, and a VAE trained on the plain mean returns them pale.
    object_weight: float = 0.0
    # L1 weight of the error in frame-to-frame change, (recon[f+1] - recon[f]) - (video[f+1] - video[f]):
    # the plain losses judge frames one by one, and a decoder that makes each latent's 4 frames well
    # but jumps between them (the first frames of a latent slot) flickers where the footage is smooth.
    temporal_weight: float = 0.0


@dataclass(frozen=True)
class FlowConfig:
    time_method: str = "logit_normal"
    time_loc: float = 0.0
    time_scale: float = 1.0
    shift: float = 1.0  # training-time shift of sampled times
    text_dropout: float = 0.1  # share of samples trained on the null prompt, for classifier-free guidance
    # Conditioning tasks drawn per sample (tessera/train/tasks.py TASKS) and their weights.
    tasks: tuple[str, ...] = ("text",)
    task_weights: tuple[float, ...] = (1.0,)
    # Loss weight of a latent: 1 + object_weight * the share of its pixels that show an object (world data
    # has object masks; other data weighs 1). Objects are a few percent of a world scene's latents.
    object_weight: float = 0.0
    # Where the loss measures the error (diffusion/flow.py flow_loss): "v", the velocity (the default), or
    # "x0", the clean data, which weighs high noise levels relatively more (by t^2).
    loss_space: str = "v"


@dataclass(frozen=True)
class SampleConfig:
    """Defaults for generation; exported with the model so `tessera generate` uses what it was tuned with."""

    steps: int = 20
    guidance: float = 4.0
    shift: float = 2.0
    solver: str = "dpmpp_2m"
    negative_prompt: str = ""


@dataclass(frozen=True)
class VAERunConfig:
    model: VAEConfig = field(default_factory=VAEConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    loss: VAELossConfig = field(default_factory=VAELossConfig)
    # Train the decoder side only (with loop.init_from): the encoder, its latents and their statistics stay
    # as they were, so a DiT trained on them keeps working with the new decoder.
    decoder_only: bool = False
    # Gaussian noise, in latent standard deviations, added to the latents the decoder reads in training
    # (VideoVAE.forward's latent_noise): a DiT's samples lie near the encoder's latents, not on them.
    latent_noise: float = 0.0


@dataclass(frozen=True)
class DiTRunConfig:
    model: DiTConfig = field(default_factory=DiTConfig)
    vae: str = ""  # folder of an exported VAE (config.json + safetensors)
    text_encoder: str = "e5+minilm"
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)


RunConfig = VAERunConfig | DiTRunConfig


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a config tree (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config tree from `to_dict` output, strictly: unknown keys are errors."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; allowed: {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            kwargs[name] = from_dict(kind, value)
        else:
            kwargs[name] = _coerce(value, kind, name)
    return cls(**kwargs)


def override(cfg: Any, pairs: dict[str, str]) -> Any:
    """A copy of `cfg` with each dotted field `key` set to its text parsed by the field's type.

    All fields of one section change together (one `dataclasses.replace`), so fields that must agree (the
    VAE's dim_mult and temporal_downsample) can be overridden side by side.
    """
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    changes, nested = {}, {}
    for key, text in pairs.items():
        head, _, rest = key.partition(".")
        if head not in fields:
            near = difflib.get_close_matches(head, fields, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise ValueError(f"unknown config key {key!r}{hint} (keys here: {', '.join(fields)})")
        current = getattr(cfg, head)
        if rest:
            if not dataclasses.is_dataclass(current):
                raise ValueError(f"config key {head!r} is a value, not a section: {key!r} goes too deep")
            nested.setdefault(head, {})[rest] = text
        elif dataclasses.is_dataclass(current):
            sub = ", ".join(f"{head}.{f.name}" for f in dataclasses.fields(current))
            raise ValueError(f"config key {head!r} is a section; set one of its fields: {sub}")
        else:
            changes[head] = _parse(text, typing.get_type_hints(type(cfg))[head], key)
    for head, sub_pairs in nested.items():
        changes[head] = override(getattr(cfg, head), sub_pairs)
    return dataclasses.replace(cfg, **changes) if changes else cfg


def _parse(text: str, kind: Any, key: str) -> Any:
    """Parse override text as `kind`: bool, int, float, str, tuples ("1,2,4" or "64x64") and optionals."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        return _parse(text, next(a for a in args if a is not type(None)), key)
    if origin is tuple:
        inner = args[0] if args else str
        numeric = all(a in (int, float) for a in args if a is not Ellipsis)
        # "64x64" is a pair of numbers; in words ("text,first") an x is a letter.
        parts = (
            [p for p in (text.replace("x", ",") if numeric else text).split(",") if p.strip()] if text else []
        )
        if len(args) == 2 and args[1] is Ellipsis or len(args) == 1:
            return tuple(_parse(p.strip(), inner, key) for p in parts)
        if len(parts) != len(args):
            raise ValueError(f"{key}: expected {len(args)} comma-separated values, got {text!r}")
        return tuple(_parse(p.strip(), a, key) for p, a in zip(parts, args, strict=True))
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        raise ValueError(f"{key}: {text!r} is not a valid {kind.__name__}") from None
    if kind is str:
        return text
    raise ValueError(f"{key}: fields of type {kind} cannot be overridden")


def _coerce(value: Any, kind: Any, key: str) -> Any:
    """JSON value -> the field's type (lists -> tuples); used when reading saved configs."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return value
    if origin is tuple and isinstance(value, list):
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], key) for v in value)
        return tuple(value)
    if kind is float and isinstance(value, int):
        return float(value)
    return value
