"""A server's data folder: where its job database, lock, finished videos and job inputs live.

DATA/jobs.sqlite3            the job store (SQLite, WAL)
DATA/server.lock             held by the one server that uses the folder
DATA/videos/ID.mp4, ID.jpg   a finished job's video and thumbnail, written atomically, C2PA-signed
DATA/inputs/ID/              what a job reads: uploads, the videos it continues (hard links), storyboards
"""

from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataFolder:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())

    @property
    def database(self) -> Path:
        return self.root / "jobs.sqlite3"

    @property
    def videos(self) -> Path:
        return self.root / "videos"

    def video(self, job_id: str) -> Path:
        return self.videos / f"{job_id}.mp4"

    def thumbnail(self, job_id: str) -> Path:
        return self.videos / f"{job_id}.jpg"

    def inputs(self, job_id: str) -> Path:
        return self.root / "inputs" / job_id

    def create(self) -> None:
        for folder in (self.videos, self.root / "inputs"):
            folder.mkdir(parents=True, exist_ok=True)

    def lock(self) -> int:
        """Take the folder for this process (a file descriptor to keep open); the kernel lets go of it when
        the process ends however it ends, so a killed server never leaves the folder locked."""
        self.create()
        descriptor = os.open(self.root / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise ValueError(f"--data {self.root} is in use by another tessera serve") from None
        return descriptor

    def remove(self, job_id: str) -> None:
        """A job's files: its outputs and inputs."""
        for path in (self.video(job_id), self.thumbnail(job_id)):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.inputs(job_id), ignore_errors=True)

    def remove_partial_writes(self) -> None:
        """Temporary files of writes a killed server left half done (their names start with a dot)."""
        for path in self.videos.glob(".*"):
            path.unlink(missing_ok=True)

    def link(self, source: Path, target: Path) -> None:
        """`target` as a hard link to `source` (a copy across file systems), so a job keeps the videos it
        reads even if they are deleted before it runs."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
