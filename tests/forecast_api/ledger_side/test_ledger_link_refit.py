"""`LedgerLink.refit` with a challenger loaded fits the blend once per round, on a real SQLite
ledger: with the challenger where it covers every step the model does, else without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import forecast_api.ledger_side.ledger_link as ledger_link
import forecasting.blend
import ledger.blending
from forecast_api.ledger_side.ledger_link import LedgerLink
from forecasting.blend import BlendSettings
from ledger.records import ForecastRecord
from ledger.scorer import score_due
from ledger.store import Ledger
from tests.ledger.ledger_helpers import HOUR, T0, challenger_of, record

BLEND = BlendSettings(window=60, min_scored=20, prior=10.0)
N = 40
RIVAL = "rival"


def rival(model: ForecastRecord) -> ForecastRecord:
    """The challenger's forecast on the model's origin: the model's paths, 1% higher."""
    paths = np.random.default_rng(model.origin).normal(101.0, 1.0, (64, len(model.steps)))
    return challenger_of(model, RIVAL, paths)


def scored_ledger(url: str, rival_origins: int) -> int:
    """A ledger of N scored model forecasts, the challenger's beside the first `rival_origins`;
    the time they are all scored by."""
    models = [record(origin=T0 + i * HOUR, seed=i) for i in range(N)]
    ledger = Ledger.open(url)
    ledger.insert(models + [rival(m) for m in models[:rival_origins]])
    at = T0 + (N + 10) * HOUR
    score_due(ledger, lambda _s, _i, times: dict.fromkeys(times, 100.0), now=at, grace=0)
    return at


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The components of every blend fitted (wherever `fit_blend` is called from)."""
    seen: list[tuple[str, ...]] = []
    real = forecasting.blend.fit_blend

    def counting(rows, horizon, settings=BLEND, fitted_at=None):
        seen.append(settings.components)
        return real(rows, horizon, settings, fitted_at)

    monkeypatch.setattr(ledger_link, "fit_blend", counting, raising=False)
    monkeypatch.setattr(ledger.blending, "fit_blend", counting)
    return seen


@pytest.mark.parametrize(("rival_origins", "joins"), [(N, True), (N // 4, False)])
def test_one_fit_per_round_with_a_challenger_loaded(
    fits: list[tuple[str, ...]], tmp_path: Path, rival_origins: int, joins: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    at = scored_ledger(url, rival_origins)
    link = LedgerLink(url, "tiny", blend=BLEND)
    for round_ in range(1, 3):
        link.refit("1h", at + round_ * HOUR, 6, [RIVAL])
        assert len(fits) == round_
    blend = link.blend("1h")
    assert blend is not None and blend.step_weights, "nothing blended: the test would be vacuous"
    assert (RIVAL in blend.components) is joins
    assert fits[-1] == blend.components


def test_a_challenger_joins_the_configured_components(
    fits: list[tuple[str, ...]], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    at = scored_ledger(url, N)
    with_drift = BlendSettings(
        window=60, min_scored=20, prior=10.0, components=("kronos", "random_walk", "drift")
    )
    link = LedgerLink(url, "tiny", blend=with_drift)
    link.refit("1h", at + HOUR, 6, [RIVAL])
    assert link.blend("1h").components == ("kronos", "random_walk", "drift", RIVAL)
