"""DiT training end to end on tiny configs: losses fall, runs resume exactly, exports load into Generator
(the VAE's training: test_train_vae.py; the shared tiny runs: conftest.py)."""

import json
import re

import numpy as np
import pytest
import torch

from tessera.data.buckets import BucketBatchSampler
from tessera.pipeline import GenerationRequest, Generator
from tessera.presets import load_config
from tessera.train import train_dit, train_vae
from tessera.train.checkpoint import latest_checkpoint
from tessera.train.latent_cache import LatentCache
from tessera.weights import load_model_dir, load_vae_dir


def test_dit_training_lowers_the_loss(run_losses, dit_run):
    losses = [loss for _, loss in run_losses(dit_run[0])]
    assert np.mean(losses[-15:]) < 0.9 * np.mean(losses[:5])


def test_generator_is_deterministic_and_checks_requests(dit_run):
    gen = Generator(dit_run[1])
    a = gen.generate(GenerationRequest("a red circle moves to the right", seed=3))
    b = gen.generate(GenerationRequest("a red circle moves to the right", seed=3))
    c = gen.generate(GenerationRequest("a red circle moves to the right", seed=4))
    assert a.frames.shape == (5, 32, 32, 3) and a.frames.dtype == np.uint8
    assert np.array_equal(a.frames, b.frames) and not np.array_equal(a.frames, c.frames)
    for bad, message in [
        (GenerationRequest("  "), "prompt is empty"),
        (GenerationRequest("x", num_frames=6), "4k\\+1"),
        (GenerationRequest("x", num_frames=401), "more than this model"),
        (GenerationRequest("x", height=40), "multiple of 16"),
        (GenerationRequest("x", solver="rk4"), "unknown solver"),
    ]:
        with pytest.raises(ValueError, match=message):
            gen.generate(bad)


