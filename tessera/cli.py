"""The `tessera` command: parse arguments, build a request, make one call. No logic lives here.

tessera generate "PROMPT" --out x.mp4 [--seed --steps --guidance --frames --size --model DIR]
    [--image F | --extend forward|backward V | --connect A B | --loop | --edit V | --duration SECONDS]
tessera generate --storyboard SHOTS.json --out x.mp4 [...]   shots, each a prompt and a length
tessera train-vae --preset NAME [key=value ...]
tessera train-dit --preset NAME [key=value ...]
tessera train-world --scale SCALE --out DIR [--install]   a world model's whole recipe
tessera world sample --num 8 --out DIR      videos, captions and a contact sheet to look at
tessera world export --num N --out DIR      a dataset: videos + manifest.jsonl
tessera data index DIR --out manifest.jsonl  a manifest of a folder of real videos with caption sidecars
tessera world render (--spec F | --prompt P) --out FILE
tessera world parse PROMPT                  the scene a world prompt describes, as JSON
tessera eval score VIDEO (--spec F | --prompt P)
tessera eval run --model DIR --num N --out DIR  generate and score held-out prompts, with a report
tessera eval compare A B                    two eval run reports on the same prompts, prompt by prompt
tessera convert wan SRC OUT [--dtype bf16]  a diffusers Wan folder -> a tessera model folder
tessera serve [--model DIR] [--port 8000] [--data DIR] [--workers N]   the HTTP videos API and its page
tessera verify FILE [--trust CA.pem]        print a video's C2PA manifest; exit 1 if it does not validate
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

from tessera.world.scene import SCENE_MIXES

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # where `generate --frames 1` may write a single image
SIZE_HELP = "canvas as WIDTHxHEIGHT in pixels, e.g. 128x128, 160x90 (16:9), 90x160 (9:16)"


def parse_size(text: str) -> tuple[int, int]:
    """'WIDTHxHEIGHT' -> (height, width), as `generate` and the server read sizes (task.parse_size)."""
    from tessera.task import parse_size as parse

    try:
        return parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_int(text: str) -> int:
    """A whole number >= 1 (frame rates and frame counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _add_canvas_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=parse_size, default=(128, 128), help=SIZE_HELP)
    p.add_argument("--fps", type=positive_int, default=8, help="frames per second (default 8)")
    p.add_argument(
        "--frames", type=positive_int, default=17, help="frames per clip (default 17: 4k+1, about 2 s)"
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tessera", description="tessera: an open, Sora-style video generator.")
    commands = ap.add_subparsers(dest="command", required=True)

    p = commands.add_parser("generate", help="generate a video from a text prompt (English or Chinese)")
    p.add_argument("prompt", nargs="?", default=None, help="what the video shows (not with --storyboard)")
    p.add_argument("--out", type=Path, required=True, help="video file (.mp4, .gif, .webp) or PNG folder")
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="a tessera model folder or a diffusers Wan folder (default: the shipped world model)",
    )
    p.add_argument("--seed", type=int, default=0, help="same seed, same video (default 0)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (1 = off)")
    p.add_argument("--shift", type=float, default=None, help="timestep shift (default: the model's)")
    p.add_argument("--solver", default=None, help="euler, heun, dpmpp_2m or unipc (default: the model's)")
    p.add_argument("--negative", default=None, help="negative prompt (default: the model's, usually empty)")
    p.add_argument(
        "--step-cache",
        type=float,
        default=0.0,
        help="skip the DiT's later blocks on steps where its first block changed less than this (e.g. 0.1; "
        "faster, slightly different; default 0 = off)",
    )
    p.add_argument(
        "--no-rewrite",
        action="store_true",
        help="give the text encoder the prompt as written (a model trained on world captions otherwise reads "
        "a world prompt as the caption it amounts to)",
    )
    p.add_argument("--frames", type=int, default=None, help="number of frames, 4k+1 (default: the model's)")
    p.add_argument(
        "--size",
        default=None,
        help=SIZE_HELP + "; or an aspect W:H such as 16:9, 9:16, 1:1 at about the model's area "
        "(default: the model's size)",
    )
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument(
        "--dtype", choices=("fp32", "bf16", "fp16"), default="fp32", help="DiT and text encoder weights"
    )
    p.add_argument(
        "--vae-tile", type=int, default=None, help="decode in tiles of this many pixels a side (less memory)"
    )
    p.add_argument(
        "--offload-text", action="store_true", help="run the text encoder on the CPU (frees device memory)"
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--image", type=Path, default=None, help="image to animate: it becomes the --image-frame"
    )
    mode.add_argument(
        "--extend",
        nargs=2,
        metavar=("DIRECTION", "VIDEO"),
        help="continue VIDEO forward (after its end) or backward (before its start); the output holds it",
    )
    mode.add_argument(
        "--connect", nargs=2, type=Path, metavar=("A", "B"), help="A, then a transition, then B"
    )
    mode.add_argument("--loop", action="store_true", help="a video whose last frame flows into its first")
    mode.add_argument(
        "--edit", type=Path, default=None, help="redo VIDEO to follow the prompt, keeping layout and motion"
    )
    mode.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds of video, longer than the model's window: made by extending window after window",
    )
    mode.add_argument(
        "--storyboard",
        type=Path,
        default=None,
        help='JSON list of shots, each {"prompt": ..., "seconds": s} (or "frames": n): one video, shot after '
        "shot, the objects carried across the cuts",
    )
    p.add_argument(
        "--image-frame", type=int, default=0, help="output frame the image becomes (default 0; -1 = the last)"
    )
    p.add_argument(
        "--strength",
        type=float,
        default=None,
        help="how much of the --image or --edit video is kept, in (0, 1] (default 1 for --image, 0.6 for "
        "--edit, which must stay below 1)",
    )
    _add_policy_and_signing_args(p)
    for name, what in (("train-vae", "the video VAE"), ("train-dit", "the diffusion transformer")):
        p = commands.add_parser(name, help=f"train {what} (resumes from the run folder's checkpoints)")
        p.add_argument("--preset", required=True, help="a named config from tessera.presets")
        p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=1e-4 loop.out=runs/x")
        p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p = commands.add_parser("train-world", help="the shipped model's recipe: VAE, DiT, eval, model card")
    p.add_argument(
        "--scale",
        choices=("cpu", "cpu-plain", "cpu-one-object", "gpu"),
        default="cpu",
        help="the recipe (tessera.train.recipe): a CPU model of the whole world (default), of the plain "
        "world or of the one-object world, or the GPU one",
    )
    p.add_argument("--out", type=Path, default=Path("runs/world"), help="run folder (default runs/world)")
    p.add_argument("--eval-num", type=int, default=16, help="held-out prompts per group for the card")
    p.add_argument("--install", action="store_true", help="copy the result over the package's shipped model")
    p.add_argument("overrides", nargs="*", help="dotted overrides for both stages, e.g. loop.device=cuda")

    world = commands.add_parser(
        "world", help="the synthetic world: sample, export, render, parse"
    ).add_subparsers(dest="action", required=True)
    for name, help_text in (
        ("sample", "a few clips with captions and a contact sheet, to look at"),
        ("export", "a dataset of clips plus manifest.jsonl, to train on"),
    ):
        p = world.add_parser(name, help=help_text)
        p.add_argument("--num", type=int, default=8 if name == "sample" else 1000, help="number of clips")
        p.add_argument("--out", type=Path, required=True, help="output folder")
        p.add_argument("--seed", type=int, default=0, help="first scene seed; clip i uses seed+i")
        p.add_argument(
            "--split",
            choices=("train", "heldout", "any"),
            default="train",
            help="draw scenes from the training split, the held-out combinations, or both",
        )
        p.add_argument("--format", choices=("mp4", "gif", "webp"), default="mp4", dest="video_format")
        _add_canvas_args(p)
        if name == "export":
            p.add_argument("--sheet", action="store_true", help="also write contact_sheet.png")
    p = world.add_parser("render", help="render one scene, from a spec file or a world prompt")
    _add_scene_source(p)
    p.add_argument("--out", type=Path, required=True, help="video file (.mp4, .gif, .webp) or PNG folder")
    _add_canvas_args(p)
    p = world.add_parser("parse", help="print the scene a world prompt describes (English or Chinese)")
    p.add_argument("prompt")
    _add_canvas_args(p)

    data = commands.add_parser("data", help="real footage").add_subparsers(dest="action", required=True)
    p = data.add_parser("index", help="a manifest of a folder of videos with caption sidecars (.txt, .json)")
    p.add_argument("folder", type=Path, help="the videos, searched recursively")
    p.add_argument("--out", type=Path, required=True, help="the manifest to write, e.g. DIR/manifest.jsonl")
    p.add_argument(
        "--clip-seconds", type=float, default=10.0, help="cut longer videos (default 10; 0: never)"
    )
    p.add_argument("--min-seconds", type=float, default=1.0, help="drop a shorter last clip (default 1)")
    p.add_argument("--language", default="en", help="language of .txt captions (default en)")
    p.add_argument("--workers", type=int, default=0, help="processes decoding files (default 0: this one)")

    ev = commands.add_parser("eval", help="score videos").add_subparsers(dest="action", required=True)
    p = ev.add_parser("score", help="check a video claim by claim against a scene spec or a world prompt")
    p.add_argument("video", type=Path)
    _add_scene_source(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p = ev.add_parser("compare", help="two eval run reports on the same prompts, prompt by prompt")
    p.add_argument("a", type=Path, help="report.json (or its folder) of the baseline")
    p.add_argument("b", type=Path, help="report.json (or its folder) of the model compared with it")
    p = ev.add_parser("run", help="generate and score N held-out world prompts per group; write a report")
    p.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped model)")
    p.add_argument("--num", type=int, default=8, help="prompts per group (seen, held-out, Chinese, human)")
    p.add_argument("--out", type=Path, default=Path("runs/eval"), help="report folder (default runs/eval)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    p.add_argument("--detail", choices=("short", "medium", "detailed"), default="short", help="caption level")
    p.add_argument(
        "--world",
        choices=tuple(SCENE_MIXES),
        default=None,
        help="draw the prompts from this part of the world (default: the one the model trained on)",
    )
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument(
        "--no-rewrite",
        action="store_true",
        help="give the text encoder the prompts as written (see generate)",
    )

    convert = commands.add_parser("convert", help="outside weights -> a tessera model folder").add_subparsers(
        dest="action", required=True
    )
    p = convert.add_parser(
        "wan",
        help="a diffusers Wan2.1 / Wan2.2 folder (model_index.json, transformer/, vae/, text_encoder/, ...)",
    )
    p.add_argument("src", type=Path, help="the diffusers folder, e.g. Wan2.1-T2V-1.3B-Diffusers")
    p.add_argument("out", type=Path, help="the new tessera model folder (must not exist or be empty)")
    p.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), default="bf16", help="weights (default bf16)")

    p = commands.add_parser(
        "serve", help="the HTTP videos API (OpenAI's shape), its job queue and a web page"
    )
    p.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped model)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--data",
        type=Path,
        default=Path("tessera-data"),
        help="job database and videos (default tessera-data)",
    )
    p.add_argument(
        "--workers", type=int, default=1, help="worker processes, each loading the model (default 1)"
    )
    p.add_argument("--device", default="cpu", help="torch device of the workers (default cpu)")
    p.add_argument(
        "--dtype", choices=("fp32", "bf16", "fp16"), default="fp32", help="DiT and text encoder weights"
    )
    p.add_argument("--max-queued", type=int, default=100, help="queued jobs before new ones get HTTP 429")
    p.add_argument(
        "--max-upload-mb", type=float, default=20.0, help="largest input_reference upload (default 20)"
    )
    _add_policy_and_signing_args(p)

    p = commands.add_parser("verify", help="check a video's C2PA manifest: exit 0 if it validates, 1 if not")
    p.add_argument("file", type=Path, help="a video file (.mp4, .gif, .webp), image, or PNG frame folder")
    p.add_argument(
        "--trust", type=Path, action="append", default=[], help="a CA (PEM) to trust besides the local one"
    )
    p.add_argument("--json", action="store_true", help="print the whole manifest store as JSON")
    return ap


