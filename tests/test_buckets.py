"""Training buckets: names, which bucket a clip trains in, the batch sampler's partitions and its resume."""

import dataclasses
import itertools
import json

import numpy as np
import pytest

from tessera.config import DataConfig
from tessera.data.buckets import Bucket, BucketBatchSampler, bucket_for, check_buckets, config_buckets
from tessera.data.dataset import WorldClips
from tessera.presets import load_config

BUCKETS = [
    Bucket.parse(n) for n in ("176x96x17", "96x176x17", "128x128x17", "128x128x9", "176x96x1", "128x128x1")
]


def test_bucket_names_round_trip():
    bucket = Bucket.parse("176x96x17")
    assert bucket == Bucket(width=176, height=96, num_frames=17)
    assert bucket.name == "176x96x17" and Bucket.parse(bucket.name) == bucket
    assert bucket.aspect == pytest.approx(176 / 96) and Bucket(96, 176, 1).aspect < 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("176x96", "WIDTHxHEIGHTxFRAMES"),
        ("176x96x17x2", "WIDTHxHEIGHTxFRAMES"),
        ("wide", "WIDTHxHEIGHTxFRAMES"),
        ("176x-96x17", "WIDTHxHEIGHTxFRAMES"),
        ("176x96x0", "must be positive"),
    ],
)
def test_bad_bucket_names_are_clear_errors(text, message):
    with pytest.raises(ValueError, match=message):
        Bucket.parse(text)


def test_config_buckets_default_to_the_config_size_and_parse_overrides():
    assert config_buckets(DataConfig(width=48, height=32, num_frames=5)) == (Bucket(48, 32, 5),)
    cfg = load_config("dit-tiny", ["data.buckets=32x32x5,48x32x5,32x32x1"])
    assert cfg.data.buckets == ("32x32x5", "48x32x5", "32x32x1")
    assert config_buckets(cfg.data) == (Bucket(32, 32, 5), Bucket(48, 32, 5), Bucket(32, 32, 1))
    with pytest.raises(ValueError, match="twice"):
        config_buckets(dataclasses.replace(cfg.data, buckets=("32x32x5", "32x32x5")))


@pytest.mark.parametrize(
    "geometry, expected",
    [
        ((1920, 1080, 60), "176x96x17"),  # 16:9
        ((1080, 1920, 30), "96x176x17"),  # 9:16
        ((500, 480, 20), "128x128x17"),  # nearly square
        ((1920, 1080, 12), "128x128x9"),  # too short for 17: the only 9-frame bucket
        ((1920, 1080, 1), "176x96x1"),  # an image goes to an image bucket
        ((600, 640, 1), "128x128x1"),
        ((1920, 1080, 4), "176x96x1"),  # shorter than any video bucket: its first frame, as an image
    ],
)
def test_bucket_for_picks_the_longest_fitting_length_then_the_nearest_aspect(geometry, expected):
    assert bucket_for(*geometry, BUCKETS).name == expected


def test_bucket_for_measures_aspect_in_log_ratio_then_prefers_the_nearest_size():
    square, wide, tall = Bucket(64, 64, 1), Bucket(128, 64, 1), Bucket(64, 128, 1)
    # 1.5:1 is nearer 2:1 than 1:1 in log ratio (0.29 vs 0.41), though nearer 1:1 in plain ratio.
    assert bucket_for(150, 100, 1, [square, wide]) == wide
    assert bucket_for(100, 150, 1, [square, tall]) == tall
    small, large = Bucket(128, 128, 1), Bucket(256, 256, 1)
    assert (
        bucket_for(200, 200, 1, [small, large]) == large and bucket_for(140, 140, 1, [small, large]) == small
    )


def test_bucket_for_without_a_fitting_bucket_is_a_clear_error():
    with pytest.raises(ValueError, match="no bucket fits a clip of 64x64x1; buckets: 64x64x5"):
        bucket_for(64, 64, 1, [Bucket(64, 64, 5)])
    with pytest.raises(ValueError, match="positive"):
        bucket_for(0, 64, 5, [Bucket(64, 64, 5)])


def test_check_buckets_names_what_the_models_cannot_take():
    check_buckets([Bucket(48, 32, 5), Bucket(32, 32, 1)], width_multiple=16, height_multiple=16, frame_step=4)
    with pytest.raises(ValueError, match=r"buckets 40x32x5, 32x32x6 do not fit.*multiple of 16.*4k\+1"):
        check_buckets(
            [Bucket(40, 32, 5), Bucket(32, 32, 6), Bucket(32, 32, 9)],
            width_multiple=16,
            height_multiple=16,
            frame_step=4,
        )


