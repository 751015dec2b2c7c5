"""``write_batch`` says which observations it inserted and which it corrected (both stores).

Those ids are what the MQTT notifier publishes after a device batch commits, so they must be
exactly the rows the batch changed: new rows as created, changed values as corrected, exact
replays in neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.store import Store
from hub.store.schema import observations
from tests.hub.sta.conftest import frame_record, observation_row, station_record

T0 = datetime(2025, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def store(store_url: str) -> Iterator[tuple[Store, tuple[int, int], tuple[int, int]]]:
    opened = Store.open(store_url)
    opened.import_stations([station_record("air-one", "air", "Air One")])
    mapping = MappingSet.load()
    pm25, no2 = mapping.observed_property("pm2_5"), mapping.observed_property("no2")
    assert pm25 is not None and no2 is not None
    first = opened.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
    second = opened.ensure_datastream("air-one", no2, Aggregation.MEAN, "a21004")
    yield opened, first, second
    opened.close()


def stored_ids(store: Store, datastream_id: int) -> dict[datetime, int]:
    with store.connect() as conn:
        rows = conn.execute(
            select(observations.c.phenomenon_time_start, observations.c.id).where(
                observations.c.datastream_id == datastream_id
            )
        )
        return {start.astimezone(UTC): int(entity_id) for start, entity_id in rows}


def test_new_rows_are_reported_with_their_ids(
    store: tuple[Store, tuple[int, int], tuple[int, int]],
) -> None:
    opened, pm, no2 = store
    rows = [observation_row(pm, T0 + i * HOUR, float(i)) for i in range(5)]
    rows += [observation_row(no2, T0 + i * HOUR, 40.0 + i) for i in range(3)]
    summary = opened.write_batch([frame_record("a", "air-one", rows, T0)])
    expected = set(stored_ids(opened, pm[0]).values()) | set(stored_ids(opened, no2[0]).values())
    assert summary.observations_new == 8
    assert set(summary.created_ids) == expected and len(summary.created_ids) == 8
    assert summary.corrected_ids == ()


def test_replays_are_in_neither_list_and_corrections_are_reported(
    store: tuple[Store, tuple[int, int], tuple[int, int]],
) -> None:
    opened, pm, _no2 = store
    rows = [observation_row(pm, T0 + i * HOUR, float(i)) for i in range(3)]
    opened.write_batch([frame_record("a", "air-one", rows, T0)])
    replay = opened.write_batch([frame_record("a", "air-one", rows, T0)])
    assert replay.created_ids == () and replay.corrected_ids == ()
    assert replay.observations_duplicate == 3

    # One batch holding a correction, a duplicate and two new keys: the mixed path.
    mixed = [
        observation_row(pm, T0, 99.0),  # corrected
        observation_row(pm, T0 + HOUR, 1.0),  # duplicate
        observation_row(pm, T0 + 7 * HOUR, 7.0),  # new
        observation_row(pm, T0 + 8 * HOUR, 8.0),  # new
    ]
    summary = opened.write_batch([frame_record("b", "air-one", mixed, T0 + HOUR)])
    ids = stored_ids(opened, pm[0])
    assert summary.corrected_ids == (ids[T0],)
    assert set(summary.created_ids) == {ids[T0 + 7 * HOUR], ids[T0 + 8 * HOUR]}
    assert (summary.observations_new, summary.observations_corrected) == (2, 1)
    assert summary.observations_duplicate == 1


def test_ids_stay_right_after_the_newest_rows_were_deleted(
    store: tuple[Store, tuple[int, int], tuple[int, int]],
) -> None:
    # SQLite reuses the ids of deleted rows at the top of the table; the reported ids must be
    # the rows' real ids, not a guess from before the delete.
    opened, pm, _no2 = store
    opened.write_batch(
        [
            frame_record(
                "a", "air-one", [observation_row(pm, T0 + i * HOUR, 1.0) for i in range(4)], T0
            )
        ]
    )
    with opened.engine.begin() as conn:
        conn.execute(
            delete(observations).where(observations.c.phenomenon_time_start >= T0 + 2 * HOUR)
        )
    rows = [observation_row(pm, T0 + (10 + i) * HOUR, 2.0) for i in range(3)]
    summary = opened.write_batch([frame_record("c", "air-one", rows, T0)])
    ids = stored_ids(opened, pm[0])
    assert set(summary.created_ids) == {ids[T0 + (10 + i) * HOUR] for i in range(3)}


def test_an_empty_batch_reports_nothing(
    store: tuple[Store, tuple[int, int], tuple[int, int]],
) -> None:
    opened, _pm, _no2 = store
    summary = opened.write_batch([frame_record("d", "air-one", [], T0)])
    assert summary.created_ids == () and summary.corrected_ids == ()
