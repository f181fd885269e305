"""The job store: every video job of a server, one row each, in SQLite (WAL) under its data folder.

A job goes queued -> in_progress -> completed | failed; deleting it removes its row. Jobs are taken in the
order they were queued (`seq`). A worker claims a job by writing its own token into the row in the statement
that picks it, so no two workers take the same job, and each later write of that worker names the token: a
worker that lost its job (deleted, or put back in the queue after its server died) can no longer touch it.

The database is the only state: a server killed at any moment restarts from it. `recover` puts the jobs that
were running back at the head of the queue, to run again from the start, and fails a job instead once it has
been started MAX_ATTEMPTS times (a job that crashes its server every time must not hold the queue forever).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("queued", "in_progress", "completed", "failed")
MAX_ATTEMPTS = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    completed_at REAL,
    task TEXT NOT NULL,
    resolved TEXT NOT NULL,
    remixed_from TEXT,
    error_code TEXT,
    error_message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""


class QueueFull(Exception):
    """No room for another queued job."""


@dataclass(frozen=True)
class Job:
    id: str
    seq: int
    status: str
    progress: int  # 0..100
    created_at: float  # unix seconds
    started_at: float | None
    completed_at: float | None
    task: dict[str, Any]  # task.VideoTask.to_dict(): what the worker runs
    resolved: dict[str, Any]  # the request as resolved against the model, for the API to report
    remixed_from: str | None
    error_code: str | None
    error_message: str | None
    attempts: int  # how many times a worker started it

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> Job:
        values = dict(zip(row.keys(), row, strict=True))
        del values["worker"]
        values["task"], values["resolved"] = json.loads(values["task"]), json.loads(values["resolved"])
        return cls(**values)


class JobStore:
    """The jobs table of `path`. Safe to share between threads (a connection per thread) and processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        with self._db() as db:
            db.executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # isolation_level=None: statements run as they come; multi-statement changes say BEGIN IMMEDIATE.
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # in WAL, a commit survives a crash of the process
            self._local.db = db
        return db

    def add(
        self,
        job_id: str,
        task: dict[str, Any],
        resolved: dict[str, Any],
        *,
        max_queued: int,
        remixed_from: str | None = None,
    ) -> Job:
        """Queue a new job, unless `max_queued` jobs are already waiting (QueueFull)."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            (queued,) = db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued'").fetchone()
            if queued >= max_queued:
                raise QueueFull(f"{queued} jobs are queued, the most this server takes ({max_queued})")
            db.execute(
                "INSERT INTO jobs (id, status, created_at, task, resolved, remixed_from) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, "queued", time.time(), json.dumps(task), json.dumps(resolved), remixed_from),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job._from_row(row) if row else None

    def list(self, limit: int, after: str | None = None) -> tuple[list[Job], bool]:
        """Up to `limit` jobs, newest first, starting after the job `after` (KeyError if there is none);
        and whether more follow."""
        below = None
        if after is not None:
            row = self._db().execute("SELECT seq FROM jobs WHERE id = ?", (after,)).fetchone()
            if row is None:
                raise KeyError(after)
            below = row["seq"]
        rows = (
            self._db()
            .execute(
                "SELECT * FROM jobs WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                (below if below is not None else 2**62, limit + 1),
            )
            .fetchall()
        )
        return [Job._from_row(row) for row in rows[:limit]], len(rows) > limit

    def counts(self) -> dict[str, int]:
        rows = self._db().execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {status: 0 for status in STATUSES} | {row[0]: row[1] for row in rows}

    def claim(self, worker: str) -> Job | None:
        """The oldest queued job, now in progress and this worker's; None when the queue is empty."""
        row = (
            self._db()
            .execute(
                "UPDATE jobs SET status = 'in_progress', worker = ?, started_at = ?, progress = 0, "
                "attempts = attempts + 1 "
                "WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1) RETURNING *",
                (worker, time.time()),
            )
            .fetchone()
        )
        return Job._from_row(row) if row else None

    def _update(self, job_id: str, worker: str, assignments: str, values: tuple) -> bool:
        cursor = self._db().execute(
            f"UPDATE jobs SET {assignments} WHERE id = ? AND worker = ? AND status = 'in_progress'",
            (*values, job_id, worker),
        )
        return cursor.rowcount == 1

    def set_progress(self, job_id: str, worker: str, progress: int) -> bool:
        """False when the job is no longer this worker's (deleted or requeued): it should stop."""
        return self._update(job_id, worker, "progress = ?", (progress,))

    def complete(self, job_id: str, worker: str) -> bool:
        return self._update(
            job_id, worker, "status = 'completed', progress = 100, completed_at = ?", (time.time(),)
        )

    def fail(self, job_id: str, worker: str, code: str, message: str) -> bool:
        return self._update(
            job_id,
            worker,
            "status = 'failed', error_code = ?, error_message = ?, completed_at = ?",
            (code, message, time.time()),
        )

    def delete(self, job_id: str) -> Job | None:
        row = self._db().execute("DELETE FROM jobs WHERE id = ? RETURNING *", (job_id,)).fetchone()
        return Job._from_row(row) if row else None

    def recover(self, worker: str | None = None, *, count_attempt: bool = True) -> list[str]:
        """Jobs left running (by `worker`, or by anyone when None) go back to the head of the queue, to run
        again from the start; one started MAX_ATTEMPTS times fails instead. A stop the server chose
        (count_attempt=False) does not count as an attempt. Returns the ids put back in the queue."""
        db = self._db()
        match, values = ("worker = ?", (worker,)) if worker is not None else ("1", ())
        db.execute("BEGIN IMMEDIATE")
        try:
            if not count_attempt:
                db.execute(
                    f"UPDATE jobs SET attempts = attempts - 1 WHERE status = 'in_progress' AND {match}",
                    values,
                )
            failed = f"the server stopped while this job ran, {MAX_ATTEMPTS} times; it is not tried again"
            db.execute(
                "UPDATE jobs SET status = 'failed', error_code = 'interrupted', error_message = ?, "
                f"completed_at = ?, worker = NULL WHERE status = 'in_progress' AND attempts >= ? AND {match}",
                (failed, time.time(), MAX_ATTEMPTS, *values),
            )
            rows = db.execute(
                "UPDATE jobs SET status = 'queued', progress = 0, started_at = NULL, worker = NULL "
                f"WHERE status = 'in_progress' AND {match} RETURNING id",
                values,
            ).fetchall()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return [row[0] for row in rows]
