"""Train the diffusion transformer with flow matching on cached VAE latents and text embeddings.

`main(cfg)` reads top to bottom: load the VAE and text encoder, build (or reuse) the latent cache, build the
DiT, resume, then loop: batch, loss, backward, clip, step, EMA, log, checkpoint; finally export a model
folder (EMA DiT + VAE + model.json) that `Generator` loads. Clips train at their bucket's geometry
(data.buckets), images (1-frame buckets) beside videos: each batch comes from one bucket, drawn by
BucketBatchSampler, whose position every checkpoint saves, so a resumed run draws the batches the
interrupted one would have. Some captions are replaced by the null prompt (flow.text_dropout) so
classifier-free guidance works at sampling time. With flow.tasks beyond "text", each sample draws a
conditioning task (conditioning.py): its given latent frames stay clean at time 0 and are left out of the
loss, exactly as the sampler treats known latents, so one model learns every prompting mode; a 1-frame
bucket has nothing to give, so images train text to image.

Run by torchrun, the processes share the work (tessera/train/distributed.py): the DiT and its EMA are
sharded over them (train/parallelize.py), each trains on its rows of every global batch, and the latent cache
is built by all of them; the losses are those of one process on the same batches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from tessera.config import DiTRunConfig, to_dict
from tessera.data.buckets import BucketBatchSampler, check_buckets, config_buckets
from tessera.data.dataset import make_dataset
from tessera.data.manifest import MANIFEST_NAME
from tessera.diffusion.flow import LOSS_SPACES, TIME_SCALE, flow_loss, interpolate, sample_t
from tessera.models.dit import DiT, DiTConfig, token_times
from tessera.models.text import TextEncoder, build_text_encoder
from tessera.train import distributed
from tessera.train.checkpoint import (
    full_state,
    latest_checkpoint,
    load_checkpoint,
    load_full_state,
    save_checkpoint,
)
from tessera.train.latent_cache import LatentCache, build_cache
from tessera.train.optim import apply_gradients, autocast, build_optimizer, use_bf16
from tessera.train.parallelize import dit_blocks, parallelize, shard_like
from tessera.train.run_log import RunLog, step_bar
from tessera.train.tasks import check_tasks, task_masks
from tessera.weights import load_vae_dir, load_weights, read_model_spec, save_model_dir


def cache_fingerprint(cfg: DiTRunConfig) -> dict:
    """What a latent cache depends on: a cache with another fingerprint is rebuilt, and one whose "text" part
    is unchanged (a new VAE) keeps its caption embeddings."""
    vae_file = Path(cfg.vae) / "vae.safetensors"
    # how many processes render the clips changes nothing in them
    data = {k: v for k, v in to_dict(cfg.data).items() if k != "num_workers"}
    manifest = Path(cfg.data.source)
    manifest = manifest / MANIFEST_NAME if manifest.is_dir() else manifest
    if cfg.data.source != "world" and manifest.is_file():  # indexed again, it may list other clips
        data["manifest_sha256"] = hashlib.sha256(manifest.read_bytes()).hexdigest()
    vae = {
        "vae": str(Path(cfg.vae).resolve()),
        "vae_mtime": vae_file.stat().st_mtime if vae_file.is_file() else None,
    }
    return {"latents": {**vae, "data": data}, "text": {"text_encoder": cfg.text_encoder, "data": data}}


def pick_captions(cache: LatentCache, cfg: DiTRunConfig, step: int, clips: list[int]) -> list[int | None]:
    """A caption id per sample (any language, any detail), or None (null prompt) with prob text_dropout."""
    rng = np.random.default_rng([cfg.loop.seed, step, 2])
    chosen = []
    for clip in clips:
        ids = cache.clips[clip]["captions"]
        chosen.append(None if rng.random() < cfg.flow.text_dropout else ids[int(rng.integers(len(ids)))])
    return chosen


def training_loss(
    model: DiT,
    cache: LatentCache,
    cfg: DiTRunConfig,
    step: int,
    clips: list[int],
    device,
    share: slice = slice(None),
) -> torch.Tensor:
    """Flow-matching loss of batch `step`: the cached clips `clips` (one bucket), noised at drawn times.

    `clips` is the global batch; this process trains on its rows `share` (all of them in a one-process run).
    Every draw is made for the whole global batch and cut, and a weighted loss is normalised by the weight of
    the whole batch, so the mean of the processes' losses is the loss one process computes."""
    mine = clips[share]
    x0 = cache.latent_batch(mine).to(device).float()  # (b, C, T, h, w): this process's rows
    batch = len(clips)
    text = cache.text_batch(pick_captions(cache, cfg, step, clips)[share]).to(device)
    g = torch.Generator().manual_seed(cfg.loop.seed * 1_000_003 + step)
    t = sample_t(
        batch,
        generator=g,
        method=cfg.flow.time_method,
        loc=cfg.flow.time_loc,
        scale=cfg.flow.time_scale,
        shift=cfg.flow.shift,
    )[share].to(device)  # (b,)
    # drawn on the training device: on the CPU, batch 128's noise takes 39 ms to draw (2-core EPYC)
    noise_gen = torch.Generator(device).manual_seed(cfg.loop.seed * 1_000_003 + step + (1 << 40))
    noise = torch.randn((batch, *x0.shape[1:]), generator=noise_gen, device=device)[share]  # (b, C, T, h, w)
    rng = np.random.default_rng([cfg.loop.seed, step, 3])
    given = task_masks(cfg.flow.tasks, cfg.flow.task_weights, batch, x0.shape[2], rng)  # (B, 1, T, 1, 1)
    given = given.to(device)
    weight = None  # (B, 1, T, h, w) or (B, 1, T, 1, 1): how much each latent of the global batch counts
    if cfg.flow.object_weight and (objects := cache.object_batch(clips)) is not None:
        weight = 1 + cfg.flow.object_weight * objects.to(device).float()
    if given.any():  # given latents sit at time 0 (clean) and are not predicted, as at sampling time
        weight = (1 - given) * (1 if weight is None else weight)
        t_field = (t.view(-1, 1, 1, 1, 1) * (1 - given[share])).expand(-1, 1, *x0.shape[2:])  # (b,1,T,h,w)
        x_t = interpolate(x0, noise, t_field)
        with autocast(cfg.loop, device):
            v = model(x_t, token_times(t_field, model.cfg.patch_size) * TIME_SCALE, text.tokens, text.mask)
        t_loss = t_field
    else:
        x_t = interpolate(x0, noise, t)
        with autocast(cfg.loop, device):
            v = model(x_t, t * TIME_SCALE, text.tokens, text.mask)
        t_loss = t
    mine_weight = None if weight is None else weight[share]
    loss = flow_loss(v.float(), x0, noise, mine_weight, t=t_loss if cfg.flow.loss_space == "x0" else None)
    if weight is not None and len(mine) < batch:  # normalised by this share's weight: by the whole's instead
        loss = loss * (batch / len(mine)) * mine_weight.sum() / weight.sum()
    return loss


