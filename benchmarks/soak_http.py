"""Soak test of the HTTP service on loopback: does anything grow under steady load?

Closed-loop load from ``--concurrency`` threads for ``--duration`` seconds (10 minutes by
default) with a mix of endpoints and valid/invalid bodies:

- 55% ``/score`` with one customer, 15% ``/score_batch`` with one customer,
  10% ``/next_best_action``, 10% invalid bodies (a non-numeric amount, broken JSON),
  10% ``GET /customers/{id}`` of an unknown customer.

Every ``--every`` seconds it prints the resident memory (RSS) of the server's whole
process tree, the requests, 4xx and 5xx answers, and p50/p99 latency of that window;
at the end the RSS of the last window against the one at minute 2, and the 5xx total.
``--plot`` draws the RSS curve to a PNG. Without ``--url`` it trains a model and starts
its own ``bentoml serve`` on a free 127.0.0.1 port (as bench_http.py does). Every
request goes to 127.0.0.1 only, and the loop stops by itself.

    python benchmarks/soak_http.py                      # 10 minutes
    python benchmarks/soak_http.py --duration 120 --every 10 --plot docs/soak_http.png
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_http import AS_OF, simulated_customers, start_local_server


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    root = psutil.Process(pid)
    total = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / 1e6


@dataclass
class Window:
    """What the load threads saw since the last report."""

    latencies_ms: list[float] = field(default_factory=list)
    client_errors: int = 0
    server_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> tuple[list[float], int, int]:
        with self.lock:
            out = (self.latencies_ms, self.client_errors, self.server_errors)
            self.latencies_ms, self.client_errors, self.server_errors = [], 0, 0
        return out


def requests_mix(customers: list[dict[str, Any]]) -> list[tuple[str, str, Any, int]]:
    """(weight-expanded) list of (method, path, body, expected status class) to draw from."""
    one = [{"as_of": AS_OF, "customers": [c]} for c in customers[:200]]
    mix: list[tuple[str, str, Any, int]] = []
    for body in one[:55]:
        mix.append(("POST", "/score", body, 2))
    for c in customers[:15]:
        mix.append(("POST", "/score_batch", {"customers": [{**c, "as_of": AS_OF}]}, 2))
    for body in one[55:65]:
        mix.append(("POST", "/next_best_action", body, 2))
    bad_amount = {"as_of": AS_OF, "customers": [{"customer_id": "X", "orders": [{"order_date": "2024-01-01", "amount": "ten"}]}]}  # fmt: skip
    mix += [("POST", "/score", bad_amount, 4)] * 5 + [("POST", "/score", b"{broken", 4)] * 5
    mix += [("GET", f"/customers/unknown-{i}", None, 4) for i in range(10)]
    return mix


def load(
    url: str, headers: dict[str, str], mix: list[Any], window: Window, stop: float, seed: int
) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        while time.monotonic() < stop:
            method, path, body, _ = rng.choice(mix)
            t0 = time.perf_counter()
            if isinstance(body, bytes):
                r = client.request(method, path, content=body, headers={"Content-Type": "application/json"})  # fmt: skip
            else:
                r = client.request(method, path, json=body)
            ms = (time.perf_counter() - t0) * 1e3
            with window.lock:
                window.latencies_ms.append(ms)
                if 400 <= r.status_code < 500:
                    window.client_errors += 1
                elif r.status_code >= 500:
                    window.server_errors += 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--url", help="a running service on loopback (default: start one)")
    parser.add_argument("--pid", type=int, help="its server process id (with --url)")
    parser.add_argument("--api-key", default=os.environ.get("CHURNML_API_KEY"))
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between reports")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--customers", type=int, default=1500)
    parser.add_argument("--plot", type=Path, help="write the RSS curve to this PNG")
    parser.add_argument("--json", type=Path, help="write the windows as JSON")
    args = parser.parse_args(argv)
    if args.duration > 3600:
        parser.error("--duration is capped at one hour")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    server = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.url:
            if not args.pid:
                parser.error("--url needs --pid (the server's process, for its memory)")
            url, pid = args.url, args.pid
        else:
            server = start_local_server(None, Path(tmp), args.customers)
            url, pid = server.url, server.process.pid
        try:
            customers = simulated_customers(args.customers, seed=99)
            mix = requests_mix(customers)
            headers = {"X-API-Key": args.api_key} if args.api_key else {}
            window = Window()
            start = time.monotonic()
            stop = start + args.duration
            threads = [
                threading.Thread(
                    target=load, args=(url, headers, mix, window, stop, i), daemon=True
                )
                for i in range(args.concurrency)
            ]
            for t in threads:
                t.start()
            rows: list[dict[str, float]] = []
            print(f"{'minute':>6} {'RSS MB':>8} {'requests':>9} {'4xx':>6} {'5xx':>5} {'p50 ms':>7} {'p99 ms':>7}")  # fmt: skip
            while time.monotonic() < stop:
                time.sleep(min(args.every, max(0.0, stop - time.monotonic())))
                latencies, client_errors, server_errors = window.take()
                row = {
                    "minute": (time.monotonic() - start) / 60,
                    "rss_mb": tree_rss_mb(pid),
                    "requests": len(latencies),
                    "client_errors": client_errors,
                    "server_errors": server_errors,
                    "p50_ms": percentile(latencies, 0.5),
                    "p99_ms": percentile(latencies, 0.99),
                }
                rows.append(row)
                print(
                    f"{row['minute']:6.1f} {row['rss_mb']:8.0f} {row['requests']:9d} "
                    f"{client_errors:6d} {server_errors:5d} {row['p50_ms']:7.1f} {row['p99_ms']:7.1f}",
                    flush=True,
                )
            for t in threads:
                t.join()
        finally:
            if server is not None:
                server.stop()
    at_two = min(rows, key=lambda r: abs(r["minute"] - 2.0))
    last = rows[-1]
    total_5xx = sum(int(r["server_errors"]) for r in rows)
    print(
        f"RSS {at_two['rss_mb']:.0f} MB at minute {at_two['minute']:.1f} -> {last['rss_mb']:.0f} MB "
        f"at minute {last['minute']:.1f} ({last['rss_mb'] / at_two['rss_mb'] - 1:+.1%}); "
        f"{sum(int(r['requests']) for r in rows):,} requests, {total_5xx} 5xx"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot([r["minute"] for r in rows], [r["rss_mb"] for r in rows], marker="o")
        ax.set_xlabel("minute of load")
        ax.set_ylabel("server RSS (MB, whole tree)")
        ax.set_title(f"churnml service under {args.concurrency}-way mixed load")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
    return 1 if total_5xx else 0


if __name__ == "__main__":
    raise SystemExit(main())
