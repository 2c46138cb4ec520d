"""Alerts: webhook rules evaluated on every scheduled forecast (`POST /api/alerts`)."""
