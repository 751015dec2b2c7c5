"""``observedArea`` of Datastreams and MultiDatastreams (18-088 §8.2.4), on both stores: the
bounding box of the features of a stream's observations, read for a whole page at once from
``stream_features``, only when written, and kept true by device ingest, API writes, moving Things
and (with ``prune_stream_features``) deletes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.metrics import HubMetrics
from hub.sta.entities import entity_by_name
from hub.sta.expand import Writer
from hub.sta.extents import datastream_extents
from hub.sta.observed_area import box_geometry, observed_areas
from hub.sta.serialize import Extras
from hub.store import Store
from hub.store.api_writes import prune_stream_features, write_transaction
from hub.store.queries import Extent, datastream_extent
from hub.store.schema import datastreams, features_of_interest
from hub.web import create_app
from tests.hub.sta.conftest import frame_record, observation_row, station_record
from tests.hub.sta.write.conftest import (
    LOCATION,
    MEASUREMENT,
    OBSERVED_PROPERTY,
    SENSOR,
    THING,
    UNIT,
    Rig,
    datastream,
    make_rig,
)

T0 = datetime(2025, 2, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
COMPLEX = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"
HERE = [71.42, 51.17]  # where LOCATION is


def point(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [x, y]}


def box(min_x: float, min_y: float, max_x: float, max_y: float) -> dict[str, Any]:
    ring = [[min_x, min_y], [max_x, min_y], [max_x, max_y], [min_x, max_y], [min_x, min_y]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(where: dict[str, Any], name: str = "Spot") -> dict[str, Any]:
    return {
        "name": name,
        "description": "Where the sample was taken",
        "encodingType": "application/geo+json",
        "feature": where,
    }


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """The SQL statements executed on ``store`` inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def reading_areas(seen: list[str]) -> list[str]:
    return [s for s in seen if "stream_features" in s]


# --- the box ------------------------------------------------------------------------------------


def test_the_box_is_shaped_as_postgis_envelopes_are() -> None:
    assert box_geometry((71.4, 51.1, 71.4, 51.1)) == point(71.4, 51.1)
    assert box_geometry((71.4, 51.1, 71.6, 51.3)) == box(71.4, 51.1, 71.6, 51.3)
    # No width: a zero-area polygon is not a valid geometry, so a line (as ST_Envelope).
    assert box_geometry((71.4, 51.1, 71.4, 51.3)) == {
        "type": "LineString",
        "coordinates": [[71.4, 51.1], [71.4, 51.3]],
    }


# --- device data --------------------------------------------------------------------------------


@pytest.fixture
def stations(store_url: str) -> Iterator[tuple[Store, dict[str, tuple[int, int]]]]:
    """Two HJ 212 stations with PM2.5 and NO2 streams and a batch of device data each; one
    more stream without observations."""
    store = Store.open(store_url)
    store.import_stations(
        [
            station_record("air-one", "air", "Air One"),
            station_record("air-two", "air", "Air Two", lat=51.2, lon=71.5),
        ]
    )
    mapping = MappingSet.load()
    pm25, no2 = mapping.observed_property("pm2_5"), mapping.observed_property("no2")
    assert pm25 is not None and no2 is not None
    streams = {
        "pm1": store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004"),
        "no1": store.ensure_datastream("air-one", no2, Aggregation.MEAN, "a21004"),
        "pm2": store.ensure_datastream("air-two", pm25, Aggregation.MEAN, "a34004"),
        "empty": store.ensure_datastream("air-two", no2, Aggregation.MEAN, "a21004"),
    }
    for key, station, names in (("a", "air-one", ("pm1", "no1")), ("b", "air-two", ("pm2",))):
        rows = [observation_row(streams[n], T0 + i * HOUR, float(i)) for n in names for i in (0, 1)]
        store.write_batch([frame_record(key, station, rows, T0)])
    try:
        yield store, streams
    finally:
        store.close()


