"""The diffusion transformer: shapes, per-token time, text masks, init, parity with diffusers, Wan loading."""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import save_file

from tessera.convert.wan_dit import (
    dit_config_from_diffusers,
    load_wan_dit,
    original_to_diffusers_dit_key,
)
from tessera.models.dit import DIT_SIZES, X0_MIN_TIME, DiT, DiTConfig, PatchEmbed3d, pool_text
from tessera.models.layers import timestep_embedding
from tessera.models.step_cache import StepCache
from tessera.weights import load_weights, save_weights

TINY = DIT_SIZES["tiny"]
# The same architecture as a diffusers WanTransformer3DModel config (its own test size).
TINY_DIFFUSERS = {
    "patch_size": [1, 2, 2],
    "num_attention_heads": 2,
    "attention_head_dim": 12,
    "in_channels": 4,
    "out_channels": 4,
    "text_dim": 16,
    "freq_dim": 256,
    "ffn_dim": 32,
    "num_layers": 2,
    "rope_max_seq_len": 32,
}


def random_dit(cfg: DiTConfig = TINY, seed: int = 0) -> DiT:
    """A DiT whose zero-initialised parts (time_proj, proj_out, biases) are random, so every path matters."""
    torch.manual_seed(seed)
    model = DiT(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return model


def inputs(batch=2, grid=(3, 6, 10), num_text=7, cfg: DiTConfig = TINY, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cfg.in_channels, *grid, generator=gen)
    t = torch.tensor([500.0, 17.3, 999.0, 0.0][:batch])
    context = torch.randn(batch, num_text, cfg.text_dim, generator=gen)
    return x, t, context


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize(("patch", "grid"), [((1, 2, 2), (3, 6, 10)), ((2, 2, 2), (4, 6, 10))])
def test_output_has_the_input_grid_on_odd_sizes(patch, grid):
    cfg = dataclasses.replace(TINY, patch_size=patch)
    model = random_dit(cfg)
    x, t, context = inputs(grid=grid, cfg=cfg)
    with torch.no_grad():
        v = model(x, t, context)
    assert v.shape == x.shape
    assert torch.isfinite(v).all()


@pytest.mark.parametrize("patch", [(1, 2, 2), (1, 4, 4), (2, 2, 2)])
def test_patch_embedding_is_the_strided_convolution_it_replaces(patch):
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(16, 64, kernel_size=patch, stride=patch)
    embed = PatchEmbed3d(16, 64, patch)
    embed.load_state_dict(conv.state_dict())  # the same parameter names and shapes
    x = torch.randn(2, 16, 4, 16, 24)
    expected = conv(x).flatten(2).transpose(1, 2)  # (B, L, D), tokens in (f, h, w) order
    torch.testing.assert_close(embed(x), expected, rtol=1e-5, atol=1e-5)


# Every patch size a shipped or converted config uses: the world DiT's (1, 4, 4) and Wan's (1, 2, 2). On CPUs
# with AMX, a bf16 Conv3d with stride > 1 was off by a relative 1.2 for these shapes (oneDNN#5494).
@pytest.mark.parametrize("patch", [(1, 4, 4), (1, 2, 2)])
def test_bf16_autocast_forward_is_within_2_percent_of_float32(patch):
    cfg = dataclasses.replace(DIT_SIZES["world"], patch_size=patch)
    torch.manual_seed(0)
    model = DiT(cfg).eval()
    # trained-like weights: the zero-initialised layers (time_proj, proj_out) are not zero
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, cfg.in_channels, 2, 32, 32, generator=gen)  # latents of 32x32: the failing sizes
    t = torch.tensor([900.0, 300.0])
    context = torch.randn(2, 12, cfg.text_dim, generator=gen)
    with torch.no_grad():
        expected = model(x, t, context)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = model(x, t, context).float()
    rel = ((got - expected).norm() / expected.norm()).item()
    assert rel < 0.02, f"bf16 autocast forward is {rel:.3f} (relative) off float32 for patch {patch}"


