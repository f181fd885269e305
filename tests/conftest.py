"""Shared fixtures: one tiny VAE and one tiny DiT trained once per test session, for the training tests."""

import json

import pytest

from tessera.presets import load_config
from tessera.train import train_dit, train_vae


def read_losses(folder):
    """(step, loss) pairs from a run folder's metrics.jsonl."""
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows if "loss" in r]


@pytest.fixture(scope="session", autouse=True)
def signing_identity_in_a_temporary_folder(tmp_path_factory):
    """Every video the CLI writes is signed (provenance.py) with an identity made on first use under
    $XDG_DATA_HOME: in the tests a temporary one, never the user's."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def run_losses():
    """read_losses, for the tests: (step, loss) pairs of a run folder."""
    return read_losses


@pytest.fixture(scope="session")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae")
    cfg = load_config(
        "vae-tiny", [f"loop.out={out}", "loop.steps=60", "loop.log_every=1", "data.num_scenes=4"]
    )
    export = train_vae.main(cfg, eval_clips=2, progress=False)
    return out, export


@pytest.fixture(scope="session")
def dit_run(vae_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("dit")
    cfg = load_config(
        "dit-tiny", [f"vae={vae_run[1]}", f"loop.out={out}", "loop.steps=60", "loop.log_every=1"]
    )
    return out, train_dit.main(cfg, progress=False)
