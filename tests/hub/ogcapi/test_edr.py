"""The EDR station-series provider on both stores, value by value against the store.

The world: six stations placed at exact geodesic distances around a centre C in Astana, device
streams written through the store's ingest path (``ensure_datastream`` + ``write_batch``), and
(in one test) observations posted through the SensorThings API. Every answer is also checked
against the CoverageJSON rules (:func:`tests.hub.ogcapi.test_coveragejson.check_document`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pygeoapi.provider.base import (
    ProviderGenericError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderNoDataError,
    ProviderRequestEntityTooLargeError,
)
from pyproj import Geod
from shapely import wkt as shapely_wkt
from sqlalchemy import event, select

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.ogcapi.edr import POSITION_TOLERANCE_M, StationSeriesEDRProvider
from hub.ogcapi.edr_params import parse_datetime
from hub.ogcapi.registry import register, unregister
from hub.store import Store
from hub.store.schema import datastreams, observations, observed_properties, stations, things
from tests.hub.ogcapi.test_coveragejson import check_document, check_parameter
from tests.hub.sta.conftest import frame_record, observation_row, station_record

GEOD = Geod(ellps="WGS84")
C = (71.43, 51.13)  # lon, lat
T0 = datetime(2025, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)
DAY = timedelta(days=1)
MONTH_STEPS = 31 * 72  # March at a 20-minute cadence: 2,232 values


def _at(distance_m: float, azimuth: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(C[0], C[1], azimuth, distance_m)
    return float(lon), float(lat)


PLACES = {
    "air-one": C,
    "air-near": _at(30, 90),
    "air-far": _at(80, 0),
    "air-city": _at(3000, 45),
    "river": _at(20_000, 200),
    "quiet": _at(10_000, 300),
}


@dataclass
class World:
    store: Store
    provider: StationSeriesEDRProvider
    key: str

    def ask(self, query_type: str, **kwargs: Any) -> dict[str, Any]:
        """A query with the keyword set pygeoapi's EDR API passes (its defaults otherwise)."""
        args: dict[str, Any] = {
            "query_type": query_type,
            "instance": None,
            "format_": "json",
            "datetime_": None,
            "select_properties": [],
            "wkt": None,
            "z": None,
            "bbox": [],
            "within": None,
            "within_units": None,
            "corridor_width": None,
            "width_units": None,
            "corridor_height": None,
            "height_units": None,
            "limit": 10,
            "location_id": None,
            "crs_transform_spec": None,
        }
        if isinstance(kwargs.get("wkt"), str):
            kwargs["wkt"] = shapely_wkt.loads(kwargs["wkt"])
        args.update(kwargs)
        result: dict[str, Any] = self.provider.query(**args)
        if result["type"] in ("Coverage", "CoverageCollection"):
            check_document(result)
        return result

    def with_options(self, **options: Any) -> StationSeriesEDRProvider:
        config = StationSeriesEDRProvider.provider_config(self.key)
        config["options"] = {**config["options"], **options}
        return StationSeriesEDRProvider(config)

    def stored(self, station: str, parameter: str) -> dict[tuple[datetime, datetime], float]:
        return stored_values(self.store, station, parameter)


def stored_values(
    store: Store, station: str, parameter: str
) -> dict[tuple[datetime, datetime], float]:
    """The store's finite numeric values of one station's parameter, read independently."""
    key, _, aggregation = parameter.partition(".")
    query = (
        select(
            observations.c.phenomenon_time_start,
            observations.c.phenomenon_time_end,
            observations.c.result,
        )
        .join(datastreams, datastreams.c.id == observations.c.datastream_id)
        .join(things, things.c.id == datastreams.c.thing_id)
        .join(stations, stations.c.id == things.c.station_id)
        .join(observed_properties, observed_properties.c.id == datastreams.c.observed_property_id)
        .where(
            stations.c.key == station,
            observed_properties.c.key == key,
            datastreams.c.aggregation == (aggregation or "instant"),
            observations.c.result.is_not(None),
        )
    )
    with store.connect() as conn:
        rows = conn.execute(query).all()
    return {(r[0], r[1]): float(r[2]) for r in rows if r[2] == r[2]}  # NaN != NaN


