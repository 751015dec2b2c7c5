"""Benchmark: OGC API - Features and EDR at /oapi over 10 million observations (issue 4).

On the data of the SensorThings benchmark (bench/sta_query.py: 200 stations x 20 observed
properties, one value every 20 minutes per datastream, 10 million observations; loaded by it,
or here when missing) this starts `auasu serve` and, side by side in the same run, pygeoapi's
own PostgreSQL provider (pygeoapi.provider.sql.PostgreSQLProvider) in a separate pygeoapi
process (its flask_app under waitress with as many threads as the hub) over a view of the same
PostgreSQL data (VIEW_SQL: the properties of the hub's `observations` collection). Both get
the same random requests, alternately, over real HTTP with one keep-alive session each:

(1) observations/items: bbox around one station + one UTC day + CQL2 filter
    `value > 10 AND observed_property='pm2_5'`, limit 100           goal p95 <= 50 ms
(2) observations/items?offset=1000000&limit=100 (a deep page)
(3) EDR position query for one station-month (30 days, one parameter) on the hub's EDR
    collection; pygeoapi 0.24 has no EDR provider over SQL, so its side answers the same
    question the way a client of its Features provider must: observations/items filtered by
    station, observed property and the 30 days, every value in one page, in time order.
For each case: p50/p95 after a warm-up, and the ratio hub/pygeoapi (goal <= 1.0, of the p50s).

Answers are checked, not only their status: (1) every feature is of the station, property and
day asked with value > 10, (2) 100 features, (3) one PointSeries with exactly the values of the
30 days; when both servers read the same PostgreSQL data, (1) also says for how many requests
the two returned the same features ((2) is each server's default order: the hub's is datastream,
phenomenon time, id; pygeoapi's is id). A case a server answers with 4xx/5xx is reported
as an error. The page cache is warmed as sta_query's --cache warm does (the hub's database and,
for pygeoapi, PostgreSQL's observations). On --backend sqlite the hub reads SQLite while
pygeoapi still reads PostgreSQL (its SQL provider's database): the report says so.
pygeoapi counts numberMatched on every request (its default; --pygeoapi-no-count turns it off).

pygeoapi's SQL provider needs geoalchemy2 and psycopg2, which the hub does not: when the venv
lacks them they are pip-installed (--target) into <data-dir>/pygeoapi-deps for the pygeoapi
process only (bench/common_pygeoapi.py).

    python bench/oapi.py --backend sqlite|postgresql [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from common_pygeoapi import (
    PygeoapiUnavailable,
    collection,
    postgresql_provider,
    pygeoapi_path,
    start_pygeoapi,
)
from machine import describe
from sta_query import (
    DEFAULT_DATA_DIR,
    Case,
    cache_residency,
    database_files,
    database_size,
    iso,
    prepare,
    server_version,
    start_hub,
    timed_get,
    verdict,
    warm_files,
)

from hub.store import Store
from hub.store.schema import stations

VIEW = "oapi_bench_observations"
HUB_FEATURES = "observations"  # the hub's collection of observations (hub/ogcapi/settings.py)
HUB_EDR = "stations"  # the hub's EDR collection: EDR rides on `stations` (settings.py)
PYGEOAPI_COLLECTION = "observations"
THREADS = 8  # the hub's default [http] threads: pygeoapi's waitress gets as many
# The properties of the hub's `observations` collection the requests and checks use.
STATION, PROPERTY, VALUE, TIME = "station", "observed_property", "value", "phenomenon_time_start"

# A constant statement (no input): the hub's observation properties over the bench tables,
# with the station's position as the PostGIS point pygeoapi's provider filters by bbox.
VIEW_SQL = (
    "CREATE VIEW " + VIEW + " AS "
    "SELECT o.id, s.key AS station, p.key AS observed_property, o.result AS value, "
    "d.unit ->> 'symbol' AS unit, o.phenomenon_time_start, o.phenomenon_time_end, "
    "o.result_time, o.result_quality AS quality, d.aggregation, o.datastream_id AS datastream, "
    "ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)::geometry(Point, 4326) AS geom "
    "FROM observations o "
    "JOIN datastreams d ON d.id = o.datastream_id "
    "JOIN observed_properties p ON p.id = d.observed_property_id "
    "JOIN things t ON t.id = d.thing_id "
    "JOIN stations s ON s.id = t.station_id"
)

Check = Callable[[Any], str | None]  # None when a JSON answer is right, else what is wrong


@dataclass(frozen=True)
class Request:
    """One request, sent to both servers: path below each one's collection URL, query, answer
    check; ``ids`` gives the features' ids to compare the two servers' answers (None: not)."""

    path: str
    params: dict[str, str]
    check: Check
    ids: Callable[[Any], list[str]] | None = None
    counterpart: Request | None = None  # what pygeoapi is sent instead, when it differs

    def for_side(self, name: str) -> Request:
        return self.counterpart if name == "pygeoapi" and self.counterpart else self

    def url(self, collection_url: str) -> str:
        return f"{collection_url}/{self.path}?" + urlencode(self.params, safe=",/:()'")


@dataclass
class Side:
    """One server under test: its collection's URL (None: it has no such query), its session
    and its measured case (``goal_ms`` None: no absolute goal, only the ratio)."""

    name: str
    collection_url: str | None
    case: Case
    goal_ms: float | None
    session: requests.Session = field(default_factory=requests.Session)

    def line(self) -> str:
        if self.goal_ms is not None:
            return self.case.line()
        p50, p95 = self.case.percentile(50), self.case.percentile(95)
        if p50 is None or p95 is None:
            return f"{self.case.label}: {self.case.status}"
        status = "" if self.case.status == "ok" else f"; {self.case.status}"
        return (
            f"{self.case.label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
            f"(n={len(self.case.latencies_ms)}){status}"
        )


@dataclass
class Pair:
    """One case measured on the hub and on pygeoapi."""

    key: str
    hub: Side
    pygeoapi: Side
    notes: list[str] = field(default_factory=list)

    def ratio(self, q: int) -> float | None:
        if self.hub.case.status != "ok" or self.pygeoapi.case.status != "ok":
            return None
        mine, theirs = self.hub.case.percentile(q), self.pygeoapi.case.percentile(q)
        return mine / theirs if mine is not None and theirs else None

    def lines(self) -> list[str]:
        p50, p95 = self.ratio(50), self.ratio(95)
        if self.pygeoapi.case.status.startswith("not available"):
            ratio = "ratio hub/pygeoapi: none (nothing to compare with)"
        elif p50 is None or p95 is None:
            ratio = "ratio hub/pygeoapi: not measured  goal p50 ratio <= 1.0: MISS"
        else:
            ratio = (
                f"ratio hub/pygeoapi: p50 {p50:.3g}, p95 {p95:.3g}  goal p50 ratio <= 1.0: "
                f"{verdict(p50 <= 1.0)}"
            )
        notes = [f"    {note}" for note in self.notes]
        return [self.hub.line(), self.pygeoapi.line(), f"    {ratio}", *notes]

    def summary(self) -> dict[str, Any]:
        return {
            "hub": self.hub.case.summary(),
            "pygeoapi": self.pygeoapi.case.summary(),
            "ratio_p50": self.ratio(50),
            "ratio_p95": self.ratio(95),
            "notes": self.notes,
        }


# --- pygeoapi -------------------------------------------------------------------------------------


def create_view(pg_url: str) -> None:
    """(Re)create the view pygeoapi reads; the bench database is otherwise left as it is."""
    store = Store.open(pg_url)
    try:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP VIEW IF EXISTS " + VIEW)
            conn.exec_driver_sql(VIEW_SQL)
    finally:
        store.close()


def pygeoapi_resources(pg_url: str, bbox: list[float], count: bool) -> dict[str, Any]:
    """The pygeoapi side's one collection: the view, through pygeoapi's PostgreSQL provider."""
    provider = postgresql_provider(pg_url, VIEW, time_field=TIME, count=count)
    return {PYGEOAPI_COLLECTION: collection("Observations", bbox, [provider])}


# --- requests and checks --------------------------------------------------------------------------


def feature_ids(body: Any) -> list[str]:
    return sorted(str(feature.get("id")) for feature in body.get("features", []))


def when(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def filtered_check(station: str, prop: str, threshold: float, day: datetime) -> Check:
    def check(body: Any) -> str | None:
        features = body.get("features")
        if not isinstance(features, list) or not 0 < len(features) <= 100:
            return "not 1..100 features for a day of a station's property"
        for feature in features:
            props = feature.get("properties") or {}
            moment = when(props.get(TIME))
            if props.get(STATION) != station or props.get(PROPERTY) != prop:
                return f"feature {feature.get('id')}: another station or observed property"
            if not isinstance(props.get(VALUE), int | float) or props[VALUE] <= threshold:
                return f"feature {feature.get('id')}: value not > {threshold:g}"
            if moment is None or not day <= moment < day + timedelta(days=1):
                return f"feature {feature.get('id')}: {TIME} not in the day asked"
        return None

    return check


def deep_check(body: Any) -> str | None:
    features = body.get("features")
    return None if isinstance(features, list) and len(features) == 100 else "not 100 features"


def series_check(prop: str, expected: int) -> Check:
    def check(body: Any) -> str | None:
        coverages = body.get("coverages") if isinstance(body, dict) else None
        if body.get("type") == "Coverage":
            coverages = [body]
        if not isinstance(coverages, list) or len(coverages) != 1:
            return "not one coverage for one station"
        values = ((coverages[0].get("ranges") or {}).get(prop) or {}).get("values")
        if not isinstance(values, list) or len(values) != expected:
            got = len(values) if isinstance(values, list) else "no"
            return f"{got} values of {prop}, expected {expected}"
        return None

    return check


def series_items_check(station: str, prop: str, expected: int) -> Check:
    """pygeoapi's stand-in for (3): the station-month as ``expected`` features in time order."""

    def check(body: Any) -> str | None:
        features = body.get("features")
        if not isinstance(features, list) or len(features) != expected:
            got = len(features) if isinstance(features, list) else "no"
            return f"{got} features of {prop}, expected {expected}"
        times = [(feature.get("properties") or {}).get(TIME) for feature in features]
        if any((f.get("properties") or {}).get(STATION) != station for f in features):
            return "a feature of another station"
        if times != sorted(times):
            return f"features not in {TIME} order"
        return None

    return check