def start_from(model: DiT, cfg: DiTRunConfig) -> None:
    """Load the DiT of the model folder cfg.loop.init_from; its architecture must be cfg.model, or cfg.model
    without the pooled-text path, which then starts as a no-op (DiT.init_weights) and is learnt from here."""
    folder = Path(cfg.loop.init_from)
    theirs = DiTConfig.from_dict(read_model_spec(folder)["dit"])
    grows_pooled_text = cfg.model.pooled_text and theirs == dataclasses.replace(cfg.model, pooled_text=False)
    if theirs != cfg.model and not grows_pooled_text:
        diff = {k: v for k, v in theirs.to_dict().items() if cfg.model.to_dict().get(k) != v}
        raise ValueError(f"loop.init_from={folder} holds a different DiT: {diff} (this run's model differs)")
    new = ("condition_embedder.pooled_text_embedder",) if grows_pooled_text else ()
    load_weights(model, folder / "dit.safetensors", new_children=new)


def main(cfg: DiTRunConfig, *, progress: bool = True) -> Path:
    """Train (resuming from OUT/checkpoints if present) and export OUT/export. Returns the export folder.

    Alone, or as one of torchrun's processes (tessera/train/distributed.py): then the DiT and its EMA are
    sharded over the processes (train/parallelize.py), each trains on its share of every global batch, and
    rank 0 writes the logs and the export."""
    check_tasks(cfg.flow.tasks, cfg.flow.task_weights)
    if cfg.flow.loss_space not in LOSS_SPACES:
        raise ValueError(f"flow.loss_space must be one of {LOSS_SPACES}, got {cfg.flow.loss_space!r}")
    with distributed.start(cfg.loop.device) as world:
        # A function of its own, so that its modules (sharded ones among them) are freed before the
        # process group is left: gloo aborts a process whose tensors outlive it.
        return _train(cfg, world, progress)


