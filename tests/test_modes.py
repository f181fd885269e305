"""Prompting modes on the shipped model: given frames kept, contexts really conditioned, sizes, CLI."""

import numpy as np
import pytest
import torch
from PIL import Image

from tessera import modes
from tessera.cli import main
from tessera.conditioning import Condition, build_conditioning
from tessera.data.video_io import read_video, to_frames, to_video_tensor, write_video
from tessera.eval import temporal
from tessera.eval.adherence import model_world
from tessera.pipeline import GenerationRequest, Generator
from tessera.weights import SHIPPED_MODEL, read_model_spec
from tessera.world.captions import caption
from tessera.world.render import render
from tessera.world.scene import DIRECTIONS, sample_scene

REQUEST = GenerationRequest("a red circle moves to the right", steps=3, seed=4)
SIDE = read_model_spec(SHIPPED_MODEL)["video"]["height"]  # the shipped model's default: square, 17 frames


@pytest.fixture(scope="module")
def gen():
    return Generator()


@pytest.fixture(scope="module")
def clips(gen):
    """Clips of the part of the world the shipped model knows, which its continuations are made for."""
    mix = model_world(gen.spec)
    return [
        render(sample_scene(seed, height=SIDE, width=SIDE, num_frames=17, mix=mix)).video for seed in (5, 6)
    ]


@pytest.fixture(scope="module")
def mover(gen):
    """(42 frames of the first eval-style scene of the model's world whose object moves in a direction, the
    request of its caption): where a continuation's object is tells where it continued from."""
    mix = model_world(gen.spec)
    scene = next(
        s
        for s in (
            sample_scene(seed, height=SIDE, width=SIDE, num_frames=42, mix=mix) for seed in range(5, 50)
        )
        if s.objects[0].motion in DIRECTIONS
    )
    return render(scene).video, GenerationRequest(caption(scene), steps=3, seed=4)


def _centre(frame):
    """The centroid of a frame's non-background pixels (the world's one object on white)."""
    ys, xs = np.nonzero(np.abs(frame.astype(float) - frame[0, 0]).sum(-1) > 60)
    return np.array([ys.mean(), xs.mean()])


def _apart(a, b):
    return float(np.linalg.norm(_centre(a) - _centre(b)))


def _decoded(gen, latents):
    with torch.inference_mode():
        return to_frames(gen.vae.decode_latents(latents)[0])


def _mad(a, b):
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def test_a_video_after_frame_0_fills_the_slots_it_covers(gen, clips):
    shape = gen.latent_shape(gen.resolve(REQUEST))  # (1, C, 5, h, w)
    clip = clips[0]

    def held(frames, video):  # the latents of `video` after its frame 0 held still for `frames` frames
        with torch.inference_mode():
            video = np.concatenate([np.repeat(video[:1], frames, axis=0), video])
            return gen.vae.encode_latents(to_video_tensor(video)[None])  # (1, C, 5, h, w)

    # From frame 8 (= 4 * 2), 9 frames: frame 8 ends slot 2, frames 9..16 are slots 3 and 4.
    clean, mask = build_conditioning([Condition(clip[:9], frame=8)], gen.vae, shape, 17)
    assert mask[0, 0, :, 0, 0].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert torch.equal(clean[:, :, 3:], held(8, clip[:9])[:, :, 3:])
    # From frame 9 (= 4 * 2 + 1), 8 frames: they are slots 3 and 4 whole, its frame 0 included.
    clean, mask = build_conditioning([Condition(clip[:8], frame=9)], gen.vae, shape, 17)
    assert mask[0, 0, :, 0, 0].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert torch.equal(clean[:, :, 3:], held(9, clip[:8])[:, :, 3:])
    latents = clean[0, :, 3:]  # latents given as media from there are placed as they are
    again, _ = build_conditioning([Condition(latents, frame=9)], gen.vae, shape, 17)
    assert torch.equal(again, clean)
    for media, frame, match in (
        (clip[:5], 6, "must start on a latent slot's boundary: .* got frame 6; use 5 or 8"),
        (clip[:9], 9, "needs 4k frames when it starts a latent slot \\(frame 9\\), got 9; trim it to 8"),
        (clip[:8], 8, "needs 4k\\+1 frames, got 8; trim it to 5"),
    ):
        with pytest.raises(ValueError, match=match):
            build_conditioning([Condition(media, frame=frame)], gen.vae, shape, 17)


