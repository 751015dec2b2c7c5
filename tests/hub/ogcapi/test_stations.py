"""The ``stations`` collection on both stores, checked against the store and the registry."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pygeoapi.provider.base import ProviderInvalidQueryError, ProviderItemNotFoundError

from hub.ogcapi.providers import cqlparse
from hub.ogcapi.providers.stations import StationsProvider
from tests.hub.ogcapi.conftest import STORES
from tests.hub.ogcapi.featureworld import (
    HOUR,
    STATIONS,
    T0,
    FeatureWorld,
    feature_world_at,
    iso,
    truth,
    walk,
)

Row = dict[str, Any]
KEYS = sorted(STATIONS)


@pytest.fixture(scope="module", params=STORES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FeatureWorld]:
    with feature_world_at(request.param, tmp_path_factory.mktemp("stations")) as built:
        yield built


@pytest.fixture(scope="module")
def rows(world: FeatureWorld) -> list[Row]:
    return truth(world.store)


@pytest.fixture
def provider(world: FeatureWorld) -> StationsProvider:
    return StationsProvider(StationsProvider.provider_config(world.key))


def keys(features: list[dict[str, Any]]) -> list[str]:
    return [f["id"] for f in features]


def expected_feature(key: str, rows: list[Row]) -> dict[str, Any]:
    kind, names, lat, lon, source, operator = STATIONS[key]
    mine = [r for r in rows if r["station"] == key]
    streams: dict[int, list[Row]] = {}
    for row in mine:
        streams.setdefault(row["datastream"], []).append(row)
    observed = []
    for stream, stream_rows in streams.items():
        newest = max(stream_rows, key=lambda r: (r["start"], r["id"]))
        observed.append(
            {
                "observed_property": newest["observed_property"],
                "unit": newest["unit"],
                "aggregation": newest["aggregation"],
                "datastream": stream,
                "first_time": iso(min(r["start"] for r in stream_rows)),
                "last_time": iso(newest["end"]),
                "latest_value": newest["value"],
                "latest_time": iso(newest["start"]),
                "latest_quality": newest["quality"],
            }
        )
    observed.sort(key=lambda o: (o["observed_property"], o["aggregation"], o["datastream"]))
    return {
        "id": key,
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "station": key,
        "name_en": names.get("en"),
        "name_ru": names.get("ru"),
        "name_kk": names.get("kk"),
        "source": source,
        "kind": kind,
        "operator": operator,
        "first_time": iso(min(r["start"] for r in mine)) if mine else None,
        "last_time": max((o["last_time"] for o in observed), default=None),
        "observed_properties": observed,
    }


def check(feature: dict[str, Any], want: dict[str, Any]) -> None:
    props = dict(feature["properties"])
    observed = props.pop("observed_properties")
    assert feature["id"] == want["id"] and feature["geometry"] == want["geometry"]
    for name, value in props.items():
        assert value == want[name], name
    trimmed = [{k: v for k, v in o.items() if k not in ("name", "definition")} for o in observed]
    assert trimmed == want["observed_properties"]
    for entry in observed:
        assert entry["name"] and entry["definition"].startswith(("http", "urn:"))


def test_every_station_matches_the_registry_and_store(
    provider: StationsProvider, rows: list[Row]
) -> None:
    features = walk(provider, limit=2)
    assert keys(features) == KEYS
    for feature in features:
        check(feature, expected_feature(feature["id"], rows))
    page = provider.query(limit=2)
    assert page["numberMatched"] == len(KEYS) and page["numberReturned"] == 2


def test_one_station(provider: StationsProvider, rows: list[Row]) -> None:
    check(provider.get("bayterek"), expected_feature("bayterek", rows))
    empty = provider.get("ak-orda")
    assert empty["properties"]["observed_properties"] == []
    assert empty["properties"]["first_time"] is None
    for missing in ("nope", "", "bayterek'--", "x" * 500):
        with pytest.raises(ProviderItemNotFoundError):
            provider.get(missing)


QUERIES: list[tuple[dict[str, Any], list[str]]] = [
    ({"properties": [("kind", "water")]}, ["yesil-central"]),
    ({"properties": [("operator", "Kazhydromet")]}, ["airport"]),
    ({"properties": [("name_ru", "Байтерек")]}, ["bayterek"]),
    ({"bbox": [71.40, 51.12, 71.44, 51.14]}, ["bayterek", "khan-shatyr"]),
    ({"bbox": [71.44, 51.12, 71.45, 51.13]}, ["ak-orda"]),
    ({"filterq": "name_en LIKE '%O''Hara'"}, ["airport"]),
    ({"filterq": "name_kk IS NULL"}, ["airport", "ak-orda", "khan-shatyr"]),
    (
        {"filterq": "kind = 'air' AND NOT source = 'kazhydromet'"},
        ["ak-orda", "bayterek", "khan-shatyr"],
    ),
    (
        {"filterq": "S_DWITHIN(geometry, POINT(71.4305 51.1283), 1500, meters)"},
        ["ak-orda", "bayterek"],
    ),
    ({"filterq": "station IN ('airport', 'nope')"}, ["airport"]),
    ({"datetime_": "2025-03-01T20:00:00Z/.."}, ["airport", "bayterek"]),
    ({"datetime_": "2025-03-01T00:00:00Z"}, ["airport", "bayterek", "yesil-central"]),
    ({"datetime_": "../2025-03-01T04:59:59Z"}, ["airport", "bayterek", "yesil-central"]),
    ({"datetime_": "2025-03-01T05:00:00Z/2025-03-01T05:00:00Z"}, ["bayterek", "khan-shatyr"]),
    ({"datetime_": "2025-03-05"}, []),
]


@pytest.mark.parametrize(("args", "want"), QUERIES)
def test_filters(
    provider: StationsProvider, rows: list[Row], args: dict[str, Any], want: list[str]
) -> None:
    if "filterq" in args:
        args = {**args, "filterq": cqlparse.parse_text(args["filterq"])}
    assert keys(walk(provider, **args)) == want
    assert provider.query(resulttype="hits", **args)["numberMatched"] == len(want)


def test_datetime_means_data_in_the_interval(provider: StationsProvider, rows: list[Row]) -> None:
    for text, low, high in (
        ("2025-03-01T20:00:00Z/..", T0 + 20 * HOUR, None),
        ("2025-03-01T07:00:00Z/2025-03-01T08:00:00Z", T0 + 7 * HOUR, T0 + 8 * HOUR),
    ):
        want = sorted(
            {
                r["station"]
                for r in rows
                if r["start"] >= low and (high is None or r["start"] <= high)
            }
        )
        assert keys(walk(provider, datetime_=text)) == want


@pytest.mark.parametrize(
    ("field", "descending", "key"),
    [
        ("name_en", False, lambda k: STATIONS[k][1]["en"]),
        ("operator", True, lambda k: STATIONS[k][5]),
        ("kind", False, lambda k: STATIONS[k][0]),
    ],
)
def test_sortby(
    provider: StationsProvider, field: str, descending: bool, key: Callable[[str], str]
) -> None:
    want = sorted(KEYS, key=key, reverse=descending)  # stable: ties stay in key order
    sortby = [{"property": field, "order": "-" if descending else "+"}]
    assert keys(walk(provider, sortby=sortby, limit=3)) == want


def test_refusals(provider: StationsProvider) -> None:
    for args in (
        {"sortby": [{"property": "observed_properties", "order": "+"}]},
        {"filterq": cqlparse.parse_text("first_time IS NULL")},
        {"properties": [("observed_properties", "x")]},
        {"properties": [("nope", "x")]},
        {"q": "bayterek"},
        {"bbox": [1, 2, 3]},
    ):
        with pytest.raises(ProviderInvalidQueryError):
            provider.query(**args)


def test_select_and_skip_geometry(provider: StationsProvider) -> None:
    page = provider.query(select_properties=["name_en"], skip_geometry=True, limit=10)
    assert [f["properties"] for f in page["features"]] == [
        {"name_en": STATIONS[k][1]["en"]} for k in KEYS
    ]
    assert all(f["geometry"] is None for f in page["features"])


def test_collection_metadata(world: FeatureWorld, rows: list[Row]) -> None:
    meta = StationsProvider.collection_metadata(world.store)
    lons = [s[3] for s in STATIONS.values()]
    lats = [s[2] for s in STATIONS.values()]
    assert meta["extents"]["spatial"]["bbox"] == [min(lons), min(lats), max(lons), max(lats)]
    temporal = meta["extents"]["temporal"]
    assert temporal["begin"] == iso(min(r["start"] for r in rows))
    assert temporal["end"] == iso(max(r["end"] for r in rows))
    assert meta["title"]["en"] and meta["keywords"]
    config = StationsProvider.provider_config(world.key)
    assert config["type"] == "feature" and config["data"] == world.key
    assert "http://www.opengis.net/def/crs/EPSG/0/28412" in config["crs"]
    queryables = StationsProvider(config).properties
    assert "observed_properties" not in queryables and "station" in queryables


def test_collection_metadata_of_an_empty_store(tmp_path: Any) -> None:
    from hub.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        meta = StationsProvider.collection_metadata(store)
        assert "spatial" not in meta["extents"]
        assert meta["extents"]["temporal"]["begin"] is None
    finally:
        store.close()


def test_http_and_html_escaping(world: FeatureWorld) -> None:
    body = world.get("/oapi/collections/stations/items?kind=water")
    assert keys(body["features"]) == ["yesil-central"]
    html = world.get("/oapi/collections/stations/items/airport?f=html")
    assert "Airport O" in html
    csv_text = world.get("/oapi/collections/stations/items?f=csv&limit=10")
    assert csv_text.splitlines()[0].startswith("x,y,station,name_en,name_ru,name_kk")
    table = list(csv.DictReader(io.StringIO(csv_text)))
    assert len(table) == len(KEYS)
    for row in table:
        # Coordinates as columns, nested values as JSON (pygeoapi's writer gives a repr).
        feature = world.get(f"/oapi/collections/stations/items/{row['station']}")
        assert [float(row["x"]), float(row["y"])] == feature["geometry"]["coordinates"]
        nested = feature["properties"]["observed_properties"]
        assert json.loads(row["observed_properties"]) == nested
