"""Tokens per second and MFU of a DiT training step, tessera against diffusers' WanTransformer3DModel.

A step is what train-dit runs on a batch already on the device: forward, a flow-matching MSE, backward,
gradient clipping and an AdamW step (the same torch.optim.AdamW for both models), with fp32 master weights
under bf16 autocast where the device has bf16 (tessera/train/optim.py). Both models are built in this process
from one config with the same weights (tessera's state dict loads into diffusers' unchanged), and their first
losses are compared, so the two sides train the same network on the same batch.

MFU is the model's FLOPs per step (counted by torch.utils.flop_counter on one step, less the recomputed
forward under activation checkpointing, which is overhead, not model work) over the step time and the
device's peak: the datasheet dense bf16 peak for known GPUs (--peak-tflops for others), and on a CPU the
rate of a large matmul measured here, so a CPU's MFU says how close the step comes to what its matmuls reach.

    python benchmarks/train_mfu.py             # GPU: Wan2.1 1.3B at 32,760 tokens, activation checkpointing
    python benchmarks/train_mfu.py --no-ac --tokens 16380 --frames 21      # GPU: without, at half the tokens
    python benchmarks/train_mfu.py --size cpu --tokens 1024 --steps 3      # the CPU default

The ratio printed is diffusers' step time over tessera's (above 1: tessera is faster).
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import torch
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

from tessera.config import LoopConfig
from tessera.machine import device_name, seconds_per_call
from tessera.models.dit import DIT_SIZES, DiT, DiTConfig
from tessera.train.optim import autocast, resolve_device, use_bf16
from tessera.train.parallelize import apply_ac, apply_compile, dit_blocks

# Dense bf16 tensor-core peaks from the vendors' datasheets, FLOP/s, by a word of the device's name.
PEAKS = {"H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "4090": 165e12}
# A CPU-sized Wan-shaped DiT: the same layers, narrower and shallower.
CPU_SIZE = DiTConfig(num_heads=4, head_dim=32, text_dim=128, ffn_dim=512, num_layers=4, text_mask=False)
WAN_ASPECT = 52 / 30  # the latent grid of 832x480 video, in 2x2 patches: 52 x 30 tokens a frame

# torch's FLOP counter knows the CUDA attention kernels but not the CPU one; it does the same matmuls.
aten = torch.ops.aten
flop_counter.register_flop_formula(aten._scaled_dot_product_flash_attention_for_cpu, get_raw=True)(
    flop_counter.sdpa_flop
)
flop_counter.register_flop_formula(aten._scaled_dot_product_flash_attention_for_cpu_backward, get_raw=True)(
    flop_counter.sdpa_backward_flop
)


def token_grid(tokens: int, frames: int) -> tuple[int, int, int]:
    """(frames, rows, columns) of patches near `tokens` in all, at Wan's 832x480 aspect."""
    rows = max(1, round(math.sqrt(tokens / frames / WAN_ASPECT)))
    return frames, rows, max(1, round(tokens / frames / rows))


def diffusers_model(cfg: DiTConfig, device: torch.device):
    from diffusers import WanTransformer3DModel

    with torch.device(device):
        return WanTransformer3DModel(
            patch_size=cfg.patch_size, num_attention_heads=cfg.num_heads, attention_head_dim=cfg.head_dim,
            in_channels=cfg.in_channels, out_channels=cfg.out_channels, text_dim=cfg.text_dim,
            freq_dim=cfg.freq_dim, ffn_dim=cfg.ffn_dim, num_layers=cfg.num_layers,
            cross_attn_norm=cfg.cross_attn_norm, eps=cfg.eps, rope_max_seq_len=cfg.rope_max_seq_len,
        )  # fmt: skip


def matmul_peak(device: torch.device, bf16: bool) -> float:
    """FLOP/s of a 4096^2 matmul on this device in the training dtype: a CPU's reachable peak."""
    dtype = torch.bfloat16 if bf16 else torch.float32
    a, b = (
        torch.randn(4096, 4096, dtype=dtype, device=device),
        torch.randn(4096, 4096, dtype=dtype, device=device),
    )
    return 2 * 4096**3 / seconds_per_call(lambda: a @ b, 3, device, warmup=1)


