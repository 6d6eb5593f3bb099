"""HTTP load test of the churnml service on loopback: latency and throughput, bounded in time.

Phases (each runs for ``--duration`` seconds of closed-loop load):

1. ``/score`` with one customer per request at concurrency 1 and 8 (p50/p90/p99);
2. ``/score_batch`` with one customer per request at concurrency 8 (adaptive batching
   merges concurrent requests into one model call);
3. ``/score_batch`` bulk: ``--batch-size`` customers per request at concurrency 2
   (customers per second), and the same bulk through ``/score`` for comparison;
4. with ``--sustained SECONDS``: ``/score`` with one customer at concurrency 8 again, in
   consecutive ``--duration`` windows for that long, one row each, to show whether
   latency drifts under sustained load (a short run only sees the first seconds).

Customers are simulated (realistic histories: orders, events, campaign contacts,
consent flags). Without ``--url`` the script trains a model into a temporary
``$CHURNML_HOME``, starts ``bentoml serve`` on a free 127.0.0.1 port, and stops it
at the end. Every request goes to 127.0.0.1 only.

    python benchmarks/bench_http.py                     # ~2-3 minutes in all
    python benchmarks/bench_http.py --duration 20 --workers 2
    python benchmarks/bench_http.py --url http://127.0.0.1:3000 --api-key KEY
    python benchmarks/bench_http.py --duration 12 --sustained 84
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

AS_OF = "2025-01-01"
AS_OF_DATE = dt.date(2025, 1, 1)


@dataclass
class PhaseResult:
    name: str
    concurrency: int
    requests: int
    errors: int
    customers: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def customers_per_s(self) -> float:
        return self.customers / self.seconds if self.seconds else 0.0


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    k = min(len(sorted_ms) - 1, max(0, round(q * (len(sorted_ms) - 1))))
    return sorted_ms[k]


def run_phase(
    name: str,
    url: str,
    path: str,
    bodies: list[bytes],
    customers_per_body: int,
    concurrency: int,
    duration: float,
    headers: dict[str, str],
    warmup: float = 1.0,
) -> PhaseResult:
    """Closed-loop load: ``concurrency`` threads send ``bodies`` round-robin for ``duration`` s."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    start_measure = time.perf_counter() + warmup
    stop_at = start_measure + duration
    counter = iter(range(10**12))

    def worker() -> None:
        nonlocal errors
        with httpx.Client(
            base_url=url, headers={**headers, "Content-Type": "application/json"}, timeout=120
        ) as client:
            while True:
                now = time.perf_counter()
                if now >= stop_at:
                    return
                body = bodies[next(counter) % len(bodies)]
                t0 = time.perf_counter()
                try:
                    ok = client.post(path, content=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                t1 = time.perf_counter()
                if t0 >= start_measure and t1 <= stop_at:
                    with lock:
                        latencies.append((t1 - t0) * 1000)
                        errors += not ok

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=warmup + duration + 180)
    ms = sorted(latencies)
    return PhaseResult(
        name=name,
        concurrency=concurrency,
        requests=len(ms),
        errors=errors,
        customers=(len(ms) - errors) * customers_per_body,
        seconds=duration,
        p50_ms=_percentile(ms, 0.50),
        p90_ms=_percentile(ms, 0.90),
        p99_ms=_percentile(ms, 0.99),
        max_ms=ms[-1] if ms else float("nan"),
    )


def simulated_customers(n: int, seed: int) -> list[dict[str, Any]]:
    """Request entries of ``n`` simulated customers with a purchase before AS_OF."""
    import pandas as pd

    from churnml.datasets import simulate
    from churnml.serving.payload import payload_from_tables

    sim = simulate(n, seed=seed)
    before = sim.transactions[
        (sim.transactions["order_date"] < pd.Timestamp(AS_OF)) & (sim.transactions["amount"] > 0)
    ]
    ids = list(pd.unique(before["customer_id"].astype(str)))
    return payload_from_tables(
        sim.transactions, sim.customers, sim.events, sim.campaigns, customer_ids=ids
    )


