"""Prompting modes on the one conditioning mechanism: extend, connect, loop, edit, long videos, storyboards.

Each mode turns the given media into `Condition` items for one sampling window (a request of the model's
length, `Generator.resolve`), runs `Generator.generate`, and assembles the output. Given frames are pasted
back unchanged (nothing the user supplied is lost to the VAE's round trip); the model generates around them,
conditioned on their latents, and new frames next to given ones take over the window's error on the given
frame they meet (after a given end or before a given start), fading out (`carry_seam`), so the cut shows the
model's step, not the decoder's error.
`GeneratedVideo.info["given"]` lists the output ranges that are given frames.

Windows and contexts. A window has F = tf*k + 1 frames (k + 1 latents, tf the VAE's temporal factor). A
context at the window's start is c = tf*m + 1 given frames, m + 1 latents; one at its end is c = tf*m
frames starting a latent slot, m latents (conditioning.py: coded as if its frame 0 had held still before
it), or for a video shorter than tf its frame 0 alone, as an image on the last frame. Either way the window
decodes every given frame it holds, so both seams can carry. At least one latent of every window is free.

    forward   window = [ tail of the video (c) | new ]             output = video + new
    backward  window = [ new | head of the video (c) ]             output = new + video
    connect   window = [ tail of A | transition | head of B ]      output = A + transition + B
    loop      connect(V, V) for a generated V                      output = V + transition (plays on into V)
    edit      [ V, noised to the strength ] (longer V: windows      output = V redone
              [ tail of the output so far (c) | V's next frames, noised ])
    long      forward extensions until the length is reached       memory: one window at a time
    story     long, with each window under the prompt of its shot   shots cut at their lengths

Shape letters: F frames, H height, W width.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tessera.conditioning import Condition
from tessera.pipeline import GeneratedVideo, GenerationRequest, Generator

DIRECTIONS = ("forward", "backward")
MAX_SECONDS = 600  # the longest video a long-video or storyboard task makes, window after window
MAX_SHOTS = 1000  # the most shots a storyboard holds


def check_length(num_frames: int, fps: float, what: str) -> None:
    """ValueError when a multi-window video of `num_frames` at `fps` would be longer than MAX_SECONDS."""
    if num_frames > MAX_SECONDS * fps:
        raise ValueError(
            f"{what} is {num_frames / fps:g} s ({num_frames} frames at {fps:g} fps); "
            f"the most is {MAX_SECONDS} s"
        )


def _window(gen: Generator, request: GenerationRequest) -> tuple[GenerationRequest, int, int]:
    """The resolved request, its latent count minus one (k) and the VAE's temporal factor (tf)."""
    r = gen.resolve(request)
    tf = gen.vae.cfg.temporal_factor
    return r, (r.num_frames - 1) // tf, tf


def _check_video(name: str, video: np.ndarray, r: GenerationRequest) -> np.ndarray:
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8 or len(video) < 1:
        raise ValueError(f"{name} must be uint8 RGB frames (F, H, W, 3), got {video.dtype} {video.shape}")
    if video.shape[1:3] != (r.height, r.width):
        raise ValueError(
            f"{name} is {video.shape[2]}x{video.shape[1]} but the output is {r.width}x{r.height}; resize it "
            "first (read_video(path, size=(H, W)) does)"
        )
    return video


