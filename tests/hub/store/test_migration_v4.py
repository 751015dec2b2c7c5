"""Schema step 4 on a database made by version 3 (both stores): ``stream_features`` is created
and filled from the stored observations, device ingest and prunes work on it afterwards, and the
step is idempotent (and a no-op on a fresh database).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, inspect, select, text

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.store import Store
from hub.store.api_writes import prune_stream_features, write_transaction
from hub.store.migration_v4 import apply
from hub.store.migrations import LATEST_VERSION
from hub.store.schema import (
    datastreams,
    features_of_interest,
    multi_datastreams,
    observations,
    schema_migrations,
    stream_feature_prunes,
    stream_features,
)
from tests.hub.sta.conftest import frame_record, observation_row, station_record

T0 = datetime(2025, 1, 14, 19, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _pairs(store: Store) -> set[tuple[int | None, int | None, int]]:
    cols = stream_features.c
    with store.connect() as conn:
        rows = conn.execute(
            select(cols.datastream_id, cols.multi_datastream_id, cols.feature_of_interest_id)
        )
        return {(r[0], r[1], int(r[2])) for r in rows}


def _version_3_database(url: str) -> dict[str, int]:
    """What a version-3 hub left behind: observations of device streams (one moved station,
    so two features) and of a MultiDatastream, and no step 4."""
    store = Store.open(url)
    ids: dict[str, int] = {}
    try:
        store.import_stations([station_record("air-one", "air", "Air One")])
        pm25 = MappingSet.load().observed_property("pm2_5")
        assert pm25 is not None
        first = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
        rows = [observation_row(first, T0 + i * HOUR, float(i)) for i in range(3)]
        store.write_batch([frame_record("a", "air-one", rows, T0)])
        store.import_stations([station_record("air-one", "air", "Air One", lat=51.3, lon=71.6)])
        moved = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
        rows = [observation_row(moved, T0 + (3 + i) * HOUR, float(i)) for i in range(2)]
        store.write_batch([frame_record("b", "air-one", rows, T0)])
        ids.update(stream=first[0], station=first[1], moved=moved[1])
        with store.engine.begin() as conn:
            stream = conn.execute(select(datastreams).where(datastreams.c.id == first[0])).one()
            ids["multi"] = conn.execute(
                insert(multi_datastreams)
                .values(thing_id=stream.thing_id, sensor_id=stream.sensor_id, name="m",
                        description="d", observation_type="c", unit_of_measurements=[{}],
                        multi_observation_data_types=["t"], properties={})
                .returning(multi_datastreams.c.id)
            ).scalar_one()  # fmt: skip
            frame = conn.execute(text("SELECT min(id) FROM raw_frames")).scalar_one()
            for hour in range(2):
                conn.execute(
                    insert(observations).values(
                        multi_datastream_id=ids["multi"], feature_of_interest_id=moved[1],
                        phenomenon_time_start=T0 + hour * HOUR,
                        phenomenon_time_end=T0 + hour * HOUR, result_json=[hour],
                        parameters={}, frame_id=frame,
                    )
                )  # fmt: skip
            # Back to version 3: the step-4 tables and their record go.
            stream_features.drop(conn)
            stream_feature_prunes.drop(conn)
            conn.execute(delete(schema_migrations).where(schema_migrations.c.version >= 4))
        assert store.schema_version() == 3
    finally:
        store.close()
    return ids


def test_the_step_fills_the_table_from_the_observations(store_url: str) -> None:
    ids = _version_3_database(store_url)
    store = Store.open(store_url)
    try:
        assert store.schema_version() == LATEST_VERSION
        assert _pairs(store) == {
            (ids["stream"], None, ids["station"]),
            (ids["stream"], None, ids["moved"]),
            (None, ids["multi"], ids["moved"]),
        }
        # The upgraded table takes device ingest and prunes.
        pm25 = MappingSet.load().observed_property("pm2_5")
        assert pm25 is not None
        moved = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
        rows = [observation_row(moved, T0 + 9 * HOUR, 1.0)]
        assert store.write_batch([frame_record("c", "air-one", rows, T0)]).observations_new == 1
        with write_transaction(store.engine) as conn:
            station = observations.c.feature_of_interest_id == ids["station"]
            conn.execute(delete(observations).where(station))
            assert prune_stream_features(conn, [ids["stream"]], [ids["multi"]]) == 1
            prunes = conn.execute(select(stream_feature_prunes.c.prunes)).scalar_one()
        assert prunes == 1
        assert _pairs(store) == {
            (ids["stream"], None, ids["moved"]),
            (None, ids["multi"], ids["moved"]),
        }
    finally:
        store.close()


@pytest.mark.filterwarnings("ignore:Did not recognize type 'geometry'")
def test_the_step_is_idempotent(store_url: str) -> None:
    _version_3_database(store_url)
    store = Store.open(store_url)
    try:
        before = _pairs(store)
        with store.engine.begin() as conn:
            apply(conn)
            apply(conn)
            assert conn.execute(select(stream_feature_prunes)).all() == [(1, 0)]
            inspector = inspect(conn)
            indexes = {i["name"] for i in inspector.get_indexes("stream_features")}
            foreign = {
                (fk["referred_table"], (fk.get("options") or {}).get("ondelete"))
                for fk in inspector.get_foreign_keys("stream_features")
            }
        assert _pairs(store) == before and len(before) == 3
        assert {"uq_multi_stream_feature", "ix_stream_features_feature"} <= indexes
        assert foreign == {
            ("datastreams", "CASCADE"),
            ("multi_datastreams", "CASCADE"),
            ("features_of_interest", "CASCADE"),
        }
    finally:
        store.close()


def test_a_fresh_database_is_left_as_step_one_made_it(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        with store.engine.begin() as conn:
            before = _schema(conn)
            apply(conn)
            assert _schema(conn) == before
            assert conn.execute(select(stream_feature_prunes)).all() == [(1, 0)]
            assert conn.execute(select(features_of_interest.c.id)).first() is None
    finally:
        store.close()


def _schema(conn: object) -> object:
    connection: Any = conn
    if connection.dialect.name == "sqlite":
        return connection.execute(text("SELECT name, sql FROM sqlite_master ORDER BY name")).all()
    return connection.execute(
        text(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY 1, 2"
        )
    ).all()
