"""The dataset manifest: round trips, unknown keys kept, clear errors with file and line."""

import json

import numpy as np
import pytest
from PIL import Image

from tessera.config import DataConfig
from tessera.data.dataset import ManifestClips
from tessera.data.manifest import MANIFEST_NAME, Record, read_manifest, resolve, write_manifest
from tessera.data.video_io import write_video


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
