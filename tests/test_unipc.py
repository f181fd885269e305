"""The UniPC solver and its schedule against diffusers' UniPCMultistepScheduler, Wan2.1/2.2's default.

The reference is diffusers' own scheduler loop (set_timesteps, then step with the velocity as the model
output) under the scheduler config that Wan2.1-T2V-1.3B-Diffusers ships. From three steps on, both the
predictor's second order and the corrector change the result (two steps are Euler: the corrector's state is
weighed by 0 on the last step), so the parity cases with three steps or more fail if either is dropped or
taken at the wrong order.
"""

import pytest
import torch

from tessera.diffusion.flow import TIME_SCALE
from tessera.diffusion.sampler import sample
from tessera.diffusion.schedule import sigmas, unipc_sigmas

diffusers = pytest.importorskip("diffusers")

SHAPE = (2, 4, 3, 4, 4)  # (B, C, F, H, W)


def wan_scheduler(shift: float):
    """diffusers' UniPC as Wan2.1-T2V-1.3B-Diffusers configures it (its scheduler_config.json)."""
    return diffusers.UniPCMultistepScheduler(
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        flow_shift=shift,
        solver_order=2,
        solver_type="bh2",
        lower_order_final=True,
        final_sigmas_type="zero",
        num_train_timesteps=1000,
    )


def toy_velocity():
    """A fixed model: a random linear map across channels plus terms in time, so every step differs."""
    generator = torch.Generator().manual_seed(0)
    mix = torch.randn(SHAPE[1], SHAPE[1], generator=generator) / 2
    bias = torch.randn(1, SHAPE[1], 1, 1, 1, generator=generator)

    def velocity(x_t, t):
        t = torch.as_tensor(t, dtype=x_t.dtype)
        return torch.einsum("dc,bcfhw->bdfhw", mix.to(x_t.dtype), x_t) + torch.cos(3 * t) * bias + t * x_t

    return velocity


def elementwise_velocity(x_t, t_field):
    """A nonlinear fake model that treats every element on its own (its own value and its own time)."""
    return torch.sin(3 * x_t) * (1 + t_field) + t_field * x_t - 0.3


def diffusers_sample(velocity, noise, num_steps, shift):
    scheduler = wan_scheduler(shift)
    scheduler.set_timesteps(num_steps)
    scheduler.set_begin_index(0)  # as WanPipeline does
    x = noise
    for i, timestep in enumerate(scheduler.timesteps):
        # The model sees the solver's own time; the network-time rounding is the schedule test's business.
        x = scheduler.step(velocity(x, scheduler.sigmas[i]), timestep, x).prev_sample
    return x


def noise_like(seed=1):
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("shift", [1.0, 3.0, 5.0])
def test_unipc_sigmas_are_diffusers_schedule(shift):
    for num_steps in (1, 2, 3, 5, 10, 20, 50, 200):
        scheduler = wan_scheduler(shift)
        scheduler.set_timesteps(num_steps)
        times = unipc_sigmas(num_steps, shift=shift)
        assert times.dtype == torch.float64 and times.shape == (num_steps + 1,)
        assert torch.equal(times.float(), scheduler.sigmas)
        # diffusers feeds the network floor(t * 1000) of the float64 times, as int64.
        assert torch.equal((times[:-1] * TIME_SCALE).long(), scheduler.timesteps)
        assert times[0] == 1 - 1e-6 and times[-1] == 0
    with pytest.raises(ValueError, match="num_steps"):
        unipc_sigmas(0)


def test_unipc_sigmas_stop_the_equal_steps_short_of_zero():
    # linspace(1, 1/1000, 3) without its last point, the first pulled below 1, then 0: unlike sigmas(2).
    assert unipc_sigmas(2).tolist() == [1 - 1e-6, 0.5005, 0.0]
    assert sigmas(2).tolist() == [1.0, 0.5, 0.0]


