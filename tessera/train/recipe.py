"""The shipped world model, reproducibly, in one call: `tessera train-world --scale cpu|gpu`.

1. train the VAE (preset vae-world; on the CPU vae-world-cpu, then vae-world-cpu-long fine-tuned from it on
   longer clips, then vae-world-cpu-decoder, its decoder alone with object pixels weighted)
   -> OUT/vae/export or OUT/vae3/export
2. train the DiT on its latents (dit-world or dit-world-cpu) -> OUT/dit/export
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
from tessera.weights import SHIPPED_MODEL, read_model_spec

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
    tic = time.perf_counter()
    vae_cfg = load_config(f"vae-world{suffix}", [*overrides, f"loop.out={out / 'vae'}"])
    vae_export = train_vae.main(vae_cfg)
    if scale == "cpu":
        long_cfg = load_config(
            "vae-world-cpu-long", [*overrides, f"loop.init_from={vae_export}", f"loop.out={out / 'vae2'}"]
        )
        vae_export = train_vae.main(long_cfg)
        decoder_cfg = load_config(
            "vae-world-cpu-decoder", [*overrides, f"loop.init_from={vae_export}", f"loop.out={out / 'vae3'}"]
        )
        vae_export = train_vae.main(decoder_cfg)
    vae_seconds = time.perf_counter() - tic
    dit_cfg = load_config(f"dit-world{suffix}", [*overrides, f"vae={vae_export}", f"loop.out={out / 'dit'}"])
    export = train_dit.main(dit_cfg)
    dit_seconds = time.perf_counter() - tic - vae_seconds

    summary = run_eval(Generator(export), eval_num, out / "eval")
    write_card(
        export,
        vae_export,
        summary,
        recipe=f"tessera train-world --scale {scale}",
        device=device_name(resolve_device(dit_cfg.loop.device)),
        vae_steps=vae_cfg.loop.steps
        + (long_cfg.loop.steps + decoder_cfg.loop.steps if scale == "cpu" else 0),
        vae_train_minutes=round(vae_seconds / 60, 1),
        dit_steps=dit_cfg.loop.steps,
        dit_train_minutes=round(dit_seconds / 60, 1),
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
