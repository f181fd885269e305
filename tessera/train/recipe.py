"""The world models, reproducibly, in one call: `tessera train-world --scale SCALE` (RECIPES).

A recipe is a list of stages (RECIPES), each a preset trained into OUT/<preset> whose inputs are the exports
of earlier stages: `loop.init_from` (fine-tuned from it) and `vae` (a DiT trained on that VAE's latents).
- cpu: the whole-world model (128x128, 16x16-pixel tokens): the world VAE in stages, each fine-tuned from
  the one before (vae-world-cpu, -long, -decoder, -objects), DiTs in four stages on those latents
  (dit-world-cpu, -refit, -objects, -more), then the VAE's decoder alone trained on twice (-decoder2,
  -deflicker); the model folder is the last DiT with the last decoder (weights.with_decoder) -> OUT/model.
- cpu-plain: the plain-world model (64x64, 8x8-pixel tokens): the whole-world VAE stages, then the VAE
  fine-tuned on the plain world (vae-world-plain), then dit-world-plain on its latents.
- cpu-one-object: the one-object model (64x64, 16x16-pixel tokens): the plain recipe's VAE stages, then
  dit-world-one-object on vae-world-plain's latents, trained on over more scenes
  (dit-world-one-object-phrasings) and then with images beside its clips (dit-world-one-object-images),
  then the VAE's decoder alone trained on the one-object world (vae-world-one-object, then -long); the
  model folder is the last DiT with that decoder -> OUT/model.
- gpu: vae-world, then dit-world on its latents.
Then `eval run` scores the model folder (prompts from the part of the world it trained on) -> OUT/eval, the
measured facts (steps, wall time, device, PSNR, adherence) go into the folder's card, and with install=True
the folder replaces the package's shipped model (tessera/weights/world). Every stage resumes from its
checkpoints, so an interrupted recipe continues where it stopped.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from tessera.machine import device_name
from tessera.presets import load_config
from tessera.train import train_dit, train_vae
from tessera.train.optim import resolve_device
from tessera.weights import SHIPPED_MODEL, read_model_spec, with_decoder

# A stage: (preset, {override key: the earlier stage whose export it takes}).
Stage = tuple[str, dict[str, str]]
WORLD_VAE_CPU: tuple[Stage, ...] = (
    ("vae-world-cpu", {}),
    ("vae-world-cpu-long", {"loop.init_from": "vae-world-cpu"}),
    ("vae-world-cpu-decoder", {"loop.init_from": "vae-world-cpu-long"}),
)
# The whole-world VAE stages, then that VAE fine-tuned on the plain world at 64x64.
PLAIN_VAE_CPU: tuple[Stage, ...] = (
    *WORLD_VAE_CPU,
    ("vae-world-cpu-objects", {"loop.init_from": "vae-world-cpu-decoder"}),
    ("vae-world-cpu-decoder2", {"loop.init_from": "vae-world-cpu-objects"}),
    ("vae-world-cpu-deflicker", {"loop.init_from": "vae-world-cpu-decoder2"}),
    ("vae-world-plain", {"loop.init_from": "vae-world-cpu-deflicker"}),
)
RECIPES: dict[str, tuple[Stage, ...]] = {
    "cpu": (
        *WORLD_VAE_CPU,
        ("dit-world-cpu", {"vae": "vae-world-cpu-decoder"}),
        ("vae-world-cpu-objects", {"loop.init_from": "vae-world-cpu-decoder"}),
        ("dit-world-cpu-refit", {"vae": "vae-world-cpu-objects", "loop.init_from": "dit-world-cpu"}),
        ("dit-world-cpu-objects", {"vae": "vae-world-cpu-objects", "loop.init_from": "dit-world-cpu-refit"}),
        ("dit-world-cpu-more", {"vae": "vae-world-cpu-objects", "loop.init_from": "dit-world-cpu-objects"}),
        ("vae-world-cpu-decoder2", {"loop.init_from": "vae-world-cpu-objects"}),
        ("vae-world-cpu-deflicker", {"loop.init_from": "vae-world-cpu-decoder2"}),
    ),
    "cpu-plain": (*PLAIN_VAE_CPU, ("dit-world-plain", {"vae": "vae-world-plain"})),
    "cpu-one-object": (
        *PLAIN_VAE_CPU,
        ("dit-world-one-object", {"vae": "vae-world-plain"}),
        (
            "dit-world-one-object-phrasings",
            {"vae": "vae-world-plain", "loop.init_from": "dit-world-one-object"},
        ),
        (
            "dit-world-one-object-images",
            {"vae": "vae-world-plain", "loop.init_from": "dit-world-one-object-phrasings"},
        ),
        ("vae-world-one-object", {"loop.init_from": "vae-world-plain"}),
        ("vae-world-one-object-long", {"loop.init_from": "vae-world-one-object"}),
    ),
    "gpu": (("vae-world", {}), ("dit-world", {"vae": "vae-world"})),
}
SCALES = tuple(RECIPES)


def main(
    scale: str, out: str | Path, *, eval_num: int = 16, install: bool = False, overrides: tuple[str, ...] = ()
) -> Path:
    """Run the whole recipe; `overrides` apply to every stage's preset (e.g. loop.device=cuda)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; allowed: {', '.join(SCALES)}")
    from tessera.eval.adherence import run_eval
    from tessera.pipeline import Generator

    out = Path(out)
    spent = {"vae": [0, 0.0], "dit": [0, 0.0]}  # steps, seconds
    exports: dict[str, Path] = {}
    for preset, inputs in RECIPES[scale]:
        given = [f"{key}={exports[stage]}" for key, stage in inputs.items()]
        cfg = load_config(preset, [*overrides, *given, f"loop.out={out / preset}"])
        kind = "vae" if preset.startswith("vae") else "dit"
        tic = time.perf_counter()
        exports[preset] = (train_vae if kind == "vae" else train_dit).main(cfg)
        spent[kind][0] += cfg.loop.steps
        spent[kind][1] += time.perf_counter() - tic

    dit_preset = next(p for p, _ in reversed(RECIPES[scale]) if p.startswith("dit"))
    vae_preset = next(p for p, _ in reversed(RECIPES[scale]) if p.startswith("vae"))
    export = exports[dit_preset]
    if dict(RECIPES[scale])[dit_preset]["vae"] != vae_preset:  # a decoder trained on after the DiT
        export = with_decoder(export, exports[vae_preset], out / "model")
    summary = run_eval(Generator(export), eval_num, out / "eval")
    device = resolve_device(load_config(dit_preset, list(overrides)).loop.device)
    write_card(
        export,
        exports[vae_preset],
        summary,
        recipe=f"tessera train-world --scale {scale}",
        device=device_name(device),
        vae_steps=spent["vae"][0],
        vae_train_minutes=round(spent["vae"][1] / 60, 1),
        dit_steps=spent["dit"][0],
        dit_train_minutes=round(spent["dit"][1] / 60, 1),
    )
    if install:
        install_model(export)
    return export


def write_card(export: Path, vae_export: Path, summary: dict, **facts) -> None:
    """Record how the model was made (`facts`: recipe, device, steps, minutes) and how it scored in its
    model.json `card`; the VAE's held-out PSNR/SSIM come from its export."""
    spec = read_model_spec(export)
    vae_eval = json.loads((Path(vae_export) / "config.json").read_text()).get("extra", {})
    spec["card"].update(
        vae_heldout_psnr=vae_eval.get("psnr"),
        vae_heldout_ssim=vae_eval.get("ssim"),
        **facts,
        eval=summary,
    )
    (Path(export) / "model.json").write_text(json.dumps(spec, indent=2, ensure_ascii=False))


def install_model(export: Path) -> None:
    """Copy a model folder over the package's shipped model."""
    SHIPPED_MODEL.mkdir(parents=True, exist_ok=True)
    for name in ("model.json", "dit.safetensors", "vae.safetensors"):
        shutil.copy2(Path(export) / name, SHIPPED_MODEL / name)
    print(f"installed {export} as the shipped model ({SHIPPED_MODEL})")
