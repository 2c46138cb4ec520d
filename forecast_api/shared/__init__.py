"""State shared by the API workers and replicas: the prediction cache and the usage counters."""
