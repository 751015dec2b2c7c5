"""The store suite: every test runs on SQLite and on PostgreSQL + PostGIS (``store_url``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from adapters.base import Aggregation, hash_secret
from hub.mapping import MappingSet
from hub.model.registry import StationRecord
from hub.store import FrameIssue, FrameRecord, ObservationRow, Store, StoreError
from hub.store.migrations import LATEST_VERSION
from hub.store.schema import (
    datastreams,
    historical_locations,
    locations,
    observations,
    raw_frames,
    schema_migrations,
    stations,
)

SECRET_HASH = hash_secret("A7k2p9", salt=b"0123456789abcdef")
T0 = datetime(2025, 1, 14, 19, 0, tzinfo=UTC)


def station(**changes: Any) -> StationRecord:
    base: dict[str, Any] = {
        "id": "lihe-air-test",
        "source": "lihe-hj212",
        "kind": "air",
        "name": {"en": "Test air station", "ru": "Тест", "kk": "Сынақ"},
        "lat": 51.17,
        "lon": 71.42,
        "operator": "Lihe Technology (pilot)",
        "device_id": "4C4948453030323230303031",
        "system_code": "22",
        "secret_hash": SECRET_HASH,
        "logger_timezone": "Asia/Almaty",
        "factors": {"a34004": {"name": "PM2.5", "unit": "ug/m3"}},
    }
    base.update(changes)
    return StationRecord.model_validate(base)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    opened.import_stations([station()])
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def pm25() -> Any:
    definition = MappingSet.load().observed_property("pm2_5")
    assert definition is not None
    return definition


def frame(sha: str, rows: list[ObservationRow], **changes: Any) -> FrameRecord:
    values: dict[str, Any] = {
        "sha256": sha.ljust(64, "0"),
        "content": sha.encode(),
        "adapter": "lihe-hj212",
        "adapter_version": "0.1.0",
        "channel": "test",
        "peer": "127.0.0.1:1",
        "station_key": "lihe-air-test",
        "received_at": T0 + timedelta(minutes=5),
        "outcome": "stored",
        "observations": rows,
    }
    values.update(changes)
    return FrameRecord(**values)


def row(ds: tuple[int, int], minute: int, value: float, quality: str = "valid") -> ObservationRow:
    start = T0 + timedelta(minutes=minute)
    return ObservationRow(
        datastream_id=ds[0],
        feature_of_interest_id=ds[1],
        phenomenon_time_start=start,
        phenomenon_time_end=start,
        result_time=start,
        result=value,
        result_quality=quality,
        parameters={"received": {"value": str(value), "unit": "ug/m3"}},
    )


def count(store: Store, table: Any) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_migrations_are_recorded_and_idempotent(store: Store, store_url: str) -> None:
    assert store.schema_version() == LATEST_VERSION
    again = Store.open(store_url)
    assert again.schema_version() == LATEST_VERSION
    assert count(again, schema_migrations) == LATEST_VERSION
    again.close()


def test_newer_schema_is_refused(store: Store, store_url: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            schema_migrations.insert().values(
                version=LATEST_VERSION + 1, name="future", applied_at=datetime.now(UTC)
            )
        )
    with pytest.raises(StoreError, match="newer than this hub"):
        Store.open(store_url)


def test_station_import_creates_sta_entities_without_clear_secret(store: Store) -> None:
    records = store.stations()
    assert [r.id for r in records] == ["lihe-air-test"]
    assert records[0].device_profile() is not None
    assert records[0].device_profile().verify_secret("A7k2p9")  # type: ignore[union-attr]
    with store.connect() as conn:
        dump = str(conn.execute(select(stations)).all())
        assert "A7k2p9" not in dump
        assert conn.execute(select(func.count()).select_from(historical_locations)).scalar() == 1
        location = conn.execute(select(locations.c.location)).scalar_one()
    assert location == {"type": "Point", "coordinates": [71.42, 51.17]}


def test_reimport_is_idempotent_and_a_move_keeps_history(store: Store) -> None:
    store.import_stations([station()])
    assert count(store, locations) == 1
    assert count(store, historical_locations) == 1
    store.import_stations([station(lat=51.18)])
    assert count(store, locations) == 2
    assert count(store, historical_locations) == 2
    assert store.stations()[0].lat == 51.18


@pytest.mark.postgres
def test_postgis_geometry_is_generated(pg_url: str) -> None:
    store = Store.open(pg_url)
    store.import_stations([station()])
    with store.connect() as conn:
        x, y, srid = conn.execute(
            text("SELECT ST_X(geom), ST_Y(geom), ST_SRID(geom) FROM locations")
        ).one()
        gist = conn.execute(
            text("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_locations_geom'")
        ).scalar_one()
    store.close()
    assert (x, y, srid, gist) == (71.42, 51.17, 4326, 1)


def test_datastreams_are_one_per_station_property_aggregation(store: Store, pm25: Any) -> None:
    first = store.ensure_datastream("lihe-air-test", pm25, Aggregation.INSTANT, "a34004")
    again = store.ensure_datastream("lihe-air-test", pm25, Aggregation.INSTANT, "a34004")
    mean = store.ensure_datastream("lihe-air-test", pm25, Aggregation.MEAN, "a34004")
    assert first == again
    assert mean[0] != first[0]
    with store.connect() as conn:
        props = conn.execute(
            select(datastreams.c.properties).where(datastreams.c.id == first[0])
        ).scalar_one()
    assert props["station_id"] == "lihe-air-test"
    assert props["factor"] == "a34004"
    assert props["aggregation"] == "instant"


def test_unknown_station_datastream_is_a_key_error(store: Store, pm25: Any) -> None:
    with pytest.raises(KeyError):
        store.ensure_datastream("no-such-station", pm25, Aggregation.INSTANT, "a34004")


def test_same_batch_twice_stores_once(store: Store, pm25: Any) -> None:
    ds = store.ensure_datastream("lihe-air-test", pm25, Aggregation.INSTANT, "a34004")
    batch = [frame("aa", [row(ds, 0, 10.0), row(ds, 5, 11.0)]), frame("bb", [row(ds, 10, 12.0)])]
    first = store.write_batch(batch)
    second = store.write_batch(batch)
    assert (first.frames_new, first.observations_new) == (2, 3)
    assert (second.frames_new, second.observations_new) == (0, 0)
    assert second.observations_duplicate == 3
    assert count(store, observations) == 3
    with store.connect() as conn:
        counts = conn.execute(select(raw_frames.c.receive_count)).scalars().all()
    assert counts == [2, 2]


def test_a_different_value_is_a_correction_not_a_second_observation(
    store: Store, pm25: Any
) -> None:
    ds = store.ensure_datastream("lihe-air-test", pm25, Aggregation.INSTANT, "a34004")
    store.write_batch([frame("aa", [row(ds, 0, 10.0)])])
    summary = store.write_batch([frame("cc", [row(ds, 0, 99.0, "invalid:calibration")])])
    assert summary.observations_corrected == 1
    assert count(store, observations) == 1
    with store.connect() as conn:
        result, quality, params = conn.execute(
            select(observations.c.result, observations.c.result_quality, observations.c.parameters)
        ).one()
    assert (result, quality) == (99.0, "invalid:calibration")
    assert params["corrections"][0]["result"] == 10.0
    assert params["corrections"][0]["resultQuality"] == "valid"


def test_duplicate_keys_inside_one_batch_keep_the_last(store: Store, pm25: Any) -> None:
    ds = store.ensure_datastream("lihe-air-test", pm25, Aggregation.INSTANT, "a34004")
    summary = store.write_batch([frame("aa", [row(ds, 0, 1.0)]), frame("bb", [row(ds, 0, 2.0)])])
    assert summary.observations_new == 1
    with store.connect() as conn:
        assert conn.execute(select(observations.c.result)).scalar_one() == 2.0


def test_rejected_frames_are_quarantined_with_reasons(store: Store) -> None:
    bad = frame(
        "dd",
        [],
        outcome="rejected",
        station_key=None,
        issues=[FrameIssue("unknown-device", "MN FFFF is not registered", "FFFF")],
    )
    partial = frame("ee", [], issues=[FrameIssue("bad-value", "a34004: 'NaN' is not a number")])
    store.write_batch([bad, partial])
    store.write_batch([bad])  # the same rejected bytes again: still one entry
    entries = store.quarantine()
    assert {(e.code, e.outcome) for e in entries} == {
        ("unknown-device", "rejected"),
        ("bad-value", "stored"),
    }
    assert len(entries) == 2
    assert store.quarantine(code="bad-value")[0].reason == "a34004: 'NaN' is not a number"
    assert store.frame_content("dd".ljust(64, "0")) == b"dd"
    assert store.unattributed_rejections() == 1


def test_station_stats(store: Store, pm25: Any) -> None:
    ds = store.ensure_datastream("lihe-air-test", pm25, Aggregation.INSTANT, "a34004")
    store.write_batch([frame("aa", [row(ds, 0, 1.0), row(ds, 5, 2.0)])])
    store.write_batch([frame("ff", [], outcome="rejected", issues=[FrameIssue("bad-secret", "x")])])
    (stats,) = store.station_stats()
    assert (stats.station, stats.observations, stats.rejected_frames) == ("lihe-air-test", 2, 1)
    assert (stats.first_time, stats.last_time) == (T0, T0 + timedelta(minutes=5))


def test_pending_pieces_settle_or_get_rejected(store: Store, pm25: Any) -> None:
    ds = store.ensure_datastream("lihe-air-test", pm25, Aggregation.INSTANT, "a34004")
    store.write_batch([frame("p1", [], outcome="pending"), frame("p2", [], outcome="pending")])
    assert len(store.pending_frames(limit=10)) == 2
    store.write_batch([frame("p3", [row(ds, 0, 1.0)], settles=("p1".ljust(64, "0"),))])
    assert [content for _a, content, _t in store.pending_frames(limit=10)] == [b"p2"]
    store.reject_frames(["p2".ljust(64, "0")], FrameIssue("incomplete", "1 of 2 pieces"))
    assert store.pending_frames(limit=10) == []
    assert store.quarantine(code="incomplete")[0].outcome == "rejected"


def test_naive_datetimes_are_refused(store: Store, pm25: Any) -> None:
    ds = store.ensure_datastream("lihe-air-test", pm25, Aggregation.INSTANT, "a34004")
    naive = ObservationRow(ds[0], ds[1], T0.replace(tzinfo=None), T0, T0, 1.0, "valid", {})
    with pytest.raises(Exception, match="naive datetime"):
        store.write_batch([frame("aa", [naive])])
    assert count(store, observations) == 0


def test_concurrent_writers_sharing_one_database_store_each_key_once(
    store: Store, store_url: str, pm25: Any
) -> None:
    """Several hub processes may share one database: racing writers never duplicate."""
    ds = store.ensure_datastream("lihe-air-test", pm25, Aggregation.INSTANT, "a34004")
    others = [Store.open(store_url) for _ in range(3)]
    errors: list[BaseException] = []

    def write(target: Store, tag: str) -> None:
        try:
            for start in range(0, 60, 10):
                rows = [row(ds, m, float(m)) for m in range(start, start + 10)]
                target.write_batch([frame(f"{tag}{start}", rows)])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, f"w{i}")) for i, s in enumerate(others)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for other in others:
        other.close()
    assert errors == []
    assert count(store, observations) == 60


def test_datastream_extent_comes_from_first_and_last_observation(store: Store, pm25: Any) -> None:
    ds = store.ensure_datastream("lihe-air-test", pm25, Aggregation.INSTANT, "a34004")
    assert store.datastream_extent(ds[0]).phenomenon_start is None
    store.write_batch([frame("aa", [row(ds, 30, 1.0)])])
    store.write_batch([frame("bb", [row(ds, 0, 1.0)])])
    store.write_batch([frame("cc", [row(ds, 60, 1.0)])])
    extent = store.datastream_extent(ds[0])
    assert (extent.phenomenon_start, extent.phenomenon_end) == (T0, T0 + timedelta(minutes=60))
    assert (extent.result_start, extent.result_end) == (T0, T0 + timedelta(minutes=60))
