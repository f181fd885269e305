"""The shipped world model, reproducibly, in one call: `tessera train-world --scale cpu|gpu`.

1. train the VAE (preset vae-world; on the CPU vae-world-cpu, then vae-world-cpu-long fine-tuned from it on
   longer clips, then vae-world-cpu-decoder, its decoder alone with object pixels weighted)
   -> OUT/vae/export or OUT/vae3/export
2. train the DiT on its latents (dit-world or dit-world-cpu) -> OUT/dit/export
   On the CPU, as the shipped model was made: then fine-tune the whole VAE with object pixels weighted
   (vae-world-cpu-objects -> OUT/vae4/export), the DiT on its new latents (dit-world-cpu-refit ->
   OUT/dit2/export), that DiT with object latents weighted (dit-world-cpu-objects -> OUT/dit3/export),
   that DiT trained on at batch 16 (dit-world-cpu-more -> OUT/dit4/export), and the VAE's decoder alone
   trained on (vae-world-cpu-decoder2 -> OUT/vae5/export; the latents stay), then against flicker
   (vae-world-cpu-decoder3 -> OUT/vae6/export), which replaces the model folder's decoder -> OUT/model
3. score it with `eval run` on held-out prompts -> OUT/eval
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
from tessera.weights import SHIPPED_MODEL, read_model_spec, with_decoder

SCALES = ("cpu", "gpu")


def main(
    scale: str, out: str | Path, *, eval_num: int = 16, install: bool = False, overrides: tuple[str, ...] = ()
) -> Path:
    """Run the whole recipe; `overrides` apply to both stages' presets (e.g. loop.device=cuda)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; allowed: {', '.join(SCALES)}")
    from tessera.eval.adherence import run_eval
    from tessera.pipeline import Generator

    out = Path(out)
    suffix = "-cpu" if scale == "cpu" else ""
    spent = {"vae": [0, 0.0], "dit": [0, 0.0]}  # steps, seconds

    def run(preset: str, stage: str, *given: str) -> Path:
        """Train `preset` into OUT/stage with the overrides and `given` (its inputs); its export folder."""
        cfg = load_config(preset, [*overrides, *given, f"loop.out={out / stage}"])
        kind = "vae" if preset.startswith("vae") else "dit"
        tic = time.perf_counter()
        export = (train_vae if kind == "vae" else train_dit).main(cfg)
        spent[kind][0] += cfg.loop.steps
        spent[kind][1] += time.perf_counter() - tic
        return export

    vae_export = run(f"vae-world{suffix}", "vae")
    if scale == "cpu":
        vae_export = run("vae-world-cpu-long", "vae2", f"loop.init_from={vae_export}")
        vae_export = run("vae-world-cpu-decoder", "vae3", f"loop.init_from={vae_export}")
    export = run(f"dit-world{suffix}", "dit", f"vae={vae_export}")
    if scale == "cpu":
        vae_export = run("vae-world-cpu-objects", "vae4", f"loop.init_from={vae_export}")
        export = run("dit-world-cpu-refit", "dit2", f"vae={vae_export}", f"loop.init_from={export}")
        export = run("dit-world-cpu-objects", "dit3", f"vae={vae_export}", f"loop.init_from={export}")
        export = run("dit-world-cpu-more", "dit4", f"vae={vae_export}", f"loop.init_from={export}")
        vae_export = run("vae-world-cpu-decoder2", "vae5", f"loop.init_from={vae_export}")
        vae_export = run("vae-world-cpu-decoder3", "vae6", f"loop.init_from={vae_export}")
        export = with_decoder(export, vae_export, out / "model")

    summary = run_eval(Generator(export), eval_num, out / "eval")
    device = resolve_device(load_config(f"dit-world{suffix}", list(overrides)).loop.device)
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
