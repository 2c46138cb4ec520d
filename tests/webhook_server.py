"""A webhook receiver on 127.0.0.1 for the alert tests: records every POST, answers with the
statuses it is given in turn (then 200)."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """What the webhook has been sent: (headers, body) per request, oldest first."""

    statuses: list[int] = field(default_factory=list)  # answers to give first, in turn
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    arrived: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, count: int, timeout: float) -> bool:
        """Whether `count` requests arrived within `timeout` seconds."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while len(self.requests) < count and not deadline.is_set():
                self.arrived.wait(0.05)
                self.arrived.clear()
            return len(self.requests) >= count
        finally:
            timer.cancel()


def valid_signature(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether `X-Kronos-Signature` is the HMAC-SHA256 of `body` with `secret` (computed here)."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("x-kronos-signature", ""), expected)


@contextmanager
def webhook(statuses: list[int] | None = None) -> Iterator[Received]:
    """Serve a recording webhook on a free loopback port until the block ends."""
    received = Received(statuses=list(statuses or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            received.requests.append((headers, body))
            status = received.statuses.pop(0) if received.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            received.arrived.set()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
