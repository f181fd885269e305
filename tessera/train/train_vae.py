"""Train the causal video VAE: reconstruction (L1 + SSIM structure term, optionally the error in frame-to-
frame change) + KL, on images and videos jointly; a decoder may be trained alone, reading noisy latents.

`main(cfg)` reads top to bottom: build, resume, loop (batch, loss, backward, clip, step, EMA, log,
checkpoint), then evaluate the EMA weights on held-out world clips (PSNR/SSIM, full-size clips through the
streaming encoder/decoder) and export them. Image batches are 1-frame videos: the causal first frame is
encoded alone, so images train the same network.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from tessera.config import DataConfig, VAERunConfig, to_dict
from tessera.data.dataset import WorldClips, batch_indices, make_dataset, random_crop
from tessera.eval.reconstruction import psnr, ssim
from tessera.models.vae import VideoVAE
from tessera.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from tessera.train.optim import apply_gradients, autocast, build_optimizer, resolve_device
from tessera.train.run_log import RunLog, step_bar
from tessera.weights import load_vae_dir, load_weights, save_vae_dir

EVAL_SEED = 1_000_000  # held-out evaluation clips: world seeds far from any training seed


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)), mean over all latent elements."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()


def vae_loss(
    cfg: VAERunConfig, video, recon, mean, logvar, objects=None
) -> tuple[torch.Tensor, dict[str, float]]:
    """`objects` (B, 1, F, H, W): the share of each pixel that shows an object, for loss.object_weight."""
    if cfg.loss.object_weight and objects is not None:
        weight = (1 + cfg.loss.object_weight * objects).expand_as(video)
        l1 = (weight * (recon - video).abs()).sum() / weight.sum()
    else:
        l1 = (recon - video).abs().mean()
    structure = 1 - ssim(recon, video, differentiable=True)
    kl = kl_divergence(mean, logvar)
    w = cfg.loss
    total = w.l1_weight * l1 + w.ssim_weight * structure + w.kl_weight * kl
    metrics = {"loss_l1": l1.item(), "ssim": 1 - structure.item(), "kl": kl.item()}
    if w.temporal_weight and video.shape[2] > 1:  # images have no frame-to-frame change
        temporal = temporal_error(recon, video)
        total = total + w.temporal_weight * temporal
        metrics["loss_temporal"] = temporal.item()
    return total, {"loss": total.item(), **metrics}


def temporal_error(recon: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
    """Mean absolute error of the frame-to-frame change (B, C, F, H, W) -> scalar: 0 when the reconstruction
    changes from frame to frame exactly as the video does, whatever each frame's own error (for uint8 frames
    the same measure is tessera.modes.change_error)."""
    return ((recon[:, :, 1:] - recon[:, :, :-1]) - (video[:, :, 1:] - video[:, :, :-1])).abs().mean()


def load_batch(
    cfg: VAERunConfig, dataset, step: int, images: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Batch `step` as (B, 3, F, H, W) in [-1, 1]: random crops, one random frame each for image batches;
    with it the clips' object coverage (B, 1, F, H, W), cropped alike, where the data has it (else None)."""
    rng = np.random.default_rng([cfg.loop.seed, step, 1])
    clips = []
    for index in batch_indices(cfg.loop.seed, step, cfg.loop.batch_size, len(dataset)):
        item = dataset[index]
        video = item["video"]  # (3, F, H, W)
        if "objects" in item:  # cropped with the video as a 4th channel
            video = torch.cat([video, item["objects"][None].float()])
        if images:
            f = int(rng.integers(video.shape[1]))
            video = video[:, f : f + 1]  # (C, 1, H, W)
        clips.append(random_crop(video, cfg.data.crop, rng))
    batch = torch.stack(clips)  # (B, 3 or 4, F, H, W)
    return batch[:, :3], (batch[:, 3:] if batch.shape[1] == 4 else None)


@torch.no_grad()
def evaluate(model: VideoVAE, data: DataConfig, num_clips: int, device: torch.device) -> dict[str, float]:
    """PSNR/SSIM of full-size held-out clips (held-out attribute combinations, unseen seeds)."""
    heldout = WorldClips(dataclasses.replace(data, seed=EVAL_SEED, num_scenes=num_clips), split="heldout")
    model.eval()
    scores = {"psnr": [], "ssim": []}
    for i in range(num_clips):
        video = heldout[i]["video"][None].to(device)  # (1, 3, F, H, W)
        mean, _ = model.encode(video)
        recon = model.decode(mean)
        scores["psnr"].append(psnr(recon, video))
        scores["ssim"].append(ssim(recon, video))
    model.train()
    return {k: float(np.mean(v)) for k, v in scores.items()}


