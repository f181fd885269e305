"""World rendering speed, scorer speed, and the scorer's verdicts on true and wrong videos.

    python benchmarks/world_and_scorer.py [--scenes 500] [--corrupt-scenes 60]

Speeds are per core (torch and numpy threads pinned to 1). Baselines measured in the same run: rendering is
compared with H.264-encoding the same frames through PyAV (what writing the clip costs anyway), scoring with
decoding the clip from MP4 (what reading it costs anyway), and with the issue's budget of 0.2 s per 2-second
128x128 clip.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from tessera.data.video_io import read_video, write_video  # noqa: E402
from tessera.eval.corrupt import CORRUPTIONS, blurred, compressed, exposed, noisy  # noqa: E402
from tessera.eval.scorer import score  # noqa: E402
from tessera.machine import cpu_name  # noqa: E402
from tessera.world.captions import DETAILS, LANGS, caption  # noqa: E402
from tessera.world.prompts import parse_prompt  # noqa: E402
from tessera.world.render import render  # noqa: E402
from tessera.world.scene import sample_scene  # noqa: E402

SIZES = [(64, 64), (96, 96), (128, 128), (72, 128), (128, 72), (90, 160)]


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def render_speed(side: int, num_scenes: int = 40) -> tuple[float, float]:
    scenes = [sample_scene(i, height=side, width=side, split="any") for i in range(num_scenes)]
    frames = sum(s.num_frames for s in scenes)
    t_render = best_of(lambda: [render(s) for s in scenes])
    videos = [render(s).video for s in scenes]
    with tempfile.TemporaryDirectory() as d:
        t_encode = best_of(lambda: [write_video(f"{d}/{i}.mp4", v, 8) for i, v in enumerate(videos)], 1)
    return frames / t_render, frames / t_encode


def scorer_speed() -> tuple[float, float]:
    scene = sample_scene(1, height=128, width=128, fps=16, num_frames=33, split="any")
    video = render(scene).video
    with tempfile.TemporaryDirectory() as d:
        write_video(f"{d}/clip.mp4", video, 16)
        t_decode = best_of(lambda: read_video(f"{d}/clip.mp4"))
    return best_of(lambda: score(video, scene)), t_decode


def degraded(num_scenes: int) -> None:
    """Right videos made less clean, as a generator's are: they should keep scoring high."""
    kinds = {
        "H.264 crf 28": lambda v, s: compressed(v, s.fps, crf=28),
        "noise sigma 8": lambda v, s: noisy(v, 8.0),
        "noise sigma 20": lambda v, s: noisy(v, 20.0),
        "blur radius 1": lambda v, s: blurred(v, 1.0),
        "blur radius 2": lambda v, s: blurred(v, 2.0),
        "25% darker": lambda v, s: exposed(v, 0.75),
        "12% brighter": lambda v, s: exposed(v, 1.12),
    }
    for name, degrade in kinds.items():
        vals = []
        for i in range(700, 700 + num_scenes):
            h, w = SIZES[i % len(SIZES)]
            if h % 2 or w % 2:
                continue
            s = sample_scene(
                i, height=h, width=w, split="any", p_occlusion=0.25, p_multishot=0.15, p_camera=0.2
            )
            vals.append(score(degrade(render(s).video, s), s).total)
        stats = f"mean {np.mean(vals):.3f}  min {np.min(vals):.3f}  (n={len(vals)})"
        print(f"right but degraded: {name:<15} {stats}")


def prompt_mode(num_scenes: int) -> None:
    """True clips against their own captions (every language and detail), and wrong clips against theirs."""
    for lang in LANGS:
        cells = []
        for detail in DETAILS:
            totals = []
            for i in range(9000, 9000 + num_scenes):
                h, w = SIZES[i % len(SIZES)]
                s = sample_scene(
                    i, height=h, width=w, split="any", p_occlusion=0.25, p_multishot=0.15, p_camera=0.2
                )
                p = parse_prompt(
                    caption(s, lang=lang, detail=detail, seed=i),
                    height=h,
                    width=w,
                    fps=s.fps,
                    num_frames=s.num_frames,
                )
                totals.append(score(render(s).video, p.scene, stated=p.stated).total)
            cells.append(f"{detail} {np.mean(totals):.3f}")
        print(f"prompt mode, true clips vs their {lang} captions: " + ", ".join(cells))
    for name, corrupt in CORRUPTIONS.items():
        vals = []
        for i in range(9000, 9000 + num_scenes):
            h, w = SIZES[i % len(SIZES)]
            s = sample_scene(
                i, height=h, width=w, split="any", p_occlusion=0.25, p_multishot=0.15, p_camera=0.2
            )
            bad = corrupt(s, render(s).video, i)
            if bad is not None:
                p = parse_prompt(
                    caption(s, lang="en", detail="detailed", seed=i),
                    height=h,
                    width=w,
                    fps=s.fps,
                    num_frames=s.num_frames,
                )
                vals.append(score(bad, p.scene, stated=p.stated).total)
        print(
            f"prompt mode, wrong video vs detailed caption: {name:<16} mean {np.mean(vals):.3f} "
            f"(n={len(vals)})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=500)
    ap.add_argument("--corrupt-scenes", type=int, default=60)
    args = ap.parse_args()
    print(f"device: {cpu_name()} ({platform.machine()}), 1 thread, python {platform.python_version()}")
    for side in (128, 256):
        fps, encode_fps = render_speed(side)
        print(
            f"render {side}x{side}: {fps:7.0f} frames/s per core   "
            f"(H.264 encode of the same frames: {encode_fps:6.0f} frames/s; "
            f"render/encode = {fps / encode_fps:.1f}x)"
        )
    t_score, t_decode = scorer_speed()
    print(
        f"score a 2 s 128x128 clip (33 frames): {t_score * 1000:.0f} ms   "
        f"(MP4 decode: {t_decode * 1000:.0f} ms; "
        f"score/decode = {t_score / t_decode:.1f}x; budget 200 ms: {t_score / 0.2:.2f}x of it)"
    )

    totals, through_mp4 = [], []
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.scenes):
            h, w = SIZES[i % len(SIZES)]
            s = sample_scene(
                i, height=h, width=w, split="any", p_occlusion=0.25, p_multishot=0.15, p_camera=0.2
            )
            video = render(s).video
            totals.append(score(video, s).total)
            write_video(f"{d}/clip.mp4", video, s.fps)  # the default export: H.264, crf 18, yuv420p
            through_mp4.append(score(read_video(f"{d}/clip.mp4").frames, s).total)
    for name, values in (("rendered", totals), ("through the default MP4 export", through_mp4)):
        v = np.array(values)
        print(
            f"ground truth over {args.scenes} scenes (64x64 .. 160x90), {name}: mean {v.mean():.4f}, "
            f"min {v.min():.4f}, share >= 0.98: {np.mean(v >= 0.98):.3f}"
        )
    for name, corrupt in CORRUPTIONS.items():
        vals = []
        for i in range(5000, 5000 + args.corrupt_scenes):
            h, w = SIZES[i % len(SIZES)]
            s = sample_scene(
                i, height=h, width=w, split="any", p_occlusion=0.25, p_multishot=0.15, p_camera=0.2
            )
            bad = corrupt(s, render(s).video, i)
            if bad is not None:
                vals.append(score(bad, s).total)
        print(f"wrong video: {name:<16} mean {np.mean(vals):.3f}  max {np.max(vals):.3f}  (n={len(vals)})")
    degraded(args.corrupt_scenes)
    prompt_mode(args.corrupt_scenes)


if __name__ == "__main__":
    main()
