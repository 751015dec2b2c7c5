"""The bulk loader behind ``bench/sta_query.py``: what it writes, and that the store stays whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from hub.metrics import HubMetrics
from hub.store import Store
from hub.store.bulk import (
    BULK_ADAPTER,
    BulkLoadError,
    bulk_load,
    create_fleet,
    fleet_records,
    load_observations,
    loaded_data,
)
from hub.store.schema import datastreams, observations, raw_frames, things
from hub.web import create_app

END = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
CADENCE = timedelta(minutes=20)


@pytest.mark.parametrize("indexes", ["keep", "rebuild"])
def test_bulk_load_writes_every_row_once(store_url: str, indexes: str) -> None:
    store = Store.open(store_url)
    try:
        report = bulk_load(
            store,
            stations=3,
            properties=2,
            observations_total=300,
            cadence=CADENCE,
            end=END + timedelta(minutes=7),  # floored to the cadence
            indexes=indexes,  # type: ignore[arg-type]
        )
        assert (report.datastreams, report.observations, report.indexes) == (6, 300, indexes)
        assert (report.first, report.last) == (END - 49 * CADENCE, END)
        held = loaded_data(store)
        assert (held.things, held.datastreams, held.observations) == (3, 6, 300)
        assert (held.first, held.last, held.bulk_frames) == (END - 49 * CADENCE, END, report.frames)

        with store.connect() as conn:
            per_stream = conn.execute(
                select(
                    observations.c.datastream_id,
                    func.count(),
                    func.count(func.distinct(observations.c.phenomenon_time_start)),
                    func.min(observations.c.phenomenon_time_start),
                    func.max(observations.c.phenomenon_time_start),
                ).group_by(observations.c.datastream_id)
            ).all()
            assert len(per_stream) == 6
            for _ds, count, distinct, first, last in per_stream:
                assert (count, distinct, first, last) == (50, 50, END - 49 * CADENCE, END)
            assert not conn.execute(
                select(observations.c.id).where(
                    (observations.c.phenomenon_time_end != observations.c.phenomenon_time_start)
                    | observations.c.result.is_(None)
                )
            ).first()
            frames = conn.execute(
                select(raw_frames.c.adapter, raw_frames.c.observations, raw_frames.c.outcome)
            ).all()
            assert {(f.adapter, f.outcome) for f in frames} == {(BULK_ADAPTER, "stored")}
            assert sum(f.observations for f in frames) == 300
            # Every datastream is the registry's: a Thing per station, the property's key.
            streams = conn.execute(
                select(datastreams.c.factor, datastreams.c.properties, things.c.name).join(
                    things, things.c.id == datastreams.c.thing_id
                )
            ).all()
            assert sorted({s.factor for s in streams}) == ["a34002", "a34004"]
            assert {s.properties["observed_property"] for s in streams} == {"pm2_5", "pm10"}
            names = {i["name"] for i in inspect(conn).get_indexes("observations")}
            assert {"ix_observations_stream_time", "ix_observations_frame"} <= names
            if store.backend == "postgresql":
                assert len(inspect(conn).get_foreign_keys("observations")) >= 3
    finally:
        store.close()


def test_unique_key_and_foreign_keys_hold_after_a_rebuild(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        bulk_load(
            store, stations=1, properties=1, observations_total=10, end=END, indexes="rebuild"
        )
        with store.connect() as conn:
            row = conn.execute(select(observations).limit(1)).one()._asdict()
        duplicate = {k: v for k, v in row.items() if k != "id"}
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(insert(observations).values(**duplicate))
        orphan = {**duplicate, "phenomenon_time_start": END + CADENCE, "frame_id": 999_999}
        orphan["phenomenon_time_end"] = orphan["phenomenon_time_start"]
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(insert(observations).values(**orphan))
        if store.backend == "sqlite":
            # The load's synchronous=OFF and foreign_keys=OFF stayed on its own connection.
            with store.connect() as conn:
                driver = conn.connection.driver_connection
                assert driver is not None
                assert driver.execute("PRAGMA synchronous").fetchone()[0] == 2
                assert driver.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        store.close()


def test_a_second_load_into_the_same_range_is_refused(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        streams = create_fleet(store, fleet_records(1, 2), 2)
        load_observations(store, streams, per_stream=5, cadence=CADENCE, end=END)
        with pytest.raises(BulkLoadError, match="fresh database"):
            load_observations(store, streams, per_stream=5, cadence=CADENCE, end=END)
        # A later range of the same datastreams is fine.
        load_observations(store, streams, per_stream=5, cadence=CADENCE, end=END + 5 * CADENCE)
        assert loaded_data(store).observations == 20
    finally:
        store.close()


def test_bad_sizes_are_refused(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        with pytest.raises(BulkLoadError, match="properties"):
            fleet_records(2, 21)
        with pytest.raises(BulkLoadError, match="cannot fill"):
            bulk_load(store, stations=2, properties=2, observations_total=3)
    finally:
        store.close()


def test_the_sensorthings_read_path_sees_the_load(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        bulk_load(store, stations=3, properties=2, observations_total=300, end=END)
        client = create_app(store, HubMetrics(), lambda: True).test_client()
        body = client.get("/v1.1/Things?$count=true").get_json()
        assert body["@iot.count"] == 3
        assert {t["name"] for t in body["value"]} == {f"Bench station {i}" for i in range(3)}
        with store.connect() as conn:
            stream = conn.execute(select(func.min(datastreams.c.id))).scalar_one()
        newest = client.get(
            f"/v1.1/Datastreams({stream})/Observations",
            query_string={"$top": "3", "$orderby": "phenomenonTime desc"},
        ).get_json()["value"]
        assert [o["phenomenonTime"] for o in newest] == [
            (END - k * CADENCE).isoformat().replace("+00:00", "Z") for k in range(3)
        ]
        assert all(isinstance(o["result"], float) for o in newest)
        day = client.get(
            f"/v1.1/Datastreams({stream})/Observations",
            query_string={
                "$filter": "phenomenonTime ge 2025-01-15T00:00:00Z "
                "and phenomenonTime lt 2025-01-15T06:00:00Z",
                "$count": "true",
            },
        ).get_json()
        assert day["@iot.count"] == 18  # six hours at 20 minutes
        total = client.get("/v1.1/Observations?$count=true&$top=1").get_json()
        assert total["@iot.count"] == 300
    finally:
        store.close()