def peak_flops(device: torch.device, bf16: bool, given: float | None) -> tuple[float, str]:
    if given:
        return given * 1e12, "given"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for word, peak in PEAKS.items():
            if word in name:
                return peak, "datasheet bf16"
        raise ValueError(f"no datasheet peak known for {name!r}; pass --peak-tflops")
    return matmul_peak(device, bf16), "measured 4096^2 matmul"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--size", default=None, help="a DIT_SIZES name or 'cpu' (default: 1.3B on CUDA, cpu else)"
    )
    ap.add_argument("--tokens", type=int, default=None, help="video tokens per sample (default 32760 / 1024)")
    ap.add_argument("--frames", type=int, default=None, help="latent frames (default 21 / 4)")
    ap.add_argument("--text-tokens", type=int, default=512, help="text tokens (Wan pads prompts to 512)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5, help="timed steps after warm-up")
    ap.add_argument(
        "--ac",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="activation checkpointing of every block, both models (default: on a GPU)",
    )
    ap.add_argument("--compile", action="store_true", help="torch.compile tessera's blocks")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto", help="auto | bf16 | fp32 (autocast, fp32 master weights)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, if not known here")
    args = ap.parse_args()
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    size = args.size or ("wan2.1-t2v-1.3b" if gpu else "cpu")
    args.ac = gpu if args.ac is None else args.ac
    cfg = CPU_SIZE if size == "cpu" else DIT_SIZES[size]
    cfg = dataclasses.replace(cfg, text_mask=False)  # Wan attends to every text token, padding included
    loop = LoopConfig(precision=args.precision)
    bf16 = use_bf16(loop, device)
    grid = token_grid(args.tokens or (32760 if gpu else 1024), args.frames or (21 if gpu else 4))
    pt, ph, pw = cfg.patch_size
    shape = (args.batch, cfg.in_channels, grid[0] * pt, grid[1] * ph, grid[2] * pw)
    tokens = math.prod(grid)

    torch.manual_seed(0)
    with torch.device(device):
        reference = DiT(cfg)
    with torch.no_grad():  # a random head: DiT.init_weights zeroes it, which would leave most gradients zero
        reference.proj_out.weight.normal_(0, 0.02)
        reference.condition_embedder.time_proj.weight.normal_(0, 0.02)
    weights = {k: v.cpu() for k, v in reference.state_dict().items()}
    del reference
    g = torch.Generator(device).manual_seed(1)
    x = torch.randn(shape, generator=g, device=device)
    target = torch.randn(shape, generator=g, device=device)
    t = torch.rand(args.batch, generator=g, device=device) * 1000
    text = torch.randn(args.batch, args.text_tokens, cfg.text_dim, generator=g, device=device)

    rows = []
    for name in ("tessera", "diffusers"):  # one after the other, so each has the device to itself
        if name == "tessera":
            with torch.device(device):
                model = DiT(cfg)
            forward = lambda m: m(x, t, text)  # noqa: E731
        else:
            model = diffusers_model(cfg, device)
            forward = lambda m: m(x, t, text, return_dict=False)[0]  # noqa: E731
        model.load_state_dict(weights, strict=True)  # the same keys: tessera's names are diffusers'
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.99), weight_decay=0.01)

        def step(model=model, forward=forward, optimizer=optimizer) -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            with autocast(loop, device):
                v = forward(model)
            loss = (v.float() - target).square().mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            return loss.detach()

        if args.ac:
            apply_ac(dit_blocks(model)) if name == "tessera" else model.enable_gradient_checkpointing()
        forward_count, step_count = FlopCounterMode(display=False), FlopCounterMode(display=False)
        with forward_count, torch.no_grad(), autocast(loop, device):
            forward(model)
        with step_count:
            first = step().item()
        # The model's work is a forward and a backward; with activation checkpointing the step also runs
        # the blocks' forward again, which is overhead, not model work (the embeddings it leaves out of the
        # recomputation are well under 1% of the forward).
        flops = step_count.get_total_flops() - (forward_count.get_total_flops() if args.ac else 0)
        if args.compile and name == "tessera":
            apply_compile(dit_blocks(model))
        if gpu:
            torch.cuda.reset_peak_memory_stats(device)
        seconds = seconds_per_call(step, args.steps, device, warmup=3 if args.compile else 2)
        memory = torch.cuda.max_memory_allocated(device) / 2**30 if gpu else None
        rows.append((name, first, flops, seconds, memory))
        del model, optimizer, step
        if gpu:
            torch.cuda.empty_cache()
    peak, source = peak_flops(device, bf16, args.peak_tflops)

    params = sum(v.numel() for v in weights.values())
    flops = rows[0][2]  # tessera's count; the same network, so diffusers' should agree
    print(f"device: {device_name(device)}; peak {peak / 1e12:.1f} TFLOP/s ({source})")
    print(
        f"DiT {size}: {params / 1e6:.1f} M parameters, {cfg.num_layers} layers, width {cfg.dim}; batch "
        f"{args.batch} x {tokens} video tokens (grid {grid}) + {args.text_tokens} text tokens; "
        f"{'bf16 autocast' if bf16 else 'fp32'}, AdamW; activation checkpointing {'on' if args.ac else 'off'}"
        f"{'; tessera compiled' if args.compile else ''}"
    )
    print(f"model FLOPs per step: {flops / 1e12:.3f} T (diffusers' counted: {rows[1][2] / 1e12:.3f} T)")
    print("| model | first loss | s / step | tokens / s | MFU | peak memory |\n|---|---|---|---|---|---|")
    for name, first, _, seconds, memory in rows:
        shown = f"{memory:.1f} GiB" if memory is not None else "-"
        print(
            f"| {name} | {first:.6f} | {seconds:.3f} | {args.batch * tokens / seconds:,.0f} | "
            f"{100 * flops / seconds / peak:.1f}% | {shown} |"
        )
    print(f"diffusers / tessera step time: {rows[1][3] / rows[0][3]:.2f}x")


if __name__ == "__main__":
    main()
