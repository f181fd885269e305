"""How close a reconstructed video is to the original: PSNR and SSIM, per frame, averaged.

Videos are torch tensors (B, C, F, H, W) or (C, F, H, W), either float in [-1, 1] (the VAE's pixel space) or
uint8 in [0, 255]; both are mapped to [0, 1] first, so the data range L is 1. The two arguments may differ in
dtype (a uint8 original against a float reconstruction) but not in shape. Every frame of every video counts
once in the average.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

SSIM_WINDOW = 11  # Gaussian window of Wang et al. (2004): 11x11, sigma 1.5
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def psnr(a: Tensor, b: Tensor) -> float:
    """Mean over frames of 10 log10(L^2 / MSE) in dB, the MSE taken over a frame's channels and pixels.
    A frame that matches exactly scores inf, and so does then the mean."""
    x, y = _frames(a, b)  # each (N,C,H,W) in [0,1]
    with torch.no_grad():
        mse = (x - y).square().mean(dim=(1, 2, 3))  # (N,)
        per_frame = 10 * torch.log10(1.0 / mse)  # inf where mse == 0
    return per_frame.mean().item()


def ssim(a: Tensor, b: Tensor, *, differentiable: bool = False) -> float | Tensor:
    """Mean SSIM over frames, computed per RGB channel (not on luma) and averaged over channels and over the
    'valid' positions of an 11x11 Gaussian window (sigma 1.5), with C1 = (0.01 L)^2, C2 = (0.03 L)^2.

    Returns a float, or with `differentiable=True` a 0-dim tensor that gradients flow through (for a loss)."""
    x, y = _frames(a, b)  # each (N,C,H,W) in [0,1]
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {tuple(x.shape[-2:])}"
        )
    with torch.set_grad_enabled(differentiable and torch.is_grad_enabled()):
        value = _ssim_per_frame(x, y).mean()
    return value if differentiable else value.item()


def _ssim_per_frame(x: Tensor, y: Tensor) -> Tensor:
    c = x.shape[1]
    stats = _blur(torch.cat([x, y, x * x, y * y, x * y], dim=1))  # (N,5C,H-10,W-10)
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.split(c, dim=1)
    var_x, var_y, cov = e_xx - mu_x.square(), e_yy - mu_y.square(), e_xy - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2  # L = 1
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2)
    return (num / den).mean(dim=(1, 2, 3))  # (N,)


def _blur(x: Tensor) -> Tensor:
    """Separable Gaussian filter of each channel, 'valid' positions only (no padding)."""
    r = torch.arange(SSIM_WINDOW, dtype=x.dtype, device=x.device) - SSIM_WINDOW // 2
    g = torch.exp(-(r**2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)  # (N,C,H-10,W)
    return F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)  # (N,C,H-10,W-10)


def _frames(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Both videos as frames (N, C, H, W) in [0, 1], N = batch * frames."""
    if a.shape != b.shape:
        raise ValueError(f"videos differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.ndim not in (4, 5):
        raise ValueError(f"videos must be (B, C, F, H, W) or (C, F, H, W), got shape {tuple(a.shape)}")
    out = []
    for v in (a, b):
        v = v.float() / 255 if v.dtype == torch.uint8 else (v.float() + 1) / 2
        v = v if v.ndim == 5 else v[None]  # (B,C,F,H,W)
        out.append(rearrange(v, "b c f h w -> (b f) c h w"))
    return out[0], out[1]
