"""The MCP tools as plain functions over a `Call` (the routes' `Services` and the HTTP request):
the same service calls (and so the same caches, quotas, limits and errors) as the HTTP routes,
with typed inputs and outputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated

from pydantic import Field
from starlette.requests import Request

from forecast_api.agents.models import AboveAnswer, Leaderboard, PastForecasts, TrackRecord
from forecast_api.forecasts.distribution import DistributionRequest
from forecast_api.forecasts.predictions import Charge
from forecast_api.http.market_schemas import AssetsResponse, HistoryData, HistoryResponse
from forecast_api.http.routes import Services, caller
from forecast_api.http.schemas import PredictResponse, now_iso

SymbolIn = Annotated[str, Field(min_length=1, max_length=20, description="e.g. BTC (any case)")]
IntervalIn = Annotated[str, Field(description="candle interval: 15m, 1h, 4h or 1d")]
DaysIn = Annotated[int, Field(ge=1, le=365, description="days back from now")]
Prices = list[Annotated[float, Field(gt=0)]]


@dataclass(frozen=True)
class Call:
    """One tool call: the services bound to the app and the `/mcp` HTTP request carrying it."""

    services: Services
    request: Request

    async def charge(self) -> Charge:
        """The caller's compute charge, as `/api/predict` makes it: the key of the request's
        `Authorization: Bearer` / `X-API-Key` header (401 for a bad one), else anonymous."""
        client = await caller(self.request, self.services)
        return partial(self.services.quotas.charge, client)


async def get_forecast(
    call: Call,
    symbol: SymbolIn,
    interval: IntervalIn = "1h",
    horizon: Annotated[int | None, Field(ge=1, description="steps ahead (default 24)")] = None,
    quantiles: Annotated[list[float] | None, Field(description="e.g. [0.05, 0.5, 0.95]")] = None,
    levels: Annotated[list[float] | None, Field(description="central intervals in %: [80]")] = None,
    above: Annotated[Prices | None, Field(description="prices for P(close > price)")] = None,
) -> PredictResponse:
    """`GET /api/predict` (charged to the caller's compute quota when it computes)."""
    wanted = DistributionRequest.parse(call.services.settings, quantiles, levels, above)
    charge = await call.charge()
    return await call.services.predictions.predict(
        symbol, horizon, None, None, interval=interval, distribution=wanted, charge=charge
    )


async def get_history(call: Call, symbol: SymbolIn, days: DaysIn = 7) -> HistoryResponse:
    """`GET /api/history`."""
    name, points = await call.services.market.history(symbol, days)
    return HistoryResponse(
        symbol=name,
        days=days,
        data=HistoryData(**points.to_seed_dict()),
        timestamp=now_iso(),
        dataSource=str(points.source),
        stale=bool(points.stale),
    )


async def list_assets(call: Call) -> AssetsResponse:
    """`GET /api/assets`."""
    return await call.services.market.assets()


async def get_track_record(
    call: Call,
    symbol: Annotated[str, Field(min_length=1, max_length=20, description="a symbol or ALL")],
    interval: IntervalIn = "1h",
    days: DaysIn = 30,
) -> TrackRecord:
    """`GET /api/accuracy`."""
    body = await call.services.track_record.accuracy(symbol, interval, days)
    return TrackRecord(start=body.pop("from"), end=body.pop("to"), **body)


async def get_past_forecasts(
    call: Call,
    symbol: SymbolIn,
    interval: IntervalIn = "1h",
    start: Annotated[datetime | None, Field(description="oldest origin (default: 30 days)")] = None,
    end: Annotated[datetime | None, Field(description="newest origin (default: now)")] = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 20,
    cursor: Annotated[str | None, Field(max_length=200, description="nextCursor")] = None,
) -> PastForecasts:
    """`GET /api/forecasts`."""
    body = await call.services.track_record.forecasts(symbol, interval, start, end, limit, cursor)
    return PastForecasts(**body)


async def probability_above(
    call: Call,
    symbol: SymbolIn,
    price: Annotated[float, Field(gt=0, description="the price level")],
    hours: Annotated[int, Field(ge=1, description="hours ahead (1h steps)")] = 24,
) -> AboveAnswer:
    """`GET /api/predict?interval=1h&horizon=<hours>&above=<price>` at its last step (charged
    like it)."""
    wanted = DistributionRequest.parse(call.services.settings, None, None, [price])
    charge = await call.charge()
    response = await call.services.predictions.predict(
        symbol, hours, None, None, interval="1h", distribution=wanted, charge=charge
    )
    p = response.prediction
    last = p.predictions[-1]
    [answer] = last.above or []
    return AboveAnswer(
        symbol=response.symbol,
        price=answer.price,
        hours=last.hour,
        probability=answer.probability,
        calibrated=bool(p.distributionCalibrated and p.distributionCalibrated.above),
        currentPrice=response.currentPrice,
        at=last.timestamp,
        model=p.model,
        fallbackReason=p.fallbackReason,
        stale=response.stale,
        generatedAt=response.generatedAt,
    )


async def compare_forecasters(
    call: Call,
    symbol: Annotated[str, Field(min_length=1, max_length=20, description="a symbol or ALL")],
    interval: IntervalIn = "1h",
    days: DaysIn = 30,
) -> Leaderboard:
    """`GET /api/leaderboard`."""
    body = await call.services.track_record.leaderboard(symbol, interval, days)
    return Leaderboard(start=body.pop("from"), end=body.pop("to"), **body)
