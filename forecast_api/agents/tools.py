"""The MCP tools as plain functions over the routes' `Services`: the same service calls (and so
the same caches, limits and errors) as the HTTP routes, with typed inputs and outputs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from forecast_api.agents.models import (
    AboveAnswer,
    Comparison,
    ForecasterScore,
    PastForecasts,
    TrackRecord,
)
from forecast_api.forecasts.distribution import DistributionRequest
from forecast_api.http.routes import Services
from forecast_api.http.schemas import (
    AssetsResponse,
    HistoryData,
    HistoryResponse,
    PredictResponse,
    now_iso,
)

SymbolIn = Annotated[str, Field(min_length=1, max_length=20, description="e.g. BTC (any case)")]
IntervalIn = Annotated[str, Field(description="candle interval: 15m, 1h, 4h or 1d")]
DaysIn = Annotated[int, Field(ge=1, le=365, description="days back from now")]
Prices = list[Annotated[float, Field(gt=0)]]


async def get_forecast(
    services: Services,
    symbol: SymbolIn,
    interval: IntervalIn = "1h",
    horizon: Annotated[int | None, Field(ge=1, description="steps ahead (default 24)")] = None,
    quantiles: Annotated[list[float] | None, Field(description="e.g. [0.05, 0.5, 0.95]")] = None,
    levels: Annotated[list[float] | None, Field(description="central intervals in %: [80]")] = None,
    above: Annotated[Prices | None, Field(description="prices for P(close > price)")] = None,
) -> PredictResponse:
    """`GET /api/predict`."""
    wanted = DistributionRequest.parse(services.settings, quantiles, levels, above)
    return await services.predictions.predict(
        symbol, horizon, None, None, interval=interval, distribution=wanted
    )


async def get_history(services: Services, symbol: SymbolIn, days: DaysIn = 7) -> HistoryResponse:
    """`GET /api/history`."""
    name, points = await services.market.history(symbol, days)
    return HistoryResponse(
        symbol=name,
        days=days,
        data=HistoryData(**points.to_seed_dict()),
        timestamp=now_iso(),
        dataSource=str(points.source),
        stale=bool(points.stale),
    )


async def list_assets(services: Services) -> AssetsResponse:
    """`GET /api/assets`."""
    return services.market.assets()


async def get_track_record(
    services: Services,
    symbol: Annotated[str, Field(min_length=1, max_length=20, description="a symbol or ALL")],
    interval: IntervalIn = "1h",
    days: DaysIn = 30,
) -> TrackRecord:
    """`GET /api/accuracy`."""
    body = await services.track_record.accuracy(symbol, interval, days)
    return TrackRecord(start=body.pop("from"), end=body.pop("to"), **body)


async def get_past_forecasts(
    services: Services,
    symbol: SymbolIn,
    interval: IntervalIn = "1h",
    start: Annotated[datetime | None, Field(description="oldest origin (default: 30 days)")] = None,
    end: Annotated[datetime | None, Field(description="newest origin (default: now)")] = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 20,
    cursor: Annotated[str | None, Field(max_length=200, description="nextCursor")] = None,
) -> PastForecasts:
    """`GET /api/forecasts`."""
    body = await services.track_record.forecasts(symbol, interval, start, end, limit, cursor)
    return PastForecasts(**body)


async def probability_above(
    services: Services,
    symbol: SymbolIn,
    price: Annotated[float, Field(gt=0, description="the price level")],
    hours: Annotated[int, Field(ge=1, description="hours ahead (1h steps)")] = 24,
) -> AboveAnswer:
    """`GET /api/predict?interval=1h&horizon=<hours>&above=<price>` at its last step."""
    wanted = DistributionRequest.parse(services.settings, None, None, [price])
    response = await services.predictions.predict(
        symbol, hours, None, None, interval="1h", distribution=wanted
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


def rank_from_accuracy(body: dict[str, Any]) -> Comparison:
    """Model, naive and drift ranked by CRPS from an `/api/accuracy` body (step rows weighted
    by their scored count)."""
    rows = [r for r in body["steps"] if r["n"]]
    total = sum(r["n"] for r in rows)

    def mean(key: str) -> float | None:
        pairs = [(r[key], r["n"]) for r in rows if r.get(key) is not None]
        weight = sum(n for _, n in pairs)
        return sum(v * n for v, n in pairs) / weight if weight else None

    naive = mean("crpsNaive")

    def score(name: str, crps: str, mae: str, coverage: str | None) -> ForecasterScore:
        value = mean(crps)
        skill = 1.0 - value / naive if value is not None and naive else None
        return ForecasterScore(
            forecaster=name,
            crps=value,
            mae=mean(mae),
            coverage80=mean(coverage) if coverage else None,
            crpsSkill=skill,
        )

    scores = [
        score("model", "crps", "mae", "coverage80"),
        score("naive", "crpsNaive", "maeNaive", None),
        score("drift", "crpsDrift", "maeDrift", None),
    ]
    scores.sort(key=lambda s: (s.crps is None, s.crps or 0.0))
    return Comparison(
        symbol=body["symbol"],
        interval=body["interval"],
        days=body["days"],
        scoredSteps=total,
        source="/api/accuracy",
        ranking=scores,
    )


async def compare_forecasters(
    services: Services,
    symbol: Annotated[str, Field(min_length=1, max_length=20, description="a symbol or ALL")],
    interval: IntervalIn = "1h",
    days: DaysIn = 30,
) -> Comparison:
    """The model against the naive and drift baselines on the same scheduled origins."""
    return rank_from_accuracy(await services.track_record.accuracy(symbol, interval, days))
