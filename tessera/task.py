"""A video task: what `tessera generate` and a server job ask for, and the one path from it to a video.

    task = VideoTask("a red circle rolls", size="128x128", extend=("forward", Path("clip.mp4")))
    rehearse(gen, task)            # every check `run` makes, stopped before the first sampling step
    video = run(gen, task)         # a GeneratedVideo

A task is the request's fields as a person gives them (a size as text, media as files) plus at most one mode.
The CLI builds one from its arguments, the HTTP API from a JSON body; both hand it to the same functions, so
a mistake is refused with the same words wherever it was made. `rehearse` is how the server checks a job
before queueing it: it runs the task against a stand-in for the Generator that stops at the first
`generate` call, so no check can be missed or worded differently from the real run.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tessera import modes
from tessera.conditioning import Condition
from tessera.data.video_io import read_video
from tessera.models.text import MAX_PROMPT_CHARS
from tessera.pipeline import GeneratedVideo, GenerationRequest, Generator

MODES = ("generate", "image", "extend", "connect", "loop", "edit", "long", "storyboard")


def parse_size(text: str) -> tuple[int, int]:
    """'WIDTHxHEIGHT' -> (height, width)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 128x128") from None
    if w < 8 or h < 8:
        raise ValueError(f"size {text!r} is too small: each side must be >= 8 pixels")
    return h, w


@dataclass(frozen=True)
class VideoTask:
    """What to make. None means the model's default; at most one of image, extend, connect, loop, edit,
    duration and storyboard (the modes, `modes.py`) is given."""

    prompt: str | None = None
    size: str | None = None  # "WIDTHxHEIGHT", or an aspect "W:H" at about the model's area
    num_frames: int | None = None  # frames of one sampling window, 4k+1
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    shift: float | None = None
    solver: str | None = None
    negative_prompt: str | None = None
    step_cache: float = 0.0  # GenerationRequest.step_cache: skip the DiT's later blocks on quiet steps
    rewrite: bool = (
        True  # GenerationRequest.rewrite: a world model reads a prompt as the caption it amounts to
    )
    image: Path | None = None  # a picture to animate: it becomes frame `image_frame`
    image_frame: int = 0
    strength: float | None = None  # how much of the image (default 1) or edited video (default 0.6) is kept
    extend: tuple[str, Path] | None = None  # (direction, video)
    connect: tuple[Path, Path] | None = None
    loop: bool = False
    edit: Path | None = None
    duration: float | None = None  # seconds, longer than one window: window after window
    storyboard: Path | None = None  # JSON shots, each with its own prompt (modes.read_storyboard)

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.storyboard is None):
            raise ValueError(
                "give a PROMPT, or --storyboard FILE (whose shots hold the prompts), not both"
                if self.storyboard
                else "a PROMPT is needed (or --storyboard FILE)"
            )
        if self.prompt is not None:
            try:
                self.prompt.encode("utf-8")
            except UnicodeEncodeError as e:  # bytes a terminal passed that are not UTF-8 (surrogate escapes)
                raise ValueError(
                    f"the prompt is not UTF-8 text (undecodable bytes at characters {e.start}..{e.end - 1} "
                    f"of {self.prompt!r}); give the prompt in UTF-8"
                ) from None
            if len(self.prompt) > MAX_PROMPT_CHARS:
                warnings.warn(
                    f"the prompt has {len(self.prompt):,} characters; the text encoder reads the first "
                    f"{MAX_PROMPT_CHARS:,} and leaves out the rest",
                    stacklevel=2,
                )
        given = [name for name in MODES[1:] if self._mode_value(name)]
        if len(given) > 1:
            raise ValueError(
                f"give one mode at most, got {' and '.join(given)}; modes: {', '.join(MODES[1:])}"
            )
        if self.size and ":" not in self.size:  # an aspect needs the model; a size is checked at once
            parse_size(self.size)
        if self.duration is not None and not 0 < self.duration <= modes.MAX_SECONDS:
            raise ValueError(
                f"--duration must be a number of seconds in (0, {modes.MAX_SECONDS}], got {self.duration}"
            )

    def _mode_value(self, name: str) -> Any:
        return {"long": self.duration, "storyboard": self.storyboard}.get(name, getattr(self, name, None))

    @property
    def mode(self) -> str:
        """Which of MODES this task is."""
        return next((name for name in MODES[1:] if self._mode_value(name)), "generate")

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> VideoTask:
        """A task from JSON-ready fields (paths as text, pairs as lists), as a server's job stores them."""
        paths = {name: Path(fields[name]) for name in ("image", "edit", "storyboard") if fields.get(name)}
        if fields.get("extend"):
            paths["extend"] = (fields["extend"][0], Path(fields["extend"][1]))
        if fields.get("connect"):
            paths["connect"] = tuple(Path(p) for p in fields["connect"])
        return cls(**(fields | paths))

    def prompts(self) -> list[str]:
        """Every prompt the task would follow (a storyboard's, one per shot), for the prompt policy and the
        provenance manifest."""
        if self.storyboard is None:
            return [self.prompt]
        # The frame rate only turns a shot's seconds into frames; the prompts do not depend on it.
        return [shot.prompt for shot in modes.read_storyboard(self.storyboard, fps=1.0)]


