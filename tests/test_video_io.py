"""Video files: round trips per format, ranges, resampling, resizing, errors and atomic writes."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from tessera.data.video_io import VideoError, probe_video, read_video, write_video

BITS = 6  # a frame's index is drawn as 6 black/white 8x8 blocks along the top, which survive lossy codecs


def coded_clip(num_frames: int = 30, height: int = 48, width: int = 64) -> np.ndarray:
    """Smooth gradients, a moving red square, and each frame's index written in blocks along the top."""
    y, x = np.mgrid[0:height, 0:width]
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for i in range(num_frames):
        frames[i, ..., 0] = 255 * x // (width - 1)
        frames[i, ..., 1] = 255 * y // (height - 1)
        frames[i, ..., 2] = 128
        left = 2 * i % (width - 12)
        frames[i, 20:32, left : left + 12] = (230, 30, 30)
        for bit in range(BITS):
            frames[i, 0:8, 8 * bit : 8 * bit + 8] = 255 * ((i >> bit) & 1)
    return frames


def indices(frames: np.ndarray) -> list[int]:
    """Read back the indices `coded_clip` drew, from the centres of the blocks."""
    blocks = [frames[:, 2:6, 8 * bit + 2 : 8 * bit + 6].mean(axis=(1, 2, 3)) > 128 for bit in range(BITS)]
    return [int(sum(int(b[f]) << bit for bit, b in enumerate(blocks))) for f in range(len(frames))]


