"""Settings: documented names and defaults, env and .env, composed market-data settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from forecast_api.settings import ServiceSettings
from forecasting.gaps import DEFAULT_MAX_FILL
from forecasting.recalibration import BLEND_SETTINGS, DEFAULT_SETTINGS

REPO = Path(__file__).resolve().parents[2]


def test_defaults_match_the_issue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    s = ServiceSettings()
    assert s.kronos_model == "NeoQuasar/Kronos-small"
    assert s.kronos_tokenizer == "NeoQuasar/Kronos-Tokenizer-base"
    assert s.kronos_model_revision is None and s.kronos_tokenizer_revision is None
    assert s.port == 5000
    assert s.kronos_samples == 30
    assert s.default_horizon == 24
    assert s.cors_origins == ["*"]
    assert s.kronos_calibration is None
    assert s.market.market_data_source == "live"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "KRONOS_MODEL": "/models/kronos",
        "KRONOS_MODEL_REVISION": "abc123",
        "DEVICE": "cuda:1",
        "KRONOS_MAX_HORIZON": "48",
        "KRONOS_SAMPLES": "8",
        "KRONOS_BATCHING": "false",
        "PORT": "8080",
        "CORS_ORIGINS": "https://a.example, https://b.example",
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(tmp_path),
        "COINGECKO_API_PLAN": "pro",
        "BINANCE_BASE_URL": "http://127.0.0.1:9",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = ServiceSettings()
    assert s.kronos_model == "/models/kronos" and s.kronos_model_revision == "abc123"
    assert s.device == "cuda:1" and s.kronos_max_horizon == 48 and s.default_horizon == 24
    assert s.kronos_samples == 8 and s.kronos_batching is False and s.port == 8080
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert s.market.market_data_source == "files" and s.market.market_data_dir == tmp_path
    assert s.market.coingecko_api_plan == "pro"
    assert s.market.binance_base_url == "http://127.0.0.1:9"


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "KRONOS_TOKENIZER=/tok\nKRONOS_CALIBRATION=\nMARKET_DATA_SOURCE=files\nPORT=5123\n"
    )
    s = ServiceSettings()
    assert s.kronos_tokenizer == "/tok" and s.port == 5123
    assert s.kronos_calibration is None
    assert s.market.market_data_source == "files"


def test_env_example_documents_every_setting() -> None:
    documented = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    names = {name.upper() for name in ServiceSettings.model_fields if name != "market"}
    from data_sources import MarketDataSettings

    names |= {name.upper() for name in MarketDataSettings.model_fields if name != "assets_extra"}
    assert names - documented == set()
    assert "ASSETS" in documented


@pytest.mark.parametrize(
    "env",
    [
        {"KRONOS_SAMPLES": "200"},  # above KRONOS_MAX_SAMPLES
        {"KRONOS_LOOKBACK": "600"},  # above KRONOS_MAX_CONTEXT
        {"PORT": "0"},
        {"KRONOS_TOP_P": "1.5"},
    ],
)
def test_invalid_settings_are_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        ServiceSettings()


def test_gap_rule_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    s = ServiceSettings()
    assert s.kronos_max_fill == DEFAULT_MAX_FILL and s.min_context == s.kronos_lookback // 2
    monkeypatch.setenv("KRONOS_MIN_CONTEXT", "")
    assert ServiceSettings().min_context == 200
    monkeypatch.setenv("KRONOS_MIN_CONTEXT", "50")
    monkeypatch.setenv("KRONOS_MAX_FILL", "0")
    s = ServiceSettings()
    assert (s.min_context, s.kronos_max_fill) == (50, 0)
    monkeypatch.setenv("KRONOS_MIN_CONTEXT", "401")
    with pytest.raises(ValidationError, match="KRONOS_MIN_CONTEXT"):
        ServiceSettings()


def test_test_slowdown_needs_the_hooks_flag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KRONOS_TEST_SLOWDOWN_S", "0.25")
    assert ServiceSettings().test_slowdown_s == 0.0
    assert "KRONOS_TEST_SLOWDOWN_S ignored" in caplog.text
    monkeypatch.setenv("KRONOS_TEST_HOOKS", "true")
    assert ServiceSettings().test_slowdown_s == 0.25


def test_the_ledger_fits_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEDGER_CALIBRATION_WINDOW", "")  # empty: each one's default
    model, blend = ServiceSettings().ledger_fits()
    assert (model.window, model.prior) == (DEFAULT_SETTINGS.window, DEFAULT_SETTINGS.prior)
    assert blend is not None and blend.calibration == BLEND_SETTINGS
    monkeypatch.setenv("LEDGER_CALIBRATION_WINDOW", "500")
    monkeypatch.setenv("LEDGER_BLEND_MIN_SCORED", "300")
    model, blend = ServiceSettings().ledger_fits()
    assert model.window == blend.calibration.window == 500 and blend.min_scored == 300
    assert blend.calibration.prior == BLEND_SETTINGS.prior  # the rest stays the blend's own
    monkeypatch.setenv("LEDGER_BLEND", "off")
    assert ServiceSettings().ledger_fits()[1] is None