def context_latents(available: int, tf: int, limit: int) -> int:
    """m for a context of tf*m + 1 frames at a window's start: as many as `available` frames allow, at most
    `limit`, >= 0."""
    return max(0, min(limit, (available - 1) // tf))


def head_frames(available: int, tf: int, limit: int) -> int:
    """c, the frames of a video's head given at a window's end: tf*m starting a latent slot (m latents, at
    most `limit`), or 1 (its frame 0 as an image on the last frame) for a video shorter than tf frames."""
    return max(1, tf * min(limit, available // tf))


def _generate(
    gen: Generator, r: GenerationRequest, conditions: list[Condition], progress: bool
) -> np.ndarray:
    return gen.generate(replace(r, conditions=tuple(conditions)), progress=progress).frames


def extend(
    gen: Generator,
    request: GenerationRequest,
    video: np.ndarray,
    direction: str = "forward",
    *,
    progress: bool = False,
) -> GeneratedVideo:
    """`video` (F, H, W, 3) continued after its end ("forward") or preceded by what came before ("backward").

    The context is up to half the window of the video's end (tf*m + 1 frames, `context_latents`) or start
    (tf*m frames, `head_frames`), leaving at least one free latent; the window's other frames are new.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    r, k, tf = _window(gen, request)
    if k < 1:
        raise ValueError(f"extending needs a window of at least {tf + 1} frames, got {r.num_frames}")
    video = _check_video("the video to extend", video, r)
    limit = min(k - 1, max(1, k // 2))
    if direction == "forward":
        c = tf * context_latents(len(video), tf, limit) + 1
        window = _generate(gen, r, [Condition(video[-c:], frame=0)], progress)
        frames = np.concatenate([video, carry_seam(window[c:], video[-1], window[c - 1], tf)])
        given = [(0, len(video))]
    else:
        c = head_frames(len(video), tf, limit)
        start = r.num_frames - c  # tf*(k - m) + 1, or the last frame
        window = _generate(gen, r, [Condition(video[:c], frame=start)], progress)
        frames = np.concatenate([carry_seam(window[:start], video[0], window[start], tf, before=True), video])
        given = [(start, start + len(video))]
    return _result(gen, r, frames, given, mode=f"extend {direction}", context_frames=c)


def connect(
    gen: Generator,
    request: GenerationRequest,
    first: np.ndarray,
    second: np.ndarray,
    *,
    progress: bool = False,
) -> GeneratedVideo:
    """A transition that starts as `first` ends and ends as `second` begins: first + transition + second."""
    r, k, tf = _window(gen, request)
    if k < 2:
        raise ValueError(f"connecting needs a window of at least {2 * tf + 1} frames, got {r.num_frames}")
    first = _check_video("the first video", first, r)
    second = _check_video("the second video", second, r)
    # Contexts of up to (k - 1) // 2 latents each leave a free latent between them. A second video of < tf
    # frames gives just its frame 0, as an image on the last frame.
    c_a = tf * context_latents(len(first), tf, (k - 1) // 2) + 1
    c_b = head_frames(len(second), tf, (k - 1) // 2)
    start = r.num_frames - c_b  # where the head of `second` starts: tf*(k - m_b) + 1, or the last frame
    window = _generate(
        gen, r, [Condition(first[-c_a:], frame=0), Condition(second[:c_b], frame=start)], progress
    )
    transition = carry_seam(window[c_a:start], first[-1], window[c_a - 1], tf)
    transition = carry_seam(transition, second[0], window[start], tf, before=True)
    frames = np.concatenate([first, transition, second])
    given = [(0, len(first)), (len(first) + len(transition), len(frames))]
    return _result(gen, r, frames, given, mode="connect", transition_frames=len(transition))


def loop(gen: Generator, request: GenerationRequest, *, progress: bool = False) -> GeneratedVideo:
    """A video whose last frame flows into its first: a generated clip V, then connect(V, V)'s transition."""
    r, _, _ = _window(gen, request)
    clip = gen.generate(r, progress=progress).frames
    joined = connect(gen, replace(r, seed=r.seed + 1), clip, clip, progress=progress)
    frames = joined.frames[
        : len(joined.frames) - len(clip)
    ]  # V + transition; the second V is the loop's start
    return _result(gen, r, frames, [], mode="loop", transition_frames=len(frames) - len(clip))


def edit(
    gen: Generator, request: GenerationRequest, video: np.ndarray, strength: float, *, progress: bool = False
) -> GeneratedVideo:
    """`video` redone to follow the prompt, keeping its layout and motion (SDEdit): `strength` in (0, 1)
    is how much of it is kept (higher keeps more). The output has the video's length, trimmed to tf*k + 1.

    A video longer than the model takes (limits.max_frames) is edited window by window: each window after
    the first starts with the tail of the output so far, kept exactly, so the edit carries on across
    windows; the rest of the window is the video's next frames, noised to `strength`. Memory is one
    window's."""
    if not 0 < strength < 1:
        raise ValueError(f"edit strength must be in (0, 1): 1 would keep the video unchanged, got {strength}")
    tf = gen.vae.cfg.temporal_factor
    length = (len(video) - 1) // tf * tf + 1 if len(video) else 0
    if length <= gen.spec["limits"]["max_frames"]:
        r = gen.resolve(replace(request, num_frames=length or None))
        video = _check_video("the video to edit", video, r)
        frames = _generate(gen, r, [Condition(video[:length], frame=0, strength=strength)], progress)
        return _result(gen, r, frames, [], mode="edit", strength=strength)
    r, k, tf = _window(gen, replace(request, num_frames=None))
    video = _check_video("the video to edit", video, r)[:length]
    c = tf * context_latents(r.num_frames, tf, min(k - 1, max(1, k // 2))) + 1  # as extend() takes
    frames = np.zeros_like(video)
    start, windows = 0, 0  # the window covers output frames start .. start + size
    bar = tqdm(total=length, desc="edit", unit="frame", disable=not progress)
    while True:
        size = min(r.num_frames, length - start)  # tf*j + 1: start and length - 1 are multiples of tf
        step = replace(r, num_frames=size, seed=r.seed + windows)
        conditions = [Condition(video[start : start + size], frame=0, strength=strength)]
        if windows:  # later items win: the kept tail overrides the noised video on its latents
            conditions.append(Condition(frames[start : start + c], frame=0))
        new = _generate(gen, step, conditions, progress=False)
        if windows:  # the tail is pasted back as it was
            frames[start + c : start + size] = carry_seam(new[c:], frames[start + c - 1], new[c - 1], tf)
        else:
            frames[start : start + size] = new
        bar.update(size - (c if windows else 0))
        windows += 1
        if start + size == length:
            break
        start += size - c
    bar.close()
    return _result(gen, r, frames, [], mode="edit", strength=strength, windows=windows, context_frames=c)


def long_video(
    gen: Generator, request: GenerationRequest, num_frames: int, *, progress: bool = False
) -> GeneratedVideo:
    """A video of `num_frames` frames, longer than the model's window: one window, then forward extensions
    (each conditioned on the previous window's tail), each with its own seed. Memory is one window's."""
    r, _, _ = _window(gen, request)
    if num_frames < r.num_frames:
        raise ValueError(f"a long video needs at least the window's {r.num_frames} frames, got {num_frames}")
    frames, windows = _chain(gen, r, [(r.prompt, num_frames)], "long video", progress)
    return _result(gen, r, frames, [], mode="long", windows=windows)


@dataclass(frozen=True)
class Shot:
    """One shot of a storyboard: what it shows and how many frames it lasts."""

    prompt: str
    num_frames: int

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError(f"a storyboard shot needs a non-empty prompt, got {self.prompt!r}")
        if not isinstance(self.num_frames, int) or self.num_frames < 1:
            raise ValueError(f"a storyboard shot lasts at least 1 frame, got {self.num_frames!r}")


def read_storyboard(path: str | Path, fps: float) -> list[Shot]:
    """Shots from a JSON file: a list of {"prompt": ..., "seconds": s} or {"prompt": ..., "frames": n}."""
    try:
        items = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"storyboard {path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from err
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"storyboard {path}: not a readable JSON file ({err})") from err
    example = '[{"prompt": "a red ball falls", "seconds": 2}, {"prompt": "...", "frames": 9}]'
    if not isinstance(items, list) or not items:
        raise ValueError(f"storyboard {path} must hold a non-empty JSON list of shots, such as {example}")
    if len(items) > MAX_SHOTS:
        raise ValueError(f"storyboard {path} has {len(items)} shots; the most is {MAX_SHOTS}")
    return [_read_shot(path, i, item, fps) for i, item in enumerate(items)]


def _read_shot(path: str | Path, i: int, item: object, fps: float) -> Shot:
    where = f"storyboard {path}, shot {i}"
    if not isinstance(item, dict) or set(item) not in ({"prompt", "seconds"}, {"prompt", "frames"}):
        raise ValueError(f"{where}: want a prompt and seconds or frames, got {item!r}")
    if not isinstance(item["prompt"], str) or not item["prompt"].strip():
        raise ValueError(f'{where}: "prompt" must be a non-empty prompt (text), got {item["prompt"]!r}')
    if "frames" in item:
        frames = item["frames"]
        if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
            raise ValueError(f'{where}: "frames" must be a whole number, at least 1 frame, got {frames!r}')
        return Shot(item["prompt"], frames)
    seconds = item["seconds"]
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f'{where}: "seconds" must be a number in (0, {MAX_SECONDS}], got {seconds!r}')
    if round(seconds * fps) < 1:
        raise ValueError(f'{where}: "seconds" {seconds!r} is less than one frame at {fps:g} fps')
    return Shot(item["prompt"], round(seconds * fps))


def storyboard(
    gen: Generator, request: GenerationRequest, shots: list[Shot], *, progress: bool = False
) -> GeneratedVideo:
    """One video of consecutive shots, each following its own prompt (the request's prompt is not used).

    The first shot starts as a plain generation; every later window, within a shot or across a cut, is a
    forward extension conditioned on the frames before it, under its shot's prompt, so the objects carry their
    look and motion across cuts. `info["shots"]` lists each shot's (start, end) frames and prompt.
    """
    if not shots:
        raise ValueError("a storyboard needs at least one shot")
    r, _, _ = _window(gen, replace(request, prompt=shots[0].prompt))
    ends = np.cumsum([shot.num_frames for shot in shots]).tolist()
    frames, windows = _chain(
        gen, r, [(s.prompt, e) for s, e in zip(shots, ends, strict=True)], "storyboard", progress
    )
    starts = [0, *ends[:-1]]
    info = [(a, b, s.prompt) for a, b, s in zip(starts, ends, shots, strict=True)]
    return _result(gen, r, frames, [], mode="storyboard", windows=windows, shots=info)


def _chain(
    gen: Generator, r: GenerationRequest, segments: list[tuple[str, int]], desc: str, progress: bool
) -> tuple[np.ndarray, int]:
    """Frames 0 .. end of the last segment, window after window: a plain window under the first prompt, then
    forward extensions of the frames so far, each under the prompt of the segment (prompt, end) it fills and
    with its own seed (r.seed + window index); a segment's frames are cut at its end. (frames, windows)."""
    frames, windows = None, 0
    bar = tqdm(total=segments[-1][1], desc=desc, unit="frame", disable=not progress)
    for prompt, end in segments:
        while frames is None or len(frames) < end:
            step = replace(r, prompt=prompt, seed=r.seed + windows)
            if frames is None:
                new = gen.generate(step).frames
            else:
                tail = frames[-r.num_frames :]  # enough for any context; extend() takes what it needs
                new = extend(gen, step, tail, "forward").frames[len(tail) :]
            new = new[: end - (0 if frames is None else len(frames))]
            frames = new if frames is None else np.concatenate([frames, new])
            windows += 1
            bar.update(len(new))
    bar.close()
    return frames, windows


def carry_seam(
    new: np.ndarray, given: np.ndarray, decoded: np.ndarray, span: int, *, before: bool = False
) -> np.ndarray:
    """`new` frames (F, H, W, 3) next to a given frame, with the window's error on that frame carried into
    them, fading out with the distance from it.

    Given frames are pasted back as they were, but the window around them was decoded from latents: its
    own version of the given frame the new ones meet (`decoded`, against the original `given`) is off, and
    unmatched the cut from the new frames to the pasted original shows that error on top of the model's own
    step. After a given end (`before=False`: the new frames follow it) the error is the VAE round trip's (a
    mean 6 levels for the world model): the causal decoder has read only given latents up to there. Before a
    given start (`before=True`: the new frames lead into it, the last of them is next to it) it is larger
    (about 20), since the decoder reads the given latents after generated ones. The difference given -
    decoded is added to the `span` new frames nearest the given one with weights span / (span + 1), ...,
    1 / (span + 1), so the error fades out in even steps instead of appearing at once. `decoded` must be the
    same window's decode of given latents, so that the model's step into them stays what it was.
    """
    residual = given.astype(np.float32) - decoded.astype(np.float32)  # (H, W, 3)
    out = new[::-1].copy() if before else new.copy()  # nearest the given frame first
    weights = 1 - np.arange(1, min(span, len(out)) + 1, dtype=np.float32) / (span + 1)  # (S,)
    head = out[: len(weights)].astype(np.float32) + weights[:, None, None, None] * residual
    out[: len(weights)] = np.clip(np.rint(head), 0, 255).astype(np.uint8)
    return out[::-1] if before else out


def _result(gen: Generator, r: GenerationRequest, frames: np.ndarray, given, **info) -> GeneratedVideo:
    return GeneratedVideo(
        frames=frames,
        fps=gen.spec["video"]["fps"],
        request=r,
        info={"model": str(gen.model_dir), "given": given, **info},
    )