def covered(coverage: dict[str, Any], parameter: str) -> dict[tuple[datetime, datetime], float]:
    """A coverage's non-null values of ``parameter`` by (start, end), read back from the axis."""
    t_axis = coverage["domain"]["axes"]["t"]
    starts = [datetime.fromisoformat(t) for t in t_axis["values"]]
    bounds = [datetime.fromisoformat(t) for t in t_axis.get("bounds", [])]
    ends = bounds[1::2] if bounds else starts
    values = coverage["ranges"][parameter]["values"]
    return {(s, e): v for s, e, v in zip(starts, ends, values, strict=True) if v is not None}


def in_window(
    values: dict[tuple[datetime, datetime], float], lo: datetime | None, hi: datetime | None
) -> dict[tuple[datetime, datetime], float]:
    return {
        k: v for k, v in values.items() if (lo is None or k[0] >= lo) and (hi is None or k[0] <= hi)
    }


def build(store: Store) -> None:
    store.import_stations(
        [
            station_record(key, "water" if key == "river" else "air", key.title(), lon=lon, lat=lat)
            for key, (lon, lat) in PLACES.items()
        ]
    )
    mapping = MappingSet.load()
    pm25, pm10, no2, ph = (mapping.observed_property(k) for k in ("pm2_5", "pm10", "no2", "ph"))
    assert pm25 and pm10 and no2 and ph
    one25 = store.ensure_datastream("air-one", pm25, Aggregation.INSTANT, "a34004")
    one10 = store.ensure_datastream("air-one", pm10, Aggregation.INSTANT, "a34002")
    one_mean = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
    near25 = store.ensure_datastream("air-near", pm25, Aggregation.INSTANT, "a34004")
    far_no2 = store.ensure_datastream("air-far", no2, Aggregation.INSTANT, "a21004")
    city25 = store.ensure_datastream("air-city", pm25, Aggregation.INSTANT, "a34004")
    river_ph = store.ensure_datastream("river", ph, Aggregation.INSTANT, "w01001")
    step = timedelta(minutes=20)
    one = [observation_row(one25, T0 + i * step, 10 + (i % 50) * 0.25) for i in range(MONTH_STEPS)]
    one.append(observation_row(one25, T0 - step, 99.0))  # February: outside March windows
    one += [observation_row(one10, T0 + i * H, 30.0 + i) for i in range(48)]
    one.append(observation_row(one10, T0 + 2 * DAY, float("nan")))
    one += [
        observation_row(one_mean, T0 + i * H, 12 + i * 0.5, end=T0 + (i + 1) * H) for i in range(24)
    ]
    one.append(observation_row(one_mean, T0, 15.5, end=T0 + DAY))

    def hourly(ds: tuple[int, int], start: datetime, base: float, n: int, **kw: Any) -> list[Any]:
        every = kw.pop("every", H)
        return [observation_row(ds, start + i * every, base + i, **kw) for i in range(n)]

    store.write_batch(
        [
            frame_record("a", "air-one", one, T0),
            frame_record("b", "air-near", hourly(near25, T0, 100.0, 24), T0),
            frame_record("c", "air-far", hourly(far_no2, T0, 40.0, 24), T0),
            frame_record("d", "air-city", hourly(city25, T0 + DAY, 50.0, 24), T0),
            frame_record("e", "river", hourly(river_ph, T0, 7.0, 6, every=4 * H, unit="pH"), T0),
        ]
    )


@pytest.fixture
def world(store_url: str) -> Iterator[World]:
    store = Store.open(store_url)
    build(store)
    key = register(store)
    try:
        yield World(
            store, StationSeriesEDRProvider(StationSeriesEDRProvider.provider_config(key)), key
        )
    finally:
        unregister(key)
        store.close()


