"""Client error messages: a blank parameter is called empty, a broken body not JSON."""

from __future__ import annotations

from fastapi import FastAPI, Query
from pydantic import BaseModel
from starlette.testclient import TestClient

from forecast_api.http.errors import install_error_handlers
from forecast_api.http.http_rules import EmptyQueryIsAbsent


class Body(BaseModel):
    symbol: str


def make_client() -> TestClient:
    app = FastAPI()
    app.add_middleware(EmptyQueryIsAbsent)
    install_error_handlers(app)

    @app.get("/get")
    async def get(symbol: str = Query(), days: int = 7) -> dict:
        return {"symbol": symbol, "days": days}

    @app.post("/post")
    async def post(body: Body) -> dict:
        return body.model_dump()

    return TestClient(app)


def test_a_blank_required_parameter_is_called_empty() -> None:
    client = make_client()
    for query in ("symbol=", "symbol", "symbol=&days=", "days=3&symbol="):
        response = client.get(f"/get?{query}")
        assert response.status_code == 422
        message = response.json()["message"]
        assert message.startswith("symbol: empty") and "required" not in message
    assert "Field required" in client.get("/get?days=3").json()["message"]  # truly absent
    assert client.get("/get?symbol=BTC&days=").json() == {"symbol": "BTC", "days": 7}


def test_a_broken_json_body_says_so_with_its_position() -> None:
    client = make_client()
    for body, at in ((b"{bad", 1), (b'{"symbol": "BTC",}', 17)):
        response = client.post("/post", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422
        message = response.json()["message"]
        assert message.startswith(f"the body is not valid JSON (character {at})"), message
