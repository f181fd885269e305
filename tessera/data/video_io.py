"""Reading and writing video files: frames in and out, with time ranges, frame-rate resampling and resizing.

Frames are numpy uint8 arrays (F, H, W, 3), RGB. Every problem a user can cause or meet (a missing, foreign,
truncated or corrupt file, a bad argument, an empty range) raises `VideoError`, naming the file and problem.

The output path picks the format: `.mp4` is H.264 (yuv420p, BT.601, index first so it streams); `.gif` and
`.webp` are animations looping forever, whose delays are whole 1/100 s (GIF) or 1/1000 s (WebP), so 24 fps
comes back from a GIF as 25 fps; a path ending in a separator, naming a folder or without a suffix is a folder
of `frame_00000.png`, ... that record the rate in a PNG text chunk `fps`. Writes are atomic: the output is
built under a temporary name beside the target and moved into place only when complete.

Anything FFmpeg decodes can be read, plus animations and still images through Pillow (a still is a 1-frame
video) and folders of frames (sorted by name, numbers compared as numbers). `read_video` returns a
constant-rate `Video`: the frames as decoded, or with `fps` given, output frame k is the source frame nearest
in time to `t0 + k / fps` (t0 is `start`, else the first selected frame's time). Animations are expanded to
their shortest delay, because encoders merge repeated frames into one longer frame.

A truncated or corrupt file raises a `VideoError` saying "truncated or corrupt" when decoding reaches the
damage: the header is unreadable (an mp4 cut before its index), a packet fails to decode, or an mp4/mov
stream ends before the duration its index records. A range that ends before the damage reads normally, and
a cut file in a format without such an index (WebM, MKV) reads as the frames that survive.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import numbers
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
import torch
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc
from PIL import Image, ImageOps, ImageSequence
from PIL.PngImagePlugin import PngInfo

WRITE_SUFFIXES = (".mp4", ".gif", ".webp")  # or a suffix-less path: a PNG frame folder
IMAGE_SUFFIXES = (".png", ".apng", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff")  # via Pillow
RESIZE_MODES = ("crop", "fit")
MAX_CRF = 51  # the top of x264's 8-bit quality scale
_FPS_KEY = "fps"
_FRAME_NAME = re.compile(r"frame_\d+\.png")
# Browsers show GIF/WebP delays under 20 ms as 100 ms; we write no such delays and read them as browsers do.
_MIN_DELAY_MS, _SLOW_DELAY_MS = 20, 100
# Timestamps are rationals turned into floats; compare them with a margin far below any frame period.
_EPS = 1e-6

PathLike = str | os.PathLike[str]
Frame = tuple[float, Callable[[], np.ndarray]]  # (seconds from the first frame, lazily decoded RGB pixels)


class VideoError(ValueError):
    """A video file or argument that cannot be used; the message names the file and the problem."""


class Video(NamedTuple):
    """A constant-rate clip; unpacks as `frames, fps = read_video(path)`."""

    frames: np.ndarray  # (F, H, W, 3) uint8 RGB
    fps: float


@dataclass(frozen=True)
class VideoInfo:
    """What `probe_video` learns from a file's header and first frame."""

    num_frames: int  # as recorded by the container, else duration * fps rounded
    fps: float | None  # None where the file records no rate (a still image, a frame folder not written here)
    height: int  # as displayed, after any rotation the file asks for
    width: int
    duration: float | None  # seconds; None where fps is None


@dataclass
class _Source:
    fps: float | None  # the recorded rate
    num_frames: int
    duration: float | None
    frames: Iterator[Frame]  # in time order


# ---------------------------------------------------------------------------------------------- writing


DEFAULT_CRF = 18  # H.264 quality of tessera's MP4 files: near-lossless to the eye, yuv420p (4:2:0 colour)


def write_video(path: PathLike, frames: np.ndarray, fps: float, *, crf: int = DEFAULT_CRF) -> None:
    """Write `frames` (F, H, W, 3) uint8 at `fps` to `path`, in the format its suffix names (see the top).

    `crf` is H.264's constant rate factor (0 lossless .. 51 worst; 18 looks near-lossless), for .mp4 only.
    H.264 in yuv420p needs an even height and width; other sizes are refused rather than padded.
    """
    folder = os.fspath(path).endswith(("/", os.sep)) or Path(path).is_dir() or not Path(path).suffix
    path = Path(path)  # after the check above: pathlib drops a trailing separator
    _check_frames(path, frames, fps)
    if folder:
        return _write_png_folder(path, frames, fps)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise VideoError(f"{path}: unknown suffix {path.suffix!r}; use one of {WRITE_SUFFIXES} or a folder")
    if suffix == ".mp4":
        _check_h264(path, frames, crf)
    elif 1000 / fps < _MIN_DELAY_MS:
        raise VideoError(f"{path}: fps {fps} is too fast for an animation; use at most 50 fps, or .mp4")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}{path.suffix}")  # suffix picks the muxer
    try:
        if suffix == ".mp4":
            _write_mp4(tmp, frames, fps, crf)
        else:
            _write_animation(tmp, frames, fps, "GIF" if suffix == ".gif" else "WEBP")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _is_rate(fps: object) -> bool:
    return isinstance(fps, numbers.Real) and not isinstance(fps, bool) and 0 < fps < math.inf


