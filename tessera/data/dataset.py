"""Datasets of captioned clips: the synthetic world (rendered on demand from seeds) and any manifest.

Both return the same item, so training code does not know where clips come from:

    {"video": float32 tensor (3, F, H, W) in [-1, 1], "captions": {lang: [text, ...]}, "key": str}

Each item has a geometry, `dataset.bucket(index)` (tessera/data/buckets.py), known without reading the clip:
its F, H, W. With no data.buckets every item has the config's one size. The VAE's batches are drawn by
`batch_indices(seed, step, ...)`: a pure function of the step, so a resumed run draws exactly the batches
the interrupted one would have drawn; the DiT's come from the bucket sampler, whose position is saved.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tessera.config import DataConfig
from tessera.data.buckets import Bucket, bucket_for, config_buckets
from tessera.data.manifest import Record, read_manifest, resolve
from tessera.data.video_io import to_video_tensor
from tessera.world.captions import captions as world_captions
from tessera.world.render import render
from tessera.world.scene import sample_scene


class WorldClips(torch.utils.data.Dataset):
    """Scenes of the world's training split, seeds cfg.seed .. cfg.seed + cfg.num_scenes - 1.

    The world renders any canvas and length, so each scene's native geometry is one of the buckets, drawn
    uniformly by (cfg.seed, index): a scene keeps its geometry whatever num_scenes is.
    """

    def __init__(self, cfg: DataConfig, *, split: str = "train") -> None:
        if cfg.num_scenes < 1:
            raise ValueError(f"data.num_scenes must be >= 1, got {cfg.num_scenes}")
        self.cfg, self.split = cfg, split
        self.buckets = config_buckets(cfg)

    def __len__(self) -> int:
        return self.cfg.num_scenes

    def bucket(self, index: int) -> Bucket:
        return self.buckets[int(np.random.default_rng([self.cfg.seed, index]).integers(len(self.buckets)))]

    def scene(self, index: int):
        size = self.bucket(index)
        return sample_scene(
            self.cfg.seed + index,
            height=size.height,
            width=size.width,
            fps=self.cfg.fps,
            num_frames=size.num_frames,
            split=self.split,
            mix=self.cfg.world,
        )

    def __getitem__(self, index: int) -> dict[str, Any]:
        scene = self.scene(index)
        texts = world_captions(scene, seed=self.cfg.seed + index)
        drawn = render(scene, masks=True)
        return {
            "video": to_video_tensor(drawn.video),
            # (F, H, W) share of each pixel that shows an object (for an object-weighted loss)
            "objects": torch.from_numpy(drawn.visible.sum(0).clip(0, 1)),
            "captions": keep_captions(
                {lang: list(texts[lang].values()) for lang in self.cfg.languages},
                self.cfg.captions_per_language,
                index,
            ),
            "key": f"world:{self.cfg.seed + index}",
        }


class ManifestClips(torch.utils.data.Dataset):
    """Clips of a manifest (world export or real footage), read at the config's fps, each at its bucket's
    size (scaled to cover, centre crop) and length.

    With data.buckets, a record's own width, height and frames (at the training fps) pick its bucket
    (`bucket_for`); without, every clip is read at the config's one size, a short one looped to length.
    """

    def __init__(self, cfg: DataConfig) -> None:
        self.cfg, self.folder = cfg, Path(cfg.source)
        self.records = read_manifest(self.folder)
        if not self.records:
            raise ValueError(f"{self.folder}: the manifest lists no clips")
        self.buckets = config_buckets(cfg)
        self.item_buckets = [self.native_bucket(record) for record in self.records]

    def native_bucket(self, record: Record) -> Bucket:
        """The bucket `record` trains in (ValueError naming the clip when none fits)."""
        if not self.cfg.buckets:
            return self.buckets[0]
        frames = record.num_frames
        if frames > 1:  # a video resampled to the training fps keeps at least this many frames
            frames = max(1, math.floor(frames * self.cfg.fps / record.fps))
        try:
            return bucket_for(record.width, record.height, frames, self.buckets)
        except ValueError as e:
            raise ValueError(f"{self.folder}: {record.path}: {e}") from None

    def __len__(self) -> int:
        return len(self.records)

    def bucket(self, index: int) -> Bucket:
        return self.item_buckets[index]

    def __getitem__(self, index: int) -> dict[str, Any]:
        record, size = self.records[index], self.item_buckets[index]
        from tessera.data.video_io import read_video  # PyAV loads only where real files are read

        # A clip of a longer file (`data index` cuts long videos) is read from its start, by time.
        window = (
            {"start": record.start, "end": record.start + size.num_frames / self.cfg.fps}
            if record.start
            else {"start_frame": 0, "num_frames": size.num_frames}
        )
        clip = read_video(
            resolve(self.folder, record), **window, fps=self.cfg.fps, size=(size.height, size.width)
        ).frames[: size.num_frames]
        if len(clip) < size.num_frames:  # a short clip is looped rather than dropped
            clip = np.concatenate([clip] * (size.num_frames // len(clip) + 1))[: size.num_frames]
        texts = {lang: record.captions[lang] for lang in self.cfg.languages if lang in record.captions}
        if not texts:
            texts = record.captions
        texts = keep_captions(texts, self.cfg.captions_per_language, index)
        key = f"{record.path}@{record.start:g}s" if record.start else record.path  # clips of one file differ
        return {"video": to_video_tensor(clip), "captions": texts, "key": key}


class SkipUnreadable(torch.utils.data.Dataset):
    """A dataset whose items that cannot be read (a file gone missing, truncated or corrupt since the
    manifest was made: a VideoError) are replaced by the next readable item. `skipped` maps each bad index to
    why; each is reported once, on stderr."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset
        self.skipped: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def bucket(self, index: int) -> Bucket:
        return self.dataset.bucket(index)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from tessera.data.video_io import VideoError

        for offset in range(len(self.dataset)):
            i = (index + offset) % len(self.dataset)
            if i in self.skipped:
                continue
            try:
                return self.dataset[i]
            except VideoError as error:
                self.skipped[i] = str(error)
                print(f"skipping a clip that cannot be read: {error}", file=sys.stderr)
        raise ValueError(f"none of the {len(self.dataset)} clips can be read, e.g. {self.skipped[index]}")


