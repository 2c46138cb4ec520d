"""Figures derived from hourly candles (quotes and CoinGecko-style history), computed once per
candle file version by the files source."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .models import History, Quote, timestamps_ms

DAILY_AFTER_DAYS = 90  # history granularity switches from hourly to daily, like CoinGecko
HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(hours=24)


@dataclass(frozen=True)
class HourlyPoints:
    """Per hourly candle close: its time (ms), close price and the rolling 24h `amount` sum."""

    close_times: pd.DatetimeIndex
    times_ms: np.ndarray
    closes: np.ndarray
    volumes_24h: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> HourlyPoints:
        """The points of an hourly candle frame (ascending)."""
        close_times = pd.DatetimeIndex(frame["timestamp"] + HOUR)
        volume = pd.Series(frame["amount"].to_numpy(), index=close_times).rolling("24h").sum()
        return cls(
            close_times=close_times,
            times_ms=timestamps_ms(close_times),
            closes=frame["close"].to_numpy(dtype=np.float64),
            volumes_24h=volume.to_numpy(dtype=np.float64),
        )


def quote_from_points(points: HourlyPoints, symbol: str, source: str) -> Quote:
    """Price = last close; change vs the close 24h earlier (None without one); volume = sum of
    the last 24h of `amount`; `last_updated` = the last close time; market cap unknown."""
    last_close = points.close_times[-1]
    price = float(points.closes[-1])
    earlier = int(points.close_times.searchsorted(last_close - DAY, side="right"))
    change = (price / float(points.closes[earlier - 1]) - 1) * 100 if earlier else None
    return Quote(
        symbol=symbol,
        price=price,
        change_24h=change,
        volume_24h=float(points.volumes_24h[-1]),
        market_cap=None,
        last_updated=last_close.to_pydatetime(),
        source=source,
    )


def history_from_points(points: HourlyPoints, days: int, source: str) -> History:
    """Close prices at each hourly close over `days` (daily at 00:00 UTC above 90 days) and the
    rolling 24h `amount` sum at each point; market caps unknown (empty list)."""
    index = points.close_times
    keep = index > index[-1] - pd.Timedelta(days=days)
    if days > DAILY_AFTER_DAYS:
        keep &= index == index.normalize()
    times = points.times_ms[keep].tolist()
    return History(
        prices=[[t, v] for t, v in zip(times, points.closes[keep].tolist(), strict=True)],
        volumes=[[t, v] for t, v in zip(times, points.volumes_24h[keep].tolist(), strict=True)],
        market_caps=[],
        source=source,
    )
