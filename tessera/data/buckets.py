"""Training buckets (width x height x frames) and the seeded, resumable batch sampler over them.

Sora trains at native sizes: a 16:9 clip stays 16:9, a 9:16 one stays 9:16, an image is a 1-frame video.
A bucket is one geometry; every clip trains in the bucket nearest its own (`bucket_for`), and every batch
comes from a single bucket, so a batch is one tensor and no clip is cropped to another shape or padded.
Images and videos train together: 1-frame buckets sit beside video buckets in the same epochs.

`BucketBatchSampler` draws the batches: an epoch visits every clip at most once, in an order that depends
only on (seed, epoch), so its position (epoch, batch) is all a checkpoint needs to continue exactly. A batch
is a global batch: with several processes every one draws the same and trains on its share of the rows
(tessera/train/distributed.py), so the batches do not depend on how many processes there are.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tessera.config import DataConfig


@dataclass(frozen=True)
class Bucket:
    """One training geometry: frames of width x height pixels (num_frames = 1: images)."""

    width: int
    height: int
    num_frames: int

    def __post_init__(self) -> None:
        if min(self.width, self.height, self.num_frames) < 1:
            raise ValueError(
                f"bucket sizes must be positive, got {self.width}x{self.height}x{self.num_frames}"
            )

    @classmethod
    def parse(cls, text: str) -> Bucket:
        """ "176x96x17" (WIDTHxHEIGHTxFRAMES) -> Bucket(176, 96, 17)."""
        parts = text.strip().lower().split("x")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(
                f"bucket {text!r} is not WIDTHxHEIGHTxFRAMES (e.g. 176x96x17, or 128x128x1 for images)"
            )
        return cls(*map(int, parts))

    @property
    def name(self) -> str:
        return f"{self.width}x{self.height}x{self.num_frames}"

    @property
    def aspect(self) -> float:
        """Width over height: 16:9 is 1.78, 9:16 is 0.56."""
        return self.width / self.height


def config_buckets(cfg: DataConfig) -> tuple[Bucket, ...]:
    """The buckets of a run: cfg.buckets, or when it is empty the one of the config's own size."""
    if not cfg.buckets:
        return (Bucket(cfg.width, cfg.height, cfg.num_frames),)
    buckets = tuple(Bucket.parse(text) for text in cfg.buckets)
    names = [b.name for b in buckets]
    if len(set(names)) != len(names):
        raise ValueError(f"data.buckets lists a bucket twice: {','.join(cfg.buckets)}")
    return buckets


def check_buckets(
    buckets: Sequence[Bucket], *, width_multiple: int, height_multiple: int, frame_step: int
) -> None:
    """Raise ValueError naming every bucket the models cannot take. Sides must be multiples of what one
    token covers (VAE spatial factor x DiT patch), frames frame_step k + 1 (the causal VAE's rule)."""
    bad = [
        b.name
        for b in buckets
        if b.width % width_multiple or b.height % height_multiple or (b.num_frames - 1) % frame_step
    ]
    if bad:
        raise ValueError(
            f"buckets {', '.join(bad)} do not fit the models: width must be a multiple of {width_multiple}, "
            f"height of {height_multiple}, frames {frame_step}k+1 (1 for images)"
        )


def bucket_for(width: int, height: int, num_frames: int, buckets: Sequence[Bucket]) -> Bucket:
    """The bucket a clip of this native geometry trains in.

    Length first: an image (1 frame) goes to a 1-frame bucket, a video to the longest bucket length it can
    fill (<= its frames; 1 when no video bucket is that short), so clips are cut, never looped. Among the
    buckets of that length the nearest aspect wins (distance in log ratio, so 2:1 and 1:2 are equally far
    from 1:1), then the nearest pixel count.
    """
    if min(width, height, num_frames) < 1:
        raise ValueError(f"clip geometry must be positive, got {width}x{height}x{num_frames}")
    lengths = [b.num_frames for b in buckets if b.num_frames <= num_frames]
    if not lengths:
        allowed = ", ".join(b.name for b in buckets)
        raise ValueError(f"no bucket fits a clip of {width}x{height}x{num_frames}; buckets: {allowed}")
    length = max(lengths)

    def distance(b: Bucket) -> tuple[float, float]:
        return abs(math.log(b.aspect * height / width)), abs(math.log(b.width * b.height / (width * height)))

    return min((b for b in buckets if b.num_frames == length), key=distance)


