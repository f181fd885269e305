"""`tessera serve`: the videos API end to end on the shipped model, the job store's guarantees, and a server
killed with jobs queued and running that loses none and runs none twice."""

import io
import os
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from tessera.cli import main
from tessera.data.video_io import read_video, write_video
from tessera.provenance import prompt_sha256, verify
from tessera.serve.local import LocalServer
from tessera.serve.store import MAX_ATTEMPTS, JobStore, QueueFull
from tessera.weights import SHIPPED_MODEL, read_model_spec

FAST = {"steps": 2, "size": "64x64", "frames": 5}  # a job of well under a second on one CPU core
MAX_QUEUED = 3


def _env(xdg) -> dict[str, str]:
    return os.environ | {"XDG_DATA_HOME": str(xdg), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    args = ("--max-queued", str(MAX_QUEUED), "--max-upload-mb", "1")
    with LocalServer(root / "data", *args, env=_env(root / "xdg")) as running:
        running.xdg = root / "xdg"
        yield running


@pytest.fixture(scope="module")
def shipped():
    from tessera.pipeline import Generator

    return Generator()


@pytest.fixture
def one_generator(shipped, monkeypatch):
    """The CLI's `Generator(...)` gives the one loaded here, so comparing it with the API costs no reloads."""
    monkeypatch.setattr("tessera.pipeline.Generator", lambda *args, **kwargs: shipped)


@pytest.fixture
def api(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def _wait(api, video_id, timeout=60, seen=None):
    """The video object once completed or failed; `seen` collects the progress values polled on the way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        video = api.get(f"/v1/videos/{video_id}").json()
        if seen is not None:
            seen.append(video["progress"])
        if video["status"] in ("completed", "failed"):
            return video
        time.sleep(0.02)
    raise AssertionError(f"{video_id} did not finish: {video}")


def test_a_video_from_a_prompt_with_progress_content_and_provenance(
    api, server, tmp_path, monkeypatch, one_generator
):
    created = api.post(
        "/v1/videos", json={"prompt": "a red circle moves to the right", "steps": 12, "seed": 3}
    )
    assert created.status_code == 200, created.text
    video = created.json()
    assert video["object"] == "video" and video["status"] in ("queued", "in_progress")
    default = read_model_spec(SHIPPED_MODEL)["video"]  # the server runs the shipped model
    h, w = default["height"], default["width"]
    assert video["request"]["num_frames"] == 17 and video["size"] == f"{w}x{h}"  # the model's defaults
    assert video["request"]["steps"] == 12 and video["request"]["solver"] == "dpmpp_2m"
    seen = []
    done = _wait(api, video["id"], seen=seen)
    assert done["status"] == "completed" and done["progress"] == 100 and done["error"] is None
    assert any(0 < p < 100 for p in seen) and seen == sorted(seen)  # the sampler's steps, in order
    assert done["completed_at"] >= done["created_at"] and done["attempts"] == 1

    content = api.get(f"/v1/videos/{video['id']}/content")
    assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"
    (tmp_path / "v.mp4").write_bytes(content.content)
    assert read_video(tmp_path / "v.mp4").frames.shape == (17, h, w, 3)
    monkeypatch.setenv("XDG_DATA_HOME", str(server.xdg))  # trust the server's local CA, as its users would
    (result,) = verify(tmp_path / "v.mp4")
    assert result.state == "Trusted"
    (action,) = result.actions
    assert action["parameters"]["prompt_sha256"] == prompt_sha256(["a red circle moves to the right"])
    thumbnail = api.get(f"/v1/videos/{video['id']}/content", params={"variant": "thumbnail"})
    assert Image.open(io.BytesIO(thumbnail.content)).size == (w, h)

    # The same seed and request from the CLI give the same video (one Generator, one path), up to the
    # float noise of a different thread count.
    out = tmp_path / "cli.mp4"
    argv = ["generate", "a red circle moves to the right", "--steps", "12", "--seed", "3", "--out", str(out)]
    assert main(argv) == 0
    assert np.abs(read_video(out).frames.astype(int) - read_video(tmp_path / "v.mp4").frames).mean() < 1


@pytest.mark.parametrize(
    "fields, argv",
    [
        ({"frames": 6}, ["--frames", "6"]),
        ({"size": "big"}, ["--size", "big"]),
        ({"size": "100x64"}, ["--size", "100x64"]),
        ({"seconds": 1}, ["--duration", "1"]),
        ({"extend": {"video_id": "{done}", "direction": "sideways"}}, ["--extend", "sideways", "{clip}"]),
        ({"edit": {"video_id": "{done}", "strength": 1.5}}, ["--edit", "{clip}", "--strength", "1.5"]),
    ],
)
def test_bad_input_is_400_with_the_message_the_cli_gives(
    api, tmp_path, capsys, fields, argv, finished, one_generator
):
    fill = {"{done}": finished, "{clip}": str(tmp_path / "clip.mp4")}
    write_video(tmp_path / "clip.mp4", np.zeros((5, 64, 64, 3), np.uint8), 8)
    body = {
        k: ({a: fill.get(b, b) for a, b in v.items()} if isinstance(v, dict) else v)
        for k, v in fields.items()
    }
    response = api.post("/v1/videos", json={"prompt": "a ball", **body})
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert (
        main(["generate", "a ball", "--out", str(tmp_path / "x.mp4"), *[fill.get(a, a) for a in argv]]) == 2
    )
    assert capsys.readouterr().err.strip() == f"tessera: error: {message}"


@pytest.fixture(scope="module")
def finished(server):
    with httpx.Client(base_url=server.url, timeout=60) as api:
        video = api.post("/v1/videos", json={"prompt": "a blue square", **FAST, "frames": 9}).json()
        return _wait(api, video["id"])["id"]


def test_modes_run_on_finished_videos_and_uploads(api, finished, tmp_path):
    extend = api.post("/v1/videos", json={"prompt": "it goes on", **FAST, "extend": {"video_id": finished}})
    remix = api.post(f"/v1/videos/{finished}/remix", json={"prompt": "a green square"})
    image = io.BytesIO()
    Image.new("RGB", (80, 48), (200, 30, 30)).save(image, format="PNG")
    files = {"input_reference": ("start.png", image.getvalue(), "image/png")}
    animated = api.post("/v1/videos", data={"prompt": "the red fades", **FAST}, files=files)
    for response, mode in ((extend, "extend"), (remix, "edit"), (animated, "image")):
        assert response.status_code == 200, response.text
        assert response.json()["mode"] == mode
    assert remix.json()["remixed_from_video_id"] == finished and remix.json()["size"] == "64x64"
    lengths = {}
    for response in (extend, remix, animated):
        video = _wait(api, response.json()["id"])
        assert video["status"] == "completed", video["error"]
        (tmp_path / "v.mp4").write_bytes(api.get(f"/v1/videos/{video['id']}/content").content)
        lengths[video["mode"]] = len(read_video(tmp_path / "v.mp4").frames)
    assert lengths == {"extend": 13, "edit": 9, "image": 5}  # 9 given + 4 new; as long as its source; 5
    # The first frame of the animated image is the image (through the VAE and H.264).
    assert read_video(tmp_path / "v.mp4").frames[0, 32, 32, 0] > 120


def test_uploads_are_capped_and_checked_as_media_before_queueing(api):
    fake = {"input_reference": ("start.png", b"not an image at all", "image/png")}
    response = api.post("/v1/videos", data={"prompt": "a ball", **FAST}, files=fake)
    assert response.status_code == 400 and "input_reference: not a video file" in response.text
    big = {"input_reference": ("start.png", b"\0" * (3 * 2**20), "image/png")}
    assert api.post("/v1/videos", data={"prompt": "a ball"}, files=big).status_code == 413
    wrong = {"input_reference": ("start.exe", b"MZ", "application/octet-stream")}
    assert api.post("/v1/videos", data={"prompt": "a ball"}, files=wrong).status_code == 400
    counts = api.get("/health").json()["jobs"]
    assert counts["queued"] == 0


def test_unknown_ids_policy_and_fields(api, finished):
    for method, path in (
        ("GET", "/v1/videos/video_nope"),
        ("GET", "/v1/videos/video_nope/content"),
        ("DELETE", "/v1/videos/video_nope"),
        ("POST", "/v1/videos/video_nope/remix"),
    ):
        response = api.request(method, path, json={"prompt": "x"} if method == "POST" else None)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "video_not_found"
    refused = api.post("/v1/videos", json={"prompt": "a deepfake of the mayor"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "prompt_refused"
    refused = api.post("/v1/videos", json={"storyboard": [{"prompt": "一段换脸视频", "frames": 5}]})
    assert refused.status_code == 400 and "换脸" in refused.json()["error"]["message"]
    unknown = api.post("/v1/videos", json={"prompt": "a ball", "colour": "red"})
    assert unknown.status_code == 400 and "unknown field 'colour'" in unknown.text
    missing = api.post("/v1/videos", json={"prompt": "a ball", **FAST, "extend": {"video_id": "video_nope"}})
    assert missing.status_code == 400 and "no video 'video_nope'" in missing.text
    assert api.get(f"/v1/videos/{finished}/content", params={"variant": "gif"}).status_code == 400


def test_the_page_and_the_openapi_schema(api):
    assert '<textarea id="prompt"' in api.get("/").text and api.get("/docs").status_code == 200
    schema = api.get("/openapi.json").json()
    body = schema["paths"]["/v1/videos"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert {"prompt", "size", "seconds", "extend", "storyboard"} <= set(
        schema["components"]["schemas"]["VideoCreate"]["properties"]
    )


def test_listing_is_newest_first_and_pages(api):
    ids = [
        _wait(api, api.post("/v1/videos", json={"prompt": f"ball {i}", **FAST}).json()["id"])["id"]
        for i in range(3)
    ]
    page = api.get("/v1/videos", params={"limit": 2}).json()
    assert [v["id"] for v in page["data"]] == ids[::-1][:2] and page["has_more"]
    rest = api.get("/v1/videos", params={"limit": 1, "after": page["last_id"]}).json()
    assert rest["data"][0]["id"] == ids[0]
    assert api.get("/v1/videos", params={"limit": 0}).status_code == 400


def test_a_full_queue_is_429_and_delete_cancels_running_and_queued_jobs(api, server):
    slow = api.post("/v1/videos", json={"prompt": "a slow ball", "steps": 200}).json()
    while api.get(f"/v1/videos/{slow['id']}").json()["status"] != "in_progress":
        time.sleep(0.02)
    queued = [api.post("/v1/videos", json={"prompt": f"ball {i}", **FAST}).json() for i in range(MAX_QUEUED)]
    full = api.post("/v1/videos", json={"prompt": "one too many", **FAST})
    assert full.status_code == 429 and full.json()["error"]["code"] == "queue_full"
    for video in (*queued, slow):
        assert api.delete(f"/v1/videos/{video['id']}").json() == {
            "id": video["id"],
            "object": "video.deleted",
            "deleted": True,
        }
        assert api.get(f"/v1/videos/{video['id']}").status_code == 404
    # The worker gives up the deleted job at its next step and goes on with new ones.
    after = _wait(api, api.post("/v1/videos", json={"prompt": "next", **FAST}).json()["id"], timeout=30)
    assert after["status"] == "completed"
    videos = server.data / "videos"
    assert not any(videos.glob(f"{slow['id']}*")) and not (server.data / "inputs" / slow["id"]).exists()


def test_a_worker_that_dies_is_replaced_and_its_job_runs_again(api, server):
    video = api.post("/v1/videos", json={"prompt": "a ball", "steps": 40}).json()
    while api.get(f"/v1/videos/{video['id']}").json()["progress"] < 5:
        time.sleep(0.02)
    (dead,) = [w["pid"] for w in server.health()["workers"]]
    os.kill(dead, 9)
    done = _wait(api, video["id"], timeout=120)
    assert done["status"] == "completed" and done["attempts"] == 2
    (worker,) = server.health()["workers"]
    assert worker["ready"] and worker["pid"] != dead


def test_the_store_claims_in_order_and_fences_lost_workers(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    for name in "abc":
        store.add(name, {}, {}, max_queued=3)
    with pytest.raises(QueueFull):
        store.add("d", {}, {}, max_queued=3)
    assert store.claim("w1").id == "a" and store.claim("w2").id == "b"
    assert not store.set_progress("a", "w2", 50)  # only the claiming worker writes a job
    assert store.recover("w1") == ["a"]  # its worker died: back to the head of the queue
    assert not store.complete("a", "w1")  # the dead worker's late write changes nothing
    assert store.claim("w3").id == "a" and store.get("a").attempts == 2
    assert sorted(store.recover()) == ["a", "b"]  # the server died: both run again, first
    assert store.claim("w4").id == "a" and store.get("a").attempts == MAX_ATTEMPTS
    assert store.recover() == []  # a job that was running at three crashes fails instead
    failed = store.get("a")
    assert failed.status == "failed" and failed.error_code == "interrupted"
    assert store.claim("w5").id == "b" and store.get("b").attempts == 2
    assert store.recover("w5", count_attempt=False) == ["b"] and store.get("b").attempts == 1  # a chosen stop
    assert store.counts() == {"queued": 2, "in_progress": 0, "completed": 0, "failed": 1}


@pytest.mark.slow
def test_kill_9_with_jobs_queued_and_running_loses_none_and_runs_none_twice(tmp_path):
    data, env = tmp_path / "data", _env(tmp_path / "xdg")
    server = LocalServer(data, env=env).start()
    prompts = [f"a ball number {i}" for i in range(4)]
    with httpx.Client(base_url=server.url, timeout=60) as api:
        first = api.post("/v1/videos", json={"prompt": prompts[0], "steps": 40}).json()["id"]
        rest = [api.post("/v1/videos", json={"prompt": p, **FAST}).json()["id"] for p in prompts[1:]]
        while api.get(f"/v1/videos/{first}").json()["progress"] < 10:
            time.sleep(0.02)
        workers = [w["pid"] for w in server.health()["workers"]]
    server.kill()  # SIGKILL: no shutdown code runs
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers), "a worker outlived its server"

    server = LocalServer(data, env=env).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as api:
            done = [_wait(api, video_id) for video_id in [first, *rest]]
            listed = api.get("/v1/videos", params={"limit": 100}).json()["data"]
    finally:
        server.stop()
    assert sorted(v["id"] for v in listed) == sorted([first, *rest])  # none lost, none added
    assert [v["status"] for v in done] == ["completed"] * 4
    assert done[0]["attempts"] == 2 and [v["attempts"] for v in done[1:]] == [1, 1, 1]
    assert [v["prompt"] for v in done] == prompts
    outputs = sorted(p.name for p in (data / "videos").iterdir())
    assert outputs == sorted(f"{v}.{s}" for v in [first, *rest] for s in ("jpg", "mp4"))  # no stray files
    assert all(r.ok for v in [first, *rest] for r in verify(data / "videos" / f"{v}.mp4"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by its orphaned parent's reaper) is dead for our purposes.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"
