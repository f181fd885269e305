"""The one sampling loop of tessera: integrate the flow ODE from noise to data over an explicit time list.

The model is only a ``VelocityFn``: ``velocity_fn(x_t, t_field) -> v`` with x_t and v of shape (B, C, F, H, W)
and t_field (B, 1, F, H, W) the per-element flow time in [0, 1] (the caller scales it to network units, see
flow.py for the convention). Guidance is a wrapper around velocity functions (``guided``), so the loop never
knows how many network calls one velocity costs.

Conditioning (every prompting mode: image to video, extension, loops, in-betweening, editing) is one
mechanism. ``clean`` (B, C, F, H, W) holds known clean latents and ``mask`` (B, 1, F, H, W) in [0, 1] says how
known each position is (1 = known). Each element runs on its own clock ``tau = t * (1 - mask)``:

- it starts on its own point of the straight path, ``x = (1 - tau_0) * clean + tau_0 * noise``;
- every solver step moves it from ``tau(t)`` to ``tau(t_next)``, and the network sees ``t_field = tau``.

So where ``mask == 1`` the element is ``clean`` at time 0 throughout: it is never moved (its step is
exactly zero) and ends exactly at ``clean``. Where ``mask == 0`` it is an ordinary free element (with
``sigmas[0] == 1`` it starts at ``noise``; with ``sigmas[0] < 1`` it starts from ``clean`` partly noised,
i.e. video-to-video).
A fractional mask starts the element partly noised and denoises it with the rest, a soft "strength".
Without ``clean``/``mask`` every element is free and starts at ``noise``: plain generation.

Solvers, all ending with a first-order step onto t = 0 (higher-order corrections there extrapolate from the
least reliable, most noisy predictions and buy nothing):

- "euler": ``x <- x + (t_next - t) v``; one call per step.
- "heun": Euler predictor then trapezoidal corrector; 2nd order, two calls per step (one on the last step).
- "dpmpp_2m": DPM-Solver++(2M) (Lu et al. 2022) in data-prediction space ``x0 = x_t - t v``, one call per
  step, 2nd order from reusing the previous step's prediction. For the flow path alpha_t = 1 - t, sigma_t = t,
  lambda = log((1 - t) / t), its update ``x_next = (sigma_next / sigma) x - alpha_next (e^-h - 1) D`` with
  h = lambda_next - lambda simplifies to ``x_next = (t_next / t) x + (1 - t_next / t) D``: slide along the
  straight line from x towards D. With ``D = x0`` this is exactly the Euler step (first order, used on the
  first and last steps); the 2M step uses ``D = x0 + (h / (2 h_prev)) (x0 - x0_prev)``.
- "unipc": UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
  Diffusion Models") in its multistep form, order 2, B(h) = e^-h - 1 ("bh2"), data prediction: the update of
  diffusers' UniPCMultistepScheduler (Wan's default; its time list is ``schedule.unipc_sigmas``). One call per
  step. Every update has the 2M form ``x_next = (t_next / t) x + (1 - t_next / t) D``. The predictor UniP-2
  is the 2M step itself (first order on the first step). The corrector UniC starts each step but the first:
  with x0_new, the prediction at the state the predictor reached, it redoes the previous step from that
  step's start with ``D = (x0 + x0_new) / 2`` after a first-order step (diffusers' rho = 1/2), else with
  ``D = x0 + rho_1 (h / h_prev) (x0 - x0_prev) + rho_2 (x0_new - x0)``, where ``rho_1 + rho_2 = b_1``,
  ``-(h_prev / h) rho_1 + rho_2 = b_2`` and ``b_k = k! phi_(k+1)(-h) / phi_1(-h)`` (phi_1(z) = (e^z - 1) / z,
  phi_(k+1)(z) = (phi_k(z) - 1/k!) / z). The step goes on from the corrected state, while later steps reuse
  x0_new as computed (from the uncorrected state), so the corrector costs no call. The last step is first
  order and weighs the corrected state by t_next / t = 0: it is the Euler step from the predicted state.
"""

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor
from tqdm import tqdm

from tessera.diffusion.flow import interpolate
from tessera.diffusion.schedule import validate_sigmas

VelocityFn = Callable[[Tensor, Tensor], Tensor]  # (x_t (B,C,F,H,W), t_field (B,1,F,H,W)) -> v (B,C,F,H,W)
SOLVERS = ("euler", "heun", "dpmpp_2m", "unipc")


def guided(cond: VelocityFn, uncond: VelocityFn, scale: float) -> VelocityFn:
    """Classifier-free guidance: ``v = v_uncond + scale * (v_cond - v_uncond)``.

    ``scale == 1`` returns ``cond`` itself, so unguided sampling costs one call per velocity, not two.
    """
    if not math.isfinite(scale):
        raise ValueError(f"guidance scale must be a finite number (1 = no guidance), got {scale!r}")
    if scale == 1:
        return cond

    def velocity(x_t: Tensor, t_field: Tensor) -> Tensor:
        v_cond = cond(x_t, t_field)
        v_uncond = uncond(x_t, t_field)
        return v_uncond + scale * (v_cond - v_uncond)

    return velocity


