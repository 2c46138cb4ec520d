"""The ledger store: inserts (insert-if-absent), schedule claims, calibration inputs."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from forecasting.recalibration import Calibration, RecalibrationSettings, fit_calibration
from ledger.db import create_ledger_engine, migrate
from ledger.models import (
    PENDING,
    SCORED,
    TRACK_RECORD_KINDS,
    ClaimRow,
    ForecastRow,
    QuantileRow,
    StepRow,
)
from ledger.records import ForecastRecord, from_epoch
from ledger.rows import forecast_values, quantile_values, step_values


@dataclass
class Ledger:
    """A ledger database: one engine, the schema migrated at open."""

    engine: Engine
    _recent: dict = field(default_factory=dict, init=False, repr=False)  # by model filter
    _results: OrderedDict = field(default_factory=OrderedDict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def cached(self, key: tuple) -> Any:
        """A query result kept by :meth:`cache` (None if absent)."""
        with self._lock:
            return self._results.get(key)

    def clear_cache(self) -> None:
        """Forget the kept query results (benchmarks time the cold queries with this)."""
        with self._lock:
            self._results.clear()

    def cache(self, key: tuple, value: Any, size: int = 64) -> Any:
        """Keep a query result under a key that names its inputs; the oldest go first."""
        with self._lock:
            self._results[key] = value
            while len(self._results) > size:
                self._results.popitem(last=False)
        return value

    @classmethod
    def open(cls, url: str, *, run_migrations: bool = True) -> Ledger:
        """Connect to LEDGER_URL and bring its schema up to date."""
        engine = create_ledger_engine(url)
        if run_migrations:
            migrate(engine)
        return cls(engine)

    def _insert_ignore(self):
        """INSERT ... ON CONFLICT DO NOTHING for this backend, on `forecasts`."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(ForecastRow.__table__).on_conflict_do_nothing()

    def insert(self, records: Iterable[ForecastRecord]) -> int:
        """Insert records not yet present (by uid, and one scheduled per origin); returns count."""
        written = 0
        with self.engine.begin() as conn:
            for record in records:
                stmt = self._insert_ignore().values(forecast_values(record))
                row = conn.execute(stmt.returning(ForecastRow.__table__.c.id)).first()
                if row is None:
                    continue  # already recorded (a retried flush) or another replica's forecast
                steps = [step_values(row[0], s) for s in record.steps]
                conn.execute(insert(StepRow.__table__), steps)  # Core: no ORM overhead
                grids = [quantile_values(row[0], s) for s in record.steps]
                conn.execute(insert(QuantileRow.__table__), grids)
                written += 1
        return written

    def claim(self, symbol: str, interval: str, origin: int, owner: str, now: int, lease: int):
        """Claim one scheduled forecast; True if this owner may make it.

        A claim not completed within `lease` seconds (its replica died) can be taken over.
        """
        key = {"symbol": symbol, "interval": interval, "origin": origin}
        with self.engine.begin() as conn:
            dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(ClaimRow).on_conflict_do_nothing()
            values = {**key, "owner": owner, "claimed_at": now, "done": False}
            if conn.execute(stmt.values(values).returning(ClaimRow.origin)).first() is not None:
                return True  # (RETURNING: psycopg reports no rowcount for ON CONFLICT inserts)
            where = [getattr(ClaimRow, k) == v for k, v in key.items()]
            stale = and_(*where, ClaimRow.done.is_(False), ClaimRow.claimed_at < now - lease)
            taken = update(ClaimRow).where(stale).values(owner=owner, claimed_at=now)
            return conn.execute(taken.returning(ClaimRow.origin)).first() is not None

    def finish_claim(self, symbol: str, interval: str, origin: int, owner: str, ok: bool) -> None:
        """Mark a claim done, or release it (so the next tick or replica retries)."""
        where = and_(
            ClaimRow.symbol == symbol,
            ClaimRow.interval == interval,
            ClaimRow.origin == origin,
            ClaimRow.owner == owner,
        )
        with self.engine.begin() as conn:
            stmt = update(ClaimRow).where(where).values(done=True) if ok else delete(ClaimRow)
            conn.execute(stmt if ok else stmt.where(where))

    def pending_symbols(self, interval: str, now: int) -> set[str]:
        """Symbols with a step of `interval` still pending whose candle closed by `now`."""
        stmt = (
            select(ForecastRow.symbol)
            .distinct()
            .join(StepRow, StepRow.forecast_id == ForecastRow.id)
            .where(
                ForecastRow.interval == interval,
                StepRow.status == PENDING,
                StepRow.closes_at <= now,
            )
        )
        with self.engine.connect() as conn:
            return set(conn.execute(stmt).scalars())

    def origins(self, interval: str, kind: str, symbols: Sequence[str], start: int, end: int):
        """{(symbol, origin)} already recorded with this kind between start and end."""
        stmt = select(ForecastRow.symbol, ForecastRow.origin).where(
            ForecastRow.interval == interval,
            ForecastRow.kind == kind,
            ForecastRow.symbol.in_(list(symbols)),
            ForecastRow.origin.between(start, end),
        )
        with self.engine.connect() as conn:
            return {(s, int(o)) for s, o in conn.execute(stmt)}

    def recent_scores(
        self,
        interval: str,
        before: int,
        window: int,
        horizon: int,
        model_id: str | None = None,
        blended: bool = False,
    ) -> dict:
        """{step: array (n, 3) of (pit, confidence_dist, trend_hit), newest first} of
        track-record steps scored and closed by `before` (rows without a PIT left out), of
        `model_id`'s forecasts only when given. With `blended` the PIT is that of the grid the
        calibration was applied to: the blend's where the step was blended, else the raw one.

        One index range scan per step (newest first, stopping after `window` rows), so the cost
        does not grow with the ledger. Read through the DBAPI cursor: SQLAlchemy's row objects
        cost three times the query itself here, once per replayed origin.
        """
        sql, names, literals = self._recent_sql(model_id is not None, blended)
        out: dict[int, np.ndarray] = {}
        with self.engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                for step in range(1, horizon + 1):
                    values = {"step": step, "before": before, "interval": interval}
                    params = literals | values | {"window": window}
                    if model_id is not None:
                        params["model"] = model_id
                    cursor.execute(sql, params if names is None else [params[n] for n in names])
                    rows = np.array(cursor.fetchall(), dtype=float).reshape(-1, 3)
                    rows = rows[~np.isnan(rows[:, 0])]  # NULL (NaN) PITs
                    if rows.size:
                        out[step] = rows
            finally:
                cursor.close()
        return out

    def _recent_sql(self, by_model: bool, blended: bool) -> tuple[str, list[str] | None, dict]:
        """The compiled per-step query of :meth:`recent_scores` (with the model filter or
        without, the blend's PITs or the raw ones), its positional names and literals."""
        if (by_model, blended) not in self._recent:
            kinds = or_(*(ForecastRow.kind == k for k in TRACK_RECORD_KINDS))
            model = [ForecastRow.model_id == bindparam("model")] if by_model else []
            pit = func.coalesce(StepRow.pit_blend, StepRow.pit) if blended else StepRow.pit
            stmt = (
                select(pit, StepRow.confidence_dist, StepRow.trend_hit)
                .join(ForecastRow, ForecastRow.id == StepRow.forecast_id)
                .where(
                    StepRow.step == bindparam("step"),
                    StepRow.status == SCORED,
                    StepRow.closes_at <= bindparam("before"),
                    ForecastRow.interval == bindparam("interval"),
                    kinds,
                    *model,
                )
                .order_by(StepRow.closes_at.desc(), StepRow.forecast_id.desc())
                .limit(bindparam("window"))
            )
            compiled = stmt.compile(dialect=self.engine.dialect)
            placeholders = {"step": 0, "before": 0, "interval": "", "window": 0}
            if by_model:
                placeholders["model"] = ""
            literals = compiled.construct_params(placeholders)  # and the literals
            names = list(compiled.positiontup) if compiled.positional else None
            self._recent[(by_model, blended)] = (str(compiled), names, literals)
        return self._recent[(by_model, blended)]

    def recent_pits(self, interval: str, before: int, window: int, horizon: int) -> dict:
        """{step: PITs newest first}, see :meth:`recent_scores`."""
        scores = self.recent_scores(interval, before, window, horizon)
        return {step: rows[:, 0] for step, rows in scores.items()}

    def calibration(
        self,
        interval: str,
        at: int,
        horizon: int,
        settings: RecalibrationSettings,
        model_id: str | None = None,
        blended: bool = False,
    ) -> Calibration:
        """The rolling calibration for a forecast issued at `at` (epoch seconds), from the
        scores of `model_id`'s forecasts (all models' when None); `blended`: of the grids the
        calibration is applied to when the blend is on (see :meth:`recent_scores`)."""
        longest = max(settings.window, settings.confidence_window)
        scores = self.recent_scores(interval, at, longest, horizon, model_id, blended)
        pits = {step: rows[:, 0] for step, rows in scores.items()}
        pairs = {step: (rows[:, 1], rows[:, 2]) for step, rows in scores.items()}
        return fit_calibration(pits, horizon, settings, from_epoch(at), confidence_by_step=pairs)
