"""Backtest jobs in the ledger: bounded, and failed visibly when their worker is gone."""

from __future__ import annotations

import socket
import subprocess
import sys

from sqlalchemy import update

from ledger import jobs
from ledger.store import Ledger


def dead_pid() -> int:
    """The id of a process of this host that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_active_jobs_are_bounded(ledger: Ledger) -> None:
    first = jobs.create_job(ledger, client="a", params={}, total=3, max_active=1)
    assert first is not None
    assert jobs.create_job(ledger, client="b", params={}, total=3, max_active=1) is None
    jobs.fail_job(ledger, first, "boom")
    assert jobs.create_job(ledger, client="b", params={}, total=3, max_active=1) is not None


def test_a_job_whose_worker_exited_is_failed_with_the_reason(ledger: Ledger) -> None:
    job = jobs.create_job(ledger, client="a", params={}, total=4, max_active=5)
    assert jobs.start_job(ledger, job)
    jobs.progress(ledger, job, 2)
    owner = f"{socket.gethostname()}:{dead_pid()}"  # the worker that ran it is gone
    with ledger.engine.begin() as conn:
        conn.execute(update(jobs.JOBS).where(jobs.JOBS.c.id == job).values(owner=owner))
    assert jobs.reap(ledger, lease=3600) == 1
    found = jobs.get_job(ledger, job)
    assert found["status"] == "failed" and owner in found["error"] and "exited" in found["error"]
    assert found["done"] == 2


def test_live_and_remote_workers_keep_their_jobs_until_silent(ledger: Ledger) -> None:
    mine = jobs.create_job(ledger, client="a", params={}, total=1, max_active=5)
    remote = jobs.create_job(ledger, client="a", params={}, total=1, max_active=5)
    assert jobs.start_job(ledger, mine) and jobs.start_job(ledger, remote)
    with ledger.engine.begin() as conn:
        stmt = update(jobs.JOBS).where(jobs.JOBS.c.id == remote)
        conn.execute(stmt.values(owner="elsewhere:1", heartbeat_at=0))
    assert jobs.reap(ledger, lease=3600) == 1  # the silent remote one only
    assert jobs.get_job(ledger, mine)["status"] == "running"
    remote_job = jobs.get_job(ledger, remote)
    assert remote_job["status"] == "failed" and "heartbeat" in remote_job["error"]
