"""``$resultFormat`` dataArray, CSV and GeoJSON on both stores."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.hub.sta.readworld import ROOT, ReadWorld, build_world


@pytest.fixture
def world(store_url: str) -> Iterator[ReadWorld]:
    built = build_world(store_url)
    yield built
    built.store.close()


# --- dataArray ---------------------------------------------------------------------------------


def test_data_array_groups_by_datastream(world: ReadWorld) -> None:
    plain = world.get("/v1.1/Observations?$top=1000&$orderby=id")["value"]
    body = world.get("/v1.1/Observations?$resultFormat=dataArray&$top=1000&$orderby=id")
    assert set(body) == {"value"}
    by_stream = {g["Datastream@iot.navigationLink"]: g for g in body["value"]}
    assert len(by_stream) == 4  # D10b has no observations
    for group in body["value"]:
        assert group["components"] == [
            "id",
            "phenomenonTime",
            "resultTime",
            "result",
            "resultQuality",
            "parameters",
        ]
    rows = [
        dict(zip(g["components"], row, strict=True))
        for g in body["value"]
        for row in g["dataArray"]
    ]
    assert len(rows) == len(plain) == 18
    as_json = {o["@iot.id"]: o for o in plain}
    for row in rows:
        obs = as_json[row["id"]]
        assert row["result"] == obs["result"] and row["phenomenonTime"] == obs["phenomenonTime"]
        assert row["resultTime"] == obs.get("resultTime") and row["parameters"] == obs["parameters"]
    stream = f"{ROOT}/Datastreams({world.ids['D25a']})"
    assert [r[0] for r in by_stream[stream]["dataArray"]] == sorted(
        o["@iot.id"] for o in world.get(f"{stream}/Observations")["value"]
    )


def test_data_array_select_count_and_next_link(world: ReadWorld) -> None:
    path = f"/v1.1/Datastreams({world.ids['Dph']})/Observations"
    body = world.get(
        path + "?$resultFormat=dataArray&$select=result,phenomenonTime&$count=true&$top=2"
        "&$orderby=phenomenonTime%20desc"
    )
    assert body["@iot.count"] == 5 and next(iter(body)) == "@iot.count"
    (group,) = body["value"]
    assert group == {
        "Datastream@iot.navigationLink": f"{ROOT}/Datastreams({world.ids['Dph']})",
        "components": ["result", "phenomenonTime"],
        "dataArray": [[11.0, "2025-01-14T23:00:00Z"], [10.0, "2025-01-14T22:00:00Z"]],
    }
    link = body["@iot.nextLink"]
    assert "$resultFormat=dataArray" in link
    rest = world.get(link)["value"][0]["dataArray"]
    assert rest == [[9.0, "2025-01-14T21:00:00Z"], [8.0, "2025-01-14T20:00:00Z"]]


@pytest.mark.parametrize(
    "query",
    [
        "Things?$resultFormat=dataArray",
        "Observations(1)?$resultFormat=dataArray",
        "Observations?$resultFormat=dataArray&$select=Datastream",
        "Observations?$resultFormat=dataArray&$expand=Datastream",
        "Observations?$resultFormat=json",
    ],
)
def test_data_array_refusals(world: ReadWorld, query: str) -> None:
    world.get(f"/v1.1/{query}", 400)


# --- CSV -----------------------------------------------------------------------------------------


def read_csv(world: ReadWorld, path: str) -> tuple[list[list[str]], dict[str, str]]:
    response = world.client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.endswith("\r\n")
    return list(csv.reader(io.StringIO(text))), dict(response.headers)


def test_csv_header_quoting_and_json_cells(world: ReadWorld) -> None:
    rows, _ = read_csv(world, "/v1.1/Things?$resultFormat=csv&$orderby=name")
    assert rows[0] == ["@iot.id", "name", "description", "properties"]
    assert [r[1] for r in rows[1:]] == ["Air One", 'Air, "Two"', "River Three"]
    assert json.loads(rows[1][3])["height"] == 12
    raw = world.client.get("/v1.1/Things?$resultFormat=csv&$orderby=name&$select=name").data
    assert raw.decode() == 'name\r\nAir One\r\n"Air, ""Two"""\r\nRiver Three\r\n'


