"""The shipped world model, reproducibly, in one call: `tessera train-world --scale cpu|gpu`.

On the CPU (the shipped model):
1. the world VAE, each stage fine-tuned from the one before (OUT/<preset>/export): vae-world-cpu (5-frame
   clips and images), vae-world-cpu-long (17-frame clips), vae-world-cpu-decoder (its decoder alone, object
   pixels weighted), vae-world-cpu-objects (the whole VAE so), vae-world-cpu-decoder2 (the decoder alone
   again), vae-world-cpu-deflicker (the decoder against flicker), then vae-world-plain (the whole VAE on
   the plain world at 64x64, the part of the world the CPU DiT learns);
2. the DiT on that VAE's latents: dit-world-plain -> OUT/dit-world-plain/export, the model folder.
On a GPU: vae-world, then dit-world on its latents.
3. score the model folder with `eval run` (prompts from the part of the world it trained on) -> OUT/eval
4. write the measured facts (steps, wall time, device, PSNR, adherence) into the model folder's card,
   and with install=True copy the folder over the package's shipped model (tessera/weights/world).
Every stage resumes from its checkpoints, so an interrupted recipe continues where it stopped.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from tessera.config import load_config
from tessera.machine import device_name
from tessera.train import train_dit, train_vae
from tessera.train.optim import resolve_device
from tessera.weights import SHIPPED_MODEL, read_model_spec

# scale -> (VAE presets, each fine-tuned from the one before; the DiT preset, trained on the last's latents)
STAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "cpu": (
        (
            "vae-world-cpu",
            "vae-world-cpu-long",
            "vae-world-cpu-decoder",
            "vae-world-cpu-objects",
            "vae-world-cpu-decoder2",
            "vae-world-cpu-deflicker",
            "vae-world-plain",
        ),
        "dit-world-plain",
    ),
    "gpu": (("vae-world",), "dit-world"),
}
SCALES = tuple(STAGES)


def main(
    scale: str, out: str | Path, *, eval_num: int = 16, install: bool = False, overrides: tuple[str, ...] = ()
) -> Path:
    """Run the whole recipe; `overrides` apply to both stages' presets (e.g. loop.device=cuda)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; allowed: {', '.join(SCALES)}")
    from tessera.eval.adherence import run_eval
    from tessera.pipeline import Generator

    out = Path(out)
    spent = {"vae": [0, 0.0], "dit": [0, 0.0]}  # steps, seconds

    def run(preset: str, *given: str) -> Path:
        """Train `preset` into OUT/preset with the overrides and `given` (its inputs); its export folder."""
        cfg = load_config(preset, [*overrides, *given, f"loop.out={out / preset}"])
        kind = "vae" if preset.startswith("vae") else "dit"
        tic = time.perf_counter()
        export = (train_vae if kind == "vae" else train_dit).main(cfg)
        spent[kind][0] += cfg.loop.steps
        spent[kind][1] += time.perf_counter() - tic
        return export

    vae_presets, dit_preset = STAGES[scale]
    vae_export = run(vae_presets[0])
    for preset in vae_presets[1:]:
        vae_export = run(preset, f"loop.init_from={vae_export}")
    export = run(dit_preset, f"vae={vae_export}")

    summary = run_eval(Generator(export), eval_num, out / "eval")
    device = resolve_device(load_config(dit_preset, list(overrides)).loop.device)
    write_card(
        export,
        vae_export,
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