def _train(cfg: DiTRunConfig, world: distributed.World, progress: bool) -> Path:
    """main's body, in each process of the run."""
    device, share = world.device, world.share(cfg.loop.batch_size)
    out = Path(cfg.loop.out)
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))

    vae = load_vae_dir(cfg.vae, device)
    if vae.cfg.z_dim != cfg.model.in_channels:
        raise ValueError(
            f"VAE {cfg.vae} has {vae.cfg.z_dim} latent channels, model.in_channels is {cfg.model.in_channels}"
        )
    _, ph, pw = cfg.model.patch_size
    sf = vae.cfg.spatial_factor
    check_buckets(
        config_buckets(cfg.data),
        width_multiple=sf * pw,
        height_multiple=sf * ph,
        frame_step=vae.cfg.temporal_factor,
    )
    folder = build_cache(
        out / "cache",
        make_dataset(cfg.data),
        vae,
        lambda: text_encoder(cfg, device),  # loaded only if captions must be encoded
        cache_fingerprint(cfg),
        workers=cfg.data.num_workers,
        progress=progress,
        world=world,
    )
    cache = LatentCache(folder)
    if cache.tokens.shape[1] != cfg.model.text_dim:
        raise ValueError(
            f"the latent cache's captions have width {cache.tokens.shape[1]}, model.text_dim is "
            f"{cfg.model.text_dim}"
        )
    if cfg.flow.object_weight and not cache.objects:
        raise ValueError(
            f"flow.object_weight={cfg.flow.object_weight} needs object masks, which world data has and "
            f"{cfg.data.source} does not; leave it 0"
        )
    if cache.skipped and world.is_main:
        print(f"{len(cache.skipped)} clips could not be read and are left out, e.g. {cache.skipped[0]}")
    sampler = BucketBatchSampler(cache.clip_buckets, cfg.loop.batch_size, cfg.loop.seed)

    torch.manual_seed(cfg.loop.seed)  # here: building the cache (or not, when it exists) draws from it
    initial = initial_weights(cfg) if world.is_main else {}  # the same whatever the number of processes
    bf16 = use_bf16(cfg.loop, device)
    with torch.device("meta"):
        model, ema = DiT(cfg.model), DiT(cfg.model)
    parallelize(model, dit_blocks(model), cfg.loop, world, bf16=bf16)
    shard_like(ema, dit_blocks(ema), world)
    for module in (model, ema):
        module.to_empty(device=device)
        module.init_weights()  # what the state dict does not hold (the rotary tables)
        load_full_state(module, initial, world)
    ema.requires_grad_(False)
    optimizer = build_optimizer(model, cfg.optim)
    start = 0
    if (ckpt := latest_checkpoint(out)) is not None:
        state = load_checkpoint(ckpt, model, ema, optimizer, world=world)
        start = state["step"]
        if "sampler" not in state["extra"]:  # resuming would silently draw other batches than it would have
            raise ValueError(f"{ckpt} holds no batch sampler position (written before bucket batches)")
        sampler.load_state_dict(state["extra"]["sampler"])
    batches = iter(sampler)
    log = RunLog(out, start) if world.is_main else None

    bar = step_bar("train-dit", start, cfg.loop, progress and world.is_main)
    tic = time.perf_counter()
    for step in bar:
        loss = training_loss(model, cache, cfg, step, next(batches), device, share)
        grad_norm = apply_gradients(loss, model, ema, optimizer, cfg.optim, cfg.loop, step)
        if step % cfg.loop.log_every == 0 or step == cfg.loop.steps - 1:
            metrics = {
                **world.mean({"loss": loss.item()}),
                "grad_norm": grad_norm.item(),
                "lr": optimizer.param_groups[0]["lr"],
                "sec_per_step": (time.perf_counter() - tic) / (step - start + 1),
                **({"skipped_clips": len(cache.skipped)} if cache.skipped else {}),
            }
            if log is not None:
                log.scalars(step, metrics)
            bar.set_postfix(loss=f"{metrics['loss']:.4f}")
        if (step + 1) % cfg.loop.checkpoint_every == 0 or step == cfg.loop.steps - 1:
            save_checkpoint(
                out,
                step + 1,
                model,
                ema,
                optimizer,
                to_dict(cfg),
                cfg.loop.keep_checkpoints,
                extra={"sampler": sampler.state_dict()},
                world=world,
            )

    weights = full_state(ema, world)
    if world.is_main:
        log.plot()
        log.close()
        export_model(out / "export", whole_dit(cfg, weights), vae, cfg)
    world.barrier()  # the export exists for every process that returns it
    return out / "export"


