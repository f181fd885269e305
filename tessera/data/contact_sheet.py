"""Contact sheets: a grid of frames, one video a row, with a label over each row, for people to look at."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MIN_FRAME_HEIGHT = 96  # small clips are enlarged (nearest neighbour, so pixels stay honest) to this height
LABEL_HEIGHT = 18
GAP = 4


def contact_sheet(
    videos: Sequence[np.ndarray], labels: Sequence[str] | None = None, *, num_columns: int = 6
) -> Image.Image:
    """One row per (F, H, W, 3) uint8 video: `num_columns` frames evenly spaced from first to last."""
    if not videos:
        raise ValueError("contact_sheet needs at least one video")
    if labels is not None and len(labels) != len(videos):
        raise ValueError(f"{len(labels)} labels for {len(videos)} videos")
    scale = max(1, -(-MIN_FRAME_HEIGHT // max(v.shape[1] for v in videos)))  # ceil division
    cell_w = max(v.shape[2] for v in videos) * scale
    cell_h = max(v.shape[1] for v in videos) * scale
    row_h = cell_h + (LABEL_HEIGHT if labels else 0) + GAP
    sheet = Image.new("RGB", (num_columns * (cell_w + GAP) + GAP, len(videos) * row_h + GAP), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=12)
    for r, video in enumerate(videos):
        top = GAP + r * row_h
        if labels:
            draw.text(
                (GAP, top + 2),
                _fit(draw, labels[r], font, sheet.width - 2 * GAP),
                fill=(235, 235, 235),
                font=font,
            )
            top += LABEL_HEIGHT
        picks = np.linspace(0, len(video) - 1, min(num_columns, len(video))).round().astype(int)
        for c, f in enumerate(picks):
            frame = Image.fromarray(video[f])
            frame = frame.resize((frame.width * scale, frame.height * scale), Image.Resampling.NEAREST)
            sheet.paste(frame, (GAP + c * (cell_w + GAP), top))
    return sheet


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """Shorten a label with an ellipsis until it fits the row."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def save_image(image: Image.Image, path: str | Path) -> Path:
    """Save a PNG without ever leaving a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        image.save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
