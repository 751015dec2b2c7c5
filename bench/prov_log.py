"""Benchmark: proofs from the hub's stored provenance log at 1 million entries (issue 5).

Builds a log of --entries (default 1,000,000) leaves of --leaf-bytes (default 1,200, about a
signed record's DSSE envelope) through the log's own bulk append
(:meth:`hub.provenance.log.StoredLog.append_many`: leaf hashes and every completed subtree hash
computed in Python, inserted --chunk entries per transaction), then measures with one
connection, after a warm-up:

(a) inclusion proof of a random entry in a tree of random size, plus its verification
    (merkle.verify_inclusion against that size's root)                     goal p95 <= 5 ms
(b) consistency proof between two random sizes, plus its verification       goal p95 <= 5 ms
(c) the root of a random size (what a checkpoint needs), for reference

Roots and leaf hashes the verifier already holds (from checkpoints and the records) are read
before the clock starts. The database stays (SQLite: <data-dir>/prov_log.sqlite3; PostgreSQL:
database auasu_bench_prov) so that --reuse skips the build when it holds a log of this size.

    python bench/prov_log.py --backend sqlite|postgresql [--entries 1000000] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from statistics import quantiles
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import describe  # noqa: E402

from hub.provenance import merkle  # noqa: E402
from hub.provenance.log import StoredLog  # noqa: E402
from hub.store import Store  # noqa: E402

PG_ADMIN = os.environ.get(
    "AUASU_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_DATABASE = "auasu_bench_prov"
DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "auasu-bench"
GOAL_MS = 5.0
LOG = StoredLog()


def database_url(backend: str, data_dir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{data_dir / 'prov_log.sqlite3'}"
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_DATABASE


def pg_admin(statement: str, **params: str) -> Any:
    """Run one statement on the maintenance database (autocommit); its first row."""
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            result = conn.execute(text(statement), params)
            return result.first() if result.returns_rows else None
    finally:
        admin.dispose()


def database_exists(backend: str, data_dir: Path) -> bool:
    if backend == "sqlite":
        return (data_dir / "prov_log.sqlite3").is_file()
    return pg_admin("SELECT 1 FROM pg_database WHERE datname = :name", name=PG_DATABASE) is not None


def fresh_database(backend: str, data_dir: Path) -> None:
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            (data_dir / f"prov_log.sqlite3{suffix}").unlink(missing_ok=True)
        return
    # A constant name, not input: the one identifier that cannot be a bound parameter.
    pg_admin("DROP DATABASE IF EXISTS " + PG_DATABASE + " WITH (FORCE)")
    pg_admin("CREATE DATABASE " + PG_DATABASE)


def make_leaf(index: int, filler: bytes, size: int) -> bytes:
    """A distinct leaf of about ``size`` bytes (they matter only through their hash)."""
    start = index % 997
    return b'{"payload":"%d:' % index + filler[start : start + size - 24] + b'"}'


def build(store: Store, entries: int, chunk: int, leaf_bytes: int) -> dict[str, Any]:
    """Append ``entries`` leaves in transactions of ``chunk``; the build's figures."""
    filler = os.urandom(leaf_bytes + 1000).hex().encode()
    writer = store.engine.execution_options(sqlite_immediate=True)
    now = datetime.now(UTC)
    started = time.perf_counter()
    done = 0
    while done < entries:
        count = min(chunk, entries - done)
        items = [
            (make_leaf(i, filler, leaf_bytes), str(uuid.UUID(int=i + 1)))
            for i in range(done, done + count)
        ]
        with writer.begin() as conn:
            LOG.append_many(conn, LOG.reserve(conn), items, now=now)
        done += count
        if done % (entries // 10 or 1) < chunk:
            print(f"bench: {done:,} / {entries:,} entries appended", file=sys.stderr)
    wall = time.perf_counter() - started
    return {
        "entries": entries,
        "chunk": chunk,
        "leaf_bytes": leaf_bytes,
        "wall_s": wall,
        "entries_per_s": entries / wall,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def prepare(args: argparse.Namespace) -> tuple[Store, dict[str, Any]]:
    args.data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url(args.backend, args.data_dir)
    sidecar = args.data_dir / f"prov_log-{args.backend}.json"
    if args.reuse and database_exists(args.backend, args.data_dir) and sidecar.is_file():
        store = Store.open(url)
        with store.connect() as conn:
            held = LOG.size(conn)
        kept = json.loads(sidecar.read_text())
        if held == args.entries and kept.get("leaf_bytes") == args.leaf_bytes:
            return store, {**kept, "reused": True}
        store.close()
        print("bench: the log holds another build: building afresh", file=sys.stderr)
    fresh_database(args.backend, args.data_dir)
    sidecar.unlink(missing_ok=True)
    store = Store.open(url)
    figures = build(store, args.entries, args.chunk, args.leaf_bytes)
    if args.backend == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    sidecar.write_text(json.dumps(figures, indent=1))
    return store, {**figures, "reused": False}


def percentile(values: list[float], q: int) -> float:
    return quantiles(sorted(values), n=100, method="inclusive")[q - 1]


def timed(calls: list[Callable[[], object]]) -> list[float]:
    """Each call's latency in ms."""
    latencies = []
    for call in calls:
        started = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def measure(store: Store, samples: int, seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    with store.connect() as conn:
        n = LOG.size(conn)
        inclusion = []
        for _ in range(samples):
            size = rng.randint(1, n)
            index = rng.randrange(size)
            inclusion.append((index, size, LOG.leaf_hash(conn, index), LOG.root(conn, size)))
        consistency = []
        for _ in range(samples):
            old = rng.randint(1, n)
            new = rng.randint(old, n)
            consistency.append((old, new, LOG.root(conn, old), LOG.root(conn, new)))
        sizes = [rng.randint(1, n) for _ in range(samples)]

        def prove_inclusion(index: int, size: int, leaf: bytes, root: bytes) -> None:
            proof = LOG.inclusion_proof(conn, index, size)
            merkle.verify_inclusion(leaf, index, size, proof, root)

        def prove_consistency(old: int, new: int, old_root: bytes, new_root: bytes) -> None:
            proof = LOG.consistency_proof(conn, old, new)
            merkle.verify_consistency(old, new, old_root, new_root, proof)

        for case in inclusion[:100]:  # warm-up: statement caches, first pages
            prove_inclusion(*case)
        return {
            "inclusion": timed([partial(prove_inclusion, *case) for case in inclusion]),
            "consistency": timed([partial(prove_consistency, *case) for case in consistency]),
            "root": timed([partial(LOG.root, conn, size) for size in sizes]),
        }


def server_version(store: Store) -> str:
    if store.backend == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    with store.connect() as conn:
        return f"PostgreSQL {conn.exec_driver_sql('SHOW server_version').scalar_one()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--leaf-bytes", type=int, default=1200)
    parser.add_argument("--chunk", type=int, default=20_000, help="entries per transaction")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=212)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--reuse", action="store_true", help="skip the build if the log is there")
    args = parser.parse_args()

    store, load = prepare(args)
    try:
        results = measure(store, args.samples, args.seed)
        versions = server_version(store)
    finally:
        store.close()
    print(f"machine: {describe()}")
    print(f"backend: {args.backend} ({versions})")
    reused = f"reused the build of {load['built_at']}: " if load["reused"] else ""
    print(
        f"build: {reused}{load['entries']:,} entries of ~{load['leaf_bytes']} bytes in "
        f"{load['wall_s']:.1f} s ({load['entries_per_s']:,.0f} entries/s; StoredLog.append_many, "
        f"{load['chunk']:,} entries per transaction)"
    )
    summary: dict[str, Any] = {"backend": args.backend, "build": load}
    labels = {
        "inclusion": "(a) inclusion proof + verify",
        "consistency": "(b) consistency proof + verify",
        "root": "(c) root of a random size",
    }
    for name, label in labels.items():
        values = results[name]
        p50, p95 = percentile(values, 50), percentile(values, 95)
        goal = "" if name == "root" else f"  goal p95 <= {GOAL_MS:.0f} ms: "
        goal += "" if name == "root" else ("PASS" if p95 <= GOAL_MS else "MISS")
        print(f"{label}: p50 {p50:.2f} ms, p95 {p95:.2f} ms (n={len(values)}){goal}")
        summary[name] = {"n": len(values), "p50_ms": p50, "p95_ms": p95}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
