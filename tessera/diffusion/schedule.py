"""Inference time lists ("sigmas"): the flow times a sampler visits, from noise (1) down to data (0).

A schedule of N steps is a float64 tensor of N + 1 strictly decreasing times in [0, 1] ending at exactly 0
(the convention is in flow.py). float64 keeps the step sizes t_next - t exact enough that a long schedule
sums back to its span.
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from tessera.diffusion.flow import TIME_SCALE, shift_time


def sigmas(num_steps: int, *, shift: float = 1.0) -> Tensor:
    """``num_steps`` equal steps from 1 to 0, then shifted (``flow.shift_time``; 0 and 1 stay fixed).

    Wan2.1 uses shift 3.0 at 480p and 5.0 at 720p (diffusers' Wan docs; Wan-Video/Wan2.1 generate.py).
    """
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    return validate_sigmas(shift_time(torch.linspace(1.0, 0.0, num_steps + 1, dtype=torch.float64), shift))


def unipc_sigmas(num_steps: int, *, shift: float = 1.0) -> Tensor:
    """The time list of diffusers' ``UniPCMultistepScheduler`` with ``use_flow_sigmas=True``,
    ``flow_shift=shift``, ``num_train_timesteps=1000`` and ``final_sigmas_type="zero"``: the scheduler that
    Wan2.1/2.2's diffusers folders ship, so a sampler given this list visits exactly its times.

    It differs from ``sigmas(num_steps, shift=shift)`` in two ways. The ``num_steps`` times before the final
    0 are numpy's ``linspace(1, 1/1000, num_steps + 1)`` without its last point, then shifted: before the
    shift, the last step (onto 0) is 1/1000 longer than the others. The first time is 1 - 1e-6, not 1
    (diffusers keeps log(1 - t) finite). The values are the float64 ones diffusers computes; its solver uses
    them rounded to float32, as ``sample`` does, while its network is fed the int64 timesteps
    ``floor(t * 1000)`` of these float64 times, not ``t * 1000``.
    """
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    # numpy's own linspace, not torch's: the two round differently in the last bit, and diffusers uses numpy.
    ramp = torch.from_numpy(np.linspace(1.0, 1.0 / TIME_SCALE, num_steps + 1)[:-1])
    times = shift_time(ramp, shift)
    # diffusers subtracts 1e-6 from a first time within 1e-6 of 1, which shift_time(1) always is.
    times[0] -= 1e-6
    return validate_sigmas(torch.cat([times, times.new_zeros(1)]))


SCHEDULES = {"uniform": sigmas, "unipc": unipc_sigmas}  # by the name a model folder's sample.schedule gives


def integer_network_times(times: Tensor, schedule: Tensor) -> Tensor:
    """Network times as diffusers' UniPC gives them: ``floor(t * 1000)`` of the float64 schedule entry each
    time came from. ``times`` (any shape) are the sampler's times, the schedule's entries rounded to their
    dtype, or 0 for known latents; a time on no entry (a partly known latent's) is floored as it is.

    Flooring the rounded time itself is not enough: diffusers floors float64 values lying just under an
    integer (t = 0.33399999999999996 gives 333), which float32 rounding lifts over it.
    """
    table = schedule.to(device=times.device)
    on_list = times[..., None] == table.to(times.dtype)  # (..., N + 1)
    exact = (table * TIME_SCALE).floor().to(times.dtype)  # (N + 1,)
    floored = torch.floor(times.double() * TIME_SCALE).to(times.dtype)
    return torch.where(on_list.any(-1), (on_list * exact).amax(-1), floored)


def sigmas_from_list(values: Sequence[float]) -> Tensor:
    """An explicit time list, e.g. a schedule tuned by hand or one starting below 1 for video-to-video.

    Values are flow times in [0, 1] (not network timesteps t * 1000), strictly decreasing; a final 0 is
    appended when missing, so every schedule ends on data.
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("sigmas_from_list needs at least one time in (0, 1], got an empty list")
    if max(values) > 1:
        raise ValueError(
            f"times must lie in [0, 1], got {values}; network timesteps (t * {TIME_SCALE:g}) must be divided "
            f"by {TIME_SCALE:g} first"
        )
    if values[-1] != 0.0:
        values.append(0.0)
    return validate_sigmas(torch.tensor(values, dtype=torch.float64))


def validate_sigmas(times: Tensor | Sequence[float]) -> Tensor:
    """Return ``times`` as a float64 1-D tensor after checking it is a usable schedule; ValueError if not."""
    times = torch.as_tensor(times, dtype=torch.float64).detach().cpu()
    if times.ndim != 1 or times.numel() < 2:
        raise ValueError(
            f"sigmas must be a 1-D list of at least 2 times (start and 0), got shape {tuple(times.shape)}"
        )
    listed = times.tolist()
    if not ((times >= 0) & (times <= 1)).all():
        raise ValueError(f"sigmas must lie in [0, 1], got {listed}")
    if not (times[1:] < times[:-1]).all():
        raise ValueError(f"sigmas must be strictly decreasing (noise 1 -> data 0), got {listed}")
    if listed[-1] != 0.0:
        raise ValueError(f"sigmas must end at exactly 0 so sampling lands on data, got last {listed[-1]}")
    return times
