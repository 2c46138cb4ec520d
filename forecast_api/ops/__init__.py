"""Operations: health, the runner client and monitor, lifecycle and telemetry."""
