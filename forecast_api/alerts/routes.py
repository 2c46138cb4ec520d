"""`/api/alerts`: create, show and delete webhook rules on scheduled forecasts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from forecast_api.alerts.alerting import Alerts
from forecast_api.alerts.schemas import AlertRequest
from forecast_api.http.errors import BODY_ERROR_RESPONSES, ERROR_RESPONSES, DataUnavailableError
from forecast_api.http.routes import JSON_BODY, Deps, Services, client_of

RuleId = Annotated[str, Path(min_length=1, max_length=64)]
router = APIRouter()


def alerts(deps: Services) -> Alerts:
    """The worker's alert rules; 503 without a ledger."""
    if deps.alerts is None:
        raise DataUnavailableError("no forecast ledger: LEDGER_URL is empty")
    return deps.alerts


@router.post("/api/alerts", status_code=201, responses=BODY_ERROR_RESPONSES, dependencies=JSON_BODY)
async def create_alert(deps: Deps, body: AlertRequest, request: Request) -> dict:
    """Register a rule; the answer holds its `id` and its `secret` (shown only here), which
    signs every delivery (`X-Kronos-Signature: sha256=<HMAC-SHA256 of the body>`)."""
    return await alerts(deps).create(body, client_of(request))


@router.get("/api/alerts/{rule_id}", responses=ERROR_RESPONSES)
async def show_alert(deps: Deps, rule_id: RuleId) -> dict:
    """The rule, its newest deliveries and their failed attempts."""
    return await alerts(deps).show(rule_id)


@router.delete("/api/alerts/{rule_id}", status_code=204, responses=ERROR_RESPONSES)
async def delete_alert(deps: Deps, rule_id: RuleId) -> Response:
    """Remove the rule and its deliveries."""
    await alerts(deps).delete(rule_id)
    return Response(status_code=204)