def _check_frames(path: Path, frames: np.ndarray, fps: float) -> None:
    if not isinstance(frames, np.ndarray):
        raise VideoError(f"{path}: frames must be a numpy array, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise VideoError(f"{path}: frames must have shape (F, H, W, 3) with F, H, W >= 1, got {frames.shape}")
    if frames.dtype != np.uint8:
        raise VideoError(f"{path}: frames must be uint8 RGB, got dtype {frames.dtype}")
    if not _is_rate(fps):
        raise VideoError(f"{path}: fps must be a positive finite number, got {fps!r}")


def _check_h264(path: Path, frames: np.ndarray, crf: int) -> None:
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise VideoError(
            f"{path}: H.264 (yuv420p) needs an even height and width, got {height}x{width} (HxW); "
            f"crop or resize to e.g. {height - height % 2}x{width - width % 2}"
        )
    if isinstance(crf, bool) or not isinstance(crf, numbers.Integral) or not 0 <= crf <= MAX_CRF:
        raise VideoError(f"{path}: crf must be an integer in [0, {MAX_CRF}], got {crf!r}")


def _as_rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)  # keeps NTSC's 30000/1001 exact, rounds away float noise


def _write_mp4(tmp: Path, frames: np.ndarray, fps: float, crf: int) -> None:
    rate = _as_rate(fps)
    with av.open(os.fspath(tmp), mode="w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf)}
        # swscale converts RGB with the BT.601 matrix; say so, or players guess BT.709 for HD sizes.
        codec = stream.codec_context
        codec.colorspace, codec.color_range = Colorspace.ITU601, ColorRange.MPEG
        codec.color_primaries, codec.color_trc = ColorPrimaries.BT709, ColorTrc.BT709
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = index, 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode())  # flush the frames the encoder holds back for B-frames


def _write_animation(tmp: Path, frames: np.ndarray, fps: float, fmt: str) -> None:
    tick_ms = 10 if fmt == "GIF" else 1  # GIF delays are whole centiseconds
    delay = round(1000 / fps / tick_ms) * tick_ms
    first, *rest = (Image.fromarray(pixels) for pixels in frames)
    options = {"quality": 90} if fmt == "WEBP" else {}
    first.save(tmp, format=fmt, save_all=True, append_images=rest, duration=delay, loop=0, **options)


