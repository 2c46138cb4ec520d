"""Pre-rendered JSON bodies for the cached hot paths (`/api/predict`, `/api/history`).

What stays the same between requests (a cached forecast's `prediction`, a history's `data`) is
validated and serialised once per object; the per-request fields around it (timestamp, market
figures, `cached`, staleness) are serialised with the same pydantic serialiser and the rendered
part is spliced in at its place in the field order. The bytes are those FastAPI would send for
the response model (`by_alias`, nothing excluded); the routes return them as a `Response`, so
FastAPI neither re-validates nor re-serialises the body.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from data_sources import History
from forecast_api.http.market_schemas import HistoryData, HistoryResponse
from forecast_api.http.schemas import PredictResponse, now_iso

RENDERED_OBJECTS = 256  # objects whose JSON is kept (cached forecasts, histories)


class JSONBytes(Response):
    """An already-rendered JSON body (the media type JSONResponse sends)."""

    media_type = "application/json"


class Rendered:
    """JSON bytes per object, rendered once while the object lives in the cache (keyed by
    identity; the entry holds the object, so its id cannot be reused meanwhile). LRU-bounded."""

    def __init__(self, size: int = RENDERED_OBJECTS) -> None:
        self.size = size
        self._store: OrderedDict[int, tuple[object, bytes]] = OrderedDict()

    def get(self, obj: object, render: Callable[[Any], bytes]) -> bytes:
        """The bytes of `obj`, from `render(obj)` the first time."""
        entry = self._store.get(id(obj))
        if entry is not None and entry[0] is obj:
            self._store.move_to_end(id(obj))
            return entry[1]
        body = render(obj)
        self._store[id(obj)] = (obj, body)
        if len(self._store) > self.size:
            self._store.popitem(last=False)
        return body


def dump(model: BaseModel, fields: list[str]) -> bytes:
    """`model` as FastAPI renders a response model, limited to `fields`."""
    return model.model_dump_json(by_alias=True, include=set(fields)).encode()


def spliced(model: BaseModel, field: str, raw: bytes) -> bytes:
    """`model` as JSON with `raw` (already-rendered JSON) as the value of `field`, which is
    neither serialised nor needs to be set on `model`."""
    names = list(type(model).model_fields)
    at = names.index(field)
    key = (type(model).model_fields[field].alias or field).encode()
    head, tail = dump(model, names[:at])[1:-1], dump(model, names[at + 1 :])[1:-1]
    parts = [part for part in (head, b'"' + key + b'":' + raw, tail) if part]
    return b"{" + b",".join(parts) + b"}"


_rendered = Rendered()


def predict_body(response: PredictResponse) -> JSONBytes:
    """`GET /api/predict`'s body; the prediction (the cached forecast's own object when no
    distribution fields were asked for) is rendered once."""
    prediction = _rendered.get(
        response.prediction, lambda p: p.model_dump_json(by_alias=True).encode()
    )
    return JSONBytes(spliced(response, "prediction", prediction))


def _history_data(points: History) -> bytes:
    return HistoryData(**points.to_seed_dict()).model_dump_json(by_alias=True).encode()


def history_body(symbol: str, days: int, points: History) -> JSONBytes:
    """`GET /api/history`'s body; the points are validated and rendered once per history."""
    envelope = HistoryResponse.model_construct(
        symbol=symbol,
        days=days,
        timestamp=now_iso(),
        dataSource=str(points.source),
        stale=bool(points.stale),
    )
    return JSONBytes(spliced(envelope, "data", _rendered.get(points, _history_data)))
