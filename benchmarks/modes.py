"""Measure every prompting mode (tessera/modes.py) on a model and world clips: preservation and seams.

    python benchmarks/modes.py [--model DIR] [--num 8] [--steps 20] [--sheet docs/modes.jpg]

For N held-out world scenes (of the part of the world the model trained on) it reports, as means:
- i2v: PSNR of output frame 0 to the input image (the latent is kept; this is the VAE round trip);
- extend forward / backward, connect, loop: the frame difference (mean absolute, 0..255 levels) at each seam,
  where the model's continuation meets the given frames (pasted back exactly). Baselines from the same run:
  the footage's own median and largest frame-to-frame change, and the VAE round trip's difference to the
  footage (a continuation decoded from kept latents differs from the pasted originals by about this much),
  and for extend forward and backward the seam of the same window without modes.carry_seam;
- edit at strengths 0.4 / 0.6 / 0.8: mean absolute difference to the input video, against a plain generation,
  and whether the motion is kept: the mean absolute error of the edit's frame-to-frame change against the
  input's (0 = it moves exactly as the input; a recolouring changes little of it), against the input's VAE
  round trip (the floor) and a plain generation (a video that ignores the input);
  a clip longer than the model takes, edited window by window: its difference to the input, and the jump
  where each window's new frames meet the kept tail of the one before, against its median jump;
- long video: the frame difference at the first window join, against its median frame difference;
- adherence (the scorer's total, prompt mode, tessera/eval/scorer.py) of: the footage and its VAE round trip
  (the ceiling of anything decoded by the model's VAE), a plain generation (the baseline),
  image to video, the forward extension (the whole output against the prompt at its length), each window of
  the long video (quality over time), edits towards a prompt that recolours one object (the new attribute),
  and each shot of a two-shot storyboard (the same scene at two detail levels), with the jump at its cut;
- text to image (`--frames 1`): the scorer's content group (objects, colours, shapes, sizes) of the image,
  against the footage's first frame;
- object looks over time (tessera/eval/drift.py): for the objects seen in the first long-video window or
  storyboard shot, their presence, size ratio and RGB distance in the later ones; the baseline is world
  footage of the same length (its objects keep their colour, but move, grow, shrink or leave the frame).
Device is printed. `--sheet` saves a contact sheet of every mode's output on the first scene (the README's).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import replace

import numpy as np
import torch

from tessera import modes
from tessera.conditioning import Condition
from tessera.data.contact_sheet import contact_sheet
from tessera.data.video_io import to_frames, to_video_tensor
from tessera.eval import temporal
from tessera.eval.adherence import model_world
from tessera.eval.drift import drift, object_looks
from tessera.eval.scorer import score_prompt
from tessera.machine import device_name
from tessera.pipeline import GenerationRequest, Generator
from tessera.world.captions import caption
from tessera.world.render import render
from tessera.world.scene import COLOURS, Scene, sample_scene


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def seam_jump(frames: np.ndarray, seam: int) -> float:
    """Mean absolute change (0..255 levels) between frames seam-1 and seam."""
    return float(temporal.frame_jumps(frames[seam - 1 : seam + 1])[0])


def vae_trip(gen: Generator, clip: np.ndarray) -> np.ndarray:
    """`clip` encoded and decoded by the model's VAE: what any generation is decoded through."""
    with torch.inference_mode():
        return to_frames(gen.vae.decode_latents(gen.vae.encode_latents(to_video_tensor(clip)[None]))[0])


def vae_mad(gen: Generator, clip: np.ndarray) -> float:
    return float(np.abs(vae_trip(gen, clip).astype(float) - clip).mean())


def adherence(frames: np.ndarray, prompt: str) -> float:
    """The scorer's total for `frames` against what `prompt` states, at the frames' own length."""
    return score_prompt(frames, prompt).total


def content(image: np.ndarray, prompt: str) -> float:
    """The scorer's content group (the objects the prompt names, their colours, shapes and sizes) for a
    1-frame video: a still has no motion to judge."""
    return score_prompt(image, prompt).groups.get("content", 0.0)


