"""VAE training end to end on tiny configs: the loss falls, runs resume exactly, fine-tuning (the whole VAE or
its decoder alone) starts from the given export, and the loss terms and latent noise do what they say."""

import json

import numpy as np
import pytest
import torch

from tessera.presets import load_config
from tessera.train import train_vae
from tessera.train.checkpoint import latest_checkpoint
from tessera.weights import load_vae_dir


def test_vae_training_lowers_the_loss_and_exports(run_losses, vae_run):
    out, export = vae_run
    losses = [loss for _, loss in run_losses(out)]
    assert np.mean(losses[-8:]) < 0.8 * np.mean(losses[:4])
    assert (out / "curves.png").is_file() and any((out / "tb").iterdir())
    vae = load_vae_dir(export)
    extra = json.loads((export / "config.json").read_text())["extra"]
    assert np.isfinite(extra["psnr"]) and 0 < extra["ssim"] <= 1
    assert any(abs(s - 1.0) > 1e-3 for s in vae.cfg.latents_std)  # measured, not the placeholder


def test_vae_resume_is_exact(tmp_path):
    straight = load_config(
        "vae-tiny", [f"loop.out={tmp_path / 'a'}", "loop.steps=6", "loop.checkpoint_every=3"]
    )
    train_vae.main(straight, eval_clips=1, progress=False)
    first = load_config("vae-tiny", [f"loop.out={tmp_path / 'b'}", "loop.steps=3", "loop.checkpoint_every=3"])
    train_vae.main(first, eval_clips=1, progress=False)
    resumed = load_config(
        "vae-tiny", [f"loop.out={tmp_path / 'b'}", "loop.steps=6", "loop.checkpoint_every=3"]
    )
    train_vae.main(resumed, eval_clips=1, progress=False)
    a = load_vae_dir(tmp_path / "a" / "export").state_dict()
    b = load_vae_dir(tmp_path / "b" / "export").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert latest_checkpoint(tmp_path / "b").name == "step_0000006"


def test_vae_fine_tuning_starts_from_the_given_export(vae_run, tmp_path):
    out, export = vae_run
    cfg = load_config("vae-tiny", [f"loop.out={tmp_path}", "loop.steps=0", f"loop.init_from={export}"])
    tuned = load_vae_dir(train_vae.main(cfg, eval_clips=1, progress=False)).state_dict()
    start = load_vae_dir(export).state_dict()
    assert all(torch.equal(start[k], tuned[k]) for k in start)


def test_vae_decoder_fine_tuning_keeps_the_encoder_and_weighs_objects(vae_run, tmp_path):
    start = load_vae_dir(vae_run[1])
    overrides = [
        f"loop.out={tmp_path}",
        f"loop.init_from={vae_run[1]}",
        "decoder_only=true",
        "loss.object_weight=8",
        "loop.steps=6",
        "data.num_scenes=4",
    ]
    tuned = load_vae_dir(train_vae.main(load_config("vae-tiny", overrides), eval_clips=1, progress=False))
    before, after = start.state_dict(), tuned.state_dict()
    encoder = [k for k in before if not k.startswith(("decoder.", "post_quant_conv."))]
    assert encoder and all(torch.equal(before[k], after[k]) for k in encoder)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    assert tuned.cfg.latents_mean == start.cfg.latents_mean and tuned.cfg.latents_std == start.cfg.latents_std
    with pytest.raises(ValueError, match="give loop.init_from"):
        train_vae.main(load_config("vae-tiny", [f"loop.out={tmp_path / 'x'}", "decoder_only=true"]))
    # the weight moves the L1 towards the pixels that show objects
    cfg = load_config("vae-tiny", ["loss.object_weight=8"])
    video, recon = torch.zeros(1, 3, 1, 16, 16), torch.zeros(1, 3, 1, 16, 16)
    recon[..., 0, 0] = 1  # one wrong pixel
    objects = torch.zeros(1, 1, 1, 16, 16)
    zero = torch.zeros(1, 2, 1, 1, 1)
    plain = train_vae.vae_loss(cfg, video, recon, zero, zero)[1]["loss_l1"]
    on_object = objects.clone()
    on_object[..., 0, 0] = 1
    weighted = train_vae.vae_loss(cfg, video, recon, zero, zero, on_object)[1]["loss_l1"]
    elsewhere = objects.clone()
    elsewhere[..., 1, 1] = 1
    assert weighted > plain > train_vae.vae_loss(cfg, video, recon, zero, zero, elsewhere)[1]["loss_l1"]


def test_the_temporal_loss_sees_flicker_that_the_frame_losses_miss():
    cfg = load_config("vae-tiny", ["loss.temporal_weight=1"])
    video = torch.linspace(-1, 1, 5).view(1, 1, 5, 1, 1).expand(1, 3, 5, 16, 16)  # a steady fade
    zero = torch.zeros(1, 2, 2, 1, 1)
    steady, flicker = video + 0.1, video + 0.1 * torch.tensor([1.0, -1, 1, -1, 1]).view(1, 1, 5, 1, 1)
    # the same error in every frame (a colour cast) changes as the video does: no temporal error
    assert train_vae.temporal_error(steady, video) < 1e-6
    assert torch.isclose(train_vae.temporal_error(flicker, video), torch.tensor(0.2))
    a, b = (train_vae.vae_loss(cfg, video, r, zero, zero)[1] for r in (steady, flicker))
    assert a["loss_l1"] == pytest.approx(b["loss_l1"])  # the same error frame by frame
    assert a["loss_temporal"] < 1e-6 and b["loss_temporal"] == pytest.approx(0.2)
    # images have nothing to flicker: the term is left out
    image = train_vae.vae_loss(cfg, video[:, :, :1], flicker[:, :, :1], zero, zero)[1]
    assert "loss_temporal" not in image


def test_latent_noise_is_in_latent_standard_deviations_and_only_when_asked(vae_run):
    vae = load_vae_dir(vae_run[1]).eval()
    video = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    with torch.no_grad():
        plain = vae(video, generator=g())[0]
        assert torch.equal(vae(video, generator=g(), latent_noise=0.0)[0], plain)
        noisy = vae(video, generator=g(), latent_noise=0.5)[0]
        assert not torch.allclose(noisy, plain)
        # the noise the decoder reads, recovered by running the same draws with a decoder that shows z
        seen = {}
        hook = vae.post_quant_conv.register_forward_hook(lambda m, i, o: seen.setdefault("z", i[0]))
        mean, logvar = vae(video, generator=g(), latent_noise=0.5)[1:]
        hook.remove()
        g2 = g()
        eps = torch.randn(mean.shape, generator=g2)
        sample = mean + torch.exp(0.5 * logvar) * eps
        std = torch.tensor(vae.cfg.latents_std).view(1, -1, 1, 1, 1)
        noise = 0.5 * std * torch.randn(mean.shape, generator=g2)
        assert torch.allclose(seen["z"], sample + noise, atol=1e-5)
    with pytest.raises(ValueError, match="latent_noise must be >= 0"):
        vae(video, latent_noise=-0.1)
