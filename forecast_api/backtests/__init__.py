"""Backtests on demand: replay jobs into scratch ledgers (`POST /api/backtests`)."""
