"""Flow-matching maths: the convention's identities, schedules, and the sampler against an exact solution.

The analytic case: data x0 ~ N(mu, s^2 I) and noise n ~ N(0, I) give x_t = (1 - t) x0 + t n, which is
N((1 - t) mu, V I) with V = (1 - t)^2 s^2 + t^2, Cov(x0, x_t) = (1 - t) s^2 and Cov(n, x_t) = t. Gaussian
conditioning gives the exact velocity field E[n - x0 | x_t] = ((t - (1 - t) s^2) / V) (x_t - (1 - t) mu) - mu,
and its ODE carries the noise z at t = 1 along x_t = (1 - t) mu + sqrt(V) z (differentiate to check), so the
exact sample from noise z is mu + s z: every solver can be scored per sample against the true end point.
"""

import pytest
import torch

from tessera.diffusion.flow import (
    TIME_SCALE,
    flow_loss,
    interpolate,
    sample_t,
    shift_time,
    velocity_target,
)
from tessera.diffusion.sampler import SOLVERS, guided, sample
from tessera.diffusion.schedule import sigmas, sigmas_from_list

MU = torch.tensor([2.0, -1.0], dtype=torch.float64).view(1, 2, 1, 1, 1)
STD = 0.5


def gaussian_velocity(x_t, t_field):
    """The exact velocity field for x0 ~ N(MU, STD^2 I) (module docstring), element by element in time."""
    t = t_field.to(x_t.dtype)
    var = (1 - t) ** 2 * STD**2 + t**2
    return (t - (1 - t) * STD**2) / var * (x_t - (1 - t) * MU.to(x_t.dtype)) - MU.to(x_t.dtype)