def sample(
    velocity_fn: VelocityFn,
    noise: Tensor,
    sigmas: Tensor,
    *,
    solver: str = "euler",
    clean: Tensor | None = None,
    mask: Tensor | None = None,
    progress: bool = False,
    callback: Callable[[int, int], None] | None = None,
) -> Tensor:
    """Integrate from ``sigmas[0]`` to 0 and return x0, shape and dtype of ``noise`` (B, C, F, H, W).

    ``sigmas`` is a schedule from schedule.py (strictly decreasing, ending at 0). ``clean`` and ``mask`` come
    together or not at all; their meaning is in the module docstring. ``progress`` shows a bar with rate and
    ETA; ``callback(done, total)`` is called after each step (a server's progress). Keep ``noise`` in
    float32: the state accumulates many small steps; casting to the network's dtype is the velocity
    function's business.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
    times = validate_sigmas(sigmas).tolist()
    _check_conditioning(noise, clean, mask)
    batch, _, frames, height, width = noise.shape
    field_shape = (batch, 1, frames, height, width)
    time_dtype = torch.promote_types(noise.dtype, torch.float32)
    # Fraction of each element's time that is still running: 1 everywhere for plain generation (a 0-d tensor,
    # expanded for free), 1 - mask under conditioning.
    free = torch.ones((), dtype=time_dtype, device=noise.device) if mask is None else 1 - mask.to(time_dtype)

    def velocity(x: Tensor, tau: Tensor) -> Tensor:
        v = velocity_fn(x, tau.expand(field_shape))
        if v.shape != x.shape:
            raise ValueError(f"velocity_fn returned shape {tuple(v.shape)}, expected {tuple(x.shape)}")
        return v

    x = noise if clean is None else interpolate(clean, noise, times[0] * free).to(noise.dtype)
    x0_prev = tau_prev = None
    unipc_history: list[_UniPCStart] = []
    steps = list(zip(times[:-1], times[1:], strict=True))
    for i, (t, t_next) in enumerate(
        tqdm(steps, desc=f"sampling ({solver})", unit="step", disable=not progress)
    ):
        tau, tau_next = t * free, t_next * free
        v = velocity(x, tau)
        if solver == "euler" or t_next == 0:
            x = _euler_step(x, v, tau, tau_next)
        elif solver == "heun":
            x_pred = _euler_step(x, v, tau, tau_next)
            x = _euler_step(x, (v + velocity(x_pred, tau_next)) / 2, tau, tau_next)
        elif solver == "dpmpp_2m":
            x, x0_prev = _dpmpp_2m_step(x, v, tau, tau_next, x0_prev, tau_prev)
        else:
            x, unipc_history = _unipc_step(x, v, tau, tau_next, unipc_history)
        tau_prev = tau
        if callback is not None:
            callback(i + 1, len(steps))
    return x


def _check_conditioning(noise: Tensor, clean: Tensor | None, mask: Tensor | None) -> None:
    if noise.ndim != 5:
        raise ValueError(f"noise must be (B, C, F, H, W), got shape {tuple(noise.shape)}")
    if (clean is None) != (mask is None):
        raise ValueError("clean and mask come together: clean latents say what is known, the mask says where")
    if clean is None:
        return
    if clean.shape != noise.shape:
        raise ValueError(f"clean must have the shape of noise {tuple(noise.shape)}, got {tuple(clean.shape)}")
    batch, _, frames, height, width = noise.shape
    if mask.shape != (batch, 1, frames, height, width):
        raise ValueError(
            f"mask must be (B, 1, F, H, W) = {(batch, 1, frames, height, width)}, got {tuple(mask.shape)}"
        )
    if not ((mask >= 0) & (mask <= 1)).all():
        low, high = mask.min().item(), mask.max().item()
        raise ValueError(f"mask values must lie in [0, 1] (1 = known), got range [{low}, {high}]")


def _euler_step(x: Tensor, v: Tensor, tau: Tensor, tau_next: Tensor) -> Tensor:
    return (x + (tau_next - tau) * v).to(x.dtype)


def _log_snr(tau: Tensor) -> Tensor:
    # lambda = log(alpha / sigma) = log((1 - t) / t): -inf at t = 1 (pure noise), +inf at t = 0 (data).
    return torch.log1p(-tau) - torch.log(tau)


def _dpmpp_2m_step(
    x: Tensor, v: Tensor, tau: Tensor, tau_next: Tensor, x0_prev: Tensor | None, tau_prev: Tensor | None
) -> tuple[Tensor, Tensor]:
    """One DPM-Solver++(2M) step (module docstring); returns the new state and this step's x0 prediction."""
    x0 = x - tau * v
    # Held elements (tau == 0) must not move: ratio 1 and no correction, instead of the 0/0 of the formulas.
    held = tau == 0
    ratio = torch.where(held, 1.0, tau_next / tau)
    target = x0
    if x0_prev is not None:
        lam = _log_snr(tau)
        h, h_prev = _log_snr(tau_next) - lam, lam - _log_snr(tau_prev)
        # After a step from t = 1, h_prev is infinite and the correction vanishes: that step spanned the whole
        # log-SNR line, so its prediction says nothing about the local slope.
        correction = torch.where(held, 0.0, h / (2 * h_prev))
        target = x0 + correction * (x0 - x0_prev)
    return (ratio * x + (1 - ratio) * target).to(x.dtype), x0


