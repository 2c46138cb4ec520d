"""The MCP server (official `mcp` SDK, streamable HTTP, stateless, JSON responses) at `/mcp`.

Each tool is a function of `forecast_api.agents.tools` called with the services bound to the
app and the `/mcp` HTTP request (from the SDK's request context: its API key headers identify
the caller, charged like the routes charge it), so a tool answers exactly what its HTTP route
answers. Stateless: any worker or replica answers any request (no session is kept).
`forecast_api.agents.mount` imports this module on the first `/mcp` request.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp

from data_sources.errors import MarketDataError
from forecast_api.agents import tools
from forecast_api.http.errors import ServiceError, from_market_error
from forecast_api.http.routes import Services

CONTEXT = "mcp_context"  # the SDK's request context, hidden from the tools' input schemas

READS = (  # what each number means, for the agent choosing and reading a tool
    " Provenance on every forecast: `prediction.model` is `kronos` (the foundation model) or "
    "`fallback` (a simple statistical forecaster used when the model is unavailable; "
    "`fallbackReason` says why); `calibrated` says whether the bands were recalibrated from the "
    "ledger's scored forecasts (false: the model's raw quantiles); `stale: true` means market "
    "data was unavailable and an older forecast is served (`dataAgeSeconds` old); "
    "`trainedWeights`, where present, says whether the checkpoint was trained."
)
DESCRIPTIONS = {
    "get_forecast": "Probabilistic price forecast of a crypto asset for the next `horizon` "
    "candles of `interval` (default 24 x 1h), from sample paths of the Kronos model: per step "
    "the mean `price`, `median`, an 80% band (`low`/`high`), optional `quantiles`, central "
    "`intervals` (levels in %) and `above` probabilities P(close > price); `trend` with "
    "`confidence` (share of paths agreeing) and `upProbability`. Cached until the next candle "
    "closes (`validUntil`)." + READS,
    "get_history": "Price, volume and market-cap series ([[ms, value], ...]) of the last `days` "
    "days; `stale` marks data served from cache while the upstream failed.",
    "list_assets": "The supported assets (symbol and CoinGecko id).",
    "get_track_record": "The scored track record of the service's scheduled forecasts (made at "
    "every candle close for every asset, then scored when the candles close): per step ahead "
    "MAE, CRPS (lower is better) against the naive (last close) and drift baselines "
    "(`crpsSkill` > 0 beats the naive), 80%/90% band coverage (well calibrated: 0.8/0.9) and the "
    "trend confidence's reliability (`confidence.ece`, 0 is perfect). `symbol` ALL pools assets.",
    "get_past_forecasts": "Past scheduled forecasts of an asset, newest first, each with its "
    "steps and, once their candles closed, the realised close, error, CRPS and whether the 80% "
    "band held it (`hit80`). `model` says kronos or fallback. Page with `nextCursor`.",
    "probability_above": "P(close > `price`) `hours` hours ahead (1h candles), from the same "
    "cached forecast as get_forecast; `calibrated` says whether the probability was "
    "recalibrated from the ledger (false: the raw share of sample paths)." + READS,
    "compare_forecasters": "The leaderboard: which forecaster did best on this asset (or ALL) "
    "over the scored forecasts of the last `days` days, ranked by mean CRPS over every scored "
    "step (lower is better): `served` (what the service served: the blend, calibrated), "
    "`kronos` (the model alone), challengers by model id, and the baselines `naive` (last "
    "close), `drift` and `random_walk`; with MAE, 80%/90% band coverage, direction hit rate "
    "and `crpsSkillBestBaseline` (> 0 beats every baseline).",
}
READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)


def tool_for(fn: Callable[..., Awaitable[Any]], services: Callable[[], Services]):
    """`fn` for the MCP SDK: its first (`call`) parameter becomes the SDK's request `Context`;
    service errors (a bad key's 401, an over-quota 429, ...) become tool errors carrying the
    HTTP error code and message."""
    signature = inspect.signature(fn, eval_str=True)
    context = inspect.Parameter(CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=Context)
    params = [*list(signature.parameters.values())[1:], context]

    async def call(**kwargs: Any) -> Any:
        request = kwargs.pop(CONTEXT).request_context.request
        if not isinstance(request, Request):
            raise ToolError("the tools answer over streamable HTTP only")
        try:
            return await fn(tools.Call(services(), request), **kwargs)
        except MarketDataError as exc:
            error = from_market_error(exc)
            raise ToolError(f"{error.code}: {error.message}") from exc
        except ServiceError as exc:
            retry = exc.headers.get("Retry-After") if exc.headers else None
            after = f" (retry after {retry} s)" if retry else ""
            raise ToolError(f"{exc.code}: {exc.message}{after}") from exc

    call.__name__ = fn.__name__
    call.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in params}
    call.__annotations__["return"] = signature.return_annotation
    return call


def build_server(services: Callable[[], Services]) -> MCPServer:
    """The MCP server with every tool of `DESCRIPTIONS`."""
    server = MCPServer(
        "kronos-forecast",
        title="Kronos forecast service",
        instructions="Crypto price forecasts with a scored, recalibrated track record. "
        "Probabilities are shares of sample paths; check `model`, `calibrated` and `stale`.",
    )
    for name, description in DESCRIPTIONS.items():
        server.add_tool(
            tool_for(getattr(tools, name), services),
            name=name,
            description=description,
            annotations=READ_ONLY,
            structured_output=True,
        )
    return server


def build_transport(services: Callable[[], Services], path: str) -> tuple[Any, ASGIApp]:
    """The MCP server over `services`: its session manager (to run while serving) and the ASGI
    app of its streamable HTTP transport at `path`."""
    server = build_server(services)
    # the API answers on any host name (behind proxies, replicas): no DNS-rebinding host list
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    inner = server.streamable_http_app(
        streamable_http_path=path,
        stateless_http=True,
        json_response=True,
        transport_security=security,
    )
    [transport] = [r for r in inner.routes if isinstance(r, Route)]
    return server.session_manager, transport.app
