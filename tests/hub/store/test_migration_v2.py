"""Schema step 2 on a database made by version 1 (both stores): rows survive, ids continue,
the new shape takes SensorThings writes, device ingest still works, and the step is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from hub.store import FrameRecord, ObservationRow, Store
from hub.store import schema as v2
from hub.store.engine import make_engine
from hub.store.migration_v2 import UPGRADED, apply
from hub.store.migrations import LATEST_VERSION
from tests.hub.store import schema_v1 as v1

T0 = datetime(2025, 1, 14, 19, 0, tzinfo=UTC)


def _v1_database(engine: Engine) -> dict[str, int]:
    """A version-1 database as the old step 1 made it, with one station's worth of rows."""
    with engine.begin() as conn:
        v1.metadata.create_all(conn)
        if conn.dialect.name == "postgresql":
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            conn.execute(
                text(
                    "ALTER TABLE locations ADD COLUMN geom geometry(Geometry, 4326) GENERATED "
                    "ALWAYS AS (ST_SetSRID(ST_GeomFromGeoJSON(location::text), 4326)) STORED"
                )
            )
            conn.execute(
                text(
                    "ALTER TABLE features_of_interest ADD COLUMN geom geometry(Geometry, 4326) "
                    "GENERATED ALWAYS AS (ST_SetSRID(ST_GeomFromGeoJSON(feature::text), 4326)) "
                    "STORED"
                )
            )
        conn.execute(insert(v1.schema_migrations).values(version=1, name="initial", applied_at=T0))
        ids: dict[str, int] = {}

        def add(table: Any, **values: Any) -> int:
            return int(
                conn.execute(insert(table).values(**values).returning(table.c.id)).scalar_one()
            )

        ids["station"] = add(
            v1.stations, key="air-one", source="lihe-hj212", kind="air", timezone="UTC",
            name={"en": "Air One"}, lat=51.17, lon=71.42, operator="Test", factors={},
            options={}, properties={}, updated_at=T0,
        )  # fmt: skip
        ids["thing"] = add(
            v1.things, station_id=ids["station"], name="Air One", description="d", properties={}
        )
        point = {"type": "Point", "coordinates": [71.42, 51.17]}
        ids["location"] = add(
            v1.locations, name="L", description="d", encoding_type="application/geo+json",
            location=point, properties={},
        )  # fmt: skip
        conn.execute(
            insert(v1.thing_locations).values(thing_id=ids["thing"], location_id=ids["location"])
        )
        ids["history"] = add(v1.historical_locations, thing_id=ids["thing"], time=T0)
        conn.execute(
            insert(v1.historical_location_locations).values(
                historical_location_id=ids["history"], location_id=ids["location"]
            )
        )
        ids["sensor"] = add(
            v1.sensors, key="lihe-hj212:air-one", name="S", description="d",
            encoding_type="text/html", metadata="urn:x", properties={},
        )  # fmt: skip
        ids["property"] = add(
            v1.observed_properties, key="pm2_5", name="PM2.5", definition="urn:pm2_5",
            description="d", properties={},
        )  # fmt: skip
        ids["feature"] = add(
            v1.features_of_interest, key="station:air-one:71.42:51.17", name="F",
            description="d", encoding_type="application/geo+json", feature=point, properties={},
        )  # fmt: skip
        ids["datastream"] = add(
            v1.datastreams, thing_id=ids["thing"], sensor_id=ids["sensor"],
            observed_property_id=ids["property"], aggregation="mean", factor="a34004",
            name="PM2.5", description="d", observation_type="OM_Measurement",
            unit={"symbol": "ug/m3"}, properties={},
        )  # fmt: skip
        ids["frame"] = add(
            v1.raw_frames, sha256="a" * 64, content=b"##raw", size=5, adapter="lihe-hj212",
            adapter_version="0.1.0", channel="test", peer="127.0.0.1:1", station_key="air-one",
            received_at=T0, last_received_at=T0, receive_count=1, outcome="stored",
            observations=2,
        )  # fmt: skip
        add(v1.frame_issues, frame_id=ids["frame"], code="bad-value", reason="x", recorded_at=T0)
        for minute, value in ((0, 12.5), (10, 14.0)):
            ids[f"obs{minute}"] = add(
                v1.observations, datastream_id=ids["datastream"],
                feature_of_interest_id=ids["feature"],
                phenomenon_time_start=T0 + timedelta(minutes=minute),
                phenomenon_time_end=T0 + timedelta(minutes=minute), result_time=T0,
                result=value, result_quality="valid", parameters={"received": {"value": "x"}},
                frame_id=ids["frame"],
            )  # fmt: skip
    return ids


