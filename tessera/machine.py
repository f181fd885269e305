"""The machine a measurement was taken on, named for benchmarks, eval reports and model cards.

A speed means little without the hardware next to it, so every timing tessera prints or stores carries
`device_name()`.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import torch


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def device_name(device: str | torch.device = "cpu") -> str:
    """E.g. "NVIDIA H100 80GB HBM3" or "CPU (AMD EPYC 7B13, 2 threads)"."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({cpu_name()}, {torch.get_num_threads()} threads)"


def seconds_per_call(fn, calls: int, device: str | torch.device = "cpu", *, warmup: int = 3) -> float:
    """Mean wall time of `fn()` over `calls` calls, after `warmup` untimed ones (allocator, kernels, oneDNN
    primitives); on CUDA the queue is drained before and after, so the kernels are counted, not launched."""
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    tic = time.perf_counter()
    for _ in range(calls):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - tic) / calls
