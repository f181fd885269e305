"""Configs: presets resolve, typed dotted overrides, helpful errors, JSON round trips."""

import json

import pytest

from tessera.config import DiTRunConfig, VAERunConfig, from_dict, to_dict
from tessera.presets import PRESETS, load_config


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_json(name):
    cfg = load_config(name)
    data = json.loads(json.dumps(to_dict(cfg)))
    assert from_dict(type(cfg), data) == cfg


def test_overrides_are_parsed_by_field_type():
    cfg = load_config(
        "vae-tiny",
        [
            "optim.lr=1e-4",
            "loop.steps=7",
            "data.languages=en",
            "optim.betas=0.8,0.95",
            "model.dim_mult=1,2,2,4",
        ],
    )
    assert isinstance(cfg, VAERunConfig)
    assert cfg.optim.lr == 1e-4 and cfg.loop.steps == 7
    assert cfg.data.languages == ("en",) and cfg.optim.betas == (0.8, 0.95)
    assert cfg.model.dim_mult == (1, 2, 2, 4)
    words = load_config(
        "dit-tiny",
        [
            "flow.tasks=text,first_last",
            "flow.task_weights=1,2",
            "model.patch_size=1x2x2",
            "data.buckets=176x96x17,96x176x1",
        ],
    )
    assert words.flow.tasks == ("text", "first_last") and words.flow.task_weights == (1.0, 2.0)
    assert words.model.patch_size == (1, 2, 2)
    assert words.data.buckets == ("176x96x17", "96x176x1")  # in words an x is a letter, not a separator
    assert from_dict(DiTRunConfig, json.loads(json.dumps(to_dict(words)))) == words


def test_fields_that_must_agree_are_overridden_together():
    cfg = load_config("vae-tiny", ["model.dim_mult=1,2,4", "model.temporal_downsample=true,true"])
    assert cfg.model.spatial_factor == 4 and cfg.model.temporal_factor == 4
    with pytest.raises(ValueError, match="temporal_downsample needs 2 entries"):
        load_config("vae-tiny", ["model.dim_mult=1,2,4"])


def test_unknown_keys_suggest_near_matches():
    with pytest.raises(ValueError, match="did you mean lr"):
        load_config("vae-tiny", ["optim.lrr=1"])
    with pytest.raises(ValueError, match="unknown preset.*did you mean"):
        load_config("dit-tiy")


@pytest.mark.parametrize(
    "item, message",
    [
        ("loop.steps=ten", "not a valid int"),
        ("loop", "not key=value"),
        ("loop=3", "is a section"),
        ("loop.steps.x=3", "goes too deep"),
        ("optim.betas=0.9", "expected 2"),
    ],
)
def test_bad_overrides_are_clear_errors(item, message):
    with pytest.raises(ValueError, match=message):
        load_config("dit-tiny", [item])


def test_from_dict_rejects_unknown_keys():
    data = to_dict(load_config("dit-tiny"))
    data["loop"]["stepz"] = 3
    with pytest.raises(ValueError, match="stepz"):
        from_dict(DiTRunConfig, data)
