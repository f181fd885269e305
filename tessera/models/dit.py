"""The diffusion transformer: spacetime patches of a latent video, conditioned on text and flow time.

Shape letters: B batch, C channels, F frames, H height, W width (latent grid), L video tokens, S text tokens,
D model width, N heads, K head dim.

Architecture = Wan2.1's text-to-video transformer (Wan-Video/Wan2.1 wan/modules/model.py; diffusers'
transformer_wan.py), so Wan2.1
weights in the diffusers layout load with no renaming: every child is named as in diffusers'
WanTransformer3DModel and the state dict has exactly its keys. One extension: the flow time may be given per
token, (B, L) instead of (B,), and then the time embedding and every modulation are per token. This is how
known frames are conditioned on (their tokens get time 0) with one model and one sampler. A second, for our
own models: the head may predict clean latents (`prediction="x0"`, as JiT, Li & He 2025), which forward turns
into the velocity, so callers never know the difference. A velocity holds the noise itself, which a narrow
DiT with large patches cannot carry through; clean latents are far more predictable.
A third, also for our own models (`pooled_text`): the mean of the prompt's text tokens joins the time
embedding, so the text modulates every block as the class label does in DiT and the pooled text vector in SD3
and Flux, besides being attended to. Wan configurations have neither, and their keys stay diffusers' own.

A block: adaLN-modulated self-attention with 3D RoPE and a gated residual; cross-attention to the text
(affine LayerNorm, no modulation, no gate); adaLN-modulated GELU MLP with a gated residual. The six
modulation vectors are the block's own learned offset (`scale_shift_table`) plus a projection of the time
embedding shared by all blocks (`condition_embedder.time_proj`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from tessera.diffusion.flow import TIME_SCALE
from tessera.models.layers import (
    FP32LayerNorm,
    RMSNorm,
    RoPE3d,
    apply_rope,
    attention,
    modulate,
    timestep_embedding,
)
from tessera.models.step_cache import StepCache

PREDICTIONS = ("v", "x0")
# Parts kept in float32 under a bf16/fp16 cast (diffusers' WanTransformer3DModel._keep_in_fp32_modules).
FP32_PARTS = {"time_embedder", "scale_shift_table", "norm1", "norm2", "norm3"}
# With x0 prediction the velocity is (x_t - x0_hat) / t; near t = 0 the division would blow up the network's
# small errors, so t is floored here (JiT's t_eps). Only the last few percent of a trajectory are affected.
X0_MIN_TIME = 0.05


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of the DiT. Defaults are Wan2.1-T2V-1.3B."""

    patch_size: tuple[int, int, int] = (1, 2, 2)  # (frames, rows, columns) per token
    num_heads: int = 12
    head_dim: int = 128
    in_channels: int = 16  # latent channels in
    out_channels: int = 16  # velocity channels out
    text_dim: int = 4096  # width of the text encoder's tokens
    freq_dim: int = 256  # width of the time sinusoid
    ffn_dim: int = 8960
    num_layers: int = 30
    cross_attn_norm: bool = True  # affine LayerNorm before cross-attention (Wan: True)
    eps: float = 1e-6
    rope_max_seq_len: int = 1024  # positions per axis in the rotary tables
    # What the output head predicts: "v" (the velocity itself, as Wan) or "x0" (the clean latents, turned into
    # a velocity inside forward; see DiT.forward). Either way the DiT is called as a velocity predictor.
    prediction: str = "v"
    # Also condition every modulation on the text: the masked mean of the text tokens, through an MLP, is
    # added to the time embedding (SD3 and Flux add a pooled text vector there). Wan has no such path.
    pooled_text: bool = False
    # Cross-attention skips the text padding that `context_mask` marks. Wan attends to every position: its
    # encoder zero-pads each prompt to 512 tokens and its DiT is called with no mask, so Wan weights want
    # False (the zero tokens still shift the attention through their keys' biases).
    text_mask: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "patch_size", tuple(self.patch_size))
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {self.prediction!r}")
        if len(self.patch_size) != 3 or min(self.patch_size) < 1:
            raise ValueError(f"patch_size must be three positive ints (t, h, w), got {self.patch_size}")
        if self.head_dim % 2 or self.head_dim < 6:
            raise ValueError(f"head_dim must be even and >= 6 (3D RoPE splits it), got {self.head_dim}")
        for name in ("num_heads", "in_channels", "out_channels", "text_dim", "ffn_dim", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.freq_dim < 2 or self.freq_dim % 2:
            raise ValueError(f"freq_dim must be even and >= 2, got {self.freq_dim}")

    @property
    def dim(self) -> int:
        return self.num_heads * self.head_dim

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (patch_size as a list)."""
        out = dataclasses.asdict(self)
        out["patch_size"] = list(self.patch_size)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiTConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"DiTConfig: unknown keys {unknown}; allowed: {sorted(known)}")
        return cls(**data)


DIT_SIZES: dict[str, DiTConfig] = {
    # diffusers' own test size: 2 heads x 12, RoPE split 4/4/4
    "tiny": DiTConfig(
        num_heads=2,
        head_dim=12,
        in_channels=4,
        out_channels=4,
        text_dim=16,
        ffn_dim=32,
        num_layers=2,
        rope_max_seq_len=32,
    ),
    "world": DiTConfig(
        num_heads=4,
        head_dim=64,
        in_channels=16,
        out_channels=16,
        text_dim=384,
        ffn_dim=1024,
        num_layers=6,
        patch_size=(1, 4, 4),  # over the 4x-space world VAE: one token per 16x16 pixels, as Wan's 8x with 2x2
        # A token holds 256 latent values in a width of 256: too narrow to pass a velocity's noise through.
        # Measured on world images, 400 steps per head, outside the repository's commands: x0 error
        # 0.18 / 0.26 at t = 0.9 / 0.95 with an x0 head against 0.26 / 0.36 with a v head.
        prediction="x0",
    ),
    "wan2.1-t2v-1.3b": DiTConfig(num_heads=12, head_dim=128, ffn_dim=8960, num_layers=30, text_mask=False),
    "wan2.1-t2v-14b": DiTConfig(num_heads=40, head_dim=128, ffn_dim=13824, num_layers=40, text_mask=False),
}


class MLP(nn.Module):
    """Linear -> activation -> Linear, children `linear_1` / `linear_2` (diffusers' embedder names)."""

    def __init__(self, in_dim: int, dim: int, activation: nn.Module):
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, dim)
        self.act = activation
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(x.to(self.linear_1.weight.dtype))))


