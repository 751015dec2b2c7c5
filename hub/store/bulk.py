"""Bulk loading of a synthetic monitoring network, for benchmarks (``bench/sta_query.py``).

A fleet of stations, each measuring the same air-quality properties, is registered through the
same registry functions the ingest pipeline uses (so Things, Locations, Sensors, Datastreams and
FeaturesOfInterest are exactly what the hub makes), then millions of observations are written
through the fastest path each store offers: ``COPY`` on PostgreSQL, large ``executemany``
transactions with ``synchronous=OFF`` on SQLite. Rows arrive in time order across all datastreams,
as live ingest would write them, so ids grow with time and the heap is not clustered by
datastream (which would flatter per-datastream queries).

``observations.frame_id`` is mandatory, so every chunk of rows gets one synthetic ``raw_frames``
row (adapter :data:`BULK_ADAPTER`) describing it. This is a tool for empty benchmark databases,
not for a live hub: the load refuses datastreams that already hold observations in its time range,
and with ``indexes="rebuild"`` it drops the observation indexes while it runs.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Constraint,
    ForeignKeyConstraint,
    Index,
    MetaData,
    UniqueConstraint,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

from adapters.base import Aggregation, hash_secret
from hub.mapping import ObservedPropertyDef, default_mappings
from hub.model.registry import StationRecord
from hub.store import Store
from hub.store.bulk_rows import AIR_FACTORS, BULK_ADAPTER, MAX_PROPERTIES, BulkStream, RowGenerator
from hub.store.feature_pairs import insert_stream_features
from hub.store.schema import datastreams, metadata, observations, raw_frames, things

__all__ = [
    "BULK_ADAPTER",
    "BulkLoadError",
    "BulkStream",
    "LoadReport",
    "LoadedData",
    "bulk_load",
    "create_fleet",
    "fleet_records",
    "load_observations",
    "loaded_data",
]

Mode = Literal["keep", "rebuild"]
Indexes = Literal["auto", "keep", "rebuild"]
Progress = Callable[[int, int], None]


# Explicit column lists: the statements keep working when nullable columns are added.
_COPY_OBSERVATIONS = (
    "COPY observations (datastream_id, feature_of_interest_id, phenomenon_time_start, "
    "phenomenon_time_end, result_time, result, result_quality, parameters, frame_id) FROM STDIN"
)
_INSERT_OBSERVATIONS = (
    "INSERT INTO observations (datastream_id, feature_of_interest_id, phenomenon_time_start, "
    "phenomenon_time_end, result_time, result, result_quality, parameters, frame_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Measured with 2 million rows into 4,000 datastreams on a 2-core VM: PostgreSQL 20,000 rows/s
# keeping indexes and foreign keys (three trigger look-ups per row) against 96,000 rebuilding
# them; SQLite 29,000 against 67,000 (its UNIQUE index stays either way).
_AUTO_INDEXES: dict[str, Mode] = {"postgresql": "rebuild", "sqlite": "rebuild"}
_SQLITE_SYNCHRONOUS = {
    0: "PRAGMA synchronous=OFF",
    1: "PRAGMA synchronous=NORMAL",
    2: "PRAGMA synchronous=FULL",
    3: "PRAGMA synchronous=EXTRA",
}


class BulkLoadError(Exception):
    """The bulk load cannot run as asked (bad sizes, or the target already holds data)."""


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a bulk load wrote and how long each step took (seconds)."""

    backend: str
    indexes: Mode
    datastreams: int
    observations: int
    frames: int
    first: datetime
    last: datetime
    cadence: timedelta
    insert_s: float
    index_s: float
    analyze_s: float
    fleet_s: float = 0.0  # registering stations and datastreams (bulk_load only)

    @property
    def rows_per_s(self) -> float:
        """Observations per second until they are indexed (insert plus index rebuild)."""
        return self.observations / max(self.insert_s + self.index_s, 1e-9)


@dataclass(frozen=True, slots=True)
class LoadedData:
    """What a store holds, to decide whether an earlier bulk load can be reused."""

    things: int
    datastreams: int
    observations: int
    bulk_frames: int
    first: datetime | None
    last: datetime | None


