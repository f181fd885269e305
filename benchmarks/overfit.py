"""The gate before a long run: can a DiT config learn N world scenes from their captions?

    python benchmarks/overfit.py --preset dit-world-plain [--num 8] [--steps 1500] [--every 250]
        [--new 8] [--own N] [--out runs/overfit] [--plot curve.png] [override ...]
    python benchmarks/overfit.py --run RUN_DIR [--num 8] [--new 8] [--after RUN_DIR]  # a finished run
    python benchmarks/overfit.py --curves RUN_DIR [RUN_DIR ...] --plot curves.png   # runs side by side

Trains the preset (with the overrides) on N scenes only, text to video only (`flow.tasks=text`; the
overrides come last, so they may change that), then scores the EMA weights of every checkpoint:
- own: each training scene (or the first --own of them) generated from its own short English caption (a
  caption it trained on), at its own seed, scored in prompt mode;
- new: as many new scenes of the same part of the world (`eval run`'s seen group, the same seeds), so the
  curve also says whether what is learnt carries over;
- baselines, measured in the same run: the footage itself and its VAE round trip, scored against the same
  captions. Whatever the DiT makes is decoded by that VAE, so the round trip is its ceiling.
A config passes when its own-caption adherence reaches 0.9x the round trip's within 30 minutes of training
on the machine that runs this. Printed: a table by step with training minutes, the verdict, the device; with
--plot, the learning curves against minutes. With --run, a finished run (any preset, any number of scenes)
is scored the same way, its first N scenes as "own", so long runs get the same learning curves. Training runs
where the preset says (`loop.device`), scoring on the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from tessera.config import DiTRunConfig, from_dict
from tessera.data.dataset import WorldClips
from tessera.data.video_io import to_frames, to_video_tensor
from tessera.eval.adherence import eval_prompts
from tessera.eval.scorer import score
from tessera.machine import device_name
from tessera.pipeline import GenerationRequest, Generator
from tessera.presets import load_config
from tessera.train import train_dit
from tessera.world.captions import caption
from tessera.world.prompts import parse_prompt
from tessera.world.render import render

GATE_RATIO, GATE_MINUTES = 0.9, 30.0


def scored(frames: np.ndarray, prompt: str, cfg: DiTRunConfig) -> float:
    d = cfg.data
    parsed = parse_prompt(prompt, height=d.height, width=d.width, fps=d.fps, num_frames=d.num_frames)
    return score(frames, parsed.scene, stated=parsed.stated).total


def training_prompts(cfg: DiTRunConfig, num: int) -> list[tuple[int, str, np.ndarray]]:
    """(seed, short English caption, footage) of the first `num` training scenes; the caption is one the run
    trained on when it kept every caption (data.captions_per_language=0)."""
    clips = WorldClips(cfg.data)
    out = []
    for i in range(min(num, len(clips))):
        scene, seed = clips.scene(i), cfg.data.seed + i
        out.append((seed, caption(scene, lang="en", detail="short", seed=seed), render(scene).video))
    return out


@torch.inference_mode()
def baselines(gen: Generator, prompts, cfg: DiTRunConfig) -> dict[str, float]:
    footage, trip = [], []
    for _, prompt, clip in prompts:
        x = to_video_tensor(clip)[None]  # (1, 3, F, H, W)
        recon = gen.vae.decode_latents(gen.vae.encode_latents(x))
        footage.append(scored(clip, prompt, cfg))
        trip.append(scored(to_frames(recon[0]), prompt, cfg))
    return {"footage": float(np.mean(footage)), "round_trip": float(np.mean(trip))}


def adherence(gen: Generator, prompts: list[tuple[int, str]], cfg: DiTRunConfig) -> float:
    """Mean score of the model's videos for `prompts`, read as written: what the DiT learnt, no rewriting."""
    totals = []
    for seed, prompt in prompts:
        frames = gen.generate(GenerationRequest(prompt=prompt, seed=seed, rewrite=False)).frames
        totals.append(scored(frames, prompt, cfg))
    return float(np.mean(totals))


