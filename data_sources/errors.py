"""Typed errors of the market data layer; every one subclasses :class:`MarketDataError`."""

from __future__ import annotations


class MarketDataError(Exception):
    """Base class: market data could not be supplied."""

    def __init__(self, message: str, *, upstream: str | None = None) -> None:
        super().__init__(message)
        self.upstream = upstream


class UnknownSymbolError(MarketDataError, LookupError):
    """The symbol is not in the asset registry, or the upstream does not know it."""


class UpstreamUnavailableError(MarketDataError):
    """The upstream failed: timeouts, connection errors or 5xx after retries, or a refusal."""

    def __init__(
        self, message: str, *, upstream: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message, upstream=upstream)
        self.status_code = status_code


class UpstreamRateLimitedError(MarketDataError):
    """The upstream rate-limited us (429/418) and we will not call it again before `retry_after`."""

    def __init__(
        self, message: str, *, upstream: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, upstream=upstream)
        self.retry_after = retry_after


class MalformedDataError(MarketDataError):
    """The upstream answered with malformed, empty or implausible data (bad JSON, NaN, price<=0)."""


class DataRegressionError(MalformedDataError):
    """The newest candle is older than one this source returned before (a truncated or replaced
    file, an upstream serving an old snapshot): treated as failing, never as fresh data."""


#: Errors after which a cached value may be served stale (never for unknown symbols).
TRANSIENT_ERRORS: tuple[type[MarketDataError], ...] = (
    UpstreamUnavailableError,
    UpstreamRateLimitedError,
    MalformedDataError,
)
