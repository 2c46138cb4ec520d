"""Per-client compute quotas in path-steps (samples x horizon) per minute, counted across every
worker and replica through the shared state, and the usage figures (`/metrics`, `/api/usage`)."""

from __future__ import annotations

from functools import cache

from prometheus_client import Counter

from forecast_api.access.keys import Client
from forecast_api.http.errors import RateLimitedError, UnauthorizedError
from forecast_api.shared.state import SharedState

WINDOW_S = 60
TOTAL_WINDOW_S = 10**9  # one window for the running totals (kept while the shared state is)


@cache
def _counter(name: str, doc: str) -> Counter:
    """`kronos_key_<name>` by key label (created once per process, after BentoML set up its
    multiprocess metrics directory)."""
    return Counter(f"kronos_key_{name}", doc, ["key"])


class Quotas:
    """Charges clients for the computations they start; refuses them over their quota."""

    def __init__(self, shared: SharedState, *, max_labels: int = 20) -> None:
        self.shared = shared
        self.max_labels = max_labels
        self._labelled: set[str] = set()

    def label(self, client: Client) -> str:
        """The client's `/metrics` label: its key name (the first `max_labels` seen by this
        worker), `other`, or `anonymous`."""
        if client.name is None:
            return "anonymous"
        if client.name in self._labelled or len(self._labelled) < self.max_labels:
            self._labelled.add(client.name)
            return client.name
        return "other"

    async def charge(self, client: Client, path_steps: int) -> None:
        """Count `path_steps` against the client's minute; 401/429 when it may not compute."""
        if client.name is None and client.quota == 0:
            _counter("refused", "computations refused (no key, or over quota)").labels(
                "anonymous"
            ).inc()
            raise UnauthorizedError("computing a forecast needs an API key")
        used, left_s = await self.shared.count(client.bucket, path_steps, WINDOW_S)
        if used > client.quota:
            await self.shared.count(client.bucket, -path_steps, WINDOW_S)  # not computed
            _counter("refused", "computations refused (no key, or over quota)").labels(
                self.label(client)
            ).inc()
            who = "anonymous clients" if client.name is None else f"key {client.name!r}"
            raise RateLimitedError(
                f"compute quota of {who} reached: {client.quota} path-steps (samples x horizon) "
                f"per minute; {used - path_steps} used",
                left_s,
            )
        await self.shared.count(f"total:{client.bucket}", path_steps, TOTAL_WINDOW_S)
        _counter("path_steps", "path-steps (samples x horizon) computed for the key").labels(
            self.label(client)
        ).inc(path_steps)

    async def usage(self, client: Client) -> dict:
        """`GET /api/usage`: this minute's path-steps, the quota and the running total."""
        used, left_s = await self.shared.count(client.bucket, 0, WINDOW_S)
        total, _ = await self.shared.count(f"total:{client.bucket}", 0, TOTAL_WINDOW_S)
        return {
            "key": client.name,
            "anonymous": client.name is None,
            "quota": client.quota,
            "unit": "path-steps (samples x horizon) per minute",
            "usedThisMinute": used,
            "remainingThisMinute": max(0, client.quota - used),
            "windowResetsInSeconds": round(left_s, 3),
            "totalPathSteps": total,
        }