class ConditionEmbedder(nn.Module):
    """Flow time (and, with pooled_text, the text's mean) -> (time embedding, block modulation); text tokens
    -> model width."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.freq_dim = cfg.freq_dim
        self.time_embedder = MLP(cfg.freq_dim, cfg.dim, nn.SiLU())
        self.time_proj = nn.Linear(cfg.dim, 6 * cfg.dim)  # shared by all blocks; SiLU applied before it
        self.text_embedder = MLP(cfg.text_dim, cfg.dim, nn.GELU(approximate="tanh"))
        self.pooled_text_embedder = MLP(cfg.text_dim, cfg.dim, nn.SiLU()) if cfg.pooled_text else None

    def forward(
        self, t: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # A per-sample t gets a token axis of size 1, so everything after broadcasts over L for free.
        t = t[:, None] if t.ndim == 1 else t  # (B, 1 | L)
        temb = self.time_embedder(timestep_embedding(t, self.freq_dim))  # (B, 1|L, D)
        if self.pooled_text_embedder is not None:
            temb = temb + self.pooled_text_embedder(pool_text(context, context_mask))[:, None, :]  # (B,1|L,D)
        modulation = self.time_proj(F.silu(temb).to(self.time_proj.weight.dtype))  # (B, 1|L, 6D)
        modulation = rearrange(modulation, "b l (six d) -> b l six d", six=6)  # (B, 1|L, 6, D)
        return temb, modulation, self.text_embedder(context)  # context: (B, S, D)


def pool_text(context: torch.Tensor, context_mask: torch.Tensor | None) -> torch.Tensor:
    """The mean of each prompt's real tokens: context (B, S, D_text), mask (B, S) or None -> (B, D_text)."""
    if context_mask is None:
        return context.mean(dim=1)  # (B, D_text)
    weights = context_mask.to(context.dtype)[:, :, None]  # (B, S, 1)
    return (context * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1)  # (B, D_text)