@pytest.fixture
def upgraded(store_url: str) -> Iterator[tuple[Store, dict[str, int]]]:
    engine = make_engine(store_url)
    ids = _v1_database(engine)
    engine.dispose()
    store = Store.open(store_url)  # runs steps 2 and 3
    try:
        yield store, ids
    finally:
        store.close()


def _counts(store: Store) -> dict[str, int]:
    with store.connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in v2.metadata.tables.items()
            if name in v1.metadata.tables and name != "schema_migrations"
        }


def test_rows_survive_with_their_ids_and_values(upgraded: tuple[Store, dict[str, int]]) -> None:
    store, ids = upgraded
    assert store.schema_version() == LATEST_VERSION
    counts = _counts(store)
    assert counts["observations"] == 2 and counts["things"] == 1 and counts["frame_issues"] == 1
    with store.connect() as conn:
        rows = conn.execute(
            select(v2.observations).order_by(v2.observations.c.id)
        ).mappings().all()  # fmt: skip
        thing = conn.execute(select(v2.things)).mappings().one()
    assert [r["id"] for r in rows] == [ids["obs0"], ids["obs10"]]
    assert [r["result"] for r in rows] == [12.5, 14.0]
    assert rows[0]["phenomenon_time_start"] == T0
    assert rows[0]["parameters"] == {"received": {"value": "x"}}
    assert rows[0]["result_json"] is None and rows[0]["multi_datastream_id"] is None
    assert thing["station_id"] == ids["station"]


def test_the_new_shape_takes_api_entities(upgraded: tuple[Store, dict[str, int]]) -> None:
    store, ids = upgraded
    with store.engine.begin() as conn:
        thing = conn.execute(
            insert(v2.things)
            .values(station_id=None, name="API thing", description="d", properties={})
            .returning(v2.things.c.id)
        ).scalar_one()
        assert thing > ids["thing"]  # ids continue after the rebuild
        sensor = conn.execute(
            insert(v2.sensors)
            .values(key=None, name="S2", description="d", encoding_type="x", metadata="m",
                    properties={})
            .returning(v2.sensors.c.id)
        ).scalar_one()  # fmt: skip
        stream = conn.execute(
            insert(v2.datastreams)
            .values(thing_id=thing, sensor_id=sensor, observed_property_id=ids["property"],
                    aggregation=None, factor=None, name="n", description="d",
                    observation_type="t", unit={}, properties={})
            .returning(v2.datastreams.c.id)
        ).scalar_one()  # fmt: skip
        # Two API streams of one thing and property: NULL aggregations never collide.
        conn.execute(
            insert(v2.datastreams).values(
                thing_id=thing, sensor_id=sensor, observed_property_id=ids["property"],
                name="n2", description="d", observation_type="t", unit={}, properties={},
            )
        )  # fmt: skip
        multi = conn.execute(
            insert(v2.multi_datastreams)
            .values(thing_id=thing, sensor_id=sensor, name="m", description="d",
                    observation_type="c", unit_of_measurements=[{}],
                    multi_observation_data_types=["t"], properties={})
            .returning(v2.multi_datastreams.c.id)
        ).scalar_one()  # fmt: skip
        common = {
            "feature_of_interest_id": ids["feature"], "phenomenon_time_start": T0,
            "phenomenon_time_end": T0, "parameters": {}, "frame_id": ids["frame"],
        }  # fmt: skip
        conn.execute(
            insert(v2.observations).values(
                datastream_id=stream, result=None, result_json="text result", **common
            )
        )
        conn.execute(
            insert(v2.observations).values(multi_datastream_id=multi, result_json=[1, 2], **common)
        )
    with store.engine.begin() as conn:
        stored = conn.execute(
            select(v2.observations.c.result_json).where(v2.observations.c.datastream_id == stream)
        ).scalar_one()
    assert stored == "text result"


