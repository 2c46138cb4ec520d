"""Backtest jobs in the ledger database: queued, running, done or failed, with their progress.

A job is owned by the worker running it (`host:pid`), which beats a heartbeat with every origin
it replays. A job whose owner is gone (a process of this host that no longer exists, or no
heartbeat for `lease` seconds) is marked failed with the reason by the next process that looks
(`reap`), so a restart never leaves a job `running` for ever.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from ledger.accuracy import accuracy
from ledger.models import BacktestJobRow
from ledger.records import to_epoch
from ledger.store import Ledger

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
ACTIVE = (QUEUED, RUNNING)
JOBS = BacktestJobRow.__table__


def this_owner() -> str:
    """This process as a job owner: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool | None:
    """Whether the owning process still exists: known on this host only (None elsewhere)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def create_job(
    ledger: Ledger, *, client: str, params: dict[str, Any], total: int, max_active: int
) -> str | None:
    """A new queued job owned by this process; None when `max_active` jobs are queued or
    running already."""
    job_id = uuid.uuid4().hex
    now = int(time.time())
    active = select(func.count()).select_from(JOBS).where(JOBS.c.status.in_(ACTIVE))
    values = {
        "id": job_id,
        "client": client,
        "status": QUEUED,
        "params": params,
        "done": 0,
        "total": total,
        "owner": this_owner(),
        "heartbeat_at": now,
        "created_at": now,
    }
    with ledger.engine.begin() as conn:
        if conn.execute(active).scalar_one() >= max_active:
            return None
        conn.execute(JOBS.insert().values(values))
    return job_id


def get_job(ledger: Ledger, job_id: str) -> dict[str, Any] | None:
    """The job's row as a dict, or None."""
    with ledger.engine.connect() as conn:
        row = conn.execute(select(JOBS).where(JOBS.c.id == job_id)).first()
    return None if row is None else dict(row._mapping)


def _set(ledger: Ledger, job_id: str, where: list, **values: Any) -> bool:
    """Update the job where it also matches `where`; whether it did."""
    stmt = update(JOBS).where(JOBS.c.id == job_id, *where).values(**values)
    with ledger.engine.begin() as conn:
        return bool(conn.execute(stmt).rowcount)


def start_job(ledger: Ledger, job_id: str) -> bool:
    """Take a queued job (this process becomes its owner); False if it is not queued."""
    now = int(time.time())
    return _set(
        ledger,
        job_id,
        [JOBS.c.status == QUEUED],
        status=RUNNING,
        owner=this_owner(),
        started_at=now,
        heartbeat_at=now,
    )


def progress(ledger: Ledger, job_id: str, done: int) -> None:
    """Origins replayed so far (and a heartbeat)."""
    _set(ledger, job_id, [JOBS.c.status == RUNNING], done=done, heartbeat_at=int(time.time()))


def finish_job(ledger: Ledger, job_id: str, result: dict[str, Any]) -> None:
    """The job is done, with its result."""
    now = int(time.time())
    _set(ledger, job_id, [], status=DONE, result=result, finished_at=now, heartbeat_at=now)


def fail_job(ledger: Ledger, job_id: str, error: str) -> None:
    """The job failed, and why."""
    now = int(time.time())
    _set(ledger, job_id, [], status=FAILED, error=error[:2000], finished_at=now)


def reap(ledger: Ledger, lease: float, alive: Callable[[str], bool | None] = owner_alive) -> int:
    """Mark failed every queued or running job whose owner is gone (see the module doc);
    returns how many."""
    now = int(time.time())
    with ledger.engine.connect() as conn:
        rows = list(
            conn.execute(
                select(JOBS.c.id, JOBS.c.owner, JOBS.c.heartbeat_at, JOBS.c.status).where(
                    JOBS.c.status.in_(ACTIVE)
                )
            )
        )
    reaped = 0
    for job_id, owner, beat, status in rows:
        state = alive(owner or "")
        silent = now - int(beat or 0) > lease
        if state is False or (state is None and silent):
            why = "exited" if state is False else f"sent no heartbeat for {lease:g} s"
            error = f"the worker {owner} that {status} this job {why}: run it again"
            reaped += _set(
                ledger,
                job_id,
                [JOBS.c.status == status, JOBS.c.owner == owner],
                status=FAILED,
                error=error,
                finished_at=now,
            )
    return reaped


def leaderboard(accuracy: dict[str, Any], forecaster: str) -> list[dict[str, Any]]:
    """One row per forecaster of a job's accuracy body (a job replays one forecaster): mean
    CRPS, MAE, skill against the naive baseline and 80% coverage over its scored steps."""
    steps = accuracy["steps"]
    n = sum(s["n"] for s in steps)

    def mean(key: str) -> float | None:
        pairs = [(s[key], s["n"]) for s in steps if s[key] is not None]
        total = sum(w for _, w in pairs)
        return sum(v * w for v, w in pairs) / total if total else None

    crps, naive = mean("crps"), mean("crpsNaive")
    return [
        {
            "forecaster": forecaster,
            "steps": n,
            "crps": crps,
            "crpsNaive": naive,
            "crpsSkill": None if crps is None or not naive else 1.0 - crps / naive,
            "mae": mean("mae"),
            "coverage80": mean("coverage80"),
            "directionHit": mean("directionHit"),
        }
    ]


def window_accuracy(ledger: Ledger, interval: str, start: datetime, end: datetime) -> dict:
    """`/api/accuracy`'s body (all symbols) over the forecasts with origins in [start, end]."""
    days = (to_epoch(end) - to_epoch(start)) / 86400
    return accuracy(ledger, "ALL", interval, days, end)
