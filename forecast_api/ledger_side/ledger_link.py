"""The forecast ledger as one API worker holds it: one connection, the buffered writer, and the
rolling calibration in force per interval.

The database is opened (and migrated) on first use, in a worker thread, so a missing or
unreachable database never delays start-up or a forecast. Records go through the writer's
bounded buffer (`ledger.writer`); calibrations are refitted in the background
(`forecast_api.ledger_side.ledger_upkeep`) and read here without touching the database, so the
response path never waits on it.
"""

from __future__ import annotations

import threading

from forecast_api.forecasts.recording import not_fitted
from forecast_api.ledger_side.ledger_metrics import publish_worker
from forecasting.recalibration import DEFAULT_SETTINGS, Calibration, RecalibrationSettings
from ledger.keys import KeyInfo, KeyStore
from ledger.records import ForecastRecord
from ledger.store import Ledger
from ledger.writer import LedgerWriter, WriterSettings


class LedgerLink:
    """The ledger at `url` for one API worker; calibrations are fitted on `model_id`'s scores."""

    def __init__(
        self,
        url: str,
        model_id: str,
        *,
        recalibration: RecalibrationSettings = DEFAULT_SETTINGS,
        writer: WriterSettings | None = None,
    ) -> None:
        self.url = url
        self.model_id = model_id
        self.recalibration = recalibration
        self.writer = LedgerWriter(self.open, writer or WriterSettings(), observe=publish_worker)
        self._ledger: Ledger | None = None
        self._lock = threading.Lock()
        self._calibrations: dict[str, Calibration] = {}

    def open(self) -> Ledger:
        """The ledger, opened (and migrated) on first use; call from a worker thread."""
        with self._lock:
            if self._ledger is None:
                self._ledger = Ledger.open(self.url)
            return self._ledger

    # ---- the Recorder protocol of forecast_api.forecasts.recording -------------------------

    def calibration(self, interval: str) -> Calibration:
        """The calibration last fitted for `interval` (none yet: every step served raw)."""
        fitted = self._calibrations.get(interval)
        if fitted is None:
            return not_fitted(self.recalibration, "not fitted yet: the ledger has not been read")
        return fitted

    def submit(self, record: ForecastRecord) -> None:
        """Queue a record for the ledger (never blocks, never raises)."""
        self.writer.submit(record)

    # ---- background work (worker threads) ---------------------------------------------------

    def refit(self, interval: str, now: int, horizon: int) -> Calibration:
        """Fit `interval`'s calibration on steps scored and closed by `now`, and serve it."""
        fitted = self.open().calibration(
            interval, now, horizon, self.recalibration, model_id=self.model_id
        )
        self._calibrations[interval] = fitted
        return fitted

    def api_key(self, key: str) -> KeyInfo | None:
        """The live API key `key` is (None: unknown or revoked); call from a worker thread."""
        return KeyStore(self.open().engine).lookup(key)

    def claim(self, symbol: str, interval: str, origin: int, owner: str, now: int, lease: int):
        """The scheduler's claim on one scheduled forecast (see `Ledger.claim`)."""
        return self.open().claim(symbol, interval, origin, owner, now, lease)

    def finish_claim(self, symbol: str, interval: str, origin: int, owner: str, ok: bool) -> None:
        """Mark a claim done, or release it (see `Ledger.finish_claim`)."""
        self.open().finish_claim(symbol, interval, origin, owner, ok)
