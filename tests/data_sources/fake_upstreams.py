"""A real HTTP server on 127.0.0.1 speaking CoinGecko v3 and Binance spot formats.

Payloads are built from the shared hourly candles (`<SYMBOL>_1h.csv`). Each symbol's candles are
shifted by a whole number of hours so that its last CSV candle is the one open *now*: Binance
answers it as the still-open kline, CoinGecko's live price is its close. Use from any test::

    from tests.data_sources.fake_upstreams import FakeUpstreams, Reply

    with FakeUpstreams(ohlcv_dir) as fake:                      # or the `fake_upstreams` fixture
        source = build_source(fake.settings())                  # live source aimed at the fake
        env = fake.env()                     # the same as env vars, for a service subprocess
        fake.enqueue("klines", Reply(status=429, headers={"Retry-After": "1"}))
        fake.always("simple_price", Reply(delay=0.2))           # every answer slow
        ...
        fake.count("klines")                                    # requests seen per route

Routes (names for `enqueue`/`always`/`count`): `klines` (`/binance/api/v3/klines`),
`exchange_info` (`/binance/api/v3/exchangeInfo`: every `<SYMBOL>_1h.csv` as a TRADING USDT pair,
plus a BTC-quoted and a halted pair that ASSETS=all leaves out), `simple_price`
(`/coingecko/api/v3/simple/price`), `market_chart` (`/coingecko/api/v3/coins/{id}/market_chart`).
Market caps are synthetic (price times a fixed supply); market_chart points are hourly (at
candle close + 7 s) for days <= 90, else daily.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from data_sources import DEFAULT_ASSETS, MarketDataSettings

HOUR_MS = 3_600_000
SNAPSHOT_OFFSET_MS = 7_000  # CoinGecko's hourly points are a few seconds after the hour
SUPPLY = {"BTC": 19.8e6, "ETH": 120.7e6, "BNB": 140.9e6, "SOL": 470e6, "XRP": 57e9}
SUPPLY |= {"ADA": 35.5e9, "DOGE": 146e9, "DOT": 1.5e9}
IDS = {asset.coingecko_id: asset.symbol for asset in DEFAULT_ASSETS}
ROUTES = {
    "klines": re.compile(r"^/binance/api/v3/klines$"),
    "exchange_info": re.compile(r"^/binance/api/v3/exchangeInfo$"),
    "simple_price": re.compile(r"^/coingecko/api/v3/simple/price$"),
    "market_chart": re.compile(r"^/coingecko/api/v3/coins/(?P<id>[^/]+)/market_chart$"),
}


@dataclass(frozen=True)
class Reply:
    """A scripted answer. `body=None` means the normal answer for the request; bytes/str are
    sent raw, anything else JSON-encoded. `delay` sleeps before answering; `truncate` cuts the
    body in half (truncated JSON with a matching Content-Length)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    route: str | None
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@functools.lru_cache(maxsize=16)
def _read_candles(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame["open_ms"] = pd.to_datetime(frame["timestamp"], utc=True).dt.as_unit("ms").astype("int64")
    return frame


@functools.lru_cache(maxsize=16)
def _shifted_candles(path: Path, now: datetime) -> pd.DataFrame:
    raw = _read_candles(path)
    now_ms = int(now.timestamp() * 1000)
    shift = now_ms // HOUR_MS * HOUR_MS - int(raw["open_ms"].iloc[-1])
    frame = raw.assign(open_ms=raw["open_ms"] + shift)
    timestamps = pd.to_datetime(frame["open_ms"], unit="ms", utc=True).dt.as_unit("ns")
    return frame.assign(timestamp=timestamps)


class FakeUpstreams:
    """CoinGecko + Binance on one local server; see the module docstring."""

    def __init__(self, ohlcv_dir: Path, *, now: datetime | None = None) -> None:
        self.ohlcv_dir = Path(ohlcv_dir)
        self.now = now or datetime.now(timezone.utc)
        self.requests: list[RecordedRequest] = []
        self._queues: dict[str, deque[Reply]] = defaultdict(deque)
        self._always: dict[str, Reply] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeUpstreams:
        """Listen on a free port of 127.0.0.1 in a daemon thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (handlers still sleeping on a delay die with their daemon threads)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeUpstreams:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def coingecko_url(self) -> str:
        """Value for COINGECKO_BASE_URL."""
        return f"{self.url}/coingecko/api/v3"

    @property
    def binance_url(self) -> str:
        """Value for BINANCE_BASE_URL."""
        return f"{self.url}/binance"

    def settings_values(self, **overrides: Any) -> dict[str, Any]:
        """MarketDataSettings fields aimed at this server, with test-sized timeouts/backoffs."""
        values: dict[str, Any] = {
            "market_data_source": "live",
            "coingecko_base_url": self.coingecko_url,
            "binance_base_url": self.binance_url,
            "market_data_timeout_s": 2.0,
            "market_data_attempts": 3,
            "market_data_backoff_s": 0.01,
            "market_data_backoff_max_s": 0.05,
            "market_data_max_retry_after_s": 2.0,
            "market_data_error_ttl_s": 0.0,
            "coingecko_calls_per_minute": 6000,
            "binance_weight_per_minute": 60000,
        }
        return values | overrides

    def settings(self, **overrides: Any) -> MarketDataSettings:
        """Live settings aimed at this server (ignores `.env`)."""
        return MarketDataSettings(_env_file=None, **self.settings_values(**overrides))

    def env(self, **overrides: Any) -> dict[str, str]:
        """The same as environment variables, e.g. for a service started in a subprocess."""
        return {name.upper(): str(v) for name, v in self.settings_values(**overrides).items()}

    # --- knobs -----------------------------------------------------------------------------
    def enqueue(self, route: str, *replies: Reply) -> None:
        """Answer the next requests of `route` with `replies`, in order."""
        self._check_route(route)
        with self._lock:
            self._queues[route].extend(replies)

    def always(self, route: str, reply: Reply | None) -> None:
        """Answer `route` with `reply` whenever its queue is empty (None: normal answers)."""
        self._check_route(route)
        with self._lock:
            if reply is None:
                self._always.pop(route, None)
            else:
                self._always[route] = reply

    def reset(self) -> None:
        """Forget scripted replies and recorded requests."""
        with self._lock:
            self._queues.clear()
            self._always.clear()
            self.requests.clear()

    def count(self, route: str | None = None) -> int:
        """Requests received for `route` (all routes when None)."""
        with self._lock:
            return sum(1 for r in self.requests if route is None or r.route == route)

    # --- the data behind the answers -------------------------------------------------------
    def candles(self, symbol: str) -> pd.DataFrame:
        """The symbol's shifted candles (`timestamp` UTC, prices, `open_ms`); the last is open."""
        return _shifted_candles(self.ohlcv_dir / f"{symbol.upper()}_1h.csv", self.now).copy()

    def closed_candles(self, symbol: str) -> pd.DataFrame:
        """What a client should see: every candle but the open one."""
        return self.candles(symbol).iloc[:-1].reset_index(drop=True)

    def _check_route(self, route: str) -> None:
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; one of {sorted(ROUTES)}")

    def _next_reply(self, route: str | None) -> Reply | None:
        with self._lock:
            queue = self._queues.get(route) if route else None
            if queue:
                return queue.popleft()
            return self._always.get(route) if route else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def answer(self, route: str | None, match: re.Match | None, params: dict[str, str]):
        """The normal (status, JSON body) for a request."""
        if route == "klines":
            return self._klines(params)
        if route == "exchange_info":
            return self._exchange_info()
        if route == "simple_price":
            return self._simple_price(params)
        if route == "market_chart":
            return self._market_chart(match["id"], params)
        return 404, {"error": "not found"}

    def _symbol_for_pair(self, pair: str) -> str | None:
        symbol = pair[:-4] if pair.endswith("USDT") else ""
        return symbol if (self.ohlcv_dir / f"{symbol}_1h.csv").is_file() else None

    def _klines(self, params: dict[str, str]):
        symbol = self._symbol_for_pair(params.get("symbol", ""))
        if symbol is None:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        if params.get("interval") != "1h":
            return 400, {"code": -1120, "msg": "Invalid interval."}
        limit = min(int(params.get("limit", 500)), 1000)
        frame, _ = self._live(symbol)
        if "endTime" in params:
            frame = frame[frame["open_ms"] <= int(params["endTime"])]
        if "startTime" in params:
            frame = frame[frame["open_ms"] >= int(params["startTime"])].head(limit)
        frame = frame.tail(limit)
        rows = [
            [int(r.open_ms), repr(r.open), repr(r.high), repr(r.low), repr(r.close),
             repr(r.volume), int(r.open_ms) + HOUR_MS - 1, repr(r.amount), 1000,
             repr(r.volume / 2), repr(r.amount / 2), "0"]
            for r in frame.itertuples()
        ]  # fmt: skip
        return 200, rows

    def _exchange_info(self):
        """Binance's exchangeInfo shape: a TRADING USDT pair per hourly file, and two others."""
        bases = sorted(p.name[: -len("_1h.csv")] for p in self.ohlcv_dir.glob("*_1h.csv"))
        entries = [(b, "USDT", "TRADING") for b in bases]
        entries += [("ETH", "BTC", "TRADING"), ("HALTED", "USDT", "HALT")]
        symbols = [
            {"symbol": f"{base}{quote}", "status": status, "baseAsset": base,
             "baseAssetPrecision": 8, "quoteAsset": quote, "quotePrecision": 8,
             "orderTypes": ["LIMIT", "MARKET"], "isSpotTradingAllowed": True, "filters": [],
             "permissions": [], "permissionSets": [["SPOT"]]}
            for base, quote, status in entries
        ]  # fmt: skip
        return 200, {"timezone": "UTC", "serverTime": 0, "rateLimits": [], "symbols": symbols}

    def _live(self, symbol: str) -> tuple[pd.DataFrame, float]:
        frame = _shifted_candles(self.ohlcv_dir / f"{symbol}_1h.csv", self.now)
        return frame, float(frame["close"].iloc[-1])

    def _simple_price(self, params: dict[str, str]):
        flags = {k for k, v in params.items() if v == "true"}
        out: dict[str, dict[str, float]] = {}
        for coin in filter(None, params.get("ids", "").split(",")):
            symbol = IDS.get(coin)
            if symbol is None or not (self.ohlcv_dir / f"{symbol}_1h.csv").is_file():
                continue  # unknown ids are simply absent
            frame, price = self._live(symbol)
            entry: dict[str, float] = {"usd": price}
            if "include_market_cap" in flags:
                entry["usd_market_cap"] = price * SUPPLY[symbol]
            if "include_24hr_vol" in flags:
                entry["usd_24h_vol"] = float(frame["amount"].tail(24).sum())
            if "include_24hr_change" in flags:
                entry["usd_24h_change"] = (price / float(frame["close"].iloc[-25]) - 1) * 100
            if "include_last_updated_at" in flags:
                entry["last_updated_at"] = int(self.now.timestamp())
            out[coin] = entry
        return 200, out

    def _market_chart(self, coin: str, params: dict[str, str]):
        symbol = IDS.get(coin)
        if symbol is None or not (self.ohlcv_dir / f"{symbol}_1h.csv").is_file():
            return 404, {"error": "coin not found"}
        days = int(params.get("days", 1))
        frame, price = self._live(symbol)
        closed = frame.iloc[:-1]
        times = closed["open_ms"] + HOUR_MS  # a closed candle's close is a snapshot
        vol24 = closed["amount"].rolling(24, min_periods=1).sum()
        now_ms = int(self.now.timestamp() * 1000)
        keep = times > now_ms - days * 86_400_000
        if days > 90:
            keep &= times % 86_400_000 == 0
            offset = 0
        else:
            offset = SNAPSHOT_OFFSET_MS
        ms = [int(t) + offset for t in times[keep]] + [now_ms]
        prices = [*closed["close"][keep].astype(float), price]
        vols = [*vol24[keep].astype(float), float(frame["amount"].tail(24).sum())]
        return 200, {
            "prices": [[t, p] for t, p in zip(ms, prices, strict=True)],
            "market_caps": [[t, p * SUPPLY[symbol]] for t, p in zip(ms, prices, strict=True)],
            "total_volumes": [[t, v] for t, v in zip(ms, vols, strict=True)],
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeUpstreams  # set on the subclass made by FakeUpstreams.start

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        route, match = next(
            ((name, m) for name, rx in ROUTES.items() if (m := rx.match(url.path))), (None, None)
        )
        self.fake._record(
            RecordedRequest(
                route, url.path, params, {k.lower(): v for k, v in self.headers.items()}
            )
        )
        reply = self.fake._next_reply(route) or Reply()
        if reply.body is None:
            status, body = self.fake.answer(route, match, params)
            status = reply.status if reply.status != 200 else status
        else:
            status, body = reply.status, reply.body
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        body = body.encode() if isinstance(body, str) else body
        if reply.truncate:
            body = body[: len(body) // 2]
        if reply.delay:
            threading.Event().wait(reply.delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


@pytest.fixture
def fake_upstreams(ohlcv_dir: Path) -> Iterator[FakeUpstreams]:
    """A started :class:`FakeUpstreams` on the shared candles (skips when they are absent)."""
    with FakeUpstreams(ohlcv_dir) as fake:
        yield fake
