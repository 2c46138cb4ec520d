"""Pre-rendered bodies: the same bytes as pydantic's full rendering, rendered once per object."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from data_sources import History
from forecast_api.http.fast_json import Rendered, history_body, spliced
from forecast_api.http.market_schemas import HistoryResponse
from forecast_api.http.schemas import PredictResponse


class Inner(BaseModel):
    values: list[float]
    note: str | None = None


class Outer(BaseModel):
    first: str
    inner: Inner
    gap: float | None = None
    renamed: int = Field(0, alias="otherName")
    last: bool = False


def full(model: BaseModel) -> bytes:
    return model.model_dump_json(by_alias=True).encode()


@pytest.mark.parametrize("field", ["first", "inner", "gap", "renamed", "last"])
def test_spliced_equals_the_full_rendering_wherever_the_field_is(field: str) -> None:
    model = Outer(first='a "quoted", {odd} name', inner=Inner(values=[1e-7, 2.5e300, -0.0]))
    model = model.model_copy(update={"renamed": 7})
    rendered = {
        "first": b'"a \\"quoted\\", {odd} name"',
        "inner": model.inner.model_dump_json().encode(),
        "gap": b"null",
        "renamed": b"7",
        "last": b"false",
    }
    assert spliced(model, field, rendered[field]) == full(model)


def test_spliced_does_not_serialise_the_field() -> None:
    model = Outer.model_construct(first="x", gap=None, renamed=0, last=True)  # no `inner`
    body = spliced(model, "inner", b'{"values":[]}')
    assert body == b'{"first":"x","inner":{"values":[]},"gap":null,"otherName":0,"last":true}'


def test_rendered_renders_each_object_once_and_is_bounded() -> None:
    calls: list[object] = []

    def render(obj: object) -> bytes:
        calls.append(obj)
        return repr(obj).encode()

    cache = Rendered(size=2)
    a, b, c = [1.5], [1.5], [2.5]  # a and b are equal but distinct objects
    assert cache.get(a, render) == cache.get(a, render) == b"[1.5]"
    assert calls == [a]
    cache.get(b, render)
    assert len(calls) == 2 and calls[1] is b
    cache.get(c, render)  # evicts a (least recently used)
    cache.get(a, render)
    assert len(calls) == 4


def test_history_body_is_the_response_model_rendering() -> None:
    points = History(
        prices=[[1_700_000_000_000, 37_000.5], [1_700_003_600_000, 37_100.25]],
        volumes=[[1_700_000_000_000, 1e9], [1_700_003_600_000, 1.5e9]],
        market_caps=[],
        source="files",
        stale=True,
    )
    body = history_body("BTC", 1, points).body
    expected = HistoryResponse.model_validate_json(body).model_dump_json(by_alias=True)
    assert body == expected.encode()
    assert HistoryResponse.model_validate_json(body).data.prices[1] == (1_700_003_600_000, 37100.25)


def test_served_bodies_are_the_response_models_renderings(client: TestClient) -> None:
    for path, params, model in [
        ("/api/predict", {"symbol": "BTC", "horizon": 3, "seed": 1}, PredictResponse),
        ("/api/history", {"symbol": "ETH", "days": 2}, HistoryResponse),
    ]:
        for _ in range(2):  # fresh, then cached / rendered before
            response = client.get(path, params=params)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/json"
            parsed = model.model_validate_json(response.content)
            assert response.content == parsed.model_dump_json(by_alias=True).encode()
    assert client.get("/api/predict", params={"symbol": "BTC", "horizon": 3, "seed": 1}).json()[
        "cached"
    ]
