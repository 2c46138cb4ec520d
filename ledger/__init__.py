"""The forecast ledger: every forecast recorded, scored at candle close, recalibrated from history.

Torch-free; imports only `forecasting` of ours, plus SQLAlchemy and Alembic. Modules: `db`
(URLs, engines, migrations), `models` (tables), `records` (what one forecast records), `store`
(inserts, claims, calibration inputs), `scorer`, `queries` (accuracy, past forecasts), `writer`
(buffered writes off the response path), `scheduler` and `replay`.
"""