def ids(result: dict[str, Any]) -> list[str]:
    if result["type"] == "FeatureCollection":
        return [f["id"] for f in result["features"]]
    return [c["id"] for c in result["coverages"]]


# --- metadata -----------------------------------------------------------------------------


def test_parameters_carry_units_and_definitions(world: World) -> None:
    fields = world.provider.get_fields()
    assert set(fields) == {"pm2_5", "pm2_5.mean", "pm10", "no2", "ph"}
    mapping = MappingSet.load()
    params = world.provider.get_parameters()
    assert isinstance(params, dict) and set(params) == set(fields)
    for name, param in params.items():
        check_parameter(param)
        definition = mapping.observed_property(name.partition(".")[0])
        assert definition is not None
        assert param["observedProperty"]["id"] == definition.definition
        assert param["observedProperty"]["label"] == {"en": definition.name}
        assert param["unit"]["symbol"]["value"] == definition.unit
        assert param["unit"]["label"] == {"en": definition.unit_name}
        assert fields[name]["x-ogc-unit"] == definition.unit
        assert fields[name]["type"] == "number"
    assert params["pm2_5.mean"]["label"] == {"en": "PM2.5 (mean)"}
    listed = world.provider.get_parameters(["ph"], as_list=True)
    assert isinstance(listed, list) and [p["id"] for p in listed] == ["ph"]


def test_query_types_and_no_instances(world: World) -> None:
    assert world.provider.get_query_types() == ["locations", "position", "radius", "area"]
    assert world.provider.instances() == []
    assert world.provider.instance("latest") is False


def test_collection_metadata(world: World) -> None:
    meta = StationSeriesEDRProvider.collection_metadata(world.store)
    lons = [p[0] for p in PLACES.values()]
    lats = [p[1] for p in PLACES.values()]
    assert meta["extents"]["spatial"]["bbox"] == pytest.approx(
        [min(lons), min(lats), max(lons), max(lats)]
    )
    temporal = meta["extents"]["temporal"]
    assert temporal["begin"] == T0 - timedelta(minutes=20) and temporal["end"] is None
    assert meta["title"] and meta["description"] and meta["keywords"]
    config = StationSeriesEDRProvider.provider_config(world.key)
    assert config["type"] == "edr" and config["data"] == world.key
    assert config["name"] == "hub.ogcapi.edr.StationSeriesEDRProvider"


def test_collection_metadata_of_an_empty_store(tmp_path: Any) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        meta = StationSeriesEDRProvider.collection_metadata(store)
    finally:
        store.close()
    assert meta["extents"]["spatial"]["bbox"] == [-180.0, -90.0, 180.0, 90.0]
    assert meta["extents"]["temporal"]["begin"] is None


# --- locations ------------------------------------------------------------------------------


def test_locations_lists_every_station(world: World) -> None:
    found = world.ask("locations")
    assert ids(found) == sorted(PLACES)
    assert found["numberMatched"] == found["numberReturned"] == len(PLACES)
    by_id = {f["id"]: f for f in found["features"]}
    for key, (lon, lat) in PLACES.items():
        assert by_id[key]["geometry"] == {"type": "Point", "coordinates": [lon, lat]}
        assert by_id[key]["properties"]["name"] == key.title()
    assert by_id["air-one"]["properties"]["parameter-name"] == ["pm10", "pm2_5", "pm2_5.mean"]
    assert by_id["quiet"]["properties"]["parameter-name"] == []
    assert by_id["river"]["properties"]["kind"] == "water"


def test_locations_filters(world: World) -> None:
    box = [C[0] - 0.002, C[1] - 0.002, C[0] + 0.002, C[1] + 0.002]
    assert ids(world.ask("locations", bbox=box)) == ["air-far", "air-near", "air-one"]
    assert ids(world.ask("locations", select_properties=["no2"])) == ["air-far"]
    assert ids(world.ask("locations", select_properties=["no2", "ph"])) == ["air-far", "river"]
    march2 = "2025-03-02T00:00:00Z/2025-03-02T23:59:59Z"
    assert ids(world.ask("locations", datetime_=march2)) == ["air-city", "air-one"]
    assert ids(world.ask("locations", datetime_=march2, select_properties=["pm10"])) == ["air-one"]
    assert ids(world.ask("locations", datetime_="2020-01-01/2020-12-31")) == []