class Attention(nn.Module):
    """Multi-head attention with RMSNorm over the full width of q and k (before the head split).

    Self-attention when `context` is None (with RoPE), cross-attention to `context` otherwise (no RoPE).
    """

    def __init__(self, dim: int, num_heads: int, eps: float):
        super().__init__()
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        # A list of one so the key is `to_out.0` as in diffusers (whose index 1 is a parameterless dropout).
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])
        self.norm_q = RMSNorm(dim, eps)
        self.norm_k = RMSNorm(dim, eps)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        source = x if context is None else context  # (B, L | S, D)
        q = self.norm_q(self.to_q(x))  # (B, L, D)
        k = self.norm_k(self.to_k(source))  # (B, L|S, D)
        v = self.to_v(source)  # (B, L|S, D)
        q, k, v = (rearrange(z, "b l (n k) -> b n l k", n=self.num_heads) for z in (q, k, v))  # (B, N, ., K)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        out = attention(q, k, v, mask)  # (B, N, L, K)
        return self.to_out[0](rearrange(out, "b n l k -> b l (n k)"))  # (B, L, D)


class InProjection(nn.Module):
    """A Linear under the child name `proj`, so the first FFN weight is `ffn.net.0.proj` as in diffusers."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class FeedForward(nn.Module):
    """Linear -> GELU (tanh approximation, as Wan was trained) -> Linear."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            InProjection(dim, hidden_dim), nn.GELU(approximate="tanh"), nn.Linear(hidden_dim, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DiTBlock(nn.Module):
    """Modulated self-attention, plain cross-attention to the text, modulated FFN; gated residuals."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        dim = cfg.dim
        self.norm1 = FP32LayerNorm(dim, cfg.eps, elementwise_affine=False)
        self.attn1 = Attention(dim, cfg.num_heads, cfg.eps)
        self.norm2 = (
            FP32LayerNorm(dim, cfg.eps, elementwise_affine=True) if cfg.cross_attn_norm else nn.Identity()
        )
        self.attn2 = Attention(dim, cfg.num_heads, cfg.eps)
        self.norm3 = FP32LayerNorm(dim, cfg.eps, elementwise_affine=False)
        self.ffn = FeedForward(dim, cfg.ffn_dim)
        # Learned offsets of (shift, scale, gate) for attention then FFN, added to the time projection.
        self.scale_shift_table = nn.Parameter(torch.empty(1, 6, dim))

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor,
        modulation: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        context_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """x (B, L, D); context (B, S, D); modulation (B, 1|L, 6, D); context_mask bool (B, 1, 1, S)."""
        # Modulation and the gated residual adds stay in fp32: bf16 rounding there compounds over blocks.
        params = (self.scale_shift_table + modulation.float()).unbind(dim=2)  # 6 x (B, 1|L, D)
        shift_attn, scale_attn, gate_attn, shift_ffn, scale_ffn, gate_ffn = params
        h = modulate(self.norm1(x.float()), shift_attn, scale_attn).type_as(x)
        x = (x.float() + self.attn1(h, rope=rope) * gate_attn).type_as(x)
        x = x + self.attn2(self.norm2(x), context, mask=context_mask)
        h = modulate(self.norm3(x.float()), shift_ffn, scale_ffn).type_as(x)
        return (x.float() + self.ffn(h).float() * gate_ffn).type_as(x)


def token_times(t_field: torch.Tensor, patch_size: tuple[int, int, int]) -> torch.Tensor:
    """Flow times for the DiT from a per-element field (B, 1, F, H, W): (B,) when each sample has one time,
    else (B, L), one per patch; a patch that is partly free takes its free elements' (largest) time."""
    flat = t_field.flatten(1)  # (B, F*H*W)
    if torch.equal(flat.amin(1), flat.amax(1)):
        return flat[:, 0]  # (B,)
    return F.max_pool3d(t_field, patch_size).flatten(1)  # (B, L)


