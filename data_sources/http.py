"""Shared HTTP plumbing: one pooled httpx client per upstream, rate limit, timeouts, retries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from .errors import (
    MalformedDataError,
    MarketDataError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)
from .models import utcnow
from .settings import MarketDataSettings

logger = logging.getLogger(__name__)

#: Maps a non-retryable 4xx response to a specific error (None: the generic one).
ErrorClassifier = Callable[[httpx.Response], MarketDataError | None]


class _RetryableError(Exception):
    """One failed attempt worth retrying; carries the error to raise when retries run out."""

    def __init__(self, error: MarketDataError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def make_client(base_url: str, headers: dict[str, str], timeout: float) -> httpx.AsyncClient:
    """An httpx.AsyncClient with one keep-alive connection pool for `base_url`."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        headers={"Accept": "application/json", "User-Agent": "kronos-forecast-service", **headers},
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None


class UpstreamClient:
    """GETs JSON from one upstream with a rate limiter, a deadline per attempt and retries.

    Retried (exponential backoff with jitter, `market_data_attempts` attempts in all):
    timeouts, connection errors, 5xx, and 429 (after its Retry-After when given). Never
    retried: 418 (a ban: the client stays blocked for Retry-After or `market_data_ban_s`),
    other 4xx, and malformed JSON. A Retry-After longer than `market_data_max_retry_after_s`
    fails fast with UpstreamRateLimitedError and blocks further calls until it has passed.
    When the client-side rate limit has no slot within the timeout, UpstreamRateLimitedError
    is raised without sending anything.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        settings: MarketDataSettings,
        *,
        calls_per_minute: float,
        headers: dict[str, str] | None = None,
        classify: ErrorClassifier | None = None,
    ) -> None:
        self.name = name
        self._settings = settings
        self._client = make_client(base_url, headers or {}, settings.market_data_timeout_s)
        self._limiter = AsyncLimiter(calls_per_minute, 60)
        self._classify = classify
        self._blocked_until = 0.0  # time.monotonic() before which we send nothing
        self._backoff = wait_exponential_jitter(
            multiplier=settings.market_data_backoff_s,
            max=settings.market_data_backoff_max_s,
            jitter=settings.market_data_backoff_s,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def get_json(
        self, path: str, params: dict[str, Any] | None = None, *, weight: float = 1
    ) -> Any:
        """GET `path` and return the decoded JSON, or raise a MarketDataError subclass."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._settings.market_data_attempts)
            | self._retry_after_too_long,
            wait=self._wait,
            retry=retry_if_exception_type(_RetryableError),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return await retrying(self._attempt, path, params, weight)
        except _RetryableError as exc:
            raise exc.error from exc.__cause__

    async def _attempt(self, path: str, params: dict[str, Any] | None, weight: float) -> Any:
        await self._wait_while_blocked()
        timeout = self._settings.market_data_timeout_s
        try:
            await asyncio.wait_for(
                self._limiter.acquire(min(weight, self._limiter.max_rate)), timeout
            )
        except asyncio.TimeoutError:
            raise UpstreamRateLimitedError(
                f"{self.name}: client-side rate limit: no slot within {timeout:g}s",
                upstream=self.name,
            ) from None
        try:
            response = await asyncio.wait_for(self._client.get(path, params=params), timeout)
        except (asyncio.TimeoutError, httpx.TimeoutException) as exc:
            error = UpstreamUnavailableError(
                f"{self.name}: no answer within {timeout:g}s", upstream=self.name
            )
            raise _RetryableError(error) from exc
        except httpx.TransportError as exc:
            error = UpstreamUnavailableError(
                f"{self.name}: {type(exc).__name__}: {exc}", upstream=self.name
            )
            raise _RetryableError(error) from exc
        return self._decode(response)

    def _decode(self, response: httpx.Response) -> Any:
        status = response.status_code
        if status in (418, 429):
            raise self._rate_limited(response)
        if status >= 500:
            error = UpstreamUnavailableError(
                f"{self.name}: HTTP {status}", upstream=self.name, status_code=status
            )
            raise _RetryableError(error)
        if status >= 400:
            specific = self._classify(response) if self._classify else None
            raise specific or UpstreamUnavailableError(
                f"{self.name}: HTTP {status}: {response.text[:200]}",
                upstream=self.name,
                status_code=status,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise MalformedDataError(
                f"{self.name}: invalid JSON from {response.url.path}: {exc}", upstream=self.name
            ) from exc

    def _rate_limited(self, response: httpx.Response) -> Exception:
        """The error for a 429 (retryable, after Retry-After) or a 418 (final, blocks us)."""
        banned = response.status_code == 418
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if banned and retry_after is None:
            retry_after = self._settings.market_data_ban_s
        if retry_after is not None:
            self._blocked_until = max(self._blocked_until, time.monotonic() + retry_after)
        error = UpstreamRateLimitedError(
            f"{self.name}: HTTP {response.status_code} (rate limited"
            + (f", retry after {retry_after:g}s)" if retry_after is not None else ")"),
            upstream=self.name,
            retry_after=retry_after,
        )
        return error if banned else _RetryableError(error, retry_after)

    async def _wait_while_blocked(self) -> None:
        remaining = self._blocked_until - time.monotonic()
        if remaining <= 0:
            return
        if remaining > self._settings.market_data_max_retry_after_s:
            raise UpstreamRateLimitedError(
                f"{self.name}: rate limited for another {remaining:.0f}s",
                upstream=self.name,
                retry_after=remaining,
            )
        await asyncio.sleep(remaining)

    def _retry_after_too_long(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return (
            retry_after is not None and retry_after > self._settings.market_data_max_retry_after_s
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return retry_after
        return self._backoff(state)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        sleep = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "%s: attempt %d failed (%s); retrying in %.2fs",
            self.name,
            state.attempt_number,
            exc,
            sleep,
        )