def test_csv_select_expand_and_link_header(world: ReadWorld) -> None:
    path = (
        f"/v1.1/Datastreams({world.ids['Dph']})/Observations?$resultFormat=csv&$top=3"
        "&$select=id,result,resultTime&$orderby=phenomenonTime%20desc&$expand="
        + quote("Datastream($select=name;$expand=Thing($select=name))")
    )
    rows, headers = read_csv(world, path)
    assert rows[0] == [
        "@iot.id",
        "result",
        "resultTime",
        "Datastream/name",
        "Datastream/Thing/name",
    ]
    assert [r[1:3] for r in rows[1:]] == [
        ["11.0", ""],
        ["10.0", ""],
        ["9.0", "2025-01-14T21:00:00Z"],
    ]
    assert {r[4] for r in rows[1:]} == {"River Three"}
    link = headers["Link"]
    assert link.startswith(f"<{ROOT}/Datastreams({world.ids['Dph']})/Observations?")
    assert link.endswith('>; rel="next"') and "$resultFormat=csv" in link
    rest, headers = read_csv(world, link[1 : link.index(">")].removeprefix("http://localhost"))
    assert len(rest) == 3 and "Link" not in headers


def test_csv_refuses_to_many_expand(world: ReadWorld) -> None:
    body = world.get("/v1.1/Things?$resultFormat=csv&$expand=Datastreams", 400)
    assert "Datastreams" in body["message"]


def test_csv_of_an_empty_collection_is_a_header(world: ReadWorld) -> None:
    rows, _ = read_csv(
        world, f"/v1.1/Datastreams({world.ids['D10b']})/Observations?$resultFormat=CSV"
    )
    assert rows == [
        [
            "@iot.id",
            "phenomenonTime",
            "result",
            "resultTime",
            "resultQuality",
            "validTime",
            "parameters",
        ]
    ]


# --- GeoJSON -------------------------------------------------------------------------------------


def geojson(world: ReadWorld, path: str) -> dict[str, Any]:
    response = world.client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/geo+json"
    body = response.get_json()
    assert body["type"] == "FeatureCollection"
    return body


def test_geojson_locations_and_features(world: ReadWorld) -> None:
    body = geojson(world, "/v1.1/Locations?$resultFormat=GeoJSON&$count=true")
    assert body["@iot.count"] == 3
    features = body["features"]
    assert isinstance(features, list) and len(features) == 3
    plain = {loc["@iot.id"]: loc for loc in world.get("/v1.1/Locations")["value"]}
    for feature in features:
        loc = plain[feature["id"]]
        assert feature["type"] == "Feature" and feature["geometry"] == loc["location"]
        assert "location" not in feature["properties"]
        assert feature["properties"]["name"] == loc["name"]
    body = geojson(world, "/v1.1/FeaturesOfInterest?$resultFormat=geojson&$select=name")
    for feature in body["features"]:
        assert feature["geometry"]["type"] == "Point" and set(feature["properties"]) == {"name"}


def test_geojson_things_and_observations_borrow_a_geometry(world: ReadWorld) -> None:
    body = geojson(world, "/v1.1/Things?$resultFormat=geojson&$orderby=name&$select=name")
    air, two, river = body["features"]
    assert air["geometry"]["type"] == "Point" and air["properties"] == {"name": "Air One"}
    assert river["geometry"]["type"] == "Point"
    assert two["geometry"]["type"] == "GeometryCollection"  # two Locations
    assert len(two["geometry"]["geometries"]) == 2
    body = geojson(
        world,
        f"/v1.1/Datastreams({world.ids['Dph']})/Observations?$resultFormat=geojson&$top=2"
        "&$expand=Datastream($select=name)",
    )
    foi = world.get(f"/v1.1/FeaturesOfInterest({world.ids['FC']})")
    for feature in body["features"]:
        assert feature["geometry"] == foi["feature"]
        assert feature["properties"]["Datastream"] == {
            "name": feature["properties"]["Datastream"]["name"]
        }
    assert "@iot.nextLink" in body


@pytest.mark.parametrize(
    "entity_set", ["Sensors", "Datastreams", "ObservedProperties", "HistoricalLocations"]
)
def test_geojson_without_geometry_is_400(world: ReadWorld, entity_set: str) -> None:
    body = world.get(f"/v1.1/{entity_set}?$resultFormat=geojson", 400)
    assert "no geometry" in body["message"]
    world.get(f"/v1.1/Things({world.ids['TA']})?$resultFormat=geojson", 400)
