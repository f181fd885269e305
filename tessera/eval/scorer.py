"""Prompt adherence: check a video, claim by claim, against the world scene it was asked to show.

The scene is rendered (tessera.world.render) and both the reference rendering and the video under test go
through the same detector (tessera.eval.detect), so claims compare like with like: detector biases cancel,
and a clean render of the scene scores ~1.

Two modes. With the full spec (`stated=None`) every claim the spec makes is checked, including each object's
exact path. With `stated` (what a prompt actually said, from tessera.world.prompts), only those claims are
checked, and places and motions are judged from the video's own tracks: a prompt that says "a red ball moves
left" is met by any red ball moving left, wherever it starts.

Each claim scores in [0, 1] (usually the share of frames where it holds) and passes at PASS. A criterion's
score is the mean of its claims. Criteria fall in three groups (GROUPS): what is shown, how and where it
moves, and whether it holds together over time. A group's score is the mean of its criteria (so twelve
pairwise relations do not drown one motion), and the total is the product of the group scores: a video has
to get all three right, so right objects doing the wrong thing (a still frame for a bouncing ball, frames out
of order) score low, as they should.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tessera.eval.claims import PASS, Claim, Context
from tessera.eval.detect import chroma_420, chroma_subsampled, detect
from tessera.eval.object_claims import object_claims
from tessera.eval.scene_claims import scene_claims
from tessera.world.prompts import Stated, parse_prompt
from tessera.world.render import render
from tessera.world.scene import Scene

__all__ = ["GROUPS", "PASS", "Claim", "Score", "score", "score_prompt"]

GROUPS = {
    "content": ("present", "colour", "shape", "size", "count", "background"),
    "motion": ("motion", "path", "place", "physics", "relation"),
    "continuity": ("permanence", "identity", "flicker"),
}
CRITERIA = tuple(name for names in GROUPS.values() for name in names)


@dataclass(frozen=True)
class Score:
    total: float
    claims: tuple[Claim, ...]
    criteria: dict[str, float] = field(default_factory=dict)
    groups: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> list[Claim]:
        return [c for c in self.claims if not c.passed]

    def table(self) -> str:
        width = max([28, *(len(c.subject) for c in self.claims)])
        lines = [f"{'criterion':<11} {'subject':<{width}} {'score':>5}  {'':4} detail"]
        for c in self.claims:
            mark = "ok" if c.passed else "FAIL"
            lines.append(f"{c.criterion:<11} {c.subject:<{width}} {c.score:5.2f}  {mark:<4} {c.detail}")
        lines.append("")
        lines += [f"{name:<11} {value:5.2f}" for name, value in self.criteria.items()]
        lines.append("")
        lines += [f"{name:<11} {value:5.2f}" for name, value in self.groups.items()]
        lines.append(f"{'total':<11} {self.total:5.2f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "total": float(self.total),  # numpy numbers, which json cannot write, become Python ones
            "groups": {k: float(v) for k, v in self.groups.items()},
            "criteria": {k: float(v) for k, v in self.criteria.items()},
            "claims": [vars(c) | {"score": float(c.score), "passed": c.passed} for c in self.claims],
        }


def score(video: np.ndarray, scene: Scene, *, stated: Stated | None = None) -> Score:
    """Score a (F, H, W, 3) uint8 video against a scene; see the module docstring for `stated`."""
    if video.ndim != 4 or video.shape[1:] != (scene.height, scene.width, 3) or len(video) != scene.num_frames:
        raise ValueError(
            f"video of shape {tuple(video.shape)} does not match the scene's "
            f"{scene.num_frames} frames of {scene.height}x{scene.width} RGB; resample it first"
        )
    if stated is not None and len(stated.objects) != len(scene.objects):
        raise ValueError(
            f"stated claims cover {len(stated.objects)} objects, the scene has {len(scene.objects)}"
        )
    ref = render(scene, masks=True)
    # A video whose colour went through 4:2:0 (an H.264 file) is held to the truth through the same channel.
    subsampled = chroma_subsampled(video)
    reference = chroma_420(ref.video) if subsampled else ref.video
    ctx = Context(scene, ref, detect(reference), detect(video), video, stated, subsampled)
    claims = [c for k in range(len(scene.objects)) for c in object_claims(ctx, k)] + scene_claims(ctx)
    if stated is not None:
        claims = [c for c in claims if _was_stated(c, stated)]
    criteria = {
        name: float(np.mean([c.score for c in claims if c.criterion == name]))
        for name in CRITERIA
        if any(c.criterion == name for c in claims)
    }
    groups = {
        group: float(np.mean([criteria[n] for n in names if n in criteria]))
        for group, names in GROUPS.items()
        if any(n in criteria for n in names)
    }
    total = float(np.prod(list(groups.values()))) if groups else 0.0
    return Score(total, tuple(claims), criteria, groups)


def score_prompt(video: np.ndarray, prompt: str, *, fps: int = 8) -> Score:
    """Score a (F, H, W, 3) uint8 video against what a world prompt states, read at the video's own size and
    length (ValueError if the prompt is unreadable)."""
    f, h, w = video.shape[:3]
    parsed = parse_prompt(prompt, height=h, width=w, fps=fps, num_frames=f)
    return score(video, parsed.scene, stated=parsed.stated)


def _was_stated(claim: Claim, stated: Stated) -> bool:
    """Whether a prompt made this claim (see tessera.world.prompts.Stated)."""
    c = claim.criterion
    if c in ("present", "flicker"):
        return True  # every named object is claimed to be there; every video should be steady
    if c == "relation":
        return claim.about in stated.relations
    if c == "count":
        return stated.count is not None
    if c == "background":
        return bool(stated.background & {"tone", "tone2"})  # the kind of background is not measured
    if c == "identity":
        return stated.cut
    if c == "permanence":
        return True  # built in prompt mode only for objects said to pass behind another
    said = stated.objects[claim.about[0]]
    if c in ("shape", "size", "motion"):
        return c in said
    if c == "physics":
        return "motion" in said
    return c == "place"  # built only for stated axes; colour and path are full-spec claims