def training_minutes(out: Path) -> dict[int, float]:
    """Minutes of training up to each logged step, from the run's own timing (a run resumed midway times
    only its last part, so the gate wants a fresh run)."""
    minutes = {}
    for line in (out / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "sec_per_step" in row:
            minutes[row["step"] + 1] = row["sec_per_step"] * (row["step"] + 1) / 60
    return minutes


def minutes_at(step: int, minutes: dict[int, float]) -> float:
    logged = max(s for s in minutes if s <= step)
    return minutes[logged] * step / logged


def plot(runs: dict[str, dict], path: Path) -> None:
    """Learning curves (adherence against training minutes) of gate runs, each `overfit.json`'s content by
    label: own captions solid, new prompts dashed, the run's VAE round trip dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5 + 0.3 * len(runs)))
    for i, (label, run) in enumerate(runs.items()):
        colour, rows = f"C{i}", run["rows"]
        x = [r["minutes"] for r in rows]
        ax.plot(x, [r["own"] for r in rows], "o-", color=colour, label=f"{label}: own captions")
        ax.plot(x, [r["new"] for r in rows], "s--", color=colour, label=f"{label}: new prompts")
        ax.axhline(run["baselines"]["round_trip"], color=colour, ls=":", lw=1)
    ax.set(xlabel="training minutes", ylabel="adherence", ylim=(0, 1))
    ax.set_title("adherence against training minutes (dotted: each run's VAE round trip)", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7)  # below: curves fill the top
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="dit-world-plain")
    ap.add_argument("--num", type=int, default=8, help="training scenes")
    ap.add_argument("--new", type=int, default=8, help="new prompts scored at each checkpoint")
    ap.add_argument(
        "--own", type=int, default=0, help="training scenes scored at each checkpoint (default: all --num)"
    )
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--every", type=int, default=250, help="score a checkpoint every this many steps")
    ap.add_argument("--out", default="runs/overfit")
    ap.add_argument("--plot", default="", help="write the learning curves to this PNG")
    ap.add_argument("--run", default="", help="score this finished run's checkpoints instead; no training")
    ap.add_argument(
        "--after",
        default="",
        help="with --run: the run it was fine-tuned from (loop.init_from), whose minutes its own follow",
    )
    ap.add_argument(
        "--curves", nargs="+", default=None, help="gate runs and scored runs (--run) to plot together"
    )
    ap.add_argument("overrides", nargs="*", help="dotted overrides, e.g. model.patch_size=1x4x4")
    args = ap.parse_args()
    if args.curves:
        if not args.plot:
            ap.error("--curves needs --plot FILE")
        runs = {}
        for folder in map(Path, args.curves):
            run = json.loads((folder / "overfit.json").read_text())
            runs[run.get("label", folder.name)] = run
        plot(runs, Path(args.plot))
        return
    if args.run:  # score the checkpoints of a finished run as it was configured
        out = Path(args.run)
        cfg = from_dict(DiTRunConfig, json.loads((out / "config.json").read_text()))
        export = out / "export"
    else:
        out = Path(args.out)
        cfg = gate_config(args)
        export = train_dit.main(cfg)
    score_run(out, export, cfg, args)


def gate_config(args: argparse.Namespace) -> DiTRunConfig:
    given = [
        f"data.num_scenes={args.num}",
        "data.captions_per_language=0",
        "flow.tasks=text",
        "flow.task_weights=1",
        f"loop.steps={args.steps}",
        f"loop.checkpoint_every={args.every}",
        "loop.keep_checkpoints=0",
        f"loop.out={args.out}",
    ]
    cfg = load_config(args.preset, [*given, *args.overrides])
    if cfg.loop.batch_size > args.num:  # an epoch must make at least one batch
        cfg = dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, batch_size=args.num))
    return cfg


def score_run(out: Path, export: Path, cfg: DiTRunConfig, args: argparse.Namespace) -> None:
    """Score every checkpoint of the run in `out`, print the table and the verdict, save overfit.json."""
    gen = Generator(export)
    own = training_prompts(cfg, args.own or args.num)
    d = cfg.data
    size = {"height": d.height, "width": d.width, "fps": d.fps, "num_frames": d.num_frames}
    new = [(seed, p) for g, seed, p, _ in eval_prompts(args.new, **size, mix=d.world) if g == "seen"]
    base = baselines(gen, own, cfg)
    minutes = training_minutes(out)
    if args.after:  # a fine-tune's minutes count on from those of the run it started from
        before = training_minutes(Path(args.after))
        minutes = {step: m + before[max(before)] for step, m in minutes.items()}
    rows = []
    for ckpt in sorted((out / "checkpoints").glob("step_*")):
        step = int(ckpt.name.split("_")[1])
        gen.dit.load_state_dict(load_file(ckpt / "ema.safetensors"))
        rows.append(
            {
                "step": step,
                "minutes": minutes_at(step, minutes),
                "own": adherence(gen, [(s, p) for s, p, _ in own], cfg),
                "new": adherence(gen, new, cfg),
            }
        )
        print(f"step {step}: own {rows[-1]['own']:.3f}, new {rows[-1]['new']:.3f}", flush=True)
    ceiling = base["round_trip"]
    passed = [r for r in rows if r["own"] >= GATE_RATIO * ceiling and r["minutes"] <= GATE_MINUTES]
    what = f"run {args.run}" if args.run else f"preset {args.preset} {' '.join(args.overrides)}"
    print(f"\ndevice: {device_name(gen.device)}; {what}")
    scored_part = f"{args.num} training scenes, {len(own)} of them scored"
    print(f"{scored_part}; footage {base['footage']:.3f}, VAE round trip {ceiling:.3f}\n")
    print("| step | training min | own captions | x round trip | new prompts |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        ratio = r["own"] / ceiling
        print(f"| {r['step']} | {r['minutes']:.1f} | {r['own']:.3f} | {ratio:.2f} | {r['new']:.3f} |")
    if not args.run:  # a finished run's scenes are not the gate's
        verdict = f"passes at step {passed[0]['step']}" if passed else "does not pass"
        print(f"\ngate ({GATE_RATIO}x the round trip within {GATE_MINUTES:.0f} min): {verdict}")
    scenes = f"{cfg.data.num_scenes:,} scenes"
    if args.run:
        label = f"{Path(args.run).name}, {scenes}"
    else:
        label = f"{' '.join([args.preset, *args.overrides])}, {scenes} (the gate)"
    run = {"label": label, "baselines": base, "rows": rows, "passed": bool(passed)}
    (out / "overfit.json").write_text(json.dumps(run, indent=1))
    if args.plot:
        plot({label: run}, Path(args.plot))


if __name__ == "__main__":
    main()