def test_extend_forward_keeps_the_video_and_adds_a_window(gen, clips):
    clip = clips[0]
    out = modes.extend(gen, REQUEST, clip, "forward")
    assert out.info["given"] == [(0, 17)] and out.info["context_frames"] == 9
    assert len(out.frames) == 25 and np.array_equal(out.frames[:17], clip)


# The shipped model draws a mover where its usual path has it at that time of the window: after a video's
# last 9 frames it goes on from the place its path has at frame 13 of a plain generation, not from where the
# video left it (measured over 15 moving scenes: the new frame 21 is as far from the truth's frame 21 as a
# plain generation's frame 13 is). This passes once the kept latents steer where the object goes on from.
@pytest.mark.xfail(strict=True, reason="a mover goes on along its usual path, not from where the video ends")
def test_extend_forward_continues_from_where_the_video_ends(gen, mover):
    """Frame 21 is the first past the seam carry (below), so this is the model's doing alone."""
    video, request = mover
    out = modes.extend(gen, request, video[:17], "forward").frames
    plain = gen.generate(request).frames  # the same window with nothing kept: frame 13 is output frame 21
    assert _apart(out[21], video[21]) < 0.5 * _apart(plain[13], video[21])


def test_new_frames_take_over_the_vae_error_at_the_seam(gen, clips):
    clip = clips[0]
    out = modes.extend(gen, REQUEST, clip, "forward")
    window = gen.generate(
        GenerationRequest(REQUEST.prompt, steps=3, seed=4, conditions=(Condition(clip[-9:], frame=0),))
    ).frames  # the window extend() sampled: its frame 8 is its decode of the clip's last frame
    error = clip[-1].astype(float) - window[8]
    assert _mad(window[8], clip[-1]) > 0.5  # the VAE round trip's error there, which the carry removes
    # frames 9..12 of the window, 17..20 of the output, get 4/5 .. 1/5 of it; later frames are the window's
    for j, weight in enumerate((0.8, 0.6, 0.4, 0.2)):
        expected = np.clip(np.rint(window[9 + j] + weight * error), 0, 255)
        assert np.array_equal(out.frames[17 + j], expected)
    assert np.array_equal(out.frames[21:], window[13:])
    assert _mad(out.frames[17], clip[-1]) < _mad(window[9], clip[-1])  # the cut is smaller than unmatched
    assert np.array_equal(modes.carry_seam(window[9:11], clip[-1], window[8], 4), out.frames[17:19])


def test_extend_backward_ends_on_the_video(gen, clips):
    clip = clips[0]
    out = modes.extend(gen, REQUEST, clip, "backward")
    assert out.info["given"] == [(9, 26)] and out.info["context_frames"] == 8
    assert np.array_equal(out.frames[9:], clip)
    # A video shorter than a latent slot gives its frame 0, as an image on the window's last frame.
    short = modes.extend(gen, REQUEST, clip[:3], "backward")
    assert short.info["given"] == [(16, 19)] and short.info["context_frames"] == 1
    assert np.array_equal(short.frames[16:], clip[:3])


