"""`tessera train-world`: the shipped model's recipe runs every stage, in order, and writes the card."""

import json

import pytest
import torch

from tessera.config import load_config
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


def test_the_cpu_recipe_chains_its_stages_and_writes_the_card(tmp_path):
    export = recipe.main("cpu", tmp_path, eval_num=1, overrides=TOY)
    vae_presets, dit_preset = recipe.STAGES["cpu"]
    assert export == tmp_path / dit_preset / "export"
    # each VAE stage starts from the one before it, and the DiT trains on the last one's latents
    for before, preset in zip(vae_presets, vae_presets[1:], strict=False):
        cfg = json.loads((tmp_path / preset / "config.json").read_text())
        assert cfg["loop"]["init_from"] == str(tmp_path / before / "export"), preset
    dit_cfg = json.loads((tmp_path / dit_preset / "config.json").read_text())
    assert dit_cfg["vae"] == str(tmp_path / vae_presets[-1] / "export")
    assert dit_cfg["data"]["world"] == json.loads((export / "model.json").read_text())["world"]
    card = json.loads((export / "model.json").read_text())["card"]
    assert card["recipe"] == "tessera train-world --scale cpu"
    assert (card["vae_steps"], card["dit_steps"]) == (2 * len(vae_presets), 2)
    assert {"adherence_seen", "adherence_heldout", "adherence_zh"} <= set(card["eval"])
    assert card["vae_heldout_psnr"] is not None
    # The model folder holds the last VAE stage's weights (float16 there).
    _, vae, _ = load_model_dir(export)
    last = load_vae_dir(tmp_path / vae_presets[-1] / "export").state_dict()
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
