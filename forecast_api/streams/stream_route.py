"""`GET /api/stream`: server-sent `forecast` and `score` events of scheduled forecasts.

The stream opens with an `info` event (scope, subscription, heartbeat), replays what a resuming
client missed (`Last-Event-ID` header, or `lastEventId` query for a new EventSource), then sends
events as the ledger records them; a comment line every STREAM_HEARTBEAT seconds keeps proxies
from closing it. Each event's id is the stream's position in the ledger (see
`forecast_api.streams.hub`). At most STREAM_MAX_PER_CLIENT open streams per client (API key,
else IP) on one worker: 429 beyond.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import ExitStack
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from forecast_api.http.errors import ERROR_RESPONSES, DataUnavailableError, InvalidRequestError
from forecast_api.http.routes import Deps, Services
from forecast_api.streams.hub import SCOPE, Cursor, StreamHub, Subscription, decode, encode

RETRY_MS = 5000  # the EventSource's reconnection delay
REPLAY_PAGES = 20  # at most 20 x 500 events of each kind replayed on resume

router = APIRouter()


def client_key(request: Request) -> str:
    """Who holds a stream: its API key (hashed) where it sent one, else its IP address."""
    auth = request.headers.get("authorization", "")
    key = request.headers.get("x-api-key") or auth.removeprefix("Bearer ").strip()
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return "ip:" + (request.client.host if request.client else "unknown")


def frame(data: dict[str, Any], event: str, event_id: str | None = None) -> str:
    """One server-sent event."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _names(raw: str | None, default: list[str]) -> list[str]:
    """Comma-separated names (blank: `default`), de-duplicated in order."""
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    return list(dict.fromkeys(names)) or default


async def events(
    request: Request,
    hub: StreamHub,
    sub: Subscription,
    cursor: Cursor,
    resumed: bool,
    info: dict[str, Any],
    heartbeat: float,
    stack: ExitStack,
) -> AsyncIterator[str]:
    """The stream's text: info, the replay, then live events and heartbeats until the client
    leaves, the worker drains or the subscriber fell behind (ended: it resumes by id)."""
    loop = asyncio.get_running_loop()

    def send(event) -> str | None:
        interval = event.data["interval"]
        if not event.after(cursor[interval]):
            return None  # already sent (replayed, or delivered twice)
        cursor[interval] = event.advance(cursor[interval])
        return frame(event.data, event.kind, encode(cursor)) if sub.wants(event) else None

    try:
        yield f"retry: {RETRY_MS}\n" + frame(info, "info")
        for _ in range(REPLAY_PAGES if resumed else 0):
            page = await hub.since(dict(cursor))
            for text in filter(None, map(send, page)):
                yield text
            if not page:
                break
        quiet_since = loop.time()
        while not hub.stopping():
            try:
                event = await asyncio.wait_for(sub.queue.get(), timeout=1.0)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    return
                if loop.time() - quiet_since >= heartbeat:
                    quiet_since = loop.time()
                    yield ": heartbeat\n\n"
                continue
            if event is None:  # fell behind
                yield frame({"reason": "subscriber fell behind; reconnect"}, "reset")
                return
            text = send(event)
            if text:
                quiet_since = loop.time()
                yield text
    except DataUnavailableError as exc:
        yield frame({"error": exc.code, "message": exc.message}, "error")
    finally:
        stack.close()


@router.get(
    "/api/stream",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "server-sent events"},
        **ERROR_RESPONSES,
        429: {"description": "too many open streams for this client"},
    },
    response_class=StreamingResponse,
)
async def stream(
    deps: Deps,
    request: Request,
    symbols: Annotated[
        str | None, Query(max_length=400, description="BTC,ETH (default all)")
    ] = None,
    intervals: Annotated[str | None, Query(max_length=64, description="1h (default),4h")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=400)] = None,
    lastEventId: Annotated[str | None, Query(max_length=400)] = None,
) -> StreamingResponse:
    """Server-sent events: `forecast` when a scheduled forecast of a subscribed symbol and
    interval is recorded, `score` when its steps are scored; resumable by event id."""
    hub = _hub(deps)
    assets = deps.market.source.assets
    wanted = [assets.get(s).symbol for s in _names(symbols, [a.symbol for a in assets.all()])]
    chosen = _names(intervals, ["1h"])
    unknown = [i for i in chosen if i not in deps.settings.forecast_intervals]
    if unknown:
        known = ", ".join(deps.settings.forecast_intervals)
        raise InvalidRequestError(f"intervals: unknown {unknown}; use some of {known}")
    resume = last_event_id or lastEventId
    cursor = decode(resume, chosen) if resume else None
    with ExitStack() as stack:
        sub = stack.enter_context(hub.subscribe(client_key(request), wanted, chosen))
        cursor = cursor or await hub.position(chosen)
        info = {
            "scope": SCOPE,
            "note": "events come from the forecast ledger: every worker and replica on the "
            "same LEDGER_URL sends them, with the same ids, within LEDGER_TICK seconds",
            "symbols": wanted,
            "intervals": chosen,
            "scheduled": [i for i in chosen if i in deps.settings.ledger_schedule],
            "heartbeatSeconds": deps.settings.stream_heartbeat,
            "resumed": resume is not None,
            "id": encode(cursor),
        }
        body = events(
            request,
            hub,
            sub,
            cursor,
            resume is not None,
            info,
            deps.settings.stream_heartbeat,
            stack.pop_all(),
        )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


def _hub(deps: Services) -> StreamHub:
    """The worker's stream hub; 503 without a ledger."""
    if deps.stream is None:
        raise DataUnavailableError("no forecast ledger: LEDGER_URL is empty")
    return deps.stream
