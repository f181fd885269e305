"""The videos service behind the routes: the server's configuration, its data folder, job store and
workers, and what a new job goes through before it is queued (the prompt policy, its media saved as files
of the job, a worker's rehearsal of the task with the CLI's checks)."""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera import provenance
from tessera.policy import PromptRefused, check_prompts, load_policy
from tessera.serve.folder import DataFolder
from tessera.serve.schema import VideoCreate
from tessera.serve.store import Job, JobStore, QueueFull
from tessera.serve.supervisor import Supervisor, WorkerUnavailable
from tessera.serve.worker import WorkerConfig

UPLOAD_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".mp4", ".mov", ".webm")
log = logging.getLogger("tessera.serve")


@dataclass(frozen=True)
class ServeConfig:
    data: Path
    model: Path | None = None  # None: the shipped model
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    device: str = "cpu"
    dtype: str = "fp32"
    policy: str | None = None  # "package.module:function"; None: the default word list
    sign_cert: Path | None = None  # with sign_key: the user's signing identity; None: the local one
    sign_key: Path | None = None
    max_queued: int = 100
    max_upload_mb: float = 20.0


class ApiError(Exception):
    """An HTTP error with OpenAI's error fields: status, code, message and the parameter at fault."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


class VideoService:
    """What the routes share: the data folder, the store, the workers, and the checks a new job passes
    before it is queued."""

    def __init__(self, config: ServeConfig) -> None:
        if config.max_queued < 1:
            raise ValueError(f"--max-queued must be >= 1, got {config.max_queued}")
        if config.model is not None and not Path(config.model).is_dir():
            raise ValueError(f"--model {config.model}: no such model folder")
        self.config = config
        self.policy = load_policy(config.policy)
        self.folder = DataFolder(config.data)
        self.lock = self.folder.lock()
        self.store = JobStore(self.folder.database)
        signing = provenance.signing(config.sign_cert, config.sign_key)
        worker = WorkerConfig(self.folder, config.model, config.device, config.dtype, signing)
        self.supervisor = Supervisor(worker, self.store, config.workers)
        self.max_upload = int(config.max_upload_mb * 2**20)

    def start(self) -> None:
        requeued = self.store.recover()  # jobs running when the last server died run again, first
        if requeued:
            log.warning("requeued %d jobs the last server was running: %s", len(requeued), requeued)
        self.folder.remove_partial_writes()
        self.supervisor.start()

    def stop(self) -> None:
        self.supervisor.stop()
        os.close(self.lock)

    def job(self, video_id: str) -> Job:
        job = self.store.get(video_id)
        if job is None:
            raise ApiError(404, "video_not_found", f"no video {video_id!r}", "video_id")
        return job

    def submit(
        self, body: VideoCreate, upload: tuple[str, bytes] | None, remixed_from: str | None = None
    ) -> Job:
        """Check a new job as the CLI would (policy, then the worker's rehearsal), then queue it."""
        model = self.supervisor.model
        if body.model is not None and model is not None and body.model != model["name"]:
            raise ApiError(
                400,
                "invalid_model",
                f"model {body.model!r} is not served here; this server runs {model['name']!r}",
                "model",
            )
        try:
            check_prompts(self.policy, body.prompts())
        except PromptRefused as refused:
            raise ApiError(400, "prompt_refused", str(refused), "prompt") from None
        job_id = f"video_{secrets.token_hex(12)}"
        try:
            task, labels = self._task(job_id, body, upload)
            try:
                answer = self.supervisor.check(task)
            except ValueError as error:
                message = str(error)
                for path, label in labels.items():  # the client's names, not the server's paths
                    message = message.replace(path, label)
                raise ApiError(400, "invalid_request", message) from None
            except WorkerUnavailable as error:
                raise ApiError(503, "worker_unavailable", str(error)) from None
            asked = body.model_dump(exclude_none=True) | ({"input_reference": upload[0]} if upload else {})
            model = self.supervisor.model
            resolved = {**answer, "asked": asked, "model": model["name"], "fps": model["fps"]}
            try:
                job = self.store.add(
                    job_id, task, resolved, max_queued=self.config.max_queued, remixed_from=remixed_from
                )
            except QueueFull as full:
                raise ApiError(429, "queue_full", f"{full}; try again when some have run") from None
        except BaseException:
            self.folder.remove(job_id)
            raise
        self.supervisor.wake()
        return job

    def _task(self, job_id: str, body: VideoCreate, upload: tuple[str, bytes] | None) -> tuple[dict, dict]:
        """task.VideoTask fields for the body, with its media as files of the job; and a map from those
        files' paths to what the client called them."""
        inputs, labels = self.folder.inputs(job_id), {}
        inputs.mkdir(parents=True)
        task: dict[str, Any] = {
            "prompt": body.prompt,
            "size": body.size,
            "num_frames": body.frames,
            "seed": body.seed,
            "steps": body.steps,
            "guidance": body.guidance,
            "shift": None,
            "solver": None,
            "negative_prompt": body.negative_prompt,
            "step_cache": body.step_cache,
            "rewrite": body.rewrite,
            "image": None,
            "image_frame": body.image_frame,
            "strength": body.strength,
            "extend": None,
            "connect": None,
            "loop": body.loop,
            "edit": None,
            "duration": body.seconds,
            "storyboard": None,
        }
        if upload is not None:
            name, content = upload
            suffix = Path(name).suffix.lower()
            if suffix not in UPLOAD_SUFFIXES:
                raise ApiError(
                    400,
                    "invalid_file",
                    f"input_reference {name!r} is not one of {', '.join(UPLOAD_SUFFIXES)}",
                    "input_reference",
                )
            path = inputs / f"input_reference{suffix}"
            path.write_bytes(content)
            task["image"], labels[str(path)] = str(path), "input_reference"
        if body.extend:
            task["extend"] = [
                body.extend.direction,
                self._given(body.extend.video_id, inputs / "extend.mp4", "extend", labels),
            ]
        if body.edit:
            task["edit"] = self._given(body.edit.video_id, inputs / "edit.mp4", "edit", labels)
            if body.edit.strength is not None:
                if body.strength is not None:
                    raise ApiError(
                        400, "invalid_request", "give strength once: in edit or at the top level", "strength"
                    )
                task["strength"] = body.edit.strength
        if body.connect:
            first, second = body.connect.video_ids
            task["connect"] = [
                self._given(first, inputs / "connect_a.mp4", "connect", labels),
                self._given(second, inputs / "connect_b.mp4", "connect", labels),
            ]
        if body.storyboard is not None:
            path = inputs / "storyboard.json"
            path.write_text(json.dumps(body.storyboard, ensure_ascii=False), encoding="utf-8")
            task["storyboard"], labels[str(path)] = str(path), "(in the request)"
        return task, labels

    def _given(self, video_id: str, target: Path, field: str, labels: dict[str, str]) -> str:
        """A finished video the job continues, linked into its inputs."""
        source = self.store.get(video_id)
        if source is None:
            raise ApiError(400, "invalid_request", f"{field}: no video {video_id!r}", field)
        if source.status != "completed":
            raise ApiError(
                400,
                "invalid_request",
                f"{field}: video {video_id!r} is {source.status}; only a completed video can be used",
                field,
            )
        try:
            self.folder.link(self.folder.video(video_id), target)
        except FileNotFoundError:
            raise ApiError(
                400, "invalid_request", f"{field}: video {video_id!r} was just deleted", field
            ) from None
        labels[str(target)] = f"video {video_id}"
        return str(target)
