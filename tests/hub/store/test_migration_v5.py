"""Schema step 5 on a database made by version 4 (both stores): the provenance tables and the
log's head row appear, observations gain ``prov_entry``/``prov_leaf`` (NULL for the rows already
there), the upgraded database has the shape of a fresh one, and the step is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, delete, inspect, select, text

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.provenance import merkle
from hub.provenance.log import StoredLog
from hub.store import Store
from hub.store.migration_v5 import NEW_TABLES, apply
from hub.store.migrations import LATEST_VERSION
from hub.store.schema import observations, prov_log_head, schema_migrations
from tests.conftest import PG_ADMIN_URL
from tests.hub.sta.conftest import frame_record, observation_row, station_record

T0 = datetime(2025, 1, 14, 19, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
PROV_TABLES = [table.name for table in NEW_TABLES]


def _version_4_database(url: str) -> int:
    """What a version-4 hub left behind: device observations, no provenance tables or columns
    and no step 5. Returns how many observations it holds."""
    store = Store.open(url)
    try:
        store.import_stations([station_record("air-one", "air", "Air One")])
        pm25 = MappingSet.load().observed_property("pm2_5")
        assert pm25 is not None
        stream = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
        rows = [observation_row(stream, T0 + i * HOUR, float(i)) for i in range(4)]
        store.write_batch([frame_record("a", "air-one", rows, T0)])
        with store.engine.begin() as conn:
            for table in reversed(NEW_TABLES):
                table.drop(conn)
            # Constant DDL; SQLite drops columns since 3.35.
            conn.execute(text("ALTER TABLE observations DROP COLUMN prov_entry"))
            conn.execute(text("ALTER TABLE observations DROP COLUMN prov_leaf"))
            conn.execute(delete(schema_migrations).where(schema_migrations.c.version >= 5))
        assert store.schema_version() == 4
        with store.connect() as conn:
            assert _columns(conn, "observations").isdisjoint({"prov_entry", "prov_leaf"})
    finally:
        store.close()
    return len(rows)


def _columns(conn: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(conn).get_columns(table)}


def _shape(conn: Connection) -> dict[str, list[tuple[str, str, bool]]]:
    """Name, type and nullability of every column of the tables this step touches."""
    inspector = inspect(conn)
    return {
        table: [
            (c["name"], str(c["type"]), bool(c["nullable"])) for c in inspector.get_columns(table)
        ]
        for table in [*PROV_TABLES, "observations"]
    }


def _keys(conn: Connection) -> dict[str, Any]:
    inspector = inspect(conn)
    return {
        table: (
            inspector.get_pk_constraint(table)["constrained_columns"],
            sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            sorted(
                (fk["referred_table"], tuple(fk["constrained_columns"]))
                for fk in inspector.get_foreign_keys(table)
            ),
        )
        for table in PROV_TABLES
    }


def test_the_step_upgrades_a_version_4_database(store_url: str, tmp_path: Path) -> None:
    stored = _version_4_database(store_url)
    store = Store.open(store_url)
    try:
        assert store.schema_version() == LATEST_VERSION == 5
        with store.connect() as conn:
            assert set(PROV_TABLES) <= set(inspect(conn).get_table_names())
            assert conn.execute(select(prov_log_head)).all() == [(1, 0)]
            places = conn.execute(select(observations.c.prov_entry, observations.c.prov_leaf))
            assert places.all() == [(None, None)] * stored
            upgraded, upgraded_keys = _shape(conn), _keys(conn)
        # The upgraded log works.
        log = StoredLog()
        with store.engine.execution_options(sqlite_immediate=True).begin() as conn:
            index = log.reserve(conn)
            log.append(conn, index, b"first record", "00000000-0000-0000-0000-000000000001", now=T0)
        with store.connect() as conn:
            assert log.root(conn) == merkle.leaf_hash(b"first record")
        # The new columns take values.
        with store.engine.begin() as conn:
            conn.execute(observations.update().values(prov_entry=0, prov_leaf=3))
            assert set(conn.execute(select(observations.c.prov_leaf)).scalars()) == {3}
    finally:
        store.close()
    # Same shape as a database made fresh by today's step 1.
    with _another_database(store_url, tmp_path) as fresh_url:
        fresh = Store.open(fresh_url)
        try:
            with fresh.connect() as conn:
                assert _shape(conn) == upgraded
                assert _keys(conn) == upgraded_keys
        finally:
            fresh.close()


@contextmanager
def _another_database(store_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty database on the same store as ``store_url``."""
    if store_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = store_url.rsplit("/", 1)[1] + "_fresh"
    quoted = admin.dialect.identifier_preparer.quote(name)
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE " + quoted))
    try:
        yield store_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS " + quoted + " WITH (FORCE)"))
        admin.dispose()


@pytest.mark.filterwarnings("ignore:Did not recognize type 'geometry'")
def test_the_step_is_idempotent_and_keeps_the_log(store_url: str) -> None:
    _version_4_database(store_url)
    store = Store.open(store_url)
    try:
        log = StoredLog()
        with store.engine.execution_options(sqlite_immediate=True).begin() as conn:
            items = [(b"r%d" % i, f"00000000-0000-0000-0000-00000000000{i}") for i in range(3)]
            log.append_many(conn, 0, items, now=T0)
        with store.engine.begin() as conn:
            before = _shape(conn)
            apply(conn)
            apply(conn)
            assert _shape(conn) == before
            assert conn.execute(select(prov_log_head)).all() == [(1, 3)]
            assert log.size(conn) == 3
    finally:
        store.close()


def test_a_fresh_database_has_everything_and_the_step_changes_nothing(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        with store.engine.begin() as conn:
            assert {"prov_entry", "prov_leaf"} <= _columns(conn, "observations")
            assert conn.execute(select(prov_log_head)).all() == [(1, 0)]
            before = _schema(conn)
            apply(conn)
            assert _schema(conn) == before
            assert conn.execute(select(prov_log_head)).all() == [(1, 0)]
            nullable = {c["name"]: c["nullable"] for c in inspect(conn).get_columns("observations")}
            assert nullable["prov_entry"] and nullable["prov_leaf"]
    finally:
        store.close()


def _schema(conn: Connection) -> object:
    if conn.dialect.name == "sqlite":
        return conn.execute(text("SELECT name, sql FROM sqlite_master ORDER BY name")).all()
    return conn.execute(
        text(
            "SELECT table_name, column_name, data_type, is_nullable FROM "
            "information_schema.columns WHERE table_schema = current_schema() ORDER BY 1, 2"
        )
    ).all()
