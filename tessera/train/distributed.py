"""The processes of a training run: one (`tessera train-dit`) or many (`torchrun ... -m tessera train-dit`).

torchrun starts one process per device and tells each where it stands through torch.distributed's env://
contract (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT). `start` reads it, joins the process group
(NCCL on GPUs, gloo on CPUs) and builds the one-axis device mesh that FSDP shards over; started any other way
a run is one process and touches no process group.

Data parallelism is over the global batch: `loop.batch_size` is the batch of one optimizer step whatever the
number of processes, every process draws the same global batches, and process r trains on its rows
`World.share(batch_size)` of each. A run's batches, and so its losses, do not depend on how many processes
train it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh

from tessera.train.optim import resolve_device

# Long: one process may be busy alone while the others wait (rank 0 merging the latent cache's parts).
COLLECTIVE_TIMEOUT = timedelta(minutes=60)
MESH_AXIS = "dp_shard"


@dataclass(frozen=True)
class World:
    """This process's place among the run's: its rank of `size`, its device, the mesh (None alone)."""

    rank: int
    size: int
    device: torch.device
    mesh: DeviceMesh | None = None

    @property
    def is_main(self) -> bool:
        """Rank 0 writes what there is one of: logs, checkpoint metadata, exports."""
        return self.rank == 0

    def share(self, batch_size: int) -> slice:
        """This process's rows of every global batch of `batch_size`: equal, disjoint, in rank order."""
        if batch_size % self.size:
            raise ValueError(
                f"loop.batch_size={batch_size} is the global batch and must divide evenly over the "
                f"{self.size} processes; use a multiple of {self.size}"
            )
        rows = batch_size // self.size
        return slice(self.rank * rows, (self.rank + 1) * rows)

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Each value averaged over the processes (what a log shows of per-process numbers)."""
        if self.size == 1:
            return values
        total = torch.tensor(list(values.values()), dtype=torch.float64, device=self.device)
        dist.all_reduce(total)  # a sum: gloo has no average
        return dict(zip(values, (total / self.size).tolist(), strict=True))

    def agree(self, flag: bool) -> bool:
        """Whether `flag` holds in every process (so that all take the same branch)."""
        return self.sum(int(not flag)) == 0

    def sum(self, value: int) -> int:
        """An integer summed over the processes."""
        if self.size == 1:
            return value
        total = torch.tensor([value], dtype=torch.int64, device=self.device)
        dist.all_reduce(total)
        return int(total.item())


@contextmanager
def start(device_name: str) -> Iterator[World]:
    """This process's World for a run on `device_name` (loop.device): torchrun's place in the process group,
    which is joined here and left on exit, or a single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if size == 1:
        yield World(rank=0, size=1, device=device)
        return
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":  # one GPU per process, the one torchrun numbered it on its node
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group(
        "nccl" if device.type == "cuda" else "gloo",
        timeout=COLLECTIVE_TIMEOUT,
        device_id=device if device.type == "cuda" else None,
    )
    try:
        mesh = init_device_mesh(device.type, (size,), mesh_dim_names=(MESH_AXIS,))
        yield World(rank=rank, size=size, device=device, mesh=mesh)
    finally:
        dist.destroy_process_group()