def test_new_frames_before_a_given_start_take_over_the_windows_error_there(gen, clips):
    clip = clips[0]
    out = modes.extend(gen, REQUEST, clip, "backward")
    window = gen.generate(
        GenerationRequest(REQUEST.prompt, steps=3, seed=4, conditions=(Condition(clip[:8], frame=9),))
    ).frames  # the window extend() sampled: its frame 9 is its decode of the clip's frame 0
    error = clip[0].astype(float) - window[9]
    assert _mad(window[9], clip[0]) > 0.5
    # frames 8, 7, 6, 5 (nearest first) get 4/5 .. 1/5 of it; earlier frames are the window's
    for j, weight in enumerate((0.8, 0.6, 0.4, 0.2)):
        expected = np.clip(np.rint(window[8 - j] + weight * error), 0, 255)
        assert np.array_equal(out.frames[8 - j], expected)
    assert np.array_equal(out.frames[:5], window[:5])
    assert _mad(out.frames[8], clip[0]) < _mad(window[8], clip[0])  # the cut is smaller than unmatched


def test_connect_runs_from_the_end_of_a_to_the_start_of_b(gen, mover):
    video, request = mover
    a, b = video[:17], video[25:]  # a moving object, and the same object further on
    out = modes.connect(gen, request, a, b)
    (a0, a1), (b0, b1) = out.info["given"]
    assert (a0, a1, b1) == (0, 17, len(out.frames)) and b1 - b0 == 17
    assert np.array_equal(out.frames[:17], a) and np.array_equal(out.frames[b0:], b)
    assert out.info["transition_frames"] == b0 - a1 == 8
    # The window holds A's last 5 frames (slots 0-1) and B's first 4 (slot 4, from frame 13); its frames
    # 5..12 are the transition, which takes over the window's errors on A's end and B's start.
    window = gen.generate(
        GenerationRequest(
            request.prompt, steps=3, seed=4, conditions=(Condition(a[-5:]), Condition(b[:4], frame=13))
        )
    ).frames
    carried = modes.carry_seam(window[5:13], a[-1], window[4], 4)
    assert np.array_equal(out.frames[a1:b0], modes.carry_seam(carried, b[0], window[13], 4, before=True))
    # The model's transition goes from one to the other: it starts nearer A's end than B's start and ends
    # the other way round, and its step into B is well under the distance between the two.
    first, last = window[5], window[12]
    assert _mad(first, a[-1]) < 0.5 * _mad(first, b[0]) and _mad(last, b[0]) < 0.5 * _mad(last, a[-1])
    assert _mad(last, b[0]) < 0.5 * _mad(a[-1], b[0])


def test_loop_ends_where_it_starts(gen):
    out = modes.loop(gen, REQUEST)
    clip = gen.generate(REQUEST).frames  # the loop's first pass is the plain generation
    assert np.array_equal(out.frames[:17], clip) and len(out.frames) == 17 + out.info["transition_frames"]


# The shipped model starts an object where its training layouts do (a mover at the side it leaves); given a
# start further along the path, the frames it draws before it stay near that usual start and cross over at
# the seam (benchmarks/modes.py: extend backward's seam 4.4 levels, 10.2 without the carry). This passes once
# known latents after free ones steer it there.
@pytest.mark.xfail(strict=True, reason="the frames before a given start stay near the model's usual start")
def test_generated_frames_lead_into_a_given_start(gen, mover):
    """Extending backward, the frames before the given start come to look like it, more than a plain
    generation's frames there (known latents after free ones steer the DiT, since the causal decoder cannot
    look ahead). Frame 4 is the last before the seam carry, so this is the model's doing alone."""
    video, request = mover
    given = video[12:29]  # the object well along its path
    back = modes.extend(gen, request, given, "backward").frames
    plain = gen.generate(request).frames
    assert _apart(back[4], given[0]) < 0.5 * _apart(plain[4], given[0])


# The step into a given start is still several times the footage's usual frame change (5.6 levels here, the
# clip's median step 1.4; benchmarks/modes.py measures 8 scenes, and the seam after a given end too). This
# passes once it closes.
@pytest.mark.xfail(strict=True, reason="the seam into a given start is still larger than the footage's steps")
def test_the_seam_into_a_given_start_is_like_the_footages_own_steps(gen, clips):
    a = clips[0]
    back = modes.extend(gen, REQUEST, a, "backward")
    start = back.info["given"][0][0]
    seam = temporal.frame_jumps(back.frames[start - 1 : start + 1])[0]
    assert seam <= 2 * np.median(temporal.frame_jumps(a))