def test_location_month_value_by_value(world: World) -> None:
    started = time.perf_counter()
    coverage = world.ask(
        "locations",
        location_id="air-one",
        select_properties=["pm2_5"],
        datetime_="2025-03-01/2025-03-31",
    )
    elapsed = time.perf_counter() - started
    assert coverage["type"] == "Coverage" and coverage["id"] == "air-one"
    assert list(coverage["parameters"]) == ["pm2_5"] and list(coverage["ranges"]) == ["pm2_5"]
    expected = in_window(world.stored("air-one", "pm2_5"), T0, T0 + 31 * DAY)
    assert len(expected) == MONTH_STEPS
    assert covered(coverage, "pm2_5") == expected
    assert coverage["domain"]["axes"]["x"]["values"] == [C[0]]
    assert "bounds" not in coverage["domain"]["axes"]["t"]
    # One station-month is an index range: far below a second even on a loaded test machine.
    assert elapsed < 2.0, elapsed


def test_location_all_parameters(world: World) -> None:
    coverage = world.ask("locations", location_id="air-one")
    assert set(coverage["ranges"]) == {"pm2_5", "pm10", "pm2_5.mean"}
    for name in coverage["ranges"]:
        assert covered(coverage, name) == world.stored("air-one", name)
    # The February value is there without a datetime; the NaN of pm10 is not.
    assert (T0 - timedelta(minutes=20),) * 2 in covered(coverage, "pm2_5")
    assert len(covered(coverage, "pm10")) == 48
    # Hourly and daily means share a start: two domain points told apart by their bounds.
    means = covered(coverage, "pm2_5.mean")
    assert means[(T0, T0 + H)] == 12.0 and means[(T0, T0 + DAY)] == 15.5


def test_unknown_location_is_404_and_no_data_is_204(world: World) -> None:
    with pytest.raises(ProviderItemNotFoundError) as missing:
        world.ask("locations", location_id="nowhere")
    assert missing.value.http_status_code == 404
    for kwargs in (
        {"location_id": "quiet"},
        {"location_id": "air-one", "datetime_": "2020-01-01/2020-12-31"},
        {"location_id": "air-near", "select_properties": ["pm10"]},
    ):
        with pytest.raises(ProviderNoDataError) as none:
            world.ask("locations", **kwargs)
        assert none.value.http_status_code == 204


# --- position, radius, area -----------------------------------------------------------------


def check_values(
    world: World, result: dict[str, Any], lo: datetime | None, hi: datetime | None
) -> None:
    for coverage in result["coverages"]:
        for name in coverage["ranges"]:
            expected = in_window(world.stored(coverage["id"], name), lo, hi)
            assert covered(coverage, name) == expected, (coverage["id"], name)


def test_position_finds_the_stations_within_the_tolerance(world: World) -> None:
    assert POSITION_TOLERANCE_M == 50.0
    window = "2025-03-01T00:00:00Z/2025-03-01T23:59:59Z"
    result = world.ask("position", wkt=f"POINT({C[0]} {C[1]})", datetime_=window)
    assert result["type"] == "CoverageCollection"
    assert ids(result) == ["air-near", "air-one"]  # air-far is 80 m away
    check_values(world, result, T0, T0 + DAY - timedelta(seconds=1))
    near = result["coverages"][0]
    assert near["domain"]["axes"]["x"]["values"] == [PLACES["air-near"][0]]
    assert near["station"] == {"id": "air-near", "name": {"en": "Air-Near"}}
    far = PLACES["air-far"]
    multi = world.ask("position", wkt=f"MULTIPOINT(({C[0]} {C[1]}), ({far[0]} {far[1]}))")
    assert ids(multi) == ["air-far", "air-near", "air-one"]
    wider = world.with_options(position_tolerance_m=100).query(
        query_type="position", wkt=shapely_wkt.loads(f"POINT({C[0]} {C[1]})"), select_properties=[]
    )
    assert ids(wider) == ["air-far", "air-near", "air-one"]
    only = world.ask("position", wkt=f"POINT({C[0]} {C[1]})", select_properties=["pm2_5.mean"])
    assert ids(only) == ["air-one"] and list(only["parameters"]) == ["pm2_5.mean"]
    check_values(world, only, None, None)
    with pytest.raises(ProviderNoDataError):
        world.ask("position", wkt="POINT(70 50)")


