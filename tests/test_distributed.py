"""Training over several processes (torchrun, gloo on the CPU, FSDP2): the same losses as one process on the
same global batches, checkpoints that reshard between process counts and survive kill -9 at the worst
moment, a latent cache built in parallel that equals the serial one, and the parallel plan's pieces."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from tessera.data.buckets import BucketBatchSampler
from tessera.models.dit import DiT, DiTConfig
from tessera.presets import load_config
from tessera.train import checkpoint, train_dit
from tessera.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from tessera.train.distributed import World
from tessera.train.latent_cache import LatentCache
from tessera.train.optim import build_optimizer
from tessera.train.parallelize import apply_ac, apply_compile, dit_blocks
from tessera.weights import load_model_dir

ROOT = Path(__file__).resolve().parents[1]
STEPS = 20
TOLERANCE = 1e-5  # relative; the sums of a gradient split over processes round differently, nothing more
# A sampler of 16 world scenes in two buckets, a global batch of 4 (2 per process), conditioning tasks drawn
# per sample so that the loss is weighted: each process must normalise by the whole batch's weight.
OVERRIDES = [
    f"loop.steps={STEPS}",
    "loop.log_every=1",
    "loop.checkpoint_every=5",
    "loop.keep_checkpoints=0",
    "loop.precision=fp32",
    "data.buckets=32x32x5,48x32x5",
    "flow.tasks=text,first",
    "flow.task_weights=1,1",
]
# Run through torchrun: as rank 0 is about to rename the checkpoint named first on the command line into
# place, after every process has written its shards (the worst moment), the whole run is killed with
# SIGKILL: torchrun and every worker, each of which it starts in a session of its own.
RUNNER = """
import os, signal, sys
from pathlib import Path
from tessera.train import checkpoint

def children(parent):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        found += [int(pid)] if ppid == parent else []
    return found

remove = checkpoint._remove
def remove_or_die(folder):
    if folder.name == sys.argv[1]:
        agent = os.getppid()
        for pid in [agent, *children(agent)]:
            os.kill(pid, signal.SIGKILL)
    remove(folder)