def test_a_page_of_areas_is_one_query(
    stations: tuple[Store, dict[str, tuple[int, int]]],
) -> None:
    store, streams = stations
    ids = [ds for ds, _feature in streams.values()]
    with store.connect() as conn, statements(store) as seen:
        areas = observed_areas(conn, ids)
    assert len(reading_areas(seen)) == len(seen) - seen.count("BEGIN") == 1
    assert areas == {
        streams["pm1"][0]: point(71.42, 51.17),
        streams["no1"][0]: point(71.42, 51.17),
        streams["pm2"][0]: point(71.5, 51.2),
    }  # no observations, no area
    with store.connect() as conn:
        assert observed_areas(conn, ids, multi=True) == {}
        assert observed_areas(conn, []) == {}


def test_features_without_coordinates_are_left_out(
    stations: tuple[Store, dict[str, tuple[int, int]]],
) -> None:
    store, streams = stations
    pm1 = streams["pm1"][0]
    shapes = {
        "nothing": {"type": "GeometryCollection", "geometries": []},
        "field": {
            "type": "Polygon",
            "coordinates": [[[71.0, 51.0], [71.1, 51.0], [71.1, 51.5], [71.0, 51.0]]],
        },
    }
    with store.engine.begin() as conn:
        found = {
            name: conn.execute(
                insert(features_of_interest)
                .values(name=name, description="d", encoding_type="application/geo+json",
                        feature=shape, properties={})
                .returning(features_of_interest.c.id)
            ).scalar_one()
            for name, shape in shapes.items()
        }  # fmt: skip
    rows = [
        observation_row((pm1, found["nothing"]), T0 + 5 * HOUR, 1.0),
        observation_row((pm1, found["field"]), T0 + 6 * HOUR, 1.0),
    ]
    store.write_batch([frame_record("c", "air-one", rows, T0)])
    with store.connect() as conn:
        assert observed_areas(conn, [pm1]) == {pm1: box(71.0, 51.0, 71.42, 51.5)}


def test_the_writer_reads_a_page_only_for_what_it_writes(
    stations: tuple[Store, dict[str, tuple[int, int]]],
) -> None:
    store, _streams = stations
    calls: list[tuple[str, list[int]]] = []
    with store.connect() as conn:

        def areas(ids: Sequence[int], multi: bool) -> Mapping[int, Any]:
            calls.append(("areas", list(ids)))
            return observed_areas(conn, ids, multi=multi)

        def extents(ids: Sequence[int]) -> Mapping[int, Extent]:
            calls.append(("extents", list(ids)))
            return datastream_extents(conn, ids)

        def one(stream: int) -> Extent:
            calls.append(("extent", [stream]))
            return datastream_extent(conn, stream)

        found = conn.execute(select(datastreams).order_by(datastreams.c.id))
        rows: list[Mapping[str, Any]] = [dict(row._mapping) for row in found]
        ids = [row["id"] for row in rows]

        def write(select_: list[str]) -> list[dict[str, Any]]:
            calls.clear()
            writer = Writer(conn, "http://x/v1.1", Extras(one, extents, observed_areas=areas))
            return writer.entities(entity_by_name("Datastream"), rows, select_, [])

        assert all("observedArea" not in body for body in write(["name", "phenomenonTime"]))
        assert calls == [("extents", ids)]
        bodies = write(["observedArea"])
        assert calls == [("areas", ids)]  # the whole page at once, and no extents
        assert bodies[0] == {"observedArea": point(71.42, 51.17)}
        assert bodies[-1] == {}  # the stream without observations
        write([])
        assert sorted(calls) == [("areas", ids), ("extents", ids)]
        # Without a reader (the MQTT notifier's Extras) the property is left out.
        plain = Writer(conn, "http://x/v1.1", Extras(one)).entities(
            entity_by_name("Datastream"), rows, ["observedArea"], []
        )
        assert plain == [{}] * len(rows)


