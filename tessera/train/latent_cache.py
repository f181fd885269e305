"""Latents and text embeddings computed once, so DiT training steps run only the DiT.

Layout of a cache folder (all safetensors + JSON):
    latents.safetensors   "latents/WxHxF" (N_b, C, T, h, w) float16 per bucket (tessera/data/buckets.py):
                          normalised VAE means of the clips of that geometry; "objects/WxHxF" (N_b, 1, T, h,
                          w) the share of each latent's pixels that show an object, where the data has
                          object masks (the world does)
    text.safetensors      "tokens" (sum of lengths, D) float16, "offsets" (M + 1,) int64: caption j is
                          tokens[offsets[j]:offsets[j+1]]; "null" (S0, D) the null prompt's tokens
    index.json            per clip: its key, its bucket and row there, and the caption ids it may be trained
                          with; the format and the fingerprint it was built with (a cache of another format,
                          or built for another VAE, size or encoder, is rebuilt, not misread); under "skipped"
                          the clips whose files could not be read, and why. Written last (whole, by a
                          rename) and removed first, so a half-built cache is never taken for a whole one.
    parts/                while several processes build it (torchrun): each one's share of the latents and
                          caption embeddings, which rank 0 joins into the files above and then removes.
    building.lock         locked (flock) by the process building the cache, which writes its pid and host
                          there. Another process that wants the same folder waits for it, then reuses what
                          was built (or builds anew, if its fingerprint differs). The OS drops the lock of
                          a process that dies, so a crashed build never blocks the next one.

The fingerprint has two parts: "latents" (what the latents depend on: the VAE, the data) and "text" (what the
caption embeddings depend on: the text encoder, the data). When only the latents part changed, as after a new
VAE, the caption embeddings are kept and only the clips are encoded again.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from tessera.data.video_io import VideoError
from tessera.models.text import TextEmbedding, TextEncoder
from tessera.models.vae import VideoVAE
from tessera.train.distributed import World

CACHE_FORMAT = 3  # 3: with object coverage; 2: latents per bucket; 1 (no "format"): one latents tensor
CAPTION_CHUNK = 64  # captions encoded at once
ALONE = World(rank=0, size=1, device=torch.device("cpu"))


def build_cache(
    folder: str | Path,
    dataset: torch.utils.data.Dataset,
    vae: VideoVAE,
    encoder: TextEncoder | Callable[[], TextEncoder],
    fingerprint: dict[str, Any],
    *,
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = True,
    world: World = ALONE,
) -> Path:
    """Encode every clip and caption once; a cache of this format and fingerprint is reused as it is.

    `fingerprint` is {"latents": ..., "text": ...} (see the module docstring). `dataset.bucket(i)` names clip
    i's geometry; clips of one bucket are encoded together, batch_size at a time, and stored as one tensor.
    `workers` > 0 renders / decodes clips in that many processes. `encoder` is a text encoder or a function
    that makes one, called only when captions must be encoded, so a run that finds its cache never loads it.
    With several processes (`world`; every one calls this) each encodes its share of the clips and captions
    and rank 0 joins the parts into the cache one process would have built. A clip whose file cannot be read
    (missing, truncated, corrupt) is left out and listed in the index under "skipped".
    """
    if set(fingerprint) != {"latents", "text"}:
        raise ValueError(f"a cache fingerprint has the parts 'latents' and 'text', got {sorted(fingerprint)}")
    folder = Path(folder)
    index_path = folder / "index.json"
    if world.agree(_index(index_path).get("fingerprint") == fingerprint):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with _build_lock(folder) if world.is_main else nullcontext():
        world.barrier()  # the other processes look only once rank 0 holds the folder
        old = _index(index_path)  # again: a process this one waited for may have built it
        if world.agree(old.get("fingerprint") == fingerprint):
            return folder
        world.barrier()  # every process has read the old index before it goes
        if world.is_main:
            index_path.unlink(missing_ok=True)
            shutil.rmtree(folder / "parts", ignore_errors=True)
            (folder / "parts").mkdir()
        world.barrier()
        make_encoder = encoder if callable(encoder) else lambda: encoder
        _build(folder, old, dataset, vae, make_encoder, fingerprint, batch_size, workers, progress, world)
    return folder


def _index(path: Path) -> dict[str, Any]:
    """A cache's index.json, or {} where there is none or it has another format."""
    index = json.loads(path.read_text()) if path.is_file() else {}
    return index if index.get("format") == CACHE_FORMAT else {}


@contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on folder/building.lock while the body runs, waiting while another process
    holds it. The OS drops a lock when its process ends, however it ends, so none is ever left stale."""
    with open(folder / "building.lock", "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            owner = f.read().strip() or "another process"
            print(f"{folder}: {owner} is building this latent cache; waiting for it", file=sys.stderr)
            fcntl.flock(f, fcntl.LOCK_EX)
        f.truncate(0)
        f.write(f"process {os.getpid()} on {socket.gethostname()}")
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)


class _Readable(torch.utils.data.Dataset):
    """A dataset whose items that cannot be read come back as {"error": why} instead of raising."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        try:
            return self.dataset[index]
        except VideoError as error:  # a file gone missing or bad since the manifest was made
            return {"error": str(error)}


def _build(
    folder: Path,
    old: dict[str, Any],
    dataset: torch.utils.data.Dataset,
    vae: VideoVAE,
    make_encoder: Callable[[], TextEncoder],
    fingerprint: dict[str, Any],
    batch_size: int,
    workers: int,
    progress: bool,
    world: World,
) -> None:
    """Encode every clip (and the captions, unless `old`'s are still valid) into `folder`; index last.

    Process r encodes batches r, r + N, ... and caption chunks alike and writes them to folder/parts; rank 0
    joins the parts in the order one process would have made them, so the cache does not depend on N."""
    by_bucket: dict[str, list[int]] = {}
    for i in range(len(dataset)):
        by_bucket.setdefault(dataset.bucket(i).name, []).append(i)
    batches = [
        (name, members[start : start + batch_size])
        for name, members in by_bucket.items()
        for start in range(0, len(members), batch_size)
    ]
    mine = list(range(world.rank, len(batches), world.size))
    tensors, items = _encode_clips(
        dataset, vae, [batches[b] for b in mine], workers, progress and world.is_main
    )
    parts = folder / "parts"
    named = {f"{kind}/{b}": t for (b, batch) in zip(mine, tensors, strict=True) for kind, t in batch.items()}
    items = dict(zip(mine, items, strict=True))
    if world.size > 1:  # every process learns every clip's captions; rank 0 reads the latents later
        save_file(named, str(parts / f"clips-{world.rank:05d}.safetensors"))
        (parts / f"clips-{world.rank:05d}.json").write_text(json.dumps(items, ensure_ascii=False))
        world.barrier()
        items = {
            int(b): batch
            for r in range(world.size)
            for b, batch in json.loads((parts / f"clips-{r:05d}.json").read_text()).items()
        }

    clips, texts, skipped = _index_clips(batches, items)

    text_file = folder / "text.safetensors"
    same_text = old.get("fingerprint", {}).get("text") == fingerprint["text"] and old.get("texts") == texts
    text = (
        None
        if same_text and text_file.is_file()
        else _encode_text_share(texts, make_encoder, world, parts, progress)
    )
    if world.is_main:
        if world.size > 1:
            named.update({k: v for r in range(1, world.size) for k, v in _part(parts, "clips", r).items()})
        save_file(_join_batches(batches, named), str(folder / "latents.safetensors"))
        if text is not None:
            save_file(text, str(text_file))
        index = {
            "format": CACHE_FORMAT,
            "fingerprint": fingerprint,
            "clips": [clips[i] for i in sorted(clips)],
            "texts": texts,
            "skipped": skipped,
        }
        partial = folder / "index.json.partial"
        partial.write_text(json.dumps(index, ensure_ascii=False))
        partial.replace(folder / "index.json")  # last, and whole: the cache exists from here on
        shutil.rmtree(parts, ignore_errors=True)
    world.barrier()


def _index_clips(
    batches: list[tuple[str, list[int]]], items: dict[int, list[dict[str, Any]]]
) -> tuple[dict[int, dict[str, Any]], list[str], list[dict[str, Any]]]:
    """Per readable clip (by dataset index) its index entry, the caption texts, and the clips left out, as
    one process encoding batch after batch writes them: rows per bucket and caption ids in batch order."""
    clips: dict[int, dict[str, Any]] = {}
    skipped: list[dict[str, Any]] = []
    texts: list[str] = []
    rows: dict[str, int] = {}
    for b, (name, members) in enumerate(batches):
        for i, item in zip(members, items[b], strict=True):
            if "error" in item:
                skipped.append({"index": i, "error": item["error"]})
                continue
            ids = []
            for lang in sorted(item["captions"]):
                for text in item["captions"][lang]:
                    ids.append(len(texts))
                    texts.append(text)
            clips[i] = {"key": item["key"], "bucket": name, "row": rows.get(name, 0), "captions": ids}
            rows[name] = rows.get(name, 0) + 1
    if not clips:
        raise ValueError(f"no clip could be read, e.g. {skipped[0]['error']}")
    return clips, texts, skipped