@torch.no_grad()
def latent_statistics(model: VideoVAE, dataset, num_clips: int, device: torch.device) -> VideoVAE:
    """Set the model's per-channel latent mean/std from `num_clips` training clips, so that diffusion sees
    latents of zero mean and unit variance (they live in the config, with the weights)."""
    model.eval()
    means = torch.cat([model.encode(dataset[i]["video"][None].to(device))[0] for i in range(num_clips)])
    z = means.transpose(0, 1).flatten(1)  # (Z, everything else)
    model.cfg = dataclasses.replace(
        model.cfg,
        latents_mean=tuple(round(v, 5) for v in z.mean(1).tolist()),
        latents_std=tuple(round(v, 5) for v in z.std(1).clamp_min(1e-3).tolist()),
    )
    return model


def main(cfg: VAERunConfig, *, eval_clips: int = 16, progress: bool = True) -> Path:
    """Train (resuming from OUT/checkpoints if present), evaluate, export; return the export folder."""
    if cfg.data.buckets:  # the VAE is convolutional: one size (and its crops) teaches it every size
        raise ValueError(
            f"data.buckets={','.join(cfg.data.buckets)}: buckets are for train-dit; train-vae trains at "
            "data.width x data.height x data.num_frames (with data.crop crops and data.image_fraction images)"
        )
    out = Path(cfg.loop.out)
    device = resolve_device(cfg.loop.device)
    torch.manual_seed(cfg.loop.seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))

    with torch.device("meta"):
        model = VideoVAE(cfg.model)
    model.to_empty(device=device)
    model.init_weights()
    if cfg.loop.init_from:  # fine-tuning: the weights of an export (its latent statistics are re-measured)
        load_weights(model, Path(cfg.loop.init_from) / "vae.safetensors")
    if cfg.decoder_only:
        if not cfg.loop.init_from:
            raise ValueError("decoder_only=true fine-tunes a trained VAE: give loop.init_from=EXPORT")
        for name, p in model.named_parameters():  # the encoder side keeps its weights
            p.requires_grad_(name.startswith(("decoder.", "post_quant_conv.")))
        given = load_vae_dir(cfg.loop.init_from).cfg  # and its latents keep their statistics
        model.cfg = dataclasses.replace(
            model.cfg, latents_mean=given.latents_mean, latents_std=given.latents_std
        )
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = build_optimizer(model, cfg.optim)
    start = 0
    if (ckpt := latest_checkpoint(out)) is not None:
        start = load_checkpoint(ckpt, model, ema, optimizer)["step"]
    dataset = make_dataset(cfg.data)
    log = RunLog(out, start)

    bar = step_bar("train-vae", start, cfg.loop, progress)
    tic = time.perf_counter()
    for step in bar:
        images = np.random.default_rng([cfg.loop.seed, step, 0]).random() < cfg.data.image_fraction
        video, objects = load_batch(cfg, dataset, step, images)
        video = video.to(device)
        objects = None if objects is None else objects.to(device)
        with autocast(cfg.loop, device):
            recon, mean, logvar = model(video, latent_noise=cfg.latent_noise)
        loss, metrics = vae_loss(cfg, video, recon.float(), mean.float(), logvar.float(), objects)
        grad_norm = apply_gradients(loss, model, ema, optimizer, cfg.optim, cfg.loop, step)
        if step % cfg.loop.log_every == 0 or step == cfg.loop.steps - 1:
            metrics.update(grad_norm=grad_norm.item(), lr=optimizer.param_groups[0]["lr"])
            metrics["sec_per_step"] = (time.perf_counter() - tic) / (step - start + 1)
            log.scalars(step, metrics)
            bar.set_postfix(loss=f"{metrics['loss']:.4f}", ssim=f"{metrics['ssim']:.3f}")
        if (step + 1) % cfg.loop.checkpoint_every == 0 or step == cfg.loop.steps - 1:
            save_checkpoint(out, step + 1, model, ema, optimizer, to_dict(cfg), cfg.loop.keep_checkpoints)
        if cfg.loop.eval_every and (step + 1) % cfg.loop.eval_every == 0:
            log.scalars(step + 1, {f"eval_{k}": v for k, v in evaluate(ema, cfg.data, 4, device).items()})

    if not cfg.decoder_only:  # the encoder changed: measure its latents' statistics again
        latent_statistics(ema, make_dataset(cfg.data), min(64, len(dataset)), device)
    scores = evaluate(ema, cfg.data, eval_clips, device)
    log.scalars(cfg.loop.steps, {f"eval_{k}": v for k, v in scores.items()})
    log.plot()
    log.close()
    export = save_vae_dir(
        out / "export", ema, extra={**scores, "eval_clips": eval_clips, "steps": cfg.loop.steps}
    )
    print(
        f"held-out reconstruction over {eval_clips} clips: "
        f"PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}"
    )
    return export
