"""Webhook deliveries: a signed JSON POST, retried with backoff, every attempt recorded.

The body is signed with the rule's secret: `X-Kronos-Signature: sha256=<hex HMAC-SHA256 of the
exact body bytes>`. A 2xx answer delivers it; anything else (another status, a timeout, a refused
connection) is a failure recorded on the delivery and retried after ALERT_BACKOFF seconds,
doubling, until ALERT_MAX_ATTEMPTS tries were made. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable

import httpx

from forecast_api.settings import ServiceSettings
from ledger.alerts import record_attempt
from ledger.store import Ledger

SIGNATURE = "X-Kronos-Signature"


def signature(secret: str, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(
    settings: ServiceSettings,
    open_ledger: Callable[[], Ledger],
    delivery_id: int,
    url: str,
    secret: str,
    body: bytes,
) -> bool:
    """POST `body` to `url` until it is taken or the attempts run out; whether it was taken."""
    headers = {
        "Content-Type": "application/json",
        SIGNATURE: signature(secret, body),
        "X-Kronos-Delivery": str(delivery_id),
        "User-Agent": "kronos-forecast-alerts",
    }
    attempts = settings.alert_max_attempts
    async with httpx.AsyncClient(timeout=settings.alert_timeout, follow_redirects=False) as http:
        for attempt in range(1, attempts + 1):
            try:
                answer = await http.post(url, content=body, headers=headers)
                error = None if answer.is_success else f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            final = error is None or attempt == attempts
            await asyncio.to_thread(
                lambda e=error, f=final: record_attempt(
                    open_ledger(), delivery_id, error=e, final=f
                )
            )
            if error is None:
                return True
            if not final:
                await asyncio.sleep(settings.alert_backoff * 2 ** (attempt - 1))
    return False