def test_bad_sizes_raise_value_error():
    model = random_dit()
    x, t, context = inputs()
    with pytest.raises(ValueError, match=r"\(3, 5, 10\).*\(1, 2, 2\)"):
        model(x[..., :5, :], t, context)
    with pytest.raises(ValueError, match="t must be"):
        model(x, t[:1], context)
    with pytest.raises(ValueError, match="context must be"):
        model(x, t, context[..., :8])
    with pytest.raises(ValueError, match="exceeds rope_max_seq_len"):
        model(torch.randn(1, 4, 33, 2, 2), t[:1], context[:1])
    with pytest.raises(ValueError, match="patch_size"):
        DiTConfig(patch_size=(1, 2))


def test_timestep_embedding_takes_any_shape():
    t = torch.rand(2, 3, 5) * 1000
    emb = timestep_embedding(t, 256)
    assert emb.shape == (2, 3, 5, 256) and emb.dtype == torch.float32
    assert torch.equal(emb[1, 2, 4], timestep_embedding(t[1, 2, 4 : 4 + 1], 256)[0])
    assert torch.equal(timestep_embedding(torch.zeros(1), 8), torch.tensor([[1.0] * 4 + [0.0] * 4]))


def test_per_token_time_equal_everywhere_matches_per_sample_time():
    model = random_dit()
    x, t, context = inputs()
    num_tokens = 3 * 3 * 5
    with torch.no_grad():
        per_sample = model(x, t, context)
        per_token = model(x, t[:, None].expand(-1, num_tokens), context)
    # Not bit-equal only because the time MLP multiplies a (B, 256) and a (B*L, 256) matrix.
    assert rel_err(per_token, per_sample) < 1e-6


def test_per_token_time_matters():
    model = random_dit()
    x, t, context = inputs()
    t_tokens = t[:, None].repeat(1, 3 * 3 * 5)
    with torch.no_grad():
        before = model(x, t_tokens, context)
        t_tokens[0, 7] = 0.0  # token 7 = frame 0, row 1, column 2 -> pixels (0, 2:4, 4:6)
        after = model(x, t_tokens, context)
    changed = (after - before).abs().amax(dim=1)  # (B, F, H, W)
    assert changed[0, 0, 2:4, 4:6].min() > 1e-3  # the token itself
    assert changed[0, 1].min() > 1e-6  # other frames see it through self-attention
    assert torch.equal(after[1], before[1])  # the other sample is untouched


@pytest.mark.parametrize("per_token", [False, True])
def test_x0_head_returns_the_velocity_that_lands_on_its_prediction(per_token):
    # The same weights read as an x0 head: x_t - t * v must give back the head's raw output exactly where
    # t >= X0_MIN_TIME, and the floor where t is smaller (t = 0 here is a known, clean token).
    v_model = random_dit()
    x0_model = DiT(dataclasses.replace(TINY, prediction="x0")).eval()
    x0_model.load_state_dict(v_model.state_dict())
    x, t, context = inputs(batch=4)
    if per_token:
        t = t[:, None].repeat(1, 3 * 3 * 5)
        t[0, 7] = 0.0  # one known token in a sample otherwise at 500
    with torch.no_grad():
        raw = v_model(x, t, context)  # the head's output, which the x0 model reads as clean latents
        v = x0_model(x, t, context)
    flow_t = x0_model.element_times(t, (3, 3, 5))  # (B, 1, 1|F, 1|H, 1|W)
    landed = x - flow_t.clamp_min(X0_MIN_TIME) * v
    assert torch.allclose(landed, raw, atol=1e-5)
    if per_token:
        # Token 7 = frame 0, row 1, column 2 -> latents (0, 2:4, 4:6): it alone uses the floor.
        assert torch.allclose(v[0, :, 0, 2:4, 4:6], (x - raw)[0, :, 0, 2:4, 4:6] / X0_MIN_TIME, atol=1e-4)
        assert torch.allclose(v[0, :, 1], (x - raw)[0, :, 1] / 0.5, atol=1e-5)
    with pytest.raises(ValueError, match="prediction"):
        DiTConfig(prediction="eps")


