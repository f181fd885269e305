"""`tessera serve` as a child process on a free local port, for tests and benchmarks: started, waited for
until its workers have loaded the model, stopped (or killed, to test what a crash leaves)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    """`tessera serve --data DATA ARGS...` on 127.0.0.1; its output goes to DATA/../NAME.log."""

    def __init__(self, data: str | Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data, self.args, self.env = Path(data), args, env
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log = self.data.with_name(f"{self.data.name}-server.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> LocalServer:
        """Start, and return once every worker is ready (RuntimeError with the server's output if not)."""
        self.port = free_port()
        argv = [
            sys.executable,
            "-m",
            "tessera.cli",
            "serve",
            "--data",
            str(self.data),
            "--port",
            str(self.port),
        ]
        self.data.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*argv, *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tessera serve exited ({self.process.returncode}):\n{self.output()}")
            try:
                workers = self.health()["workers"]
                if workers and all(w["ready"] for w in workers):
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"tessera serve was not ready in {timeout} s:\n{self.output()}")

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
            return json.loads(response.read())

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL the server process alone (its workers must notice by themselves)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """Ctrl-C, as a person stops it; killed (with its process group) if it takes longer than `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
