"""The read-only STA 1.1 API over a real store: every test runs on SQLite and PostgreSQL.

The world: two stations (air-one with PM2.5 and PM10 datastreams, river-two with a pH
datastream) and 8 observations, built with the Store APIs like the store and compiler suites.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.metrics import HubMetrics
from hub.sta.entities import OBSERVATION
from hub.sta.read import CONFORMANCE
from hub.sta.serialize import Extras, property_value
from hub.store import Store
from hub.store.queries import Extent
from hub.store.schema import observations, things
from hub.web import create_app
from tests.hub.sta.conftest import frame_record, observation_row, station_record

T0 = datetime(2025, 1, 14, 19, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
ROOT = "http://localhost/v1.1"
SETS = [
    "Things",
    "Locations",
    "HistoricalLocations",
    "Datastreams",
    "MultiDatastreams",
    "Sensors",
    "ObservedProperties",
    "Observations",
    "FeaturesOfInterest",
]


@dataclass
class World:
    store: Store
    client: FlaskClient
    ids: dict[str, int]

    def get(self, path: str, status: int = 200) -> Any:
        response = self.client.get(path)
        assert response.status_code == status, (path, response.get_data(as_text=True))
        if status >= 400:
            body = response.get_json()
            assert body["code"] == status and "\n" not in body["message"]
            return body
        return response.get_json() if response.is_json else response.get_data(as_text=True)


@pytest.fixture
def world(store_url: str) -> Iterator[World]:
    store = Store.open(store_url)
    air, river = store.import_stations(
        [
            station_record("air-one", "air", "Air One", properties={"height": 12}),
            station_record("river-two", "water", "River Two", properties={"height": 3.5}),
        ]
    )
    mapping = MappingSet.load()
    pm25, pm10, ph = (mapping.observed_property(key) for key in ("pm2_5", "pm10", "ph"))
    assert pm25 is not None and pm10 is not None and ph is not None
    d25 = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
    d10 = store.ensure_datastream("air-one", pm10, Aggregation.MEAN, "a34002")
    dph = store.ensure_datastream("river-two", ph, Aggregation.INSTANT, "w01001")
    air_rows = [
        observation_row(d25, T0 + i * HOUR, 10.0 * (i + 1), unit="ug/m3", result_time=T0 + i * HOUR)
        for i in range(4)
    ]
    air_rows.append(observation_row(d10, T0, 80.5, unit="ug/m3", result_time=T0))
    river_rows = [
        observation_row(dph, T0 + i * HOUR, 7.0 + i / 4, unit="pH", result_time=T0 + i * HOUR)
        for i in range(3)
    ]
    store.write_batch(
        [frame_record("a", "air-one", air_rows, T0), frame_record("b", "river-two", river_rows, T0)]
    )
    app = create_app(store, HubMetrics(), lambda: True)
    ids = {"TA": air.thing_id, "TB": river.thing_id, "D25": d25[0], "D10": d10[0], "Dph": dph[0]}
    ids |= {"LA": air.location_id, "SA": air.sensor_id, "FA": air.feature_of_interest_id}
    yield World(store, app.test_client(), ids)
    store.close()


def test_service_root(world: World) -> None:
    body = world.get("/v1.1")
    assert body["value"] == [{"name": name, "url": f"{ROOT}/{name}"} for name in SETS]
    # Without MQTT configured, the MQTT classes and endpoints are not advertised.
    assert body["serverSettings"] == {"conformance": list(CONFORMANCE)}
    assert not any("mqtt" in uri for uri in CONFORMANCE)
    assert world.get("/v1.1/") == body


def test_every_collection_serves_entities(world: World) -> None:
    for name in SETS:
        if name != "MultiDatastreams":  # device ingest makes none (test_multidatastream.py)
            _check_collection(world, name)


def _check_collection(world: World, name: str) -> None:
    body = world.get(f"/v1.1/{name}")
    assert body["value"], name
    first = body["value"][0]
    assert first["@iot.selfLink"] == f"{ROOT}/{name}({first['@iot.id']})"
    assert "@iot.nextLink" not in body and "@iot.count" not in body
    again = world.get(f"/v1.1/{name}({first['@iot.id']})")
    assert again == first
    for key, link in first.items():
        if key.endswith("@iot.navigationLink"):
            nav = key.removesuffix("@iot.navigationLink")
            assert link == f"{first['@iot.selfLink']}/{nav}"
            world.get(link.removeprefix("http://localhost"))


def test_entity_shapes(world: World) -> None:
    ids = world.ids
    ds = world.get(f"/v1.1/Datastreams({ids['D25']})")
    assert ds["unitOfMeasurement"]["symbol"] == "µg/m³"
    assert ds["phenomenonTime"] == "2025-01-14T19:00:00Z/2025-01-14T22:00:00Z"
    assert ds["resultTime"] == "2025-01-14T19:00:00Z/2025-01-14T22:00:00Z"
    assert ds["observedArea"] == {"type": "Point", "coordinates": [71.42, 51.17]}
    assert "MultiDatastreams@iot.navigationLink" not in ds
    assert list(ds)[:2] == ["@iot.id", "@iot.selfLink"]
    obs = world.get(f"/v1.1/Datastreams({ids['D10']})/Observations")["value"]
    assert obs[0]["phenomenonTime"] == "2025-01-14T19:00:00Z"
    assert obs[0]["resultTime"] == "2025-01-14T19:00:00Z" and obs[0]["result"] == 80.5
    assert obs[0]["parameters"] == {"received": {"value": "80.5", "unit": "ug/m3"}}
    loc = world.get(f"/v1.1/Locations({ids['LA']})")
    assert loc["encodingType"] == "application/geo+json" and loc["location"]["type"] == "Point"
    foi = world.get(f"/v1.1/FeaturesOfInterest({ids['FA']})")
    assert foi["feature"]["type"] == "Point"
    assert "metadata" in world.get(f"/v1.1/Sensors({ids['SA']})")
    thing = world.get(f"/v1.1/Things({ids['TA']})")
    assert thing["name"] == "Air One" and thing["properties"]["height"] == 12


def test_unknown_and_malformed_ids(world: World) -> None:
    world.get("/v1.1/Things(999999)", 404)
    world.get("/v1.1/Things(999999)/Datastreams", 404)
    world.get("/v1.1/Things(999999)/name", 404)
    world.get(f"/v1.1/Things({world.ids['TA']})/Datastreams(999999)", 404)
    # A datastream of the other thing is not reachable through this thing.
    world.get(f"/v1.1/Things({world.ids['TA']})/Datastreams({world.ids['Dph']})", 404)
    for bad in ("Things('1abc')", "Things(1.0)", "Things(1abc)", "Things(01)"):
        world.get("/v1.1/" + quote(bad), 400)
    world.get("/v1.1/Nothings", 404)
    world.get("/v1.1/MultiDatastreams(999999)", 404)
    world.get("/v1.1/MultiDatastreams(999999)/Observations", 404)


def test_a_world_without_multi_datastreams_expands_to_nothing(world: World) -> None:
    assert world.get("/v1.1/MultiDatastreams") == {"value": []}
    things = world.get("/v1.1/Things?$expand=MultiDatastreams")["value"]
    assert things and all(thing["MultiDatastreams"] == [] for thing in things)
    observations = world.get("/v1.1/Observations?$expand=MultiDatastream&$top=3")["value"]
    # Device observations belong to a Datastream: no MultiDatastream, and no link to one.
    for observation in observations:
        assert "MultiDatastream" not in observation
        assert "MultiDatastream@iot.navigationLink" not in observation
        assert "Datastream@iot.navigationLink" in observation
    nested = world.get("/v1.1/Datastreams?$expand=Thing($expand=MultiDatastreams)")["value"]
    assert nested[0]["Thing"]["MultiDatastreams"] == []


def test_property_value_and_ref(world: World) -> None:
    ta = world.ids["TA"]
    assert world.get(f"/v1.1/Things({ta})/name") == {"name": "Air One"}
    assert world.get(f"/v1.1/Things({ta})/name/$value") == "Air One"
    assert world.get(f"/v1.1/Things({ta})/properties")["properties"]["height"] == 12
    assert world.get(f"/v1.1/Things({ta})/Datastreams/$ref") == {
        "value": [{"@iot.selfLink": f"{ROOT}/Datastreams({world.ids[k]})"} for k in ("D25", "D10")]
    }
    assert world.get(f"/v1.1/Datastreams({world.ids['D25']})/Thing/$ref") == {
        "@iot.selfLink": f"{ROOT}/Things({ta})"
    }
    nested = world.get(f"/v1.1/Datastreams({world.ids['D25']})/Sensor/Datastreams")
    assert {d["@iot.id"] for d in nested["value"]} == {world.ids["D25"], world.ids["D10"]}
    assert world.get(f"/v1.1/Datastreams({world.ids['Dph']})/Thing/name") == {"name": "River Two"}


def test_navigation_orderby_top_returns_newest(world: World) -> None:
    body = world.get(
        f"/v1.1/Datastreams({world.ids['D25']})/Observations?$orderby=phenomenonTime%20desc&$top=2"
    )
    assert [o["result"] for o in body["value"]] == [40.0, 30.0]
    assert body["@iot.nextLink"].startswith(f"{ROOT}/Datastreams({world.ids['D25']})/Observations?")


def test_count_and_next_link_walk_every_row_once(world: World) -> None:
    with world.store.connect() as conn:
        total = conn.execute(select(func.count()).select_from(observations)).scalar_one()
    url: str | None = "/v1.1/Observations?$count=true&$top=3&$orderby=result"
    seen: list[int] = []
    while url is not None:
        body = world.get(url)
        assert body["@iot.count"] == total and next(iter(body)) == "@iot.count"
        seen += [o["@iot.id"] for o in body["value"]]
        next_link = body.get("@iot.nextLink")
        url = None if next_link is None else next_link.removeprefix("http://localhost")
    assert len(seen) == len(set(seen)) == total == 8
    # sta.md §1.4: $filter and $count apply before paging.
    body = world.get("/v1.1/Observations?$count=true&$top=1&$skip=2&$filter=result%20gt%2020")
    assert body["@iot.count"] == 3 and len(body["value"]) == 1
    assert "@iot.count" not in world.get("/v1.1/Things?$count=false")
    # The nextLink keeps the other options (case of the option name aside); a keyed order
    # continues with a $skiptoken, an order by a JSON member advances $skip.
    body = world.get("/v1.1/Observations?$SKIP=1&$top=2&$filter=" + quote("result gt 7"))
    link = body["@iot.nextLink"]
    assert link.startswith(f"{ROOT}/Observations?") and "&$skiptoken=" in link
    assert "$top=2" in link and "$filter=result%20gt%207" in link and "SKIP" not in link
    unkeyed = quote("parameters/received/value")
    body = world.get(f"/v1.1/Observations?$SKIP=1&$top=2&$orderby={unkeyed}")
    link = body["@iot.nextLink"]
    assert link.endswith("&$skip=3") and "SKIP" not in link and "$skiptoken" not in link
    last = world.get("/v1.1/Observations?$skip=6&$top=2")
    assert len(last["value"]) == 2 and "@iot.nextLink" not in last


def test_filters(world: World) -> None:
    q = quote("properties/height gt 10")
    assert [t["name"] for t in world.get(f"/v1.1/Things?$filter={q}")["value"]] == ["Air One"]
    q = quote("Datastream/Thing/name eq 'River Two'")
    assert len(world.get(f"/v1.1/Observations?$filter={q}")["value"]) == 3
    q = quote("parameters/received/unit eq 'pH' and result ge 7.25")
    assert len(world.get(f"/v1.1/Observations?$filter={q}")["value"]) == 2
    ta = world.ids["TA"]
    q = quote("ObservedProperty/name eq 'PM10'")
    body = world.get(f"/v1.1/Things({ta})/Datastreams?$filter={q}&$select=id")
    assert [d["@iot.id"] for d in body["value"]] == [world.ids["D10"]]
    body = world.get(f"/v1.1/Things({ta})/Datastreams?$orderby=ObservedProperty/name%20desc")
    assert [d["@iot.id"] for d in body["value"]] == [world.ids["D25"], world.ids["D10"]]
    nested = f"/v1.1/Locations({world.ids['LA']})/Things({ta})/Datastreams({world.ids['D10']})"
    assert world.get(nested + "/Observations?$count=true&$select=result") == {
        "@iot.count": 1,
        "value": [{"result": 80.5}],
    }
    q = quote("Datastreams/ObservedProperty/name eq 'pH'")
    assert [t["name"] for t in world.get(f"/v1.1/Things?$filter={q}")["value"]] == ["River Two"]


def test_select(world: World) -> None:
    body = world.get("/v1.1/Things?$select=name,Datastreams&$orderby=name")
    assert body["value"][0] == {
        "name": "Air One",
        "Datastreams@iot.navigationLink": f"{ROOT}/Things({world.ids['TA']})/Datastreams",
    }
    one = world.get(f"/v1.1/Things({world.ids['TB']})?$select=id,description")
    assert set(one) == {"@iot.id", "@iot.selfLink", "description"}


REFUSALS = [
    ("Observations(1)?$resultFormat=dataArray", 400),
    ("Things(1)/name?$resultFormat=csv", 400),
    ("Sensors?$resultFormat=GeoJSON", 400),
    ("Things?$resultFormat=csv&$expand=Datastreams", 400),
    ("Observations?$resultFormat=dataArray&$expand=Datastream", 400),
    ("Observations?$skiptoken=abc", 400),
    ("Things(1)?$skiptoken=abc", 400),
    ("Things?$filter=" + quote("nothing eq 1"), 400),
    ("Things?$orderby=nothing", 400),
    ("Things?$orderby=properties", 400),
    ("Things?$select=nothing", 400),
    ("Things?$filter=" + quote("name eq"), 400),
    ("Things?$top=-1", 400),
    ("Things?$top=1&$top=2", 400),
    ("Things?$levels=2", 501),
    ("Things(1)/nothing", 404),
    ("Things(1)/name/nothing", 404),
    ("Things/name", 400),
]


def test_refusals_are_json(world: World) -> None:
    for query, status in REFUSALS:
        body = world.get(f"/v1.1/{query}", status)
        assert body["code"] == status and body["message"]
    # A 64-bit literal the store cannot bind is the client's problem, never a 5xx.
    response = world.client.get("/v1.1/Things?$filter=" + quote("id eq 3000000000"))
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.get_json()["value"] == []


def test_anonymous_writes_are_refused(world: World) -> None:
    # Reads are anonymous; every write needs credentials (issue 3 item 7): a JSON 401.
    for method in ("post", "patch", "put", "delete"):
        response = getattr(world.client, method)("/v1.1/Things", json={"name": "x"})
        assert response.status_code == 401 and response.get_json()["code"] == 401
    assert world.client.head("/v1.1/Things").status_code == 200


INJECTIONS = [
    "name eq 'x'' or 1 eq 1'",
    "name eq ';DROP TABLE things;--'",
    "name eq ''';DROP TABLE things--'",
    "properties/kind eq 'air'' OR ''1''=''1'",
    "substringof(''');DELETE FROM things;--', name)",
    "name eq 'x' or 1 eq 1'",
    "';DROP TABLE things--",
    "name eq 'x';DROP TABLE things--",
    "name eq \\'x\\'",
    "properties/a'b eq 1",
    "properties/../x eq 1",
    "name eq 'x' -- comment",
    "name eq 'x' /* c */",
]


def test_injection_corpus_in_filter(world: World) -> None:
    for text in INJECTIONS:
        response = world.client.get(f"/v1.1/Things?$filter={quote(text)}")
        if response.status_code == 200:
            assert response.get_json()["value"] == [], text
        else:
            assert response.status_code == 400, (text, response.get_data(as_text=True))
    world.get("/v1.1/" + quote("Things(1 or 1 eq 1)"), 400)
    with world.store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(things)).scalar_one() == 2
        assert conn.execute(select(func.count()).select_from(observations)).scalar_one() == 8


def test_result_prefers_the_json_column() -> None:
    # Rows from stores before and after observations.result_json existed.
    extras = Extras(lambda _ds: Extent(None, None, None, None))
    assert property_value(OBSERVATION, "result", {"result": 1.5}, extras) == 1.5
    row = {"result": 2.0, "result_json": None, "result_quality": "valid"}
    assert property_value(OBSERVATION, "result", row, extras) == 2.0
    for value in ("text", True, {"a": [1, 2]}, [1, 2], 0):
        row = {"result": None, "result_json": value, "result_quality": None}
        assert property_value(OBSERVATION, "result", row, extras) == value
    row = {"result_quality": None, "result_quality_json": {"DQ_Status": "ok"}}
    assert property_value(OBSERVATION, "resultQuality", row, extras) == {"DQ_Status": "ok"}
    assert property_value(OBSERVATION, "resultQuality", {"result_quality": "v"}, extras) == "v"


def test_non_numeric_results_are_served(world: World) -> None:
    if "result_json" not in observations.c:
        pytest.skip("this store has no observations.result_json column yet")
    with world.store.engine.begin() as conn:
        template = conn.execute(select(observations).limit(1)).one()._asdict()
        for offset, value in enumerate(("calm", True, {"wind": [1, 2]})):
            row = dict(template, id=None, result=None, result_json=value)
            row["phenomenon_time_start"] = row["phenomenon_time_end"] = T0 - (offset + 1) * HOUR
            del row["id"]
            conn.execute(observations.insert().values(**row))
    body = world.get(
        f"/v1.1/Datastreams({world.ids['D25']})/Observations?$orderby=phenomenonTime&$top=3"
    )
    assert [o["result"] for o in body["value"]] == [{"wind": [1, 2]}, True, "calm"]
