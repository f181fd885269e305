"""Load on `tessera serve`: concurrent clients submit and poll jobs on localhost; nothing may be lost.

Starts `tessera serve` (the shipped model, a temporary data folder) and, as the baseline, a bare uvicorn
hello-world app in the same run. N client threads submit M small jobs between them and poll each until it
finishes (bounded by --timeout); then each client sends --requests GETs of a video object to the server and
of "/" to the hello-world. Prints accepted, completed, failed, lost (accepted jobs the server no longer
knows, or that never finished: must be 0), p50/p95 queue wait (the server's own `timings.queued`) and the
latency of each kind of request, with the server's overhead per GET over the bare hello-world.

    python benchmarks/serve_load.py [--clients 4] [--jobs 16] [--requests 200] [--steps 2] [--workers 1]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tessera.machine import cpu_name
from tessera.serve.local import LocalServer, free_port


def hello_world(port: int) -> None:
    """The baseline: the least an ASGI app on uvicorn can do per request."""
    import uvicorn

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"hello, world"})

    uvicorn.run(app, host="127.0.0.1", port=port)


class Client:
    """One keep-alive HTTP connection; each call returns (status, parsed JSON or None, seconds taken)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None, float]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        tic = time.perf_counter()
        self.connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - tic
        kind = response.getheader("content-type", "")
        return response.status, json.loads(data) if kind.startswith("application/json") else None, elapsed


def run_client(port: int, jobs: list[dict], deadline: float, out: dict) -> None:
    """Submit this client's jobs, then poll each until it finishes or the deadline passes."""
    client, mine = Client(port), []
    for body in jobs:
        status, video, seconds = client.call("POST", "/v1/videos", body)
        out["post"].append(seconds)
        if status == 200:
            mine.append(video["id"])
        else:
            out["rejected"].append(status)
    out["accepted"].extend(mine)
    for video_id in mine:
        while time.monotonic() < deadline:
            status, video, _ = client.call("GET", f"/v1/videos/{video_id}")
            if status == 404:
                out["lost"].append(video_id)
                break
            if video["status"] in ("completed", "failed"):
                out[video["status"]].append(video)
                break
            time.sleep(0.1)
        else:
            out["unfinished"].append(video_id)


def latencies(port: int, path: str, clients: int, requests: int) -> list[float]:
    """`requests` GETs of `path` from each of `clients` threads at once."""
    times: list[float] = []

    def one() -> None:
        client = Client(port)
        client.call("GET", path)  # opens the connection
        times.extend(client.call("GET", path)[2] for _ in range(requests))

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients (threads)")
    ap.add_argument("--jobs", type=int, default=16, help="jobs submitted in all")
    ap.add_argument("--requests", type=int, default=200, help="GETs per client for the overhead")
    ap.add_argument("--steps", type=int, default=2, help="sampling steps per job")
    ap.add_argument("--size", default="64x64", help="video size per job")
    ap.add_argument("--frames", type=int, default=5, help="frames per job")
    ap.add_argument("--workers", type=int, default=1, help="tessera serve --workers")
    ap.add_argument("--timeout", type=float, default=600, help="seconds the jobs may take in all")
    ap.add_argument("--hello-port", type=int, default=None, help=argparse.SUPPRESS)  # the baseline's process
    args = ap.parse_args()
    if args.hello_port is not None:
        return hello_world(args.hello_port)

    root = Path(tempfile.mkdtemp(prefix="tessera-load-"))
    env = os.environ | {"XDG_DATA_HOME": str(root / "xdg")}
    hello_port = free_port()
    hello = subprocess.Popen(
        [sys.executable, __file__, "--hello-port", str(hello_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    max_queued = str(args.jobs)
    server = LocalServer(root / "data", "--workers", str(args.workers), "--max-queued", max_queued, env=env)
    try:
        server.start()
        out = {k: [] for k in ("post", "accepted", "rejected", "completed", "failed", "lost", "unfinished")}
        bodies = [
            {
                "prompt": f"a red circle number {i}",
                "steps": args.steps,
                "size": args.size,
                "frames": args.frames,
            }
            for i in range(args.jobs)
        ]
        deadline = time.monotonic() + args.timeout
        tic = time.perf_counter()
        threads = [
            threading.Thread(target=run_client, args=(server.port, bodies[i :: args.clients], deadline, out))
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - tic
        some_id = out["accepted"][0]
        tessera_get = latencies(server.port, f"/v1/videos/{some_id}", args.clients, args.requests)
        bare_get = latencies(hello_port, "/", args.clients, args.requests)
    finally:
        server.stop()
        hello.terminate()
        hello.wait()

    waits = [v["timings"]["queued"] for v in out["completed"] + out["failed"]]
    lost = len(out["lost"]) + len(out["unfinished"])
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; tessera serve --workers {args.workers}")
    print(
        f"jobs: {args.jobs} from {args.clients} clients ({args.size}, {args.frames} frames, "
        f"{args.steps} steps), all finished in {wall:.1f} s"
    )
    print(
        f"accepted {len(out['accepted'])}, rejected {len(out['rejected'])}, "
        f"completed {len(out['completed'])}, failed {len(out['failed'])}, lost {lost}"
    )
    print(f"queue wait: p50 {pct(waits, 50):.2f} s, p95 {pct(waits, 95):.2f} s")
    print("| request | p50 ms | p95 ms |")
    print("| --- | --- | --- |")
    for name, times in (
        ("bare uvicorn hello-world, GET / (baseline)", bare_get),
        ("tessera GET /v1/videos/{id}", tessera_get),
        ("tessera POST /v1/videos (checked by a worker)", out["post"]),
    ):
        print(f"| {name} | {1000 * pct(times, 50):.1f} | {1000 * pct(times, 95):.1f} |")
    overhead = pct(tessera_get, 50) - pct(bare_get, 50)
    print(f"server overhead per GET over the hello-world: {1000 * overhead:.1f} ms (p50)")
    if lost:
        sys.exit(f"lost {lost} jobs: {out['lost'] + out['unfinished']}")


if __name__ == "__main__":
    main()
