"""The dataset manifest: one JSON line per clip, the same format for the synthetic world and real footage.

    {"path": "videos/00000.mp4", "captions": {"en": ["..."], "zh": ["..."]}, "num_frames": 17,
     "height": 128, "width": 128, "fps": 8, "spec": {...} or null, "split": "train" or null}

`path` is relative to the manifest's folder. `spec` is the world scene (tessera.data.world.Scene) for
synthetic clips, null for real footage; `split` says whether a world clip belongs to the held-out split.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.jsonl"


@dataclass(frozen=True)
class Record:
    path: str
    captions: dict[str, list[str]]
    num_frames: int
    height: int
    width: int
    fps: float
    spec: dict[str, Any] | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.path:
            raise ValueError("empty path")
        if not self.captions or not any(self.captions.values()):
            raise ValueError("no captions")
        for lang, texts in self.captions.items():
            if not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
                raise ValueError(f"captions[{lang!r}] must be a list of non-empty strings")
        if self.num_frames < 1 or self.height < 1 or self.width < 1 or self.fps <= 0:
            raise ValueError(
                f"bad clip geometry: {self.num_frames} frames of {self.height}x{self.width} at {self.fps} fps"
            )


def write_manifest(path: str | Path, records: Iterable[Record]) -> Path:
    """Write a manifest atomically: readers see the old file or the whole new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for r in records:
                r.validate()
                f.write(json.dumps(asdict(r), ensure_ascii=False, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_manifest(path: str | Path) -> list[Record]:
    """Read and check a manifest; errors name the file and line."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise ValueError(f"{path}: no such manifest")
    records = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                extra = data.pop("extra", {})
                known = {k: data.pop(k) for k in list(data) if k in Record.__dataclass_fields__}
                record = Record(**known, extra={**extra, **data})  # unknown keys are kept, not lost
                record.validate()
            except (json.JSONDecodeError, TypeError, ValueError) as e:
                raise ValueError(f"{path}:{number}: not a valid manifest line: {e}") from e
            records.append(record)
    if not records:
        raise ValueError(f"{path}: the manifest lists no clips")
    return records


def resolve(manifest: str | Path, record: Record) -> Path:
    """The clip's file, relative to the manifest's folder."""
    manifest = Path(manifest)
    folder = manifest if manifest.is_dir() else manifest.parent
    return folder / record.path
