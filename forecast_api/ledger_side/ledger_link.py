"""The forecast ledger as one API worker holds it: one connection, the buffered writer, and the
blend and the rolling calibrations in force per interval.

The database is opened (and migrated) on first use, in a worker thread, so a missing or
unreachable database never delays start-up or a forecast. Records go through the writer's
bounded buffer (`ledger.writer`); calibrations are refitted in the background
(`forecast_api.ledger_side.ledger_upkeep`) and read here without touching the database, so the
response path never waits on it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from functools import partial

from forecast_api.forecasts.recording import not_fitted
from forecast_api.ledger_side.ledger_metrics import publish_worker
from forecasting.blend import (
    DEFAULT_BLEND,
    Blend,
    BlendSettings,
    fit_blend,
    fittable_steps,
)
from forecasting.blend import not_fitted as blend_not_fitted
from forecasting.recalibration import DEFAULT_SETTINGS, Calibration, RecalibrationSettings
from ledger.blending import blend_rows
from ledger.keys import KeyInfo, KeyStore
from ledger.records import ForecastRecord, from_epoch
from ledger.store import Ledger
from ledger.writer import LedgerWriter, WriterSettings

NOT_READ = "not fitted yet: the ledger has not been read"


class LedgerLink:
    """The ledger at `url` for one API worker; the blend (None: off) and the calibrations are
    fitted on `model_id`'s scores."""

    def __init__(
        self,
        url: str,
        model_id: str,
        *,
        recalibration: RecalibrationSettings = DEFAULT_SETTINGS,
        blend: BlendSettings | None = DEFAULT_BLEND,
        writer: WriterSettings | None = None,
    ) -> None:
        self.url = url
        self.model_id = model_id
        self.recalibration = recalibration
        self.blend_settings = blend
        self.writer = LedgerWriter(self.open, writer or WriterSettings(), observe=publish_worker)
        self._ledger: Ledger | None = None
        self._lock = threading.Lock()
        self._calibrations: dict[tuple[str, bool], Calibration] = {}
        self._blends: dict[str, Blend] = {}

    def open(self) -> Ledger:
        """The ledger, opened (and migrated) on first use; call from a worker thread."""
        with self._lock:
            if self._ledger is None:
                self._ledger = Ledger.open(self.url)
            return self._ledger

    # ---- the Recorder protocol of forecast_api.forecasts.recording -------------------------

    def calibration(self, interval: str, blended: bool = True) -> Calibration:
        """The calibration last fitted for `interval`, on the PITs of the blend (when it is on)
        or (not `blended`) of the model alone; none yet: every step served raw."""
        blended = blended and self.blend_settings is not None
        fitted = self._calibrations.get((interval, blended))
        if fitted is not None:
            return fitted
        settings = self.blend_settings.calibration if blended else self.recalibration
        return not_fitted(settings, NOT_READ)

    def blend(self, interval: str) -> Blend | None:
        """The blend last fitted for `interval` (None: LEDGER_BLEND=off; none yet: unblended)."""
        if self.blend_settings is None:
            return None
        return self._blends.get(interval) or blend_not_fitted(self.blend_settings, NOT_READ)

    def submit(self, record: ForecastRecord) -> None:
        """Queue a record for the ledger (never blocks, never raises)."""
        self.writer.submit(record)

    # ---- background work (worker threads) ---------------------------------------------------

    def refit(
        self, interval: str, now: int, horizon: int, challengers: Sequence[str] = ()
    ) -> Calibration:
        """Fit `interval`'s blend (see `_fit_blend`) and calibrations on steps scored and closed
        by `now`, and serve them."""
        ledger = self.open()
        blend = self._fit_blend(ledger, interval, now, horizon, challengers)
        calibrate = partial(ledger.calibration, interval, now, horizon, model_id=self.model_id)
        raw = calibrate(self.recalibration)
        fitted = raw if blend is None else calibrate(blend.settings.calibration, blended=True)
        if blend is not None:
            self._blends[interval] = blend
        self._calibrations[(interval, blend is not None)] = fitted
        self._calibrations[(interval, False)] = raw
        return fitted

    def _fit_blend(
        self, ledger: Ledger, interval: str, now: int, horizon: int, challengers: Sequence[str]
    ) -> Blend | None:
        """The blend (None: off), fitted once: over the model, the baselines and the loaded
        `challengers` when the blend with them covers as many steps as without, else without."""
        settings = self.blend_settings
        if settings is None:
            return None
        rows = blend_rows(ledger, interval, now, horizon, settings, self.model_id)
        if challengers:
            joined = replace(settings, components=(*settings.components, *sorted(challengers)))
            joined_rows = blend_rows(ledger, interval, now, horizon, joined, self.model_id)
            if fittable_steps(joined_rows, joined) >= fittable_steps(rows, settings):
                settings, rows = joined, joined_rows
        return fit_blend(rows, horizon, settings, from_epoch(now))

    def api_key(self, key: str) -> KeyInfo | None:
        """The live API key `key` is (None: unknown or revoked); call from a worker thread."""
        return KeyStore(self.open().engine).lookup(key)

    def claim(self, symbol: str, interval: str, origin: int, owner: str, now: int, lease: int):
        """The scheduler's claim on one scheduled forecast (see `Ledger.claim`)."""
        return self.open().claim(symbol, interval, origin, owner, now, lease)

    def finish_claim(self, symbol: str, interval: str, origin: int, owner: str, ok: bool) -> None:
        """Mark a claim done, or release it (see `Ledger.finish_claim`)."""
        self.open().finish_claim(symbol, interval, origin, owner, ok)
