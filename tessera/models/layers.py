"""Small pieces shared by the transformer: norms, modulation, time embedding, 3D RoPE, the attention call.

Shape letters: B batch, L video tokens, S text tokens, D model width, N heads, K head dim.

Precision: norms, modulation and rotary tables are computed in float32 whatever the weights' dtype, because
they are where bfloat16 loses the most (Wan's own code and diffusers do the same); results are cast back to
the input's dtype.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned per-feature weight (no bias), computed in float32."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return (normed * self.weight.float()).type_as(x)


class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 (weights included), returned in the input's dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).type_as(x)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN modulation; `1 + scale` so that a zero scale leaves the normalised input unchanged."""
    return x * (1 + scale) + shift


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoid of the raw time (Wan feeds t in [0, 1000], not [0, 1]): (...,) -> (..., dim), float32.

    Frequencies max_period^(-i/half), i = 0..half-1; the cosine half comes first (Wan's order, which its
    weights expect).
    """
    if dim % 2:
        raise ValueError(f"timestep_embedding: dim must be even, got {dim}")
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    angles = t.float()[..., None] * torch.exp(exponent)  # (..., half)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)  # (..., dim)


class RoPE3d(nn.Module):
    """Rotary position tables for a (frame, row, column) token grid, Wan's layout.

    The K/2 rotation pairs of a head are adjacent elements (2i, 2i+1). The first t_dim/2 pairs turn with the
    frame index, the next h_dim/2 with the row index, the last w_dim/2 with the column index, where
    h_dim = w_dim = 2 * (K // 6) and t_dim = K - h_dim - w_dim (time gets the remainder). Each axis has its
    own frequency ladder theta^(-2j / axis_dim). Indices are integer patch positions starting at 0.

    The per-axis tables (max_seq_len positions) are non-persistent float32 buffers: they are not weights,
    so they stay out of the state dict. After a meta-device build and `to_empty`, call `reset_tables()`.
    Keep the module in float32 (cast the rest of the model, not these buffers) to keep the angles exact.
    """

    def __init__(self, head_dim: int, max_seq_len: int = 1024, theta: float = 10000.0):
        super().__init__()
        if head_dim % 2 or head_dim < 6:
            raise ValueError(f"RoPE3d: head_dim must be even and >= 6, got {head_dim}")
        self.head_dim = head_dim
        self.max_seq_len = max_seq_len
        self.theta = theta
        side = 2 * (head_dim // 6)
        self.axis_dims = (head_dim - 2 * side, side, side)  # (t, h, w) widths, each even
        self.register_buffer("freqs_cos", torch.empty(max_seq_len, head_dim // 2), persistent=False)
        self.register_buffer("freqs_sin", torch.empty(max_seq_len, head_dim // 2), persistent=False)
        self.reset_tables()

    @torch.no_grad()
    def reset_tables(self) -> None:
        """(Re)compute cos/sin of position x frequency for every axis, in float64, stored as float32."""
        device = self.freqs_cos.device
        positions = torch.arange(self.max_seq_len, dtype=torch.float64, device=device)
        freqs = [
            self.theta ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
            for d in self.axis_dims
        ]
        angles = torch.outer(positions, torch.cat(freqs))  # (max_seq_len, K/2): t, h, w pairs in order
        self.freqs_cos.copy_(angles.cos())
        self.freqs_sin.copy_(angles.sin())

    def forward(
        self, grid: tuple[int, int, int], device: torch.device | str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin tables (L, K/2), float32, for the L = F*H*W tokens of `grid` in (f, h, w) order."""
        num_f, num_h, num_w = grid
        if max(grid) > self.max_seq_len:
            raise ValueError(f"token grid {tuple(grid)} exceeds rope_max_seq_len={self.max_seq_len} per axis")
        pairs = [d // 2 for d in self.axis_dims]
        tables = []
        for full in (self.freqs_cos, self.freqs_sin):
            per_f, per_h, per_w = full.split(pairs, dim=1)  # (max_seq_len, pairs_axis) each
            table = torch.cat(
                [
                    repeat(per_f[:num_f], "f k -> f h w k", h=num_h, w=num_w),
                    repeat(per_h[:num_h], "h k -> f h w k", f=num_f, w=num_w),
                    repeat(per_w[:num_w], "w k -> f h w k", f=num_f, h=num_h),
                ],
                dim=-1,
            )  # (F, H, W, K/2)
            tables.append(rearrange(table, "f h w k -> (f h w) k").to(device))  # (L, K/2)
        return tables[0], tables[1]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the adjacent pairs (2i, 2i+1) of x (B, N, L, K) by the angles of cos/sin (L, K/2), in fp32."""
    pairs = rearrange(x.float(), "b n l (k two) -> b n l k two", two=2)  # (B, N, L, K/2, 2)
    x1, x2 = pairs.unbind(-1)  # (B, N, L, K/2) each
    rotated = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # (B, N, L, K/2, 2)
    return rearrange(rotated, "b n l k two -> b n l (k two)").type_as(x)  # (B, N, L, K)


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Scaled dot-product attention of q (B, N, L, K) over k, v (B, N, S, K) -> (B, N, L, K).

    mask: optional bool (B, 1, 1, S), True for keys to keep. A query row whose keys are all masked would be
    0/0 (NaN) in softmax; such rows attend to nothing instead and give a zero output.
    """
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v)
    has_keys = mask.any(dim=-1, keepdim=True)  # (B, 1, 1, 1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~has_keys)  # (B, N, L, K)
    return out * has_keys.to(out.dtype)
