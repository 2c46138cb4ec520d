"""Fault scenarios against a real server: mixed traffic, a burst past KRONOS_TIMEOUT, kill -9.

    PYTHONPATH=. python benchmarks/bench_faults.py mixed [--seconds 60] [--refresh 0.1]
    PYTHONPATH=. python benchmarks/bench_faults.py burst [--clients 30] [--timeout 2]
    PYTHONPATH=. python benchmarks/bench_faults.py kill [--repeat 3]

Each starts `bentoml serve` (files source on ../shared/data/ohlcv, the default two API workers)
from `--checkout` (default: this one; another checkout compares an older commit).
- mixed: the tiny checkpoint; 3 clients of uncached forecasts (fresh seeds), /health 4 times a
  second and cached reads 5 times a second; the API's runner check every `--refresh` s passes
  BentoML's 100-call session refresh point many times. Prints what the clients saw and RSS.
- burst: random weights of the Kronos-small sizes; `--clients` concurrent uncached forecasts
  (distinct seeds) past KRONOS_TIMEOUT, twice: after the first, how long the runner keeps
  computing (CPU over 10% of a core); after the second, how long until a new request is answered
  by Kronos; runner RSS against its warm baseline.
- kill: the tiny checkpoint; under load (2 forecast clients, /health 10 times a second) kill -9
  one API worker, then the runner worker: the longest time without any answer, the 5xx and
  transport errors of requests sent after the kill, when the worker is replaced, and when
  /health reports the new runner loading, then loaded (polled past the load until it is).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil

from tests.faults_helpers import (
    Tally,
    busy_for,
    cached_read,
    health,
    random_checkpoint,
    request,
    run_for,
    uncached_forecast,
)
from tests.local_server import bentoml_server, service_workers

REFERENCE = Path("../shared/kronos-reference").resolve()
DATA = Path("../shared/data/ohlcv").resolve()


def server_env(checkout: Path, home: str, model: Path, tokenizer: Path) -> dict[str, str]:
    """Files source, cpu, a private BENTOML_HOME, the checkout's code and the checkpoints."""
    return {
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(DATA),
        "KRONOS_MODEL": str(model),
        "KRONOS_TOKENIZER": str(tokenizer),
        "DEVICE": "cpu",
        "BENTOML_HOME": home,
        "PYTHONPATH": str(checkout),
    }


def rss_mb(url: str, service: str) -> list[int]:
    """RSS (MB) of each worker of one service."""
    return [round(w.memory_info().rss / 2**20) for w in service_workers(url, service)]


def mixed(args: argparse.Namespace, env: dict[str, str], tmp: str) -> None:
    """A minute of mixed traffic: what the clients saw and each process's RSS."""
    env |= {"KRONOS_SAMPLES": "8", "HEALTH_REFRESH": str(args.refresh)}
    with bentoml_server(env, cwd=args.checkout, log=Path(tmp) / "server.log") as url:
        tally = Tally()
        run_for(
            args.seconds,
            [
                (lambda: uncached_forecast(url, tally, horizon=4, samples=2), 0, 3),
                (lambda: health(url, tally), 0.25, 1),
                (lambda: cached_read(url, tally), 0.2, 1),
            ],
        )
        rss = {service: rss_mb(url, service) for service in ("kronos_api", "kronos_runner")}
    print(f"| kind | answers ({args.seconds:g} s) |\n|---|---|")
    for kind, counts in sorted(tally.seen.items()):
        print(f"| {kind} | {dict(counts)} |")
    print(f"| failures (5xx, transport) | {len(tally.failures)} {tally.failures[:3]} |")
    print(f"| RSS MB per worker | {rss} |")


