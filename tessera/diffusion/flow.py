"""The flow-matching convention of tessera. This docstring is its single home; everything else refers here.

Time. Flow time ``t`` runs over [0, 1]: ``t = 1`` is pure Gaussian noise, ``t = 0`` is data. Inference walks
from ``t = 1`` down to ``t = 0``.

Path. Clean latents ``x0`` and a noise draw ``noise ~ N(0, I)`` are joined by a straight line::

    x_t = (1 - t) * x0 + t * noise                                   (interpolate)

Velocity. The network predicts the (constant) velocity of that line, ``dx_t/dt``::

    v = noise - x0                                                   (velocity_target)

so from any point on the path and a velocity both ends are recovered exactly::

    x0 = x_t - t * v            noise = x_t + (1 - t) * v

and sampling integrates the ODE ``dx/dt = v(x, t)`` backwards in time. One Euler step from ``t`` to ``t_next``
is ``x <- x + (t_next - t) * v``; a step to ``t_next = 0`` therefore lands on the prediction ``x_t - t * v``.

Network time. The network is fed ``t * TIME_SCALE`` (= ``t * 1000``), the Wan2.1 convention, so Wan weights
work unchanged. Only the code that calls a network multiplies; all maths here is in flow time.

Shift. Large token counts (long or high-resolution videos) keep more of their structure at a given noise
level, so time is spent closer to ``t = 1`` through ``t' = s t / (1 + (s - 1) t)`` (``shift_time``). The map
fixes 0 and 1, is increasing, is the identity for ``s = 1``, and maps t to larger values for ``s > 1``. The
same map shifts training times (``sample_t``) and inference schedules (``schedule.sigmas``).

Per-element time. ``t`` may differ per latent element: the network takes a time field of shape
(B, 1, F, H, W). Conditioning uses this: an element known to be clean (an input image, a frame to extend)
sits at time 0, i.e. it is ``x0`` itself, while the free elements are at the current sampling time (see
sampler.py). The identities above hold element by element.
"""

import torch
from torch import Tensor

TIME_SCALE = 1000.0  # the network is fed t * TIME_SCALE (Wan convention)

SAMPLE_T_METHODS = ("logit_normal", "uniform")


def shift_time(t, shift: float):
    """Map flow time ``t`` (float or tensor) to ``shift * t / (1 + (shift - 1) * t)``."""
    if not shift > 0:
        raise ValueError(f"shift must be > 0 (1 = no shift), got {shift!r}")
    return shift * t / (1 + (shift - 1) * t)


def sample_t(
    batch: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    method: str = "logit_normal",
    loc: float = 0.0,
    scale: float = 1.0,
    shift: float = 1.0,
) -> Tensor:
    """Draw training times, shape (batch,) float32, strictly inside (0, 1).

    "logit_normal" is sigmoid(N(loc, scale^2)) (SD3's choice: it puts more training on the middle times, where
    the velocity is hardest to predict); "uniform" is U(0, 1). ``shift`` is applied afterwards, matching a
    shifted inference schedule.
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch!r}")
    if method == "logit_normal":
        if not scale > 0:
            raise ValueError(f"scale must be > 0 for logit_normal, got {scale!r}")
        t = torch.sigmoid(loc + scale * torch.randn(batch, generator=generator, device=device))
    elif method == "uniform":
        t = torch.rand(batch, generator=generator, device=device)
    else:
        raise ValueError(f"unknown sample_t method {method!r}; choose one of {SAMPLE_T_METHODS}")
    t = shift_time(t, shift)
    # float32 rounds values within 2^-24 of an end onto it (rand can return 0, sigmoid saturates); keep both
    # ends out so that anything dividing by t or 1 - t (x0 or noise recovery, SNR weights) stays finite.
    eps = torch.finfo(t.dtype).eps / 2
    return t.clamp(eps, 1 - eps)


def _align_to(t, like: Tensor, name: str = "t"):
    """Shape ``t`` to broadcast against ``like``: a 1-D tensor of length B is per sample, anything else must
    broadcast as it is (a per-element time field (B, 1, F, H, W) or a float)."""
    if not isinstance(t, Tensor):
        return t
    if t.ndim == 1 and like.ndim > 1:
        # A length-B vector would otherwise broadcast against the last axis (W), silently mixing samples.
        if t.shape[0] not in (1, like.shape[0]):
            raise ValueError(f"{name} of shape {tuple(t.shape)} must have length 1 or batch {like.shape[0]}")
        return t.reshape(-1, *([1] * (like.ndim - 1)))
    try:
        shape = torch.broadcast_shapes(t.shape, like.shape)
    except RuntimeError:
        shape = None
    if shape != like.shape:
        raise ValueError(f"{name} of shape {tuple(t.shape)} does not broadcast to {tuple(like.shape)}")
    return t


def _check_same_shape(a: Tensor, b: Tensor, names: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def interpolate(x0: Tensor, noise: Tensor, t) -> Tensor:
    """``x_t = (1 - t) x0 + t noise``; ``t`` is (B,), a float, or any tensor broadcastable to ``x0``."""
    _check_same_shape(x0, noise, "x0 and noise")
    t = _align_to(t, x0)
    return (1 - t) * x0 + t * noise


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    """``v = noise - x0``, the velocity the network is trained to predict."""
    _check_same_shape(x0, noise, "x0 and noise")
    return noise - x0


LOSS_SPACES = ("v", "x0")


def flow_loss(
    v_pred: Tensor, x0: Tensor, noise: Tensor, weight: Tensor | None = None, *, t: Tensor | None = None
) -> Tensor:
    """Mean squared error between ``v_pred`` and ``noise - x0``, as a float32 scalar.

    ``weight`` (optional) is (B,) or broadcastable to ``x0``, e.g. a mask that is 0 on conditioning latents
    (they are given, not predicted). The loss is normalised by the weight's sum over every element, so a
    weight of ones gives the plain mean and excluded elements do not dilute it.

    ``t`` (optional, (B,) or broadcastable to ``x0``: each element's flow time) measures the error in data
    space instead: ``x0_pred = x_t - t v_pred``, so ``|x0_pred - x0|^2 = t^2 |v_pred - v|^2``. The velocity
    loss weighs a data error by 1 / t^2: the nearly clean steps dominate it, while the layout of a scene is
    decided near t = 1; the data loss weighs every time alike.
    """
    _check_same_shape(v_pred, x0, "v_pred and x0")
    err = (v_pred.float() - velocity_target(x0, noise).float()).square()
    if t is not None:
        err = err * _align_to(t, err).float().square()
    if weight is None:
        return err.mean()
    weight = _align_to(weight, err, "weight").float().expand_as(err)
    # A batch with nothing left to predict has loss 0, not 0/0; clamping (not branching) keeps the gradient
    # finite and avoids a device sync in the training step.
    return (weight * err).sum() / weight.sum().clamp_min(torch.finfo(torch.float32).tiny)
