"""KronosPipeline: candles in (pandas), probabilistic forecasts out (paths, mean, quantiles)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecasting.candles import candle_timestamps, feature_matrix, future_index
from forecasting.forecast import FEATURES, PRICES, Forecast
from kronos_runner.generate import forecast
from kronos_runner.generation_types import SeriesRequest, StopCheck, never
from kronos_runner.model import Kronos
from kronos_runner.packing import cpu_has_bf16, pack_for_inference
from kronos_runner.tokenizer import KronosTokenizer

CLIP = 5.0
EPS = 1e-5
DEFAULT_MAX_CONTEXT = 512


def time_features(timestamps: pd.DatetimeIndex) -> np.ndarray:
    """(n, 5) float32: minute, hour, weekday (Monday 0), day of month, month."""
    cols = [
        timestamps.minute,
        timestamps.hour,
        timestamps.day_of_week,
        timestamps.day,
        timestamps.month,
    ]
    return np.stack([np.asarray(c) for c in cols], axis=1).astype(np.float32)


def unit_scales(x: np.ndarray) -> np.ndarray:
    """(6,) per-feature units that bring a series near 1: prices in units of the last close,
    volume and amount in units of their means (1 where a mean is zero or not finite).

    The model normalises with a fixed epsilon, so without this its forecasts of tiny values (a
    coin at $0.000001) would be noise; with it every price unit forecasts alike. Ones when
    dividing would overflow or zero a price (the raw values are then judged as they are).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        means = x[:, 4:].mean(axis=0)
    means = np.where(np.isfinite(means) & (means > 0), means, 1.0)
    scales = np.concatenate([np.full(len(PRICES), x[-1, FEATURES.index("close")]), means])
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        scaled = x / scales
    if not (np.isfinite(scaled).all() and (scaled[:, : len(PRICES)] > 0).all()):
        return np.ones(len(FEATURES))
    return scales


