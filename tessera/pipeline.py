"""Generator: load a model folder once, then turn requests into videos. CLI, UI and API all call this.

    gen = Generator()                       # the model shipped in the package, on the CPU
    video = gen.generate(GenerationRequest("a red circle moves to the right", seed=1))
    video.frames  # (F, H, W, 3) uint8, video.fps

The same request (seed included) gives the same video. `request.conditions` places known media (an image
as the first frame, ...) in the output through the one conditioning mechanism (conditioning.py). Text goes
through the model's text encoder, the sampler runs the DiT over the latent grid with classifier-free
guidance, the VAE decodes the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tessera.conditioning import Condition, build_conditioning
from tessera.data.video_io import to_frames
from tessera.diffusion.flow import TIME_SCALE
from tessera.diffusion.sampler import SOLVERS, guided, sample
from tessera.diffusion.schedule import SCHEDULES, integer_network_times
from tessera.models.dit import token_times
from tessera.models.step_cache import StepCache
from tessera.models.text import TextEmbedding, build_text_encoder
from tessera.weights import DTYPES, SHIPPED_MODEL, check_fits, load_model

MAX_STEPS = 1000  # Wan's training grid has 1,000 times; more sampling steps than that buy nothing
MAX_ASPECT = 16  # the widest (or tallest) aspect W:H `size_for_aspect` takes


def _device(name: str | torch.device) -> torch.device:
    """A torch device that exists on this machine; ValueError naming it otherwise."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device {name!r} is not a torch device; use cpu, cuda, cuda:N or mps") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(device.type, False):
        usable = ", ".join(kind for kind, ok in available.items() if ok)
        raise ValueError(f"device {name!r} is not available on this machine; available: {usable}")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate. None means the model's default (from its model.json)."""

    prompt: str
    negative_prompt: str | None = None
    num_frames: int | None = None
    height: int | None = None
    width: int | None = None
    steps: int | None = None
    guidance: float | None = None
    shift: float | None = None
    solver: str | None = None
    seed: int = 0
    conditions: tuple[Condition, ...] = ()  # known media in the output (image to video, ...): conditioning.py
    # Skip the DiT's blocks after the first where its residual changed by less than this since the last full
    # step (models/dit.py StepCache): faster, slightly different video; 0 runs every block.
    step_cache: float = 0.0
    # A model trained on world captions reads a world prompt as the caption it amounts to (world/rewrite.py);
    # False gives the text encoder the prompt as written.
    rewrite: bool = True


@dataclass
class GeneratedVideo:
    frames: np.ndarray  # (F, H, W, 3) uint8
    fps: float
    request: GenerationRequest
    info: dict[str, Any] = field(default_factory=dict)


