"""Benchmark: simulated HJ 212 loggers over loopback TCP into a hub process, ack after commit.

Two phases against one `auasu serve` subprocess (the simulator runs in this process, so hub and
load generator each have a core of their own):

1. throughput: N loggers (default 200) x F factors (default 20), each sending its next frame as
   soon as the previous one is acknowledged -> sustained observations/s;
2. city load: the same loggers at one frame per minute (200 x 20 per minute, reliability.md §4.1)
   -> ack latency p50/p99, seen by the loggers and (the bucket of the p99) by the hub itself.

A figure without data behind it (a city phase too short for any ack, /metrics unreachable) is
reported as ``n/a`` (``null`` in the JSON line), never as a crash or a zero.

    python bench/ingest_hj212.py --backend sqlite|postgresql [--loggers 200] [--factors 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import describe  # noqa: E402

from adapters.base import hash_secret  # noqa: E402
from hub.ingest.simulator import SimulatedLogger, Simulator  # noqa: E402
from hub.model.registry import StationRecord  # noqa: E402
from hub.store import Store  # noqa: E402

PG_ADMIN = os.environ.get(
    "AUASU_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# Twenty air factor codes with the unit a Chinese ambient station sends them in.
AIR_FACTORS: dict[str, str] = {
    "a34004": "ug/m3",
    "a34002": "ug/m3",
    "a34001": "ug/m3",
    "a34005": "ug/m3",
    "a21026": "ug/m3",
    "a21004": "ug/m3",
    "a21003": "ug/m3",
    "a21002": "ug/m3",
    "a21005": "mg/m3",
    "a05024": "ug/m3",
    "a21028": "ug/m3",
    "a21001": "ug/m3",
    "a05001": "mg/m3",
    "a24088": "mg/m3",
    "a25002": "mg/m3",
    "a01001": "Cel",
    "a01002": "%",
    "a01006": "kPa",
    "a01007": "m/s",
    "a01008": "deg",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_database(backend: str, workdir: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}", None
    from sqlalchemy import create_engine, text

    name = f"auasu_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(name)
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE " + quoted))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS " + quoted + " WITH (FORCE)"))
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, drop


def fleet(count: int, factors: int) -> tuple[list[SimulatedLogger], list[StationRecord]]:
    codes = list(AIR_FACTORS)[:factors]
    secret = hash_secret("Bench1")
    loggers, records = [], []
    for i in range(count):
        mn = f"42454E4348{i:014X}"
        station = f"bench-{i:05d}"
        loggers.append(
            SimulatedLogger(
                station=station,
                mn=mn,
                pw="Bench1",
                st="22",
                timezone="Asia/Almaty",
                factors=tuple(codes),
                kind="air",
            )
        )
        records.append(
            StationRecord.model_validate(
                {
                    "id": station,
                    "source": "lihe-hj212",
                    "kind": "air",
                    "name": {"en": f"Bench station {i}"},
                    "lat": 51.1 + i * 1e-4,
                    "lon": 71.4,
                    "operator": "benchmark",
                    "device_id": mn,
                    "system_code": "22",
                    "secret_hash": secret,
                    "logger_timezone": "Asia/Almaty",
                    "factors": {c: {"name": c, "unit": AIR_FACTORS[c]} for c in codes},
                }
            )
        )
    return loggers, records


def wait_healthy(port: int, hub: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            raise SystemExit(f"bench: hub exited with {hub.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("bench: hub did not become healthy")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--loggers", type=int, default=200)
    parser.add_argument("--factors", type=int, default=20, choices=range(1, 21), metavar="1..20")
    parser.add_argument("--duration", type=float, default=20.0, help="throughput phase, s")
    parser.add_argument("--city-duration", type=float, default=120.0, help="city phase, s")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="auasu-bench-") as tmp:
        workdir = Path(tmp)
        url, drop = make_database(args.backend, workdir)
        try:
            loggers, records = fleet(args.loggers, args.factors)
            store = Store.open(url)
            store.import_stations(records)
            store.close()
            http_port, hj_port = free_port(), free_port()
            config = workdir / "bench.toml"
            # All simulated loggers connect from 127.0.0.1: lift the per-address cap for them.
            config.write_text(
                f"[hj212]\nmax_connections = {args.loggers + 100}\n"
                f"max_connections_per_address = {args.loggers + 100}\n"
            )
            with open(workdir / "hub.log", "wb") as hub_log:
                hub = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "hub.cli",
                        "serve",
                        "--data-dir",
                        str(workdir),
                        "--db",
                        url,
                        "--http-port",
                        str(http_port),
                        "--hj212-port",
                        str(hj_port),
                        "--config",
                        str(config),
                    ],
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=hub_log,
                    env={**os.environ, "PYTHONPATH": str(ROOT)},
                )
            try:
                wait_healthy(http_port, hub)
                report = run_phases(args, loggers, hj_port, http_port)
            finally:
                hub.terminate()
                hub.wait(60)
            total = Store.open(url)
            stored = total.observation_total()
            server = sqlite3.sqlite_version
            if args.backend == "postgresql":
                with total.connect() as conn:
                    server = str(conn.exec_driver_sql("SHOW server_version").scalar())
            total.close()
        finally:
            if drop is not None:
                drop()
    versions = f"{'SQLite' if args.backend == 'sqlite' else 'PostgreSQL'} {server}"
    print(f"machine: {describe()}")
    print(
        f"backend: {args.backend} ({versions}); loggers {args.loggers} x {args.factors} "
        "factors; ack after durable commit"
    )
    t = report["throughput"]
    print(
        f"throughput: {_figure(t['obs_per_s'], ',.0f')} observations/s sustained "
        f"({_figure(t['frames_per_s'], ',.0f')} frames/s over {t['elapsed_s']:.1f} s; "
        f"ack p50 {_figure(t['p50_ms'], '.1f', ' ms')}, p99 {_figure(t['p99_ms'], '.1f', ' ms')})"
    )
    c = report["city"]
    print(
        f"city load ({args.loggers} x {args.factors}/min): ack latency "
        f"p50 {_figure(c['p50_ms'], '.1f', ' ms')}, p99 {_figure(c['p99_ms'], '.1f', ' ms')} "
        f"over {c['frames']} frames; given up {c['given_up']}"
    )
    bucket = report.get("hub_p99_bucket")
    print(
        f"store: {stored:,} observations; hub-side city ack latency p99 bucket "
        + (f"<= {bucket}" if bucket else "n/a")
    )
    print(json.dumps({"backend": args.backend, **report}))
    return 0


def run_phases(
    args: argparse.Namespace, loggers: list[SimulatedLogger], hj_port: int, http_port: int
) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    # Warm-up (not measured): first frames create every datastream and fill the caches.
    warm = Simulator(
        "127.0.0.1",
        hj_port,
        loggers,
        rate_per_minute=60,
        duration_s=3,
        ack_timeout_s=60,
        start_time=now - timedelta(days=4),
    )
    asyncio.run(warm.run())
    fast = Simulator(
        "127.0.0.1",
        hj_port,
        loggers,
        rate_per_minute=60_000,
        duration_s=args.duration,
        ack_timeout_s=30,
        start_time=now - timedelta(days=3),
    )
    stats = asyncio.run(fast.run())
    rate = stats.frames_acked / stats.elapsed_s if stats.elapsed_s > 0 else None
    throughput = {
        "frames_per_s": rate,
        "obs_per_s": rate * args.factors if rate is not None else None,
        "elapsed_s": stats.elapsed_s,
        "acked": stats.frames_acked,
        "given_up": stats.frames_given_up,
        "p50_ms": _ms(stats.p50_s),
        "p99_ms": _ms(stats.p99_s),
    }
    before_city = ack_latency_buckets(http_port)
    city = Simulator(
        "127.0.0.1",
        hj_port,
        loggers,
        rate_per_minute=1.0,
        duration_s=args.city_duration,
        ack_timeout_s=15,
        start_time=now - timedelta(days=1),
    )
    cstats = asyncio.run(city.run())
    city_report = {
        "frames": cstats.frames_acked,
        "given_up": cstats.frames_given_up,
        "p50_ms": _ms(cstats.p50_s),
        "p99_ms": _ms(cstats.p99_s),
    }
    return {
        "throughput": throughput,
        "city": city_report,
        # Of the city phase alone: the hub's histogram minus what the earlier phases left in it.
        "hub_p99_bucket": quantile_bucket(before_city, ack_latency_buckets(http_port), 0.99),
    }


Buckets = list[tuple[str, float]]


def ack_latency_buckets(port: int) -> Buckets | None:
    """The hub's cumulative ack-latency histogram from /metrics, as (le, count) per bucket in
    order; None when it cannot be read."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            lines = resp.read().decode("utf-8", "replace").splitlines()
    except (OSError, ValueError) as exc:
        print(f"bench: hub metrics not read: {exc}", file=sys.stderr)
        return None
    buckets: Buckets = []
    for line in lines:
        if not line.startswith("auasu_ack_latency_seconds_bucket{"):
            continue
        try:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((le, float(line.rsplit(" ", 1)[1])))
        except (IndexError, ValueError):
            continue
    return buckets or None


def quantile_bucket(before: Buckets | None, after: Buckets | None, quantile: float) -> str | None:
    """The smallest bucket holding ``quantile`` of the acks counted between the two snapshots
    (``before`` None: all of ``after``); None when there were none, or no snapshot."""
    if after is None:
        return None
    earlier = dict(before or [])
    counts = [(le, count - earlier.get(le, 0.0)) for le, count in after]
    total = counts[-1][1]
    if total <= 0:
        return None
    for le, cumulative in counts:
        if cumulative / total >= quantile:
            return "+Inf" if le == "+Inf" else f"{le} s"
    return "+Inf"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _figure(value: float | None, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


if __name__ == "__main__":
    sys.exit(main())
