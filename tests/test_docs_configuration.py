"""docs/configuration.md's table names every settings field, and nothing that is not one."""

from __future__ import annotations

import re
from pathlib import Path

from data_sources import MarketDataSettings
from forecast_api.settings import ServiceSettings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def documented() -> set[str]:
    """The env names in the second column of the settings table (the first table of the page)."""
    table = DOC.read_text().split("\n\n| area |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|")[2] for line in table.splitlines()[2:]]
    return {name for cell in rows for name in re.findall(r"`([A-Z0-9_]+)`", cell)}


def settings_names() -> set[str]:
    """Every env name the settings classes read (field names upper-cased, plus aliases)."""
    names = {name.upper() for name in ServiceSettings.model_fields if name != "market"}
    for name, field in MarketDataSettings.model_fields.items():
        names.add(name.upper())
        choices = getattr(field.validation_alias, "choices", [])
        names |= {str(choice).upper() for choice in choices}
    return names


def test_every_setting_is_documented_once_and_none_is_made_up() -> None:
    assert documented() == settings_names()