def write_with_av(path, frames: np.ndarray, fps: int, *, rotation: int = 0, gop: int = 250) -> None:
    """An mp4 in FFmpeg's default layout (index last), optionally turned or with frequent keyframes."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt, stream.codec_context.gop_size = "yuv420p", gop
        stream.set_display_rotation(rotation)
        for i, frame in enumerate(frames):
            av_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            av_frame.pts = i
            container.mux(stream.encode(av_frame))
        container.mux(stream.encode())


def mean_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# ---------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("fps", [24, 30000 / 1001])
def test_mp4_round_trip(tmp_path, fps):
    clip = coded_clip()
    path = tmp_path / "clip.mp4"
    write_video(path, clip, fps)
    video = read_video(path)
    assert video.frames.shape == clip.shape and video.frames.dtype == np.uint8
    assert video.fps == pytest.approx(fps, rel=1e-6)
    assert mean_error(video.frames, clip) < 6
    assert indices(video.frames) == list(range(30))
    info = probe_video(path)
    assert (info.num_frames, info.height, info.width) == (30, 48, 64)
    assert info.fps == pytest.approx(fps, rel=1e-6) and info.duration == pytest.approx(30 / fps, rel=1e-3)


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_animation_round_trip(tmp_path, suffix):
    clip = coded_clip()
    clip[3] = clip[2]  # encoders merge repeats into one longer frame; reading must restore them
    path = tmp_path / f"clip{suffix}"
    write_video(path, clip, 25)
    video = read_video(path)
    assert video.frames.shape == clip.shape and video.fps == pytest.approx(25)
    assert indices(video.frames) == [0, 1, 2, 2, *range(4, 30)]
    assert mean_error(video.frames, clip) < 8
    assert probe_video(path).num_frames == 30
    with Image.open(path) as image:
        assert image.info["loop"] == 0  # loops forever


def test_gif_rate_is_rounded_to_centiseconds(tmp_path):
    write_video(tmp_path / "clip.gif", coded_clip(6), 24)
    assert read_video(tmp_path / "clip.gif").fps == pytest.approx(25)  # 1/24 s is stored as 4/100 s


@pytest.mark.parametrize("name", ["frames", "frames/"])
def test_png_folder_round_trip_is_exact(tmp_path, name):
    clip = coded_clip()
    write_video(f"{tmp_path}/{name}", clip, 12.5)
    folder = tmp_path / "frames"
    assert sorted(p.name for p in folder.iterdir())[:2] == ["frame_00000.png", "frame_00001.png"]
    video = read_video(folder)
    assert np.array_equal(video.frames, clip) and video.fps == 12.5
    assert probe_video(folder).num_frames == 30

    write_video(folder, clip[:3], 10)  # replaces the older folder whole
    assert len(list(folder.iterdir())) == 3 and read_video(folder).fps == 10


def test_png_folder_refuses_to_replace_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(VideoError, match="other than frames"):
        write_video(tmp_path, coded_clip(2), 10)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_foreign_frame_folder_needs_a_rate(tmp_path):
    for i, frame in enumerate(coded_clip(3)):
        Image.fromarray(frame).save(tmp_path / f"{i + 8}.png")  # 8, 9, 10: numeric order, not string order
    with pytest.raises(VideoError, match="records no frame rate"):
        read_video(tmp_path)
    video = read_video(tmp_path, fps=5)
    assert indices(video.frames) == [0, 1, 2] and video.fps == 5
    assert probe_video(tmp_path).fps is None


def test_still_image_is_a_one_frame_video(tmp_path):
    frame = coded_clip(1)[0]
    Image.fromarray(frame).save(tmp_path / "still.png")
    video = read_video(tmp_path / "still.png")
    assert np.array_equal(video.frames, frame[None]) and video.fps == 1.0
    assert read_video(tmp_path / "still.png", size=(24, 32)).frames.shape == (1, 24, 32, 3)
    info = probe_video(tmp_path / "still.png")
    assert (info.num_frames, info.fps, info.height, info.width) == (1, None, 48, 64)


def test_display_rotation_is_applied(tmp_path):
    path = tmp_path / "turned.mp4"
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:8, :8] = 255  # top-left marker
    write_with_av(path, np.stack([frame, frame]), 10, rotation=90)  # counter-clockwise
    frames = read_video(path).frames
    assert frames.shape == (2, 64, 32, 3)
    assert frames[0, -6:, :6].mean() > 200 and frames[0, :6, :6].mean() < 50  # top-left went bottom-left
    assert (probe_video(path).height, probe_video(path).width) == (64, 32)


# ------------------------------------------------------------------------------------- ranges, rates, sizes


@pytest.fixture(scope="module")
def mp4_24fps(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, coded_clip(), 24)  # 30 frames, 1.25 s
    return path


def test_range_by_index_and_by_time(mp4_24fps):
    assert indices(read_video(mp4_24fps, start_frame=5, num_frames=10).frames) == list(range(5, 15))
    assert indices(read_video(mp4_24fps, start_frame=25).frames) == list(range(25, 30))
    assert indices(read_video(mp4_24fps, num_frames=3).frames) == [0, 1, 2]
    assert indices(read_video(mp4_24fps, start=0.5, end=1.0).frames) == list(range(12, 24))
    assert indices(read_video(mp4_24fps, start=1.0).frames) == list(range(24, 30))
    assert indices(read_video(mp4_24fps, end=0.25).frames) == list(range(6))


def test_time_range_seeks_to_a_keyframe_and_skips_to_start(tmp_path):
    write_with_av(tmp_path / "gop.mp4", coded_clip(), 24, gop=6)  # keyframes at 0, 6, 12, ...
    assert indices(read_video(tmp_path / "gop.mp4", start=0.6).frames) == list(range(15, 30))
    assert indices(read_video(tmp_path / "gop.mp4", start=0.5, end=0.75).frames) == list(range(12, 18))
    assert indices(read_video(tmp_path / "gop.mp4", start=0.55, fps=6).frames) == [13, 17, 21, 25, 29]


def test_resampling_picks_the_nearest_frames(mp4_24fps):
    down = read_video(mp4_24fps, fps=8)
    assert down.fps == 8 and indices(down.frames) == list(range(0, 30, 3))
    up = read_video(mp4_24fps, fps=48)  # a tie between two frames goes to the earlier one
    assert up.fps == 48 and indices(up.frames) == [k // 2 for k in range(60)]
    odd = read_video(mp4_24fps, fps=10)  # source position 2.4 k
    assert indices(odd.frames) == [0, 2, 5, 7, 10, 12, 14, 17, 19, 22, 24, 26, 29]
    assert indices(read_video(mp4_24fps, fps=8, start=0.5, end=1.0).frames) == [12, 15, 18, 21]
    assert indices(read_video(mp4_24fps, fps=12, start_frame=6, num_frames=4).frames) == [6, 8, 10, 12]


def test_resize_keeps_the_aspect(tmp_path):
    # 40x80 (HxW): red and blue 10-pixel edges around green; far enough from the crop for Lanczos' reach.
    frame = np.zeros((40, 80, 3), np.uint8)
    frame[:, :10], frame[:, 10:70], frame[:, 70:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    write_video(tmp_path / "frames", frame[None], 10)

    crop = read_video(tmp_path / "frames", size=(20, 20), resize_mode="crop").frames[0]
    assert mean_error(crop, np.broadcast_to(np.array([0, 255, 0], np.uint8), crop.shape)) < 2

    fit = read_video(tmp_path / "frames", size=(40, 40), resize_mode="fit").frames[0]  # content 20x40
    assert fit[:10].max() == 0 and fit[30:].max() == 0  # black bars above and below
    assert fit[20, 1].argmax() == 0 and fit[20, 20].argmax() == 1 and fit[20, -2].argmax() == 2


# ---------------------------------------------------------------------------------------------- errors


def test_missing_foreign_and_empty_files(tmp_path):
    with pytest.raises(VideoError, match=r"missing\.mp4: no such file"):
        read_video(tmp_path / "missing.mp4")
    for name in ("text.mp4", "text.png"):
        (tmp_path / name).write_text("not a video\n" * 20)
        with pytest.raises(VideoError, match=rf"{name}: not a video file \(could not be decoded\)"):
            read_video(tmp_path / name)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        probe_video(tmp_path / "empty.mp4")


@pytest.mark.parametrize("keep", [1 / 3, 1 / 2, 3 / 4])
def test_truncated_mp4(tmp_path, mp4_24fps, keep):
    data = mp4_24fps.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(VideoError, match=r"cut\.mp4: truncated or corrupt"):
        read_video(cut)
    if keep == 3 / 4:  # the intact start of a cut file stays readable
        assert indices(read_video(cut, num_frames=2).frames) == [0, 1]


def test_truncated_mp4_without_its_index(tmp_path):
    path = tmp_path / "plain.mp4"
    write_with_av(path, coded_clip(10), 24)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VideoError, match="truncated or corrupt"):
        read_video(path)


def test_empty_ranges_have_no_frames(mp4_24fps):
    for kwargs in ({"start": 5.0}, {"start_frame": 40}, {"start": 2.0, "fps": 8}):
        with pytest.raises(VideoError, match="no frames"):
            read_video(mp4_24fps, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": 0.1, "num_frames": 3}, "not both"),
        ({"start": 0.5, "end": 0.5}, "end must be after start"),
        ({"num_frames": 0}, "num_frames must be"),
        ({"fps": 0}, "fps must be"),
        ({"size": (0, 10)}, "size must be"),
        ({"resize_mode": "stretch"}, "resize_mode must be one of"),
    ],
)
def test_bad_read_arguments(mp4_24fps, kwargs, message):
    with pytest.raises(VideoError, match=message):
        read_video(mp4_24fps, **kwargs)


def test_h264_refuses_odd_sizes(tmp_path):
    with pytest.raises(VideoError, match=r"even height and width, got 47x64.*46x64"):
        write_video(tmp_path / "odd.mp4", coded_clip(2, height=47), 24)
    assert not list(tmp_path.iterdir())
    write_video(tmp_path / "odd.gif", coded_clip(2, height=47), 24)  # only H.264 needs even sizes


@pytest.mark.parametrize(
    ("frames", "fps", "message"),
    [
        (coded_clip(2).astype(np.float32) / 255, 24, "uint8"),
        (coded_clip(1)[0], 24, "shape"),
        (np.zeros((2, 8, 8, 4), np.uint8), 24, "shape"),
        (np.zeros((0, 8, 8, 3), np.uint8), 24, "shape"),
        ([np.zeros((8, 8, 3), np.uint8)], 24, "numpy array"),
        (coded_clip(2), 0, "fps"),
        (coded_clip(2), float("nan"), "fps"),
    ],
)
def test_bad_frames_and_rates(tmp_path, frames, fps, message):
    with pytest.raises(VideoError, match=message):
        write_video(tmp_path / "bad.mp4", frames, fps)


def test_unknown_suffix_and_too_fast_animation(tmp_path):
    with pytest.raises(VideoError, match=r"clip\.avi: unknown suffix '\.avi'.*\.mp4"):
        write_video(tmp_path / "clip.avi", coded_clip(2), 24)
    with pytest.raises(VideoError, match="at most 50 fps"):
        write_video(tmp_path / "clip.gif", coded_clip(2), 60)


# ---------------------------------------------------------------------------------------------- atomic writes


class FailingFrames(np.ndarray):
    """Frames that pass validation and then fail after a few have been written."""

    def __iter__(self):
        for i in range(len(self)):
            if i == 3:
                raise RuntimeError("disk on fire")
            yield np.asarray(self[i])


@pytest.mark.parametrize("name", ["clip.mp4", "clip.gif", "clip.webp", "frames"])
def test_failed_write_leaves_no_trace(tmp_path, name):
    failing = coded_clip(8).view(FailingFrames)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_video(tmp_path / name, failing, 24)
    assert list(tmp_path.iterdir()) == []

    write_video(tmp_path / name, coded_clip(2), 24)
    before = read_video(tmp_path / name).frames
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_video(tmp_path / name, failing, 24)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # the old target, and no temporary files
    assert np.array_equal(read_video(tmp_path / name).frames, before)


def test_fraction_rates_are_written_exactly(tmp_path):
    write_video(tmp_path / "ntsc.mp4", coded_clip(4), Fraction(30000, 1001))
    assert read_video(tmp_path / "ntsc.mp4").fps == pytest.approx(30000 / 1001, rel=1e-9)