def test_generator_missing_model_folder_is_clear(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        Generator(tmp_path / "nope")
    with pytest.raises(ValueError, match="no model.json"):
        Generator(tmp_path)


def test_cli_generate_writes_the_video(dit_run, tmp_path):
    from tessera.cli import main
    from tessera.data.video_io import read_video

    out = tmp_path / "x.mp4"
    args = ["generate", "a red circle moves to the right", "--model", str(dit_run[1]), "--out", str(out)]
    assert main([*args, "--steps", "2", "--seed", "5"]) == 0
    assert read_video(out).frames.shape == (5, 32, 32, 3)


def test_cli_generate_bad_request_exits_2(dit_run, tmp_path, capsys):
    from tessera.cli import main

    args = ["generate", "a red circle", "--model", str(dit_run[1]), "--out", str(tmp_path / "x.mp4")]
    assert main([*args, "--frames", "6"]) == 2
    assert "4k+1" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_eval_run_writes_a_report(dit_run, tmp_path):
    from tessera.eval.adherence import run_eval

    summary = run_eval(Generator(dit_run[1]), 1, tmp_path, steps=2, progress=False)
    assert {"adherence_seen", "adherence_heldout", "adherence_zh", "zh_minus_en"} <= set(summary)
    assert all(0 <= summary[f"adherence_{g}"] <= 1 for g in ("seen", "heldout", "zh"))
    report = json.loads((tmp_path / "report.json").read_text())
    assert [s["group"] for s in report["samples"]] == ["seen", "heldout", "zh", "human"]
    assert (tmp_path / "contact_sheet.png").stat().st_size > 0 and (tmp_path / "report.md").is_file()


def test_eval_run_draws_its_prompts_from_the_world_the_model_trained_on(dit_run):
    from tessera.eval.adherence import eval_prompts, model_world
    from tessera.world.prompts import parse_prompt
    from tessera.world.scene import SceneMix

    spec = json.loads((dit_run[1] / "model.json").read_text())
    assert model_world(spec) == load_config("dit-tiny").data.world  # the export says what it trained on
    assert model_world({}) == SceneMix()  # a model folder that does not say: the whole world
    size = {"height": 64, "width": 64, "fps": 8, "num_frames": 17}
    whole = eval_prompts(12, **size)
    plain = eval_prompts(12, **size, mix=SceneMix(max_objects=1, sizes=("large",), backgrounds=("solid",)))
    assert [p[:2] for p in whole] == [p[:2] for p in plain]  # the same groups and seeds

    def num_objects(prompt):
        return len(parse_prompt(prompt, **size).scene.objects)

    assert all(num_objects(p) == 1 and not re.search(r"\bsmall\b", p) for g, _, p, _ in plain if g != "zh")
    assert any(num_objects(p) > 1 for _, _, p, _ in whole)


def test_dit_trains_with_every_conditioning_task(run_losses, vae_run, dit_run, tmp_path):
    tasks = "text,first,last,first_last,prefix,suffix,spans"
    cfg = load_config(
        "dit-tiny",
        [
            f"vae={vae_run[1]}",
            f"loop.out={tmp_path}",
            "loop.steps=6",
            "loop.log_every=1",
            f"flow.tasks={tasks}",
            "flow.task_weights=1,1,1,1,1,1,1",
        ],
    )
    (tmp_path / "cache").symlink_to(dit_run[0] / "cache")  # the same latents and captions
    train_dit.main(cfg, progress=False)
    losses = [loss for _, loss in run_losses(tmp_path)]
    assert len(losses) == 6 and all(np.isfinite(losses))


def test_dit_fine_tuning_starts_from_the_given_export(vae_run, dit_run, tmp_path):
    _, export = dit_run
    overrides = [f"vae={vae_run[1]}", f"loop.out={tmp_path}", "loop.steps=0", f"loop.init_from={export}"]
    (tmp_path / "cache").symlink_to(dit_run[0] / "cache")  # the same latents and captions
    tuned = load_model_dir(train_dit.main(load_config("dit-tiny", overrides), progress=False))[0]
    start = load_model_dir(export)[0].state_dict()
    assert all(torch.equal(start[k], v) for k, v in tuned.state_dict().items())
    with pytest.raises(ValueError, match="holds a different DiT"):
        train_dit.main(load_config("dit-tiny", [*overrides, "model.num_layers=3"]), progress=False)
    # A DiT grown by the pooled-text path starts from the export's weights, the new path at its no-op init.
    grown_cfg = load_config("dit-tiny", [*overrides, "model.pooled_text=true"])
    grown_dir = train_dit.main(grown_cfg, progress=False)
    grown = load_model_dir(grown_dir)[0].state_dict()
    new = {k for k in grown if k.startswith("condition_embedder.pooled_text_embedder.")}
    assert new and set(grown) - new == set(start)
    assert all(torch.equal(start[k], grown[k]) for k in start)
    assert not grown["condition_embedder.pooled_text_embedder.linear_2.weight"].any()


class _Interrupted(Exception):
    pass


def test_dit_trains_over_buckets_and_resumes_with_the_same_batches(
    run_losses, vae_run, tmp_path, monkeypatch
):
    drawn = []  # (step, clips, latent shape) of every batch, as training_loss is handed it
    stop_at = [None]  # a step at which the run is cut off, as by a crash
    loss = train_dit.training_loss

    def recording(model, cache, cfg, step, clips, device, share):
        if step == stop_at[0]:
            raise _Interrupted
        drawn.append((step, clips, tuple(cache.latent_batch(clips).shape)))
        return loss(model, cache, cfg, step, clips, device, share)

    monkeypatch.setattr(train_dit, "training_loss", recording)
    overrides = [
        f"vae={vae_run[1]}",
        "data.buckets=32x32x5,48x32x5,32x48x5,32x32x1",
        "data.num_scenes=20",
        "loop.steps=14",
        "loop.batch_size=2",
        "loop.checkpoint_every=5",
        "flow.tasks=text,first",  # a given first frame where there are 2 latents; none in an image
        "flow.task_weights=1,1",
    ]
    a = train_dit.main(load_config("dit-tiny", [*overrides, f"loop.out={tmp_path / 'a'}"]), progress=False)
    straight, drawn[:] = list(drawn), []
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "cache").symlink_to(tmp_path / "a" / "cache")  # the same latents and captions
    resumable = load_config("dit-tiny", [*overrides, f"loop.out={tmp_path / 'b'}"])
    stop_at[0] = 7  # after the checkpoint of step 5: steps 5 and 6 are lost and redone
    with pytest.raises(_Interrupted):
        train_dit.main(resumable, progress=False)
    stop_at[0] = None
    b = train_dit.main(resumable, progress=False)
    assert drawn[:7] == straight[:7] and drawn[7:] == straight[5:]  # the same batches, from step 5 on again
    # The interrupted run had logged step 5; its resumption logs it again, and the log keeps one of each.
    assert run_losses(tmp_path / "b") == run_losses(tmp_path / "a") and run_losses(tmp_path / "b")[1][0] == 5
    shapes = {shape[1:] for _, _, shape in straight}  # (C, T, h, w): 2 latent frames, or 1 for images
    assert {(4, 2, 4, 4), (4, 2, 4, 6), (4, 2, 6, 4), (4, 1, 4, 4)} <= shapes
    cache = LatentCache(tmp_path / "a" / "cache")
    assert 5 < BucketBatchSampler(cache.clip_buckets, 2, seed=0).batches_per_epoch < 14  # resumed mid-epoch
    a, b = load_model_dir(a)[0].state_dict(), load_model_dir(b)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    spec = json.loads((tmp_path / "a" / "export" / "model.json").read_text())
    assert spec["limits"] == {"max_frames": 20, "max_side": 96}  # room beyond the largest bucket
    by_bucket = {c["bucket"]: i for i, c in enumerate(cache.clips)}
    with pytest.raises(ValueError, match="a batch comes from a single bucket"):
        cache.latent_batch([by_bucket["32x32x5"], by_bucket["32x32x1"]])
    # A checkpoint without a sampler position (written before bucket batches) is refused, not resumed with
    # other batches than its run would have drawn.
    state_file = latest_checkpoint(tmp_path / "b") / "state.json"
    state = json.loads(state_file.read_text())
    del state["extra"]
    state_file.write_text(json.dumps(state))
    longer = load_config("dit-tiny", [*overrides, f"loop.out={tmp_path / 'b'}", "loop.steps=20"])
    with pytest.raises(ValueError, match="holds no batch sampler position"):
        train_dit.main(longer, progress=False)


