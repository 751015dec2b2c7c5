"""Benchmark: SensorThings reads over 10 million observations (issue 3, "Performance").

Loads 200 stations x 20 observed properties = 4,000 datastreams with 10 million observations (one
every 20 minutes per datastream, ending now) through the store's bulk path (hub/store/bulk.py),
starts `auasu serve` over that database, and measures over real HTTP with one keep-alive session:

(a) Datastreams(id)/Observations?$top=100&$orderby=phenomenonTime desc     goal p95 <= 20 ms
(b) the same with a one-day phenomenonTime window in $filter                goal p95 <= 20 ms
(c) the latest-values map query for all stations (nested $expand)          goal p95 <= 200 ms
(d) paging 1 million observations through @iot.nextLink ($top=10000)     goal >= 20,000 obs/s
    and page 10,000 ($top=100) against page 1 (p50s)                      goal ratio <= 1.5
(e) Observations?$count=true&$top=1                                         goal p95 <= 1 s

Latencies are to the last byte of the response, random datastreams and days, after a warm-up.
By default (--cache warm) the database files are read once first, so the OS page cache holds
them as it would on a serving machine; the run prints how much was resident before and after
(--cache as-is measures whatever the cache holds: after a reboot, cold disk seeks).
The database stays (SQLite: <data-dir>/sta_query.sqlite3; PostgreSQL: database auasu_bench) so
that --reuse can skip the load when it holds exactly this data; --load-only loads and stops.
A case the hub answers with 501 is reported as not supported instead of failing the run.

    python bench/sta_query.py --backend sqlite|postgresql [--observations 10000000] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import quantiles
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import describe  # noqa: E402

from hub.store import Store  # noqa: E402
from hub.store.bulk import bulk_load, loaded_data  # noqa: E402
from hub.store.schema import datastreams  # noqa: E402

PG_ADMIN = os.environ.get(
    "AUASU_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_DATABASE = "auasu_bench"
DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "auasu-bench"
Check = Callable[[Any], str | None]  # None when a JSON answer is right, else what is wrong


@dataclass
class Case:
    """One measured request pattern: its latencies, or why it could not be measured."""

    label: str
    goal_ms: float
    status: str = "ok"  # ok | not supported (501) | error: ... | wrong answer: ...
    latencies_ms: list[float] = field(default_factory=list)
    note: str = ""

    def percentile(self, q: int) -> float | None:
        values = sorted(self.latencies_ms)
        if len(values) < 2:
            return values[0] if values else None
        return quantiles(values, n=100, method="inclusive")[q - 1]

    def line(self) -> str:
        p50, p95 = self.percentile(50), self.percentile(95)
        text = self.status
        if p50 is not None and p95 is not None:
            text = f"p50 {p50:.1f} ms, p95 {p95:.1f} ms (n={len(self.latencies_ms)})"
            text += "" if self.status == "ok" else f"; {self.status}"
        text += f"; {self.note}" if self.note else ""
        passed = self.status == "ok" and p95 is not None and p95 <= self.goal_ms
        return f"{self.label}: {text}  goal p95 <= {self.goal_ms:,.0f} ms: {verdict(passed)}"

    def summary(self) -> dict[str, Any]:
        p50, p95 = self.percentile(50), self.percentile(95)
        return {"status": self.status, "n": len(self.latencies_ms), "p50_ms": p50, "p95_ms": p95}


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


# --- database -------------------------------------------------------------------------------------


def database_url(backend: str, data_dir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{data_dir / 'sta_query.sqlite3'}"
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


def fresh_database(backend: str, data_dir: Path) -> None:
    """Remove the bench database (if any) and, on PostgreSQL, create it empty."""
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            (data_dir / f"sta_query.sqlite3{suffix}").unlink(missing_ok=True)
        return
    # A constant name, not input: the one identifier that cannot be a bound parameter.
    pg_admin("DROP DATABASE IF EXISTS " + PG_DATABASE + " WITH (FORCE)")
    pg_admin("CREATE DATABASE " + PG_DATABASE)


def database_exists(backend: str, data_dir: Path) -> bool:
    if backend == "sqlite":
        return (data_dir / "sta_query.sqlite3").is_file()
    found = pg_admin("SELECT 1 FROM pg_database WHERE datname = :name", name=PG_DATABASE)
    return found is not None


def reusable(store: Store, args: argparse.Namespace) -> bool:
    """Whether the database holds exactly what this run would load."""
    held = loaded_data(store)
    streams = args.stations * args.properties
    return (held.things, held.datastreams, held.observations) == (
        args.stations,
        streams,
        args.observations // streams * streams,
    ) and held.bulk_frames > 0


def database_size(store: Store, url: str) -> str:
    if store.backend == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        return f"{size / 2**30:.2f} GiB (SQLite file and WAL)"
    with store.connect() as conn:
        total = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
        table = conn.exec_driver_sql("SELECT pg_total_relation_size('observations')").scalar_one()
    return f"{total / 2**30:.2f} GiB (observations with indexes {table / 2**30:.2f} GiB)"


def database_files(store: Store, url: str) -> list[Path]:
    """The files holding the database: the SQLite file and its WAL, or PostgreSQL's files of
    the observations table and its indexes (every 1 GiB segment)."""
    if store.backend == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        return sorted(path.parent.glob(path.name + "*"))
    with store.connect() as conn:
        root = Path(conn.exec_driver_sql("SHOW data_directory").scalar_one())
        relations = conn.exec_driver_sql(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c WHERE c.oid = "
            "'observations'::regclass OR c.oid IN (SELECT indexrelid FROM pg_index "
            "WHERE indrelid = 'observations'::regclass)"
        ).scalars()
        bases = [root / rel for rel in relations]
    return sorted(p for base in bases for p in base.parent.glob(base.name + "*"))


def cache_residency(files: list[Path]) -> str:
    """How much of ``files`` the OS page cache holds (util-linux ``fincore``), as text."""
    files = [path for path in files if path.exists()]  # a WAL goes with its last connection
    try:
        out = subprocess.run(
            [
                "fincore",
                "--bytes",
                "--noheadings",
                "--raw",
                "--output",
                "RES,SIZE",
                *map(str, files),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc.__class__.__name__})"
    resident = total = 0
    for line in out.splitlines():
        res, size = line.split()
        resident, total = resident + int(res), total + int(size)
    share = resident / total if total else 0.0
    return f"{share:.0%} of {total / 2**30:.2f} GiB resident in the OS page cache"


def warm_files(files: list[Path]) -> None:
    """Read ``files`` once so that the OS caches them, as a serving machine's would be."""
    for path in files:
        if not path.exists():
            continue
        with path.open("rb") as handle:
            while handle.read(1 << 24):
                pass


