"""Server-sent events: `/api/stream` pushes scheduled forecasts and their scores from the ledger."""