def test_device_streams_on_the_map_query(
    stations: tuple[Store, dict[str, tuple[int, int]]],
) -> None:
    store, streams = stations
    client = create_app(store, HubMetrics(), lambda: True).test_client()
    query = "/v1.1/Things?$expand=Datastreams($select=id,observedArea)"
    with statements(store) as seen:
        body = client.get(query).get_json()
    assert len(reading_areas(seen)) == 1  # every Thing's streams at once
    areas = {s["@iot.id"]: s.get("observedArea") for t in body["value"] for s in t["Datastreams"]}
    assert areas == {
        streams["pm1"][0]: point(71.42, 51.17),
        streams["no1"][0]: point(71.42, 51.17),
        streams["pm2"][0]: point(71.5, 51.2),
        streams["empty"][0]: None,
    }
    # The station moves: its new feature widens the box of the streams that measure there.
    store.import_stations([station_record("air-one", "air", "Air One", lat=51.3, lon=71.6)])
    pm25 = MappingSet.load().observed_property("pm2_5")
    assert pm25 is not None
    moved = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
    rows = [observation_row(moved, T0 + 9 * HOUR, 3.0)]
    store.write_batch([frame_record("c", "air-one", rows, T0)])
    pm1 = client.get(f"/v1.1/Datastreams({streams['pm1'][0]})").get_json()
    assert pm1["observedArea"] == box(71.42, 51.17, 71.6, 51.3)
    no1 = client.get(f"/v1.1/Datastreams({streams['no1'][0]})/observedArea").get_json()
    assert no1 == {"observedArea": point(71.42, 51.17)}
    empty = client.get(f"/v1.1/Datastreams({streams['empty'][0]})/observedArea")
    assert empty.status_code == 204  # no observations: nothing to bound


# --- API writes ---------------------------------------------------------------------------------


@pytest.fixture
def rig(store_url: str) -> Iterator[Rig]:
    """The hub's app with a running pipeline over a fresh store (writes as in the hub)."""
    made, pipeline = make_rig(store_url, with_pipeline=True)
    try:
        yield made
    finally:
        if pipeline is not None:
            pipeline.stop()
        made.store.close()


def _datastream(rig: Rig, thing: int) -> int:
    return rig.create(
        "Datastreams",
        datastream(Thing={"@iot.id": thing}, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY),
    )


def _prune(rig: Rig, stream: int, *, multi: bool = False) -> None:
    """What the STA delete does after removing observations."""
    with write_transaction(rig.store.engine) as conn:
        if multi:
            prune_stream_features(conn, multi_datastream_ids=[stream])
        else:
            prune_stream_features(conn, datastream_ids=[stream])


def test_posts_moves_and_deletes_change_the_box(rig: Rig) -> None:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    stream = _datastream(rig, thing)
    path = f"Datastreams({stream})"
    assert "observedArea" not in rig.get(path)  # no observations yet
    rig.create(f"{path}/Observations", {"result": 1})  # at the Thing's location
    assert rig.get(path)["observedArea"] == point(*HERE)
    yard = rig.create(
        f"{path}/Observations", {"result": 2, "FeatureOfInterest": feature(point(71.5, 51.2))}
    )
    assert rig.get(path)["observedArea"] == box(71.42, 51.17, 71.5, 51.2)
    # The Thing moves: later observations get a new feature where it stands now.
    elsewhere = rig.create("Locations", {**LOCATION, "location": point(71.3, 51.0)})
    rig.send("PATCH", f"Things({thing})", {"Locations": [{"@iot.id": elsewhere}]}, status=200)
    moved = rig.create(f"{path}/Observations", {"result": 3})
    expected = box(71.3, 51.0, 71.5, 51.2)
    assert rig.get(path)["observedArea"] == expected
    assert rig.get(f"{path}/observedArea") == {"observedArea": expected}
    raw = rig.client.get(f"/v1.1/{path}/observedArea/$value")
    assert raw.status_code == 200 and raw.mimetype == "text/plain"
    assert raw.get_json(force=True) == expected
    listed = rig.get(f"Things({thing})/Datastreams")["value"]
    assert [s["observedArea"] for s in listed] == [expected]
    expanded = rig.get(f"Things({thing})?$expand=Datastreams")["Datastreams"]
    assert [s["observedArea"] for s in expanded] == [expected]
    # Deleting observations, then pruning, narrows the box again.
    rig.send("DELETE", f"Observations({moved})", status=200)
    _prune(rig, stream)
    assert rig.get(path)["observedArea"] == box(71.42, 51.17, 71.5, 51.2)
    rig.send("DELETE", f"Observations({yard})", status=200)
    _prune(rig, stream)
    assert rig.get(path)["observedArea"] == point(*HERE)
    for observation in rig.get(f"{path}/Observations")["value"]:
        rig.send("DELETE", f"Observations({observation['@iot.id']})", status=200)
    _prune(rig, stream)
    assert "observedArea" not in rig.get(path)
    assert rig.client.get(f"/v1.1/{path}/observedArea").status_code == 204