def test_radius_is_geodesic(world: World) -> None:
    point = f"POINT({C[0]} {C[1]})"

    def radius(within: str, units: str) -> list[str]:
        return ids(world.ask("radius", wkt=point, within=within, within_units=units))

    assert radius("79", "m") == ["air-near", "air-one"]
    assert radius("81", "m") == ["air-far", "air-near", "air-one"]
    assert radius("0.1", "KM") == ["air-far", "air-near", "air-one"]
    assert radius("2.9", "km") == ["air-far", "air-near", "air-one"]
    assert radius("3.01", "km") == ["air-city", "air-far", "air-near", "air-one"]
    assert radius("13", "mi") == ["air-city", "air-far", "air-near", "air-one", "river"]
    lon, lat = PLACES["air-city"]
    exact = world.ask("radius", wkt=f"POINT({lon} {lat})", within="0", within_units="m")
    assert ids(exact) == ["air-city"]
    result = world.ask(
        "radius", wkt=point, within="5", within_units="km", datetime_="2025-03-02/.."
    )
    assert ids(result) == ["air-city", "air-one"]
    check_values(world, result, T0 + DAY, None)


def test_area_takes_the_stations_inside_or_on_the_edge(world: World) -> None:
    x, y = C
    box = f"POLYGON(({x - 0.01} {y - 0.01}, {x + 0.01} {y - 0.01}, {x + 0.01} {y + 0.01}, {x - 0.01} {y + 0.01}, {x - 0.01} {y - 0.01}))"  # noqa: E501
    result = world.ask("area", wkt=box, select_properties=["pm2_5", "no2"])
    assert ids(result) == ["air-far", "air-near", "air-one"]
    assert set(result["parameters"]) == {"pm2_5", "no2"}
    check_values(world, result, None, None)
    edge = f"POLYGON(({x} {y}, {x + 1} {y}, {x + 1} {y + 1}, {x} {y + 1}, {x} {y}))"
    assert "air-one" in ids(world.ask("area", wkt=edge))
    cx, cy = PLACES["air-city"]
    rx, ry = PLACES["river"]
    multi = (
        f"MULTIPOLYGON((({cx - 0.001} {cy - 0.001}, {cx + 0.001} {cy - 0.001}, "
        f"{cx + 0.001} {cy + 0.001}, {cx - 0.001} {cy - 0.001})), "
        f"(({rx - 0.001} {ry - 0.001}, {rx + 0.001} {ry - 0.001}, "
        f"{rx + 0.001} {ry + 0.001}, {rx - 0.001} {ry - 0.001})))"
    )
    assert ids(world.ask("area", wkt=multi)) == ["air-city", "river"]


# --- datetime ---------------------------------------------------------------------------------


DATETIMES: list[tuple[str, list[int]]] = [
    ("2025-03-01T05:00:00Z", [5]),
    ("2025-03-01T10:00:00+05:00", [5]),
    ("2025-03-01t05:00:00z", [5]),
    ("2025-03-01T05:00:00Z/2025-03-01T07:00:00Z", [5, 6, 7]),
    ("../2025-03-01T01:00:00Z", [0, 1]),
    ("/2025-03-01T01:00:00Z", [0, 1]),
    ("2025-03-02T22:00:00Z/..", [46, 47]),
    ("2025-03-02T22:00:00Z/", [46, 47]),
    ("2025-03-02", list(range(24, 48))),
    ("2025-03-01T23:30:00.5Z/2025-03-02T00:00:00.000001Z", [24]),
    ("../..", list(range(48))),
]