def test_masked_text_tokens_do_not_matter():
    model = random_dit()
    x, t, context = inputs()
    mask = torch.tensor([[True] * 4 + [False] * 3, [True] * 7])
    with torch.no_grad():
        out = model(x, t, context, mask)
        other = context.clone()
        other[0, 4:] = 100 * torch.randn(3, TINY.text_dim)
        assert torch.equal(model(x, t, other, mask), out)
        assert rel_err(model(x, t, context, torch.ones_like(mask)), model(x, t, context)) < 1e-6
        assert rel_err(model(x, t, context, mask)[0], model(x[:1], t[:1], context[:1, :4])[0]) < 1e-5
        assert not torch.allclose(model(x, t, other)[0], model(x, t, context)[0])  # without the mask it would


def test_fully_masked_text_gives_finite_output_independent_of_the_text():
    model = random_dit()
    x, t, context = inputs()
    mask = torch.tensor([[False] * 7, [True] * 7])
    with torch.no_grad():
        out = model(x, t, context, mask)
        assert torch.isfinite(out).all()
        # The row attends to nothing (not, say, uniformly to all its masked tokens).
        assert torch.equal(model(x, t, torch.randn_like(context), mask)[0], out[0])
        assert torch.equal(out[1], model(x, t, context)[1])


def test_pool_text_is_the_mean_of_the_real_tokens():
    context = torch.randn(2, 5, 3)
    mask = torch.tensor([[True, True, False, False, False], [True] * 5])
    pooled = pool_text(context, mask)
    assert torch.allclose(pooled[0], context[0, :2].mean(0)) and torch.allclose(pooled[1], context[1].mean(0))
    assert torch.allclose(pool_text(context, None), context.mean(1))


POOLED = "condition_embedder.pooled_text_embedder"


def test_pooled_text_starts_as_a_no_op_then_hears_the_text(tmp_path):
    """A DiT grown by the pooled-text path predicts what the DiT it was loaded from did; once that path has
    weights, the text moves the output through it alone (the cross-attention is cut off here)."""
    plain = random_dit()
    save_weights(plain, tmp_path / "dit.safetensors")
    grown = DiT(dataclasses.replace(TINY, pooled_text=True)).eval()
    load_weights(grown, tmp_path / "dit.safetensors", new_children=(POOLED,))
    x, t, context = inputs()
    mask = torch.tensor([[True] * 4 + [False] * 3, [True] * 7])
    with torch.no_grad():
        assert torch.equal(grown(x, t, context, mask), plain(x, t, context, mask))
        for block in grown.blocks:  # the text now reaches the output only through the pooled path
            block.attn2.to_out[0].weight.zero_()
            block.attn2.to_out[0].bias.zero_()
        out = grown(x, t, context, mask)
        assert torch.equal(grown(x, t, 3 * context, mask), out)  # still a no-op: its last layer is zero
        grown.condition_embedder.pooled_text_embedder.linear_2.weight.normal_()
        out = grown(x, t, context, mask)
        assert not torch.allclose(grown(x, t, 3 * context, mask), out)
        other = context.clone()
        other[0, 4:] = torch.randn(3, TINY.text_dim)  # masked tokens stay out of the mean too
        assert torch.equal(grown(x, t, other, mask), out)


def test_load_weights_refuses_files_that_do_not_fit(tmp_path):
    plain, grown = random_dit(), DiT(dataclasses.replace(TINY, pooled_text=True))
    save_weights(plain, tmp_path / "plain.safetensors")
    save_weights(grown, tmp_path / "grown.safetensors")
    with pytest.raises(ValueError, match="missing"):  # a new part must be named to start fresh
        load_weights(grown, tmp_path / "plain.safetensors")
    with pytest.raises(ValueError, match="unexpected"):
        load_weights(random_dit(), tmp_path / "grown.safetensors")
    with pytest.raises(ValueError, match="already holds"):
        load_weights(grown, tmp_path / "grown.safetensors", new_children=(POOLED,))
    with pytest.raises(ValueError, match="missing"):  # only the named part may be missing
        load_weights(DiT(dataclasses.replace(TINY, num_layers=3)), tmp_path / "plain.safetensors")