def test_areas_are_read_only_when_selected(rig: Rig) -> None:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    streams = [_datastream(rig, thing) for _ in range(3)]
    for index, stream in enumerate(streams):
        where = feature(point(71.0 + index, 51.0))
        rig.create(f"Datastreams({stream})/Observations", {"result": 1, "FeatureOfInterest": where})
    with statements(rig.store) as seen:
        names = rig.get("Datastreams?$select=id,name,phenomenonTime")["value"]
    assert reading_areas(seen) == []
    assert all("observedArea" not in s and "phenomenonTime" in s for s in names)
    with statements(rig.store) as seen:
        areas = rig.get("Datastreams?$select=observedArea")["value"]
    assert len(reading_areas(seen)) == 1 and not any("observations" in s for s in seen)
    assert areas == [{"observedArea": point(71.0 + i, 51.0)} for i in range(3)]
    with statements(rig.store) as seen:
        everything = rig.get("Datastreams")["value"]
    assert len(reading_areas(seen)) == 1  # the page, not a query per Datastream
    assert [s["observedArea"] for s in everything] == [point(71.0 + i, 51.0) for i in range(3)]
    # Filters still refuse it: it is computed, not a column.
    response = rig.client.get(
        "/v1.1/Datastreams?$filter=st_within(observedArea, geography'POINT (1 2)')"
    )
    assert response.status_code == 501


def test_multidatastreams_have_an_area_too(rig: Rig) -> None:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    multi = rig.create(
        "MultiDatastreams",
        {
            "name": "Weather",
            "description": "Temperature and humidity",
            "unitOfMeasurements": [UNIT, UNIT],
            "observationType": COMPLEX,
            "multiObservationDataTypes": [MEASUREMENT, MEASUREMENT],
            "Thing": {"@iot.id": thing},
            "Sensor": SENSOR,
            "ObservedProperties": [
                {**OBSERVED_PROPERTY, "name": "Temperature"},
                {**OBSERVED_PROPERTY, "name": "Humidity"},
            ],
        },
    )
    path = f"MultiDatastreams({multi})"
    assert "observedArea" not in rig.get(path)
    rig.create(f"{path}/Observations", {"result": [1, 2]})
    assert rig.get(path)["observedArea"] == point(*HERE)
    far = rig.create(
        f"{path}/Observations",
        {"result": [3, 4], "FeatureOfInterest": feature(point(71.6, 51.4))},
    )
    expected = box(71.42, 51.17, 71.6, 51.4)
    assert rig.get(path)["observedArea"] == expected
    assert rig.get(f"{path}/observedArea") == {"observedArea": expected}
    assert rig.get("MultiDatastreams?$select=observedArea")["value"] == [{"observedArea": expected}]
    rig.send("DELETE", f"Observations({far})", status=200)
    _prune(rig, multi, multi=True)
    assert rig.get(path)["observedArea"] == point(*HERE)
