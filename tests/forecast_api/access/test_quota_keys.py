"""Keys (hashed in a real SQLite ledger) and per-client quotas (in-process and through a real
redis-server: one total whichever worker counts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecast_api.access.keys import Client, KeyRing, presented_key
from forecast_api.access.quota import Quotas
from forecast_api.http.errors import RateLimitedError, UnauthorizedError
from forecast_api.shared.redis_state import RedisState
from forecast_api.shared.state import InProcessState
from ledger.keys import KeyStore, key_hash
from ledger.store import Ledger
from tests.redis_server import RedisServer, redis_installed


def test_presented_key_from_either_header() -> None:
    assert presented_key({"authorization": "Bearer abc"}) == "abc"
    assert presented_key({"x-api-key": "xyz"}) == "xyz"
    assert presented_key({"authorization": "Basic abc"}) is None


async def test_keys_are_stored_hashed_and_revocable(tmp_path: Path) -> None:
    store = KeyStore(Ledger.open(f"sqlite:///{tmp_path / 'l.db'}").engine)
    key = store.create("alice", quota=500)
    raw = b"".join(f.read_bytes() for f in tmp_path.glob("l.db*"))  # the WAL too
    assert key.encode() not in raw and key_hash(key).encode() in raw
    ring = KeyRing(store.lookup, key_quota=100, anonymous_quota=7, cache_s=0)
    assert await ring.client({"x-api-key": key}) == Client("alice", 500)
    assert await ring.client({}) == Client(None, 7)
    assert store.revoke("alice") and not store.revoke("alice")
    with pytest.raises(UnauthorizedError):
        await ring.client({"authorization": f"Bearer {key}"})


async def test_quota_refuses_over_the_minute_and_labels_are_bounded() -> None:
    quotas = Quotas(InProcessState(), max_labels=1)
    alice = Client("alice", 1000)
    await quotas.charge(alice, 720)
    with pytest.raises(RateLimitedError) as refused:
        await quotas.charge(alice, 720)
    assert int(refused.value.headers["Retry-After"]) >= 1
    assert "1000" in refused.value.message
    usage = await quotas.usage(alice)
    assert usage["usedThisMinute"] == 720 and usage["totalPathSteps"] == 720
    assert quotas.label(Client("bob", 1)) == "other"
    with pytest.raises(UnauthorizedError):
        await quotas.charge(Client(None, 0), 1)


@pytest.mark.skipif(not redis_installed(), reason="redis-server not installed")
async def test_quota_total_is_the_same_whichever_worker_counts() -> None:
    server = RedisServer()
    server.start()
    try:
        workers = [Quotas(RedisState(server.url)) for _ in range(2)]
        alice = Client("alice", 1000)
        admitted = 0
        for i in range(6):
            try:
                await workers[i % 2].charge(alice, 300)
                admitted += 1
            except RateLimitedError:
                pass
        assert admitted == 3
    finally:
        server.cleanup()
