"""Train the causal video VAE: reconstruction (L1 + SSIM structure term, optionally the error in frame-to-
frame change) + KL, on images and videos jointly; a decoder may be trained alone, reading noisy latents.

`main(cfg)` reads top to bottom: build, resume, loop (batch, loss, backward, clip, step, EMA, log,
checkpoint), then evaluate the EMA weights on held-out world clips (PSNR/SSIM, full-size clips through the
streaming encoder/decoder) and export them. Image batches are 1-frame videos: the causal first frame is
encoded alone, so images train the same network.

Run by torchrun, the processes share the work (tessera/train/distributed.py): the VAE and its EMA are
sharded over them (train/parallelize.py) and each reads and trains on its rows of every global batch. A clip
whose file cannot be read is replaced by the next readable one and counted (`skipped_clips` in the log).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from tessera.config import DataConfig, VAERunConfig, to_dict
from tessera.data.dataset import SkipUnreadable, WorldClips, batch_indices, make_dataset, random_crop
from tessera.eval.reconstruction import psnr, ssim
from tessera.models.vae import VAEConfig, VideoVAE
from tessera.train import distributed
from tessera.train.checkpoint import (
    full_state,
    latest_checkpoint,
    load_checkpoint,
    load_full_state,
    save_checkpoint,
)
from tessera.train.distributed import World
from tessera.train.optim import apply_gradients, autocast, build_optimizer, use_bf16
from tessera.train.parallelize import VAE_METHODS, parallelize, shard_like, vae_blocks
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
    the same measure is tessera.eval.temporal.change_error)."""
    return ((recon[:, :, 1:] - recon[:, :, :-1]) - (video[:, :, 1:] - video[:, :, :-1])).abs().mean()


