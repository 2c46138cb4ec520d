"""Market candles made ready for the forecasters by the gap rule (`forecasting.gaps`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.gaps import regularise


@dataclass(frozen=True)
class Series:
    """A regular candle series, which of its rows the gap rule filled, and why the model may
    not see it (None: it may)."""

    candles: pd.DataFrame
    filled: np.ndarray
    unusable: str | None = None

    @classmethod
    def given(cls, candles: pd.DataFrame) -> Series:
        """Candles used as they are (a caller's own, already checked to be regular)."""
        return cls(candles, np.zeros(len(candles), dtype=bool))

    @classmethod
    def regularised(cls, candles: pd.DataFrame, *, max_fill: int, min_context: int) -> Series:
        """`candles` made regular by the gap rule; unusable (with the rule's reason) when the
        regular stretch is shorter than `min_context`."""
        regular, result = regularise(candles, max_fill=max_fill, min_length=min_context)
        filled = ~regular["timestamp"].isin(candles["timestamp"]).to_numpy()
        reason = None if result.ok else f"gap rule: {result.reason}"
        return cls(regular, filled, reason)

    def tail(self, count: int) -> Series:
        """The last `count` candles."""
        return Series(self.candles.tail(count), self.filled[-count:], self.unusable)

    @property
    def gaps_filled(self) -> int:
        """How many of the candles were filled."""
        return int(self.filled.sum())