def test_meta_build_then_init_weights():
    with torch.device("meta"):
        model = DiT(TINY)
    model.to_empty(device="cpu")
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.fill_(float("nan"))  # what uninitialised memory may hold
    model.init_weights()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    x, t, context = inputs()
    with torch.no_grad():
        v = model(x, t, context)
    assert torch.isfinite(v).all() and torch.equal(v, torch.zeros_like(v))  # proj_out starts at zero
    assert torch.equal(model.rope.freqs_cos, DiT(TINY).rope.freqs_cos)


def test_wan_1_3b_size_and_keys_on_meta():
    with torch.device("meta"):
        model = DiT(DIT_SIZES["wan2.1-t2v-1.3b"])
    assert sum(p.numel() for p in model.parameters()) == 1_418_996_800
    keys = set(model.state_dict())
    assert len(keys) == 825
    diffusers = pytest.importorskip("diffusers")
    with torch.device("meta"):
        ref = diffusers.WanTransformer3DModel(num_attention_heads=12, ffn_dim=8960, num_layers=30)
    assert keys == set(ref.state_dict())


def test_config_dict_round_trip_and_rejections():
    assert DiTConfig.from_dict(json.loads(json.dumps(TINY.to_dict()))) == TINY
    with pytest.raises(ValueError, match="num_blocks"):
        DiTConfig.from_dict({"num_blocks": 3})
    base = {"_class_name": "WanTransformer3DModel", "_diffusers_version": "0.42.1", "num_attention_heads": 12}
    assert dit_config_from_diffusers(base) == DIT_SIZES["wan2.1-t2v-1.3b"]
    with pytest.raises(ValueError, match="image_dim"):
        dit_config_from_diffusers({**base, "image_dim": 1280, "added_kv_proj_dim": 5120})
    with pytest.raises(ValueError, match="window_size"):
        dit_config_from_diffusers({**base, "window_size": [-1, -1]})