def test_world_scenes_render_at_their_drawn_bucket():
    names = ("32x32x5", "48x32x5", "32x48x5", "32x32x1")
    cfg = DataConfig(num_scenes=12, languages=("en",), buckets=names)
    clips = WorldClips(cfg)
    drawn = [clips.bucket(i).name for i in range(12)]
    assert set(drawn) == set(names)  # 12 uniform draws over 4 buckets (fixed by the seed)
    more = WorldClips(dataclasses.replace(cfg, num_scenes=40))  # a scene keeps its geometry
    assert [more.bucket(i).name for i in range(12)] == drawn
    assert [WorldClips(dataclasses.replace(cfg, seed=1)).bucket(i).name for i in range(12)] != drawn
    for i in range(4):
        size = clips.bucket(i)
        assert clips[i]["video"].shape == (3, size.num_frames, size.height, size.width)
    plain = WorldClips(DataConfig(width=48, height=32, num_frames=5, num_scenes=2, languages=("en",)))
    assert plain.bucket(1) == Bucket(48, 32, 5) and plain[1]["video"].shape == (3, 5, 32, 48)


# 50 items over buckets 0, 1, 2 and a bucket 7 of 3 items, too few for a batch of 4.
ITEMS = [int(b) for b in np.random.default_rng(0).integers(0, 3, size=47)] + [7, 7, 7]


def _ids(batches):
    return [i for batch in batches for i in batch]


def test_every_batch_is_one_full_bucket_and_an_epoch_repeats_no_item():
    sampler = BucketBatchSampler(ITEMS, batch_size=4, seed=0)
    expected = sum(ITEMS.count(b) // 4 for b in (0, 1, 2))
    assert sampler.batches_per_epoch == expected
    for epoch in range(3):
        batches = sampler.epoch_batches(epoch)
        assert len(batches) == expected
        assert all(len(b) == 4 and len({ITEMS[i] for i in b}) == 1 for b in batches)
        assert len(set(_ids(batches))) == 4 * expected  # no item twice
        assert not {47, 48, 49} & set(_ids(batches))  # the small bucket makes no batch
    first = list(itertools.islice(sampler, 2 * expected))
    assert first == sampler.epoch_batches(0) + sampler.epoch_batches(1)


def test_batches_are_fixed_by_the_seed_and_change_every_epoch():
    a, b = BucketBatchSampler(ITEMS, 4, seed=3), BucketBatchSampler(ITEMS, 4, seed=3)
    assert list(itertools.islice(a, 30)) == list(itertools.islice(b, 30))
    assert BucketBatchSampler(ITEMS, 4, seed=4).epoch_batches(0) != a.epoch_batches(0)
    assert a.epoch_batches(0) != a.epoch_batches(1)
    assert [sorted(x) for x in a.epoch_batches(0)] != [
        sorted(x) for x in a.epoch_batches(1)
    ]  # not only order


@pytest.mark.parametrize("stop", [5, 10, 11, 27])  # inside epoch 0, at its end (10 batches), then later
def test_resume_draws_exactly_the_batches_of_an_uninterrupted_run(stop):
    straight = list(itertools.islice(BucketBatchSampler(ITEMS, 4, seed=2), stop + 12))
    first = BucketBatchSampler(ITEMS, 4, seed=2)
    assert first.batches_per_epoch == 10
    head = list(itertools.islice(first, stop))
    state = json.loads(json.dumps(first.state_dict()))  # what a checkpoint's state.json holds
    resumed = BucketBatchSampler(ITEMS, 4, seed=2)
    resumed.load_state_dict(state)
    assert head + list(itertools.islice(resumed, 12)) == straight


@pytest.mark.parametrize(
    "other, message",
    [
        (dict(seed=5), "seed 2 .here 5."),
        (dict(batch_size=3), "batch_size"),
        (dict(buckets_of_items=ITEMS[:-1]), "num_items"),
        (dict(buckets_of_items=[1 - b if b < 2 else b for b in ITEMS]), "data_digest"),
    ],
)
def test_a_state_of_another_run_is_rejected(other, message):
    state = BucketBatchSampler(ITEMS, 4, seed=2).state_dict()
    sampler = BucketBatchSampler(**{"buckets_of_items": ITEMS, "batch_size": 4, "seed": 2, **other})
    with pytest.raises(ValueError, match=message):
        sampler.load_state_dict(state)


def test_bad_positions_and_arguments_are_clear_errors():
    sampler = BucketBatchSampler(ITEMS, 4, seed=2)
    with pytest.raises(ValueError, match="outside an epoch of 10"):
        sampler.load_state_dict({**sampler.state_dict(), "position": 11})
    with pytest.raises(ValueError, match="epoch >= 0"):
        sampler.load_state_dict({**sampler.state_dict(), "epoch": -1})
    with pytest.raises(ValueError, match="no epoch batches"):
        BucketBatchSampler([0, 0, 1, 1], batch_size=3, seed=0)
    with pytest.raises(ValueError, match="seed=-1"):
        BucketBatchSampler(ITEMS, 4, seed=-1)
