"""`tessera train-world`: the shipped model's recipe runs every stage, in order, and writes the card."""

import json

import pytest
import torch

from tessera.presets import load_config
from tessera.train import recipe, train_dit, train_vae
from tessera.weights import load_model_dir, load_vae_dir, with_decoder

# Every stage at a toy size: two steps each, two scenes of 32x32x5, no crops.
TOY = (
    "loop.steps=2",
    "loop.batch_size=1",
    "loop.checkpoint_every=1",
    "data.num_scenes=2",
    "data.height=32",
    "data.width=32",
    "data.num_frames=5",
    "data.crop=0",
)


@pytest.mark.slow
@pytest.mark.parametrize("scale", ["cpu", "cpu-plain", "cpu-one-object"])
def test_a_cpu_recipe_chains_its_stages_and_writes_the_card(tmp_path, scale):
    export = recipe.main(scale, tmp_path, eval_num=1, overrides=TOY)
    stages = recipe.RECIPES[scale]
    for preset, inputs in stages:  # each stage takes the exports of the stages it names
        cfg = json.loads((tmp_path / preset / "config.json").read_text())
        for key, stage in inputs.items():
            section, _, name = key.rpartition(".")
            value = cfg[section][name] if section else cfg[name]
            assert value == str(tmp_path / stage / "export"), (preset, key)
    last_dit = [p for p, _ in stages if p.startswith("dit")][-1]
    last_vae = [p for p, _ in stages if p.startswith("vae")][-1]
    card = json.loads((export / "model.json").read_text())["card"]
    assert card["recipe"] == f"tessera train-world --scale {scale}"
    num_vae = sum(p.startswith("vae") for p, _ in stages)
    assert (card["vae_steps"], card["dit_steps"]) == (2 * num_vae, 2 * (len(stages) - num_vae))
    assert {"adherence_seen", "adherence_heldout", "adherence_zh", "adherence_human"} <= set(card["eval"])
    assert card["vae_heldout_psnr"] is not None
    # The model folder is the last DiT with the last VAE stage's weights (float16 there): a decoder trained on
    # after the DiT (weights.with_decoder) in a folder of its own, else the DiT's own export.
    after = dict(stages)[last_dit]["vae"] != last_vae
    assert export == (tmp_path / "model" if after else tmp_path / last_dit / "export")
    dit, vae, _ = load_model_dir(export)
    theirs = load_model_dir(tmp_path / last_dit / "export")[0].state_dict()
    assert all(torch.equal(weight, theirs[name]) for name, weight in dit.state_dict().items())
    last = load_vae_dir(tmp_path / last_vae / "export").state_dict()
    for name, weight in vae.state_dict().items():
        assert torch.allclose(weight, last[name], rtol=1e-3, atol=1e-6), name


def test_a_vae_that_codes_video_otherwise_cannot_replace_a_model_folders_decoder(tmp_path):
    overrides = (*TOY, f"loop.out={tmp_path / 'a'}")
    a = train_vae.main(load_config("vae-tiny", list(overrides)), eval_clips=1, progress=False)
    b = train_vae.main(
        load_config("vae-tiny", [*TOY, f"loop.out={tmp_path / 'b'}", "loop.seed=1"]),
        eval_clips=1,
        progress=False,
    )
    dit = train_dit.main(
        load_config("dit-tiny", [*TOY, f"vae={a}", f"loop.out={tmp_path / 'dit'}"]), progress=False
    )
    with pytest.raises(ValueError, match="codes video differently"):
        with_decoder(dit, b, tmp_path / "mismatch")
