"""`tessera eval run`: generate videos for world prompts the model never trained on, score them, report.

Prompts come from scenes of evaluation seeds (far from any training seed), in four groups:
    seen     scenes of the training split (attribute combinations seen in training), English captions
    heldout  scenes of the held-out split (colour x shape and shape x motion pairs never trained), English
    zh       the same seen scenes captioned in Chinese, so zh - en compares languages on equal content
    human    the same seen scenes in people's words, not the caption generator's (human_prompts), as much
             as a short caption says: English for the even-numbered scenes (0, 2, ...), Chinese for the odd
             ones, so human - seen (at detail "short") measures how far following the captions carries over
             to how people write
Scenes are drawn from the part of the world the model was trained on (model.json's "world", a SceneMix;
the whole world when it has none). Each video is scored in prompt mode (only what the prompt claims, as the
parser reads it). The parser's reading is checked against the scene the prompt was written from
(`parse_agreement_<group>`: the share of prompts whose every stated attribute is the scene's), so a misread
prompt cannot pass unnoticed, also where a model reads prompts through the same parser (world/rewrite.py;
`rewrite=False` turns that off). The report is report.json, report.md and contact_sheet.png with the best
and the worst samples.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tessera.data.contact_sheet import contact_sheet, save_image
from tessera.eval.human_prompts import human_prompt
from tessera.eval.scorer import score
from tessera.pipeline import GenerationRequest, Generator
from tessera.world.captions import caption, thirds
from tessera.world.prompts import ParsedPrompt, parse_prompt
from tessera.world.scene import SCENE_MIXES, WHOLE_WORLD, Scene, SceneMix, sample_scene

EVAL_SEED = 2_000_000
GROUPS = ("seen", "heldout", "zh", "human")


@dataclass(frozen=True)
class Sample:
    group: str
    seed: int
    prompt: str
    total: float
    groups: dict[str, float]
    seconds: float
    agrees: bool  # the parser read every stated attribute as the scene the prompt was written from has it
    read_as: str | None = None  # what the model's text encoder read instead of the prompt (world/rewrite.py)


def eval_prompts(
    num: int,
    *,
    height: int,
    width: int,
    fps: int,
    num_frames: int,
    detail: str = "short",
    mix: SceneMix = WHOLE_WORLD,
):
    """(group, seed, prompt, scene it describes) for `num` scenes per group, drawn from the part of the world
    `mix` allows."""
    prompts = []
    size = {"height": height, "width": width, "fps": fps, "num_frames": num_frames, "mix": mix}
    for i in range(num):
        seed = EVAL_SEED + i
        seen = sample_scene(seed, split="train", **size)
        held = sample_scene(seed, split="heldout", **size)
        prompts.append(("seen", seed, caption(seen, lang="en", detail=detail, seed=seed), seen))
        prompts.append(("heldout", seed, caption(held, lang="en", detail=detail, seed=seed), held))
        prompts.append(("zh", seed, caption(seen, lang="zh", detail=detail, seed=seed), seen))
        human = human_prompt(seen, lang="en" if i % 2 == 0 else "zh", seed=seed)
        prompts.append(("human", seed, human, seen))
    return prompts


def run_eval(
    generator: Generator,
    num: int,
    out: str | Path,
    *,
    steps: int | None = None,
    detail: str = "short",
    world: str | None = None,
    rewrite: bool = True,
    progress: bool = True,
) -> dict:
    """Generate and score `num` prompts per group; write the report into `out`; return the summary.

    `world` names a scene mix (SCENE_MIXES: "whole", "plain") to draw the prompts from instead of the one the
    model trained on, so that models trained on different parts of the world can be compared on the same
    prompts."""
    if num < 1:
        raise ValueError(f"--num must be >= 1, got {num}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    video_cfg = generator.spec["video"]
    h, w, fps, nf = video_cfg["height"], video_cfg["width"], video_cfg["fps"], video_cfg["num_frames"]
    samples, videos = [], []
    if world is not None and world not in SCENE_MIXES:
        raise ValueError(f"unknown world {world!r}; allowed: {', '.join(SCENE_MIXES)}")
    mix = model_world(generator.spec) if world is None else SCENE_MIXES[world]
    prompts = eval_prompts(num, height=h, width=w, fps=fps, num_frames=nf, detail=detail, mix=mix)
    for group, seed, prompt, truth in tqdm(prompts, desc="eval run", unit="video", disable=not progress):
        tic = time.perf_counter()
        request = GenerationRequest(prompt=prompt, seed=seed, steps=steps, rewrite=rewrite)
        result = generator.generate(request)
        seconds = time.perf_counter() - tic
        parsed = parse_prompt(prompt, height=h, width=w, fps=fps, num_frames=nf)
        s = score(result.frames, parsed.scene, stated=parsed.stated)
        agrees = parse_agrees(parsed, truth)
        read_as = result.info.get("prompt_read_as")
        samples.append(Sample(group, seed, prompt, s.total, dict(s.groups), seconds, agrees, read_as))
        videos.append(result.frames)
    summary = summarize(samples)
    summary.update(
        model=str(generator.model_dir),
        num_per_group=num,
        detail=detail,
        steps=result.request.steps,
        size=f"{w}x{h}",
        num_frames=nf,
        world=mix.to_dict(),
        rewrite=rewrite and generator.rewrites,
    )
    (out / "report.json").write_text(
        json.dumps(
            {"summary": summary, "samples": [s.__dict__ for s in samples]}, indent=2, ensure_ascii=False
        )
    )
    (out / "report.md").write_text(markdown(summary, samples))
    order = np.argsort([s.total for s in samples])
    pick = list(order[::-1][:4]) + [i for i in order[:4] if i not in order[::-1][:4]]
    labels = [f"{samples[i].total:.2f} {samples[i].group}: {samples[i].prompt}" for i in pick]
    save_image(contact_sheet([videos[i] for i in pick], labels), out / "contact_sheet.png")
    return summary


def model_world(spec: dict) -> SceneMix:
    """The part of the world a model folder says it was trained on (the whole world if it does not say)."""
    return SceneMix.from_dict(spec["world"]) if "world" in spec else WHOLE_WORLD


def parse_agrees(parsed: ParsedPrompt, truth: Scene) -> bool:
    """Whether every attribute the prompt stated, as the parser read it, is what `truth` (the scene the prompt
    was written from) has: each parsed object matched to a scene object, start places by thirds."""
    left = list(truth.objects)
    for said in parsed.stated_values():
        match = next((o for o in left if all(_value(o, k) == v for k, v in said.items())), None)
        if match is None:
            return False
        left.remove(match)
    return True


def _value(obj, name: str):
    return dict(zip("xy", thirds(obj), strict=True))[name] if name in ("x", "y") else getattr(obj, name)


def summarize(samples: list[Sample]) -> dict:
    by_group = {g: [s.total for s in samples if s.group == g] for g in GROUPS}
    summary = {f"adherence_{g}": float(np.mean(v)) for g, v in by_group.items() if v}
    if by_group["zh"] and by_group["seen"]:
        summary["zh_minus_en"] = summary["adherence_zh"] - summary["adherence_seen"]
    if by_group["human"] and by_group["seen"]:
        summary["human_minus_seen"] = summary["adherence_human"] - summary["adherence_seen"]
    for g in GROUPS:
        if by_group[g]:
            summary[f"parse_agreement_{g}"] = float(np.mean([s.agrees for s in samples if s.group == g]))
    summary["seconds_per_video"] = float(np.mean([s.seconds for s in samples]))
    return summary


def compare(report_a: dict, report_b: dict) -> dict:
    """B against A, prompt by prompt, where two `eval run` reports scored the same prompts: per group and
    over all, A's and B's means, the mean paired difference B - A with its standard error, and how many
    prompts scored higher and lower. Prompts are matched by (group, seed, prompt); reports that share none
    are refused."""
    a = {(s["group"], s["seed"], s["prompt"]): s["total"] for s in report_a["samples"]}
    b = {(s["group"], s["seed"], s["prompt"]): s["total"] for s in report_b["samples"]}
    shared = [key for key in a if key in b]
    if not shared:
        raise ValueError("the two reports share no prompts: run both with the same --num and --world")
    rows = {}
    for group in (*GROUPS, "all"):
        keys = [k for k in shared if group in ("all", k[0])]
        if not keys:
            continue
        diff = np.array([b[k] - a[k] for k in keys])
        rows[group] = {
            "n": len(keys),
            "a": float(np.mean([a[k] for k in keys])),
            "b": float(np.mean([b[k] for k in keys])),
            "diff": float(diff.mean()),
            "se": float(diff.std(ddof=1) / np.sqrt(len(keys))) if len(keys) > 1 else float("nan"),
            "higher": int((diff > 0).sum()),
            "lower": int((diff < 0).sum()),
        }
    return rows


def markdown(summary: dict, samples: list[Sample]) -> str:
    lines = ["# tessera eval run", "", "| measure | value |", "| --- | --- |"]
    lines += [f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in summary.items()]
    lines += [
        "",
        "| group | seed | total | content | motion | continuity | parsed right | prompt | read as |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in samples:
        g = s.groups
        parsed_right = "yes" if s.agrees else "NO"
        lines.append(
            f"| {s.group} | {s.seed} | {s.total:.3f} | {g.get('content', 0):.2f} | {g.get('motion', 0):.2f} "
            f"| {g.get('continuity', 0):.2f} | {parsed_right} | {s.prompt} | {s.read_as or ''} |"
        )
    lines += ["", "![best and worst](contact_sheet.png)", ""]
    return "\n".join(lines)
