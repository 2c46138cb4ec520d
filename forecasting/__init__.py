"""Torch-free forecasting vocabulary shared by the API and the model process (numpy + pandas)."""
