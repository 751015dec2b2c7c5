"""``stream_features``: every observation insert path records its (stream, feature) pairs, the
device-ingest cache of known pairs stays true across rollbacks and prunes, and
``prune_stream_features`` removes exactly the pairs no observation has any more (both stores).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.store import Store, batches
from hub.store.api_writes import (
    ApiObservation,
    ApiRequest,
    observation_streams,
    prune_stream_features,
    record_observation_features,
    write_observations,
    write_transaction,
)
from hub.store.bulk import create_fleet, fleet_records, load_observations
from hub.store.schema import (
    datastreams,
    features_of_interest,
    multi_datastreams,
    observations,
    stream_feature_prunes,
    stream_features,
    things,
)
from tests.hub.sta.conftest import frame_record, observation_row, station_record

T0 = datetime(2025, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@dataclass
class Network:
    """One registered station with two device streams, (datastream id, feature id) each."""

    store: Store
    pm: tuple[int, int]
    no2: tuple[int, int]


@pytest.fixture
def network(store_url: str) -> Iterator[Network]:
    store = Store.open(store_url)
    store.import_stations([station_record("air-one", "air", "Air One")])
    mapping = MappingSet.load()
    pm25, no2 = mapping.observed_property("pm2_5"), mapping.observed_property("no2")
    assert pm25 is not None and no2 is not None
    pm = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
    second = store.ensure_datastream("air-one", no2, Aggregation.MEAN, "a21004")
    try:
        yield Network(store, pm, second)
    finally:
        store.close()


def pairs(store: Store) -> set[tuple[int | None, int | None, int]]:
    with store.connect() as conn:
        rows = conn.execute(
            select(
                stream_features.c.datastream_id,
                stream_features.c.multi_datastream_id,
                stream_features.c.feature_of_interest_id,
            )
        )
        return {(r[0], r[1], int(r[2])) for r in rows}


def observed_pairs(store: Store) -> set[tuple[int | None, int | None, int]]:
    """What stream_features must hold: the distinct pairs of the stored observations."""
    obs = observations.c
    with store.connect() as conn:
        rows = conn.execute(
            select(
                obs.datastream_id, obs.multi_datastream_id, obs.feature_of_interest_id
            ).distinct()
        )
        return {(r[0], r[1], int(r[2])) for r in rows}


def hourly(ds: tuple[int, int], start: int, count: int) -> list[batches.ObservationRow]:
    return [observation_row(ds, T0 + (start + i) * HOUR, float(i)) for i in range(count)]


def new_feature(conn: Connection, x: float, y: float) -> int:
    return int(
        conn.execute(
            insert(features_of_interest)
            .values(
                name="f", description="d", encoding_type="application/geo+json",
                feature={"type": "Point", "coordinates": [x, y]}, properties={},
            )
            .returning(features_of_interest.c.id)
        ).scalar_one()
    )  # fmt: skip


# --- device ingest ------------------------------------------------------------------------------


def test_a_device_batch_records_its_distinct_pairs_once(network: Network) -> None:
    store, pm, no2 = network.store, network.pm, network.no2
    rows = hourly(pm, 0, 5) + hourly(no2, 0, 3)
    store.write_batch([frame_record("a", "air-one", rows, T0)])
    expected = {(pm[0], None, pm[1]), (no2[0], None, no2[1])}
    assert pairs(store) == expected
    # Replays, corrections and further batches add nothing: the pairs are known.
    store.write_batch([frame_record("a", "air-one", rows, T0)])
    corrected = [row._replace(result=row.result + 1) for row in hourly(pm, 0, 2)]
    store.write_batch([frame_record("b", "air-one", corrected + hourly(pm, 5, 3), T0)])
    assert pairs(store) == expected == observed_pairs(store)


def test_a_moved_station_adds_its_new_feature(network: Network) -> None:
    store, pm = network.store, network.pm
    store.write_batch([frame_record("a", "air-one", hourly(pm, 0, 2), T0)])
    store.import_stations([station_record("air-one", "air", "Air One", lat=51.3, lon=71.6)])
    definition = MappingSet.load().observed_property("pm2_5")
    assert definition is not None
    moved = store.ensure_datastream("air-one", definition, Aggregation.MEAN, "a34004")
    assert moved[0] == pm[0] and moved[1] != pm[1]
    store.write_batch([frame_record("b", "air-one", hourly(moved, 2, 2), T0)])
    assert pairs(store) == {(pm[0], None, pm[1]), (pm[0], None, moved[1])}


def test_a_rolled_back_batch_leaves_no_pair_behind_in_the_cache(network: Network) -> None:
    store, pm = network.store, network.pm
    with store.connect() as conn:
        feature = new_feature(conn, 70.0, 50.0)
        conn.commit()
    elsewhere = (pm[0], feature)
    # Two batches in one transaction: the second sees the first's pair conflict, which proves
    # nothing about what is committed; then everything is rolled back.
    writer = store.engine.execution_options(sqlite_immediate=True)
    with pytest.raises(RuntimeError), writer.begin() as conn:
        batches.write_batch(conn, [frame_record("a", "air-one", hourly(elsewhere, 0, 1), T0)])
        batches.write_batch(conn, [frame_record("b", "air-one", hourly(elsewhere, 1, 1), T0)])
        raise RuntimeError("roll back")
    assert pairs(store) == set()
    store.write_batch([frame_record("c", "air-one", hourly(elsewhere, 2, 1), T0)])
    assert pairs(store) == {(pm[0], None, feature)} == observed_pairs(store)


def test_a_prune_by_another_process_empties_the_cache(network: Network, store_url: str) -> None:
    store, pm = network.store, network.pm
    for key, start in (("a", 0), ("b", 1), ("c", 2)):  # the pair is known (cached) after two
        store.write_batch([frame_record(key, "air-one", hourly(pm, start, 1), T0)])
    other = Store.open(store_url)  # another hub on the same database
    try:
        with write_transaction(other.engine) as conn:
            conn.execute(delete(observations).where(observations.c.datastream_id == pm[0]))
            assert prune_stream_features(conn, datastream_ids=[pm[0]]) == 1
    finally:
        other.close()
    assert pairs(store) == set()
    store.write_batch([frame_record("d", "air-one", hourly(pm, 5, 1), T0)])
    assert pairs(store) == {(pm[0], None, pm[1])} == observed_pairs(store)


# --- API writes ---------------------------------------------------------------------------------


def request(content: bytes) -> ApiRequest:
    return ApiRequest(content, "sta", "1", "http", "127.0.0.1:1", T0)


def api_row(
    stream: int | None, multi: int | None, feature: int, hour: int, result: object
) -> ApiObservation:
    when = T0 + hour * HOUR
    return ApiObservation(
        datastream_id=stream, multi_datastream_id=multi, feature_of_interest_id=feature,
        phenomenon_time_start=when, phenomenon_time_end=when, result_time=None,
        result=result if isinstance(result, float) else None,
        result_json=None if isinstance(result, float) else result, result_quality=None,
        result_quality_json=None, valid_time_start=None, valid_time_end=None, parameters={},
    )  # fmt: skip


def make_multi(conn: Connection, thing: int, sensor: int) -> int:
    return int(
        conn.execute(
            insert(multi_datastreams)
            .values(
                thing_id=thing, sensor_id=sensor, name="m", description="d",
                observation_type="c", unit_of_measurements=[{}],
                multi_observation_data_types=["t"], properties={},
            )
            .returning(multi_datastreams.c.id)
        ).scalar_one()
    )  # fmt: skip


def test_api_writes_record_pairs_and_corrections_move_them(network: Network) -> None:
    store, pm = network.store, network.pm
    with write_transaction(store.engine) as conn:
        stream = conn.execute(select(datastreams).where(datastreams.c.id == pm[0])).one()
        multi = make_multi(conn, stream.thing_id, stream.sensor_id)
        far = new_feature(conn, 72.0, 52.0)
        write_observations(
            conn,
            request(b"one"),
            [
                api_row(pm[0], None, pm[1], 0, 1.0),
                api_row(pm[0], None, far, 1, 2.0),
                api_row(None, multi, far, 0, [1, 2]),
            ],
        )
    assert pairs(store) == {(pm[0], None, pm[1]), (pm[0], None, far), (None, multi, far)}
    # A correction of hour 1 to the station's feature: the stream has nothing at `far` now.
    with write_transaction(store.engine) as conn:
        write_observations(conn, request(b"two"), [api_row(pm[0], None, pm[1], 1, 3.0)])
    assert pairs(store) == {(pm[0], None, pm[1]), (None, multi, far)} == observed_pairs(store)


# --- prune and the helpers for the STA write path -------------------------------------------------


def test_prune_removes_only_pairs_without_observations(network: Network) -> None:
    store, pm, no2 = network.store, network.pm, network.no2
    with store.connect() as conn:
        far = new_feature(conn, 72.0, 52.0)
        conn.commit()
    rows = hourly(pm, 0, 2) + hourly((pm[0], far), 2, 2) + hourly(no2, 0, 1)
    store.write_batch([frame_record("a", "air-one", rows, T0)])
    with write_transaction(store.engine) as conn:
        prunes = conn.execute(select(stream_feature_prunes.c.prunes)).scalar_one()
        assert prune_stream_features(conn, datastream_ids=[pm[0], no2[0]]) == 0
        ids = [
            int(i)
            for i in conn.execute(
                select(observations.c.id).where(observations.c.feature_of_interest_id == far)
            ).scalars()
        ]
        assert observation_streams(conn, ids) == ([pm[0]], [], [far])
        conn.execute(delete(observations).where(observations.c.id.in_(ids)))
        # Restricted to other features: nothing goes.
        assert prune_stream_features(conn, datastream_ids=[pm[0]], feature_ids=[pm[1]]) == 0
        assert prune_stream_features(conn, datastream_ids=[pm[0]], feature_ids=[far]) == 1
        after = conn.execute(select(stream_feature_prunes.c.prunes)).scalar_one()
        assert after == prunes + 1
        assert prune_stream_features(conn) == 0
    assert pairs(store) == {(pm[0], None, pm[1]), (no2[0], None, no2[1])} == observed_pairs(store)


def test_an_observation_moved_in_place_gets_its_pair(network: Network) -> None:
    store, pm = network.store, network.pm
    store.write_batch([frame_record("a", "air-one", hourly(pm, 0, 2), T0)])
    with write_transaction(store.engine) as conn:
        far = new_feature(conn, 72.0, 52.0)
        first = conn.execute(select(observations.c.id).order_by(observations.c.id)).scalar()
        assert first is not None
        streams, multis, features = observation_streams(conn, [first])
        conn.execute(
            observations.update()
            .where(observations.c.id == first)
            .values(feature_of_interest_id=far)
        )
        record_observation_features(conn, [first])
        assert prune_stream_features(conn, streams, multis, features) == 0  # one still there
    assert pairs(store) == {(pm[0], None, pm[1]), (pm[0], None, far)} == observed_pairs(store)


def test_deleting_a_stream_or_feature_takes_its_pairs(network: Network) -> None:
    store, pm = network.store, network.pm
    with write_transaction(store.engine) as conn:
        stream = conn.execute(select(datastreams).where(datastreams.c.id == pm[0])).one()
        multi = make_multi(conn, stream.thing_id, stream.sensor_id)
        far = new_feature(conn, 72.0, 52.0)
        write_observations(
            conn,
            request(b"one"),
            [api_row(None, multi, far, 0, [1]), api_row(None, multi, pm[1], 1, [2])],
        )
    assert pairs(store) == {(None, multi, far), (None, multi, pm[1])}
    with write_transaction(store.engine) as conn:
        conn.execute(delete(observations).where(observations.c.feature_of_interest_id == far))
        conn.execute(delete(features_of_interest).where(features_of_interest.c.id == far))
    assert pairs(store) == {(None, multi, pm[1])}
    with write_transaction(store.engine) as conn:
        conn.execute(delete(observations).where(observations.c.multi_datastream_id == multi))
        conn.execute(delete(multi_datastreams).where(multi_datastreams.c.id == multi))
    assert pairs(store) == set()


@pytest.mark.parametrize("streams", ["none", "both"])
def test_a_pair_belongs_to_exactly_one_stream(network: Network, streams: str) -> None:
    store, pm = network.store, network.pm
    with store.connect() as conn:
        stream = conn.execute(select(datastreams).where(datastreams.c.id == pm[0])).one()
        thing = conn.execute(select(things.c.id)).scalar_one()
        assert thing == stream.thing_id
        multi = make_multi(conn, stream.thing_id, stream.sensor_id)
        conn.commit()
    values = {
        "datastream_id": pm[0] if streams == "both" else None,
        "multi_datastream_id": multi if streams == "both" else None,
        "feature_of_interest_id": pm[1],
    }
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert(stream_features).values(**values))


def test_the_bulk_loader_records_one_pair_per_stream(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        streams = create_fleet(store, fleet_records(2, 2), 2)
        load_observations(store, streams, per_stream=3, end=T0, indexes="rebuild")
        expected = {(s.datastream_id, None, s.feature_of_interest_id) for s in streams}
        assert pairs(store) == expected == observed_pairs(store)
    finally:
        store.close()