class PatchEmbed3d(nn.Module):
    """Non-overlapping (pt, ph, pw) patches -> tokens: a Conv3d with kernel = stride = patch, computed as a
    linear map over the unfolded patches.

    The parameters are a Conv3d's (`weight` (D, C, pt, ph, pw), `bias` (D,)), so Wan's and our state dicts
    load unchanged, but no convolution kernel runs: oneDNN's bf16 convolutions with stride > 1 on CPUs with
    AMX return wrong results (pytorch/pytorch#169688, uxlfoundation/oneDNN#5494; a relative error of about
    1.2 for this layer's shapes), which trained a garbage input layer under bf16 autocast. A matmul over the
    same patches is exact to bf16 rounding on every backend.
    """

    def __init__(self, in_channels: int, dim: int, patch_size: tuple[int, int, int]):
        super().__init__()
        self.patch_size = tuple(patch_size)
        self.weight = nn.Parameter(torch.empty(dim, in_channels, *self.patch_size))
        self.bias = nn.Parameter(torch.empty(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Latents (B, C, F, H, W) -> tokens (B, L, D), L = (F/pt)(H/ph)(W/pw) in (f, h, w) order."""
        pt, ph, pw = self.patch_size
        pattern = "b c (f pt) (h ph) (w pw) -> b (f h w) (c pt ph pw)"
        patches = rearrange(x, pattern, pt=pt, ph=ph, pw=pw)  # (B, L, C*pt*ph*pw)
        return F.linear(patches, self.weight.flatten(1), self.bias)  # (B, L, D)


class DiT(nn.Module):
    """Velocity predictor v(x_t, t, text) over a latent video; see the module docstring."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        dim = cfg.dim
        self.rope = RoPE3d(cfg.head_dim, cfg.rope_max_seq_len)
        self.patch_embedding = PatchEmbed3d(cfg.in_channels, dim, cfg.patch_size)
        self.condition_embedder = ConditionEmbedder(cfg)
        self.blocks = nn.ModuleList([DiTBlock(cfg) for _ in range(cfg.num_layers)])
        self.norm_out = FP32LayerNorm(dim, cfg.eps, elementwise_affine=False)
        self.proj_out = nn.Linear(dim, cfg.out_channels * math.prod(cfg.patch_size))
        # Head (shift, scale) offsets; the head is modulated by the time embedding itself, not by time_proj.
        self.scale_shift_table = nn.Parameter(torch.empty(1, 2, dim))
        self.init_weights()

    def cast(self, dtype: torch.dtype) -> DiT:
        """Weights to `dtype` (bf16 / fp16 halve a model's memory), except the time embedder, the modulation
        tables and the norms, which stay float32 as Wan and diffusers keep them: their rounding would
        compound over every block and step, for a few parameters."""
        self.to(dtype)
        for name, param in self.named_parameters():
            if FP32_PARTS & set(name.split(".")):
                param.data = param.data.float()
        return self

    @torch.no_grad()
    def init_weights(self) -> None:
        """Fresh weights; also valid after a meta-device build and `to_empty(device=...)`.

        - Linears and the patch embedding (as a matrix): Xavier-uniform weights, zero biases (DiT's choice).
        - Sinusoid -> time MLP: normal(0, 0.02), as DiT's timestep embedder.
        - `time_proj` zero: each block's modulation is then its `scale_shift_table` alone, identical for all
          tokens and times, so blocks start close to identity. (adaLN-Zero would zero the gates, but here they
          are rows of that table, which Wan initialises randomly; gates start at ~1/sqrt(D) instead.)
        - `scale_shift_table`s normal / sqrt(D), as Wan: small shifts, scales near 1, gates ~ 1/sqrt(D).
        - `proj_out` zero: the network predicts v = 0 at init, a stable start for flow matching.
        - The pooled-text MLP's last layer zero, so it adds nothing at first: a DiT trained without it
          loads into one with it (`loop.init_from`) and starts out predicting exactly what it did.
        - Norm weights one, biases zero; the rotary tables are recomputed (buffers are not in the state dict).
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, (RMSNorm, nn.LayerNorm)):
                if module.weight is not None:
                    nn.init.ones_(module.weight)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        embed = self.patch_embedding
        nn.init.xavier_uniform_(embed.weight.view(embed.weight.shape[0], -1))
        nn.init.zeros_(embed.bias)
        for linear in (
            self.condition_embedder.time_embedder.linear_1,
            self.condition_embedder.time_embedder.linear_2,
        ):
            nn.init.normal_(linear.weight, std=0.02)
        zero_layers = [self.condition_embedder.time_proj, self.proj_out]
        if (pooled := self.condition_embedder.pooled_text_embedder) is not None:
            zero_layers.append(pooled.linear_2)
        for layer in zero_layers:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        for table in [self.scale_shift_table] + [block.scale_shift_table for block in self.blocks]:
            nn.init.normal_(table, std=self.cfg.dim**-0.5)
        self.rope.reset_tables()

    def token_grid(self, x: torch.Tensor) -> tuple[int, int, int]:
        """(F/pt, H/ph, W/pw) for latents x (B, C, F, H, W); ValueError if a size is not a patch multiple."""
        if x.ndim != 5 or x.shape[1] != self.cfg.in_channels:
            raise ValueError(f"x must be (B, {self.cfg.in_channels}, F, H, W), got {tuple(x.shape)}")
        sizes = tuple(x.shape[2:])
        if any(size % patch for size, patch in zip(sizes, self.cfg.patch_size, strict=True)):
            raise ValueError(
                f"latent (F, H, W) = {sizes} must be divisible by patch_size {self.cfg.patch_size}"
            )
        return tuple(size // patch for size, patch in zip(sizes, self.cfg.patch_size, strict=True))

    def _check_conditions(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        context: torch.Tensor,
        context_mask: torch.Tensor | None,
        num_tokens: int,
    ) -> None:
        batch = x.shape[0]
        if t.shape not in ((batch,), (batch, num_tokens)):
            raise ValueError(
                f"t must be ({batch},) or ({batch}, {num_tokens}) (per token), got {tuple(t.shape)}"
            )
        if context.ndim != 3 or context.shape[0] != batch or context.shape[2] != self.cfg.text_dim:
            raise ValueError(f"context must be ({batch}, S, {self.cfg.text_dim}), got {tuple(context.shape)}")
        if context_mask is not None and (
            context_mask.dtype != torch.bool or context_mask.shape != context.shape[:2]
        ):
            raise ValueError(
                f"context_mask must be bool {tuple(context.shape[:2])}, got {context_mask.dtype} "
                f"{tuple(context_mask.shape)}"
            )

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        context: torch.Tensor,
        context_mask: torch.Tensor | None = None,
        cache: StepCache | None = None,
    ) -> torch.Tensor:
        """Velocity (B, C_out, F, H, W) for latents x (B, C_in, F, H, W).

        t: flow time in Wan's scale [0, 1000], (B,) per sample or (B, L) per token (tokens in (f, h, w)
        order, w fastest). context: text tokens (B, S, text_dim). context_mask: optional bool (B, S), True for
        real tokens; None attends to all S tokens, as does a config with text_mask=False (Wan's behaviour).
        cache: a StepCache for sampling, which may reuse the blocks' work of the previous step (one cache per
        velocity function: the conditional and unconditional calls each need their own).
        """
        grid = self.token_grid(x)
        self._check_conditions(x, t, context, context_mask, math.prod(grid))
        state = self.embed(x, t, context, context_mask, grid)
        first = self.blocks[0](state.tokens, state.context, state.modulation, state.rope, state.mask)
        if cache is not None and cache.reuse(first - state.tokens):
            tokens = first + cache.rest  # the other blocks' work at the last full step
        else:
            tokens = first
            for block in self.blocks[1:]:
                tokens = block(tokens, state.context, state.modulation, state.rope, state.mask)
            if cache is not None:
                cache.rest = tokens - first
        return self.head(x, t, tokens, state.temb, grid)

    def embed(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        context: torch.Tensor,
        context_mask: torch.Tensor | None,
        grid: tuple[int, int, int],
    ) -> BlockInputs:
        """What every block reads: tokens (B, L, D), text (B, S, D), modulation, RoPE tables, text mask."""
        rope = self.rope(grid, x.device)  # cos, sin: (L, K/2)
        tokens = self.patch_embedding(x.to(self.patch_embedding.weight.dtype))  # (B, L, D)
        temb, modulation, context = self.condition_embedder(t, context, context_mask)
        # temb (B, 1|L, D), modulation (B, 1|L, 6, D), context (B, S, D)
        attend = context_mask if self.cfg.text_mask else None
        mask = None if attend is None else attend[:, None, None, :]  # (B, 1, 1, S)
        return BlockInputs(tokens, context, modulation, rope, mask, temb)

    def head(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        tokens: torch.Tensor,
        temb: torch.Tensor,
        grid: tuple[int, ...],
    ) -> torch.Tensor:
        """The last blocks' tokens (B, L, D) -> the velocity (B, C_out, F, H, W)."""
        shift, scale = (self.scale_shift_table + temb.float()[:, :, None, :]).unbind(
            dim=2
        )  # (B, 1|L, D) each
        tokens = modulate(self.norm_out(tokens.float()), shift, scale).type_as(tokens)
        patches = self.proj_out(tokens)  # (B, L, pt*ph*pw*C_out)
        out = self.unpatchify(patches, grid)  # (B, C_out, F, H, W)
        if self.cfg.prediction == "v":
            return out
        return velocity_from_x0(x, out, self.element_times(t, grid))

    def unpatchify(self, patches: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """Per-token patches (B, L, pt*ph*pw*C) -> a latent video (B, C, F, H, W)."""
        pt, ph, pw = self.cfg.patch_size
        pattern = "b (f h w) (pt ph pw c) -> b c (f pt) (h ph) (w pw)"
        sizes = dict(zip(("f", "h", "w"), grid, strict=True))
        return rearrange(patches, pattern, pt=pt, ph=ph, pw=pw, **sizes)  # (B, C, F, H, W)

    def element_times(self, t: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """Network times (B,) or (B, L) -> flow times broadcastable to the latents: (B, 1, 1, 1, 1) or
        (B, 1, F, H, W), each token's time on all of its patch's elements."""
        t = t.float() / TIME_SCALE
        if t.ndim == 1:
            return t.view(-1, 1, 1, 1, 1)  # (B, 1, 1, 1, 1)
        patches = t[:, :, None].expand(-1, -1, math.prod(self.cfg.patch_size))  # (B, L, pt*ph*pw)
        return self.unpatchify(patches, grid)  # (B, 1, F, H, W)


class BlockInputs(NamedTuple):
    tokens: torch.Tensor  # (B, L, D), the patch embedding
    context: torch.Tensor  # (B, S, D), the text at model width
    modulation: torch.Tensor  # (B, 1|L, 6, D)
    rope: tuple[torch.Tensor, torch.Tensor]  # cos, sin (L, K/2)
    mask: torch.Tensor | None  # (B, 1, 1, S) for cross-attention
    temb: torch.Tensor  # (B, 1|L, D), for the head


def velocity_from_x0(x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The velocity that takes x_t at flow time t to the predicted clean latents x0 (diffusion/flow.py:
    x0 = x_t - t v), with t floored at X0_MIN_TIME. Computed in float32, returned in x0's dtype."""
    v = (x_t.float() - x0.float()) / t.clamp_min(X0_MIN_TIME)
    return v.to(x0.dtype)
