"""Writing the world out as a dataset: videos plus a manifest, in the format real datasets use too."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from tessera.data.contact_sheet import contact_sheet, save_image
from tessera.data.manifest import MANIFEST_NAME, Record, write_manifest
from tessera.data.video_io import write_video
from tessera.world.captions import captions
from tessera.world.render import render
from tessera.world.scene import Scene, sample_scene, scene_split

VIDEO_FORMATS = ("mp4", "gif", "webp")


def export_world(
    out: str | Path,
    num: int,
    *,
    seed: int = 0,
    split: str = "train",
    height: int = 128,
    width: int = 128,
    fps: int = 8,
    num_frames: int = 17,
    video_format: str = "mp4",
    sheet: bool = False,
    progress: bool = True,
) -> Path:
    """Render `num` scenes (seeds seed .. seed+num-1) into out/videos/ and write out/manifest.jsonl.

    With sheet=True also write out/contact_sheet.png, a row of frames per clip with its short caption.
    Returns the manifest's path.
    """
    if num < 1:
        raise ValueError(f"--num must be >= 1, got {num}")
    if video_format not in VIDEO_FORMATS:
        raise ValueError(f"unknown video format {video_format!r}; allowed: {', '.join(VIDEO_FORMATS)}")
    out = Path(out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    records, videos, labels = [], [], []
    for i in tqdm(range(seed, seed + num), desc="rendering the world", unit="clip", disable=not progress):
        scene = sample_scene(i, height=height, width=width, fps=fps, num_frames=num_frames, split=split)
        video = render(scene).video
        name = f"videos/{i:06d}.{video_format}"
        write_video(out / name, video, fps)
        records.append(_record(name, scene, i))
        if sheet:
            videos.append(video)
            labels.append(f"{i}: {records[-1].captions['en'][0]}")
    manifest = write_manifest(out / MANIFEST_NAME, records)
    if sheet:
        save_image(contact_sheet(videos, labels), out / "contact_sheet.png")
    return manifest


def _record(path: str, scene: Scene, seed: int) -> Record:
    by_detail = captions(scene, seed=seed)  # {lang: {detail: text}}, short to detailed
    return Record(
        path=path,
        captions={lang: list(texts.values()) for lang, texts in by_detail.items()},
        num_frames=scene.num_frames,
        height=scene.height,
        width=scene.width,
        fps=scene.fps,
        spec=scene.to_dict(),
        split=scene_split(scene),
    )
