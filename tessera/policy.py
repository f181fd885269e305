"""The prompt policy: a check every prompt passes before any work is done, in the CLI and in the server.

The default refuses a prompt that holds a phrase of a short list in English and Chinese (policy_words.py).
A deployment replaces it with its own callable, named "package.module:function" on the command line
(`tessera generate --policy`, `tessera serve --policy`): it takes a prompt and returns None to allow it, or a
reason, a short sentence, to refuse it. The reason reaches the person who asked (CLI error, HTTP 400).
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Callable, Iterable

from tessera import policy_words

Policy = Callable[[str], "str | None"]


class PromptRefused(ValueError):
    """A prompt the policy refused; the message says why."""


def _normalise(text: str) -> str:
    # NFKC folds full-width letters and compatibility forms, so "ｄｅｅｐｆａｋｅ" reads as "deepfake".
    return unicodedata.normalize("NFKC", text).casefold()


_ENGLISH = [(phrase, re.compile(rf"\b{re.escape(phrase)}s?\b")) for phrase in policy_words.ENGLISH]


def default_policy(prompt: str) -> str | None:
    """Refuses prompts holding a phrase of the default word list (English whole words, Chinese anywhere)."""
    text = _normalise(prompt)
    for phrase, pattern in _ENGLISH:
        if pattern.search(text):
            return f"it contains {phrase!r}, which the default word list does not allow"
    for phrase in policy_words.CHINESE:
        if phrase in text:
            return f"it contains {phrase!r}, which the default word list does not allow"
    return None


def load_policy(name: str | None) -> Policy:
    """The policy named "package.module:function", or the default one for None."""
    if name is None:
        return default_policy
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"policy {name!r} is not 'package.module:function', e.g. 'mypolicy:check'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"policy {name!r}: cannot import {module_name!r} ({error})") from error
    policy = getattr(module, attribute, None)
    if not callable(policy):
        raise ValueError(f"policy {name!r}: {module_name} has no callable {attribute!r}")
    return policy


def check_prompts(policy: Policy, prompts: Iterable[str]) -> None:
    """Raises PromptRefused for the first prompt the policy refuses."""
    for prompt in prompts:
        reason = policy(prompt)
        if reason is not None and not isinstance(reason, str):
            raise ValueError(f"the prompt policy must return None or a reason (str), got {reason!r}")
        if reason is not None:
            raise PromptRefused(f"prompt {prompt!r} refused by the prompt policy: {reason}")