def fire(url: str, clients: int, params: dict) -> tuple[Tally, float]:
    """`clients` concurrent uncached forecasts sent at once; the tally and when the last ended."""
    tally = Tally()
    threads = [
        threading.Thread(target=uncached_forecast, args=(url, tally), kwargs=params)
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally, time.monotonic()


def until_kronos(url: str, params: dict, cap_s: float = 120.0) -> tuple[float, int]:
    """Seconds until a new request (sent back to back) is answered by Kronos; fallbacks before."""
    start, fallbacks = time.monotonic(), 0
    while time.monotonic() - start < cap_s:
        tally = Tally()
        uncached_forecast(url, tally, **params)
        if tally.seen.get("forecast", {}).get("kronos"):
            return time.monotonic() - start, fallbacks
        fallbacks += 1
    return float("inf"), fallbacks


def burst_round(url: str, runner: psutil.Process, args: argparse.Namespace) -> dict:
    """Two bursts: the runner's busy time after the first; the next Kronos answer after the
    second, and the runner's RSS 2 s later."""
    params = {"horizon": args.horizon, "samples": args.samples}
    probe = {"horizon": 2, "samples": 1}
    tally, _ = fire(url, args.clients, params)
    busy = busy_for(runner)
    idle_rss = runner.memory_info().rss
    again, _ = fire(url, args.clients, params)
    answered, fallbacks = until_kronos(url, probe)
    time.sleep(2)
    labels = dict(tally.seen.get("forecast", {}))
    return {
        "burst answers": f"{labels} / {dict(again.seen.get('forecast', {}))}",
        "failures": len(tally.failures) + len(again.failures),
        "runner busy after burst (s)": round(busy, 1),
        "next Kronos answer after burst (s)": round(answered, 1),
        "fallbacks before it": fallbacks,
        "runner RSS idle / 2 s after (MB)": (
            f"{idle_rss / 2**20:.0f} / {runner.memory_info().rss / 2**20:.0f}"
        ),
    }


def burst(args: argparse.Namespace, env: dict[str, str], tmp: str) -> None:
    """Bursts past KRONOS_TIMEOUT on Kronos-small-sized weights; one table row per round."""
    model, tokenizer = random_checkpoint(REFERENCE, Path(tmp))
    env |= {"KRONOS_MODEL": str(model), "KRONOS_TOKENIZER": str(tokenizer)}
    env |= {"KRONOS_TIMEOUT": str(args.timeout), "KRONOS_LOOKBACK": str(args.lookback)}
    with bentoml_server(env, cwd=args.checkout, log=Path(tmp) / "server.log", timeout=300) as url:
        runner = service_workers(url, "kronos_runner")[0]
        until_kronos(url, {"horizon": 2, "samples": 1})  # warm: first compute, packed weights
        busy_for(runner, idle_s=2)
        idle_answer, idle_fallbacks = until_kronos(url, {"horizon": 2, "samples": 1})
        busy_for(runner, idle_s=2)
        baseline = runner.memory_info().rss
        rows = []
        for _ in range(args.repeat):
            rows.append(burst_round(url, runner, args))
            busy_for(runner, idle_s=2)  # quiet before the next round
    print(
        f"burst: {args.clients} clients, horizon {args.horizon}, samples {args.samples}, "
        f"KRONOS_TIMEOUT={args.timeout}, lookback {args.lookback}; "
        f"warm runner RSS {baseline / 2**20:.0f} MB; idle runner: a Kronos answer in "
        f"{idle_answer:.1f} s ({idle_fallbacks} fallbacks first)"
    )
    print_rows(rows)


def print_rows(rows: list[dict]) -> None:
    """A markdown table, one column per key, then the median of numeric columns."""
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    numeric = [k for k in keys if all(isinstance(r[k], int | float) for r in rows)]
    print("median: " + ", ".join(f"{k} {statistics.median(r[k] for r in rows):g}" for k in numeric))


def replaced_after(url: str, service: str, victim: int, count: int, cap_s: float) -> float:
    """Seconds until `service` has `count` workers again, none of them `victim`."""
    start = time.monotonic()
    while time.monotonic() - start < cap_s:
        pids = [w.pid for w in service_workers(url, service)]
        if victim not in pids and len(pids) >= count:
            return time.monotonic() - start
        time.sleep(0.2)
    return float("inf")


def longest_silence(tally: Tally, killed: float) -> tuple[float, float]:
    """(longest time without any answer from the last one before the kill on, the longest
    before the kill): answers are 200s or 4xx, by the time they ended."""
    ends = sorted(end for _, end, _, label in tally.events if not label.startswith("failed"))
    before = [t for t in ends if t <= killed]
    after = before[-1:] + [t for t in ends if t > killed]
    gaps = [b - a for a, b in itertools.pairwise(after)] or [float("inf")]
    normal = [b - a for a, b in itertools.pairwise(before)] or [0.0]
    return max(gaps), max(normal)


def first_after(tally: Tally, killed: float, kind: str, label: str, since: float) -> float:
    """Seconds from the kill until the first `kind` answer labelled `label` that was sent after
    `since` ended (inf if none)."""
    ends = [e for s, e, k, lab in tally.events if k == kind and lab == label and s > since]
    return min(ends, default=float("inf")) - killed


def runner_state(url: str, tally: Tally) -> None:
    """One /health: counts the runner state it reports (`loaded`, `unreachable`, `loading`)."""
    request("health", url + "/health", tally, {}, lambda b: b["model"]["runnerState"])


def settle(url: str, tally: Tally, cap_s: float = 90.0) -> None:
    """Keep polling /health and forecasting until both say the runner is back (`cap_s`)."""
    end = time.monotonic() + cap_s
    while time.monotonic() < end:
        runner_state(url, tally)
        uncached_forecast(url, tally, horizon=4, samples=2)
        last = sorted(tally.events, key=lambda e: e[1])[-2:]
        if [label for *_, label in last] == ["loaded", "kronos"]:
            return
        time.sleep(0.1)


def kill_once(url: str, service: str, seconds: float) -> dict:
    """Kill -9 one worker of `service` 3 s into `seconds` of load, then wait until the runner
    is back; what the clients saw."""
    tally, killed, replaced = Tally(), [], []
    workers = service_workers(url, service)

    def kill_soon() -> None:
        time.sleep(3)
        workers[0].kill()
        killed.append(time.monotonic())
        replaced.append(replaced_after(url, service, workers[0].pid, len(workers), 90))

    killer = threading.Thread(target=kill_soon)
    killer.start()
    forecasts = (lambda: uncached_forecast(url, tally, horizon=4, samples=2), 0.1, 2)
    run_for(seconds, [forecasts, (lambda: runner_state(url, tally), 0.1, 1)])
    settle(url, tally)
    killer.join()
    return kill_row(service, tally, killed[0], replaced[0])


def kill_row(service: str, tally: Tally, at: float, replaced: float) -> dict:
    """The figures of one kill at `at`: silence, errors, the runner's states until it is back."""
    failed = [lab for s, _, _, lab in tally.events if s > at and lab.startswith("failed")]
    down = [e for s, e, k, lab in tally.events if k == "health" and lab != "loaded" and s > at]
    gap, normal = longest_silence(tally, at)
    return {
        "killed": service,
        "longest silence (s)": round(gap, 2),
        "normal (s)": round(normal, 2),
        "in flight lost": sum(
            1 for s, e, _, lab in tally.events if s <= at < e and lab.startswith("failed")
        ),
        "5xx sent after": sum(1 for lab in failed if lab.startswith("failed: 5")),
        "transport errors sent after": sum(1 for lab in failed if not lab.startswith("failed: 5")),
        "worker replaced (s)": round(replaced, 1),
        "/health loading (s)": round(first_after(tally, at, "health", "loading", at), 1),
        "/health loaded again (s)": round(
            first_after(tally, at, "health", "loaded", max(down, default=at)), 1
        ),
        "Kronos again (s)": round(first_after(tally, at, "forecast", "kronos", at), 1),
    }


def kill(args: argparse.Namespace, env: dict[str, str], tmp: str) -> None:
    """Kill -9 an API worker, then the runner, `--repeat` times; one row per kill."""
    rows: dict[str, list[dict]] = {"kronos_api": [], "kronos_runner": []}
    with bentoml_server(env, cwd=args.checkout, log=Path(tmp) / "server.log") as url:
        for _ in range(args.repeat):
            for service, kills in rows.items():
                kills.append(kill_once(url, service, args.seconds))
                until_kronos(url, {"horizon": 2, "samples": 1})
    print(f"kill -9 under load ({args.seconds:g} s each, kill at 3 s), API_WORKERS default")
    for kills in rows.values():
        print_rows(kills)


def main() -> None:
    """Parse the scenario and run it in a private BENTOML_HOME."""
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["mixed", "burst", "kill"])
    parser.add_argument("--checkout", type=Path, default=Path(".").resolve())
    parser.add_argument("--seconds", type=float, default=None, help="mixed: 60, kill: 25")
    parser.add_argument("--refresh", type=float, default=0.1, help="mixed: HEALTH_REFRESH")
    parser.add_argument("--clients", type=int, default=30, help="burst")
    parser.add_argument("--timeout", type=float, default=2.0, help="burst: KRONOS_TIMEOUT")
    parser.add_argument("--horizon", type=int, default=24, help="burst")
    parser.add_argument("--samples", type=int, default=4, help="burst")
    parser.add_argument("--lookback", type=int, default=64, help="burst: KRONOS_LOOKBACK")
    parser.add_argument("--repeat", type=int, default=3, help="burst, kill")
    args = parser.parse_args()
    args.checkout = args.checkout.resolve()
    if args.seconds is None:
        args.seconds = 60.0 if args.scenario == "mixed" else 25.0
    with tempfile.TemporaryDirectory() as tmp:
        tiny = REFERENCE / "tiny-model", REFERENCE / "tiny-tokenizer"
        env = server_env(args.checkout, str(Path(tmp) / "home"), *tiny)
        {"mixed": mixed, "burst": burst, "kill": kill}[args.scenario](args, env, tmp)


if __name__ == "__main__":
    main()
