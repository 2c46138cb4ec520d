"""Measure the ledger's growth per symbol per day, and what grid retention leaves (not a test).

Usage, from the repository root:
    python -m benchmarks.bench_ledger_growth [--symbols 20] [--path /tmp/bench-growth.db]
Records two synthetic days of the default schedule (LEDGER_SCHEDULE=1h,4h,1d: per symbol and
day 24 + 6 + 1 scheduled forecasts of 24 steps, 100 paths each) into a fresh SQLite ledger and
scores them. The second day's growth, divided by the symbols, is printed as a markdown table:
rows and bytes per table (indexes included, from SQLite's dbstat) and the file's growth. Then the
grids of both days are pruned (`ledger.retention`, as LEDGER_GRID_RETENTION_DAYS does): the
table's last row is what a day adds for good under retention (the grids of the 1d forecasts'
later steps, still pending, included).
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from benchmarks.bench_ledger import DAY, END, fill, symbols
from ledger.retention import prune
from ledger.store import Ledger

SCHEDULE = {"1h": 24, "4h": 6, "1d": 1}  # forecasts per day of each scheduled interval
TABLES = ("forecasts", "forecast_steps", "step_quantiles")


def sizes(path: Path) -> tuple[dict[str, int], dict[str, int], int]:
    """(bytes per table with its indexes, rows per table, file bytes) after a WAL checkpoint."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_schema"))  # index -> table
        used: dict[str, int] = dict.fromkeys(TABLES, 0)
        for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            if owner.get(name) in used:
                used[owner[name]] += int(size)
        rows = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()
    return used, rows, path.stat().st_size


def day(ledger: Ledger, names: list[str], end: int) -> None:
    """One day (ending at `end`) of the default schedule, recorded and scored."""
    for interval, per_day in SCHEDULE.items():
        fill(ledger, 1, per_day, names=names, interval=interval, end=end)


def main() -> None:
    """Two days recorded, the second's growth per symbol printed; then the grids pruned."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--path", type=Path, default=Path("/tmp/bench-growth.db"))
    args = parser.parse_args()
    for leftover in args.path.parent.glob(f"{args.path.name}*"):
        leftover.unlink()
    ledger = Ledger.open(f"sqlite:///{args.path}")
    names = symbols(args.symbols)
    day(ledger, names, END - DAY)
    before, rows_before, file_before = sizes(args.path)
    day(ledger, names, END)
    after, rows_after, file_after = sizes(args.path)
    n = args.symbols
    print(f"{n} symbols, one day of LEDGER_SCHEDULE=1h,4h,1d (31 forecasts x 24 steps a symbol)")
    print("| table (with indexes) | rows / symbol / day | KiB / symbol / day |\n|---|---|---|")
    for table in TABLES:
        grown = (after[table] - before[table]) / n / 1024
        print(f"| {table} | {(rows_after[table] - rows_before[table]) / n:.0f} | {grown:.1f} |")
    total = sum(after.values()) - sum(before.values())
    print(f"| all three | | {total / n / 1024:.1f} |")
    print(f"| SQLite file growth | | {(file_after - file_before) / n / 1024:.1f} |")
    report = prune(ledger, END + DAY, max_batches=10**6)
    pruned, _, _ = sizes(args.path)
    kept = sum(pruned.values()) / 2 / n / 1024  # both days' rows, grids gone
    print(f"| kept under retention (grids pruned: {report.grids}) | | {kept:.1f} |")


if __name__ == "__main__":
    main()
