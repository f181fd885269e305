"""The causal video VAE: streaming equals all-at-once, causality, tiling, parity with diffusers'
AutoencoderKLWan, the Wan2.1 key tables and loader, and the reconstruction metrics."""

import json
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from tessera.convert.wan_vae import load_wan_vae, original_to_diffusers_vae_key, vae_config_from_diffusers
from tessera.eval.reconstruction import psnr, ssim
from tessera.models.tiling import run_tiled
from tessera.models.vae import VAE_SIZES, AttentionBlock, VAEConfig, VideoVAE

TINY = VAE_SIZES["tiny"]
# Wan2.2's variant at TINY's size: residual levels, 2x2 pixel patches (16x space), a decoder width of its own
TINY_WAN22 = VAEConfig(**{**TINY.to_dict(), "is_residual": True, "patch_size": 2, "decoder_base_dim": 12})
# diffusers' own tiny test VAE, and one with Wan2.1's layout (4 levels, 2 residual blocks) for the key tables
DIFFUSERS_TINY = dict(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1)
WAN_LAYOUT = dict(base_dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2)
WAN22_TINY = dict(  # Wan2.2's layout (4 levels, widening shortcuts) at a test size
    base_dim=8,
    decoder_base_dim=12,
    z_dim=8,
    dim_mult=[1, 2, 4, 4],
    num_res_blocks=1,
    is_residual=True,
    patch_size=2,
    in_channels=12,
    out_channels=12,
    scale_factor_spatial=16,
    latents_mean=[0.1 * i - 0.3 for i in range(8)],
    latents_std=[1.0 + 0.1 * i for i in range(8)],
)
WAN21_CONFIG_JSON = {  # vae/config.json of the Wan2.1 diffusers repos
    "_class_name": "AutoencoderKLWan",
    "_diffusers_version": "0.33.0.dev0",
    "attn_scales": [],
    "base_dim": 96,
    "dim_mult": [1, 2, 4, 4],
    "dropout": 0.0,
    "latents_mean": list(VAEConfig().latents_mean),
    "latents_std": list(VAEConfig().latents_std),
    "num_res_blocks": 2,
    "temperal_downsample": [False, True, True],
    "z_dim": 16,
}
WAN22_CONFIG_JSON = {  # vae/config.json of Wan2.2-TI2V-5B-Diffusers (diffusers' convert_wan_to_diffusers.py)
    **WAN21_CONFIG_JSON,
    "base_dim": 160,
    "decoder_base_dim": 256,
    "z_dim": 48,
    "is_residual": True,
    "in_channels": 12,
    "out_channels": 12,
    "patch_size": 2,
    "scale_factor_temporal": 4,
    "scale_factor_spatial": 16,
    "latents_mean": list(VAE_SIZES["wan2.2"].latents_mean),
    "latents_std": list(VAE_SIZES["wan2.2"].latents_std),
    "clip_output": False,
}


def tiny_vae(cfg: VAEConfig = TINY, seed: int = 0) -> VideoVAE:
    torch.manual_seed(seed)
    vae = VideoVAE(cfg).eval()
    with torch.no_grad():  # init_weights zeroes attention outputs, which would leave attention untested
        for m in vae.modules():
            if isinstance(m, AttentionBlock):
                m.proj.weight.normal_(0, 0.3)
    return vae