def check_frame_folder(path: PathLike) -> None:
    """VideoError unless `path` is free for a PNG frame folder: absent, or a folder of frames only. A frame
    folder replaces an older one whole, so anything that is not one is never deleted."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise VideoError(f"{path}: exists and is not a folder; cannot write PNG frames there")
    others = [p.name for p in path.iterdir() if not _FRAME_NAME.fullmatch(p.name)] if path.exists() else []
    if others:
        raise VideoError(f"{path}: folder holds files other than frames ({others[0]}, ...); not replacing it")


def _write_png_folder(path: Path, frames: np.ndarray, fps: float) -> None:
    check_frame_folder(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngInfo()
    info.add_text(_FPS_KEY, str(_as_rate(fps)))
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    tmp.mkdir()
    try:
        for index, pixels in enumerate(frames):
            Image.fromarray(pixels).save(tmp / f"frame_{index:05d}.png", pnginfo=info)
        if not path.exists():
            os.replace(tmp, path)
            return
        # A folder cannot be renamed over a non-empty one: move the old one aside, swap, then delete it.
        old = path.with_name(f".{path.name}.old-{secrets.token_hex(4)}")
        os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(old, path)
            raise
        shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---------------------------------------------------------------------------------------------- reading


def read_video(
    path: PathLike,
    *,
    start: float | None = None,
    end: float | None = None,
    start_frame: int | None = None,
    num_frames: int | None = None,
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    resize_mode: str = "crop",
) -> Video:
    """Decode a clip of `path` as a constant-rate `Video` (the module docstring says what can be read).

    A range is by time, from `start` (seconds, inclusive; decoding seeks near it) to `end` (exclusive), or by
    index, from source frame `start_frame` (counted from the first frame, exact even for variable-rate files),
    `num_frames` frames returned (resampled frames when `fps` is given); not both. `size=(H, W)` resizes with
    Lanczos keeping the aspect: "crop" scales to cover and takes the centre, "fit" scales to fit and pads with
    black. A source that records no rate (a still, a foreign frame folder) is taken to run at `fps`; a still
    may omit it and is reported at 1 fps.
    """
    path = Path(path)
    _check_read_args(path, start, end, start_frame, num_frames, fps, size, resize_mode)
    with _open_source(path, start or None, fps) as source:
        source_fps = source.fps or fps or (1.0 if source.num_frames == 1 else None)
        if source_fps is None:
            raise VideoError(f"{path}: the frame folder records no frame rate; pass fps= to say what it is")
        frames = itertools.islice(source.frames, start_frame or 0, None)
        if fps is None or math.isclose(fps, source_fps, rel_tol=1e-9):
            picked = (f for f in frames if start is None or f[0] >= start - _EPS)
            picked = itertools.takewhile(lambda f: end is None or f[0] < end - _EPS, picked)
        else:
            picked = _resample(frames, source_fps, fps, start, end)
        out: list[np.ndarray] = []
        last_get = None
        for _, get in itertools.islice(picked, num_frames):
            if get is not last_get:  # upsampling repeats a frame: decode and resize it once
                pixels, last_get = get(), get
                pixels = _resize(pixels, size, resize_mode) if size else pixels
                if out and pixels.shape != out[0].shape:
                    raise VideoError(
                        f"{path}: frame size changes from {out[0].shape[:2]} to {pixels.shape[:2]} "
                        "mid-video; pass size=(H, W) to resize every frame"
                    )
            out.append(pixels)
    if not out:
        given = {"start": start, "end": end, "start_frame": start_frame, "num_frames": num_frames}
        asked = ", ".join(f"{k}={v}" for k, v in given.items() if v is not None)
        raise VideoError(
            f"{path}: no frames in the requested range ({asked})" if asked else f"{path}: no frames"
        )
    return Video(np.stack(out), float(fps or source_fps))


def _check_read_args(
    path: Path,
    start: float | None,
    end: float | None,
    start_frame: int | None,
    num_frames: int | None,
    fps: float | None,
    size: tuple[int, int] | None,
    resize_mode: str,
) -> None:
    by_time, by_index = (start, end) != (None, None), (start_frame, num_frames) != (None, None)
    if by_time and by_index:
        raise VideoError(
            f"{path}: give a range by time (start/end) or by index (start_frame/num_frames), not both"
        )
    if start is not None and not start >= 0:
        raise VideoError(f"{path}: start must be >= 0 s, got {start}")
    if end is not None and not end > (start or 0):
        raise VideoError(f"{path}: end must be after start, got start={start}, end={end}")
    for name, value, low in (("start_frame", start_frame, 0), ("num_frames", num_frames, 1)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low
        ):
            raise VideoError(f"{path}: {name} must be an integer >= {low}, got {value!r}")
    if fps is not None and not _is_rate(fps):
        raise VideoError(f"{path}: fps must be a positive finite number, got {fps!r}")
    if size is not None and (
        len(size) != 2 or not all(isinstance(n, numbers.Integral) and n > 0 for n in size)
    ):
        raise VideoError(f"{path}: size must be (H, W) with positive integers, got {size!r}")
    if resize_mode not in RESIZE_MODES:
        raise VideoError(f"{path}: resize_mode must be one of {RESIZE_MODES}, got {resize_mode!r}")


def _resample(
    frames: Iterator[Frame], source_fps: float, fps: float, start: float | None, end: float | None
) -> Iterator[Frame]:
    """Output frame k is the source frame nearest to t0 + k / fps (a tie goes to the earlier one)."""
    previous = next(frames, None)
    if previous is None:
        return
    t0 = previous[0] if start is None else start
    k = 0
    for current in frames:
        while (target := t0 + k / fps) <= current[0]:
            if end is not None and target >= end - _EPS:
                return
            yield previous if target - previous[0] <= current[0] - target + _EPS else current
            k += 1
        previous = current
    shown_until = previous[0] + 1 / source_fps  # the last frame stays on screen for one source period
    while (target := t0 + k / fps) < shown_until - _EPS and (end is None or target < end - _EPS):
        yield previous
        k += 1


def _resize(pixels: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    (height, width), (src_h, src_w) = map(int, size), pixels.shape[:2]
    if (src_h, src_w) == (height, width):
        return pixels
    image = Image.fromarray(pixels)
    lanczos = Image.Resampling.LANCZOS  # widens its footprint when shrinking, so fine patterns do not alias
    if mode == "crop":
        scale = max(height / src_h, width / src_w)
        left, top = (src_w - width / scale) / 2, (src_h - height / scale) / 2  # centred region that fills it
        return np.asarray(image.resize((width, height), lanczos, box=(left, top, src_w - left, src_h - top)))
    scale = min(height / src_h, width / src_w)
    fit_h, fit_w = max(1, round(src_h * scale)), max(1, round(src_w * scale))
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - fit_h) // 2, (width - fit_w) // 2
    canvas[top : top + fit_h, left : left + fit_w] = np.asarray(image.resize((fit_w, fit_h), lanczos))
    return canvas


@contextlib.contextmanager
def _open_source(path: Path, seek_to: float | None, fps: float | None) -> Iterator[_Source]:
    """Any readable path as a `_Source`; `fps` times the frames of a folder that records no rate."""
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.is_dir():
        yield _open_folder(path, fps)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        with _open_image(path) as image:
            yield _open_animation(path, image)
    else:
        with _open_container(path, seek_to) as source:
            yield source


def _open_folder(path: Path, fps: float | None) -> _Source:
    files = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    files.sort(key=lambda p: [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p.name)])
    if not files:
        raise VideoError(f"{path}: no frames (the folder holds no {'/'.join(IMAGE_SUFFIXES)} images)")
    with _open_image(files[0]) as image:
        recorded = image.info.get(_FPS_KEY)
    try:
        rate = float(Fraction(recorded)) if recorded is not None else None
    except (ValueError, ZeroDivisionError) as error:
        raise VideoError(f"{files[0]}: unreadable frame rate {recorded!r} in its PNG text") from error

    def load(file: Path) -> np.ndarray:
        with _open_image(file) as image:
            return _rgb(file, image)

    period = 1 / (rate or fps or 1.0)
    frames = ((i * period, lambda file=file: load(file)) for i, file in enumerate(files))
    return _Source(rate, len(files), len(files) / rate if rate else None, frames)


@contextlib.contextmanager
def _open_image(path: Path) -> Iterator[Image.Image]:
    try:
        image = Image.open(path)
    except Image.DecompressionBombError as error:  # Pillow refuses images over twice its pixel limit
        raise VideoError(
            f"{path}: too large an image ({error}); the most is {2 * Image.MAX_IMAGE_PIXELS:,} pixels"
        ) from error
    except OSError as error:  # Pillow's "cannot identify image file" is an OSError
        raise VideoError(f"{path}: not a video file (could not be decoded)") from error
    with image:
        yield image


def _rgb(path: Path, image: Image.Image) -> np.ndarray:
    try:
        return np.asarray(image.convert("RGB"))
    except OSError as error:
        raise VideoError(f"{path}: truncated or corrupt ({error})") from error


def _open_animation(path: Path, image: Image.Image) -> _Source:
    """An animation expanded to ticks of its shortest delay, or a still as one frame."""
    delays, stills = [], []  # animations are small: decode every frame once, up front
    try:
        for frame in ImageSequence.Iterator(image):
            stills.append(_rgb(path, frame))
            delays.append(frame.info.get("duration"))  # WebP sets it only once the frame is loaded
    except (OSError, EOFError) as error:
        raise VideoError(f"{path}: truncated or corrupt ({error})") from error
    if None in delays or (len(delays) == 1 and not delays[0]):  # a still; EXIF may say the camera was turned
        pixels = _rgb(path, ImageOps.exif_transpose(image))
        return _Source(None, 1, None, iter([(0.0, lambda: pixels)]))
    delays = [_SLOW_DELAY_MS if delay < _MIN_DELAY_MS else delay for delay in delays]
    tick = min(delays)
    ticks = range(math.ceil(sum(delays) / tick - _EPS))
    # Frame i covers [ends[i] - delays[i], ends[i]) ms; show it at every tick that falls inside.
    which = np.searchsorted(np.cumsum(delays), [k * tick for k in ticks], side="right")
    frames = ((k * tick / 1000, lambda i=i: stills[i]) for k, i in zip(ticks, which, strict=True))
    return _Source(1000 / tick, len(ticks), sum(delays) / 1000, frames)


@contextlib.contextmanager
def _open_container(path: Path, seek_to: float | None) -> Iterator[_Source]:
    try:
        container = av.open(os.fspath(path))
    except av.FFmpegError as error:
        with path.open("rb") as file:
            head = file.read(16)
        if not head:
            raise VideoError(f"{path}: empty file (0 bytes)") from error
        # A known container signature that fails to open is damaged rather than foreign.
        if head[4:8] == b"ftyp" or head.startswith((b"\x1a\x45\xdf\xa3", b"RIFF", b"OggS", b"FLV")):
            raise VideoError(f"{path}: truncated or corrupt (its header could not be read)") from error
        raise VideoError(f"{path}: not a video file (could not be decoded)") from error
    with container:
        if not container.streams:
            raise VideoError(f"{path}: truncated or corrupt (no streams could be read)")
        if not container.streams.video:  # a cut header leaves streams of no known kind
            if container.streams.audio or container.streams.subtitles:
                raise VideoError(f"{path}: has no video stream (only audio or subtitles)")
            raise VideoError(f"{path}: truncated or corrupt (no video stream could be read)")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        if not rate:
            raise VideoError(f"{path}: records no frame rate")
        if stream.duration is not None:
            duration = float(stream.duration * stream.time_base)
        else:  # estimated by FFmpeg, so only reported, never used to detect truncation
            duration = container.duration / av.time_base if container.duration else None
        origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        if seek_to is not None:  # lands on the keyframe at or before it; frames before it are skipped later
            container.seek(round((seek_to + origin) / stream.time_base), stream=stream, backward=True)
        # Only an mp4/mov index records every sample, so only there does an early end prove a cut file.
        indexed = duration if container.format.name.startswith("mov") and stream.duration else None
        frames = _decode(path, container, stream, origin, float(rate), indexed)
        yield _Source(float(rate), stream.frames or round((duration or 0) * rate), duration, frames)


def _decode(
    path: Path,
    container: av.container.InputContainer,
    stream: av.VideoStream,
    origin: float,
    rate: float,
    indexed: float | None,
) -> Iterator[Frame]:
    last = None
    try:
        for frame in container.decode(stream):
            # A frame without a timestamp follows its predecessor.
            last = frame.time - origin if frame.time is not None else 0.0 if last is None else last + 1 / rate
            yield last, lambda frame=frame: _upright(frame)
    except av.FFmpegError as error:
        where = "at the start" if last is None else f"after {last:.3f} s"
        raise VideoError(f"{path}: truncated or corrupt (decoding failed {where}: {error})") from error
    # A cut file whose index survived ends quietly; the duration the index records tells the story.
    if indexed is not None and (last if last is not None else -math.inf) < indexed - 1.5 / rate:
        ended = "no frames" if last is None else f"frames up to {last:.3f} s"
        raise VideoError(f"{path}: truncated or corrupt ({ended} of a recorded {indexed:.3f} s)")


def _upright(frame: av.VideoFrame) -> np.ndarray:
    pixels = frame.to_ndarray(format="rgb24")
    turns = round(frame.rotation / 90) % 4  # phones store portrait video sideways plus a rotation to apply
    return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels


def probe_video(path: PathLike) -> VideoInfo:
    """Frame count, rate, displayed size and duration of `path`, from its header and first frame."""
    path = Path(path)
    with _open_source(path, None, None) as source:
        first = next(source.frames, None)
        if first is None:
            raise VideoError(f"{path}: no frames")
        height, width = first[1]().shape[:2]
    return VideoInfo(source.num_frames, source.fps, height, width, source.duration)


def scan_video(path: PathLike) -> VideoInfo:
    """What `probe_video` tells, from decoding every frame (none converted to pixels but the first): the
    frame count and duration are what decodes, and a truncated or corrupt file raises its `VideoError` here,
    not when a reader reaches the damage. Slower than a probe by a whole decode."""
    path = Path(path)
    with _open_source(path, None, None) as source:
        count, first = 0, None
        for _, get in source.frames:
            first = get() if first is None else first
            count += 1
        if first is None:
            raise VideoError(f"{path}: no frames")
    duration = count / source.fps if source.fps else None
    return VideoInfo(count, source.fps, first.shape[0], first.shape[1], duration)


def to_video_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 frames (F, H, W, 3) -> float32 video (3, F, H, W) in [-1, 1]."""
    return torch.from_numpy(frames).permute(3, 0, 1, 2).float().div_(127.5).sub_(1.0)  # (3, F, H, W)


def to_frames(video: torch.Tensor) -> np.ndarray:
    """float video (3, F, H, W) in [-1, 1] -> uint8 frames (F, H, W, 3)."""
    pixels = ((video.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.permute(1, 2, 3, 0).cpu().numpy()  # (F, H, W, 3)
