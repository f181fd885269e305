"""The layers of the causal video VAE (tessera/models/vae.py): causal 3D convolution, RMS norm, residual,
attention and mid blocks, the space/time resampling with Wan2.1's first-frame handling, and Wan2.2's level
blocks (ResidualDownBlock, ResidualUpBlock) with their parameter-free shortcuts (AverageDown, DuplicateUp).

Shape letters as in vae.py: B batch, C channels, F frames, H height, W width. Every module that looks back in
time takes an optional FeatureCache, the streaming state of one chunked encode or decode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

# Streaming state of one chunked encode or decode: for each module that looks back in time, what it keeps from
# the previous chunk. Keyed by the module itself, so no call-order counter has to be kept in step.
FeatureCache = dict[nn.Module, Tensor]


class CausalConv3d(nn.Conv3d):
    """Conv3d that sees only the present and `past` earlier frames: zero frames (or, when streaming, the
    cached tail of the previous chunk) are put on the left in time; space is zero-padded to keep its size."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        kernel_size: tuple[int, int, int],
        *,
        stride_t: int = 1,
        past: int | None = None,
    ) -> None:
        kt, kh, kw = kernel_size
        super().__init__(in_dim, out_dim, kernel_size, stride=(stride_t, 1, 1), padding=(0, kh // 2, kw // 2))
        self.past = kt - 1 if past is None else past

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        if self.past:
            prev = None if cache is None else cache.get(self)
            if prev is None:
                prev = x.new_zeros(*x.shape[:2], self.past, *x.shape[3:])
            x = torch.cat([prev, x], dim=2)  # (B,C,past+F,H,W)
            if cache is not None:
                # clone: a view would keep this whole chunk alive until the next one
                cache[self] = x[:, :, -self.past :].clone()
        if _misrouted_on_cpu(x):
            return torch.mkldnn_convolution(
                x, self.weight, self.bias, self.padding, self.stride, self.dilation, 1
            )
        return super().forward(x)  # (B,C',F,H,W), or fewer frames with a time stride


def _misrouted_on_cpu(x: Tensor) -> bool:
    """Whether PyTorch would run this conv on its slow path though oneDNN is at hand.

    PyTorch's CPU dispatch sends float32 batch-1 convs with N*C*F*H <= 20480 (every streaming chunk of a small
    VAE, and the deep levels of a small clip) to a single-threaded vol2col kernel, measured 10-20x slower than
    oneDNN on such shapes. We call oneDNN directly there, except when compiling or under autocast, which need
    the ordinary op."""
    return (
        x.shape[0] == 1
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
    )


class RMSNorm(nn.Module):
    """L2-normalise over channels, times sqrt(C) and a learned per-channel gain `gamma` (no bias).
    gamma is (C,1,1,1) on videos and (C,1,1) on single frames, as in Wan2.1, so weights load unchanged."""

    def __init__(self, dim: int, num_trailing_dims: int) -> None:
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones(dim, *(1,) * num_trailing_dims))

    def forward(self, x: Tensor) -> Tensor:
        # the squared norm of hundreds of half-precision channels overflows, so it is summed in fp32
        sq = x.float().square().sum(dim=1, keepdim=True)  # (B,1,...)
        # x / max(|x|, 1e-12) as F.normalize, whose CPU kernels measured ~10x slower here (forward + backward)
        inv_norm = torch.rsqrt(sq.clamp_min(1e-24)).to(x.dtype)
        return x * inv_norm * (self.gamma * self.scale)


class ResidualBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = RMSNorm(in_dim, 3)
        self.conv1 = CausalConv3d(in_dim, out_dim, (3, 3, 3))
        self.norm2 = RMSNorm(out_dim, 3)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = CausalConv3d(out_dim, out_dim, (3, 3, 3))
        self.conv_shortcut = CausalConv3d(in_dim, out_dim, (1, 1, 1)) if in_dim != out_dim else nn.Identity()

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        shortcut = self.conv_shortcut(x)  # (B,C_out,F,H,W)
        x = self.conv1(F.silu(self.norm1(x)), cache)  # (B,C_out,F,H,W)
        x = self.conv2(self.dropout(F.silu(self.norm2(x))), cache)
        return x + shortcut


class AttentionBlock(nn.Module):
    """Single-head self-attention over the H*W positions of each frame on its own (so it stays causal)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = RMSNorm(dim, 2)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, _, _, h, _ = x.shape
        y = rearrange(x, "b c f h w -> (b f) c h w")  # frames into the batch
        qkv = self.to_qkv(self.norm(y))  # (B*F,3C,H,W)
        q, k, v = rearrange(qkv, "n (three c) h w -> three n 1 (h w) c", three=3)  # each (B*F,1,H*W,C)
        y = F.scaled_dot_product_attention(q, k, v)
        y = self.proj(rearrange(y, "n 1 (h w) c -> n c h w", h=h))  # (B*F,C,H,W)
        return x + rearrange(y, "(b f) c h w -> b c f h w", b=b)


class MidBlock(nn.Module):
    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.resnets = nn.ModuleList([ResidualBlock(dim, dim, dropout), ResidualBlock(dim, dim, dropout)])
        self.attentions = nn.ModuleList([AttentionBlock(dim)])

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        x = self.resnets[0](x, cache)
        x = self.attentions[0](x)
        return self.resnets[1](x, cache)


class Resample(nn.Module):
    """Halve or double H and W (per frame), and for the 3d modes also F. Upsampling maps the width to
    `up_dim` (default dim/2).

    downsample3d: after the 2D conv, frame 0 passes alone and the rest go through a stride-2 time conv that
        also sees the frame before them: 1 + 2n frames -> 1 + n.
    upsample3d: before the 2D upsample, frame 0 passes alone; the rest go through a causal time conv (zero
        past) whose 2C output channels are two frames each: 1 + n frames -> 1 + 2n.
    """

    def __init__(self, dim: int, mode: str, up_dim: int | None = None) -> None:
        super().__init__()
        assert mode in ("downsample2d", "downsample3d", "upsample2d", "upsample3d"), mode
        self.mode = mode
        up_dim = dim // 2 if up_dim is None else up_dim  # Wan2.1 halves the width; Wan2.2 keeps it
        # `resample` is a Sequential so the conv's state-dict name is `resample.1`, as in Wan2.1
        if mode.startswith("downsample"):
            # pad right/bottom only: a stride-2 3x3 conv then maps H -> H/2 with no centring shift
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=2))
        else:
            self.resample = nn.Sequential(
                nn.Upsample(scale_factor=(2.0, 2.0), mode="nearest-exact"),
                nn.Conv2d(dim, up_dim, 3, padding=1),
            )
        if mode == "downsample3d":
            self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride_t=2, past=0)
        elif mode == "upsample3d":
            self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1))

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        if self.mode == "upsample3d":
            x = self._upsample_time(x, cache)  # (B,C,1+2n,H,W)
        b = x.shape[0]
        x = rearrange(x, "b c f h w -> (b f) c h w")  # frames into the batch
        x = self.resample(x)  # (B*F,C',H/2,W/2) or (B*F,C',2H,2W)
        x = rearrange(x, "(b f) c h w -> b c f h w", b=b)
        if self.mode == "downsample3d":
            x = self._downsample_time(x, cache)  # (B,C,1+n,H,W)
        return x

    def _downsample_time(self, x: Tensor, cache: FeatureCache | None) -> Tensor:
        prev = None if cache is None else cache.get(self)
        head = None
        if prev is None:  # first chunk: frame 0 is kept as is and is the past of frame 1
            head, prev, x = x[:, :, :1], x[:, :, :1], x[:, :, 1:]
        assert x.shape[2] % 2 == 0, "chunks after the first frame must hold whole stride-2 pairs"
        seq = torch.cat([prev, x], dim=2)  # (B,C,1+2n,H,W)
        if cache is not None:
            cache[self] = seq[:, :, -1:].clone()
        out = self.time_conv(seq) if x.shape[2] else x  # (B,C,n,H,W)
        return out if head is None else torch.cat([head, out], dim=2)  # (B,C,1+n,H,W)

    def _upsample_time(self, x: Tensor, cache: FeatureCache | None) -> Tensor:
        head = None
        if cache is None or self not in cache:  # first chunk: frame 0 skips the time conv
            head, x = x[:, :, :1], x[:, :, 1:]
            if cache is not None:
                cache[self] = x.new_empty(0)  # an empty marker: frame 0 has been seen
        if x.shape[2]:
            x = self.time_conv(x, cache)  # (B,2C,n,H,W)
            x = rearrange(x, "b (two c) f h w -> b c (f two) h w", two=2)  # (B,C,2n,H,W)
        return x if head is None else torch.cat([head, x], dim=2)  # (B,C,1+2n,H,W)


class AverageDown(nn.Module):
    """The shortcut of a Wan2.2 downsampling block: each (time x space x space) cell of
    `factor_t x factor_s x factor_s` positions becomes channels, which are then averaged in consecutive groups
    down to `out_dim`: (B,C,F,H,W) -> (B,C_out,F/ft,H/fs,W/fs), no parameters.

    Time is zero-padded on the left up to a multiple of factor_t, so frame 0 sits alone in its cell with a
    zero past, as in the strided time conv beside it. Chunks after frame 0 hold whole cells, so streaming
    needs no state."""

    def __init__(self, in_dim: int, out_dim: int, factor_t: int, factor_s: int) -> None:
        super().__init__()
        assert in_dim * factor_t * factor_s**2 % out_dim == 0, (in_dim, out_dim, factor_t, factor_s)
        self.out_dim, self.factor_t, self.factor_s = out_dim, factor_t, factor_s

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, (0, 0, 0, 0, -x.shape[2] % self.factor_t, 0))  # (B,C,F',H,W), F' a multiple of ft
        x = rearrange(
            x, "b c (f a) (h r) (w q) -> b (c a r q) f h w", a=self.factor_t, r=self.factor_s, q=self.factor_s
        )  # (B,C*ft*fs*fs,F'/ft,H/fs,W/fs)
        return rearrange(x, "b (o g) f h w -> b o g f h w", o=self.out_dim).mean(dim=2)  # (B,C_out,...)


class DuplicateUp(nn.Module):
    """The shortcut of a Wan2.2 upsampling block, AverageDown's mirror: each channel is repeated, and the
    copies are laid out as `factor_t x factor_s x factor_s` cells of `out_dim` channels:
    (B,C,T,H,W) -> (B,C_out,ft*T,fs*H,fs*W), no parameters.

    Latent frame 0 becomes one frame, not factor_t (as in the time upsampler beside it, which lets frame 0
    skip its time conv), so the first chunk drops its first factor_t - 1 frames."""

    def __init__(self, in_dim: int, out_dim: int, factor_t: int, factor_s: int) -> None:
        super().__init__()
        assert out_dim * factor_t * factor_s**2 % in_dim == 0, (in_dim, out_dim, factor_t, factor_s)
        self.repeats = out_dim * factor_t * factor_s**2 // in_dim
        self.factor_t, self.factor_s = factor_t, factor_s

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        x = x.repeat_interleave(self.repeats, dim=1)  # (B,C_out*ft*fs*fs,T,H,W)
        x = rearrange(
            x, "b (o a r q) f h w -> b o (f a) (h r) (w q)", a=self.factor_t, r=self.factor_s, q=self.factor_s
        )  # (B,C_out,ft*T,fs*H,fs*W)
        if cache is None or self not in cache:  # the chunk holds latent frame 0
            if cache is not None:
                cache[self] = x.new_empty(0)  # an empty marker: frame 0 has been seen
            x = x[:, :, self.factor_t - 1 :]  # (B,C_out,1+ft*(T-1),fs*H,fs*W)
        return x


class ResidualDownBlock(nn.Module):
    """A Wan2.2 encoder level: residual blocks, then the downsampler (none at the last level), with a
    parameter-free shortcut (AverageDown) from the level's input to its output."""

    def __init__(
        self, in_dim: int, out_dim: int, num_res_blocks: int, dropout: float, mode: str | None
    ) -> None:
        super().__init__()
        dims = [in_dim] + [out_dim] * num_res_blocks
        self.resnets = nn.ModuleList(
            ResidualBlock(i, o, dropout) for i, o in zip(dims[:-1], dims[1:], strict=True)
        )
        self.downsampler = None if mode is None else Resample(out_dim, mode)
        factor_t, factor_s = (2 if mode == "downsample3d" else 1), (1 if mode is None else 2)
        self.shortcut = AverageDown(in_dim, out_dim, factor_t, factor_s)

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        shortcut = self.shortcut(x)  # (B,C_out,F',H',W'): what the downsampler makes of F, H, W
        for resnet in self.resnets:
            x = resnet(x, cache)
        if self.downsampler is not None:
            x = self.downsampler(x, cache)  # (B,C_out,F',H/2,W/2)
        return x + shortcut


class ResidualUpBlock(nn.Module):
    """A Wan2.2 decoder level: residual blocks, then an upsampler that keeps the width, with a
    parameter-free shortcut (DuplicateUp) from the level's input to its output. The last level has neither
    upsampler nor shortcut."""

    def __init__(
        self, in_dim: int, out_dim: int, num_res_blocks: int, dropout: float, mode: str | None
    ) -> None:
        super().__init__()
        dims = [in_dim] + [out_dim] * (num_res_blocks + 1)
        self.resnets = nn.ModuleList(
            ResidualBlock(i, o, dropout) for i, o in zip(dims[:-1], dims[1:], strict=True)
        )
        self.upsampler = None if mode is None else Resample(out_dim, mode, up_dim=out_dim)
        self.shortcut = None
        if mode is not None:
            self.shortcut = DuplicateUp(in_dim, out_dim, 2 if mode == "upsample3d" else 1, 2)

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        shortcut = None if self.shortcut is None else self.shortcut(x, cache)  # (B,C_out,F',2H,2W)
        for resnet in self.resnets:
            x = resnet(x, cache)
        if self.upsampler is None:
            return x
        return self.upsampler(x, cache) + shortcut  # (B,C_out,F',2H,2W), F' = 1+2n or F
