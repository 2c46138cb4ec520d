"""Who is asking: API keys, per-client compute quotas and their usage figures."""
