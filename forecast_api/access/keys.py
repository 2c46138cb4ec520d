"""Identify the caller from `Authorization: Bearer <key>` or `X-API-Key: <key>`.

Keys are looked up by hash in the ledger database (`ledger.keys`), off the event loop, and the
answer is kept briefly, so a revoked key stops working within `cache_s` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cachetools import TTLCache

from forecast_api.http.errors import UnauthorizedError
from ledger.keys import KeyInfo

Lookup = Callable[[str], KeyInfo | None]


@dataclass(frozen=True)
class Client:
    """A caller: a key's name and quota, or anonymous (`name` None)."""

    name: str | None
    quota: int  # path-steps per minute

    @property
    def bucket(self) -> str:
        """The quota counter (and fair-share lane) this caller uses."""
        return "anonymous" if self.name is None else f"key:{self.name}"


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key in the request's headers, if any."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    return headers.get("x-api-key", "").strip() or None


class KeyRing:
    """Resolves presented keys to clients (401 for an unknown or revoked one)."""

    def __init__(
        self,
        lookup: Lookup | None,
        *,
        key_quota: int,
        anonymous_quota: int,
        cache_s: float = 10.0,
    ) -> None:
        self.lookup = lookup  # None: no ledger database, so no keys
        self.key_quota, self.anonymous_quota = key_quota, anonymous_quota
        self._known: TTLCache[str, KeyInfo | None] = TTLCache(4096, ttl=cache_s)

    async def client(self, headers: Mapping[str, str]) -> Client:
        """The caller; anonymous without a key."""
        key = presented_key(headers)
        if key is None:
            return Client(None, self.anonymous_quota)
        if key in self._known:
            info = self._known[key]
        elif self.lookup is None:
            info = None
        else:
            info = await asyncio.to_thread(self.lookup, key)
            self._known[key] = info
        if info is None:
            raise UnauthorizedError("unknown or revoked API key")
        return Client(info.name, self.key_quota if info.quota is None else info.quota)