def recoloured(scene: Scene) -> Scene:
    """The scene with its first object in a colour no object of it has: an edit's new attribute."""
    used = {o.colour for o in scene.objects}
    colour = next(c for c in COLOURS if c not in used)
    return scene.replace(objects=(dataclasses.replace(scene.objects[0], colour=colour), *scene.objects[1:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--num", type=int, default=8)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument(
        "--sheet",
        default=None,
        help="image file (.jpg, .png): every mode's output on the first scene, one row each",
    )
    args = ap.parse_args()
    gen = Generator(args.model)
    r0 = gen.resolve(GenerationRequest("x"))
    fps = gen.spec["video"]["fps"]
    rows: dict[str, list[float]] = {}

    sheet: list[tuple[str, np.ndarray]] = []

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    def add_drift(name: str, looks) -> None:  # objects of the first part, as seen in the later ones
        d = drift(looks)
        add(f"{name}: objects of the first part", d.get("objects", 0.0))
        for key in ("presence", "size_ratio", "rgb_distance"):
            if not np.isnan(d.get(key, float("nan"))):
                add(f"{name}: {key}", d[key])

    def show(label: str, frames: np.ndarray) -> None:
        if i == 0:  # only the first scene goes on the sheet
            sheet.append((label, frames))

    mix = model_world(gen.spec)  # scenes from the part of the world the model trained on
    start = time.perf_counter()
    for i in range(args.num):
        size = dict(height=r0.height, width=r0.width, num_frames=r0.num_frames, split="heldout", mix=mix)
        scene, other = sample_scene(3_000_000 + i, **size), sample_scene(3_100_000 + i, **size)
        clip, clip2 = render(scene).video, render(other).video
        r = GenerationRequest(caption(scene, seed=i), seed=i, steps=args.steps)
        add("footage median jump", float(np.median(temporal.frame_jumps(clip))))
        add("footage max jump", float(temporal.frame_jumps(clip).max()))
        add("VAE round trip MAD (what pasting given frames back undoes)", vae_mad(gen, clip))
        add("adherence: the footage (what a perfect model scores)", adherence(clip, r.prompt))
        trip = vae_trip(gen, clip)
        add("adherence: the footage's VAE round trip (the most a DiT can reach)", adherence(trip, r.prompt))
        i2v = gen.generate(replace(r, conditions=(Condition(clip[0]),)))
        add("i2v frame-0 PSNR dB", psnr(i2v.frames[0], clip[0]))
        plain = gen.generate(r).frames
        add("adherence: plain generation", adherence(plain, r.prompt))
        show(f"world footage (the input of the modes below): {r.prompt}", clip)
        show("text to video", plain)
        image = gen.generate(replace(r, num_frames=1)).frames
        add("content: the footage's first frame (what a perfect image scores)", content(clip[:1], r.prompt))
        add("content: text to image (--frames 1)", content(image, r.prompt))
        show("text to image (--frames 1)", image)
        show("image to video (--image: the footage's frame 0)", i2v.frames)
        add("adherence: i2v", adherence(i2v.frames, r.prompt))
        fwd = modes.extend(gen, r, clip, "forward")
        add("extend forward seam jump", seam_jump(fwd.frames, len(clip)))
        c = fwd.info["context_frames"]  # the same window without modes.carry_seam: the baseline of the carry
        raw = gen.generate(replace(r, conditions=(Condition(clip[-c:], frame=0),))).frames
        add(
            "extend forward seam jump, VAE error not carried",
            seam_jump(np.concatenate([clip, raw[c:]]), len(clip)),
        )
        add("adherence: extend forward (whole output)", adherence(fwd.frames, r.prompt))
        show("--extend forward: the footage, then new frames", fwd.frames)
        bwd = modes.extend(gen, r, clip, "backward")
        start_b = bwd.info["given"][0][0]
        add("extend backward seam jump", seam_jump(bwd.frames, start_b))
        c = bwd.info["context_frames"]  # the same window without the carry into the given start
        raw = gen.generate(replace(r, conditions=(Condition(clip[:c], frame=start_b),))).frames
        add(
            "extend backward seam jump, window's error not carried",
            seam_jump(np.concatenate([raw[:start_b], clip]), start_b),
        )
        show("--extend backward: new frames, then the footage", bwd.frames)
        con = modes.connect(gen, r, clip, clip2)
        (_, a_end), (b_start, _) = con.info["given"]
        add("connect seam jump (A end)", seam_jump(con.frames, a_end))
        add("connect seam jump (B start)", seam_jump(con.frames, b_start))
        show("--connect A B: the footage, a transition, another clip", con.frames)
        lp = modes.loop(gen, r)
        wrapped = np.concatenate([lp.frames, lp.frames[:1]])
        add("loop seam jump (last -> first)", seam_jump(wrapped, len(lp.frames)))
        add("loop median jump inside", float(np.median(temporal.frame_jumps(lp.frames))))
        show("--loop: its last frame leads into its first", lp.frames)
        add("plain generation MAD to input", float(np.abs(plain.astype(float) - clip).mean()))
        new_prompt = caption(recoloured(scene), seed=i)
        add("adherence: the input to the edit prompt", adherence(clip, new_prompt))
        add("motion kept: the input's VAE round trip, change error", temporal.change_error(trip, clip))
        add("motion kept: plain generation, change error", temporal.change_error(plain, clip))
        for s in (0.4, 0.6, 0.8):
            ed = modes.edit(gen, replace(r, prompt=new_prompt), clip, s)
            add(f"edit {s} MAD to input", float(np.abs(ed.frames.astype(float) - clip).mean()))
            add(f"adherence: edit {s} to the edit prompt", adherence(ed.frames, new_prompt))
            add(f"motion kept: edit {s}, change error", temporal.change_error(ed.frames, clip))
            if s == 0.6:
                show(f"--edit footage --strength 0.6: {new_prompt}", ed.frames)
        too_long = gen.spec["limits"]["max_frames"] + 5  # more than one window takes: edited in windows
        long_clip = render(sample_scene(3_000_000 + i, **{**size, "num_frames": too_long})).video
        long_edit = modes.edit(gen, replace(r, prompt=new_prompt), long_clip, 0.6)
        edited = long_edit.frames.astype(float)
        c = long_edit.info["context_frames"]  # window w >= 1 starts at w * (n - c); its new frames after c
        joins = range(r0.num_frames, len(edited), r0.num_frames - c)
        add(f"edit 0.6 of {len(edited)} frames: windows", long_edit.info["windows"])
        add("edit 0.6 windowed: MAD to input", float(np.abs(edited - long_clip[: len(edited)]).mean()))
        add(
            "edit 0.6 windowed: mean jump at window joins",
            float(np.mean([seam_jump(edited, j) for j in joins])),
        )
        add("edit 0.6 windowed: median jump", float(np.median(temporal.frame_jumps(edited))))
        n = r0.num_frames
        long = modes.long_video(gen, r, 3 * n)
        add("long video jump at the first join", seam_jump(long.frames, n))
        add("long video median jump", float(np.median(temporal.frame_jumps(long.frames))))
        show(f"--duration {3 * n / fps:g}: three windows", long.frames)
        windows = [(w * n, (w + 1) * n) for w in range(3)]
        for w, (a, b) in enumerate(windows):
            add(f"adherence: long video window {w + 1}", adherence(long.frames[a:b], r.prompt))
        add_drift("long video windows 2-3 vs 1", object_looks(long.frames, windows))
        add_drift("footage windows 2-3 vs 1 (the baseline)", object_looks(long_clip, windows))
        shots = [modes.Shot(r.prompt, n), modes.Shot(caption(scene, detail="detailed", seed=i), n)]
        story = modes.storyboard(gen, r, shots)
        for k, (a, b, prompt) in enumerate(story.info["shots"]):
            add(f"adherence: storyboard shot {k + 1}", adherence(story.frames[a:b], prompt))
        add("storyboard jump at the cut", seam_jump(story.frames, n))
        add_drift(
            "storyboard shot 2 vs 1", object_looks(story.frames, [(a, b) for a, b, _ in story.info["shots"]])
        )
        show("--storyboard: two shots (short, then detailed caption)", story.frames)
    print(
        f"device: {device_name(gen.device)}; model: {gen.model_dir}; scenes: {args.num}; "
        f"{time.perf_counter() - start:.0f} s"
    )
    if args.sheet:
        labels, videos = zip(*sheet, strict=True)
        # The format follows the suffix: docs/modes.jpg keeps the README's picture small.
        contact_sheet(list(videos), list(labels), num_columns=8).save(args.sheet, quality=85)
        print(f"wrote {args.sheet}")
    print("| measure | mean | min | max |\n| --- | --- | --- | --- |")
    for name, values in rows.items():
        v = np.asarray(values)
        print(f"| {name} | {v.mean():.2f} | {v.min():.2f} | {v.max():.2f} |")


if __name__ == "__main__":
    main()