class BucketBatchSampler:
    """Batches of item indices, each from one bucket, epoch after epoch without end; resumable.

    `buckets_of_items[i]` is item i's bucket (any non-negative int). Epoch e shuffles the items of each
    bucket with a generator seeded by (seed, e, bucket), cuts them into full batches (the remainder sits this
    epoch out; another epoch's shuffle leaves out others) and shuffles the batches by (seed, e). A bucket with
    fewer items than batch_size makes no batch: its items never train. One iterator at a time: iterating
    advances the position that `state_dict` reports.
    """

    def __init__(self, buckets_of_items: Sequence[int], batch_size: int, seed: int) -> None:
        if batch_size < 1 or seed < 0:
            raise ValueError(f"need batch_size >= 1 and seed >= 0, got batch_size={batch_size}, seed={seed}")
        if any(b < 0 for b in buckets_of_items):
            raise ValueError(f"bucket ids must be non-negative ints, got {sorted(set(buckets_of_items))}")
        self.batch_size, self.seed = batch_size, seed
        self.groups: dict[int, list[int]] = {}
        for item, bucket in enumerate(buckets_of_items):
            self.groups.setdefault(int(bucket), []).append(item)
        self.batches_per_epoch = sum(len(items) // batch_size for items in self.groups.values())
        if self.batches_per_epoch == 0:
            sizes = {b: len(items) for b, items in sorted(self.groups.items())}
            raise ValueError(
                f"no epoch batches: batches of {batch_size} from buckets of {sizes} items make none; lower "
                "the batch size or add clips"
            )
        self.num_items = len(buckets_of_items)
        ids = np.asarray(buckets_of_items, dtype=np.int64)
        self.data_digest = hashlib.sha256(ids.tobytes()).hexdigest()[:16]  # which items sit in which bucket
        self.epoch, self.position = 0, 0

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """The batches of `epoch`, in order: a pure function of (seed, epoch, data)."""
        batches = []
        for bucket, items in sorted(self.groups.items()):
            order = np.random.default_rng([self.seed, epoch, bucket]).permutation(items).tolist()
            batches += [
                order[i : i + self.batch_size]
                for i in range(0, len(order) - self.batch_size + 1, self.batch_size)
            ]
        shuffled = np.random.default_rng([self.seed, epoch]).permutation(len(batches))
        return [batches[i] for i in shuffled]

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            batches = self.epoch_batches(self.epoch)
            while self.position < len(batches):
                self.position += 1  # counted before the yield: the state names the next batch to draw
                yield batches[self.position - 1]
            self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready position, with what a resume must match (not the number of processes: every one draws
        the same batches)."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "num_items": self.num_items,
            "data_digest": self.data_digest,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where `state` stopped; ValueError if it is of other data, seed or batch size."""
        mine = self.state_dict()
        keys = ("seed", "batch_size", "num_items", "data_digest")
        differ = {k: (state.get(k), mine[k]) for k in keys if state.get(k) != mine[k]}
        if differ:
            shown = ", ".join(f"{k} {theirs!r} (here {ours!r})" for k, (theirs, ours) in differ.items())
            raise ValueError(f"sampler state belongs to another run: {shown}")
        epoch, position = state.get("epoch"), state.get("position")
        if not (isinstance(epoch, int) and epoch >= 0 and isinstance(position, int)):
            raise ValueError(f"sampler state needs int epoch >= 0 and position, got {epoch!r}, {position!r}")
        if not 0 <= position <= self.batches_per_epoch:
            raise ValueError(
                f"sampler position {position} is outside an epoch of {self.batches_per_epoch} batches"
            )
        self.epoch, self.position = epoch, position
