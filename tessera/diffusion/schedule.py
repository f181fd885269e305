"""Inference time lists ("sigmas"): the flow times a sampler visits, from noise (1) down to data (0).

A schedule of N steps is a float64 tensor of N + 1 strictly decreasing times in [0, 1] ending at exactly 0
(the convention is in flow.py). float64 keeps the step sizes t_next - t exact enough that a long schedule
sums back to its span.
"""

from collections.abc import Sequence

import torch
from torch import Tensor

from tessera.diffusion.flow import TIME_SCALE, shift_time


def sigmas(num_steps: int, *, shift: float = 1.0) -> Tensor:
    """``num_steps`` equal steps from 1 to 0, then shifted (``flow.shift_time``; 0 and 1 stay fixed).

    Wan2.1 uses shift 3.0 at 480p and 5.0 at 720p (reference/wan21.md 3.3).
    """
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    return validate_sigmas(shift_time(torch.linspace(1.0, 0.0, num_steps + 1, dtype=torch.float64), shift))


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