def breakdown(
    model_uri: str, customers: list[dict[str, Any]], sizes: tuple[int, ...], repeats: int
) -> str:
    """Where the time of one request goes, in-process (no HTTP): a Markdown table.

    Wraps the scorer's stages with timers (the numbers include nothing the server does not
    do); best of ``repeats`` per request size. Run with ``OMP_NUM_THREADS=1`` as the server.
    """
    import gc

    import churnml.data.contract as contract
    import churnml.scoring.scorer as scorer_module
    from churnml.serving import requests as rq
    from churnml.serving.schemas import ScoreRequest
    from churnml.tracking.pyfunc import load_bundle
    from churnml.tracking.store import configure_mlflow

    configure_mlflow()
    bundle = load_bundle(model_uri)
    bundle.churn.n_jobs = 1
    scorer = scorer_module.Scorer(bundle)
    timings: dict[str, float] = {}

    def timed(label: str, fn: Any) -> Any:
        def run(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timings[label] = timings.get(label, 0.0) + time.perf_counter() - t0

        return run

    contract_fns = (
        "validate_transactions",
        "validate_customers",
        "validate_events",
        "validate_campaigns",
    )
    for name in contract_fns:
        setattr(contract, name, timed(f"contract.{name}", getattr(contract, name)))
    scorer_module.model_inputs = timed("features + LTV (model_inputs)", scorer_module.model_inputs)
    bundle.churn.predict_proba = timed("churn probability", bundle.churn.predict_proba)
    bundle.churn.reason_codes = timed("reason codes (TreeSHAP)", bundle.churn.reason_codes)
    bundle.uplift.predict = timed("uplift", bundle.uplift.predict)
    scorer.policy.decide_columns = timed(
        "policy (guardrails, control group)", scorer.policy.decide_columns
    )
    gc.collect()
    gc.freeze()  # as the server does after loading the model
    columns: dict[int, dict[str, float]] = {}
    for n in sizes:
        body = json.dumps({"as_of": AS_OF, "customers": customers[:n]})
        best: dict[str, float] | None = None
        for _ in range(repeats):
            timings.clear()
            t0 = time.perf_counter()
            request = ScoreRequest.model_validate_json(body)
            t1 = time.perf_counter()
            frames, _ = rq.request_frames(request.customers)
            t2 = time.perf_counter()
            rows = rq.score_rows(scorer, request.customers, AS_OF_DATE)
            t3 = time.perf_counter()
            rq.score_response(rows, AS_OF_DATE, "m", "1").model_dump_json()
            t4 = time.perf_counter()
            run = {
                "parse and check the JSON body (pydantic)": t1 - t0,
                "request -> tables": t2 - t1,
                **timings,
                "build the JSON response": t4 - t3,
                "total": (t1 - t0) + (t4 - t2),
            }
            if best is None or run["total"] < best["total"]:
                best = run
        assert best is not None
        columns[n] = best
    labels = [k for k in columns[sizes[0]] if k != "total"] + ["total"]
    lines = [
        "| stage | " + " | ".join(f"{n} customer(s), ms" for n in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for label in labels:
        lines.append(
            f"| {label} | "
            + " | ".join(f"{columns[n].get(label, 0.0) * 1000:,.1f}" for n in sizes)
            + " |"
        )
    return "\n".join(lines)


def start_local_server(workers: int | None, home: Path, customers: int) -> Any:
    """Train a model into ``home`` and start ``bentoml serve`` on a free loopback port."""
    os.environ["CHURNML_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"
    from churnml.config import Config
    from churnml.pipeline import train
    from churnml.serving.process import start_server
    from churnml.serving.run import serve_environment

    t0 = time.perf_counter()
    config = Config.from_dict(
        {
            "data": {"dataset": "simulated", "simulate_customers": customers},
            "time": {"as_of": AS_OF},
        }
    )
    result = train(config, show_progress=False)
    print(
        f"trained {result.model_name} version {result.version} in {time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
    )
    env = serve_environment(
        model_uri=f"models:/{result.model_name}/{result.version}", workers=workers
    )
    env.update({"MLFLOW_TRACKING_URI": result.tracking_uri, "BENTOML_HOME": str(home / "bentoml")})
    t0 = time.perf_counter()
    server = start_server(env, home / "server.log", timeout=300)
    print(f"server ready at {server.url} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running service on loopback (default: start one)")
    parser.add_argument("--api-key", default=os.environ.get("CHURNML_API_KEY"))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per phase")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="server workers when starting one (default: the service's, one per CPU)",
    )
    parser.add_argument(
        "--customers", type=int, default=1500, help="simulated customers (training and load)"
    )
    parser.add_argument("--batch-size", type=int, default=500, help="customers per bulk request")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--sustained",
        type=float,
        default=0.0,
        help="then seconds of /score (1 customer, concurrency 8) in --duration windows",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time the stages of a request in-process (needs the local model)",
    )
    args = parser.parse_args(argv)

    if args.url and urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only: --url must point at 127.0.0.1 or localhost")
    # One OpenMP thread, as in the server (set before LightGBM is first used in this process).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    tmp = tempfile.TemporaryDirectory(prefix="churnml-bench-")
    server = None
    try:
        if args.url:
            url = args.url.rstrip("/")
        else:
            server = start_local_server(args.workers, Path(tmp.name), args.customers)
            url = server.url
        customers = simulated_customers(args.customers, seed=0)
        singles = [json.dumps({"as_of": AS_OF, "customers": [c]}).encode() for c in customers]
        batch_singles = [
            json.dumps({"customers": [{**c, "as_of": AS_OF}]}).encode() for c in customers
        ]
        size = min(args.batch_size, len(customers))
        bulk = [
            json.dumps(
                {"customers": [{**c, "as_of": AS_OF} for c in customers[i : i + size]]}
            ).encode()
            for i in range(0, len(customers) - size + 1, size)
        ]
        bulk_score = [
            json.dumps({"as_of": AS_OF, "customers": customers[i : i + min(size, 1000)]}).encode()
            for i in range(0, len(customers) - size + 1, size)
        ]
        d = args.duration
        stages = None
        if args.breakdown and server is not None:
            stages = breakdown(server.env["CHURNML_MODEL_URI"], customers, (1, size), repeats=5)
        phases = [
            run_phase("/score, 1 customer", url, "/score", singles, 1, 1, d, headers),
            run_phase("/score, 1 customer", url, "/score", singles, 1, 8, d, headers),
            run_phase(
                "/score_batch, 1 customer", url, "/score_batch", batch_singles, 1, 8, d, headers
            ),
            run_phase(
                f"/score_batch, {size} customers",
                url,
                "/score_batch",
                bulk,
                size,
                2,
                d,
                headers,
                warmup=3,
            ),
            run_phase(
                f"/score, {size} customers",
                url,
                "/score",
                bulk_score,
                size,
                2,
                d,
                headers,
                warmup=3,
            ),
        ]
        for w in range(int(max(args.sustained, 0.0) // d)):
            name = f"/score, 1 customer, sustained {w * d:.0f}-{(w + 1) * d:.0f} s"
            phases.append(run_phase(name, url, "/score", singles, 1, 8, d, headers, warmup=0))
    finally:
        if server is not None:
            server.stop()
        tmp.cleanup()

    print(
        f"\nMachine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average at the end "
        f"{os.getloadavg()[0]:.1f}; {args.workers or 'one per CPU'} server worker(s); client on the same machine.\n"
    )
    print(
        "| phase | concurrency | requests | errors | req/s | customers/s | p50 ms | p90 ms | p99 ms | max ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in phases:
        print(
            f"| {p.name} | {p.concurrency} | {p.requests:,} | {p.errors} | {p.requests_per_s:,.1f} | "
            f"{p.customers_per_s:,.0f} | {p.p50_ms:,.0f} | {p.p90_ms:,.0f} | {p.p99_ms:,.0f} | {p.max_ms:,.0f} |"
        )
    if stages:
        print("\nIn-process, best of 5 (one thread):\n")
        print(stages)
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        **asdict(p),
                        "requests_per_s": p.requests_per_s,
                        "customers_per_s": p.customers_per_s,
                    }
                    for p in phases
                ],
                indent=2,
            )
        )
    return 1 if any(p.errors for p in phases) else 0


if __name__ == "__main__":
    raise SystemExit(main())
