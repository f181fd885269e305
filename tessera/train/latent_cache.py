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
                          or built for another VAE, size or encoder, is rebuilt, not misread). Written last
                          and removed first, so a half-built cache is never taken for a whole one.
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
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from tessera.models.text import TextEmbedding, TextEncoder
from tessera.models.vae import VideoVAE

CACHE_FORMAT = 3  # 3: with object coverage; 2: latents per bucket; 1 (no "format"): one latents tensor


def build_cache(
    folder: str | Path,
    dataset: torch.utils.data.Dataset,
    vae: VideoVAE,
    encoder: TextEncoder,
    fingerprint: dict[str, Any],
    *,
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = True,
) -> Path:
    """Encode every clip and caption once; a cache of this format and fingerprint is reused as it is.

    `fingerprint` is {"latents": ..., "text": ...} (see the module docstring). `dataset.bucket(i)` names clip
    i's geometry; clips of one bucket are encoded together, batch_size at a time, and stored as one tensor.
    `workers` > 0 renders / decodes clips in that many processes.
    """
    if set(fingerprint) != {"latents", "text"}:
        raise ValueError(f"a cache fingerprint has the parts 'latents' and 'text', got {sorted(fingerprint)}")
    folder = Path(folder)
    index_path = folder / "index.json"
    if _index(index_path).get("fingerprint") == fingerprint:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with _build_lock(folder):
        old = _index(index_path)  # again: a process this one waited for may have built it
        if old.get("fingerprint") == fingerprint:
            return folder
        index_path.unlink(missing_ok=True)
        _build(folder, old, dataset, vae, encoder, fingerprint, batch_size, workers, progress)
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


def _build(
    folder: Path,
    old: dict[str, Any],
    dataset: torch.utils.data.Dataset,
    vae: VideoVAE,
    encoder: TextEncoder,
    fingerprint: dict[str, Any],
    batch_size: int,
    workers: int,
    progress: bool,
) -> None:
    """Encode every clip (and the captions, unless `old`'s are still valid) into `folder`; index last."""
    device = next(vae.parameters()).device
    by_bucket: dict[str, list[int]] = {}
    for i in range(len(dataset)):
        by_bucket.setdefault(dataset.bucket(i).name, []).append(i)
    batches = [
        (name, members[start : start + batch_size])
        for name, members in by_bucket.items()
        for start in range(0, len(members), batch_size)
    ]
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=[members for _, members in batches], collate_fn=list, num_workers=workers
    )  # yields the items of each batch, in order
    latents: dict[str, list[torch.Tensor]] = {name: [] for name in by_bucket}
    objects: dict[str, list[torch.Tensor]] = {name: [] for name in by_bucket}
    clips: list[dict[str, Any]] = [{} for _ in range(len(dataset))]
    texts: list[str] = []
    with torch.no_grad():
        bar = tqdm(batches, desc="caching latents", unit="batch", disable=not progress)
        for (name, members), items in zip(bar, loader, strict=True):
            video = torch.stack([it["video"] for it in items]).to(device)  # (B, 3, F, H, W)
            rows = sum(len(x) for x in latents[name])
            latents[name].append(vae.encode_latents(video, chunked=False).half().cpu())  # (B, C, T, h, w)
            if all("objects" in it for it in items):
                cover = torch.stack([it["objects"] for it in items])  # (B, F, H, W)
                objects[name].append(latent_coverage(cover, vae.cfg.spatial_factor, vae.cfg.temporal_factor))
            for row, (i, it) in enumerate(zip(members, items, strict=True), rows):
                ids = []
                for lang in sorted(it["captions"]):
                    for text in it["captions"][lang]:
                        ids.append(len(texts))
                        texts.append(text)
                clips[i] = {"key": it["key"], "bucket": name, "row": row, "captions": ids}
    stored = {f"latents/{name}": torch.cat(parts).contiguous() for name, parts in latents.items()}
    if all(len(objects[name]) == len(latents[name]) for name in latents):  # every clip has object masks
        stored.update({f"objects/{name}": torch.cat(parts).contiguous() for name, parts in objects.items()})
    save_file(stored, str(folder / "latents.safetensors"))
    text_file = folder / "text.safetensors"
    same_text = old.get("fingerprint", {}).get("text") == fingerprint["text"] and old.get("texts") == texts
    if not (same_text and text_file.is_file()):
        save_file(encode_captions(texts, encoder, progress), str(text_file))
    (folder / "index.json").write_text(
        json.dumps(
            {"format": CACHE_FORMAT, "fingerprint": fingerprint, "clips": clips, "texts": texts},
            ensure_ascii=False,
        )
    )


def encode_captions(texts: list[str], encoder: TextEncoder, progress: bool) -> dict[str, torch.Tensor]:
    """The text.safetensors tensors of `texts`: their tokens end to end, the offsets, the null prompt."""
    tokens, offsets = [], [0]
    for start in tqdm(range(0, len(texts), 64), desc="encoding captions", unit="batch", disable=not progress):
        emb = encoder.encode(texts[start : start + 64])
        for row, mask in zip(emb.tokens, emb.mask, strict=True):
            tokens.append(row[mask].half().cpu())  # (S_j, D)
            offsets.append(offsets[-1] + tokens[-1].shape[0])
    null = encoder.encode([""])
    return {
        "tokens": torch.cat(tokens).contiguous(),
        "offsets": torch.tensor(offsets, dtype=torch.int64),
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
