"""The ledger inside the API: candles closing (files that grow, hour by hour) drive scheduled
forecasts, scoring and the rolling calibration served by /api/predict; a restart resumes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from forecast_api.forecasts.distribution import DistributionRequest
from ledger.models import ForecastRow
from ledger.store import Ledger
from tests.forecast_api.ledger_side.live_helpers import START, advance, build, counts, write_until


def test_candle_closes_drive_schedule_scoring_and_calibration(
    make_settings, core, candles, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    write_until(tmp_path, candles, START)
    services = build(make_settings, tmp_path, url, core, ledger_blend=False)

    async def scenario() -> None:
        await advance(services)
        assert counts(url)[:2] == (2, 0)  # one scheduled forecast per symbol, nothing requested
        with Ledger.open(url).engine.connect() as conn:
            digests = set(conn.execute(select(ForecastRow.checkpoint_digest)).scalars())
        assert digests == {core.status().checkpointDigest} and None not in digests
        first = await services.predictions.predict("BTC", None, None, None)
        assert first.cached is True  # the hour's first client gets the scheduled forecast
        assert first.prediction.seed is not None  # derived from symbol, interval and origin
        assert first.prediction.calibration is not None
        assert first.prediction.calibration.calibratedSteps == []  # nothing scored yet: raw
        assert first.prediction.blend is None and first.prediction.blendInfo is None
        assert first.prediction.blendReason == "LEDGER_BLEND=off: the model alone"
        assert first.prediction.confidenceRaw == first.prediction.confidence
        await advance(services)  # the same candle again: no second scheduled forecast
        assert counts(url)[0] == 2

        for count in range(START + 1, START + 12):
            write_until(tmp_path, candles, count)
            await advance(services)
        scheduled, _, scored = counts(url)
        assert scheduled == 2 * 12
        # forecasts of 4 steps from origins START-1 ... START+10, scored up to START+10's close
        assert scored == 2 * sum(min(4, 11 - k) for k in range(12) if k < 11)

        wanted = DistributionRequest(levels=(80.0,), above=(1000.0,))
        fresh = await services.predictions.predict("ETH", None, 3, 7, distribution=wanted)
        info = fresh.prediction.calibration
        assert info is not None and info.calibratedSteps == [1, 2, 3, 4], info
        assert info.scored >= 6 and info.fittedAt is not None
        point = fresh.prediction.predictions[0]
        assert point.lowRaw is not None and point.highRaw is not None
        assert fresh.prediction.calibrated is True
        assert 0 <= fresh.prediction.confidenceRaw <= 1
        flags = fresh.prediction.distributionCalibrated
        assert flags is not None and flags.intervals == {"80": True} and flags.above is True
        for p in fresh.prediction.predictions:  # the 80% interval asked is the served band
            [band] = p.intervals or []
            assert (band.low, band.high) == pytest.approx((p.low, p.high), rel=1e-9)
        health = await services.health.report()
        assert health.ledger is not None and health.ledger.state == "ok"
        assert health.ledger.calibration["1h"].calibratedSteps == [1, 2, 3, 4]
        assert health.ledger.scheduled == 24 and health.ledger.scored == scored
        assert await services.ledger.link.writer.flush()
        await services.health.monitor.stop()

    asyncio.run(scenario())
    assert counts(url)[1] == 1  # the seeded ETH request

    # a restart on the same ledger and the same candles: nothing is forecast twice
    restarted = build(make_settings, tmp_path, url, core, ledger_blend=False)
    before = counts(url)
    asyncio.run(advance(restarted))
    assert counts(url)[0] == before[0]
    write_until(tmp_path, candles, START + 12)
    asyncio.run(advance(restarted))
    assert counts(url)[0] == before[0] + 2


def test_a_ledger_that_cannot_be_written_never_fails_a_forecast(
    make_settings, core, candles, tmp_path: Path
) -> None:
    write_until(tmp_path, candles, START)
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the ledger's folder should be")
    services = build(make_settings, tmp_path, f"sqlite:///{blocked / 'ledger.db'}", core)

    async def scenario() -> None:
        response = await services.predictions.predict("BTC", None, None, 1)
        assert response.prediction.model == "kronos"
        assert services.ledger is not None
        await services.ledger.round()
        assert not await services.ledger.link.writer.flush()
        health = (await services.health.report()).ledger
        assert health is not None and health.state == "degraded"
        assert health.buffered >= 1 and health.roundError and health.lastError
        await services.health.monitor.stop()

    asyncio.run(scenario())
