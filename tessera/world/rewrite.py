"""Prompt rewriting for models trained on world captions: people's words in, the captions' words out.

Sora, like DALL-E 3, has a language model turn a user's prompt into the kind of caption its video model
trained on. A model trained on `tessera.world.captions` learnt those captions' words far better than the
text encoder's sense of other words or of Chinese, so a prompt the world's parser fully understands is given
to the model as the plain English caption of what it said (`rewrite_prompt`). Nothing is added and nothing
dropped (the caption is parsed back and must say the same): a prompt that says more than such a caption
carries (the camera, cuts, walls, counts, relations, a start place that is not where the motion begins, a
background's second tone), or any word the parser does not know, is left as written, and the text encoder
reads it as it is.
"""

from __future__ import annotations

from tessera.world.captions import plain_caption, thirds
from tessera.world.prompts import ParsedPrompt, parse_prompt
from tessera.world.scene import DIRECTIONS, ObjectSpec

NEEDED = frozenset({"shape", "colour", "motion"})  # what each object must have been given
CARRIED = NEEDED | {"size"}  # what the rewritten caption says of an object
# The third of the canvas a mover starts in when its motion sets out from there ("from left to right").
_LEAVES = {-1: "right", 1: "left"}, {-1: "bottom", 1: "top"}


def rewrite_prompt(text: str, *, seed: int = 0) -> str | None:
    """The plain English caption of a world prompt that says only what such a caption carries; None when
    the prompt says anything more or anything the parser does not read."""
    try:
        parsed = parse_prompt(text)
    except ValueError:
        return None
    if not _carried(parsed):
        return None
    sized = tuple("size" in names for names in parsed.stated.objects)
    background = parsed.scene.background if parsed.stated.background else None
    text = plain_caption(list(parsed.scene.objects), sized=sized, background=background, seed=seed)
    return text if _claims(parse_prompt(text)) == _claims(parsed) else None


def _claims(parsed: ParsedPrompt) -> tuple:
    """What a prompt states, start places aside (`_carried` checked that the motions imply them)."""
    objects = sorted(
        sorted((k, v) for k, v in said.items() if k not in ("x", "y")) for said in parsed.stated_values()
    )
    bg = parsed.scene.background
    return objects, sorted((k, getattr(bg, k)) for k in parsed.stated.background)


def _carried(parsed: ParsedPrompt) -> bool:
    s = parsed.stated
    if s.camera or s.cut or s.relations or s.count is not None or s.walls or "tone2" in s.background:
        return False
    for obj, names in zip(parsed.scene.objects, s.objects, strict=True):
        if not (names >= NEEDED and names <= CARRIED | {"x", "y"}):
            return False
        if not _start_implied(obj, names):
            return False
    return True


def _start_implied(obj: ObjectSpec, names: frozenset[str]) -> bool:
    """A stated start place is carried only by the motion that sets out from it: "from the left to the
    right" says no more than "to the right" in a world whose movers start at the side they leave."""
    if not names & {"x", "y"}:
        return True
    if obj.motion not in DIRECTIONS:
        return False
    cell = thirds(obj)
    for axis, name in enumerate("xy"):
        step = DIRECTIONS[obj.motion][axis]
        leaves = _LEAVES[axis].get(int(step > 0) - int(step < 0))
        if name in names and cell[axis] != leaves:
            return False
    return True
