"""Conditioning: every prompting mode is a list of `Condition` items, turned into clean latents and a mask.

A Condition names media (an image, a video, or latents), the output frame where its first frame sits, and a
strength. `build_conditioning` encodes each item with the model's VAE and writes it onto the latent grid of
the request: `clean` (1, C, T, h, w) holds the known latents, `mask` (1, 1, T, h, w) how known each latent is
(1 = kept exactly, 0 = free). The sampler (diffusion/sampler.py) keeps known latents at time 0 and denoises
the rest; a strength below 1 starts the item partly noised, so the model may change it (SDEdit).

Frames and latents. The causal VAE codes pixel frame 0 alone and then every `tf` frames as one latent frame
(tf = temporal factor, 4 for Wan): latent 0 <- frame 0, latent j >= 1 <- frames tf*(j-1)+1 .. tf*j. A latent
depends on the frames before it, so media are encoded as they will sit in the output, not alone. Placed at
frame 0 (image to video, extending forward) an item is coded exactly as inside the output. Placed at a later
frame p, it is encoded after its first frame held still from frame 0 to p, and only the latents of its own
frames are kept. A video must start on a slot boundary, one of two ways:
- p = tf*j + 1, tf*m frames: it fills slots j+1 .. j+m whole, and every frame of it is a given latent's
  (extending backward and connecting into a video's start use this, so the generated frames meet a given
  frame the window decodes, as after a given end);
- p = tf*j, tf*m + 1 frames: its frame 0 ends slot j, which it shares with free frames, so that frame is
  generated (the modes paste given frames back, see modes.py) and its frames 1.. fill slots j+1 ...
An image fills the slot holding p, coded as that slot's frames all showing it. Encoded alone instead, a
video's later latents were 40-50% (relative L2) off the latents of the same frames inside a one-pass
encoding, which is what the DiT trains on, and an image's (an image-type latent) 160%; after the still
prefix, 3-11% and 10-40% (4 world clips; tests/test_conditioning.py checks one). Latents given as media are
taken as they are: at frame 0 or tf*j + 1 all of them, at frame tf*j the first (image-type) one is dropped.

Shape letters: F frames, H height, W width, C latent channels, T latent frames, h w latent height/width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from tessera.data.video_io import to_video_tensor
from tessera.models.vae import VideoVAE


@dataclass(frozen=True)
class Condition:
    """Known media placed in the output video.

    media: an image (H, W, 3) or video (F, H, W, 3) of uint8 RGB at the output's size (a video has 4k+1 frames
    for the Wan VAE), or normalised latents (C, T, h, w) from `VideoVAE.encode_latents`.
    frame: the output frame where the media's first frame sits; negative counts from the end (-1 = last).
    strength: in (0, 1]; 1 keeps the media exactly, lower values let the model change it more.
    """

    media: np.ndarray | Tensor
    frame: int = 0
    strength: float = 1.0


def latent_index(frame: int, temporal_factor: int) -> int:
    """The latent frame that codes pixel frame `frame` (module docstring)."""
    return 0 if frame == 0 else (frame - 1) // temporal_factor + 1


def placed_latents(
    media: np.ndarray | Tensor, frame: int, vae: VideoVAE, height: int, width: int
) -> tuple[Tensor, int]:
    """(latents (1, C, T, h, w), first latent slot) of media whose frame 0 sits at output frame `frame`
    (>= 0), encoded after a still prefix as the module docstring says."""
    tf = vae.cfg.temporal_factor
    if isinstance(media, Tensor):
        latents = _given_latents(media, vae, height, width)
        video = latents.shape[2] > 1
    else:
        frames = _media_frames(media, vae, height, width)
        video = len(frames) > 1
    if video and frame and frame % tf > 1:
        j = frame // tf
        raise ValueError(
            f"a video placed after frame 0 must start on a latent slot's boundary: at frame {tf}j + 1 "
            f"(it fills slots from there) or {tf}j (its frame 0 ends slot j and is regenerated), got frame "
            f"{frame}; use {tf * j + 1} or {tf * (j + 1)}"
        )
    starts_slot = video and (frame - 1) % tf == 0  # else frame 0, or its frame 0 ends a slot, or an image
    slot = latent_index(frame, tf)
    if isinstance(media, Tensor):
        return (latents[:, :, 1:], slot + 1) if video and frame and not starts_slot else (latents, slot)
    if video and (len(frames) - 1 + starts_slot) % tf:  # its last frame must end a slot
        if starts_slot:
            want, trim = f"{tf}k frames when it starts a latent slot (frame {frame})", len(frames) // tf * tf
        else:
            want, trim = f"{tf}k+1 frames", (len(frames) - 1) // tf * tf + 1
        raise ValueError(f"a condition video needs {want}, got {len(frames)}; trim it to {trim}")
    if frame == 0:
        return _encode(frames, vae), 0
    if video:  # held still for frames 0 .. frame - 1, then the video: its frame 0 lands on `frame`
        held = np.concatenate([np.repeat(frames[:1], frame, axis=0), frames])
        first = slot if starts_slot else slot + 1
        return _encode(held, vae)[:, :, first:], first
    held = np.repeat(frames, tf * slot + 1, axis=0)  # the image on every frame up to the end of its slot
    return _encode(held, vae)[:, :, slot:], slot


def _given_latents(latents: Tensor, vae: VideoVAE, height: int, width: int) -> Tensor:
    cfg = vae.cfg
    expected = (cfg.z_dim, height // cfg.spatial_factor, width // cfg.spatial_factor)
    if latents.ndim != 4 or (latents.shape[0], *latents.shape[2:]) != expected:
        raise ValueError(
            f"condition latents must be (C, T, h, w) with (C, h, w) = {expected}, got {tuple(latents.shape)}"
        )
    return latents[None].float().to(next(vae.parameters()).device)


def _media_frames(media: np.ndarray, vae: VideoVAE, height: int, width: int) -> np.ndarray:
    """Pixel media as (F, H, W, 3) uint8 frames at the output size, or a ValueError."""
    frames = np.asarray(media)
    if frames.ndim == 3:
        frames = frames[None]  # an image is a 1-frame video
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"condition media must be uint8 RGB, (H, W, 3) or (F, H, W, 3), got {frames.dtype} {frames.shape}"
        )
    if frames.shape[1:3] != (height, width):
        raise ValueError(
            f"condition media is {frames.shape[2]}x{frames.shape[1]} but the output is {width}x{height}; "
            "resize it first (the CLI does: read_video(path, size=(H, W)))"
        )
    return frames


def _encode(frames: np.ndarray, vae: VideoVAE) -> Tensor:
    video = to_video_tensor(frames)[None].to(next(vae.parameters()).device)  # (1, 3, F, H, W)
    with torch.inference_mode():
        return vae.encode_latents(video).float()  # (1, C, T, h, w)


def build_conditioning(
    conditions: tuple[Condition, ...] | list[Condition],
    vae: VideoVAE,
    latent_shape: tuple[int, int, int, int, int],
    num_frames: int,
) -> tuple[Tensor, Tensor]:
    """Clean latents (1, C, T, h, w) and mask (1, 1, T, h, w) for the sampler; later items win overlaps."""
    batch, _, num_latents, h, w = latent_shape
    sf = vae.cfg.spatial_factor
    device = next(vae.parameters()).device
    clean = torch.zeros(latent_shape, device=device)
    mask = torch.zeros(batch, 1, num_latents, h, w, device=device)
    for i, cond in enumerate(conditions):
        if not (isinstance(cond.strength, (int, float)) and math.isfinite(cond.strength)):
            raise ValueError(f"condition {i}: strength must be a number in (0, 1], got {cond.strength!r}")
        if not 0 < cond.strength <= 1:
            raise ValueError(f"condition {i}: strength must be in (0, 1], got {cond.strength!r}")
        frame = cond.frame + num_frames if cond.frame < 0 else cond.frame
        if not 0 <= frame < num_frames:
            raise ValueError(
                f"condition {i}: frame {cond.frame} is outside the output's {num_frames} frames "
                f"(allowed {-num_frames} .. {num_frames - 1})"
            )
        try:
            latents, start = placed_latents(cond.media, frame, vae, h * sf, w * sf)  # (1, C, Tm, h, w)
        except ValueError as err:
            raise ValueError(f"condition {i}: {err}") from None
        if start + latents.shape[2] > num_latents:
            raise ValueError(
                f"condition {i}: {latents.shape[2]} latent frames from frame {frame} run past the output's "
                f"end ({num_frames} frames = {num_latents} latent frames); place it earlier or make the "
                "output longer"
            )
        span = slice(start, start + latents.shape[2])
        clean[:, :, span] = latents
        mask[:, :, span] = float(cond.strength)
    return clean, mask