def test_an_old_cache_is_refused_and_bad_buckets_stop_training(vae_run, tmp_path):
    (tmp_path / "index.json").write_text(json.dumps({"fingerprint": {}, "clips": [], "texts": []}))
    with pytest.raises(ValueError, match="latent cache format 1, this tessera reads 3"):
        LatentCache(tmp_path)
    overrides = [f"vae={vae_run[1]}", f"loop.out={tmp_path / 'run'}", "data.buckets=40x32x5,32x32x3"]
    with pytest.raises(ValueError, match=r"buckets 40x32x5, 32x32x3 do not fit.*multiple of 16"):
        train_dit.main(load_config("dit-tiny", overrides), progress=False)
    with pytest.raises(ValueError, match="buckets are for train-dit"):
        train_vae.main(load_config("vae-tiny", [f"loop.out={tmp_path / 'vae'}", "data.buckets=32x32x5"]))


def test_cache_rendered_in_worker_processes_is_the_same(vae_run, tmp_path):
    from safetensors.torch import load_file

    from tessera.data.dataset import make_dataset
    from tessera.models.text import build_text_encoder
    from tessera.train.latent_cache import build_cache

    overrides = [f"vae={vae_run[1]}", "data.num_scenes=6", "data.buckets=32x32x5,48x32x5"]
    cfg = load_config("dit-tiny", overrides)
    vae, encoder = load_vae_dir(vae_run[1]), build_text_encoder(cfg.text_encoder)
    fp = {"latents": {"vae": 1}, "text": {"encoder": 1}}
    serial = build_cache(
        tmp_path / "a", make_dataset(cfg.data), vae, encoder, fp, batch_size=2, progress=False
    )
    pooled = build_cache(
        tmp_path / "b", make_dataset(cfg.data), vae, encoder, fp, batch_size=2, workers=2, progress=False
    )
    for name in ("latents.safetensors", "text.safetensors"):
        a, b = load_file(str(serial / name)), load_file(str(pooled / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((serial / "index.json").read_text()) == json.loads((pooled / "index.json").read_text())
    # how many processes render changes nothing in the cache, so it keeps the cache's fingerprint
    fingerprint = train_dit.cache_fingerprint
    assert fingerprint(cfg) == fingerprint(load_config("dit-tiny", [*overrides, "data.num_workers=4"]))


def test_a_new_vae_keeps_the_cached_caption_embeddings(vae_run, tmp_path):
    from safetensors.torch import load_file

    from tessera.data.dataset import make_dataset
    from tessera.models.text import build_text_encoder
    from tessera.train.latent_cache import build_cache

    cfg = load_config("dit-tiny", [f"vae={vae_run[1]}", "data.num_scenes=4"])
    vae, encoder = load_vae_dir(vae_run[1]), build_text_encoder(cfg.text_encoder)
    folder = tmp_path / "cache"

    def build(fingerprint, enc):
        return build_cache(
            folder, make_dataset(cfg.data), vae, enc, fingerprint, batch_size=2, progress=False
        )

    class Refusing:  # an encoder that must not be asked
        dim = encoder.dim

        def encode(self, texts):
            raise AssertionError("captions were encoded again")

    build({"latents": {"vae": 1}, "text": {"encoder": 1}}, encoder)
    before = {name: load_file(str(folder / name)) for name in ("latents.safetensors", "text.safetensors")}
    with torch.no_grad():
        for p in vae.encoder.parameters():
            p.mul_(1.5)
    build({"latents": {"vae": 2}, "text": {"encoder": 1}}, Refusing())  # a new VAE: latents only
    after = {name: load_file(str(folder / name)) for name in ("latents.safetensors", "text.safetensors")}
    assert all(torch.equal(before["text.safetensors"][k], v) for k, v in after["text.safetensors"].items())
    assert not torch.equal(*(x["latents.safetensors"]["latents/32x32x5"] for x in (before, after)))
    # another encoder: the captions are encoded again, and a build that fails leaves no index behind
    with pytest.raises(AssertionError, match="encoded again"):
        build({"latents": {"vae": 2}, "text": {"encoder": 2}}, Refusing())
    assert not (folder / "index.json").exists()
    with pytest.raises(ValueError, match="has the parts 'latents' and 'text'"):
        build({"vae": 2}, encoder)


def test_ema_moves_each_parameter_towards_the_model():
    from torch import nn

    from tessera.train.optim import ema_update

    torch.manual_seed(0)
    ema, model = nn.Linear(3, 2), nn.Linear(3, 2)
    pairs = zip(ema.parameters(), model.parameters(), strict=True)
    expected = [0.9 * e.detach() + 0.1 * p.detach() for e, p in pairs]
    ema_update(ema, model, 0.9)
    assert all(torch.allclose(e, x) for e, x in zip(ema.parameters(), expected, strict=True))


def test_auto_precision_is_bf16_only_where_the_device_has_it(monkeypatch):
    from tessera.config import LoopConfig
    from tessera.train import optim

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for avx512_bf16, amx, native in ((False, False, False), (True, False, True), (False, True, True)):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v, raising=False)
        assert optim.use_bf16(LoopConfig(precision="auto"), cpu) is native
        assert optim.use_bf16(LoopConfig(precision="bf16"), cpu) is True
        assert optim.use_bf16(LoopConfig(precision="fp32"), cpu) is False
        with optim.autocast(LoopConfig(precision="auto"), cpu):
            assert torch.is_autocast_enabled("cpu") is native
            if native:
                assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert optim.use_bf16(LoopConfig(precision="auto"), cuda) is True  # no CUDA needed to decide
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")  # a torch without the private probes
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert optim.use_bf16(LoopConfig(precision="auto"), cpu) is False
    with pytest.raises(ValueError, match="loop.precision 'fp16'"):
        optim.use_bf16(LoopConfig(precision="fp16"), cpu)


def test_latent_coverage_averages_the_pixels_each_latent_codes():
    from tessera.train.latent_cache import latent_coverage

    cover = torch.zeros(1, 5, 8, 8)  # frames 0..4 -> latents 0 (frame 0) and 1 (frames 1..4)
    cover[0, 0, :4, :4] = 1  # frame 0, the top-left latent cell whole
    cover[0, 1:3, 4:, 4:] = 1  # frames 1 and 2 of 4, the bottom-right cell
    cover[0, 1:, :2, 4:] = 1  # frames 1..4, half of the top-right cell
    got = latent_coverage(cover, spatial_factor=4, temporal_factor=4)  # (1, 1, 2, 2, 2)
    assert got.shape == (1, 1, 2, 2, 2)
    assert got[0, 0, 0].tolist() == [[1, 0], [0, 0]]
    assert got[0, 0, 1].tolist() == [[0, 0.5], [0, 0.5]]


def test_object_weight_counts_the_objects_latents_more(dit_run):
    cfg = load_config("dit-tiny", ["flow.object_weight=4", "flow.tasks=text,prefix", "flow.task_weights=1,1"])
    cache = LatentCache(dit_run[0] / "cache")
    bucket = cache.bucket_names[0]
    objects, latents = cache.objects[bucket], cache.latents[bucket]
    assert objects.shape == (latents.shape[0], 1, *latents.shape[2:])  # world clips have object masks
    assert 0 < objects.float().mean() < 0.5 and objects.min() >= 0 and objects.max() <= 1
    torch.manual_seed(0)
    model = load_model_dir(dit_run[1])[0]
    clips = [0, 1, 2, 3]

    def loss(c):
        with torch.no_grad():
            return train_dit.training_loss(model, cache, c, 7, clips, torch.device("cpu")).item()

    plain = load_config("dit-tiny", ["flow.tasks=text,prefix", "flow.task_weights=1,1"])
    assert loss(cfg) != pytest.approx(loss(plain), rel=1e-4)
    cache.objects[bucket] = torch.zeros_like(objects)  # no object pixels: every latent weighs 1 again
    assert loss(cfg) == pytest.approx(loss(plain), rel=1e-6)


def test_loss_space_x0_weighs_each_latent_by_its_time_squared(dit_run):
    cache = LatentCache(dit_run[0] / "cache")
    model = load_model_dir(dit_run[1])[0]
    clips = [0, 1, 2, 3]

    def loss(*overrides):
        with torch.no_grad():
            cfg = load_config("dit-tiny", list(overrides))
            return train_dit.training_loss(model, cache, cfg, 7, clips, torch.device("cpu")).item()

    # with every time t <= 1 the data-space error t^2 |v error|^2 is smaller, with given latents or without
    for tasks in (["flow.tasks=text"], ["flow.tasks=prefix", "flow.task_weights=1"]):
        assert loss(*tasks, "flow.loss_space=x0") < 0.9 * loss(*tasks)
    # with every time near 1 (shifted far towards noise) the two agree
    near_one = ["flow.time_method=uniform", "flow.shift=1e6"]
    assert loss(*near_one, "flow.loss_space=x0") == pytest.approx(loss(*near_one), rel=1e-4)
    with pytest.raises(ValueError, match="flow.loss_space must be one of \\('v', 'x0'\\), got 'eps'"):
        train_dit.main(load_config("dit-tiny", ["flow.loss_space=eps"]))


def test_a_cache_build_waits_for_another_and_a_dead_builder_blocks_nothing(vae_run, tmp_path, capsys):
    import fcntl
    import subprocess
    import sys
    import threading

    from tessera.data.dataset import make_dataset
    from tessera.models.text import build_text_encoder
    from tessera.train.latent_cache import build_cache

    cfg = load_config("dit-tiny", [f"vae={vae_run[1]}", "data.num_scenes=4"])
    vae, encoder = load_vae_dir(vae_run[1]), build_text_encoder(cfg.text_encoder)

    def build(folder, fingerprint):
        return build_cache(folder, make_dataset(cfg.data), vae, encoder, fingerprint, progress=False)

    folder = tmp_path / "cache"
    folder.mkdir()
    fp = {"latents": {"vae": 1}, "text": {"encoder": 1}}
    with open(folder / "building.lock", "a+") as held:  # as another process building this folder would
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("process 1 on elsewhere")
        held.flush()
        thread = threading.Thread(target=build, args=(folder, fp))
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive() and not (folder / "index.json").exists()  # it waits
        fcntl.flock(held, fcntl.LOCK_UN)
    thread.join(timeout=120)
    assert not thread.is_alive() and (folder / "index.json").is_file()
    assert "process 1 on elsewhere is building this latent cache; waiting for it" in capsys.readouterr().err
    # A builder that died holding the lock (killed here) leaves nothing that blocks the next build.
    script = "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
    script += "print(1, flush=True); time.sleep(60)"
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(folder / "building.lock")], stdout=subprocess.PIPE
    )
    assert holder.stdout.readline().strip() == b"1"
    holder.kill()
    holder.wait()
    other = {"latents": {"vae": 2}, "text": {"encoder": 1}}
    assert build(folder, other) == folder
    assert json.loads((folder / "index.json").read_text())["fingerprint"] == other


@pytest.mark.parametrize("keep, left", [(2, [2, 3]), (0, [1, 2, 3])])
def test_checkpoints_keep_the_newest_or_all(tmp_path, keep, left):
    from tessera.train.checkpoint import save_checkpoint

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model, model, optimizer, {}, keep)
    assert [int(p.name.split("_")[1]) for p in sorted((tmp_path / "checkpoints").glob("step_*"))] == left
