"""Latents and text embeddings computed once, so DiT training steps run only the DiT.

Layout of a cache folder (all safetensors + JSON):
    latents.safetensors   "latents" (N, C, T, h, w) float16, normalised VAE means of every clip
    text.safetensors      "tokens" (sum of lengths, D) float16, "offsets" (M + 1,) int64: caption j is
                          tokens[offsets[j]:offsets[j+1]]; "null" (S0, D) the null prompt's tokens
    index.json            per clip: its key and the caption ids it may be trained with; the config it was
                          built with (a cache built for another VAE, size or encoder is rebuilt, not reused)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from tessera.models.text import TextEmbedding, TextEncoder
from tessera.models.vae import VideoVAE


def build_cache(
    folder: str | Path,
    dataset: torch.utils.data.Dataset,
    vae: VideoVAE,
    encoder: TextEncoder,
    fingerprint: dict[str, Any],
    *,
    batch_size: int = 8,
    progress: bool = True,
) -> Path:
    """Encode every clip and caption once; a cache with the same fingerprint is reused as it is."""
    folder = Path(folder)
    index_path = folder / "index.json"
    if index_path.is_file() and json.loads(index_path.read_text())["fingerprint"] == fingerprint:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    device = next(vae.parameters()).device
    latents, clips, texts = [], [], []
    n = len(dataset)
    bar = tqdm(range(0, n, batch_size), desc="caching latents", unit="batch", disable=not progress)
    with torch.no_grad():
        for start in bar:
            items = [dataset[i] for i in range(start, min(n, start + batch_size))]
            video = torch.stack([it["video"] for it in items]).to(device)  # (B, 3, F, H, W)
            latents.append(vae.encode_latents(video, chunked=False).half().cpu())  # (B, C, T, h, w)
            for it in items:
                ids = []
                for lang in sorted(it["captions"]):
                    for text in it["captions"][lang]:
                        ids.append(len(texts))
                        texts.append(text)
                clips.append({"key": it["key"], "captions": ids})
    tokens, offsets = [], [0]
    for start in tqdm(range(0, len(texts), 64), desc="encoding captions", unit="batch", disable=not progress):
        emb = encoder.encode(texts[start : start + 64])
        for row, mask in zip(emb.tokens, emb.mask, strict=True):
            tokens.append(row[mask].half().cpu())  # (S_j, D)
            offsets.append(offsets[-1] + tokens[-1].shape[0])
    null = encoder.encode([""])
    save_file({"latents": torch.cat(latents).contiguous()}, str(folder / "latents.safetensors"))
    save_file(
        {
            "tokens": torch.cat(tokens).contiguous(),
            "offsets": torch.tensor(offsets, dtype=torch.int64),
            "null": null.tokens[0][null.mask[0]].half().contiguous(),
        },
        str(folder / "text.safetensors"),
    )
    index_path.write_text(
        json.dumps({"fingerprint": fingerprint, "clips": clips, "texts": texts}, ensure_ascii=False)
    )
    return folder


class LatentCache:
    """Random access to a cache folder: latents by clip, caption embeddings by id."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.latents = load_file(str(folder / "latents.safetensors"))["latents"]  # (N, C, T, h, w)
        text = load_file(str(folder / "text.safetensors"))
        self.tokens, self.offsets, self.null = text["tokens"], text["offsets"], text["null"]
        index = json.loads((folder / "index.json").read_text())
        self.clips, self.texts = index["clips"], index["texts"]

    def __len__(self) -> int:
        return self.latents.shape[0]

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