def _add_policy_and_signing_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy",
        default=None,
        help="prompt policy 'package.module:function' (prompt -> None, or a reason to refuse; default: a "
        "word list in English and Chinese)",
    )
    p.add_argument(
        "--sign-cert", type=Path, default=None, help="PEM certificate chain to sign videos with (C2PA)"
    )
    p.add_argument(
        "--sign-key",
        type=Path,
        default=None,
        help="its private key (default for both: a local CA and certificate, made on first use)",
    )


def _add_scene_source(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--spec", type=Path, help="scene spec JSON file (as in a manifest's 'spec')")
    src.add_argument("--prompt", help="a world prompt, English or Chinese")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "world":
            return _world(args)
        if args.command == "generate":
            return _generate(args)
        if args.command in ("train-vae", "train-dit"):
            return _train(args)
        if args.command == "train-world":
            from tessera.train.recipe import main as recipe

            print(
                "model folder:",
                recipe(
                    args.scale,
                    args.out,
                    eval_num=args.eval_num,
                    install=args.install,
                    overrides=tuple(args.overrides),
                ),
            )
            return 0
        if args.command == "data":
            return _data_index(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "verify":
            return _verify(args)
        if args.command == "convert":
            from tessera.convert.wan_pipeline import convert_wan

            print("model folder:", convert_wan(args.src, args.out, dtype=args.dtype))
            return 0
        if args.action == "run":
            return _eval_run(args)
        if args.action == "compare":
            return _eval_compare(args)
        return _eval(args)
    except ValueError as e:
        print(f"tessera: error: {e}", file=sys.stderr)
        return 2


def _world(args: argparse.Namespace) -> int:
    from tessera.world.export import export_world

    if args.action in ("sample", "export"):
        h, w = args.size
        manifest = export_world(
            args.out,
            args.num,
            seed=args.seed,
            split=args.split,
            height=h,
            width=w,
            fps=args.fps,
            num_frames=args.frames,
            video_format=args.video_format,
            sheet=args.action == "sample" or args.sheet,
        )
        print(f"wrote {args.num} clips and {manifest}")
        if (args.out / "contact_sheet.png").exists():
            print(f"contact sheet: {args.out / 'contact_sheet.png'}")
        return 0
    if args.action == "parse":
        parsed = _parse(args.prompt, args)
        print(
            json.dumps(
                {"scene": parsed.scene.to_dict(), "stated": parsed.stated.to_dict()},
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    from tessera.data.video_io import write_video
    from tessera.world.render import render

    scene = _load_spec(args.spec) if args.spec else _parse(args.prompt, args).scene
    try:
        write_video(args.out, render(scene).video, scene.fps)
    except OSError as e:  # a read-only folder, a full disk: nothing was put in place of an old file
        raise ValueError(f"{args.out}: could not write the output ({e.strerror or e})") from e
    print(f"wrote {args.out} ({scene.num_frames} frames, {scene.width}x{scene.height}, {scene.fps} fps)")
    return 0


def _data_index(args: argparse.Namespace) -> int:
    from tessera.data.manifest import index_folder

    done = index_folder(
        args.folder,
        args.out,
        clip_seconds=args.clip_seconds,
        min_seconds=args.min_seconds,
        language=args.language,
        workers=args.workers,
    )
    print(f"{done.manifest}: {done.num_clips} clips from {done.num_files} files")
    if done.skipped:
        print(
            f"{len(done.skipped)} files left out, one line each in {done.report}:", *done.skipped, sep="\n  "
        )
    return 0


def _generate(args: argparse.Namespace) -> int:
    from tessera import provenance
    from tessera.pipeline import Generator
    from tessera.policy import check_prompts, load_policy
    from tessera.task import VideoTask, rehearse, run

    task = VideoTask(
        prompt=args.prompt,
        size=args.size,
        num_frames=args.frames,
        seed=args.seed,
        steps=args.steps,
        guidance=args.guidance,
        shift=args.shift,
        solver=args.solver,
        negative_prompt=args.negative,
        step_cache=args.step_cache,
        rewrite=not args.no_rewrite,
        image=args.image,
        image_frame=args.image_frame,
        strength=args.strength,
        extend=(args.extend[0], Path(args.extend[1])) if args.extend else None,
        connect=tuple(args.connect) if args.connect else None,
        loop=args.loop,
        edit=args.edit,
        duration=args.duration,
        storyboard=args.storyboard,
    )
    _check_output(args.out)
    check_prompts(load_policy(args.policy), task.prompts())
    signing = provenance.signing(args.sign_cert, args.sign_key)
    generator = Generator(
        args.model,
        device=args.device,
        dtype=args.dtype,
        vae_tile=args.vae_tile,
        offload_text=args.offload_text,
    )
    window = rehearse(generator, task)
    if Path(args.out).suffix.lower() in IMAGE_SUFFIXES and (
        window.num_frames != 1 or task.mode in ("extend", "connect", "loop", "long", "storyboard")
    ):
        raise ValueError(
            f"{args.out} is an image file, for --frames 1 only; use .mp4, .gif, .webp or a folder"
        )
    video = run(generator, task, progress=True)
    claim = provenance.claim_for(generator.model_dir, task.prompts(), task.mode)
    try:
        provenance.write_signed(
            args.out, lambda path: _write_output(path, video.frames, video.fps), claim, signing
        )
    except OSError as e:  # a read-only folder, a full disk: nothing was put in place of the old file
        raise ValueError(f"{args.out}: could not write the output ({e.strerror or e})") from e
    r = video.request
    count, mode = len(video.frames), video.info.get("mode")
    what = f"{count} frame{'s' * (count != 1)}, {r.width}x{r.height}, {video.fps} fps, seed {r.seed}"
    if "prompt_read_as" in video.info:
        print(f"prompt read as: {video.info['prompt_read_as']!r} (--no-rewrite: as written)")
    print(f"wrote {args.out} ({what}{', ' + mode if mode else ''}), signed (C2PA)")
    return 0


def _check_output(out: Path) -> None:
    """Refuse an output `generate` could not write, before any work: an unknown suffix, a folder holding other
    files, a parent that is a file or not writable. (An image file for more than one frame is refused after
    `rehearse`.)"""
    from tessera.data.video_io import WRITE_SUFFIXES, check_frame_folder

    suffix = out.suffix.lower()
    if out.is_dir() or not suffix or str(out).endswith(("/", os.sep)):
        check_frame_folder(out)
    elif suffix not in (*WRITE_SUFFIXES, *IMAGE_SUFFIXES):
        allowed = ", ".join((*WRITE_SUFFIXES, *IMAGE_SUFFIXES))
        raise ValueError(f"{out}: unknown output suffix {out.suffix!r}; use one of {allowed} or a folder")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ValueError(f"{out}: {parent} is a file, not a folder")
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{out}: cannot write into {parent} (permission denied)")


def _write_output(path: Path, frames, fps: float) -> None:
    """A video file or PNG folder; a single frame may also go to an image file (.png, .jpg), written under a
    temporary name and renamed into place, so a failed write never replaces an older file."""
    from tessera.data.video_io import write_video

    path = Path(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        from PIL import Image

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}{path.suffix}")
        try:
            Image.fromarray(frames[0]).save(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return
    write_video(path, frames, fps)


def _serve(args: argparse.Namespace) -> int:
    try:
        from tessera.serve.api import ServeConfig, serve
    except ImportError as e:
        raise ValueError(
            f"tessera serve needs the serve extra: pip install 'tessera-video[serve]' ({e})"
        ) from e

    config = ServeConfig(
        data=args.data,
        model=args.model,
        host=args.host,
        port=args.port,
        workers=args.workers,
        device=args.device,
        dtype=args.dtype,
        policy=args.policy,
        sign_cert=args.sign_cert,
        sign_key=args.sign_key,
        max_queued=args.max_queued,
        max_upload_mb=args.max_upload_mb,
    )
    serve(config)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from tessera.provenance import verify

    results = verify(args.file, trust=args.trust)
    for result in results:
        print(json.dumps(result.manifest, indent=2) if args.json else result.summary())
    return 0 if all(result.ok for result in results) else 1


def _train(args: argparse.Namespace) -> int:
    from tessera.config import DiTRunConfig, VAERunConfig, to_dict
    from tessera.presets import load_config

    cfg = load_config(args.preset, args.overrides)
    wanted = VAERunConfig if args.command == "train-vae" else DiTRunConfig
    if not isinstance(cfg, wanted):
        raise ValueError(f"preset {args.preset!r} is not a {args.command} preset")
    if args.print_config:
        print(json.dumps(to_dict(cfg), indent=2))
        return 0
    if args.command == "train-vae":
        from tessera.train.train_vae import main as train
    else:
        from tessera.train.train_dit import main as train
    export = train(cfg)
    print(f"exported {export}")
    return 0


def _eval_run(args: argparse.Namespace) -> int:
    from tessera.eval.adherence import run_eval
    from tessera.pipeline import Generator

    gen = Generator(args.model, device=args.device)
    summary = run_eval(
        gen,
        args.num,
        args.out,
        steps=args.steps,
        detail=args.detail,
        world=args.world,
        rewrite=not args.no_rewrite,
    )
    for key, value in summary.items():
        print(f"{key:>20}: {value:.3f}" if isinstance(value, float) else f"{key:>20}: {value}")
    print(f"report: {args.out / 'report.md'}, contact sheet: {args.out / 'contact_sheet.png'}")
    return 0


def _eval_compare(args: argparse.Namespace) -> int:
    from tessera.eval.adherence import compare

    reports = []
    for path in (args.a, args.b):
        path = path / "report.json" if path.is_dir() else path
        if not path.is_file():
            raise ValueError(f"{path}: no such report (eval run writes OUT/report.json)")
        reports.append(json.loads(path.read_text()))
    print(f"A: {args.a}\nB: {args.b}")
    print("| group | prompts | A | B | B - A (s.e.) | B higher / lower |")
    print("| --- | --- | --- | --- | --- | --- |")
    for group, r in compare(*reports).items():
        print(
            f"| {group} | {r['n']} | {r['a']:.3f} | {r['b']:.3f} | {r['diff']:+.3f} ({r['se']:.3f}) "
            f"| {r['higher']} / {r['lower']} |"
        )
    return 0


def _parse(prompt: str, args: argparse.Namespace):
    from tessera.world.prompts import parse_prompt

    h, w = args.size
    return parse_prompt(prompt, height=h, width=w, fps=args.fps, num_frames=args.frames)


def _load_spec(path: Path):
    from tessera.world.scene import Scene

    if not path.is_file():
        raise ValueError(f"{path}: no such spec file")
    try:
        return Scene.from_json(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON: {e}") from e


def _eval(args: argparse.Namespace) -> int:
    from tessera.data.video_io import probe_video, read_video
    from tessera.eval.scorer import score
    from tessera.world.prompts import parse_prompt

    skipped: tuple[str, ...] = ()
    if args.spec:
        scene, stated = _load_spec(args.spec), None
        info = probe_video(args.video)
        if (info.height, info.width) != (scene.height, scene.width):  # resized, no claim would hold
            raise ValueError(
                f"{args.video} is {info.width}x{info.height}, but the spec's canvas is "
                f"{scene.width}x{scene.height}; score a video of the spec's size"
            )
        video = read_video(args.video, fps=scene.fps).frames
        if len(video) != scene.num_frames:
            raise ValueError(
                f"{args.video}: {len(video)} frames at {scene.fps} fps, but the spec has {scene.num_frames}"
            )
    else:
        info = probe_video(args.video)
        video = read_video(args.video).frames
        parsed = parse_prompt(
            args.prompt,
            height=info.height,
            width=info.width,
            fps=round(info.fps),
            num_frames=len(video),
            skip_unknown=True,
        )
        scene, stated, skipped = parsed.scene, parsed.stated, parsed.skipped
        if skipped:  # scored on what the rest of the prompt says
            words = ", ".join(map(repr, skipped))
            print(f"warning: left out words the scorer does not know: {words}", file=sys.stderr)
    result = score(video, scene, stated=stated)
    if args.json:
        print(json.dumps({**result.to_dict(), "skipped_words": list(skipped)}, indent=2))
    else:
        print(result.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
