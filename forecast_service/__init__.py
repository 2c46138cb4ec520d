"""Service-layer logic of the forecast service: settings, schemas, summaries, fallback, cache."""