@pytest.mark.parametrize("shift", [1.0, 3.0, 5.0])
@pytest.mark.parametrize("num_steps", [1, 2, 3, 5, 10, 20])
def test_unipc_matches_diffusers(num_steps, shift):
    velocity, noise = toy_velocity(), noise_like()
    expected = diffusers_sample(velocity, noise, num_steps, shift)
    out = sample(velocity, noise, unipc_sigmas(num_steps, shift=shift), solver="unipc")
    assert out.dtype == torch.float32
    error = ((out - expected).abs().max() / expected.abs().max()).item()
    print(f"{num_steps} steps, shift {shift}: max error relative to max |x0| {error:.1e}")
    assert error < 1e-5


def test_corrector_changes_the_result_but_costs_no_call():
    velocity, noise = toy_velocity(), noise_like()
    calls = []

    def counting(x_t, t_field):
        calls.append(t_field)
        return velocity(x_t, t_field)

    times = unipc_sigmas(10, shift=3.0)
    unipc = sample(counting, noise, times, solver="unipc")
    assert len(calls) == 10
    # Without the corrector UniPC-2 is DPM-Solver++(2M): the corrector moves the result far beyond rounding.
    predictor_only = sample(velocity, noise, times, solver="dpmpp_2m")
    assert (unipc - predictor_only).abs().max() > 1e-3 * unipc.abs().max()
    # With one or two steps every step is first order and the one corrected state is weighed by 0: Euler.
    for num_steps in (1, 2):
        times = unipc_sigmas(num_steps, shift=3.0)
        euler = sample(velocity, noise, times, solver="euler")
        torch.testing.assert_close(sample(velocity, noise, times, solver="unipc"), euler)


def test_unipc_held_elements_never_move_and_fractional_ones_run_on_their_own_clock():
    noise = noise_like()
    clean = torch.randn(SHAPE, generator=torch.Generator().manual_seed(2))
    mask = torch.zeros(SHAPE[0], 1, *SHAPE[2:])
    mask[:, :, 0] = 1  # frame 0 known (image to video)
    mask[:, :, 1, :2] = 0.25  # part of frame 1 known a little (a soft strength)
    held = mask.expand(SHAPE) == 1
    seen = []

    def velocity(x_t, t_field):
        seen.append((x_t.clone(), t_field.clone()))
        return elementwise_velocity(x_t, t_field)

    times = unipc_sigmas(8, shift=3.0)
    out = sample(velocity, noise, times, solver="unipc", clean=clean, mask=mask)
    assert len(seen) == 8 and torch.isfinite(out).all()
    assert torch.equal(out[held], clean[held])
    assert all(torch.equal(x_t[held], clean[held]) and (t_field[:, :, 0] == 0).all() for x_t, t_field in seen)
    # The model is element-wise, so an element with mask m follows plain UniPC sampling from its own start
    # (1 - tau_0) clean + tau_0 noise over its own times tau = t (1 - m): every coefficient is per element.
    for m in (0.0, 0.25):
        start = (1 - times[0] * (1 - m)) * clean + times[0] * (1 - m) * noise
        alone = sample(elementwise_velocity, start.float(), times * (1 - m), solver="unipc")
        where = (mask == m).expand(SHAPE)
        torch.testing.assert_close(out[where], alone[where], rtol=1e-5, atol=1e-5)


def test_unipc_from_exactly_one_is_the_limit_of_starting_just_below():
    # diffusers starts at 1 - 1e-6 to keep log(1 - t) finite; tessera's schedules may start at 1, where the
    # first step spans the whole log-SNR line and its prediction gets weight 0 in the second-order terms.
    velocity, noise = toy_velocity(), noise_like()
    times = sigmas(6, shift=3.0)
    at_one = sample(velocity, noise, times, solver="unipc")
    assert torch.isfinite(at_one).all()
    gaps = []
    for eps in (1e-2, 1e-4, 1e-8, 1e-14):
        below = times.clone()
        below[0] = 1 - eps
        gaps.append((sample(velocity, noise, below, solver="unipc") - at_one).abs().max().item())
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < gaps[0] / 2