def _per_series(value: object, n: int, what: str) -> list:
    if isinstance(value, list | tuple):
        if len(value) != n:
            raise ValueError(f"{what} has {len(value)} entries for {n} series")
        return list(value)
    return [value] * n


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' -> cuda:0 when available else cpu; 'cpu'; 'cuda' / 'cuda:N' (must exist)."""
    if str(device) == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unsupported device {device!r}; use 'auto', 'cpu' or 'cuda:N'") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available")
        if (dev.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist")
    elif dev.type != "cpu":
        raise ValueError(f"unsupported device {device!r}; use 'auto', 'cpu' or 'cuda:N'")
    return dev


def _resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if dtype in (None, "float32", torch.float32):
        return torch.float32
    if dtype in ("bfloat16", torch.bfloat16):
        if device.type == "cpu" and not cpu_has_bf16():
            raise ValueError("bfloat16 needs CUDA or a CPU with AVX512-BF16 or AMX-BF16")
        return torch.bfloat16
    raise ValueError(f"unsupported dtype {dtype!r}; use None, 'float32' or 'bfloat16'")


def _place(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """Move to device and cast parameters only (buffers such as inv_freq stay float32)."""
    module = module.to(device).eval()
    for p in module.parameters():
        p.data = p.data.to(dtype)
    return module


class KronosPipeline:
    """Forecast OHLCV candle series with a Kronos predictor and tokenizer."""

    def __init__(
        self,
        model: Kronos,
        tokenizer: KronosTokenizer,
        *,
        device: torch.device,
        max_context: int = DEFAULT_MAX_CONTEXT,
        unit_scale: bool = True,
        max_rows: int | None = None,
    ) -> None:
        if not _is_int(max_context) or max_context < 1:
            raise ValueError(f"max_context must be a positive integer, got {max_context!r}")
        if max_rows is not None and (not _is_int(max_rows) or max_rows < 1):
            raise ValueError(f"max_rows must be a positive integer, got {max_rows!r}")
        self.model, self.tokenizer = model, tokenizer
        self.device = device
        self.max_context = int(max_context)
        self.unit_scale = unit_scale
        self.max_rows = None if max_rows is None else int(max_rows)

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path | Kronos,
        tokenizer: str | Path | KronosTokenizer,
        device: str | torch.device = "auto",
        max_context: int | None = None,
        dtype: str | torch.dtype | None = None,
        *,
        revision: str | None = None,
        unit_scale: bool = True,
        pack: bool = True,
        release_weights: bool = False,
        max_rows: int | None = None,
    ) -> KronosPipeline:
        """Load (hub id or local dir) or wrap modules; place them on ``device`` in ``dtype``.

        On CPU the Linear weights are pre-packed here, at load (logged with its time; ``pack``
        False skips it: about 100 MiB less memory for Kronos-small, slower decode steps;
        ``release_weights`` keeps only the packed copy, for serving: no training or autograd).
        Torch's thread count is left alone (see ``kronos_runner.threads``).
        ``unit_scale=False`` normalises exactly as the reference does (see ``unit_scales``).
        ``max_rows`` bounds the rows (series x paths) of one model pass (``generate.forecast``;
        None: 128 on CPU, where larger passes are no faster, and 4096 on CUDA).
        """
        dev = resolve_device(device)
        dt = _resolve_dtype(dtype, dev)
        if isinstance(model, str | Path):
            model = Kronos.from_pretrained(model, revision=revision)
        if isinstance(tokenizer, str | Path):
            tokenizer = KronosTokenizer.from_pretrained(tokenizer, revision=revision)
        model, tokenizer = _place(model, dev, dt), _place(tokenizer, dev, dt)
        if pack:
            pack_for_inference(model, release=release_weights)
            pack_for_inference(tokenizer, release=release_weights)
        return cls(
            model,
            tokenizer,
            device=dev,
            max_context=DEFAULT_MAX_CONTEXT if max_context is None else max_context,
            unit_scale=unit_scale,
            max_rows=max_rows,
        )

    @property
    def trained(self) -> bool:
        """Whether both checkpoints hold trained weights (a random-init one says it is not)."""
        return bool(self.model.trained and self.tokenizer.trained)

    def predict(
        self,
        series: pd.DataFrame | Sequence[pd.DataFrame],
        horizon: int | Sequence[int],
        *,
        samples: int = 1,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 0.9,
        seed: int | Sequence[int | None] | None = None,
        future_timestamps: Sequence[object] | None = None,
        use_cache: bool = True,
        should_stop: StopCheck = never,
    ) -> list[Forecast]:
        """Sample ``samples`` paths of ``horizon`` candles per series (one Forecast each).

        Raises ValueError naming the problem for any invalid input, and
        ``generation_types.GenerationStopped`` when ``should_stop()`` is True before a model pass.
        """
        frames = [series] if isinstance(series, pd.DataFrame) else list(series)
        if not frames:
            raise ValueError("no series given")
        n = len(frames)
        horizons = _per_series(horizon, n, "horizon")
        seeds = _per_series(seed, n, "seed")
        futures = _per_series(future_timestamps, n, "future_timestamps")
        if future_timestamps is not None and not isinstance(future_timestamps, list | tuple):
            raise ValueError("future_timestamps must be a list with one DatetimeIndex per series")
        self._check_sampling(samples, temperature, top_k, top_p)

        prepared = [
            self._prepare(df, f"series[{i}]", horizons[i], seeds[i], futures[i])
            for i, df in enumerate(frames)
        ]
        requests = [p[0] for p in prepared]
        paths = forecast(
            self.model,
            self.tokenizer,
            requests,
            samples=samples,
            temperature=float(temperature),
            top_k=int(top_k),
            top_p=float(top_p),
            max_context=self.max_context,
            use_cache=use_cache,
            max_rows=self.max_rows,
            should_stop=should_stop,
        )
        out = []
        for i, (p, (_, (mean, std, scale), future)) in enumerate(zip(paths, prepared, strict=True)):
            with np.errstate(over="ignore", invalid="ignore"):
                values = (p.cpu().numpy() * (std + EPS) + mean) * scale
            if not np.isfinite(values).all() or np.abs(values).max() > np.finfo(np.float32).max:
                raise ValueError(f"forecast for series[{i}] is not finite (input too extreme)")
            out.append(Forecast(timestamps=future, paths=values.astype(np.float32)))
        return out

    def _prepare(
        self, df: object, name: str, horizon: object, seed: object, future: object
    ) -> tuple[SeriesRequest, tuple[np.ndarray, np.ndarray, np.ndarray], pd.DatetimeIndex]:
        """Validate one series -> (request, (mean, std, unit) per feature, future timestamps)."""
        if not isinstance(df, pd.DataFrame):
            raise ValueError(f"{name} is not a pandas DataFrame")
        if len(df) == 0:
            raise ValueError(f"{name} is empty")
        if len(df) < 2:
            raise ValueError(f"{name} needs at least 2 rows, got {len(df)}")
        if not _is_int(horizon) or horizon < 1:
            raise ValueError(f"horizon for {name} must be an integer >= 1, got {horizon!r}")
        if horizon > self.max_context:
            raise ValueError(f"horizon {horizon} for {name} exceeds max_context {self.max_context}")
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        elif not _is_int(seed) or not 0 <= seed < 2**63:
            raise ValueError(f"seed for {name} must be an integer in [0, 2**63), got {seed!r}")
        ts = candle_timestamps(df, name)
        x = feature_matrix(df, name)
        future_ts = future_index(ts, int(horizon), future, name)
        if np.abs(x).max() > np.finfo(np.float32).max:
            raise ValueError(f"{name} values are too large for float32")
        scale = unit_scales(x) if self.unit_scale else np.ones(len(FEATURES))
        x = (x / scale).astype(np.float32)  # the reference normalises in float32
        with np.errstate(over="ignore", invalid="ignore"):
            mean, std = x.mean(axis=0), x.std(axis=0)
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            raise ValueError(f"{name} values are too large to normalise in float32")
        x_norm = np.clip((x - mean) / (std + EPS), -CLIP, CLIP)
        stamp = time_features(ts.append(future_ts))
        request = SeriesRequest(
            torch.from_numpy(x_norm), torch.from_numpy(stamp), int(horizon), int(seed)
        )
        return request, (mean, std, scale), future_ts

    @staticmethod
    def _check_sampling(samples: object, temperature: object, top_k: object, top_p: object) -> None:
        if not _is_int(samples) or samples < 1:
            raise ValueError(f"samples must be an integer >= 1, got {samples!r}")
        if not _is_real(temperature) or not np.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
        if not _is_int(top_k) or top_k < 0:
            raise ValueError(f"top_k must be an integer >= 0, got {top_k!r}")
        if not _is_real(top_p) or not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