def test_datetime_selects_by_phenomenon_start(world: World) -> None:
    """PM10 of air-one is hourly from T0 for 48 h (value 30 + hour); one world for all forms."""
    for text, hours in DATETIMES:
        coverage = world.ask(
            "locations", location_id="air-one", select_properties=["pm10"], datetime_=text
        )
        expected = {(T0 + h * H, T0 + h * H): 30.0 + h for h in hours}
        assert covered(coverage, "pm10") == expected, text


def test_parse_datetime_bounds() -> None:
    assert parse_datetime(None) is None and parse_datetime("") is None
    assert parse_datetime("2025-03-02") == (T0 + DAY, T0 + 2 * DAY - timedelta(microseconds=1))
    assert parse_datetime("2025-03-01/2025-03-01") == (T0, T0 + DAY - timedelta(microseconds=1))
    assert parse_datetime("../2025-03-01T00:00:00Z") == (None, T0)


# --- refusals ---------------------------------------------------------------------------------

POINT = f"POINT({C[0]} {C[1]})"
BAD_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("position", {"wkt": POINT, "select_properties": ["pm25"]}),
    ("position", {"wkt": POINT, "select_properties": ["pm2_5", "bogus"]}),
    ("locations", {"select_properties": ["<script>alert(1)</script>"]}),
    ("locations", {"location_id": "air-one", "select_properties": ["pm2_5.median"]}),
    ("position", {"wkt": POINT, "datetime_": "2025-03-01T00:00:00"}),
    ("position", {"wkt": POINT, "datetime_": "yesterday"}),
    ("position", {"wkt": POINT, "datetime_": "2025-02-30"}),
    ("position", {"wkt": POINT, "datetime_": "2025-03-02/2025-03-01"}),
    ("position", {"wkt": POINT, "datetime_": ".."}),
    ("position", {"wkt": POINT, "datetime_": "2025-03-01/2025-03-02/2025-03-03"}),
    ("position", {"wkt": POINT, "datetime_": "2025-03-01T00:00Z"}),
    ("locations", {"datetime_": "2025-13-01"}),
    ("position", {"wkt": "POLYGON((0 0, 1 0, 1 1, 0 0))"}),
    ("position", {"wkt": None}),
    ("position", {"wkt": "POINT(200 10)"}),
    ("position", {"wkt": "POINT(10 -91)"}),
    ("position", {"wkt": "POINT Z (71 51 300)"}),
    ("position", {"wkt": "POINT EMPTY"}),
    ("radius", {"wkt": "LINESTRING(0 0, 1 1)", "within": "1", "within_units": "km"}),
    ("radius", {"wkt": POINT}),
    ("radius", {"wkt": POINT, "within": "1"}),
    ("radius", {"wkt": POINT, "within": "-1", "within_units": "km"}),
    ("radius", {"wkt": POINT, "within": "nan", "within_units": "km"}),
    ("radius", {"wkt": POINT, "within": "inf", "within_units": "km"}),
    ("radius", {"wkt": POINT, "within": "ten", "within_units": "km"}),
    ("radius", {"wkt": POINT, "within": "1", "within_units": "furlong"}),
    ("area", {"wkt": POINT}),
    ("area", {"wkt": "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))"}),
    ("position", {"wkt": POINT, "z": 5}),
    ("position", {"wkt": POINT, "crs_transform_spec": object()}),
    ("position", {"wkt": POINT, "instance": "2025"}),
    ("locations", {"wkt": POINT}),
    ("locations", {"bbox": [70, 50, 0, 72, 52, 10]}),
    ("locations", {"bbox": [72, 50, 70, 52]}),
    ("locations", {"location_id": "air-one", "bbox": [70, 50, 72, 52]}),
]


