"""`kronos-forecast keys create|list|revoke`: API keys in the ledger database (LEDGER_URL).

kronos-forecast keys create --name alice [--quota 50000]   # the key alone on the last line
kronos-forecast keys list
kronos-forecast keys revoke alice
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from ledger.keys import KeyExistsError, KeyStore
from ledger.store import Ledger


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The `keys` subcommand and its three actions."""
    keys = commands.add_parser("keys", help="manage API keys (stored hashed in the ledger)")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a key; printed once, on the last line")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--quota", type=int, help="path-steps per minute (default KEY_COMPUTE_PER_MINUTE)"
    )
    actions.add_parser("list", help="names, quotas, created and revoked times")
    revoke = actions.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")
    keys.set_defaults(run=lambda args, settings: sys.exit(run(args, settings.ledger_url)))


def _when(stamp: int | None) -> str:
    return "-" if stamp is None else datetime.fromtimestamp(stamp, timezone.utc).isoformat()


def run(args: argparse.Namespace, ledger_url: str) -> int:
    """Run one `keys` action; the exit status."""
    if not ledger_url:
        print("keys need a ledger database: set LEDGER_URL", file=sys.stderr)
        return 2
    store = KeyStore(Ledger.open(ledger_url).engine)
    if args.action == "create":
        if args.quota is not None and args.quota < 0:
            print("--quota must be >= 0", file=sys.stderr)
            return 2
        try:
            key = store.create(args.name, args.quota)
        except KeyExistsError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"created key {args.name!r}; store it now, it is not shown again:")
        print(key)
        return 0
    if args.action == "list":
        for k in store.list():
            quota = "default" if k.quota is None else str(k.quota)
            state = "live" if k.revoked_at is None else f"revoked {_when(k.revoked_at)}"
            print(f"{k.name}\tquota={quota}\tcreated {_when(k.created_at)}\t{state}")
        return 0
    if store.revoke(args.name):
        print(f"revoked {args.name!r}")
        return 0
    print(f"no live key named {args.name!r}", file=sys.stderr)
    return 1