def gaussian_noise(num, frames=1, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(num, 2, frames, 1, 1, generator=generator, dtype=torch.float64)


class CountingVelocity:
    """A fixed, nonlinear fake model that records every time field it is given."""

    def __init__(self):
        self.t_fields = []

    def __call__(self, x_t, t_field):
        self.t_fields.append(t_field.clone())
        return torch.sin(3 * x_t) + t_field - 0.5


# ---- flow.py: the convention ----


def test_interpolate_and_velocity_recover_both_ends():
    x0 = torch.randn(3, 4, 2, 5, 5, dtype=torch.float64)
    noise = torch.randn(3, 4, 2, 5, 5, dtype=torch.float64)
    t = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    x_t, v = interpolate(x0, noise, t), velocity_target(x0, noise)
    t_b = t.view(3, 1, 1, 1, 1)
    torch.testing.assert_close(x_t - t_b * v, x0)
    torch.testing.assert_close(x_t + (1 - t_b) * v, noise)
    assert torch.equal(x_t[0], x0[0]) and torch.equal(x_t[2], noise[2])
    # A per-element time field (B, 1, F, H, W) obeys the same identities element by element.
    field = torch.rand(3, 1, 2, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(interpolate(x0, noise, field) - field * v, x0)
    torch.testing.assert_close(interpolate(x0, noise, 0.25), 0.75 * x0 + 0.25 * noise)
    with pytest.raises(ValueError, match="batch 3"):
        interpolate(x0, noise, torch.rand(5))
    with pytest.raises(ValueError, match="does not broadcast"):
        interpolate(x0, noise, torch.rand(3, 2, 2, 5, 5))


def test_shift_fixes_the_ends_and_is_increasing():
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    for s in (0.5, 1.0, 3.0, 16.0):
        shifted = shift_time(t, s)
        assert shifted[0] == 0 and shifted[-1] == 1
        assert (shifted[1:] > shifted[:-1]).all()
        assert shift_time(0.5, s) == pytest.approx(s / (1 + s))  # floats work too
    assert torch.equal(shift_time(t, 1.0), t)
    assert (shift_time(t[1:-1], 3.0) > t[1:-1]).all()  # s > 1 spends more time near noise
    with pytest.raises(ValueError, match="shift"):
        shift_time(t, 0.0)


def test_sample_t_range_and_median():
    generator = torch.Generator().manual_seed(0)
    for method in ("logit_normal", "uniform"):
        t = sample_t(20000, generator=generator, method=method, scale=4.0)
        assert t.shape == (20000,) and t.dtype == torch.float32
        assert (t > 0).all() and (t < 1).all()
    t = sample_t(20000, generator=generator)
    assert abs(t.median().item() - 0.5) < 0.02
    shifted = sample_t(20000, generator=generator, shift=3.0)
    # The median moves with the shift: 3 * 0.5 / (1 + 2 * 0.5).
    assert abs(shifted.median().item() - 0.75) < 0.02
    # Extreme logits saturate float32 at exactly 0 or 1; t stays strictly inside.
    t = sample_t(1000, generator=generator, loc=0.0, scale=100.0)
    assert (t > 0).all() and (t < 1).all()
    with pytest.raises(ValueError, match="logit_normal"):
        sample_t(4, method="cosine")
    with pytest.raises(ValueError, match="batch"):
        sample_t(0)


def test_flow_loss_weighting():
    x0, noise = torch.randn(2, 3, 2, 4, 4), torch.randn(2, 3, 2, 4, 4)
    target = velocity_target(x0, noise)
    assert flow_loss(target, x0, noise) == 0
    v_pred = target + 1.0
    v_pred[:, :, 0] += 10.0  # frame 0 is conditioning: its (bad) prediction must not count
    mask = torch.ones(2, 1, 2, 4, 4)
    mask[:, :, 0] = 0
    assert flow_loss(v_pred, x0, noise, weight=mask).item() == pytest.approx(1.0)
    assert flow_loss(v_pred, x0, noise).item() == pytest.approx((1 + 121) / 2)
    assert flow_loss(v_pred, x0, noise, weight=torch.ones(2)).item() == pytest.approx(61.0)  # (B,) per sample
    # Nothing to predict: loss 0 with a finite gradient, not NaN.
    v_pred.requires_grad_(True)
    loss = flow_loss(v_pred, x0, noise, weight=torch.zeros(2, 1, 2, 4, 4))
    loss.backward()
    assert loss.item() == 0 and torch.isfinite(v_pred.grad).all()


def test_flow_loss_in_data_space_is_the_x0_error():
    g = torch.Generator().manual_seed(0)
    x0, noise, v_pred = (torch.randn(2, 3, 2, 4, 4, generator=g) for _ in range(3))
    t = torch.tensor([0.3, 0.9])
    x_t = interpolate(x0, noise, t)
    x0_pred = x_t - t.view(-1, 1, 1, 1, 1) * v_pred  # what the velocity says the clean data is
    assert flow_loss(v_pred, x0, noise, t=t).item() == pytest.approx((x0_pred - x0).square().mean().item())
    # per-element times (given latents at 0) with their mask: only the free latents' x0 error counts
    t_field = t.view(-1, 1, 1, 1, 1).expand(2, 1, 2, 4, 4).clone()
    t_field[:, :, 0] = 0
    free = (t_field > 0).float()
    expected = ((x0_pred - x0).square() * free)[:, :, 1:].mean().item()
    assert flow_loss(v_pred, x0, noise, free, t=t_field).item() == pytest.approx(expected, rel=1e-5)
    # against the velocity loss, the data loss weighs the noisier sample t^2 / t^2 = 9x more
    err = (v_pred - velocity_target(x0, noise)).square().mean(dim=(1, 2, 3, 4))
    assert flow_loss(v_pred, x0, noise, t=t).item() == pytest.approx(((t**2) * err).mean().item(), rel=1e-5)


# ---- schedule.py ----


def test_sigmas_endpoints_and_wan_parity():
    for n, s in ((1, 1.0), (8, 1.0), (50, 3.0)):
        sched = sigmas(n, shift=s)
        assert sched.shape == (n + 1,) and sched.dtype == torch.float64
        assert sched[0] == 1 and sched[-1] == 0 and (sched[1:] < sched[:-1]).all()
    # Wan2.1 / diffusers UniPC at 50 steps, shift 3: timesteps 999, 993, 986, 979, 971 (diffusers'
    # UniPCMultistepScheduler; the first is 1 - 1e-6 there).
    assert [int(t * TIME_SCALE) for t in sigmas(50, shift=3.0)[1:5]] == [993, 986, 979, 971]
    with pytest.raises(ValueError, match="num_steps"):
        sigmas(0)


def test_sigmas_from_list_validates():
    assert sigmas_from_list([1.0, 0.5]).tolist() == [1.0, 0.5, 0.0]
    assert sigmas_from_list([0.8, 0.2, 0.0]).tolist() == [0.8, 0.2, 0.0]
    for bad, match in (
        ([1.0, 0.5, 0.7], "strictly decreasing"),
        ([0.5, 0.5], "strictly decreasing"),
        ([1.0, -0.1], r"\[0, 1\]"),
        ([999.0, 500.0], "divided by 1000"),
        ([], "empty"),
        ([0.0], "at least 2"),
    ):
        with pytest.raises(ValueError, match=match):
            sigmas_from_list(bad)


# ---- sampler.py ----


def test_euler_steps_are_exactly_the_convention():
    velocity = CountingVelocity()
    x = torch.randn(2, 3, 2, 4, 4, dtype=torch.float64)
    out = sample(velocity, x, sigmas_from_list([0.7, 0.3]))
    x1 = x + (0.3 - 0.7) * velocity(x, torch.full((2, 1, 2, 4, 4), 0.7, dtype=torch.float64))
    expected = x1 + (0.0 - 0.3) * velocity(x1, torch.full((2, 1, 2, 4, 4), 0.3, dtype=torch.float64))
    assert torch.equal(out, expected)
    assert [f.shape for f in velocity.t_fields[:2]] == [(2, 1, 2, 4, 4)] * 2


@pytest.mark.parametrize("solver", SOLVERS)
def test_solvers_land_on_the_exact_gaussian(solver):
    noise = gaussian_noise(20000)
    out = sample(gaussian_velocity, noise, sigmas(64 if solver == "euler" else 16), solver=solver)
    mean, std = out.mean(dim=(0, 2, 3, 4)), out.std(dim=(0, 2, 3, 4))
    torch.testing.assert_close(mean, MU.flatten(), atol=0.02, rtol=0)
    torch.testing.assert_close(std, torch.full_like(std, STD), atol=0.02, rtol=0)


def test_higher_order_solvers_beat_euler_with_four_times_the_steps():
    noise = gaussian_noise(20000)
    exact = MU + STD * noise

    def error(solver, num_steps):
        out = sample(gaussian_velocity, noise, sigmas(num_steps), solver=solver)
        return (out - exact).flatten(1).norm(dim=1).mean().item()

    euler = {n: error("euler", n) for n in (8, 32)}
    heun, dpmpp = error("heun", 8), error("dpmpp_2m", 8)
    print(
        f"mean per-sample error: euler 8 {euler[8]:.4f}, euler 32 {euler[32]:.4f}, heun 8 {heun:.4f}, "
        f"dpmpp_2m 8 {dpmpp:.4f}"
    )
    assert heun <= euler[32] and dpmpp <= euler[32]
    assert euler[32] < euler[8] / 3  # Euler itself converges at first order


def test_solver_call_counts():
    for solver, calls in (("euler", 8), ("heun", 15), ("dpmpp_2m", 8)):
        velocity = CountingVelocity()
        sample(velocity, torch.randn(1, 2, 1, 2, 2), sigmas(8), solver=solver)
        assert len(velocity.t_fields) == calls, solver


@pytest.mark.parametrize("solver", SOLVERS)
def test_conditioning_holds_known_latents_at_time_zero(solver):
    noise = gaussian_noise(64, frames=3).float()
    clean = torch.randn_like(noise)
    mask = torch.zeros(64, 1, 3, 1, 1)
    mask[:, :, 0] = 1  # frame 0 known (image to video)
    seen = []

    def velocity(x_t, t_field):
        seen.append(t_field)
        return gaussian_velocity(x_t, t_field)

    schedule = sigmas(6, shift=3.0)
    out = sample(velocity, noise, schedule, solver=solver, clean=clean, mask=mask)
    assert out.dtype == torch.float32
    assert torch.equal(out[:, :, 0], clean[:, :, 0])
    assert all((t_field[:, :, 0] == 0).all() and (t_field[:, :, 1:] > 0).all() for t_field in seen)
    # This velocity is element-wise, so the free frames follow exactly the path of plain generation.
    plain = sample(gaussian_velocity, noise, schedule, solver=solver)
    torch.testing.assert_close(out[:, :, 1:], plain[:, :, 1:])
    # A zero mask is plain generation, bit for bit.
    unmasked = sample(gaussian_velocity, noise, schedule, solver=solver, clean=clean, mask=mask * 0)
    assert torch.equal(unmasked, plain)


def test_guided_formula_and_single_call_at_scale_one():
    cond, uncond = CountingVelocity(), (lambda x_t, t_field: 2 * x_t)
    x, t = torch.randn(1, 2, 1, 2, 2), torch.full((1, 1, 1, 2, 2), 0.4)
    assert guided(cond, uncond, 1.0) is cond
    torch.testing.assert_close(guided(cond, uncond, 5.0)(x, t), 2 * x + 5.0 * (cond(x, t) - 2 * x))
    with pytest.raises(ValueError, match="guidance scale"):
        guided(cond, uncond, float("nan"))


def test_sample_rejects_bad_inputs():
    noise, velocity = torch.randn(1, 2, 2, 2, 2), CountingVelocity()
    with pytest.raises(ValueError, match="euler"):
        sample(velocity, noise, sigmas(2), solver="ddim")
    with pytest.raises(ValueError, match="strictly decreasing"):
        sample(velocity, noise, torch.tensor([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="end at exactly 0"):
        sample(velocity, noise, torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError, match="mask must be"):
        sample(velocity, noise, sigmas(2), clean=noise, mask=torch.ones(1, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="clean must"):
        sample(velocity, noise, sigmas(2), clean=noise[:, :1], mask=torch.ones(1, 1, 2, 2, 2))
    with pytest.raises(ValueError, match="together"):
        sample(velocity, noise, sigmas(2), mask=torch.ones(1, 1, 2, 2, 2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sample(velocity, noise, sigmas(2), clean=noise, mask=torch.full((1, 1, 2, 2, 2), 2.0))
    with pytest.raises(ValueError, match=r"\(B, C, F, H, W\)"):
        sample(velocity, noise[0], sigmas(2))


def test_progress_bar(capsys):
    sample(CountingVelocity(), torch.randn(1, 2, 1, 2, 2), sigmas(3), progress=True)
    assert "3/3" in capsys.readouterr().err


def test_sample_reports_each_step_to_the_callback():
    seen = []
    sample(
        lambda x, t: torch.zeros_like(x),
        torch.randn(1, 2, 1, 2, 2),
        sigmas(3),
        callback=lambda *a: seen.append(a),
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]