def fleet_records(count: int, properties: int, *, prefix: str = "bench") -> list[StationRecord]:
    """``count`` HJ 212 air stations spread over Astana, each configured for ``properties``
    factors. Each gets a random logger secret nobody knows: no bench station can be logged in."""
    if not 1 <= properties <= MAX_PROPERTIES:
        raise BulkLoadError(f"properties must be 1..{MAX_PROPERTIES}, not {properties}")
    if count < 1:
        raise BulkLoadError(f"stations must be at least 1, not {count}")
    factors = {}
    for code, key, *_signal in AIR_FACTORS[:properties]:
        definition = _definition(key)
        factors[code] = {"name": definition.name, "unit": definition.unit}
    secret = hash_secret(secrets.token_urlsafe(16))
    side = max(1, math.isqrt(count - 1) + 1)
    return [
        StationRecord.model_validate(
            {
                "id": f"{prefix}-{i:05d}",
                "source": "lihe-hj212",
                "kind": "air",
                "name": {"en": f"Bench station {i}"},
                # A grid over the city (about 51.05-51.25 N, 71.30-71.60 E).
                "lat": round(51.05 + 0.2 * (i // side) / side, 6),
                "lon": round(71.30 + 0.3 * (i % side) / side, 6),
                "operator": "AuaSu benchmark",
                "device_id": f"42454E4348{i:014X}",
                "system_code": "22",
                "secret_hash": secret,
                "logger_timezone": "Asia/Almaty",
                "factors": factors,
            }
        )
        for i in range(count)
    ]


def _definition(key: str) -> ObservedPropertyDef:
    found = default_mappings().observed_property(key)
    if found is None:
        raise BulkLoadError(f"the shipped mappings do not define {key!r}")
    return found


def create_fleet(
    store: Store, records: Sequence[StationRecord], properties: int
) -> list[BulkStream]:
    """Register ``records`` and the instant datastream of each of their first ``properties``
    factors, exactly as the ingest pipeline would on their first frames."""
    store.import_stations(records)
    wanted = []
    for record in records:
        for code, key, *_signal in AIR_FACTORS[:properties]:
            definition = _definition(key)
            wanted.append((record.id, definition, Aggregation.INSTANT, code))
    store.ensure_datastreams(wanted)
    rng = random.Random(20250115)
    streams = []
    for station, definition, aggregation, code in wanted:
        ids = store.cached_datastream(station, definition.key, aggregation)
        if ids is None:
            raise BulkLoadError(f"the datastream of {station}/{code} was not created")
        _code, _key, level, swing, noise, low, high, decimals = next(
            a for a in AIR_FACTORS if a[0] == code
        )
        streams.append(
            BulkStream(
                datastream_id=ids[0],
                feature_of_interest_id=ids[1],
                station_key=station,
                property_key=definition.key,
                unit=definition.unit,
                level=level * rng.uniform(0.7, 1.3),
                swing=swing,
                noise=noise,
                low=low,
                high=high,
                decimals=decimals,
                phase=rng.uniform(-0.5, 0.5),
            )
        )
    return streams


def bulk_load(
    store: Store,
    *,
    stations: int = 200,
    properties: int = 20,
    observations_total: int = 10_000_000,
    cadence: timedelta = timedelta(minutes=20),
    end: datetime | None = None,
    indexes: Indexes = "auto",
    progress: Progress | None = None,
) -> LoadReport:
    """Register ``stations`` x ``properties`` datastreams and fill them with
    ``observations_total`` observations (rounded down to a whole number per datastream)."""
    if observations_total < stations * properties:
        raise BulkLoadError(
            f"{observations_total} observations cannot fill {stations * properties} datastreams"
        )
    started = time.perf_counter()
    streams = create_fleet(store, fleet_records(stations, properties), properties)
    fleet_s = time.perf_counter() - started
    report = load_observations(
        store,
        streams,
        per_stream=observations_total // len(streams),
        cadence=cadence,
        end=end,
        indexes=indexes,
        progress=progress,
    )
    return replace(report, fleet_s=fleet_s)


def load_observations(
    store: Store,
    streams: Sequence[BulkStream],
    *,
    per_stream: int,
    cadence: timedelta = timedelta(minutes=20),
    end: datetime | None = None,
    indexes: Indexes = "auto",
    chunk_rows: int = 50_000,
    progress: Progress | None = None,
) -> LoadReport:
    """Write ``per_stream`` observations, ``cadence`` apart and ending at ``end`` (default: now,
    floored to the cadence), into every stream; then ANALYZE.

    ``indexes="rebuild"`` drops the observation indexes (and, on PostgreSQL, the unique and
    foreign-key constraints; SQLite's are part of the table) before the load and recreates them
    from the schema afterwards; ``"keep"`` maintains them row by row; ``"auto"`` picks the faster
    for the backend (:data:`_AUTO_INDEXES`).
    """
    if per_stream < 1 or not streams:
        raise BulkLoadError("nothing to load: no streams or no observations per stream")
    if cadence <= timedelta(0):
        raise BulkLoadError("cadence must be positive")
    step = int(cadence.total_seconds() * 1_000_000)
    now = end if end is not None else datetime.now(UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    last = epoch + timedelta(microseconds=(now - epoch) // timedelta(microseconds=1) // step * step)
    times = [last - cadence * (per_stream - 1 - i) for i in range(per_stream)]
    with store.connect() as conn:
        _refuse_existing(conn, streams, times[0], times[-1])
    batch = RowGenerator(streams, times, store.backend)
    per_chunk = max(1, chunk_rows // len(streams))
    chunks = [(i, min(i + per_chunk, per_stream)) for i in range(0, per_stream, per_chunk)]
    loader = _load_postgresql if store.backend == "postgresql" else _load_sqlite
    mode: Mode = _AUTO_INDEXES[store.backend] if indexes == "auto" else indexes
    insert_s, index_s = loader(store, batch, chunks, mode, progress)
    analyze_s = _analyze(store)
    return LoadReport(
        backend=store.backend,
        indexes=mode,
        datastreams=len(streams),
        observations=len(streams) * per_stream,
        frames=len(chunks),
        first=times[0],
        last=times[-1],
        cadence=cadence,
        insert_s=insert_s,
        index_s=index_s,
        analyze_s=analyze_s,
    )


def loaded_data(store: Store) -> LoadedData:
    """Counts and the phenomenon-time extent of what ``store`` holds."""
    with store.connect() as conn:
        frames = select(func.count()).where(raw_frames.c.adapter == BULK_ADAPTER)
        extent = select(
            func.min(observations.c.phenomenon_time_start),
            func.max(observations.c.phenomenon_time_start),
        )
        first, last = conn.execute(extent).one()
        return LoadedData(
            things=int(conn.execute(select(func.count()).select_from(things)).scalar_one()),
            datastreams=int(
                conn.execute(select(func.count()).select_from(datastreams)).scalar_one()
            ),
            observations=int(
                conn.execute(select(func.count()).select_from(observations)).scalar_one()
            ),
            bulk_frames=int(conn.execute(frames.select_from(raw_frames)).scalar_one()),
            first=first,
            last=last,
        )


# --- the two loaders ------------------------------------------------------------------------------


def _refuse_existing(
    conn: Connection, streams: Sequence[BulkStream], first: datetime, last: datetime
) -> None:
    ids = [s.datastream_id for s in streams]
    clash = conn.execute(
        select(observations.c.id)
        .where(
            observations.c.datastream_id.in_(ids),
            observations.c.phenomenon_time_start >= first,
            observations.c.phenomenon_time_start <= last,
        )
        .limit(1)
    ).first()
    if clash is not None:
        raise BulkLoadError(
            "the datastreams already hold observations in the time range to load: "
            "bulk loading needs a fresh database"
        )


def _insert_frames(
    conn: Connection, batch: RowGenerator, chunks: list[tuple[int, int]]
) -> list[int]:
    received_at = datetime.now(UTC)
    ids = []
    for chunk in chunks:
        stmt = (
            insert(raw_frames).values(**batch.frame(chunk, received_at)).returning(raw_frames.c.id)
        )
        ids.append(int(conn.execute(stmt).scalar_one()))
    return ids


def _observation_ddl(conn: Connection) -> tuple[list[Index], list[Constraint]]:
    """The secondary indexes of ``observations`` and (PostgreSQL) its unique and foreign-key
    constraints, as the schema declares them and named as the database named them.

    Copies of the schema (the shared ``metadata`` is never touched), so a constraint or index
    added to the schema later is dropped and rebuilt too.
    """
    copy = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(copy)
    table = copy.tables[observations.name]
    indexes = list(table.indexes)
    if conn.dialect.name != "postgresql":
        return indexes, []  # SQLite's UNIQUE and REFERENCES are part of the table itself
    constraints: list[Constraint] = [
        c for c in table.constraints if isinstance(c, UniqueConstraint) and c.name
    ]
    # The schema leaves foreign keys unnamed: PostgreSQL named them when it made the table.
    named = {
        tuple(fk["constrained_columns"]): fk["name"]
        for fk in inspect(conn).get_foreign_keys(observations.name)
    }
    for fk in table.foreign_key_constraints:
        name = named.get(tuple(fk.column_keys))
        if name is not None:
            fk.name = name
            constraints.append(fk)
    return indexes, constraints


def _drop_indexes(conn: Connection, ddl: tuple[list[Index], list[Constraint]]) -> None:
    indexes, constraints = ddl
    for constraint in constraints:
        conn.execute(DropConstraint(constraint, if_exists=True))
    for index in indexes:
        conn.execute(DropIndex(index, if_exists=True))


def _create_indexes(conn: Connection, ddl: tuple[list[Index], list[Constraint]]) -> None:
    indexes, constraints = ddl
    for index in indexes:
        conn.execute(CreateIndex(index, if_not_exists=True))
    # Foreign keys last: adding one checks every row in a single join, instead of one
    # trigger-driven lookup per row and key during the COPY (three quarters of its time).
    for constraint in sorted(constraints, key=lambda c: isinstance(c, ForeignKeyConstraint)):
        conn.execute(AddConstraint(constraint))


def _load_postgresql(
    store: Store,
    batch: RowGenerator,
    chunks: list[tuple[int, int]],
    indexes: Mode,
    progress: Progress | None,
) -> tuple[float, float]:
    """One transaction: frames, (dropped indexes,) one COPY stream, (recreated indexes)."""
    total = len(batch.streams) * len(batch.times)
    started = time.perf_counter()
    with store.engine.begin() as conn:
        # The engine's 60 s statement timeout protects live requests, not a 10-million-row COPY.
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        frame_ids = _insert_frames(conn, batch, chunks)
        ddl = _observation_ddl(conn)
        if indexes == "rebuild":
            _drop_indexes(conn, ddl)
        driver = conn.connection.driver_connection
        assert driver is not None
        done = 0
        with driver.cursor() as cursor, cursor.copy(_COPY_OBSERVATIONS) as copy:
            for chunk, frame_id in zip(chunks, frame_ids, strict=True):
                copy.write(batch.copy_text(chunk, frame_id))
                done += (chunk[1] - chunk[0]) * len(batch.streams)
                if progress is not None:
                    progress(done, total)
        inserted = time.perf_counter()
        if indexes == "rebuild":
            _create_indexes(conn, ddl)
        _record_stream_features(conn, batch)
    return inserted - started, time.perf_counter() - inserted


def _load_sqlite(
    store: Store,
    batch: RowGenerator,
    chunks: list[tuple[int, int]],
    indexes: Mode,
    progress: Progress | None,
) -> tuple[float, float]:
    """One immediate transaction per chunk, with ``synchronous=OFF`` for the load only."""
    total = len(batch.streams) * len(batch.times)
    writer = store.engine.execution_options(sqlite_immediate=True)
    started = time.perf_counter()
    with writer.connect() as conn:
        driver: Any = conn.connection.driver_connection
        previous = int(driver.execute("PRAGMA synchronous").fetchone()[0])
        # Outside any transaction (SQLite ignores these inside one). A crash mid-load may lose
        # the last chunks, never corrupt the file (WAL): fine for a benchmark database.
        driver.execute("PRAGMA synchronous=OFF")
        # Time-major rows touch one leaf per datastream in each (datastream, time) index.
        driver.execute("PRAGMA cache_size=-262144")
        if indexes == "rebuild":
            # As PostgreSQL's rebuild drops the foreign keys: one check of every row at the end
            # instead of three parent look-ups per row (40 % of the insert time).
            driver.execute("PRAGMA foreign_keys=OFF")
        ddl = _observation_ddl(conn)
        try:
            if indexes == "rebuild":
                with conn.begin():
                    _drop_indexes(conn, ddl)
            done = 0
            try:
                for chunk in chunks:
                    with conn.begin():
                        [frame_id] = _insert_frames(conn, batch, [chunk])
                        conn.exec_driver_sql(_INSERT_OBSERVATIONS, batch.tuples(chunk, frame_id))
                    done += (chunk[1] - chunk[0]) * len(batch.streams)
                    if progress is not None:
                        progress(done, total)
            finally:
                inserted = time.perf_counter()
                if indexes == "rebuild":  # even after a failure: never leave the table bare
                    with conn.begin():
                        _create_indexes(conn, ddl)
            if indexes == "rebuild":
                bad = driver.execute("PRAGMA foreign_key_check(observations)").fetchone()
                if bad is not None:
                    raise BulkLoadError(f"bulk rows break a foreign key: {tuple(bad)}")
            with conn.begin():
                _record_stream_features(conn, batch)
        finally:
            driver.execute(_SQLITE_SYNCHRONOUS.get(previous, "PRAGMA synchronous=FULL"))
            # The enlarged page cache (and foreign_keys=OFF) must not follow this connection
            # back into the pool: the next connection gets make_engine's settings afresh.
            conn.invalidate()
    return inserted - started, time.perf_counter() - inserted


def _record_stream_features(conn: Connection, batch: RowGenerator) -> None:
    """The (Datastream, feature) pairs of the load, once at its end: every stream got rows, all
    of its one feature (no scan of the observations needed)."""
    insert_stream_features(
        conn, {(s.datastream_id, s.feature_of_interest_id) for s in batch.streams}
    )


def _analyze(store: Store) -> float:
    """Fresh planner statistics (and, on PostgreSQL, the visibility map and hint bits that a
    freshly loaded table lacks until autovacuum comes by); returns the seconds it took."""
    started = time.perf_counter()
    if store.backend == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("SET statement_timeout = 0")
            conn.exec_driver_sql("VACUUM (ANALYZE) observations")
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("RESET statement_timeout")
    else:
        with store.engine.connect() as conn:
            # On the driver connection, outside any transaction (a checkpoint needs that).
            driver: Any = conn.connection.driver_connection
            driver.execute("ANALYZE")
            # Fold the WAL the load produced back into the database file (and sync it).
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - started
