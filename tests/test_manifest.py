"""The dataset manifest: round trips, unknown keys kept, clear errors with file and line."""

import json

import pytest

from tessera.data.manifest import MANIFEST_NAME, Record, read_manifest, resolve, write_manifest


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
