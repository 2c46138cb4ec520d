"""The torch-free forecasting vocabulary every layer shares.

Forecast values (`forecast`), candle conventions (`candles`), the baseline forecasters
(`baselines`), the summary of sample paths (`summary`), accuracy metrics (`metrics`) and band
calibration (`calibration`). numpy and pandas only; nothing else of ours is imported here.
"""