def refusal(response: requests.Response) -> str:
    if response.status_code == 204:
        return "wrong answer: 204 No Content"
    try:
        body = response.json()
        message = str(body.get("description") or body.get("message") or "")
    except (ValueError, AttributeError):
        message = response.text[:200]
    return f"error: HTTP {response.status_code} {message[:300]}".strip()


def measure_pair(
    pair: Pair, make: Callable[[], Request], count: int, args: argparse.Namespace, warmup: int
) -> Pair:
    """Send each of ``warmup + count`` requests to both servers (alternating which goes first),
    timing those after the warm-up, until ``args.budget`` seconds have passed."""
    print(f"bench: measuring {pair.key}", file=sys.stderr)
    sides = [side for side in (pair.hub, pair.pygeoapi) if side.collection_url is not None]
    deadline, differing, compared = float("inf"), 0, 0
    for index in range(warmup + count):
        request = make()
        answers: dict[str, list[str]] = {}
        for side in sides if index % 2 == 0 else sides[::-1]:
            if side.case.status != "ok" or side.collection_url is None:
                continue
            answer = ask(side, request.for_side(side.name))
            if answer is None:
                continue
            ms, body = answer
            if index >= warmup:
                side.case.latencies_ms.append(ms)
            if request.ids is not None:
                answers[side.name] = request.ids(body)
        if len(answers) == 2:
            compared += 1
            differing += answers["hub"] != answers["pygeoapi"]
        if index == warmup:
            deadline = time.monotonic() + args.budget
        if all(side.case.status != "ok" for side in sides):
            break
        if time.monotonic() > deadline:
            pair.notes.append(f"stopped after the {args.budget:.0f} s budget")
            break
    if compared:
        pair.notes.append(
            f"hub and pygeoapi returned the same features for {compared - differing} of "
            f"{compared} requests (warm-up included)"
        )
    return pair


