"""Alert rules on scheduled forecasts: stored in the ledger, evaluated as each scheduled forecast
is made (`observe`, called by the ledger upkeep), delivered to webhooks in the background.

`observe` only starts a task: the upkeep round never waits on the database reads, the rules or a
webhook. A rule fires at most once per scheduled forecast (`ledger.alerts.claim_delivery`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from forecast_api.alerts.delivery import deliver
from forecast_api.alerts.rules import fired, step_of
from forecast_api.alerts.schemas import AlertRequest
from forecast_api.forecasts.intervals import checked_interval
from forecast_api.forecasts.market import MarketData
from forecast_api.http.errors import (
    DataUnavailableError,
    InvalidRequestError,
    LimitReachedError,
    NotFoundError,
)
from forecast_api.http.responses import CachedForecast
from forecast_api.settings import ServiceSettings
from ledger import alerts as store
from ledger.records import to_epoch
from ledger.store import Ledger

log = logging.getLogger(__name__)


def _public(rule: store.AlertRule) -> dict[str, Any]:
    """A rule as the API shows it (never its secret)."""
    return {
        "id": rule.id,
        "symbol": rule.symbol,
        "interval": rule.interval,
        **rule.condition,
        "webhook": rule.webhook,
        "createdAt": rule.created_at,
    }


def checked_webhook(url: str) -> str:
    """An http(s) URL with a host; 422 otherwise."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise InvalidRequestError("webhook: not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError("webhook: must be an http:// or https:// URL with a host")
    return url


class Alerts:
    """Rule CRUD for the routes, evaluation and deliveries for the upkeep (see the module doc)."""

    def __init__(
        self,
        settings: ServiceSettings,
        open_ledger: Callable[[], Ledger] | None,
        market: MarketData,
    ) -> None:
        self.settings, self.open_ledger, self.market = settings, open_ledger, market
        self._tasks: set[asyncio.Task] = set()

    async def _ledger(self) -> Ledger:
        """The ledger holding the rules; 503 without one."""
        if self.open_ledger is None:
            raise DataUnavailableError("no forecast ledger: LEDGER_URL is empty")
        return await asyncio.to_thread(self.open_ledger)

    def _checked(self, body: AlertRequest) -> tuple[str, str]:
        """(symbol, interval) of a valid rule; 4xx naming what is wrong."""
        s = self.settings
        symbol = self.market.source.assets.get(body.symbol).symbol  # 404 when unknown
        interval = checked_interval(self.market.intervals, body.interval, s.forecast_intervals)
        if interval not in s.ledger_schedule:
            raise InvalidRequestError(
                f"interval: {interval} forecasts are not scheduled (LEDGER_SCHEDULE="
                f"{','.join(s.ledger_schedule)}): the rule would never fire"
            )
        if s.ledger_symbols and symbol not in s.ledger_symbols:
            raise InvalidRequestError(f"symbol: {symbol} is not scheduled (LEDGER_SYMBOLS)")
        if body.hours is not None:
            try:
                step = step_of(body.hours, interval)
            except ValueError as exc:
                raise InvalidRequestError(str(exc)) from None
            steps = s.interval_horizon(interval)
            if step > steps:
                raise InvalidRequestError(
                    f"hours: scheduled {interval} forecasts cover {steps} candles"
                )
        checked_webhook(body.webhook)
        return symbol, interval

    async def create(self, body: AlertRequest, client: str) -> dict[str, Any]:
        """Store a rule; the rule with its id and its secret (shown this once)."""
        symbol, interval = self._checked(body)
        ledger = await self._ledger()
        limit = self.settings.alert_max_rules
        rule = await asyncio.to_thread(
            lambda: store.add_rule(
                ledger,
                client=client,
                symbol=symbol,
                interval=interval,
                condition=body.condition(),
                webhook=body.webhook,
                max_per_client=limit,
            )
        )
        if rule is None:
            raise LimitReachedError(f"at most {limit} alert rules per client (ALERT_MAX_RULES)")
        return _public(rule) | {"secret": rule.secret}

    async def show(self, rule_id: str) -> dict[str, Any]:
        """A rule with its newest deliveries and their failures."""
        ledger = await self._ledger()
        rule = await asyncio.to_thread(store.get_rule, ledger, rule_id)
        if rule is None:
            raise NotFoundError(f"no alert rule {rule_id!r}")
        sent = await asyncio.to_thread(store.deliveries, ledger, rule_id)
        return _public(rule) | {"deliveries": sent}

    async def delete(self, rule_id: str) -> None:
        """Remove a rule (404 when there is none)."""
        ledger = await self._ledger()
        if not await asyncio.to_thread(store.delete_rule, ledger, rule_id):
            raise NotFoundError(f"no alert rule {rule_id!r}")

    # ---- evaluation (the upkeep's observer) ---------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        """Run in the background, keeping a reference until done."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def observe(self, forecast: CachedForecast) -> None:
        """A scheduled forecast was made: evaluate the rules on it in the background."""
        if self.open_ledger is not None:
            self._spawn(self._evaluate(forecast))

    async def _evaluate(self, forecast: CachedForecast) -> None:
        """Fire every rule of the forecast's symbol and interval that it meets."""
        try:
            ledger = await self._ledger()
            rules = await asyncio.to_thread(
                store.rules_for, ledger, forecast.symbol, forecast.interval
            )
            for rule in rules:
                numbers = fired(rule, forecast)
                if numbers is not None:
                    await self._fire(ledger, rule, forecast, numbers)
        except Exception:  # a database failure: logged, the next forecast tries again
            log.exception("alert evaluation failed for %s", forecast.symbol)

    async def _fire(
        self, ledger: Ledger, rule: store.AlertRule, forecast: CachedForecast, numbers: dict
    ) -> None:
        """Record the delivery (once per rule and origin) and send it in the background."""
        p, record = forecast.prediction, forecast.record
        uid = record.uid if record is not None and record.meta.kind == "scheduled" else None
        payload = {
            "rule": _public(rule),
            "forecast": {
                "symbol": forecast.symbol,
                "interval": forecast.interval,
                "lastCandle": forecast.last_candle,
                "generatedAt": forecast.generated_at,
                "model": p.model,
                "modelId": p.modelId,
                "fallbackReason": p.fallbackReason,
                "calibrated": p.calibrated,
                "price_24h": p.price_24h,
                "trend": p.trend,
                "confidence": p.confidence,
                "upProbability": p.upProbability,
            },
            "fired": numbers,
            "firedAt": int(time.time()),
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        origin = to_epoch(pd.Timestamp(forecast.last_candle))
        delivery = await asyncio.to_thread(store.claim_delivery, ledger, rule.id, origin, uid, body)
        if delivery is not None:
            self._spawn(
                deliver(self.settings, self.open_ledger, delivery, rule.webhook, rule.secret, body)
            )

    async def stop(self) -> None:
        """Cancel the evaluations and deliveries in flight (their rows stay pending)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
