"""The dataset manifest: one JSON line per clip, the same format for the synthetic world and real footage.

    {"path": "videos/00000.mp4", "captions": {"en": ["..."], "zh": ["..."]}, "num_frames": 17,
     "height": 128, "width": 128, "fps": 8, "start": 0.0, "spec": {...} or null, "split": "train" or null}

`path` is relative to the manifest's folder. `start` is where the clip begins in its file, in seconds (a long
video is cut into several clips); num_frames counts the clip's frames at the file's own fps. `spec` is the
world scene (tessera.world.scene.Scene) for synthetic clips, null for real footage; `split` says whether a
world clip belongs to the held-out split.

`index_folder` (`tessera data index DIR --out manifest.jsonl`) makes a manifest of a folder of real videos:
each file is decoded through once (tessera.data.video_io.scan_video), so a corrupt, truncated, empty or
foreign file is found here, and left out with one line in a report, rather than in the middle of a run.
Captions come from a sidecar beside each video: NAME.json, an object of language -> caption or list of
captions ({"en": "...", "zh": ["...", "..."]}), or else NAME.txt, one caption per non-empty line.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

MANIFEST_NAME = "manifest.jsonl"
SIDECARS = (".json", ".txt")  # caption files, in the order they are looked for


@dataclass(frozen=True)
class Record:
    path: str
    captions: dict[str, list[str]]
    num_frames: int
    height: int
    width: int
    fps: float
    start: float = 0.0
    spec: dict[str, Any] | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.path:
            raise ValueError("empty path")
        # A manifest names files inside its own folder: one it was handed must not reach anywhere else.
        if (
            PurePosixPath(self.path).is_absolute()
            or ".." in PurePosixPath(self.path).parts
            or "\\" in self.path
        ):
            raise ValueError(
                f"path {self.path!r} must be relative to the manifest's folder and stay inside it "
                "(no absolute paths, no '..')"
            )
        if not self.captions or not any(self.captions.values()):
            raise ValueError("no captions")
        for lang, texts in self.captions.items():
            if not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
                raise ValueError(f"captions[{lang!r}] must be a list of non-empty strings")
        if self.num_frames < 1 or self.height < 1 or self.width < 1 or self.fps <= 0:
            raise ValueError(
                f"bad clip geometry: {self.num_frames} frames of {self.height}x{self.width} at {self.fps} fps"
            )
        if self.start < 0:
            raise ValueError(f"start must be >= 0 s, got {self.start}")


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


@dataclass(frozen=True)
class IndexReport:
    """What `index_folder` made: the manifest, its clip and file counts, and a line per file left out."""

    manifest: Path
    report: Path
    num_clips: int
    num_files: int
    skipped: list[str]


def read_captions(video: Path, language: str = "en") -> dict[str, list[str]]:
    """The captions of `video` from its sidecar (see the module docstring); ValueError naming the problem."""
    sidecar = video.with_suffix(".json")
    if sidecar.is_file():
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{sidecar.name} is not valid JSON ({e})") from None
        if not isinstance(data, dict) or not all(isinstance(v, str | list) for v in data.values()):
            raise ValueError(
                f'{sidecar.name} must be an object of language -> caption(s), e.g. {{"en": "..."}}'
            )
        return {lang: [text] if isinstance(text, str) else text for lang, text in data.items()}
    sidecar = video.with_suffix(".txt")
    if sidecar.is_file():
        lines = [line.strip() for line in sidecar.read_text(encoding="utf-8", errors="replace").splitlines()]
        return {language: [line for line in lines if line]}
    raise ValueError(f"no caption (write it to {video.stem}.txt or {video.stem}.json beside it)")


def clip_windows(
    num_frames: int, fps: float, clip_seconds: float, min_seconds: float
) -> list[tuple[int, int]]:
    """(first frame, frame count) of the clips a video of `num_frames` at `fps` is cut into: consecutive
    clips of clip_seconds (0: never cut), a last one shorter than min_seconds left out."""
    per = round(clip_seconds * fps)
    if clip_seconds <= 0 or num_frames <= per:
        return [(0, num_frames)]
    shortest = max(1, round(min_seconds * fps))
    return [
        (first, min(per, num_frames - first))
        for first in range(0, num_frames, per)
        if num_frames - first >= shortest
    ]


def index_file(
    path: Path, manifest_folder: Path, clip_seconds: float, min_seconds: float, language: str
) -> list[Record]:
    """The manifest records of one video file (ValueError or VideoError when it cannot be used)."""
    from tessera.data.video_io import probe_video, scan_video  # PyAV loads only where files are read

    probe_video(path)  # a foreign file is that, not a video without a caption
    captions = read_captions(path, language)
    info = scan_video(path)
    fps = info.fps or 1.0  # a still is a 1-frame video
    records = [
        Record(
            path=os.path.relpath(path, manifest_folder),
            captions=captions,
            num_frames=count,
            height=info.height,
            width=info.width,
            fps=fps,
            start=round(first / fps, 6),
        )
        for first, count in clip_windows(info.num_frames, fps, clip_seconds, min_seconds)
    ]
    for record in records:
        record.validate()
    return records


def _index_or_reason(
    path: Path, manifest_folder: Path, clip_seconds: float, min_seconds: float, language: str
) -> list[Record] | str:
    """index_file's records, or why the file is left out. Never raises: one bad file of thousands must
    not stop the indexing, whatever PyAV or Pillow make of it."""
    try:
        return index_file(path, manifest_folder, clip_seconds, min_seconds, language)
    except ValueError as e:  # VideoError included; its message starts with the path
        return str(e).removeprefix(f"{path}: ")
    except Exception as e:  # anything else a decoder throws at a damaged file
        return f"unreadable ({type(e).__name__}: {e})"


def index_folder(
    folder: str | Path,
    out: str | Path,
    *,
    clip_seconds: float = 10.0,
    min_seconds: float = 1.0,
    language: str = "en",
    workers: int = 0,
    progress: bool = True,
) -> IndexReport:
    """Write a manifest `out` of every video under `folder` (recursively; hidden files and caption sidecars
    aside), and beside it OUT.report.txt, one line per file left out and why. `workers` > 0 decodes files in
    that many processes. ValueError when no file could be indexed."""
    from tqdm import tqdm

    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder")
    if clip_seconds < 0 or min_seconds < 0:
        raise ValueError(f"clip and minimum lengths must be >= 0 s, got {clip_seconds} and {min_seconds}")
    report = out.with_name(f"{out.stem}.report.txt")
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() not in SIDECARS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.resolve() not in (out.resolve(), report.resolve())
    )
    index = functools.partial(
        _index_or_reason,
        manifest_folder=out.parent.resolve(),
        clip_seconds=clip_seconds,
        min_seconds=min_seconds,
        language=language,
    )
    paths = [p.resolve() for p in files]
    with ProcessPoolExecutor(workers) if workers > 0 else contextlib.nullcontext() as pool:
        results = (pool.map if pool else map)(index, paths)
        results = list(tqdm(results, total=len(paths), desc="indexing", unit="file", disable=not progress))
    records, skipped = [], []
    for path, result in zip(files, results, strict=True):
        if isinstance(result, str):
            skipped.append(f"{path.relative_to(folder)}: {result}")
        else:
            records += result
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("".join(f"{line}\n" for line in skipped), encoding="utf-8")
    if not records:
        raise ValueError(f"{folder}: no video could be indexed ({len(skipped)} files left out: see {report})")
    write_manifest(out, records)
    return IndexReport(out, report, len(records), len(files) - len(skipped), skipped)
