"""`tessera train-world`: the shipped model's recipe runs every stage, in order, and writes the card."""

import json

import pytest
import torch

from tessera.train import recipe
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
    assert export == tmp_path / "model"
    for stage in ("vae", "vae2", "vae3", "dit", "vae4", "dit2", "dit3", "dit4", "vae5", "vae6"):
        assert (tmp_path / stage / "export").is_dir(), stage
    # each stage starts from the one before it: stage 4 from stage 3, the refit DiT from the first DiT
    assert json.loads((tmp_path / "vae4" / "config.json").read_text())["loop"]["init_from"] == str(
        tmp_path / "vae3" / "export"
    )
    refit = json.loads((tmp_path / "dit2" / "config.json").read_text())
    assert refit["loop"]["init_from"] == str(tmp_path / "dit" / "export")
    assert refit["vae"] == str(tmp_path / "vae4" / "export")
    last = json.loads((tmp_path / "dit3" / "config.json").read_text())
    assert (
        last["loop"]["init_from"] == str(tmp_path / "dit2" / "export") and last["flow"]["object_weight"] > 0
    )
    more = json.loads((tmp_path / "dit4" / "config.json").read_text())
    assert (
        more["loop"]["init_from"] == str(tmp_path / "dit3" / "export") and more["flow"]["object_weight"] > 0
    )
    smooth = json.loads((tmp_path / "vae6" / "config.json").read_text())
    assert smooth["loop"]["init_from"] == str(tmp_path / "vae5" / "export") and smooth["decoder_only"]
    assert smooth["loss"]["temporal_weight"] > 0 and smooth["latent_noise"] > 0
    card = json.loads((export / "model.json").read_text())["card"]
    assert card["recipe"] == "tessera train-world --scale cpu"
    assert (card["vae_steps"], card["dit_steps"]) == (12, 8)
    assert {"adherence_seen", "adherence_heldout", "adherence_zh"} <= set(card["eval"])
    assert card["vae_heldout_psnr"] is not None
    # The model folder is stage 8's DiT with stage 10's VAE, whose decoder alone was trained (float16 there).
    dit, vae, _ = load_model_dir(export)
    dit8 = load_model_dir(tmp_path / "dit4" / "export")[0].state_dict()
    assert all(torch.equal(weight, dit8[name]) for name, weight in dit.state_dict().items())
    vae10 = load_vae_dir(tmp_path / "vae6" / "export").state_dict()
    for name, weight in vae.state_dict().items():
        assert torch.allclose(weight, vae10[name], rtol=1e-3, atol=1e-6), name
    # A VAE with another encoder (stage 3's) would not code video as the DiT learnt it: refused.
    with pytest.raises(ValueError, match="codes video differently"):
        with_decoder(tmp_path / "dit4" / "export", tmp_path / "vae3" / "export", tmp_path / "mismatch")
