"""The API's shapes, after OpenAI's videos API (so its clients and habits carry over), plus tessera's own
fields: what a client sends (VideoCreate, VideoRemix) and the video object it gets back (VideoObject).

Types are checked here; what the values mean (sizes, frame counts, modes, media) is checked by the same
code the CLI runs (task.py), in a worker, before the job is queued.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tessera.serve.store import Job

JSON_FIELDS = ("extend", "edit", "connect", "storyboard")  # objects, sent as JSON text in a multipart form


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExtendSpec(_Strict):
    video_id: str
    direction: str = "forward"  # "forward" (after its end) or "backward" (before its start)


class EditSpec(_Strict):
    video_id: str
    strength: float | None = None  # how much of the video is kept, in (0, 1); default 0.6


class ConnectSpec(_Strict):
    video_ids: list[str] = Field(min_length=2, max_length=2)  # A, then a transition, then B


class VideoCreate(_Strict):
    """POST /v1/videos. At most one mode: input_reference (multipart upload), extend, connect, loop, edit,
    storyboard; `seconds` longer than the model's window makes a long video, window after window."""

    prompt: str | None = None
    model: str | None = None  # if given, the name of the model this server runs
    size: str | None = None  # "WIDTHxHEIGHT", or an aspect "W:H"
    seconds: float | None = None
    frames: int | None = None  # frames of one sampling window, 4k+1
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    negative_prompt: str | None = None
    step_cache: float = 0.0  # skip the DiT's later blocks on steps where its first block changed less
    rewrite: bool = True  # a world model reads a prompt as the caption it amounts to (false: as written)
    image_frame: int = 0  # the output frame input_reference becomes (-1: the last)
    strength: float | None = None  # how much of input_reference is kept, in (0, 1]
    extend: ExtendSpec | None = None
    connect: ConnectSpec | None = None
    loop: bool = False
    edit: EditSpec | None = None
    storyboard: list[dict[str, Any]] | None = None  # shots: {"prompt", "seconds"} or {"prompt", "frames"}

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        # OpenAI's clients send seconds as text ("4"); tessera's take any positive number.
        try:
            seconds = float(value) if value is not None else None
        except (TypeError, ValueError):
            raise ValueError(f"seconds must be a number, e.g. 4, got {value!r}") from None
        if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"seconds must be a positive number, got {value!r}")
        return seconds

    def prompts(self) -> list[str]:
        """The prompts the policy reads: the prompt, and every shot's."""
        shots = [shot.get("prompt") for shot in self.storyboard or [] if isinstance(shot, dict)]
        return [p for p in (self.prompt, *shots) if isinstance(p, str)]


class VideoRemix(_Strict):
    """POST /v1/videos/{id}/remix: the video redone to follow a new prompt (an edit, keeping its motion)."""

    prompt: str
    strength: float | None = None


class ErrorInfo(BaseModel):
    code: str
    message: str


class VideoObject(BaseModel):
    id: str
    object: Literal["video"] = "video"
    model: str
    status: Literal["queued", "in_progress", "completed", "failed"]
    progress: int  # 0-100, from the sampler's steps
    created_at: int  # unix seconds
    started_at: int | None
    completed_at: int | None
    error: ErrorInfo | None
    prompt: str | None
    size: str  # WIDTHxHEIGHT
    seconds: str  # the length asked for: one window, or `seconds`
    mode: str
    remixed_from_video_id: str | None
    attempts: int  # how often a worker started it (more than 1 after a server restart)
    timings: dict[str, float]  # queued: seconds from creation to start; running: from start to completion
    request: dict[str, Any]  # what was asked, with the model's defaults filled in


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[VideoObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True


def video_object(job: Job) -> VideoObject:
    """The API's view of a job. `job.resolved` holds the request the worker's check resolved (`request`),
    the fields the client sent (`asked`), the model's name and frame rate."""
    request, asked = job.resolved["request"], job.resolved["asked"]
    fps = job.resolved["fps"]
    seconds = asked.get("seconds") or request["num_frames"] / fps
    timings = {}
    if job.started_at is not None:
        timings["queued"] = round(job.started_at - job.created_at, 3)
        if job.completed_at is not None:
            timings["running"] = round(job.completed_at - job.started_at, 3)
    return VideoObject(
        id=job.id,
        model=job.resolved["model"],
        status=job.status,
        progress=job.progress,
        created_at=int(job.created_at),
        started_at=None if job.started_at is None else int(job.started_at),
        completed_at=None if job.completed_at is None else int(job.completed_at),
        error=ErrorInfo(code=job.error_code, message=job.error_message) if job.error_code else None,
        prompt=asked.get("prompt"),
        size=f"{request['width']}x{request['height']}",
        seconds=f"{seconds:g}",
        mode=job.resolved["mode"],
        remixed_from_video_id=job.remixed_from,
        attempts=job.attempts,
        timings=timings,
        request={**asked, **request},
    )
