"""The `tessera` command: parse arguments, build a request, make one call. No logic lives here.

tessera world sample --num 8 --out DIR      videos, captions and a contact sheet to look at
tessera world export --num N --out DIR      a dataset: videos + manifest.jsonl
tessera world render (--spec F | --prompt P) --out FILE
tessera world parse PROMPT                  the scene a world prompt describes, as JSON
tessera eval score VIDEO (--spec F | --prompt P)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SIZE_HELP = "canvas as WIDTHxHEIGHT in pixels, e.g. 128x128, 160x90 (16:9), 90x160 (9:16)"


def parse_size(text: str) -> tuple[int, int]:
    """'WIDTHxHEIGHT' -> (height, width)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 128x128") from None
    if w < 8 or h < 8:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small: each side must be >= 8 pixels")
    return h, w


def _add_canvas_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=parse_size, default=(128, 128), help=SIZE_HELP)
    p.add_argument("--fps", type=int, default=8, help="frames per second (default 8)")
    p.add_argument("--frames", type=int, default=17, help="frames per clip (default 17: 4k+1, about 2 s)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tessera", description="tessera: an open, Sora-style video generator.")
    commands = ap.add_subparsers(dest="command", required=True)

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

    ev = commands.add_parser("eval", help="score videos").add_subparsers(dest="action", required=True)
    p = ev.add_parser("score", help="check a video claim by claim against a scene spec or a world prompt")
    p.add_argument("video", type=Path)
    _add_scene_source(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return ap


def _add_scene_source(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--spec", type=Path, help="scene spec JSON file (as in a manifest's 'spec')")
    src.add_argument("--prompt", help="a world prompt, English or Chinese")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "world":
            return _world(args)
        return _eval(args)
    except ValueError as e:
        print(f"tessera: error: {e}", file=sys.stderr)
        return 2


def _world(args: argparse.Namespace) -> int:
    from tessera.data.world_export import export_world

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
    from tessera.data.render import render
    from tessera.data.video_io import write_video

    scene = _load_spec(args.spec) if args.spec else _parse(args.prompt, args).scene
    write_video(args.out, render(scene).video, scene.fps)
    print(f"wrote {args.out} ({scene.num_frames} frames, {scene.width}x{scene.height}, {scene.fps} fps)")
    return 0


def _parse(prompt: str, args: argparse.Namespace):
    from tessera.data.prompts import parse_prompt

    h, w = args.size
    return parse_prompt(prompt, height=h, width=w, fps=args.fps, num_frames=args.frames)


def _load_spec(path: Path):
    from tessera.data.world import Scene

    if not path.is_file():
        raise ValueError(f"{path}: no such spec file")
    try:
        return Scene.from_json(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON: {e}") from e


def _eval(args: argparse.Namespace) -> int:
    from tessera.data.prompts import parse_prompt
    from tessera.data.video_io import probe_video, read_video
    from tessera.eval.scorer import score

    if args.spec:
        scene, stated = _load_spec(args.spec), None
        video = read_video(args.video, fps=scene.fps, size=(scene.height, scene.width)).frames
        if len(video) != scene.num_frames:
            raise ValueError(
                f"{args.video}: {len(video)} frames at {scene.fps} fps, but the spec has {scene.num_frames}"
            )
    else:
        info = probe_video(args.video)
        video = read_video(args.video).frames
        parsed = parse_prompt(
            args.prompt, height=info.height, width=info.width, fps=round(info.fps), num_frames=len(video)
        )
        scene, stated = parsed.scene, parsed.stated
    result = score(video, scene, stated=stated)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