# diffusers' scripts/convert_wan_to_diffusers.py table, read in the diffusers -> original direction, for
# renaming a state dict to the original layout.
DIFFUSERS_TO_ORIGINAL = {
    "condition_embedder.time_embedder.linear_1": "time_embedding.0",
    "condition_embedder.time_embedder.linear_2": "time_embedding.2",
    "condition_embedder.time_proj": "time_projection.1",
    "condition_embedder.text_embedder.linear_1": "text_embedding.0",
    "condition_embedder.text_embedder.linear_2": "text_embedding.2",
    "patch_embedding": "patch_embedding",
    "scale_shift_table": "head.modulation",
    "proj_out": "head.head",
}
BLOCK_DIFFUSERS_TO_ORIGINAL = {
    "scale_shift_table": "modulation",
    **{
        f"attn1.{d}": f"self_attn.{o}"
        for d, o in [("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "o")]
    },
    **{
        f"attn2.{d}": f"cross_attn.{o}"
        for d, o in [("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "o")]
    },
    **{f"attn{i}.norm_{n}": f"{a}.norm_{n}" for i, a in [(1, "self_attn"), (2, "cross_attn")] for n in "qk"},
    "norm2": "norm3",
    "ffn.net.0.proj": "ffn.0",
    "ffn.net.2": "ffn.2",
}


def to_original_key(key: str) -> str:
    if key.startswith("blocks."):
        _, index, rest = key.split(".", 2)
        table, prefix = BLOCK_DIFFUSERS_TO_ORIGINAL, f"blocks.{index}."
    else:
        table, prefix, rest = DIFFUSERS_TO_ORIGINAL, "", key
    module, param = (rest, "") if rest in table else rest.rsplit(".", 1)
    return prefix + table[module] + (f".{param}" if param else "")


def test_original_key_table_round_trip():
    model = random_dit()
    original = {to_original_key(k): v for k, v in model.state_dict().items()}
    assert "blocks.1.norm3.weight" in original and "head.modulation" in original
    for prefix in ("", "model.diffusion_model."):
        renamed = {original_to_diffusers_dit_key(prefix + k): v for k, v in original.items()}
        DiT(TINY).load_state_dict(renamed, strict=True)
    with pytest.raises(ValueError, match="k_img"):
        original_to_diffusers_dit_key("blocks.0.cross_attn.k_img.weight")


def test_load_original_layout_file(tmp_path):
    # Shapes must be readable: Wan's heads are 128 wide, so use one such head.
    cfg = dataclasses.replace(TINY, num_heads=1, head_dim=128, rope_max_seq_len=1024, text_mask=False)
    model = random_dit(cfg)
    state = {"model.diffusion_model." + to_original_key(k): v for k, v in model.state_dict().items()}
    save_file(state, tmp_path / "wan.safetensors")
    loaded = load_wan_dit(tmp_path / "wan.safetensors")
    assert loaded.cfg == cfg
    x, t, context = inputs(cfg=cfg)
    with torch.no_grad():
        assert torch.equal(loaded(x, t, context), model(x, t, context))


def test_load_wan_dit_from_sharded_folder(tmp_path):
    model = random_dit()
    bookkeeping = {"_class_name": "WanTransformer3DModel", "_diffusers_version": "0.42.1"}
    defaults = {"cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6, "image_dim": None}
    config = bookkeeping | defaults | TINY_DIFFUSERS | {"added_kv_proj_dim": None, "pos_embed_seq_len": None}
    (tmp_path / "config.json").write_text(json.dumps(config))
    state = model.state_dict()
    shards = {
        "diffusion_pytorch_model-00001-of-00002.safetensors": {},
        "diffusion_pytorch_model-00002-of-00002.safetensors": {},
    }
    weight_map = {}
    for i, (key, tensor) in enumerate(state.items()):
        name = list(shards)[i % 2]
        shards[name][key] = tensor.contiguous()
        weight_map[key] = name
    for name, tensors in shards.items():
        save_file(tensors, tmp_path / name)
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (tmp_path / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    loaded = load_wan_dit(tmp_path)
    assert loaded.cfg == dataclasses.replace(TINY, text_mask=False)  # Wan weights read the text padding
    x, t, context = inputs()
    with torch.no_grad():
        assert torch.equal(loaded(x, t, context), model(x, t, context))


def test_parity_with_diffusers_wan_transformer():
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    ref = diffusers.WanTransformer3DModel(**TINY_DIFFUSERS).eval()
    with torch.no_grad():
        for p in ref.parameters():  # diffusers zero-inits nothing, but make sure every weight matters
            p.add_(0.2 * torch.randn_like(p))
    ours = DiT(TINY).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x, t, context = inputs()
    t_tokens = torch.rand(2, 3 * 3 * 5) * 1000
    with torch.no_grad():
        assert rel_err(ours(x, t, context), ref(x, t, context, return_dict=False)[0]) < 1e-5
        assert rel_err(ours(x, t_tokens, context), ref(x, t_tokens, context, return_dict=False)[0]) < 1e-5


def test_load_wan_dit_reads_a_folder_written_by_diffusers(tmp_path):
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    ref = diffusers.WanTransformer3DModel(**TINY_DIFFUSERS).eval()
    ref.save_pretrained(tmp_path, max_shard_size="20KB")  # sharded, with diffusers' own config.json
    assert len(list(tmp_path.glob("*.safetensors"))) > 1
    ours = load_wan_dit(tmp_path)
    x, t, context = inputs()
    with torch.no_grad():
        assert rel_err(ours(x, t, context), ref(x, t, context, return_dict=False)[0]) < 1e-5


def test_step_cache_skips_only_when_the_first_block_barely_changed():
    model = random_dit()
    x, t, context = inputs()
    with torch.no_grad():
        full = model(x, t, context)
        never = StepCache(0.0)
        assert torch.equal(model(x, t, context, cache=never), full)
        assert torch.equal(model(x, t, context, cache=never), full) and never.skipped == 0
        cache = StepCache(0.1)
        model(x, t, context, cache=cache)  # the first call always runs every block
        nearby = model(x + 1e-3 * torch.randn_like(x), t, context, cache=cache)  # first block: 3e-4 change
        assert cache.skipped == 1 and rel_err(nearby, full) < 0.05  # the other blocks' residual reused
        model(torch.randn_like(x), t, context, cache=cache)  # another input (0.3 change): a full step
        assert cache.skipped == 1 and cache.calls == 3
    with pytest.raises(ValueError, match="threshold"):
        StepCache(-1)