def smooth_video(*shape: int, seed: int = 0) -> torch.Tensor:
    """A random video in [-1, 1] with real-video-like spatial correlation: coarse noise upsampled."""
    b, c, f, h, w = shape
    coarse = torch.rand(b, c, f, h // 8, w // 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return F.interpolate(coarse, size=(f, h, w), mode="trilinear")


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


# ---- config


def test_config_factors_round_trip_and_errors():
    wan = VAE_SIZES["wan2.1"]
    assert (wan.temporal_factor, wan.spatial_factor) == (4, 8)
    assert (VAE_SIZES["wan2.2"].temporal_factor, VAE_SIZES["wan2.2"].spatial_factor) == (4, 16)
    for cfg in VAE_SIZES.values():
        assert VAEConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="bogus"):
        VAEConfig.from_dict({**TINY.to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="latents_mean"):
        VAEConfig(z_dim=4)
    with pytest.raises(ValueError, match="temporal_downsample"):
        VAEConfig(temporal_downsample=(True,))
    with pytest.raises(ValueError, match="patch_size"):
        VAEConfig(patch_size=0)
    # the residual shortcuts regroup whole channels: 16 channels cannot average down into 48
    with pytest.raises(ValueError, match="encoder level 3"):
        VAEConfig(**{**TINY.to_dict(), "dim_mult": (1, 2, 2, 6), "is_residual": True})


def test_wan21_parameter_count():
    with torch.device("meta"):
        vae = VideoVAE(VAE_SIZES["wan2.1"])
    assert sum(p.numel() for p in vae.parameters()) == 126_892_531
    assert len(vae.state_dict()) == 194


# ---- streaming, causality, shapes


@pytest.mark.parametrize("cfg", [TINY, TINY_WAN22], ids=["wan2.1", "wan2.2"])
def test_chunked_equals_all_at_once(cfg):
    vae = tiny_vae(cfg)
    video = smooth_video(2, 3, 9, 32, 32)
    h = 32 // cfg.spatial_factor
    z = torch.randn(2, cfg.z_dim, 3, h, h)
    with torch.no_grad():
        mean_c, logvar_c = vae.encode(video, chunked=True)
        mean_a, logvar_a = vae.encode(video, chunked=False)
        assert mean_c.shape == (2, cfg.z_dim, 3, h, h)
        assert rel(mean_c, mean_a) < 1e-5 and rel(logvar_c, logvar_a) < 1e-5
        out_c, out_a = vae.decode(z, chunked=True), vae.decode(z, chunked=False)
    assert out_c.shape == (2, 3, 9, 32, 32)
    assert rel(out_c, out_a) < 1e-5


@pytest.mark.parametrize("cfg", [TINY, TINY_WAN22], ids=["wan2.1", "wan2.2"])
def test_encoder_and_decoder_are_causal(cfg):
    vae = tiny_vae(cfg)
    video = smooth_video(1, 3, 13, 16, 16)
    z = torch.randn(1, cfg.z_dim, 4, 16 // cfg.spatial_factor, 16 // cfg.spatial_factor)
    with torch.no_grad():
        for chunked in (True, False):
            full = vae.encode(video, chunked=chunked)[0]  # 4 latent frames
            for k in (0, 1, 2):  # frames 0..4k alone give the first k+1 latent frames
                head = vae.encode(video[:, :, : 4 * k + 1], chunked=chunked)[0]
                assert rel(head, full[:, :, : k + 1]) < 1e-5
            full = vae.decode(z, chunked=chunked)
            head = vae.decode(z[:, :, :2], chunked=chunked)
            assert rel(head, full[:, :, :5]) < 1e-5
        # and the other way round: changing the last frame moves only the last latent frame
        changed = video.clone()
        changed[:, :, 12] = -changed[:, :, 12]
        a, b = vae.encode(video)[0], vae.encode(changed)[0]
    assert torch.equal(a[:, :, :3], b[:, :, :3]) and not torch.allclose(a[:, :, 3], b[:, :, 3])


def test_an_image_is_a_one_frame_video():
    vae = tiny_vae()
    image = smooth_video(2, 3, 1, 16, 24)
    with torch.no_grad():
        latents = vae.encode_latents(image)
        assert latents.shape == (2, TINY.z_dim, 1, 2, 3)
        assert vae.decode_latents(latents).shape == (2, 3, 1, 16, 24)
        assert rel(vae.encode(image, chunked=False)[0], vae.encode(image)[0]) < 1e-5


def test_bad_sizes_are_rejected():
    vae = tiny_vae()
    with pytest.raises(ValueError, match="8 frames"):
        vae.encode(torch.zeros(1, 3, 8, 16, 16))
    with pytest.raises(ValueError, match="20x16"):
        vae.encode(torch.zeros(1, 3, 5, 20, 16))
    with pytest.raises(ValueError, match=r"\(B, 3, F, H, W\)"):
        vae.encode(torch.zeros(1, 4, 5, 16, 16))
    with pytest.raises(ValueError, match="latents"):
        vae.decode(torch.zeros(1, TINY.z_dim + 1, 2, 2, 2))
    with pytest.raises(ValueError, match="multiples of 8"):
        vae.encode(torch.zeros(1, 3, 1, 32, 32), tile=(20, 20))
    with pytest.raises(ValueError, match="exceed"):
        vae.encode(torch.zeros(1, 3, 1, 32, 32), tile=(16, 16), tile_stride=(24, 24))


# ---- tiling


def test_tiled_blending_is_exact_for_a_local_function():
    # a pixel-wise function (with a change of resolution) has no seams to hide: blending must be exact
    def up(x):
        return torch.tanh(x.repeat_interleave(8, -1).repeat_interleave(8, -2))

    x = torch.randn(1, 2, 3, 13, 11)
    for tile, stride in [((4, 4), (3, 2)), ((5, 11), (5, 1)), ((13, 11), (13, 11)), ((20, 3), (1, 1))]:
        assert torch.allclose(run_tiled(up, x, tile, stride, 1, 8), up(x), atol=1e-6)


def test_tiled_vae_is_close_to_untiled():
    vae = tiny_vae()
    video = smooth_video(1, 3, 5, 64, 64)
    with torch.no_grad():
        mean = vae.encode(video)[0]
        assert torch.equal(vae.encode(video, tile=(64, 64))[0], mean)  # one tile = no tiling
        tiled = vae.encode(video, tile=(48, 48), tile_stride=(16, 16))[0]
        out = vae.decode(mean)
        out_tiled = vae.decode(mean, tile=(6, 6), tile_stride=(2, 2))
    assert tiled.shape == mean.shape and out_tiled.shape == out.shape
    # An untrained net sees across the whole frame (mid-block attention, wide receptive field), so tiles
    # differ from the whole; measured relative L2 errors 0.051 (encode) and 0.110 (decode).
    assert (tiled - mean).norm() / mean.norm() < 0.08
    assert (out_tiled - out).norm() / out.norm() < 0.15


# ---- init, training, latents


def test_meta_build_then_init_weights():
    with torch.device("meta"):
        vae = VideoVAE(TINY)
    vae.to_empty(device="cpu")
    vae.init_weights()
    attention = vae.encoder.mid_block.attentions[0]
    assert torch.all(attention.proj.weight == 0) and torch.all(vae.decoder.norm_out.gamma == 1)
    with torch.no_grad():
        out = vae.decode(vae.encode(smooth_video(1, 3, 5, 16, 16))[0])
    assert torch.isfinite(out).all()


def test_forward_for_training():
    vae = tiny_vae().train()
    video = smooth_video(2, 3, 5, 16, 16)
    recon, mean, logvar = vae(video, generator=torch.Generator().manual_seed(1))
    assert recon.shape == video.shape and mean.shape == logvar.shape == (2, TINY.z_dim, 2, 2, 2)
    recon.square().mean().backward()
    assert vae.encoder.conv_in.weight.grad.abs().sum() > 0
    with torch.no_grad():
        again = vae(video, generator=torch.Generator().manual_seed(1))[0]
        other = vae(video, generator=torch.Generator().manual_seed(2))[0]
    assert torch.equal(again, recon.detach()) and not torch.equal(other, again)


def test_latent_normalisation():
    cfg = VAEConfig(
        **{**TINY.to_dict(), "latents_mean": (1.0, -2.0, 0.5, 0.0), "latents_std": (2.0, 0.5, 1.0, 3.0)}
    )
    vae = tiny_vae(cfg)
    video = smooth_video(1, 3, 5, 16, 16)
    with torch.no_grad():
        mean, logvar = vae.encode(video)
        z_norm = vae.encode_latents(video)
        assert torch.allclose(z_norm[:, 1], (mean[:, 1] + 2.0) / 0.5)
        assert torch.allclose(vae.denormalize(z_norm), mean, atol=1e-6)
        s1 = vae.encode_latents(video, sample=True, generator=torch.Generator().manual_seed(0))
        s2 = vae.encode_latents(video, sample=True, generator=torch.Generator().manual_seed(0))
        assert torch.equal(s1, s2) and not torch.allclose(s1, z_norm)
        assert torch.allclose(vae.decode_latents(z_norm), vae.decode(mean), atol=1e-5)


# ---- Wan2.1 config and weights


def test_vae_config_from_diffusers():
    assert vae_config_from_diffusers(WAN21_CONFIG_JSON) == VAE_SIZES["wan2.1"]
    for bad, word in [
        ({"attn_scales": [1.0]}, "attn_scales"),
        ({"patch_size": 2}, "patch_size"),  # diffusers counts channels after 2x2 patches: 3 is not 4k
        ({"x": 1}, "'x'"),
    ]:
        with pytest.raises(ValueError, match=word):
            vae_config_from_diffusers({**WAN21_CONFIG_JSON, **bad})


def diffusers_to_original_key(key: str) -> str:
    """The other direction of the key table, written independently of tessera's (after diffusers'
    scripts/convert_wan_to_diffusers.py)."""
    key = re.sub(r"^quant_conv\.", "conv1.", key)
    key = re.sub(r"^post_quant_conv\.", "conv2.", key)
    key = re.sub(r"^(encoder|decoder)\.conv_in\.", r"\1.conv1.", key)
    key = re.sub(r"\.norm_out\.", ".head.0.", key)
    key = re.sub(r"\.conv_out\.", ".head.2.", key)
    key = re.sub(r"\.mid_block\.resnets\.0\.", ".middle.0.", key)
    key = re.sub(r"\.mid_block\.attentions\.0\.", ".middle.1.", key)
    key = re.sub(r"\.mid_block\.resnets\.1\.", ".middle.2.", key)
    key = re.sub(r"\.down_blocks\.", ".downsamples.", key)
    key = re.sub(
        r"\.up_blocks\.(\d)\.resnets\.(\d)\.", lambda m: f".upsamples.{4 * int(m[1]) + int(m[2])}.", key
    )
    key = re.sub(r"\.up_blocks\.(\d)\.upsamplers\.0\.", lambda m: f".upsamples.{4 * int(m[1]) + 3}.", key)
    for new, old in [("norm1", "residual.0"), ("conv1", "residual.2"), ("norm2", "residual.3")]:
        key = re.sub(rf"(samples\.\d+|middle\.[02])\.{new}\.", rf"\1.{old}.", key)
    key = re.sub(r"(samples\.\d+|middle\.[02])\.conv2\.", r"\1.residual.6.", key)
    return re.sub(r"\.conv_shortcut\.", ".shortcut.", key)


def write_vae_folder(folder, config: dict, state: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    save_file(
        {k: v.contiguous() for k, v in state.items()}, str(folder / "diffusion_pytorch_model.safetensors")
    )


def test_load_wan_vae_from_a_folder_in_either_layout(tmp_path):
    cfg = VAEConfig(
        base_dim=8, z_dim=4, dim_mult=(1, 2, 4, 4), latents_mean=(0.0,) * 4, latents_std=(1.0,) * 4
    )
    vae = tiny_vae(cfg)
    config = {"_class_name": "AutoencoderKLWan", "base_dim": 8, "z_dim": 4, "dim_mult": [1, 2, 4, 4]}
    config |= {
        "temperal_downsample": [False, True, True],
        "latents_mean": [0.0] * 4,
        "latents_std": [1.0] * 4,
    }
    state = vae.state_dict()
    write_vae_folder(tmp_path / "diffusers", config, state)
    write_vae_folder(
        tmp_path / "original", config, {diffusers_to_original_key(k): v for k, v in state.items()}
    )
    video = smooth_video(1, 3, 5, 16, 16)
    with torch.no_grad():
        want = vae.encode(video)[0]
        for layout in ("diffusers", "original"):
            loaded = load_wan_vae(tmp_path / layout)
            assert loaded.cfg == cfg
            assert torch.equal(loaded.encode(video)[0], want)
    del state["decoder.conv_out.bias"]
    write_vae_folder(tmp_path / "broken", config, state)
    with pytest.raises(ValueError, match="1 missing"):
        load_wan_vae(tmp_path / "broken")


def test_original_key_table_rejects_strangers():
    assert original_to_diffusers_vae_key("decoder.upsamples.4.shortcut.weight") == (
        "decoder.up_blocks.1.resnets.0.conv_shortcut.weight"
    )
    for key in ("decoder.upsamples.15.residual.0.gamma", "encoder.middle.1.qkv.weight", "model.conv1.weight"):
        with pytest.raises(ValueError, match="not an original"):
            original_to_diffusers_vae_key(key)


# ---- parity with diffusers' AutoencoderKLWan (an independent implementation)


def diffusers_vae(config: dict, seed: int = 0):
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(seed)
    ref = diffusers.AutoencoderKLWan(**config).eval()
    with torch.no_grad():  # move norm gains off 1, so a gain applied on the wrong axis would show
        for name, p in ref.named_parameters():
            if name.endswith("gamma"):
                p.mul_(1 + 0.3 * torch.randn_like(p))
    return ref


@pytest.mark.parametrize("config", [DIFFUSERS_TINY, WAN_LAYOUT], ids=["diffusers-tiny", "wan-layout"])
def test_parity_with_diffusers(config):
    ref = diffusers_vae(config)
    vae = VideoVAE(VAEConfig(**config)).eval()
    vae.load_state_dict(ref.state_dict(), strict=True)
    video = smooth_video(1, 3, 9, 32, 32, seed=1)
    z = torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        posterior = ref.encode(video).latent_dist
        want_video = ref.decode(z).sample
        assert (want_video.abs() < 1).float().mean() > 0.9  # mostly inside [-1, 1]: the clamp hides little
        for chunked in (True, False):
            mean, logvar = vae.encode(video, chunked=chunked)
            assert rel(mean, posterior.mean) < 1e-5 and rel(logvar, posterior.logvar) < 1e-5
            assert rel(vae.decode(z, chunked=chunked), want_video) < 1e-5


def test_original_keys_round_trip_through_the_table():
    pytest.importorskip("diffusers")
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    ref = diffusers_vae(WAN_LAYOUT)
    state = ref.state_dict()
    original = {diffusers_to_original_key(k): v for k, v in state.items()}
    assert set(convert_wan_vae_to_diffusers(original)) == set(
        state
    )  # the test's inverse agrees with diffusers
    ours = {original_to_diffusers_vae_key(k): v for k, v in original.items()}
    assert set(ours) == set(state)
    vae = VideoVAE(VAEConfig(**WAN_LAYOUT))
    vae.load_state_dict(ours, strict=True)
    assert all(torch.equal(vae.state_dict()[k], v) for k, v in state.items())


def test_load_wan_vae_reads_save_pretrained(tmp_path):
    ref = diffusers_vae(DIFFUSERS_TINY)
    ref.save_pretrained(tmp_path, safe_serialization=True)
    vae = load_wan_vae(tmp_path)
    video = smooth_video(1, 3, 5, 16, 16)
    with torch.no_grad():
        assert rel(vae.encode(video)[0], ref.encode(video).latent_dist.mean) < 1e-5
    assert vae.cfg.latents_mean == tuple(ref.config.latents_mean)


# ---- Wan2.2 (TI2V-5B) config and weights


def test_wan22_config_from_diffusers():
    cfg = vae_config_from_diffusers(WAN22_CONFIG_JSON)
    assert cfg == VAE_SIZES["wan2.2"] and cfg.in_channels == 3 and cfg.spatial_factor == 16
    for bad, word in [
        ({"attn_scales": [0.25]}, "attn_scales"),
        ({"in_channels": 3}, "in_channels=3"),  # diffusers counts the channels of the 2x2 patches
        ({"patch_size": 0}, "patch_size"),
        ({"scale_factor_spatial": 8}, "scale_factor_spatial"),
        ({"dim_mult": [1, 2, 4, 12]}, "encoder level 3"),  # 640 channels cannot average down into 1920
    ]:
        with pytest.raises(ValueError, match=word):
            vae_config_from_diffusers({**WAN22_CONFIG_JSON, **bad})


def test_wan22_state_dict_matches_diffusers():
    diffusers = pytest.importorskip("diffusers")
    config = {k: v for k, v in WAN22_CONFIG_JSON.items() if not k.startswith("_") and k != "clip_output"}
    with torch.device("meta"):
        vae = VideoVAE(VAE_SIZES["wan2.2"])
        ref = diffusers.AutoencoderKLWan(**config)
    shapes = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert sum(p.numel() for p in vae.parameters()) == 704_688_668


def test_wan22_parity_with_diffusers(tmp_path):
    ref = diffusers_vae(WAN22_TINY)
    ref.save_pretrained(tmp_path / "diffusers", safe_serialization=True)
    vae = load_wan_vae(tmp_path / "diffusers")
    assert vae.cfg.is_residual and vae.cfg.patch_size == 2 and vae.cfg.spatial_factor == 16
    video = smooth_video(1, 3, 9, 32, 32, seed=1)
    z = torch.randn(1, 8, 3, 2, 2, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        posterior = ref.encode(video).latent_dist
        want_video = ref.decode(z).sample
        assert (want_video.abs() < 1).float().mean() > 0.9  # mostly inside [-1, 1]: the clamp hides little
        for chunked in (True, False):
            mean, logvar = vae.encode(video, chunked=chunked)
            assert mean.shape == (1, 8, 3, 2, 2)
            assert rel(mean, posterior.mean) < 1e-5 and rel(logvar, posterior.logvar) < 1e-5
            assert rel(vae.decode(z, chunked=chunked), want_video) < 1e-5
        recon, mean, _ = vae(video)  # the training path patches pixels as well
        assert recon.shape == video.shape and rel(mean, posterior.mean) < 1e-5
        stats = [torch.tensor(ref.config[k]).view(1, -1, 1, 1, 1) for k in ("latents_mean", "latents_std")]
        assert rel(vae.encode_latents(video), (posterior.mean - stats[0]) / stats[1]) < 1e-5
    # the original Wan-Video key table is Wan2.1's: a residual config with such keys is refused by name
    write_vae_folder(tmp_path / "original", dict(ref.config), {"encoder.conv1.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="Wan2.1's VAE only"):
        load_wan_vae(tmp_path / "original")


def test_wan22_tiles_are_whole_pixel_patches():
    vae = tiny_vae(TINY_WAN22)
    video = smooth_video(1, 3, 5, 128, 128)
    with torch.no_grad():
        mean = vae.encode(video)[0]
        assert mean.shape == (1, TINY_WAN22.z_dim, 2, 8, 8)
        assert torch.equal(vae.encode(video, tile=(128, 128))[0], mean)  # one tile = no tiling
        tiled = vae.encode(video, tile=(96, 96), tile_stride=(32, 32))[0]
        out = vae.decode(mean)
        out_tiled = vae.decode(mean, tile=(6, 6), tile_stride=(2, 2))
    assert tiled.shape == mean.shape and out_tiled.shape == out.shape == video.shape
    # as test_tiled_vae_is_close_to_untiled, at the same tiles in latent cells; a tile put in the wrong place
    # or patched across its border would be far off (measured 0.059 and 0.155 here)
    assert (tiled - mean).norm() / mean.norm() < 0.1
    assert (out_tiled - out).norm() / out.norm() < 0.25
    with pytest.raises(ValueError, match="multiples of 16"):
        vae.encode(video, tile=(24, 24))


# ---- reconstruction metrics


def test_psnr():
    video = smooth_video(2, 3, 5, 16, 16)
    assert psnr(video, video) == math.inf
    # +0.1 in [-1, 1] is +0.05 in [0, 1]: MSE 0.0025 -> 10 log10(1 / 0.0025) = 26.02 dB
    assert psnr(video + 0.1, video) == pytest.approx(10 * math.log10(1 / 0.0025), abs=1e-3)
    frames = torch.randint(0, 250, (3, 2, 16, 16), dtype=torch.uint8)
    assert psnr(frames + 5, frames) == pytest.approx(20 * math.log10(255 / 5), abs=1e-3)
    assert psnr(frames.float() / 127.5 - 1, frames) > 100  # uint8 and float of the same video agree
    with pytest.raises(ValueError, match="shape"):
        psnr(video, video[:, :, :4])


def reference_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of two (H, W) images in [0, 1], window by window (Wang et al. 2004), as an independent check."""
    r = np.arange(11) - 5
    g = np.exp(-(r**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            a, b = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb, cov = (
                (w * (a - ma) ** 2).sum(),
                (w * (b - mb) ** 2).sum(),
                (w * (a - ma) * (b - mb)).sum(),
            )
            values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_ssim():
    video = smooth_video(1, 3, 2, 16, 16)
    noisy = (video + 0.2 * torch.randn(video.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    assert ssim(video, video) == pytest.approx(1.0, abs=1e-6)
    x, y = ((video.double() + 1) / 2).numpy(), ((noisy.double() + 1) / 2).numpy()
    want = np.mean([reference_ssim(x[0, c, f], y[0, c, f]) for c in range(3) for f in range(2)])
    assert ssim(noisy, video) == pytest.approx(want, abs=1e-5)
    assert ssim(noisy, video) < 0.9
    recon = noisy.clone().requires_grad_()
    loss = 1 - ssim(recon, video, differentiable=True)
    loss.backward()
    assert recon.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="at least 11"):
        ssim(video[..., :8, :8], video[..., :8, :8])