class Generator:
    """A loaded model (DiT + VAE + text encoder) ready to generate: a tessera model folder, or a diffusers
    Wan folder (model_index.json), which runs with Wan's own settings (convert/wan_pipeline.py)."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        device: str | torch.device = "cpu",
        dtype: str = "fp32",
        vae_tile: int | None = None,
        offload_text: bool = False,
    ) -> None:
        """dtype: the DiT's and text encoder's weights, "fp32", "bf16" or "fp16" (the VAE stays float32).
        vae_tile: decode in spatial tiles of this many pixels a side (blended seams), so decoding memory
        follows the tile, not the frame; the VAE streams over time either way. offload_text: run the text
        encoder on the CPU, keeping the device's memory for the DiT (UMT5-XXL alone is 11 GB in bf16)."""
        self.model_dir = Path(model_dir) if model_dir is not None else SHIPPED_MODEL
        if not self.model_dir.is_dir():
            raise ValueError(f"model folder {self.model_dir} does not exist")
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        self.device = _device(device)
        check_fits(self.model_dir, self.device, DTYPES[dtype])
        dits, self.vae, self.spec = load_model(self.model_dir, self.device, DTYPES[dtype])
        # A two-expert model (Wan2.2 A14B): the first DiT denoises above the boundary time, the second below.
        self.dit, self.experts = dits[0], dits[1:]
        self.vae_tile = self._check_tile(vae_tile)
        self.rewrites = self.spec.get("rewrite") == "world"
        text_device = torch.device("cpu") if offload_text else self.device
        self.text_encoder = build_text_encoder(
            self.spec["text_encoder"], device=text_device, dtype=DTYPES[dtype]
        )

    def _check_tile(self, tile: int | None) -> tuple[int, int] | None:
        """Pixels a side -> (h, w) latent cells for VideoVAE.decode."""
        if tile is None:
            return None
        sf = self.vae.cfg.spatial_factor
        if tile < sf or tile % sf:
            raise ValueError(f"vae_tile {tile} must be a positive multiple of the VAE's spatial factor {sf}")
        return (tile // sf, tile // sf)

    def resolve(self, request: GenerationRequest) -> GenerationRequest:
        """The request with defaults filled in, checked against what the model can do."""
        video, sample_cfg, limits = self.spec["video"], self.spec["sample"], self.spec["limits"]

        def given(value, default):  # None takes the default; 0 is a value like any other (and is checked)
            return default if value is None else value

        r = replace(
            request,
            negative_prompt=given(request.negative_prompt, sample_cfg["negative_prompt"]),
            num_frames=given(request.num_frames, video["num_frames"]),
            height=given(request.height, video["height"]),
            width=given(request.width, video["width"]),
            steps=given(request.steps, sample_cfg["steps"]),
            guidance=given(request.guidance, sample_cfg["guidance"]),
            shift=given(request.shift, sample_cfg["shift"]),
            solver=given(request.solver, sample_cfg["solver"]),
        )
        if not r.prompt.strip():
            raise ValueError("the prompt is empty; describe the video to generate")
        tf, sf = self.vae.cfg.temporal_factor, self.vae.cfg.spatial_factor
        step = sf * self.dit.cfg.patch_size[1]
        if r.num_frames < 1 or (r.num_frames - 1) % tf:
            k = max(0, (r.num_frames - 1) // tf)
            raise ValueError(
                f"num_frames {r.num_frames} is not {tf}k+1; nearest: {tf * k + 1} or {tf * (k + 1) + 1}"
            )
        if r.num_frames > limits["max_frames"]:
            raise ValueError(
                f"num_frames {r.num_frames} is more than this model handles ({limits['max_frames']})"
            )
        for name, side in (("height", r.height), ("width", r.width)):
            if side < step or side % step:
                raise ValueError(f"{name} {side} must be a positive multiple of {step} (VAE x patch)")
            if side > limits["max_side"]:
                raise ValueError(f"{name} {side} is larger than this model handles ({limits['max_side']})")
        if not 1 <= r.steps <= MAX_STEPS:
            raise ValueError(f"steps must be in 1..{MAX_STEPS}, got {r.steps}")
        if not (math.isfinite(r.shift) and r.shift > 0):
            raise ValueError(f"shift must be a positive number (1 = no shift), got {r.shift}")
        if not 0 <= r.seed < 2**63:
            raise ValueError(f"seed must be in 0..2**63-1, got {r.seed}")
        if r.solver not in SOLVERS:
            raise ValueError(f"unknown solver {r.solver!r}; allowed: {', '.join(SOLVERS)}")
        if not (math.isfinite(r.guidance) and r.guidance >= 0):
            raise ValueError(f"guidance must be a finite number >= 0 (1 = no guidance), got {r.guidance}")
        if not 0 <= r.step_cache < 1:
            raise ValueError(f"step_cache must be in [0, 1) (0 = off; larger skips more), got {r.step_cache}")
        return r

    def size_for_aspect(self, aspect: str) -> tuple[int, int]:
        """(height, width) for an aspect such as "16:9": about the model's default area, sides multiples of
        what the VAE and patch grid divide."""
        try:
            across, down = (float(v) for v in aspect.split(":"))
        except ValueError:
            raise ValueError(f"aspect {aspect!r} is not W:H, e.g. 16:9, 9:16 or 1:1") from None
        if not (across > 0 and down > 0 and math.isfinite(across * down)):
            raise ValueError(f"aspect {aspect!r} needs two positive numbers, e.g. 16:9")
        if not 1 / MAX_ASPECT <= across / down <= MAX_ASPECT:
            raise ValueError(f"aspect {aspect!r} is too extreme: W/H must be in 1/{MAX_ASPECT}..{MAX_ASPECT}")
        video = self.spec["video"]
        area, ratio = video["height"] * video["width"], across / down
        step = self.vae.cfg.spatial_factor * self.dit.cfg.patch_size[1]
        height = max(step, round(math.sqrt(area / ratio) / step) * step)
        width = max(step, round(height * ratio / step) * step)
        return height, width

    def latent_shape(self, request: GenerationRequest) -> tuple[int, int, int, int, int]:
        """(1, C, T, h, w): the latent grid the sampler fills for a resolved request."""
        cfg = self.vae.cfg
        return (
            1,
            cfg.z_dim,
            (request.num_frames - 1) // cfg.temporal_factor + 1,
            request.height // cfg.spatial_factor,
            request.width // cfg.spatial_factor,
        )

    def schedule(self, r: GenerationRequest) -> torch.Tensor:
        """The flow times a resolved request's sampler visits: the model's schedule (`sample.schedule`,
        "uniform" unless it says otherwise, "unipc" for Wan's diffusers scheduler)."""
        return SCHEDULES[self.spec["sample"].get("schedule", "uniform")](r.steps, shift=r.shift)

    def _network_time(self, t_field: torch.Tensor, schedule: torch.Tensor) -> torch.Tensor:
        """Flow times (B, 1, F, H, W) -> the DiT's time input, (B,) or (B, L) with known latents."""
        t = token_times(t_field, self.dit.cfg.patch_size)
        if self.spec["sample"].get("integer_times", False):  # what Wan sees under diffusers' UniPC
            return integer_network_times(t, schedule)
        return t * TIME_SCALE

    def _velocity(
        self, text: TextEmbedding, schedule: torch.Tensor, dit: torch.nn.Module, cache: StepCache | None
    ):
        """A DiT as the sampler's velocity function, with the text (and a step cache of its own) fixed."""

        def velocity(x: torch.Tensor, t_field: torch.Tensor) -> torch.Tensor:
            return dit(x, self._network_time(t_field, schedule), text.tokens, text.mask, cache=cache)

        return velocity

    def prompt_text(self, r: GenerationRequest) -> str:
        """What the text encoder reads for the request's prompt: for a model trained on world captions, a
        prompt the world's parser fully understands as the plain caption it amounts to (in the words the
        model learnt); otherwise the prompt as written."""
        if not (self.rewrites and r.rewrite):
            return r.prompt
        from tessera.world.rewrite import rewrite_prompt

        return rewrite_prompt(r.prompt) or r.prompt

    def _guided_velocity(self, r: GenerationRequest, schedule: torch.Tensor, text: str):
        """(velocity, step caches): what the sampler integrates, `text` guided against the negative prompt.
        A two-expert model (Wan2.2 A14B) switches to its second DiT where the step's time falls below the
        boundary, with the same guidance (diffusers' default for its guidance_scale_2)."""
        cond = self.text_encoder.encode([text]).to(self.device)
        uncond = self.text_encoder.encode([r.negative_prompt]).to(self.device) if r.guidance != 1 else None
        caches: list[StepCache] = []

        def of(text: TextEmbedding, dit: torch.nn.Module):
            cache = StepCache(r.step_cache) if r.step_cache > 0 else None
            caches.extend([cache] if cache else [])
            return self._velocity(text, schedule, dit, cache)

        velocities = [
            of(cond, dit) if uncond is None else guided(of(cond, dit), of(uncond, dit), r.guidance)
            for dit in (self.dit, *self.experts)
        ]
        if not self.experts:
            return velocities[0], caches
        boundary = self.spec["sample"]["experts"]["boundary"] * TIME_SCALE

        def velocity(x: torch.Tensor, t_field: torch.Tensor) -> torch.Tensor:
            step_time = self._network_time(t_field, schedule).max()  # known latents sit at 0, free ones at t
            return velocities[0 if step_time >= boundary else 1](x, t_field)

        return velocity, caches

    @torch.inference_mode()
    def generate(
        self,
        request: GenerationRequest,
        *,
        progress: bool = False,
        callback: Callable[[int, int], None] | None = None,
    ) -> GeneratedVideo:
        """The video for `request`. progress: a progress bar; callback(done, total): called after each
        sampling step (what a server reports as a job's progress)."""
        r = self.resolve(request)
        g = torch.Generator().manual_seed(r.seed)
        noise = torch.randn(self.latent_shape(r), generator=g).to(self.device)
        schedule = self.schedule(r)
        text = self.prompt_text(r)
        velocity, caches = self._guided_velocity(r, schedule, text)
        clean = mask = None
        if r.conditions:
            clean, mask = build_conditioning(r.conditions, self.vae, self.latent_shape(r), r.num_frames)
        latents = sample(
            velocity,
            noise,
            schedule.to(self.device),
            solver=r.solver,
            clean=clean,
            mask=mask,
            progress=progress,
            callback=callback,
        )
        video = self.vae.decode_latents(latents, tile=self.vae_tile)[0]  # (3, F, H, W)
        fps = self.spec["video"]["fps"]
        info: dict[str, Any] = {"model": str(self.model_dir)}
        if text != r.prompt:
            info["prompt_read_as"] = text
        if caches:  # the share of DiT calls that ran the first block only
            info["blocks_skipped"] = sum(c.skipped for c in caches) / max(1, sum(c.calls for c in caches))
        return GeneratedVideo(frames=to_frames(video), fps=fps, request=r, info=info)