def _request(gen: Generator, task: VideoTask, prompt: str) -> GenerationRequest:
    """The GenerationRequest of the task's first window, not yet resolved against the model."""
    height = width = None
    if task.size:
        size = task.size.strip()
        height, width = gen.size_for_aspect(size) if ":" in size else parse_size(size)
    return GenerationRequest(
        prompt=prompt,
        negative_prompt=task.negative_prompt,
        num_frames=task.num_frames,
        height=height,
        width=width,
        steps=task.steps,
        guidance=task.guidance,
        shift=task.shift,
        solver=task.solver,
        seed=task.seed,
        step_cache=task.step_cache,
        rewrite=task.rewrite,
    )


def run(
    gen: Generator,
    task: VideoTask,
    *,
    progress: bool = False,
    callback: Callable[[float], None] | None = None,
) -> GeneratedVideo:
    """The task's video. callback(fraction): after each sampling step, the fraction of the task done, in
    [0, 1) (multi-window modes estimate how many windows they take)."""
    fps = gen.spec["video"]["fps"]
    shots = modes.read_storyboard(task.storyboard, fps) if task.storyboard else None
    if shots:
        modes.check_length(sum(shot.num_frames for shot in shots), fps, f"storyboard {task.storyboard}")
    request = _request(gen, task, shots[0].prompt if shots else task.prompt)
    window = gen.resolve(request)
    if callback is not None:
        gen = _Reporting(gen, callback, _passes(task, window, shots, fps, gen.vae.cfg.temporal_factor))

    def media(path: Path, **kwargs):  # frames at the output's size and the model's frame rate
        return read_video(path, size=(window.height, window.width), fps=fps, **kwargs).frames

    if task.extend:
        direction, path = task.extend
        return modes.extend(gen, request, media(Path(path)), direction, progress=progress)
    if task.connect:
        first, second = (media(path) for path in task.connect)
        return modes.connect(gen, request, first, second, progress=progress)
    if task.loop:
        return modes.loop(gen, request, progress=progress)
    if task.edit:
        strength = 0.6 if task.strength is None else task.strength
        return modes.edit(gen, request, media(task.edit), strength, progress=progress)
    if task.duration is not None:
        return modes.long_video(gen, request, round(task.duration * fps), progress=progress)
    if shots:
        return modes.storyboard(gen, request, shots, progress=progress)
    if task.image is not None:
        image = media(task.image, num_frames=1)[0]  # (H, W, 3)
        strength = 1.0 if task.strength is None else task.strength
        request = replace(request, conditions=(Condition(image, task.image_frame, strength),))
    return gen.generate(request, progress=progress)


def rehearse(gen: Generator, task: VideoTask) -> GenerationRequest:
    """Every check `run(gen, task)` makes (sizes, frames, media files, mode arguments), without sampling: the
    resolved request of the task's first window. Raises the ValueError the run would raise."""
    try:
        run(_Rehearsal(gen), task)  # type: ignore[arg-type]
    except _Rehearsed as done:
        return done.request
    raise AssertionError("every mode samples at least once")


class _Rehearsed(Exception):
    """Raised by the rehearsal's stand-in at the first sampling: every check before it has passed."""

    def __init__(self, request: GenerationRequest) -> None:
        self.request = request


class _StandIn:
    """A Generator for the modes: everything is the real one's but `generate`."""

    def __init__(self, gen: Generator) -> None:
        self._gen = gen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gen, name)


class _Rehearsal(_StandIn):
    def generate(self, request: GenerationRequest, **_: Any) -> GeneratedVideo:
        raise _Rehearsed(self._gen.resolve(request))


class _Reporting(_StandIn):
    """Reports the sampler's steps over all the windows a mode samples as one fraction of the task."""

    def __init__(self, gen: Generator, callback: Callable[[float], None], passes: int) -> None:
        super().__init__(gen)
        self._callback, self._passes, self._done = callback, passes, 0

    def generate(self, request: GenerationRequest, *, progress: bool = False) -> GeneratedVideo:
        def step(done: int, total: int) -> None:
            self._callback(min((self._done + done / total) / self._passes, 0.99))

        video = self._gen.generate(request, progress=progress, callback=step)
        self._done += 1
        return video


def _passes(task: VideoTask, window: GenerationRequest, shots, fps: float, tf: int) -> int:
    """How many windows the task samples: exact for one-window modes and loops, estimated for long videos
    and storyboards (each extension adds about half a window). An edit counts as one window, so one longer
    than the model takes shows 99% from its first window on."""
    if task.loop:
        return 2
    if task.duration is not None or shots:
        total = round(task.duration * fps) if shots is None else sum(s.num_frames for s in shots)
        added = max(tf, (window.num_frames - 1) // 2)
        return 1 + max(0, math.ceil((total - window.num_frames) / added))
    return 1
