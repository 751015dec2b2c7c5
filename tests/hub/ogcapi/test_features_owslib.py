"""OWSLib's ``Features`` client against a running hub (threaded loopback server), both stores:
landing page, conformance, collections, items with bbox/datetime/limit/CQL2/sortby/
properties, one item, queryables; each answer checked against the store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from owslib.ogcapi.features import Features

from tests.hub.ogcapi.conftest import STORES, live_server
from tests.hub.ogcapi.featureworld import (
    HOUR,
    STATIONS,
    T0,
    FeatureWorld,
    feature_world_at,
    iso,
    truth,
)

Row = dict[str, Any]


@pytest.fixture(scope="module", params=STORES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FeatureWorld]:
    with feature_world_at(request.param, tmp_path_factory.mktemp("owslib")) as built:
        yield built


@pytest.fixture(scope="module")
def client(world: FeatureWorld) -> Iterator[Features]:
    with live_server(world.app) as root:
        yield Features(root + "/oapi/", timeout=30)


@pytest.fixture(scope="module")
def rows(world: FeatureWorld) -> list[Row]:
    return truth(world.store)


def ids(body: dict[str, Any]) -> list[Any]:
    return [f["id"] for f in body["features"]]


def test_landing_conformance_collections(client: Features) -> None:
    assert any(link["rel"] == "conformance" for link in client.links)
    classes = client.conformance()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in classes
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text" in classes
    found = set(client.feature_collections())
    assert {"stations", "observations", "latest"} <= found
    observations = client.collection("observations")
    assert observations["itemType"] == "feature"
    assert "http://www.opengis.net/def/crs/EPSG/0/28412" in observations["crs"]


def test_queryables(client: Features) -> None:
    properties = client.collection_queryables("observations")["properties"]
    assert properties["value"]["type"] == "number"
    assert properties["phenomenon_time_start"]["format"] == "date-time"
    assert properties["phenomenon_time_start"]["x-ogc-role"] == "primary-instant"
    assert "geometry" in properties
    stations = client.collection_queryables("stations")["properties"]
    assert "observed_properties" not in stations and "name_kk" in stations


def test_items_with_every_parameter(client: Features, rows: list[Row]) -> None:
    body = client.collection_items(
        "observations",
        bbox=[71.40, 51.12, 71.44, 51.14],
        datetime_="2025-03-01T04:00:00Z/2025-03-01T20:00:00Z",
        filter="value > 12 AND observed_property = 'pm2_5'",
        sortby=("value", "desc"),
        properties="value,station,phenomenon_time_start",
        limit=5,
    )
    want = [
        r
        for r in rows
        if r["station"] in ("bayterek", "khan-shatyr")
        and T0 + 4 * HOUR <= r["start"] <= T0 + 20 * HOUR
        and r["value"] > 12
        and r["observed_property"] == "pm2_5"
    ]
    want.sort(key=lambda r: -r["value"])
    assert ids(body) == [r["id"] for r in want[:5]]
    assert body["numberMatched"] == len(want)
    for feature, row in zip(body["features"], want, strict=False):
        assert feature["properties"] == {
            "value": row["value"],
            "station": row["station"],
            "phenomenon_time_start": iso(row["start"]),
        }


def test_paging_follows_the_store(client: Features, rows: list[Row]) -> None:
    found: list[int] = []
    offset = 0
    while True:
        body = client.collection_items("observations", limit=16, offset=offset)
        found += ids(body)
        if not any(link["rel"] == "next" for link in body["links"]):
            break
        offset += 16
    assert found == [r["id"] for r in rows]


def test_cql2_json_by_post(client: Features, rows: list[Row]) -> None:
    cql = {
        "op": "and",
        "args": [
            {"op": "=", "args": [{"property": "station"}, "airport"]},
            {
                "op": "t_after",
                "args": [
                    {"property": "phenomenon_time_start"},
                    {"timestamp": "2025-03-01T10:00:00Z"},
                ],
            },
        ],
    }
    body = client.collection_items("observations", cql=json.dumps(cql), limit=50)
    want = [r["id"] for r in rows if r["station"] == "airport" and r["start"] > T0 + 10 * HOUR]
    assert ids(body) == want


def test_single_items(client: Features, rows: list[Row]) -> None:
    station = client.collection_item("stations", "khan-shatyr")
    _kind, names, lat, lon, _source, operator = STATIONS["khan-shatyr"]
    assert station["geometry"]["coordinates"] == [lon, lat]
    assert station["properties"]["name_ru"] == names["ru"]
    assert station["properties"]["operator"] == operator
    row = rows[17]
    observation = client.collection_item("observations", str(row["id"]))
    assert observation["properties"]["value"] == row["value"]
    latest = client.collection_items("latest", station="khan-shatyr")
    (feature,) = latest["features"]
    newest = max((r for r in rows if r["station"] == "khan-shatyr"), key=lambda r: r["start"])
    assert feature["properties"]["value"] == newest["value"]


def test_stations_with_filter_and_sort(client: Features) -> None:
    body = client.collection_items(
        "stations", filter="kind = 'air'", sortby=("name_en", "desc"), limit=10
    )
    want = sorted(
        (k for k, v in STATIONS.items() if v[0] == "air"),
        key=lambda k: STATIONS[k][1]["en"],
        reverse=True,
    )
    assert ids(body) == want
