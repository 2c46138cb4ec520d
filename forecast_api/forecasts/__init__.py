"""Forecasts: market data, the runner or the fallback, the prediction cache, ledger records."""