checkpoint._remove = remove_or_die
from tessera.cli import main
sys.exit(main(sys.argv[2:]))
"""


def losses(folder: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def torchrun(args: list[str], log: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node 2 ARGS` in a session of its own (so one killpg ends it)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    with log.open("w") as out:
        return subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            start_new_session=True,
        )


@pytest.fixture(scope="module")
def one_process(vae_run, tmp_path_factory):
    """The reference: one process, 20 steps, every checkpoint kept."""
    out = tmp_path_factory.mktemp("one")
    cfg = load_config("dit-tiny", [f"vae={vae_run[1]}", f"loop.out={out}", *OVERRIDES])
    train_dit.main(cfg, progress=False)
    return out


@pytest.mark.slow
def test_two_processes_train_as_one_on_the_same_global_batches(one_process, vae_run, tmp_path):
    out = tmp_path / "two"
    args = ["-m", "tessera", "train-dit", "--preset", "dit-tiny", f"vae={vae_run[1]}", f"loop.out={out}"]
    result = torchrun([*args, *OVERRIDES], tmp_path / "log.txt")
    assert result.returncode == 0, (tmp_path / "log.txt").read_text()[-3000:]
    ours, theirs = losses(out), losses(one_process)
    assert sorted(ours) == list(range(STEPS))
    errors = [abs(ours[s] - theirs[s]) / abs(theirs[s]) for s in range(STEPS)]
    assert max(errors) < TOLERANCE, errors
    assert len({round(v, 3) for v in theirs.values()}) > 10  # the losses move: equal curves are no accident
    a, b = (
        load_model_dir(out / "export")[0].state_dict(),
        load_model_dir(one_process / "export")[0].state_dict(),
    )
    assert all(torch.allclose(a[k].float(), b[k].float(), rtol=1e-2, atol=1e-3) for k in a)  # float16 files
    # The two processes built the latent cache together, each its share; joined, it is the one-process cache
    # to one float16 step: torchrun's workers run one thread each, the reference as many as the machine has,
    # so a convolution's sums come out in another order and may round to the neighbouring float16.
    for name in ("latents.safetensors", "text.safetensors"):
        x, y = load_file(str(out / "cache" / name)), load_file(str(one_process / "cache" / name))
        assert x.keys() == y.keys()
        assert all(torch.allclose(x[k].float(), y[k].float(), rtol=1e-3, atol=1e-3) for k in x)
    index = json.loads((out / "cache" / "index.json").read_text())
    assert index == json.loads((one_process / "cache" / "index.json").read_text())
    assert not (out / "cache" / "parts").exists()
    step = latest_checkpoint(out)
    assert json.loads((step / "state.json").read_text())["world_size"] == 2
    assert sorted(p.name for p in (step / "shards" / "model").iterdir()) == [
        "shard-00001-model-00001-of-00001.safetensors",
        "shard-00002-model-00001-of-00001.safetensors",
    ]


def test_kill_9_mid_checkpoint_then_resume_on_one_process_continues_the_curve(one_process, vae_run, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "cache").symlink_to(one_process / "cache")
    shutil.copytree(one_process / "checkpoints" / "step_0000005", out / "checkpoints" / "step_0000005")
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    # Two processes resume a one-process checkpoint (step 5), with activation checkpointing on, and are
    # killed with SIGKILL as checkpoint 15 is about to be renamed into place.
    config = ["--preset", "dit-tiny", f"vae={vae_run[1]}", f"loop.out={out}", *OVERRIDES]
    args = [str(runner), "step_0000015", "train-dit", *config, "loop.activation_checkpointing=true"]
    result = torchrun(args, tmp_path / "log.txt")
    assert result.returncode == -signal.SIGKILL, (tmp_path / "log.txt").read_text()[-3000:]
    half = out / "checkpoints" / ".tmp_step_0000015"
    assert (half / "state.json").is_file() and len(list((half / "shards" / "model").iterdir())) == 2
    assert latest_checkpoint(out).name == "step_0000010"  # the half-written one is not taken
    assert json.loads((latest_checkpoint(out) / "state.json").read_text())["world_size"] == 2
    # One process continues from the two processes' step 10, without activation checkpointing.
    train_dit.main(load_config("dit-tiny", config[2:]), progress=False)
    ours, theirs = losses(out), losses(one_process)
    assert sorted(ours) == list(range(5, STEPS))  # steps 10..14 logged twice, kept once
    errors = [abs(ours[s] - theirs[s]) / abs(theirs[s]) for s in ours]
    assert max(errors) < TOLERANCE, errors
    assert not half.exists() and latest_checkpoint(out).name == f"step_{STEPS:07d}"


def test_shares_of_a_global_batch_partition_it_whatever_the_number_of_processes():
    batches = BucketBatchSampler([0] * 10 + [1] * 14, batch_size=6, seed=3).epoch_batches(0)
    for size in (1, 2, 3, 6):
        shares = [World(rank, size, torch.device("cpu")).share(6) for rank in range(size)]
        for batch in batches:
            rows = [batch[share] for share in shares]
            assert {len(r) for r in rows} == {6 // size} and sum(rows, []) == batch
    with pytest.raises(ValueError, match="loop.batch_size=6 is the global batch.*multiple of 4"):
        World(0, 4, torch.device("cpu")).share(6)


@pytest.mark.parametrize("overrides", [[], ["flow.object_weight=4"]])
def test_the_shares_losses_average_to_the_whole_batchs_loss(dit_run, overrides):
    cache = LatentCache(dit_run[0] / "cache")
    model = load_model_dir(dit_run[1])[0]
    # tasks give some samples known latents, which the loss leaves out: the shares weigh unequally
    cfg = load_config(
        "dit-tiny",
        ["loop.precision=fp32", "flow.tasks=text,prefix,first", "flow.task_weights=1,1,1", *overrides],
    )
    clips = [0, 1, 2, 3]

    def loss(share):
        with torch.no_grad():
            return train_dit.training_loss(model, cache, cfg, 7, clips, torch.device("cpu"), share).item()

    whole = loss(slice(None))
    halves = [loss(slice(0, 2)), loss(slice(2, 4))]
    quarters = [loss(slice(i, i + 1)) for i in range(4)]
    assert np.mean(halves) == pytest.approx(whole, rel=1e-5)
    assert np.mean(quarters) == pytest.approx(whole, rel=1e-5)
    assert max(quarters) - min(quarters) > 0.1 * whole  # the shares do differ


def test_activation_checkpointing_and_compile_keep_names_and_outputs():
    torch.manual_seed(0)
    cfg = DiTConfig(
        num_heads=2, head_dim=12, in_channels=4, out_channels=4, text_dim=8, ffn_dim=16, num_layers=2
    )
    plain, wrapped = DiT(cfg), DiT(cfg)
    with torch.no_grad():
        for (
            p
        ) in plain.parameters():  # init_weights zeroes the head; random weights make the test able to fail
            p.normal_(0, 0.3)
    wrapped.load_state_dict(plain.state_dict())
    apply_ac(dit_blocks(wrapped))
    apply_compile(dit_blocks(wrapped), backend="eager")  # fullgraph: a graph break in a block fails here
    assert list(wrapped.state_dict()) == list(plain.state_dict())
    x, t, text = torch.randn(2, 4, 2, 4, 4), torch.tensor([100.0, 900.0]), torch.randn(2, 3, 8)
    out = wrapped(x, t, text)
    assert torch.allclose(out, plain(x, t, text), atol=1e-6)
    out.square().sum().backward()  # through the recomputed blocks
    assert all(p.grad is not None for p in wrapped.parameters())


def test_a_checkpoint_cut_short_is_never_taken_and_whole_ones_round_trip(tmp_path, monkeypatch):
    torch.manual_seed(0)
    cfg = DiTConfig(
        num_heads=2, head_dim=12, in_channels=4, out_channels=4, text_dim=8, ffn_dim=16, num_layers=1
    )
    model, ema = DiT(cfg), DiT(cfg)
    optimizer = build_optimizer(model, load_config("dit-tiny").optim)
    model(torch.randn(1, 4, 1, 4, 4), torch.tensor([500.0]), torch.randn(1, 2, 8)).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path, 1, model, ema, optimizer, {"a": 1}, extra={"sampler": {"epoch": 3}})

    def crash(folder):
        raise KeyboardInterrupt  # as a kill between the last file and the rename

    monkeypatch.setattr(checkpoint, "_remove", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, 2, model, ema, optimizer, {"a": 1})
    assert (tmp_path / "checkpoints" / ".tmp_step_0000002" / "state.json").is_file()
    assert latest_checkpoint(tmp_path).name == "step_0000001"
    fresh, fresh_ema = DiT(cfg), DiT(cfg)
    fresh_optimizer = build_optimizer(fresh, load_config("dit-tiny").optim)
    state = load_checkpoint(latest_checkpoint(tmp_path), fresh, fresh_ema, fresh_optimizer)
    assert state["step"] == 1 and state["extra"] == {"sampler": {"epoch": 3}}
    for a, b in ((model, fresh), (ema, fresh_ema)):
        assert all(
            torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
        )
    moments, loaded = optimizer.state_dict()["state"], fresh_optimizer.state_dict()["state"]
    assert all(torch.equal(s["exp_avg_sq"], loaded[i]["exp_avg_sq"]) for i, s in moments.items())
    assert any(s["exp_avg_sq"].any() for s in moments.values())
    whole = load_file(str(latest_checkpoint(tmp_path) / "ema.safetensors"))
    assert all(torch.equal(whole[k], v) for k, v in ema.state_dict().items())
    # A checkpoint of format 1 (one process, whole tensors, before DCP) still resumes, on one process.
    old = tmp_path / "old" / "checkpoints" / "step_0000003"
    old.mkdir(parents=True)
    save_file(model.state_dict(), str(old / "model.safetensors"))
    save_file(ema.state_dict(), str(old / "ema.safetensors"))
    flat = {f"{i}.{k}": v for i, state in optimizer.state_dict()["state"].items() for k, v in state.items()}
    save_file(flat, str(old / "optimizer.safetensors"))
    groups = optimizer.state_dict()["param_groups"]
    state = {"step": 3, "config": {}, "optimizer": {"param_groups": groups, "scalars": {}}}
    (old / "state.json").write_text(json.dumps({**state, "torch_rng": torch.get_rng_state().tolist()}))
    fresh, fresh_ema = DiT(cfg), DiT(cfg)
    fresh_optimizer = build_optimizer(fresh, load_config("dit-tiny").optim)
    assert load_checkpoint(old, fresh, fresh_ema, fresh_optimizer)["step"] == 3
    assert all(torch.equal(x, y) for x, y in zip(model.parameters(), fresh.parameters(), strict=True))
    loaded = fresh_optimizer.state_dict()["state"]
    assert all(torch.equal(s["exp_avg_sq"], loaded[i]["exp_avg_sq"]) for i, s in moments.items())
    with pytest.raises(ValueError, match="format 1 .*resume it with one process"):
        load_checkpoint(old, fresh, fresh_ema, fresh_optimizer, world=World(0, 2, torch.device("cpu")))