def load_batch(
    cfg: VAERunConfig, dataset, step: int, images: bool, share: slice = slice(None)
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Batch `step` as (B, 3, F, H, W) in [-1, 1]: random crops, one random frame each for image batches;
    with it the clips' object coverage (B, 1, F, H, W), cropped alike, where the data has it (else None).

    Only this process's rows `share` of the global batch are read; every row's frame and crop are drawn, the
    other processes' on a stand-in of their shape, so that the draws are those of the whole batch."""
    rng = np.random.default_rng([cfg.loop.seed, step, 1])
    indices = batch_indices(cfg.loop.seed, step, cfg.loop.batch_size, len(dataset))
    mine = range(len(indices))[share]
    clips = []
    for row, index in enumerate(indices):
        if row in mine:
            item = dataset[index]
            video = item["video"]  # (3, F, H, W)
            if "objects" in item:  # cropped with the video as a 4th channel
                video = torch.cat([video, item["objects"][None].float()])
        else:
            size = dataset.bucket(index)
            video = torch.empty(3, size.num_frames, size.height, size.width, device="meta")
        if images:
            f = int(rng.integers(video.shape[1]))
            video = video[:, f : f + 1]  # (C, 1, H, W)
        video = random_crop(video, cfg.data.crop, rng)
        if row in mine:
            clips.append(video)
    batch = torch.stack(clips)  # (b, 3 or 4, F, H, W)
    return batch[:, :3], (batch[:, 3:] if batch.shape[1] == 4 else None)


def sampling_noise(cfg: VAERunConfig, step: int, world: World) -> torch.Generator | None:
    """The generator of step `step`'s latent samples: each process of several draws its own; one alone draws
    from torch's, as it always has (its state is in every checkpoint)."""
    if world.size == 1:
        return None
    seed = int(np.random.SeedSequence([cfg.loop.seed, step, world.rank, 4]).generate_state(1)[0])
    return torch.Generator(world.device).manual_seed(seed)


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
    """Train (resuming from OUT/checkpoints if present), evaluate, export; return the export folder.

    Alone, or as one of torchrun's processes (tessera/train/distributed.py): then the VAE and its EMA are
    sharded over the processes (train/parallelize.py), each reads and trains on its share of every global
    batch, and rank 0 writes the logs and the export."""
    if cfg.data.buckets:  # the VAE is convolutional: one size (and its crops) teaches it every size
        raise ValueError(
            f"data.buckets={','.join(cfg.data.buckets)}: buckets are for train-dit; train-vae trains at "
            "data.width x data.height x data.num_frames (with data.crop crops and data.image_fraction images)"
        )
    if cfg.decoder_only and not cfg.loop.init_from:
        raise ValueError("decoder_only=true fine-tunes a trained VAE: give loop.init_from=EXPORT")
    with distributed.start(cfg.loop.device) as world:
        # A function of its own, so that its modules (sharded ones among them) are freed before the
        # process group is left: gloo aborts a process whose tensors outlive it.
        return _train(cfg, world, eval_clips, progress)


def _train(cfg: VAERunConfig, world: distributed.World, eval_clips: int, progress: bool) -> Path:
    """main's body, in each process of the run."""
    device, share = world.device, world.share(cfg.loop.batch_size)
    out = Path(cfg.loop.out)
    torch.manual_seed(cfg.loop.seed)
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))

    initial = initial_weights(cfg) if world.is_main else {}  # the same whatever the number of processes
    with torch.device("meta"):
        model, ema = VideoVAE(cfg.model), VideoVAE(cfg.model)
    if cfg.decoder_only:
        for name, p in model.named_parameters():  # the encoder side keeps its weights
            p.requires_grad_(name.startswith(("decoder.", "post_quant_conv.")))
        given = load_vae_dir(cfg.loop.init_from).cfg  # and its latents keep their statistics
        model.cfg = dataclasses.replace(
            model.cfg, latents_mean=given.latents_mean, latents_std=given.latents_std
        )
    parallelize(
        model, vae_blocks(model), cfg.loop, world, bf16=use_bf16(cfg.loop, device), methods=VAE_METHODS
    )
    shard_like(ema, vae_blocks(ema), world, methods=VAE_METHODS)
    # The weights come from `initial`; these inits must not move the generator the loop samples from.
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device.type == "cuda" else []):
        for module in (model, ema):
            module.to_empty(device=device)
            module.init_weights()
            load_full_state(module, initial, world)
    ema.cfg = model.cfg
    ema.requires_grad_(False)
    optimizer = build_optimizer(model, cfg.optim)
    start = 0
    if (ckpt := latest_checkpoint(out)) is not None:
        start = load_checkpoint(ckpt, model, ema, optimizer, world=world)["step"]
    dataset = SkipUnreadable(make_dataset(cfg.data))
    log = RunLog(out, start) if world.is_main else None

    bar = step_bar("train-vae", start, cfg.loop, progress and world.is_main)
    tic = time.perf_counter()
    for step in bar:
        images = np.random.default_rng([cfg.loop.seed, step, 0]).random() < cfg.data.image_fraction
        video, objects = load_batch(cfg, dataset, step, images, share)
        video = video.to(device)
        objects = None if objects is None else objects.to(device)
        with autocast(cfg.loop, device):
            recon, mean, logvar = model(
                video, latent_noise=cfg.latent_noise, generator=sampling_noise(cfg, step, world)
            )
        loss, metrics = vae_loss(cfg, video, recon.float(), mean.float(), logvar.float(), objects)
        grad_norm = apply_gradients(loss, model, ema, optimizer, cfg.optim, cfg.loop, step)
        if step % cfg.loop.log_every == 0 or step == cfg.loop.steps - 1:
            metrics = world.mean(metrics)
            metrics.update(grad_norm=grad_norm.item(), lr=optimizer.param_groups[0]["lr"])
            metrics["sec_per_step"] = (time.perf_counter() - tic) / (step - start + 1)
            if skipped := world.sum(len(dataset.skipped)):
                metrics["skipped_clips"] = skipped
            if log is not None:
                log.scalars(step, metrics)
            bar.set_postfix(loss=f"{metrics['loss']:.4f}", ssim=f"{metrics['ssim']:.3f}")
        if (step + 1) % cfg.loop.checkpoint_every == 0 or step == cfg.loop.steps - 1:
            save_checkpoint(
                out, step + 1, model, ema, optimizer, to_dict(cfg), cfg.loop.keep_checkpoints, world=world
            )
        if cfg.loop.eval_every and (step + 1) % cfg.loop.eval_every == 0:
            scores = evaluate(ema, cfg.data, 4, device)  # every process: the sharded EMA runs on all
            if log is not None:
                log.scalars(step + 1, {f"eval_{k}": v for k, v in scores.items()})

    if not cfg.decoder_only:  # the encoder changed: measure its latents' statistics again
        latent_statistics(ema, dataset, min(64, len(dataset)), device)
    scores = evaluate(ema, cfg.data, eval_clips, device)
    weights = full_state(ema, world)
    if world.is_main:
        log.scalars(cfg.loop.steps, {f"eval_{k}": v for k, v in scores.items()})
        log.plot()
        log.close()
        extra = {**scores, "eval_clips": eval_clips, "steps": cfg.loop.steps}
        save_vae_dir(out / "export", whole_vae(ema.cfg, weights), extra=extra)
        print(
            f"held-out reconstruction over {eval_clips} clips: "
            f"PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}"
        )
    world.barrier()  # the export exists for every process that returns it
    return out / "export"


def initial_weights(cfg: VAERunConfig) -> dict[str, torch.Tensor]:
    """The run's starting weights, whole, on the CPU: fresh (VideoVAE.init_weights), or loop.init_from's
    (its latent statistics are measured again at the end, unless only the decoder trains)."""
    with torch.device("meta"):
        model = VideoVAE(cfg.model)
    model.to_empty(device="cpu")
    model.init_weights()
    if cfg.loop.init_from:  # fine-tuning: the weights of an export
        load_weights(model, Path(cfg.loop.init_from) / "vae.safetensors")
    return model.state_dict()


def whole_vae(vae_cfg: VAEConfig, weights: dict[str, torch.Tensor]) -> VideoVAE:
    """A one-device VAE of `weights` (a whole state dict), on the CPU."""
    with torch.device("meta"):
        model = VideoVAE(vae_cfg)
    model.to_empty(device="cpu")
    model.init_weights()
    model.load_state_dict(weights)
    return model