def _join_batches(
    batches: list[tuple[str, list[int]]], named: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The latents.safetensors tensors from every batch's ("latents/B", "objects/B"): one per bucket, the
    batches in order; object coverage only where every clip has it."""
    encoded = [b for b in range(len(batches)) if f"latents/{b}" in named]  # batches with readable clips
    with_objects = all(f"objects/{b}" in named for b in encoded)
    stored = {}
    for kind in ("latents", "objects") if with_objects else ("latents",):
        for name in dict.fromkeys(name for name, _ in batches):
            done = [named[f"{kind}/{b}"] for b in encoded if batches[b][0] == name]
            if done:
                stored[f"{kind}/{name}"] = torch.cat(done).contiguous()
    return stored


def _encode_clips(
    dataset: torch.utils.data.Dataset,
    vae: VideoVAE,
    batches: list[tuple[str, list[int]]],
    workers: int,
    progress: bool,
) -> tuple[list[dict[str, torch.Tensor]], list[list[dict[str, Any]]]]:
    """Per batch, the latents (and object coverage, where the clips have it) of its readable clips, and per
    clip {"key", "captions"} or {"error"}."""
    device = next(vae.parameters()).device
    loader = torch.utils.data.DataLoader(
        _Readable(dataset),
        batch_sampler=[members for _, members in batches],
        collate_fn=list,
        num_workers=workers,
    )  # yields the items of each batch, in order
    tensors, items = [], []
    with torch.no_grad():
        bar = tqdm(loader, total=len(batches), desc="caching latents", unit="batch", disable=not progress)
        for batch in bar:
            good = [it for it in batch if "error" not in it]
            out = {}
            if good:
                video = torch.stack([it["video"] for it in good]).to(device)  # (B, 3, F, H, W)
                out["latents"] = vae.encode_latents(video, chunked=False).half().cpu()  # (B, C, T, h, w)
                if all("objects" in it for it in good):
                    cover = torch.stack([it["objects"] for it in good])  # (B, F, H, W)
                    out["objects"] = latent_coverage(cover, vae.cfg.spatial_factor, vae.cfg.temporal_factor)
            tensors.append(out)
            items.append(
                [
                    {"error": it["error"]}
                    if "error" in it
                    else {"key": it["key"], "captions": it["captions"]}
                    for it in batch
                ]
            )
    return tensors, items


def _part(parts: Path, name: str, rank: int) -> dict[str, torch.Tensor]:
    return load_file(str(parts / f"{name}-{rank:05d}.safetensors"))


def _encode_text_share(
    texts: list[str], make_encoder: Callable[[], TextEncoder], world: World, parts: Path, progress: bool
) -> dict[str, torch.Tensor] | None:
    """The text.safetensors tensors of `texts` on rank 0 (None elsewhere): process r encodes caption chunks
    r, r + N, ... and rank 0 joins them in order with the null prompt."""
    starts = list(range(0, len(texts), CAPTION_CHUNK))[world.rank :: world.size]
    encoder = make_encoder() if starts or world.is_main else None
    chunks = {}
    bar = tqdm(starts, desc="encoding captions", unit="batch", disable=not (progress and world.is_main))
    for start in bar:
        emb = encoder.encode(texts[start : start + CAPTION_CHUNK])
        rows = [row[mask].half().cpu() for row, mask in zip(emb.tokens, emb.mask, strict=True)]  # (S_j, D)
        chunks[f"tokens/{start}"] = torch.cat(rows).contiguous()
        chunks[f"lengths/{start}"] = torch.tensor([r.shape[0] for r in rows], dtype=torch.int64)
    if world.size > 1:
        save_file(chunks, str(parts / f"text-{world.rank:05d}.safetensors"))
        world.barrier()
    if not world.is_main:
        return None
    for r in range(1, world.size):
        chunks.update(_part(parts, "text", r))
    every = range(0, len(texts), CAPTION_CHUNK)
    lengths = torch.cat([chunks[f"lengths/{start}"] for start in every])
    null = encoder.encode([""])
    return {
        "tokens": torch.cat([chunks[f"tokens/{start}"] for start in every]).contiguous(),
        "offsets": torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)]),
        "null": null.tokens[0][null.mask[0]].half().contiguous(),
    }


def latent_coverage(cover: torch.Tensor, spatial_factor: int, temporal_factor: int) -> torch.Tensor:
    """Pixel coverage (B, F, H, W) in [0, 1] -> (B, 1, T, h, w) float16 on the latent grid: the mean over the
    pixels each latent codes (latent 0 <- frame 0, latent j <- frames tf*(j-1)+1 .. tf*j, sf x sf pixels)."""
    b, f, h, w = cover.shape
    tf, sf = temporal_factor, spatial_factor
    first = cover[:, :1]  # (B, 1, H, W)
    rest = cover[:, 1:].reshape(b, (f - 1) // tf, tf, h, w).mean(2)  # (B, T - 1, H, W)
    frames = torch.cat([first, rest], 1).float()  # (B, T, H, W)
    pooled = torch.nn.functional.avg_pool2d(frames, sf)  # (B, T, h, w)
    return pooled[:, None].half()


class LatentCache:
    """Random access to a cache folder: latents by batch of clips of one bucket, caption embeddings by id."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        index = json.loads((folder / "index.json").read_text())
        if index.get("format") != CACHE_FORMAT:
            raise ValueError(
                f"{folder}: latent cache format {index.get('format', 1)}, this tessera reads {CACHE_FORMAT}; "
                "training rebuilds it"
            )
        self.clips, self.texts = index["clips"], index["texts"]
        self.skipped = index.get("skipped", [])  # {"index", "error"} of clips that could not be read
        stored = load_file(str(folder / "latents.safetensors"))
        # bucket name -> (N_b, C, T, h, w), and (N_b, 1, T, h, w) object coverage where the data had masks
        self.latents = {k.removeprefix("latents/"): v for k, v in stored.items() if k.startswith("latents/")}
        self.objects = {k.removeprefix("objects/"): v for k, v in stored.items() if k.startswith("objects/")}
        self.bucket_names = sorted(self.latents)
        # Per clip its bucket as an int (the position of its name), for BucketBatchSampler.
        number = {name: i for i, name in enumerate(self.bucket_names)}
        self.clip_buckets = [number[clip["bucket"]] for clip in self.clips]
        text = load_file(str(folder / "text.safetensors"))
        self.tokens, self.offsets, self.null = text["tokens"], text["offsets"], text["null"]

    def __len__(self) -> int:
        return len(self.clips)

    def latent_batch(self, clips: list[int]) -> torch.Tensor:
        """The latents of `clips`, which must share a bucket (a sampler batch), as one (B, C, T, h, w)."""
        names = sorted({self.clips[c]["bucket"] for c in clips})
        if len(names) != 1:
            raise ValueError(f"clips {clips} lie in buckets {names}; a batch comes from a single bucket")
        return self.latents[names[0]][[self.clips[c]["row"] for c in clips]]  # (B, C, T, h, w)

    def object_batch(self, clips: list[int]) -> torch.Tensor | None:
        """(B, 1, T, h, w) object coverage of `clips` (one bucket), or None where the cache has none."""
        name = self.clips[clips[0]]["bucket"]
        if name not in self.objects:
            return None
        return self.objects[name][[self.clips[c]["row"] for c in clips]]

    def caption_tokens(self, caption_id: int) -> torch.Tensor:
        return self.tokens[self.offsets[caption_id] : self.offsets[caption_id + 1]]  # (S_j, D)

    def text_batch(self, caption_ids: list[int | None]) -> TextEmbedding:
        """Embeddings of the given captions (None = the null prompt), padded to the longest; float32."""
        rows = [self.null if c is None else self.caption_tokens(c) for c in caption_ids]
        length = max(r.shape[0] for r in rows)
        tokens = torch.zeros(len(rows), length, rows[0].shape[1])  # (B, S, D)
        mask = torch.zeros(len(rows), length, dtype=torch.bool)  # (B, S)
        for i, r in enumerate(rows):
            tokens[i, : r.shape[0]] = r.float()
            mask[i, : r.shape[0]] = True
        return TextEmbedding(tokens=tokens, mask=mask)