class _UniPCStart(NamedTuple):
    """Where a UniPC step started: its (corrected) state, the x0 predicted there, and its clock."""

    x: Tensor
    x0: Tensor
    tau: Tensor


def _unipc_step(
    x: Tensor, v: Tensor, tau: Tensor, tau_next: Tensor, history: list[_UniPCStart]
) -> tuple[Tensor, list[_UniPCStart]]:
    """One UniPC step (module docstring) from the predicted state ``x`` at ``tau`` with its velocity ``v``.

    ``history`` holds the starts of the last two steps, oldest first; returns the state at ``tau_next`` and
    the history for the next step.
    """
    x0 = x - tau * v
    if history:
        # UniC: redo the previous step with this prediction as its end point, at the order it was taken.
        start, earlier = history[-1], history[-2] if len(history) == 2 else None
        x = _unipc_update(start.x, start.x0, start.tau, tau, earlier, x0_end=x0)
    x_next = _unipc_update(x, x0, tau, tau_next, history[-1] if history else None)
    return x_next, [*history[-1:], _UniPCStart(x, x0, tau)]


def _unipc_update(
    x: Tensor,
    x0: Tensor,
    tau: Tensor,
    tau_next: Tensor,
    earlier: _UniPCStart | None,
    x0_end: Tensor | None = None,
) -> Tensor:
    """``x`` at ``tau`` -> ``tau_next``: UniP without ``x0_end``, UniC with ``x0_end`` (the prediction at
    ``tau_next``); second order when the ``earlier`` step's start is given."""
    # Held elements (tau == 0) must not move: ratio 1 and no correction, instead of the 0/0 of the formulas.
    held = tau == 0
    ratio = torch.where(held, 1.0, tau_next / tau)
    target = x0
    if earlier is not None or x0_end is not None:
        weights = _unipc_weights(tau, tau_next, None if earlier is None else earlier.tau, x0_end is not None)
        weight_earlier, weight_end = (torch.where(held, 0.0, w).to(tau.dtype) for w in weights)
        if earlier is not None:
            target = target + weight_earlier * (x0 - earlier.x0)
        if x0_end is not None:
            target = target + weight_end * (x0_end - x0)
    return (ratio * x + (1 - ratio) * target).to(x.dtype)


def _unipc_weights(
    tau: Tensor, tau_next: Tensor, tau_earlier: Tensor | None, corrector: bool
) -> tuple[Tensor, Tensor]:
    """The weights of ``x0 - x0_prev`` and ``x0_new - x0`` in D (module docstring), float64: the phi terms
    cancel to O(h^k), which float32 times with short steps would not resolve."""
    zero = torch.zeros((), dtype=torch.float64, device=tau.device)
    if tau_earlier is None:
        assert corrector, "a first-order predictor step has no weights"
        return zero, zero + 0.5  # UniC-1 with diffusers' rho = 1/2: the trapezoidal rule in x0
    lam = _log_snr(tau.double())
    h = _log_snr(tau_next.double()) - lam
    # After a step from t = 1, h_prev is infinite and the earlier prediction's weight vanishes, as in
    # dpmpp_2m: that step spanned the whole log-SNR line.
    h_prev = lam - _log_snr(tau_earlier.double())
    if not corrector:
        return h / (2 * h_prev), zero
    # UniC-2's right-hand side b_k = k! phi_(k+1)(-h) / phi_1(-h), k = 1, 2, by the paper's phi recursion.
    z = -h
    z_phi_1 = torch.expm1(z)
    phi_2 = (z_phi_1 / z - 1) / z
    phi_3 = (phi_2 - 0.5) / z
    b_1, b_2 = z * phi_2 / z_phi_1, 2 * z * phi_3 / z_phi_1
    rho_1 = h * (b_1 - b_2) / (h + h_prev)  # solves the 2x2 system; 0, not nan, for h_prev = inf
    return rho_1 * h / h_prev, b_1 - rho_1