def ask(side: Side, request: Request) -> tuple[float, Any] | None:
    """One request to ``side``: its latency and checked JSON body, or None with the side's
    status saying what went wrong (refused, unreachable, not JSON, wrong)."""
    assert side.collection_url is not None
    try:
        response, ms = timed_get(side.session, request.url(side.collection_url))
    except requests.RequestException as exc:
        side.case.status = f"error: {exc.__class__.__name__}"
        return None
    if response.status_code != 200:
        side.case.status = refusal(response)
        return None
    try:
        body = response.json()
    except ValueError:
        side.case.status = "wrong answer: not JSON"
        return None
    problem = request.check(body) if isinstance(body, dict) else "not a JSON object"
    if problem is not None:
        side.case.status = f"wrong answer: {problem}"
        return None
    return ms, body


# --- the run --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    """What the requests are drawn from: stations (key, lon, lat) and the whole UTC days
    that both databases hold."""

    stations: list[tuple[str, float, float]]
    days: list[datetime]
    cadence: timedelta


def fleet(hub_url: str, loads: list[dict[str, Any]]) -> Fleet:
    store = Store.open(hub_url)
    try:
        with store.connect() as conn:
            rows = conn.execute(
                stations.select()
                .with_only_columns(stations.c.key, stations.c.lon, stations.c.lat)
                .order_by(stations.c.key)
            ).all()
    finally:
        store.close()
    first = max(datetime.fromisoformat(load["first"]) for load in loads)
    last = min(datetime.fromisoformat(load["last"]) for load in loads)
    day = datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(days=1)
    days = []
    while day + timedelta(days=1) <= last:
        days.append(day)
        day += timedelta(days=1)
    cadence = timedelta(seconds=loads[0]["cadence"])
    return Fleet([(r.key, float(r.lon), float(r.lat)) for r in rows], days, cadence)


def run_pairs(
    hub_oapi: str, pyg_root: str | None, found: Fleet, args: argparse.Namespace, why: str = ""
) -> list[Pair]:
    """Cases (1)-(3), each measured on both servers with the same random requests
    (``pyg_root`` None: pygeoapi is not running, ``why`` says why)."""
    rng = random.Random(11)
    prop, threshold, span = args.property, args.threshold, args.month_days
    same_data = args.backend == "postgresql"  # only then can the two answers be compared
    if len(found.days) < span:
        raise SystemExit(f"bench: the data hold {len(found.days)} whole days, not {span}")

    def filtered() -> Request:
        station, lon, lat = rng.choice(found.stations)
        day, d = rng.choice(found.days), args.bbox_half
        params = {
            "f": "json",
            "bbox": f"{lon - d:.6f},{lat - d:.6f},{lon + d:.6f},{lat + d:.6f}",
            "datetime": f"{iso(day)}/{iso(day + timedelta(days=1, seconds=-1))}",
            "filter": f"{VALUE} > {threshold:g} AND {PROPERTY} = '{prop}'",
            "filter-lang": "cql2-text",
            "limit": "100",
        }
        check = filtered_check(station, prop, threshold, day)
        return Request("items", params, check, feature_ids if same_data else None)

    def deep() -> Request:
        params = {"f": "json", "offset": str(args.deep_offset), "limit": "100"}
        return Request("items", params, deep_check)

    def month() -> Request:
        station, lon, lat = rng.choice(found.stations)
        start = rng.choice(found.days[: len(found.days) - span + 1])
        window = f"{iso(start)}/{iso(start + timedelta(days=span, seconds=-1))}"
        params = {
            "coords": f"POINT({lon:.6f} {lat:.6f})",
            "parameter-name": prop,
            "datetime": window,
        }
        expected = timedelta(days=span) // found.cadence
        items = {
            "f": "json",
            STATION: station,
            PROPERTY: prop,
            "datetime": window,
            "sortby": TIME,
            "limit": str(expected),
        }
        counterpart = Request("items", items, series_items_check(station, prop, expected))
        return Request("position", params, series_check(prop, expected), counterpart=counterpart)

    hub_features = f"{hub_oapi}/collections/{HUB_FEATURES}"
    pyg_features = pyg_root and f"{pyg_root}/collections/{PYGEOAPI_COLLECTION}"
    plans: list[tuple[str, str, float | None, str, str | None, Callable[[], Request], int, int]] = [
        ("1", "observations items, bbox + one day + CQL2 filter, limit 100", 50.0,
         hub_features, pyg_features, filtered, args.requests, args.warmup),
        ("2", f"observations items, offset {args.deep_offset:,}, limit 100", None,
         hub_features, pyg_features, deep, args.deep_requests, 3),
        ("3", f"EDR position, one station, {span} days of {prop}", None,
         f"{hub_oapi}/collections/{HUB_EDR}", pyg_features, month, args.requests, args.warmup),
    ]  # fmt: skip
    pairs = []
    for key, title, goal, hub_url, pyg_url, make, count, warmup in plans:
        pair = Pair(
            key,
            Side("hub", hub_url, Case(f"({key}) hub ({args.backend}): {title}", goal or 0), goal),
            Side("pygeoapi", pyg_url, Case(f"({key}) pygeoapi (postgresql): {title}", 0), None),
        )
        if pyg_root is None:
            pair.pygeoapi.case.status = f"error: pygeoapi did not start: {why}"
        pairs.append(measure_pair(pair, make, count, args, warmup))
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the hub's store (pygeoapi reads PostgreSQL either way)")  # fmt: skip
    parser.add_argument("--observations", type=int, default=10_000_000)
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--properties", type=int, default=20, choices=range(1, 21), metavar="1..20")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="SQLite file here")
    parser.add_argument("--requests", type=int, default=200, help="measured requests, (1) and (3)")
    parser.add_argument("--deep-requests", type=int, default=30, help="measured requests, (2)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests first")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per case at most")
    parser.add_argument("--property", default="pm2_5", help="observed property of (1) and (3)")
    parser.add_argument("--threshold", type=float, default=10.0, help="(1): value > this")
    parser.add_argument("--bbox-half", type=float, default=0.005, help="(1): degrees")
    parser.add_argument("--deep-offset", type=int, default=1_000_000)
    parser.add_argument("--month-days", type=int, default=30)
    parser.add_argument(
        "--pygeoapi-no-count",
        action="store_true",
        help="configure pygeoapi's provider with count: false (no numberMatched, no count query)",
    )
    parser.add_argument("--cache", choices=("warm", "as-is"), default="warm",
                        help="as bench/sta_query.py --cache")  # fmt: skip
    args = parser.parse_args()
    # The data of bench/sta_query.py, reused when it is there (else loaded as it would).
    load_args = dict(vars(args), reuse=True, indexes="auto")
    hub_url, data = prepare(argparse.Namespace(**load_args))
    pg_url, pg_data = hub_url, data
    if args.backend != "postgresql":
        pg_url, pg_data = prepare(argparse.Namespace(**load_args | {"backend": "postgresql"}))
    create_view(pg_url)
    found = fleet(hub_url, [data, pg_data])

    stores = {url: Store.open(url) for url in dict.fromkeys((hub_url, pg_url))}
    try:
        versions = {url: server_version(store) for url, store in stores.items()}
        sizes = {url: database_size(store, url) for url, store in stores.items()}
        files = [path for url, store in stores.items() for path in database_files(store, url)]
    finally:
        for store in stores.values():
            store.close()
    print(f"machine: {describe()}; load average {os.getloadavg()[1]:.1f} (5 min)")
    print(
        f"hub: {args.backend} ({versions[hub_url]}), {data['observations']:,} observations of "
        f"{args.stations} stations x {args.properties} properties, {data['first'][:16]} .. "
        f"{data['last'][:16]} UTC; database {sizes[hub_url]}"
    )
    other = "" if pg_url == hub_url else " (NOT the hub's store, which is SQLite in this run)"
    counting = "no count" if args.pygeoapi_no_count else "count: true, its default"
    print(
        f"pygeoapi: 0.24 PostgreSQLProvider ({counting}; psycopg2) over the view {VIEW} of "
        f"{versions[pg_url]}{other}; database {sizes[pg_url]}; waitress, {THREADS} threads each"
    )
    print(f"page cache before: {cache_residency(files)}")
    if args.cache == "warm":
        warm_files(files)
        print(f"page cache after reading the files once (--cache warm): {cache_residency(files)}")

    with tempfile.TemporaryDirectory(prefix="auasu-bench-oapi-") as tmp, ExitStack() as stop:
        hub, port = start_hub(hub_url, Path(tmp))
        stop.callback(hub.wait, 60)
        stop.callback(hub.terminate)
        pyg_root, why = None, ""
        try:
            extra_path = pygeoapi_path(args.data_dir)
            resources = pygeoapi_resources(pg_url, bbox_of(found), not args.pygeoapi_no_count)
            pyg, pyg_port = start_pygeoapi(Path(tmp), resources, extra_path, THREADS)
            stop.callback(pyg.wait, 60)
            stop.callback(pyg.terminate)
            pyg_root = f"http://127.0.0.1:{pyg_port}"
        except (PygeoapiUnavailable, subprocess.SubprocessError, OSError) as exc:
            why = f"{exc.__class__.__name__}: {exc}"
            print(f"bench: pygeoapi did not start: {why}", file=sys.stderr)
        pairs = run_pairs(f"http://127.0.0.1:{port}/oapi", pyg_root, found, args, why[:300])
    for pair in pairs:
        print("\n".join(pair.lines()))
    load = os.getloadavg()[1]
    print(f"load average of the last 5 min, after the requests: {load:.1f}")
    print(f"page cache after the requests: {cache_residency(files)}")
    summary = {pair.key: pair.summary() for pair in pairs}
    print(
        json.dumps(
            {
                "backend": args.backend,
                "pygeoapi_backend": "postgresql",
                "machine": describe(),
                "load_average_5min": load,
                "load": data,
                **summary,
            }
        )
    )
    return 0


def bbox_of(found: Fleet) -> list[float]:
    lons = [lon for _key, lon, _lat in found.stations]
    lats = [lat for _key, _lon, lat in found.stations]
    return [min(lons), min(lats), max(lons), max(lats)]


if __name__ == "__main__":
    sys.exit(main())
