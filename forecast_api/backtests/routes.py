"""`/api/backtests`: submit a backtest job and follow it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from forecast_api.backtests.jobs import Backtests
from forecast_api.backtests.schemas import BacktestRequest
from forecast_api.http.errors import BODY_ERROR_RESPONSES, ERROR_RESPONSES, DataUnavailableError
from forecast_api.http.routes import JSON_BODY, Deps, Services, client_of

JobId = Annotated[str, Path(min_length=1, max_length=64)]
router = APIRouter()


def backtests(deps: Services) -> Backtests:
    """The worker's backtests; 503 without a ledger."""
    if deps.backtests is None:
        raise DataUnavailableError("no forecast ledger: LEDGER_URL is empty")
    return deps.backtests


def server_url(request: Request) -> str:
    """This server on loopback, at the port the request came in on (the task endpoint's)."""
    server = request.scope.get("server") or ("127.0.0.1", 80)
    return f"http://127.0.0.1:{server[1]}"


@router.post(
    "/api/backtests", status_code=202, responses=BODY_ERROR_RESPONSES, dependencies=JSON_BODY
)
async def submit_backtest(deps: Deps, body: BacktestRequest, request: Request) -> dict:
    """Queue a replay of `symbols` from `from` to `to` every `every` with `forecaster`; follow it
    at `GET /api/backtests/{id}`. 429 while BACKTEST_MAX_CONCURRENT jobs are queued or running;
    422 over BACKTEST_MAX_ORIGINS forecasts."""
    return await backtests(deps).submit(body, client_of(request), server_url(request))


@router.get("/api/backtests/{job_id}", responses=ERROR_RESPONSES)
async def backtest_status(deps: Deps, job_id: JobId) -> dict:
    """`status` (queued, running, done, failed), `progress`, `error`; when done the `steps` and
    `confidence` tables of `/api/accuracy` over the window, and the `leaderboard`."""
    return await backtests(deps).status(job_id)
