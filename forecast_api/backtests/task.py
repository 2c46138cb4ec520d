"""Queueing a backtest job on the service's BentoML task endpoint (`<route>/submit`)."""

from __future__ import annotations

import httpx

from forecast_api.backtests.jobs import Enqueue

TASK_ROUTE = "/backtest"  # service.py's @bentoml.task endpoint


def submit_over_http(route: str = TASK_ROUTE, timeout: float = 10.0) -> Enqueue:
    """An `Enqueue` that submits the job id to the task endpoint of the server at the base URL
    it is given (this server, on loopback): BentoML then runs the task in one of its workers."""

    async def enqueue(job_id: str, base_url: str) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as http:
            answer = await http.post(f"{route}/submit", json={"job_id": job_id})
            answer.raise_for_status()

    return enqueue