def test_bad_requests_are_400(world: World) -> None:
    for query_type, kwargs in BAD_REQUESTS:
        with pytest.raises(ProviderInvalidQueryError) as refused:
            world.ask(query_type, **kwargs)
        error = refused.value
        assert error.http_status_code == 400, (query_type, kwargs)
        assert error.user_msg and error.message == error.user_msg
        assert "<" not in error.message and "\n" not in error.message


def test_unknown_parameter_is_named_when_plain(world: World) -> None:
    with pytest.raises(ProviderInvalidQueryError, match="'pm25'"):
        world.ask("position", wkt=POINT, select_properties=["pm2_5", "pm25"])


def test_too_many_values_is_413(world: World) -> None:
    small = world.with_options(max_values=100)
    args = {"query_type": "locations", "location_id": "air-one", "select_properties": ["pm2_5"]}
    with pytest.raises(ProviderRequestEntityTooLargeError) as refused:
        small.query(**args)
    assert refused.value.http_status_code == 413
    narrow = small.query(**args, datetime_="2025-03-01T00:00:00Z/2025-03-01T10:00:00Z")
    assert len(covered(narrow, "pm2_5")) == 31


def test_errors_are_provider_errors() -> None:
    """pygeoapi turns ProviderGenericError subclasses into OGC exceptions; anything else is a
    500, so every refusal above must be one."""
    for error in (
        ProviderInvalidQueryError,
        ProviderItemNotFoundError,
        ProviderNoDataError,
        ProviderRequestEntityTooLargeError,
    ):
        assert issubclass(error, ProviderGenericError)


# --- the observation read -------------------------------------------------------------------


@contextmanager
def capturing(store: Store) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_a: Any) -> None:
        seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_values_read_is_an_index_range(world: World) -> None:
    with world.store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    with capturing(world.store) as seen:
        world.ask(
            "locations",
            location_id="air-one",
            select_properties=["pm2_5"],
            datetime_="2025-03-10/2025-03-11",
        )
    statement, parameters = next((s, p) for s, p in seen if "result_json" in s)
    sqlite = world.store.backend == "sqlite"
    with world.store.engine.connect() as conn:
        if not sqlite:
            # A 2,500-row table is a sequential scan's size: ask whether the index CAN serve.
            conn.exec_driver_sql("SET enable_seqscan = off")
        prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(prefix + statement, parameters))
    assert "ix_observations_stream_time" in plan or "uq_observation" in plan, plan
    assert "SCAN observations" not in plan and "Seq Scan on observations" not in plan, plan


# --- results posted through the SensorThings API --------------------------------------------


def test_only_numeric_results_are_values(store_url: str) -> None:
    from tests.hub.sta.write.conftest import make_rig

    rig, pipeline = make_rig(store_url, with_pipeline=True)
    try:
        rig.store.import_stations([station_record("api-air", "air", "Api Air")])
        pm25 = MappingSet.load().observed_property("pm2_5")
        assert pm25 is not None
        ds, _ = rig.store.ensure_datastream("api-air", pm25, Aggregation.INSTANT, "a34004")
        results: list[Any] = ["high", 7, True, 3.5, {"v": 1}]
        for i, result in enumerate(results):
            rig.create(
                "Observations",
                {
                    "phenomenonTime": (T0 + i * H).isoformat().replace("+00:00", "Z"),
                    "result": result,
                    "Datastream": {"@iot.id": ds},
                },
            )
        key = register(rig.store)
        try:
            provider = StationSeriesEDRProvider(StationSeriesEDRProvider.provider_config(key))
            coverage = provider.query(query_type="locations", location_id="api-air")
        finally:
            unregister(key)
        check_document(coverage)
        assert covered(coverage, "pm2_5") == {(T0 + H, T0 + H): 7.0, (T0 + 3 * H, T0 + 3 * H): 3.5}
    finally:
        if pipeline is not None:
            pipeline.stop()
        rig.store.close()