def text_encoder(cfg: DiTRunConfig, device: torch.device) -> TextEncoder:
    encoder = build_text_encoder(cfg.text_encoder, device=device)
    if encoder.dim != cfg.model.text_dim:
        raise ValueError(
            f"text encoder {cfg.text_encoder!r} gives width {encoder.dim}, model.text_dim is "
            f"{cfg.model.text_dim}"
        )
    return encoder


def initial_weights(cfg: DiTRunConfig) -> dict[str, torch.Tensor]:
    """The run's starting weights, whole, on the CPU: fresh (DiT.init_weights), or loop.init_from's."""
    with torch.device("meta"):
        model = DiT(cfg.model)
    model.to_empty(device="cpu")
    model.init_weights()
    if cfg.loop.init_from:  # fine-tuning (e.g. the shipped model on conditioning tasks): an export's DiT
        start_from(model, cfg)
    return model.state_dict()


def whole_dit(cfg: DiTRunConfig, weights: dict[str, torch.Tensor]) -> DiT:
    """A one-device DiT of `weights` (a whole state dict), on the CPU."""
    with torch.device("meta"):
        model = DiT(cfg.model)
    model.to_empty(device="cpu")
    model.init_weights()
    model.load_state_dict(weights)
    return model


def export_model(folder: Path, dit: DiT, vae, cfg: DiTRunConfig, card: dict | None = None) -> Path:
    """A model folder for `Generator`: EMA DiT + VAE in float16, and the defaults it was trained with; the
    limits leave room beyond the largest bucket."""
    buckets = config_buckets(cfg.data)
    spec = {
        "text_encoder": cfg.text_encoder,
        "sample": to_dict(cfg.sample),
        "video": {
            "height": cfg.data.height,
            "width": cfg.data.width,
            "num_frames": cfg.data.num_frames,
            "fps": cfg.data.fps,
        },
        "world": cfg.data.world.to_dict(),  # what `eval run` draws its prompts from
        # trained on world captions: prompts are read as the captions they amount to (world/rewrite.py)
        **({"rewrite": "world"} if cfg.data.source == "world" else {}),
        "limits": {
            "max_frames": 4 * max(b.num_frames for b in buckets),
            "max_side": 2 * max(max(b.height, b.width) for b in buckets),
        },
        "card": {"steps": cfg.loop.steps, "batch_size": cfg.loop.batch_size, **(card or {})},
    }
    return save_model_dir(folder, dit, vae, spec)
