"""The API process: HTTP routes, market data, prediction cache, fallback and health (no torch)."""
