"""The server's side of its workers: starts them (spawned processes, each loading the model once), relays
checks of new jobs to them, wakes them when a job is queued, and replaces one that dies, after putting the
job it was running back in the queue.
"""

from __future__ import annotations

import logging
import multiprocessing
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tessera.serve import worker
from tessera.serve.store import JobStore

log = logging.getLogger("tessera.serve")


class WorkerUnavailable(Exception):
    """No worker could answer (still loading the model, or it died while answering)."""


@dataclass
class _Worker:
    token: str  # written into the rows of the jobs it claims
    process: multiprocessing.Process
    conn: Any  # multiprocessing Connection: checks and their answers; closes when either side dies
    lock: threading.Lock = field(default_factory=threading.Lock)
    pid: int | None = None  # set once the worker has loaded the model and said it is ready
    respawn_at: float | None = None  # once it has died: when to start its replacement (time.monotonic)


class Supervisor:
    def __init__(self, config: worker.WorkerConfig, store: JobStore, count: int) -> None:
        if count < 1:
            raise ValueError(f"--workers must be >= 1, got {count}")
        self.config, self.store, self.count = config, store, count
        self._context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or fds carried
        self._wake = self._context.Event()
        self._workers: list[_Worker] = []
        self.model: dict[str, Any] | None = None  # name and fps, as the first ready worker reports them
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="tessera-supervisor", daemon=True)

    def start(self) -> None:
        self._workers = [self._spawn() for _ in range(self.count)]
        self._watcher.start()

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe()
        token = secrets.token_hex(8)
        process = self._context.Process(
            target=worker.main,
            args=(self.config, child, self._wake, token),
            name="tessera-worker",
            daemon=True,
        )
        process.start()
        child.close()  # the worker holds the only other end: either side's death closes the pipe
        return _Worker(token, process, parent)

    def _watch(self) -> None:
        """Every 0.2 s: note workers that became ready; requeue a dead worker's job and replace it (at once,
        or after a growing pause when workers keep dying before they are ready, e.g. a model that fails to
        load, so that a broken setup does not spin)."""
        failures = 0
        while not self._stopping.wait(0.2):
            for i, w in enumerate(self._workers):
                if w.process.is_alive():
                    if w.pid is None and self._heard_ready(w):
                        failures = 0
                    continue
                if w.respawn_at is None:
                    requeued = self.store.recover(w.token)
                    failures += w.pid is None
                    delay = min(60.0, 2.0**failures) if w.pid is None else 0.0
                    log.error(
                        "worker %s exited (code %s); requeued %s; a new one in %.0f s",
                        w.pid,
                        w.process.exitcode,
                        requeued,
                        delay,
                    )
                    w.respawn_at = time.monotonic() + delay
                if time.monotonic() >= w.respawn_at:
                    self._workers[i] = self._spawn()

    def _heard_ready(self, w: _Worker) -> bool:
        if not w.lock.acquire(blocking=False):
            return False
        try:
            if w.conn.poll():
                _, about = w.conn.recv()
                w.pid, self.model = about["pid"], {"name": about["model"], "fps": about["fps"]}
                log.info("worker %s ready", w.pid)
                self.wake()
                return True
        except (EOFError, OSError):
            pass  # it died loading the model: the next round sees it dead
        finally:
            w.lock.release()
        return False

    def check(self, task: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
        """The request a task resolves to, checked by a worker (task.rehearse); ValueError with the same
        message the CLI gives when it is wrong."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for w in list(self._workers):
                if w.pid is not None and w.lock.acquire(blocking=False):
                    try:
                        w.conn.send(task)
                        if not w.conn.poll(max(0.0, deadline - time.monotonic())):
                            raise WorkerUnavailable("the worker did not answer in time")
                        status, answer = w.conn.recv()
                    except (EOFError, OSError) as error:
                        raise WorkerUnavailable("the worker stopped while checking the request") from error
                    finally:
                        w.lock.release()
                    if status == "ok":
                        return answer
                    if status == "invalid":
                        raise ValueError(answer)
                    raise RuntimeError(answer)
            time.sleep(0.02)
        raise WorkerUnavailable("no worker is ready yet (the model is loading); try again shortly")

    def wake(self) -> None:
        """A job was queued: idle workers look for it now rather than at their next poll."""
        if self._wake is not None:
            self._wake.set()

    def health(self) -> list[dict[str, Any]]:
        return [{"pid": w.pid, "ready": w.pid is not None and w.process.is_alive()} for w in self._workers]

    def stop(self) -> None:
        """Workers end (closing their pipes ends them) and their running jobs go back to the queue."""
        self._stopping.set()
        if self._watcher.is_alive():
            self._watcher.join()
        for w in self._workers:
            w.conn.close()
        for w in self._workers:
            w.process.join(timeout=10)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            self.store.recover(w.token, count_attempt=False)
        self._wake = None  # its semaphores are released now, not reported as leaked at exit
