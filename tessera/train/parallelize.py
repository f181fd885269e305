"""How a model trains on one device or many, applied from outside the model (models/ stays single-device).

The order is torchtitan's (pytorch/torchtitan, torchtitan/models/llama3/infra/parallelize.py): activation
checkpointing of each block, then torch.compile of each block, then FSDP2 `fully_shard` of each block and last
of the root, all on a model built on the meta device; the caller then materialises it (`to_empty`) and
initialises its weights. A block is what a model repeats, the unit that is recomputed, compiled and gathered
at once: the DiT's transformer blocks, the VAE's down, middle and up blocks.

Mixed precision under FSDP: parameters are gathered in bf16 for compute, gradients are reduced in fp32 and
the optimizer steps the fp32 shards (the master weights). Forward inputs are not cast: the flow time (up to
1000) and the rotary tables would lose their precision in bf16; autocast casts what each matmul reads, and
the models keep their norms and modulation in fp32 as on one device.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard, register_fsdp_forward_method

from tessera.config import LoopConfig
from tessera.models.dit import DiT
from tessera.models.vae import VideoVAE
from tessera.train.distributed import World

# (parent module, child name): where a block sits, so that a wrapped block can take its place
Blocks = list[tuple[nn.Module, str]]


VAE_METHODS = ("encode", "decode")  # what evaluation and the latent statistics call instead of forward


def dit_blocks(model: DiT) -> Blocks:
    return [(model.blocks, str(i)) for i in range(len(model.blocks))]


def vae_blocks(model: VideoVAE) -> Blocks:
    encoder, decoder = model.encoder, model.decoder
    return [
        *[(encoder.down_blocks, str(i)) for i in range(len(encoder.down_blocks))],
        (encoder, "mid_block"),
        (decoder, "mid_block"),
        *[(decoder.up_blocks, str(i)) for i in range(len(decoder.up_blocks))],
    ]


def apply_ac(blocks: Blocks) -> None:
    """Recompute each block's activations in the backward pass instead of keeping them: memory of one
    block's activations instead of all of them, for about a third more compute."""
    for parent, name in blocks:
        setattr(parent, name, checkpoint_wrapper(getattr(parent, name)))


def apply_compile(blocks: Blocks, *, backend: str = "inductor", fullgraph: bool = True) -> None:
    """torch.compile each block in place (its parameter names stay): blocks are alike, so one compilation
    serves them all."""
    for parent, name in blocks:
        getattr(parent, name).compile(backend=backend, fullgraph=fullgraph)


def apply_fsdp(
    model: nn.Module,
    blocks: Blocks,
    mesh: DeviceMesh,
    *,
    bf16: bool,
    methods: tuple[str, ...] = (),
    trained: bool = True,
) -> None:
    """Shard every block's parameters, then the rest (the root), over `mesh`: a block's are gathered just
    before it runs and freed after, so a process holds one block whole at a time. `methods` are the model's
    ways in besides forward (the VAE's encode and decode), which gather the root's parameters too. The root
    of a `trained` model keeps its parameters gathered from forward to backward, which follows at once; an
    untrained one's (the EMA's) are freed after every use, so that they are shards again for the average."""
    policy = (
        MixedPrecisionPolicy(
            param_dtype=torch.bfloat16, reduce_dtype=torch.float32, cast_forward_inputs=False
        )
        if bf16
        else MixedPrecisionPolicy()
    )
    for parent, name in blocks:
        fully_shard(getattr(parent, name), mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy, reshard_after_forward=not trained)
    for method in methods:
        register_fsdp_forward_method(model, method)


def parallelize(
    model: nn.Module,
    blocks: Blocks,
    loop: LoopConfig,
    world: World,
    *,
    bf16: bool,
    methods: tuple[str, ...] = (),
) -> nn.Module:
    """The training model's plan: activation checkpointing and compile where the loop asks for them, FSDP
    when there is more than one process (`bf16`: the run trains under bf16 autocast)."""
    if loop.activation_checkpointing:
        apply_ac(blocks)
    if loop.compile:
        apply_compile(blocks)
    if world.size > 1:
        apply_fsdp(model, blocks, world.mesh, bf16=bf16, methods=methods)
    return model


def shard_like(model: nn.Module, blocks: Blocks, world: World, *, methods: tuple[str, ...] = ()) -> nn.Module:
    """The plan of a copy that is averaged, not trained (the EMA): sharded as the model, gathered in fp32."""
    if world.size > 1:
        apply_fsdp(model, blocks, world.mesh, bf16=False, methods=methods, trained=False)
    return model
