"""The served blend and a challenger in the API: the scheduled round forecasts the challenger on
the model's origins and seeds, the ledger scores both, the blend learns from them and is served
(and recorded); `blend=off` serves the model alone; `/api/leaderboard` ranks every forecaster."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from forecast_api.app import create_app
from forecast_api.forecasts.distribution import DistributionRequest
from forecast_api.http.routes import provide
from kronos_runner.runner import ModelSpec, RunnerCore
from kronos_runner.settings import Challenger
from ledger.models import ForecastRow
from ledger.store import Ledger
from tests.forecast_api.api_helpers import assert_error
from tests.forecast_api.ledger_side.live_helpers import START, SYMBOLS, advance, build, write_until

RIVAL = "tiny-2"  # the tiny checkpoint loaded a second time, as a challenger
ROUNDS = 12
SEED_FIELDS = {"symbol", "currentPrice", "change24h", "volume24h", "prediction", "timestamp"}
SEED_PREDICTION = {"price_24h", "confidence", "trend", "predictions"}
BOARD_FIELDS = {"name", "kind", "n", "crps", "mae", "coverage80", "coverage90", "directionHit"}
BOARD_FIELDS |= {"rank", "crpsSkillBestBaseline"}


@pytest.fixture(scope="module")
def rival_core(tiny_checkpoint: tuple[Path, Path]) -> RunnerCore:
    """The runner core on the tiny checkpoint with the same checkpoint as a challenger."""
    challenger = Challenger(name=RIVAL, checkpoint=str(tiny_checkpoint[0]))
    return RunnerCore.load(ModelSpec(*tiny_checkpoint, device="cpu", challengers=(challenger,)))


def rows(url: str) -> list[ForecastRow]:
    """Every forecast in the ledger, oldest first."""
    ledger = Ledger.open(url)
    with ledger.engine.connect() as conn:
        return list(conn.execute(select(ForecastRow).order_by(ForecastRow.id)))


def test_challenger_forecast_scored_blended_served_and_ranked(
    make_settings, rival_core, candles, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    write_until(tmp_path, candles, START)
    services = build(make_settings, tmp_path, url, rival_core, ledger_blend_min_scored=6)

    async def scenario() -> None:
        await advance(services)
        first = await services.predictions.predict("BTC", None, None, None)
        assert first.cached is True and first.prediction.blend is None  # nothing scored yet
        assert first.prediction.blendReason == "not fitted yet: the ledger has not been read"
        for count in range(START + 1, START + ROUNDS):
            write_until(tmp_path, candles, count)
            await advance(services)

        # the hour's scheduled forecast: blended, the challenger one of its components
        hourly = (await services.predictions.predict("BTC", None, None, None)).prediction
        assert hourly.model == "kronos" and hourly.blendInfo is not None
        assert hourly.blendInfo.components == ["kronos", "random_walk", RIVAL]
        assert hourly.blendInfo.blendedSteps == [1, 2, 3, 4]
        assert hourly.blend is not None and set(hourly.blend) == {*hourly.blendInfo.components}
        assert sum(hourly.blend.values()) == pytest.approx(1.0, abs=1e-3)
        assert hourly.blendReason is None
        ref = hourly.predictions[-1]
        assert hourly.price_24h == ref.price and hourly.priceRaw == ref.priceRaw
        assert all(p.blend is not None and p.priceRaw is not None for p in hourly.predictions)

        # a request with its own seed: no challenger forecast, the blend over the rest
        wanted = DistributionRequest(levels=(80.0,))
        mixed = await services.predictions.predict("ETH", None, 3, 7, distribution=wanted)
        blend = mixed.prediction.blend
        assert blend is not None and set(blend) == {"kronos", "random_walk"}
        assert mixed.prediction.calibration is not None
        for p in mixed.prediction.predictions:  # the 80% interval asked is the served band
            [band] = p.intervals or []
            assert (band.low, band.high) == pytest.approx((p.low, p.high), rel=1e-9)
        alone = (await services.predictions.predict("ETH", None, 3, 7, blend=False)).prediction
        assert alone.blend is None and alone.blendInfo is None
        assert alone.blendReason == "blend=off: the model alone was asked for"
        assert alone.price_24h == pytest.approx(mixed.prediction.priceRaw, rel=1e-12)
        assert [p.price for p in alone.predictions] == [p.priceRaw for p in alone.predictions]
        assert [p.priceRaw for p in alone.predictions] == [
            p.priceRaw for p in mixed.prediction.predictions
        ]
        assert alone.price_24h != mixed.prediction.price_24h

        board = await services.track_record.leaderboard("ALL", "1h", 30)
        ranked = board["forecasters"]
        names = {r["name"]: r for r in ranked}
        assert {"served", "kronos", "naive", "drift", "random_walk", RIVAL} <= set(names)
        assert names[RIVAL]["kind"] == "challenger"
        assert names[RIVAL]["n"] == names["kronos"]["n"]  # the same origins, scored alike
        assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
        assert [r["crps"] for r in ranked] == sorted(r["crps"] for r in ranked)
        assert await services.ledger.link.writer.flush()
        await services.health.monitor.stop()

    asyncio.run(scenario())
    recorded = rows(url)
    scheduled = [r for r in recorded if r.kind == "scheduled"]
    rivals = [r for r in recorded if r.kind == "challenger"]
    assert len(scheduled) == len(rivals) == len(SYMBOLS) * ROUNDS
    assert {(r.symbol, r.origin, r.seed) for r in rivals} == {
        (r.symbol, r.origin, r.seed) for r in scheduled
    }
    assert {r.model_id for r in rivals} == {RIVAL}
    last = scheduled[-1]  # the ledger records the blend each forecast served
    assert RIVAL in last.blend["components"] and RIVAL in last.blend["weights"]["1"]
    assert last.blend_version == last.blend["version"] and RIVAL in last.blend_version
    assert scheduled[0].blend["weights"] == {} and scheduled[0].blend["reason"]

    # the same services over HTTP: the seed's fields unchanged, the blend's added, 4xx as JSON
    app = create_app(services.settings)
    provide(app, services)
    with TestClient(app) as client:
        body = client.get("/api/predict", params={"symbol": "BTC"}).json()
        assert set(body) >= SEED_FIELDS and set(body["prediction"]) >= SEED_PREDICTION
        assert all(
            {"hour", "price", "timestamp"} <= set(p) for p in body["prediction"]["predictions"]
        )
        assert isinstance(body["prediction"]["price_24h"], float) and body["prediction"]["blend"]
        assert body["prediction"]["blendInfo"]["fittedAt"].endswith("Z")
        off = client.get("/api/predict", params={"symbol": "BTC", "blend": "off"}).json()
        assert off["prediction"]["blend"] is None and off["prediction"]["blendReason"]
        assert off["prediction"]["price_24h"] == body["prediction"]["priceRaw"]
        bad = client.get("/api/predict", params={"symbol": "BTC", "blend": "maybe"})
        assert_error(bad, 422, "invalid_parameters")
        batch = client.post("/api/predict/batch", json={"symbols": ["BTC"], "blend": "off"})
        [entry] = batch.json()["results"]
        assert entry["data"]["prediction"]["blend"] is None
        assert entry["data"]["prediction"]["price_24h"] == off["prediction"]["price_24h"]

        board = client.get("/api/leaderboard", params={"interval": "1h", "days": 30}).json()
        assert set(board) == {
            "symbol",
            "interval",
            "days",
            "from",
            "to",
            "bestBaseline",
            "forecasters",
        }
        assert board["symbol"] == "ALL" and board["bestBaseline"] in {
            "naive",
            "drift",
            "random_walk",
        }
        assert all(set(r) == BOARD_FIELDS for r in board["forecasters"])
        ranks = [(r["rank"], r["crps"]) for r in board["forecasters"]]
        assert ranks == sorted(ranks) and [r for r, _ in ranks] == list(range(1, len(ranks) + 1))
        btc = client.get("/api/leaderboard", params={"symbol": "btc"}).json()
        assert btc["symbol"] == "BTC"
        assert_error(
            client.get("/api/leaderboard", params={"symbol": "NOPE"}), 404, "unknown_symbol"
        )
        for params in ({"interval": "2h"}, {"days": 0}, {"days": "x"}, {"days": 400}):
            assert_error(client.get("/api/leaderboard", params=params), 422, "invalid_parameters")