@pytest.mark.parametrize("stream", ["none", "both"])
def test_an_observation_belongs_to_exactly_one_stream(
    upgraded: tuple[Store, dict[str, int]], stream: str
) -> None:
    store, ids = upgraded
    with store.engine.begin() as conn:
        multi = conn.execute(
            insert(v2.multi_datastreams)
            .values(thing_id=ids["thing"], sensor_id=ids["sensor"], name="m", description="d",
                    observation_type="c", unit_of_measurements=[], multi_observation_data_types=[],
                    properties={})
            .returning(v2.multi_datastreams.c.id)
        ).scalar_one()  # fmt: skip
    values = {
        "datastream_id": ids["datastream"] if stream == "both" else None,
        "multi_datastream_id": multi if stream == "both" else None,
        "feature_of_interest_id": ids["feature"], "phenomenon_time_start": T0,
        "phenomenon_time_end": T0 + timedelta(hours=5), "parameters": {},
        "frame_id": ids["frame"],
    }  # fmt: skip
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert(v2.observations).values(**values))


def test_foreign_keys_still_hold_after_the_rebuild(upgraded: tuple[Store, dict[str, int]]) -> None:
    store, ids = upgraded
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(
            insert(v2.datastreams).values(
                thing_id=987654, sensor_id=ids["sensor"], observed_property_id=ids["property"],
                name="n", description="d", observation_type="t", unit={}, properties={},
            )
        )  # fmt: skip


def test_device_ingest_writes_after_the_upgrade(upgraded: tuple[Store, dict[str, int]]) -> None:
    store, ids = upgraded
    row = ObservationRow(
        ids["datastream"], ids["feature"], T0 + timedelta(minutes=20),
        T0 + timedelta(minutes=20), T0, 16.0, "valid", {},
    )  # fmt: skip
    frame = FrameRecord(
        sha256="b" * 64, content=b"##new", adapter="lihe-hj212", adapter_version="0.1.0",
        channel="test", peer="p", station_key="air-one", received_at=T0, outcome="stored",
        observations=[row],
    )  # fmt: skip
    summary = store.write_batch([frame])
    assert summary.observations_new == 1
    assert _counts(store)["observations"] == 3


@pytest.mark.filterwarnings("ignore:Did not recognize type 'geometry'")
def test_the_step_is_idempotent(upgraded: tuple[Store, dict[str, int]]) -> None:
    store, _ids = upgraded
    before = _counts(store)
    with store.engine.begin() as conn:
        apply(conn)
        apply(conn)
    assert _counts(store) == before
    with store.connect() as conn:
        inspector = inspect(conn)
        for table in UPGRADED:
            columns = {c["name"]: c["nullable"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                assert columns[column.name] == column.nullable, (table.name, column.name)
        indexes = {index["name"] for index in inspector.get_indexes("observations")}
    assert {
        "ix_observations_stream_time",
        "ix_observations_frame",
        "uq_multi_observation",
        "ix_observations_feature_time",
        "ix_observations_multi_time",
    } <= (indexes)


def test_a_fresh_database_is_left_as_step_one_made_it(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        with store.engine.begin() as conn:
            sql_before = _table_sql(conn)
            apply(conn)
            assert _table_sql(conn) == sql_before
    finally:
        store.close()


def _table_sql(conn: Any) -> Any:
    if conn.dialect.name == "sqlite":
        return conn.execute(text("SELECT name, sql FROM sqlite_master ORDER BY name")).all()
    return conn.execute(
        text(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY 1, 2"
        )
    ).all()
