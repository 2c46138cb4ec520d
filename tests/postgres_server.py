"""A throwaway PostgreSQL server from the system's packages, started by the tests."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def _pg_bin(name: str) -> Path | None:
    """A PostgreSQL server binary (Debian keeps them in /usr/lib/postgresql/N/bin), or None."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for d in [*debian, Path("/usr/local/bin"), Path("/usr/bin")]:
        if (d / name).exists():
            return d / name
    found = shutil.which(name)
    return Path(found) if found else None


def _free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (run as `postgres` when we are root)."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            pwd.getpwnam("postgres")  # KeyError: no user to run the server as
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.root = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        if self.prefix:
            shutil.chown(self.root, "postgres")

    def _run(self, *args: str) -> None:
        """Run a server tool as the cluster's owner."""
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        """Create the cluster (trust auth for local tests)."""
        self._run(str(self.initdb), "-D", str(self.data), "-U", "postgres", "-A", "trust")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        opts = f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off"
        log = str(self.root / "server.log")
        self._run(str(self.pg_ctl), "-D", str(self.data), "-o", opts, "-l", log, "-w", "start")

    def stop(self) -> None:
        """Stop the server now (fast shutdown)."""
        self._run(str(self.pg_ctl), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        """Plain URL of a database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh database; its plain URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres", autocommit=True
        ) as c:
            c.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def server_binaries_installed() -> bool:
    """Whether initdb and pg_ctl are on this machine."""
    return _pg_bin("initdb") is not None and _pg_bin("pg_ctl") is not None
