"""A worker process: owns one loaded Generator and runs the store's jobs, oldest first, one at a time.

Beside the generation, a thread answers the server's checks of new jobs (`task.rehearse`: every check the
run would make, before any sampling) over the worker's pipe. That pipe is also its lifeline: when the server
dies, even by kill -9, the pipe closes and the worker exits at once, so no orphan goes on with a job that the
next server will run again.

Progress is the sampler's steps (`Generator.generate(callback=...)`), written to the job's row whenever its
percentage changes; the same write tells the worker when its job was deleted, and it stops there.
"""

from __future__ import annotations

import os
import threading
import traceback
from dataclasses import dataclass
from dataclasses import fields as fields_of
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path

from tessera import provenance
from tessera.serve.folder import DataFolder
from tessera.serve.store import Job, JobStore


@dataclass(frozen=True)
class WorkerConfig:
    data: DataFolder
    model: Path | None  # None: the shipped model
    device: str
    dtype: str
    signing: provenance.Signing


class _Lost(Exception):
    """The job is no longer this worker's (deleted while it ran)."""


def main(config: WorkerConfig, conn: Connection, wake: Event, token: str) -> None:
    """The worker's life: load the model, say so, then take jobs until the server goes away."""
    from tessera.pipeline import Generator  # here, so that the server process never imports torch

    generator = Generator(config.model, device=config.device, dtype=config.dtype)
    conn.send(
        (
            "ready",
            {"pid": os.getpid(), "model": generator.model_dir.name, "fps": generator.spec["video"]["fps"]},
        )
    )
    threading.Thread(target=_answer_checks, args=(generator, conn), daemon=True).start()
    store = JobStore(config.data.database)
    while True:
        job = store.claim(token)
        if job is None:
            wake.wait(timeout=1.0)
            wake.clear()
            continue
        _run(generator, store, job, token, config)


def _answer_checks(generator, conn: Connection) -> None:
    from tessera.task import VideoTask, rehearse

    while True:
        try:
            fields = conn.recv()
        except (EOFError, OSError):
            os._exit(0)  # the server is gone: stop now, mid-job included; its next start runs the job again
        try:
            task = VideoTask.from_dict(fields)
            request = rehearse(generator, task)
            # The given media stay in the job's files; the reply is the request's plain fields.
            plain = {f.name: getattr(request, f.name) for f in fields_of(request) if f.name != "conditions"}
            reply = ("ok", {"request": plain, "mode": task.mode})
        except ValueError as error:
            reply = ("invalid", str(error))
        except Exception as error:  # a bug, not the user's mistake: the server answers 500 with it
            traceback.print_exc()
            reply = ("error", f"{type(error).__name__}: {error}")
        conn.send(reply)


def _run(generator, store: JobStore, job: Job, token: str, config: WorkerConfig) -> None:
    from PIL import Image

    from tessera.data.video_io import write_video
    from tessera.task import VideoTask, run

    reported = -1

    def report(fraction: float) -> None:
        nonlocal reported
        if int(fraction * 100) != reported:
            reported = int(fraction * 100)
            if not store.set_progress(job.id, token, reported):
                raise _Lost

    video_path, thumbnail_path = config.data.video(job.id), config.data.thumbnail(job.id)
    try:
        task = VideoTask.from_dict(job.task)
        video = run(generator, task, callback=report)
        claim = provenance.claim_for(generator.model_dir, task.prompts(), task.mode)
        still = video.frames[len(video.frames) // 2]
        provenance.write_signed(
            video_path, lambda p: write_video(p, video.frames, video.fps), claim, config.signing
        )
        provenance.write_signed(
            thumbnail_path,
            lambda p: Image.fromarray(still).save(p, format="JPEG", quality=90),
            claim,
            config.signing,
        )
        if store.complete(job.id, token):
            return
    except _Lost:
        pass
    except (
        ValueError
    ) as error:  # input that passed the check but not the run (e.g. a storyboard's later shot)
        store.fail(job.id, token, "invalid_request", str(error))
        return
    except Exception as error:
        traceback.print_exc()
        store.fail(job.id, token, "generation_failed", f"{type(error).__name__}: {error}")
        return
    # Deleted while it ran: what it wrote belongs to no job.
    for path in (video_path, thumbnail_path):
        path.unlink(missing_ok=True)
