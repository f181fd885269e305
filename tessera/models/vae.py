"""Causal 3D video VAE with the Wan2.1 VAE architecture and Wan2.2's (TI2V-5B) variant of it: VAEConfig,
Encoder, Decoder, VideoVAE (layers in vae_layers.py).

Shape letters: B batch, C channels, F pixel frames, H height, W width (pixels), T latent frames,
h w latent height/width, Z latent channels, p pixel patch size. F = 4k + 1 pixel frames <-> T = k + 1 latent
frames (for the default temporal factor 4): the first frame is coded alone, so an image is a 1-frame video.

Module and parameter names follow diffusers' AutoencoderKLWan, so our state_dict keys are diffusers' keys and
Wan2.1 and Wan2.2 weights load with no renaming (tessera/convert/wan_vae.py handles the original layout).

Wan2.2's VAE (`is_residual`, `patch_size` 2, its own `decoder_base_dim`) differs from Wan2.1's in three ways:
- p x p pixel patches become channels before the encoder and are unfolded after the decoder, so the
  network runs at H/p x W/p and the spatial factor is p times the network's.
- each level is one block (residual blocks, then the resampler) with a parameter-free shortcut around it:
  AverageDown folds a space/time cell into channels and averages them in the encoder; DuplicateUp repeats
  channels and unfolds them in the decoder. Upsamplers keep the width instead of halving it.
- the decoder has its own base width.

Two ways to run the same network, equal to float round-off:
- all at once (`chunked=False`): every causal conv zero-pads the past; the fast path for training.
- streaming (`chunked=True`): frame 0 alone, then `temporal_factor` frames per chunk when encoding, one latent
  frame per chunk when decoding. Each module that looks back in time keeps the tail of its input in a
  FeatureCache between chunks, so memory does not grow with clip length.
The first frame gets special handling in both: downsample3d lets frame 0 skip its strided time conv, and
upsample3d lets latent frame 0 skip its time conv (the next frame then sees zeros as its past, not frame 0);
Wan2.2's shortcuts beside them do the same (AverageDown pairs frame 0 with a zero frame, DuplicateUp makes one
frame of latent frame 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from tessera.models.tiling import Tile, run_tiled
from tessera.models.vae_layers import (
    AttentionBlock,
    CausalConv3d,
    FeatureCache,
    MidBlock,
    Resample,
    ResidualBlock,
    ResidualDownBlock,
    ResidualUpBlock,
    RMSNorm,
)

WAN21_LATENTS_MEAN = (
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
    0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
)  # fmt: skip
WAN21_LATENTS_STD = (
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
    3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160,
)  # fmt: skip
WAN22_LATENTS_MEAN = (
    -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557,
    -0.1382, 0.0542, 0.2813, 0.0891, 0.1570, -0.0098, 0.0375, -0.1825,
    -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
    -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230,
    -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748,
    0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667,
)  # fmt: skip
WAN22_LATENTS_STD = (
    0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013,
    0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978,
    0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
    0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093,
    0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
    0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
)  # fmt: skip
LOGVAR_RANGE = (-30.0, 20.0)  # the posterior log-variance clamp of Wan2.1 / diffusers


@dataclass(frozen=True)
class VAEConfig:
    base_dim: int = 96
    z_dim: int = 16
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    temporal_downsample: tuple[bool, ...] = (False, True, True)  # per encoder level but the last
    dropout: float = 0.0
    in_channels: int = 3  # of the video; the encoder's first conv sees in_channels * patch_size**2
    out_channels: int = 3
    latents_mean: tuple[float, ...] = WAN21_LATENTS_MEAN  # per-channel stats used by normalize()
    latents_std: tuple[float, ...] = WAN21_LATENTS_STD
    # Wan2.2's variant (the defaults are Wan2.1): one block per level with a parameter-free shortcut
    # (AverageDown / DuplicateUp), p x p pixel patches as channels, and a decoder width of its own
    is_residual: bool = False
    patch_size: int = 1
    decoder_base_dim: int | None = None  # None: base_dim

    def __post_init__(self) -> None:
        # Sequences are stored as tuples so the config stays hashable and compares equal after a JSON trip.
        for name in ("dim_mult", "temporal_downsample", "latents_mean", "latents_std"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("base_dim", "z_dim", "num_res_blocks", "in_channels", "out_channels", "patch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"VAEConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.dim_mult or min(self.dim_mult) < 1:
            raise ValueError(f"VAEConfig.dim_mult must be non-empty positive ints, got {self.dim_mult}")
        if len(self.temporal_downsample) != len(self.dim_mult) - 1:
            raise ValueError(
                f"VAEConfig.temporal_downsample needs {len(self.dim_mult) - 1} entries (one per downsampling "
                f"level of dim_mult={self.dim_mult}), got {self.temporal_downsample}"
            )
        for name in ("latents_mean", "latents_std"):
            if len(getattr(self, name)) != self.z_dim:
                raise ValueError(
                    f"VAEConfig.{name} needs z_dim={self.z_dim} values, got {len(getattr(self, name))}"
                )
        if min(self.latents_std) <= 0:
            raise ValueError(f"VAEConfig.latents_std must be positive, got {self.latents_std}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"VAEConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.decoder_base_dim is not None and self.decoder_base_dim < 1:
            raise ValueError(f"VAEConfig.decoder_base_dim must be >= 1 or None, got {self.decoder_base_dim}")
        if self.is_residual:
            self._check_shortcut_widths()

    def _check_shortcut_widths(self) -> None:
        """The residual shortcuts regroup whole channels: an encoder level's input channels times its
        space/time cell must split evenly into its output channels, and the other way round in the decoder."""
        num_levels = len(self.dim_mult)
        enc = [self.base_dim * m for m in (1, *self.dim_mult)]
        dec = [self.decoder_dim * m for m in (self.dim_mult[-1], *reversed(self.dim_mult))]
        for level in range(num_levels):
            down = level < num_levels - 1
            cell = (4 if down else 1) * (2 if down and self.temporal_downsample[level] else 1)
            if enc[level] * cell % enc[level + 1]:
                raise ValueError(
                    f"VAEConfig: is_residual needs encoder level {level}'s width {enc[level]} x {cell} to be "
                    f"a multiple of its output width {enc[level + 1]} (base_dim={self.base_dim}, "
                    f"dim_mult={self.dim_mult})"
                )
        for level, temporal in enumerate(self.temporal_downsample[::-1]):
            cell = 4 * (2 if temporal else 1)
            if dec[level + 1] * cell % dec[level]:
                raise ValueError(
                    f"VAEConfig: is_residual needs decoder level {level}'s output width {dec[level + 1]} x "
                    f"{cell} to be a multiple of its input width {dec[level]} "
                    f"(decoder base width {self.decoder_dim}, dim_mult={self.dim_mult})"
                )

    @property
    def temporal_factor(self) -> int:
        return 2 ** sum(self.temporal_downsample)

    @property
    def spatial_factor(self) -> int:
        return self.patch_size * 2 ** (len(self.dim_mult) - 1)

    @property
    def decoder_dim(self) -> int:
        return self.base_dim if self.decoder_base_dim is None else self.decoder_base_dim

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> VAEConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown VAEConfig keys {unknown}; known keys: {sorted(known)}")
        return cls(**d)


# fmt: off
VAE_SIZES: dict[str, VAEConfig] = {
    "wan2.1": VAEConfig(),
    # Wan2.2-TI2V-5B: 16x space (2x2 pixel patches, then 8x), 4x time, 48 latent channels
    "wan2.2": VAEConfig(base_dim=160, decoder_base_dim=256, z_dim=48, is_residual=True, patch_size=2,
                        latents_mean=WAN22_LATENTS_MEAN, latents_std=WAN22_LATENTS_STD),
    "tiny": VAEConfig(base_dim=8, z_dim=4, dim_mult=(1, 2, 2, 2), num_res_blocks=1,
                      latents_mean=(0.0,) * 4, latents_std=(1.0,) * 4),
    # 4x space (one level fewer than Wan): in vae-world-cpu's run it reached 23.1 dB held-out PSNR where
    # the 8x layout reached 21.7; the DiT's (1, 4, 4) patches keep the token count of 8x with (1, 2, 2).
    "world": VAEConfig(base_dim=16, z_dim=16, dim_mult=(1, 2, 4), num_res_blocks=1,
                       temporal_downsample=(True, True),
                       latents_mean=(0.0,) * 16, latents_std=(1.0,) * 16),
}
# fmt: on


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        dims = [cfg.base_dim * m for m in (1, *cfg.dim_mult)]
        self.conv_in = CausalConv3d(cfg.in_channels * cfg.patch_size**2, dims[0], (3, 3, 3))
        blocks: list[nn.Module] = []
        for level, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            mode = None
            if level < len(cfg.dim_mult) - 1:
                mode = "downsample3d" if cfg.temporal_downsample[level] else "downsample2d"
            if cfg.is_residual:  # one block per level, as Wan2.2 names them: down_blocks.{level}
                blocks.append(ResidualDownBlock(in_dim, out_dim, cfg.num_res_blocks, cfg.dropout, mode))
                continue
            # one flat list (residual blocks and resamplers), as Wan2.1 names them: down_blocks.{i}
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResidualBlock(in_dim, out_dim, cfg.dropout))
                in_dim = out_dim
            if mode is not None:
                blocks.append(Resample(out_dim, mode))
        self.down_blocks = nn.ModuleList(blocks)
        self.mid_block = MidBlock(dims[-1], cfg.dropout)
        self.norm_out = RMSNorm(dims[-1], 3)
        self.conv_out = CausalConv3d(dims[-1], 2 * cfg.z_dim, (3, 3, 3))

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        x = self.conv_in(x, cache)  # (B,C,F,H/p,W/p)
        for block in self.down_blocks:
            x = block(x, cache)  # down to (B,C,T,h,w)
        x = self.mid_block(x, cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)  # (B,2Z,T,h,w): mean and log-variance


class UpBlock(nn.Module):
    def __init__(
        self, in_dim: int, out_dim: int, num_res_blocks: int, dropout: float, mode: str | None
    ) -> None:
        super().__init__()
        dims = [in_dim] + [out_dim] * (num_res_blocks + 1)
        self.resnets = nn.ModuleList(
            ResidualBlock(i, o, dropout) for i, o in zip(dims[:-1], dims[1:], strict=True)
        )
        self.upsamplers = None if mode is None else nn.ModuleList([Resample(out_dim, mode)])

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        for resnet in self.resnets:
            x = resnet(x, cache)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x, cache)  # (B,C/2,2H,2W) and maybe 1+2n frames
        return x


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        dims = [cfg.decoder_dim * m for m in (cfg.dim_mult[-1], *reversed(cfg.dim_mult))]
        temporal_upsample = cfg.temporal_downsample[::-1]
        self.conv_in = CausalConv3d(cfg.z_dim, dims[0], (3, 3, 3))
        self.mid_block = MidBlock(dims[0], cfg.dropout)
        blocks = []
        in_dim = dims[0]
        for level, out_dim in enumerate(dims[1:]):
            mode = None
            if level < len(cfg.dim_mult) - 1:
                mode = "upsample3d" if temporal_upsample[level] else "upsample2d"
            if cfg.is_residual:
                blocks.append(ResidualUpBlock(in_dim, out_dim, cfg.num_res_blocks, cfg.dropout, mode))
                in_dim = out_dim  # Wan2.2's upsamplers keep the width
            else:
                blocks.append(UpBlock(in_dim, out_dim, cfg.num_res_blocks, cfg.dropout, mode))
                in_dim = out_dim // 2  # Wan2.1's upsamplers halve it
        self.up_blocks = nn.ModuleList(blocks)
        self.norm_out = RMSNorm(dims[-1], 3)
        self.conv_out = CausalConv3d(dims[-1], cfg.out_channels * cfg.patch_size**2, (3, 3, 3))

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        x = self.conv_in(x, cache)  # (B,C,T,h,w)
        x = self.mid_block(x, cache)
        for block in self.up_blocks:
            x = block(x, cache)  # up to (B,C,F,H/p,W/p)
        return self.conv_out(F.silu(self.norm_out(x)), cache)  # (B,3*p*p,F,H/p,W/p)


class VideoVAE(nn.Module):
    """Causal video VAE: video (B,3,F,H,W) in [-1, 1] <-> latents (B,Z,T,h,w).

    encode/decode work on raw latents (what the network makes); encode_latents/decode_latents work on
    latents normalised per channel with cfg.latents_mean/std, which is what diffusion sees.
    """

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quant_conv = CausalConv3d(2 * cfg.z_dim, 2 * cfg.z_dim, (1, 1, 1))
        self.post_quant_conv = CausalConv3d(cfg.z_dim, cfg.z_dim, (1, 1, 1))
        self.decoder = Decoder(cfg)
        self.init_weights()

    def init_weights(self) -> None:
        """Convs: PyTorch's default (Kaiming-uniform), which the original Wan VAE keeps. Norm gains 1.
        Attention output projections 0, so each attention block starts as the identity. Also the way to
        initialise after building on the meta device and `to_empty`."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Conv3d):
                module.reset_parameters()
            elif isinstance(module, RMSNorm):
                nn.init.ones_(module.gamma)
        for module in self.modules():
            if isinstance(module, AttentionBlock):
                nn.init.zeros_(module.proj.weight)
                nn.init.zeros_(module.proj.bias)

    # ---- encoding

    def encode(
        self, video: Tensor, *, chunked: bool = True, tile: Tile = None, tile_stride: Tile = None
    ) -> tuple[Tensor, Tensor]:
        """video (B,3,F,H,W) in [-1, 1] with F = 4k+1 -> (mean, logvar), each (B,Z,k+1,H/s,W/s) for the
        spatial factor s (8 for Wan2.1, 16 for Wan2.2).

        chunked: stream over time (constant memory in F) or run the clip at once (faster, for training).
        tile/tile_stride: spatial tiles of (th, tw) pixels placed every (sh, sw) pixels (default 3/4 of the
        tile), multiples of the spatial factor; overlaps are blended linearly.
        """
        self._check_video(video)
        sf = self.cfg.spatial_factor
        if tile is None:
            moments = self._encode_moments(video, chunked)
        else:
            moments = run_tiled(lambda v: self._encode_moments(v, chunked), video, tile, tile_stride, sf, 1)
        mean, logvar = moments.chunk(2, dim=1)  # each (B,Z,T,h,w)
        return mean, logvar.clamp(*LOGVAR_RANGE)

    def _encode_moments(self, video: Tensor, chunked: bool) -> Tensor:
        x = self._patchify(video)  # (B,3*p*p,F,H/p,W/p)
        if not chunked:
            return self.quant_conv(self.encoder(x))  # (B,2Z,T,h,w)
        cache: FeatureCache = {}
        chunks = [x[:, :, :1]]
        if x.shape[2] > 1:
            chunks += x[:, :, 1:].split(self.cfg.temporal_factor, dim=2)
        moments = torch.cat([self.encoder(chunk, cache) for chunk in chunks], dim=2)  # (B,2Z,T,h,w)
        return self.quant_conv(moments)

    def encode_latents(
        self, video: Tensor, *, generator: torch.Generator | None = None, sample: bool = False, **tiling
    ) -> Tensor:
        """Normalised latents of a video: the posterior mean, or a sample of it when `sample` is True.
        `tiling` (chunked, tile, tile_stride) goes to `encode`."""
        mean, logvar = self.encode(video, **tiling)
        z = self._sample(mean, logvar, generator) if sample else mean
        return self.normalize(z)

    # ---- decoding

    def decode(
        self, z: Tensor, *, chunked: bool = True, tile: Tile = None, tile_stride: Tile = None
    ) -> Tensor:
        """Raw latents (B,Z,T,h,w) -> video (B,3,4(T-1)+1,s*h,s*w) for the spatial factor s, clamped to
        [-1, 1].

        chunked: one latent frame at a time (constant memory in T) or all at once.
        tile/tile_stride: spatial tiles of (th, tw) latent cells every (sh, sw) cells (default 3/4 of a tile).
        """
        self._check_latents(z)
        if tile is None:
            video = self._decode_frames(z, chunked)
        else:
            sf = self.cfg.spatial_factor
            video = run_tiled(lambda t: self._decode_frames(t, chunked), z, tile, tile_stride, 1, sf)
        return video.clamp(-1.0, 1.0)

    def _decode_frames(self, z: Tensor, chunked: bool) -> Tensor:
        x = self.post_quant_conv(z)
        if not chunked:
            return self._unpatchify(self.decoder(x))  # (B,3,F,H,W)
        cache: FeatureCache = {}
        frames = [self.decoder(x[:, :, t : t + 1], cache) for t in range(x.shape[2])]  # 1, then 4 frames each
        return self._unpatchify(torch.cat(frames, dim=2))  # (B,3,F,H,W)

    def decode_latents(self, latents: Tensor, **tiling) -> Tensor:
        """Normalised latents -> video in [-1, 1]; `tiling` (chunked, tile, tile_stride) goes to `decode`."""
        return self.decode(self.denormalize(latents), **tiling)

    # ---- training

    def forward(
        self, video: Tensor, *, generator: torch.Generator | None = None, latent_noise: float = 0.0
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(reconstruction, mean, logvar) through the all-at-once path with a reparameterised sample.

        `latent_noise` > 0 adds Gaussian noise of that many latent standard deviations (per channel, the
        config's latents_std) to the sample the decoder reads: a decoder trained so learns to take latents
        that are near, not on, the encoder's, as a DiT's samples are. The reconstruction is not clamped: a
        clamp would stop the gradient of every pixel that overshoots."""
        self._check_video(video)
        if latent_noise < 0:
            raise ValueError(f"latent_noise must be >= 0, got {latent_noise}")
        mean, logvar = self.quant_conv(self.encoder(self._patchify(video))).chunk(2, dim=1)  # (B,Z,T,h,w)
        logvar = logvar.clamp(*LOGVAR_RANGE)
        z = self._sample(mean, logvar, generator)
        if latent_noise:
            _, std = self._latent_stats(z)
            noise = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
            z = z + latent_noise * std * noise
        return self._unpatchify(self.decoder(self.post_quant_conv(z))), mean, logvar  # (B,3,F,H,W)

    # ---- pixel patches (Wan2.2)

    def _patchify(self, video: Tensor) -> Tensor:
        p = self.cfg.patch_size
        if p == 1:
            return video
        # the channel order (c, column in the patch, row in the patch) is the one Wan2.2 was trained with
        return rearrange(video, "b c f (h r) (w q) -> b (c q r) f h w", r=p, q=p)  # (B,C*p*p,F,H/p,W/p)

    def _unpatchify(self, x: Tensor) -> Tensor:
        p = self.cfg.patch_size
        if p == 1:
            return x
        return rearrange(x, "b (c q r) f h w -> b c f (h r) (w q)", r=p, q=p)  # (B,C,F,H,W)

    # ---- latent statistics

    def normalize(self, z: Tensor) -> Tensor:
        mean, std = self._latent_stats(z)
        return (z - mean) / std

    def denormalize(self, z_norm: Tensor) -> Tensor:
        mean, std = self._latent_stats(z_norm)
        return z_norm * std + mean

    def _latent_stats(self, z: Tensor) -> tuple[Tensor, Tensor]:
        self._check_latents(z)
        # built per call, not buffers: buffers would add state-dict keys that Wan2.1 checkpoints do not have
        mean = torch.tensor(self.cfg.latents_mean, dtype=z.dtype, device=z.device).view(1, -1, 1, 1, 1)
        std = torch.tensor(self.cfg.latents_std, dtype=z.dtype, device=z.device).view(1, -1, 1, 1, 1)
        return mean, std

    @staticmethod
    def _sample(mean: Tensor, logvar: Tensor, generator: torch.Generator | None) -> Tensor:
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(0.5 * logvar) * noise

    def _check_video(self, video: Tensor) -> None:
        c, tf, sf = self.cfg.in_channels, self.cfg.temporal_factor, self.cfg.spatial_factor
        if video.ndim != 5 or video.shape[1] != c:
            raise ValueError(f"video must be (B, {c}, F, H, W), got shape {tuple(video.shape)}")
        num_frames, height, width = video.shape[2:]
        if num_frames < 1 or (num_frames - 1) % tf:
            raise ValueError(
                f"video has {num_frames} frames; the causal VAE needs {tf}k + 1 ({1 + tf}, {1 + 2 * tf}, ...)"
            )
        if height % sf or width % sf:
            raise ValueError(f"video size {height}x{width} (HxW) is not divisible by the spatial factor {sf}")

    def _check_latents(self, z: Tensor) -> None:
        if z.ndim != 5 or z.shape[1] != self.cfg.z_dim:
            raise ValueError(f"latents must be (B, {self.cfg.z_dim}, T, h, w), got shape {tuple(z.shape)}")