def server_version(store: Store) -> str:
    if store.backend == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    with store.connect() as conn:
        return f"PostgreSQL {conn.exec_driver_sql('SHOW server_version').scalar_one()}"


def prepare(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The database URL and the load's figures (this run's, or those kept from the reused one)."""
    args.data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url(args.backend, args.data_dir)
    sidecar = args.data_dir / f"sta_query-{args.backend}.json"
    if args.reuse and database_exists(args.backend, args.data_dir) and sidecar.is_file():
        store = Store.open(url)
        try:
            if reusable(store, args):
                return url, {**json.loads(sidecar.read_text()), "reused": True}
        finally:
            store.close()
        print("bench: the database does not hold this data set: loading afresh", file=sys.stderr)
    fresh_database(args.backend, args.data_dir)
    sidecar.unlink(missing_ok=True)
    shown = [-1]

    def progress(done: int, total: int) -> None:
        if done * 10 // total > shown[0]:
            shown[0] = done * 10 // total
            print(f"bench: {done:,} / {total:,} observations loaded", file=sys.stderr)

    store = Store.open(url)
    try:
        started = time.perf_counter()
        report = bulk_load(
            store,
            stations=args.stations,
            properties=args.properties,
            observations_total=args.observations,
            indexes=args.indexes,
            progress=progress,
        )
        wall = time.perf_counter() - started
    finally:
        store.close()
    figures = asdict(report) | {
        "first": report.first.isoformat(),
        "last": report.last.isoformat(),
        "cadence": report.cadence.total_seconds(),
        "rows_per_s": report.rows_per_s,
        "wall_s": wall,
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    sidecar.write_text(json.dumps(figures, indent=1))
    return url, {**figures, "reused": False}


# --- hub ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_hub(url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`auasu serve` over ``url`` on free ports, once it answers /healthz."""
    port = free_port()
    command = ["serve", "--data-dir", str(workdir), "--db", url, "--http-port", str(port)]
    with open(workdir / "hub.log", "wb") as log:
        hub = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", *command, "--hj212-port", str(free_port())],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
            # One client address sending hundreds of requests a second: no rate limits.
            env={**os.environ, "PYTHONPATH": str(ROOT), "AUASU_RATE_LIMITS": "off"},
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            tail = (workdir / "hub.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"bench: hub exited with {hub.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return hub, port
        except OSError:
            time.sleep(0.2)
    hub.terminate()
    raise SystemExit("bench: hub did not become healthy")


# --- measuring ------------------------------------------------------------------------------------


def timed_get(session: requests.Session, url: str) -> tuple[requests.Response, float]:
    """GET ``url``: the response and its latency to the last byte, in ms."""
    started = time.perf_counter()
    response = session.get(url, timeout=300)
    _ = response.content
    return response, (time.perf_counter() - started) * 1000


def refusal(response: requests.Response) -> str:
    if response.status_code == 501:
        return "not supported (501)"
    try:
        message = str(response.json().get("message", ""))
    except ValueError:
        message = response.text[:200]
    return f"error: HTTP {response.status_code} {message}".strip()


def url_of(base: str, path: str, params: dict[str, str]) -> str:
    return f"{base}/{path}?" + urlencode(params, safe="$'(),/:;=")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def measure(
    session: requests.Session,
    case: Case,
    next_request: Callable[[], tuple[str, Check]],
    args: argparse.Namespace,
    count: int,
) -> Case:
    """Warm up, then time ``count`` requests (fewer if the case's time budget runs out)."""
    print(f"bench: measuring {case.label}", file=sys.stderr)
    deadline = float("inf")
    for index in range(args.warmup + count):
        url, check = next_request()
        response, ms = timed_get(session, url)
        if response.status_code != 200:
            case.status = refusal(response)
            break
        problem = check(response.json())
        if problem is not None:
            case.status = f"wrong answer: {problem}"
            break
        if index == args.warmup:
            deadline = time.monotonic() + args.budget
        if index >= args.warmup:
            case.latencies_ms.append(ms)
            if time.monotonic() > deadline:
                case.note = f"stopped after the {args.budget:.0f} s budget"
                break
    return case


def newest_first(expected: int) -> Check:
    def check(body: Any) -> str | None:
        times = [o["phenomenonTime"] for o in body["value"]]
        if len(times) != expected:
            return f"{len(times)} observations, expected {expected}"
        return None if times == sorted(times, reverse=True) else "not newest first"

    return check


def latest_map(stations: int, properties: int, last: str) -> Check:
    def check(body: Any) -> str | None:
        if len(body["value"]) != stations:
            return f"{len(body['value'])} Things, expected {stations}"
        for thing in body["value"]:
            streams = thing.get("Datastreams")
            if not isinstance(streams, list) or len(streams) != properties:
                return f"Thing {thing.get('@iot.id')}: Datastreams not expanded in full"
            for stream in streams:
                newest = stream.get("Observations")
                if not isinstance(newest, list) or len(newest) != 1:
                    return f"Datastream {stream.get('@iot.id')}: not one newest Observation"
                if newest[0].get("phenomenonTime") != last:
                    return f"Datastream {stream.get('@iot.id')}: newest is not at {last}"
        return None

    return check


def one_counted(body: Any) -> str | None:
    return None if "@iot.count" in body and len(body["value"]) == 1 else "no count or not 1 row"


def run_cases(
    base: str, streams: list[int], data: dict[str, Any], args: argparse.Namespace
) -> tuple[list[Case], dict[str, Any]]:
    session = requests.Session()  # keep-alive: one connection for every request
    rng = random.Random(7)
    first, last = datetime.fromisoformat(data["first"]), datetime.fromisoformat(data["last"])
    cadence, day = timedelta(seconds=data["cadence"]), timedelta(days=1)
    per_stream = data["observations"] // data["datastreams"]
    newest = {"$top": "100", "$orderby": "phenomenonTime desc"}

    def recent() -> tuple[str, Check]:
        path = f"Datastreams({rng.choice(streams)})/Observations"
        return url_of(base, path, newest), newest_first(min(100, per_stream))

    def one_day() -> tuple[str, Check]:
        start = first + cadence * rng.randrange(max(1, (last - first - day) // cadence))
        window = f"phenomenonTime ge {iso(start)} and phenomenonTime lt {iso(start + day)}"
        path = f"Datastreams({rng.choice(streams)})/Observations"
        expected = min(100, day // cadence, per_stream)
        return url_of(base, path, newest | {"$filter": window}), newest_first(expected)

    def map_query() -> tuple[str, Check]:
        expand = "Datastreams($expand=Observations($top=1;$orderby=phenomenonTime desc))"
        params = {"$top": str(args.stations), "$expand": expand}
        check = latest_map(args.stations, args.properties, iso(last))
        return url_of(base, "Things", params), check

    def count() -> tuple[str, Check]:
        return url_of(base, "Observations", {"$count": "true", "$top": "1"}), one_counted

    planned = [
        (Case("(a) Datastreams(id)/Observations, newest 100", 20), recent),
        (Case("(b) the same, one-day phenomenonTime $filter", 20), one_day),
        (Case(f"(c) latest values of all {args.stations} stations ($expand)", 200), map_query),
    ]
    cases = [measure(session, case, make, args, args.requests) for case, make in planned]
    paged = paging(session, base, args)
    counted = measure(session, Case("(e) Observations?$count=true&$top=1", 1000), count, args, 20)
    if counted.status == "ok":
        value = session.get(count()[0], timeout=300).json()["@iot.count"]
        off = abs(value / data["observations"] - 1)
        counted.note = "exact count" if off == 0 else f"estimate {value:,} ({off:.3%} off)"
    return [*cases, counted], paged


def paging(session: requests.Session, base: str, args: argparse.Namespace) -> dict[str, Any]:
    """(d): follow nextLinks over ``--page-observations`` rows; then page 1 vs the deep page."""
    print("bench: measuring (d) paging", file=sys.stderr)
    order = args.page_order
    url: str | None = url_of(base, "Observations", {"$top": "10000", "$orderby": order})
    result: dict[str, Any] = {"order": order, "status": "ok"}
    ids: set[int] = set()
    pages, seen, server_ms, link = 0, 0, 0.0, ""
    started = time.perf_counter()
    while url is not None and seen < args.page_observations:
        response, ms = timed_get(session, url)
        if response.status_code != 200:
            return result | {"status": refusal(response)}
        body = response.json()
        ids.update(o["@iot.id"] for o in body["value"])
        seen += len(body["value"])
        pages, server_ms = pages + 1, server_ms + ms
        url = body.get("@iot.nextLink")
        link = url or link
    if len(ids) != seen or seen < args.page_observations:
        result["status"] = f"wrong answer: {seen:,} rows, {len(ids):,} distinct"
    result |= {
        "pages": pages,
        "observations": seen,
        "obs_per_s": seen / max(server_ms / 1000, 1e-9),
        "obs_per_s_wall": seen / (time.perf_counter() - started),
    }
    skip = dict(parse_qsl(urlsplit(link).query)).get("$skip", "")
    result["next_link"] = "offset ($skip)" if skip.isdigit() else "opaque (no $skip)"
    page_one = url_of(base, "Observations", {"$top": "100", "$orderby": order})
    deep = args.deep_page
    deep_url: str | None = page_one
    if skip.isdigit():  # an offset nextLink: page N is exactly $skip=(N-1)*100
        deep_url = url_of(
            base, "Observations", {"$top": "100", "$orderby": order, "$skip": str((deep - 1) * 100)}
        )
        result["deep_by"] = f"$skip={(deep - 1) * 100}, what its nextLink would say"
    else:
        result["deep_by"] = f"following {deep - 1:,} nextLinks"
        deadline = time.monotonic() + 5 * args.budget
        for page in range(1, deep):
            response = session.get(deep_url or "", timeout=300)
            deep_url = response.json().get("@iot.nextLink") if response.ok else None
            if deep_url is None or time.monotonic() > deadline:
                return result | {"deep_by": f"following nextLinks: stopped at page {page}"}
    assert deep_url is not None
    first, far = Case("page 1", 0), Case(f"page {deep}", 0)
    for index in range(3 + args.deep_repeats):
        for case, target in ((first, page_one), (far, deep_url)):
            response, ms = timed_get(session, target)
            if response.status_code != 200:
                return result | {"status": refusal(response)}
            if index >= 3:  # the first three of each are warm-up
                case.latencies_ms.append(ms)
    p50_first, p50_far = first.percentile(50) or 1e-9, far.percentile(50) or 0.0
    return result | {"page1_ms": p50_first, "deep_ms": p50_far, "ratio": p50_far / p50_first}


# --- report ---------------------------------------------------------------------------------------


def paging_lines(d: dict[str, Any], args: argparse.Namespace) -> list[str]:
    head = f"(d) paging {args.page_observations:,} observations, $top=10000 $orderby={d['order']}"
    if "obs_per_s" not in d:
        return [f"{head}: {d['status']}  goal >= 20,000 obs/s: MISS"]
    status = "" if d["status"] == "ok" else f"; {d['status']}"
    passed = d["status"] == "ok" and d["obs_per_s"] >= 20_000
    lines = [
        f"{head}: {d['obs_per_s']:,.0f} obs/s over {d['pages']} pages, nextLink "
        f"{d['next_link']} (wall incl. client JSON decoding {d['obs_per_s_wall']:,.0f} obs/s)"
        f"{status}  goal >= 20,000 obs/s: {verdict(passed)}"
    ]
    deep = f"(d) page {args.deep_page:,} vs page 1, $top=100, reached by {d['deep_by']}"
    if "ratio" not in d:
        return [*lines, f"{deep}: not measured  goal ratio <= 1.5: MISS"]
    lines.append(
        f"{deep}: p50 {d['deep_ms']:.1f} ms vs {d['page1_ms']:.1f} ms, ratio {d['ratio']:.2f}"
        f"  goal ratio <= 1.5: {verdict(d['ratio'] <= 1.5)}"
    )
    return lines


def load_line(data: dict[str, Any]) -> str:
    reused = f"reused the load of {data['loaded_at']}: " if data["reused"] else ""
    return (
        f"load: {reused}{data['observations']:,} rows at {data['rows_per_s']:,.0f} rows/s "
        f"(insert {data['insert_s']:.1f} s + indexes [{data['indexes']}] {data['index_s']:.1f} s;"
        f" then ANALYZE {data['analyze_s']:.1f} s; registry {data['fleet_s']:.1f} s; "
        f"wall {data['wall_s']:.0f} s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--observations", type=int, default=10_000_000)
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--properties", type=int, default=20, choices=range(1, 21), metavar="1..20")
    parser.add_argument("--reuse", action="store_true", help="skip the load if the data is there")
    parser.add_argument("--load-only", action="store_true", help="load, report, stop")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="SQLite file here")
    parser.add_argument("--indexes", choices=("auto", "keep", "rebuild"), default="auto")
    parser.add_argument("--requests", type=int, default=200, help="measured requests, (a)-(c)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests first")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per case at most")
    parser.add_argument("--page-observations", type=int, default=1_000_000)
    parser.add_argument("--page-order", choices=("id", "phenomenonTime"), default="id")
    parser.add_argument("--deep-page", type=int, default=10_000)
    parser.add_argument("--deep-repeats", type=int, default=20)
    parser.add_argument(
        "--cache",
        choices=("warm", "as-is"),
        default="warm",
        help="warm: read the database files once first, so the OS caches them (the state of a "
        "serving machine); as-is: measure whatever the cache holds (after a reboot: cold)",
    )
    args = parser.parse_args()

    url, data = prepare(args)
    store = Store.open(url)
    try:
        version, size = server_version(store), database_size(store, url)
        files = database_files(store, url)
        with store.connect() as conn:
            streams = list(conn.execute(datastreams.select().with_only_columns(datastreams.c.id)))
    finally:
        store.close()
    print(f"machine: {describe()}; load average {os.getloadavg()[1]:.1f} (5 min)")
    print(
        f"backend: {args.backend} ({version}); {args.stations} stations x {args.properties} "
        f"properties = {data['datastreams']:,} datastreams, {data['observations']:,} "
        f"observations every {data['cadence'] / 60:g} min, {data['first'][:16]} .. "
        f"{data['last'][:16]} UTC"
    )
    print(load_line(data))
    print(f"database: {size}")
    if args.load_only:
        return 0
    print(f"page cache before: {cache_residency(files)}")
    if args.cache == "warm":
        warm_files(files)
        print(f"page cache after reading the files once (--cache warm): {cache_residency(files)}")
    with tempfile.TemporaryDirectory(prefix="auasu-bench-hub-") as tmp:
        hub, port = start_hub(url, Path(tmp))
        try:
            base = f"http://127.0.0.1:{port}/v1.1"
            cases, paged = run_cases(base, [int(row.id) for row in streams], data, args)
        finally:
            hub.terminate()
            hub.wait(60)
    for line in [c.line() for c in cases[:3]] + paging_lines(paged, args) + [cases[3].line()]:
        print(line)
    print(f"load average of the last 5 min, after the requests: {os.getloadavg()[1]:.1f}")
    print(f"page cache after the requests: {cache_residency(files)}")
    summary = {case.label[1]: case.summary() for case in cases}
    print(json.dumps({"backend": args.backend, "load": data, **summary, "d": paged}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