def keep_captions(captions: dict[str, list[str]], per_language: int, index: int) -> dict[str, list[str]]:
    """`per_language` captions of each language (all when 0), rotating with `index` so that every detail
    level is used across the dataset. Text encoding costs per caption; this bounds it."""
    if per_language <= 0:
        return captions
    kept = {}
    for lang, texts in captions.items():
        start = index % len(texts)
        kept[lang] = [texts[(start + i) % len(texts)] for i in range(min(per_language, len(texts)))]
    return kept


def make_dataset(cfg: DataConfig) -> WorldClips | ManifestClips:
    """The dataset `cfg.source` names: "world", or a folder holding manifest.jsonl."""
    if cfg.source == "world":
        return WorldClips(cfg)
    if not Path(cfg.source).exists():
        raise ValueError(f"data.source {cfg.source!r}: not 'world' and no such folder")
    return ManifestClips(cfg)


def batch_indices(seed: int, step: int, batch_size: int, num_items: int) -> list[int]:
    """The dataset indices of batch `step`: deterministic in (seed, step), so resuming needs no state."""
    g = np.random.default_rng([seed, step])
    return g.integers(0, num_items, size=batch_size).tolist()


def pick_caption(captions: dict[str, list[str]], seed: int, step: int, slot: int) -> str:
    """One caption among all languages and detail levels, chosen deterministically per (step, slot)."""
    texts = [t for lang in sorted(captions) for t in captions[lang]]
    return texts[np.random.default_rng([seed, step, slot]).integers(len(texts))]


def random_crop(video: torch.Tensor, side: int, rng: np.random.Generator) -> torch.Tensor:
    """A random side x side crop of a (C, F, H, W) video (the whole video if it is not larger)."""
    h, w = video.shape[-2:]
    if side <= 0 or (side >= h and side >= w):
        return video
    if side > h or side > w:
        raise ValueError(f"crop {side} is larger than the {h}x{w} clips")
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return video[..., y : y + side, x : x + side]