def test_edit_keeps_the_layout_more_the_higher_the_strength(gen, clips):
    clip = clips[0]
    plain = gen.generate(REQUEST).frames
    light, heavy = (modes.edit(gen, REQUEST, clip, s).frames for s in (0.8, 0.3))
    assert light.shape == clip.shape
    assert _mad(light, clip) < _mad(heavy, clip) < _mad(plain, clip)
    with pytest.raises(ValueError, match="strength must be in \\(0, 1\\)"):
        modes.edit(gen, REQUEST, clip, 1.0)


def test_an_edit_longer_than_the_model_takes_goes_window_by_window(gen, monkeypatch):
    clip = render(sample_scene(7, height=SIDE, width=SIDE, num_frames=34)).video  # trimmed to 33 = 4*8 + 1
    monkeypatch.setitem(gen.spec["limits"], "max_frames", 20)  # so 33 frames need windows of 17
    light, heavy = (modes.edit(gen, REQUEST, clip, s) for s in (0.8, 0.3))
    assert light.frames.shape == (33, *clip.shape[1:]) and light.info["windows"] == 3
    assert light.info["context_frames"] == 9  # windows at frames 0, 8 and 16, each after the first kept 9
    # The first window is the plain edit of the first 17 frames; the later ones edit the video's own frames
    # (a light edit stays nearer to them than a heavy one) rather than inventing new ones.
    assert np.array_equal(light.frames[:17], modes.edit(gen, REQUEST, clip[:17], 0.8).frames)
    assert _mad(light.frames[17:], clip[17:33]) < _mad(heavy.frames[17:], clip[17:33])
    # ... at their own times: the last window's new frames are nearer the video there than 16 frames before
    assert _mad(light.frames[25:], clip[25:33]) < _mad(light.frames[25:], clip[9:17])


def test_long_video_is_built_window_by_window(gen):
    out = modes.long_video(gen, REQUEST, 40)
    assert out.frames.shape == (40, SIDE, SIDE, 3) and out.info["windows"] == 4
    assert np.array_equal(out.frames[:17], gen.generate(REQUEST).frames)
    with pytest.raises(ValueError, match="at least the window's 17 frames"):
        modes.long_video(gen, REQUEST, 10)


def test_storyboard_shots_take_their_lengths_and_prompts(gen):
    shots = [modes.Shot(REQUEST.prompt, 7), modes.Shot("a blue square falls", 14)]
    out = modes.storyboard(gen, REQUEST, shots)
    assert out.frames.shape == (21, SIDE, SIDE, 3) and out.info["windows"] == 3
    assert out.info["shots"] == [(0, 7, REQUEST.prompt), (7, 21, "a blue square falls")]
    # Shot 1 is the plain window cut at 7 frames; shot 2 is generated under its own prompt, not shot 1's.
    assert np.array_equal(out.frames[:7], gen.generate(REQUEST).frames[:7])
    same = modes.storyboard(gen, REQUEST, [shots[0], modes.Shot(REQUEST.prompt, 14)])
    assert np.array_equal(same.frames[:7], out.frames[:7]) and not np.array_equal(
        same.frames[7:], out.frames[7:]
    )
    # One shot is a long video.
    one = modes.storyboard(gen, REQUEST, [modes.Shot(REQUEST.prompt, 25)])
    assert np.array_equal(one.frames, modes.long_video(gen, REQUEST, 25).frames)


def test_storyboard_files_and_their_errors(tmp_path):
    path = tmp_path / "shots.json"
    path.write_text('[{"prompt": "a red ball", "seconds": 1.5}, {"prompt": "一个蓝色方块", "frames": 9}]')
    assert modes.read_storyboard(path, fps=8) == [modes.Shot("a red ball", 12), modes.Shot("一个蓝色方块", 9)]
    for text, match in (
        ("[]", "non-empty JSON list"),
        ("{", "not a readable JSON file"),
        ('[{"prompt": "a"}]', "shot 0: want a prompt and seconds or frames"),
        ('[{"prompt": " ", "frames": 3}]', "non-empty prompt"),
        ('[{"prompt": "a", "frames": 0}]', "at least 1 frame"),
    ):
        path.write_text(text)
        with pytest.raises(ValueError, match=match):
            modes.read_storyboard(path, fps=8)


def test_mode_errors_are_clear(gen, clips):
    with pytest.raises(ValueError, match="direction must be one of"):
        modes.extend(gen, REQUEST, clips[0], "sideways")
    half = SIDE // 2
    with pytest.raises(ValueError, match=f"is {half}x{half} but the output is {SIDE}x{SIDE}"):
        modes.extend(gen, REQUEST, clips[0][:, :half, :half], "forward")
    with pytest.raises(ValueError, match="must be uint8 RGB frames"):
        modes.connect(gen, REQUEST, clips[0].astype(np.float32), clips[1])


def test_aspect_sizes_keep_about_the_model_area(gen):
    step = gen.vae.cfg.spatial_factor * gen.dit.cfg.patch_size[1]  # what one token covers
    assert gen.size_for_aspect("1:1") == (SIDE, SIDE)
    wide, tall = gen.size_for_aspect("16:9"), gen.size_for_aspect("9:16")
    assert tall == wide[::-1] and wide[0] < SIDE < wide[1]
    assert all(side % step == 0 for side in wide)
    assert abs(wide[1] / wide[0] - 16 / 9) < 0.25 and abs(wide[0] * wide[1] / SIDE**2 - 1) < 0.2
    for bad in ("16x9", "0:1", "a:b"):
        with pytest.raises(ValueError, match="aspect"):
            gen.size_for_aspect(bad)


def test_cli_modes_and_images(clips, tmp_path):
    write_video(tmp_path / "a.mp4", clips[0], 8)
    out = tmp_path / "longer.mp4"
    args = ["generate", "a ball", "--steps", "1", "--extend", "forward", str(tmp_path / "a.mp4")]
    assert main([*args, "--out", str(out)]) == 0
    frames = read_video(out).frames
    assert len(frames) == 25 and _mad(frames[:17], clips[0]) < 4  # the input, through H.264 twice
    image = tmp_path / "wide.png"
    assert (
        main(["generate", "a ball", "--steps", "1", "--frames", "1", "--size", "16:9", "--out", str(image)])
        == 0
    )
    height, width = Generator().size_for_aspect("16:9")
    assert Image.open(image).size == (width, height)
    assert main(["generate", "a ball", "--frames", "5", "--out", str(tmp_path / "x.png")]) == 2
    board = tmp_path / "shots.json"
    board.write_text('[{"prompt": "a red ball", "frames": 9}, {"prompt": "a blue box", "seconds": 1}]')
    story = tmp_path / "story.mp4"
    assert main(["generate", "--storyboard", str(board), "--steps", "1", "--out", str(story)]) == 0
    assert len(read_video(story).frames) == 17
    assert main(["generate", "a ball", "--storyboard", str(board), "--out", str(story)]) == 2
    assert main(["generate", "--out", str(story)]) == 2


def test_change_error_sees_motion_not_colour(clips):
    clip = clips[0]
    motion = float(np.abs(np.diff(clip.astype(np.float32), axis=0)).mean())  # the clip's own change
    tinted = np.clip(clip.astype(np.int16) + 10, 0, 255).astype(np.uint8)
    assert temporal.change_error(clip, clip) == 0
    assert temporal.change_error(tinted, clip) < 0.2  # a colour cast is not motion (but for clipped pixels)
    still = np.repeat(clip[:1], len(clip), axis=0)  # misses all of the motion
    assert temporal.change_error(still, clip) == pytest.approx(motion, rel=1e-5)
    assert (
        temporal.change_error(clip[::-1].copy(), clip) > 1.5 * motion
    )  # the same frames, moving the other way
    with pytest.raises(ValueError, match="differ"):
        temporal.change_error(clip[:5], clip)
