"""MultiDatastreams on the read path (18-088 §12), on both stores.

One world per backend is written through the API (the write rig of ``tests/hub/sta/write``): a
Thing at a Location, a Sensor, a MultiDatastream "Weather" over three ObservedProperties whose
positions are *not* in id order (Humidity, Temperature, then Pressure created inline), five
Observations with array results, a second MultiDatastream "Wind" with one ObservedProperty and
one Observation, and a plain Datastream with one Observation. Then every read feature is
exercised on it: collection, entity, property, ``$value``, navigation both ways, ``$ref``,
``$filter``/``$orderby`` (through navigation too), ``$expand`` both ways, ``$select``, paging,
``$count`` and ``dataArray``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from hub.sta import expand
from tests.conftest import PG_ADMIN_URL, _pg_reachable, require
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

ROOT = "http://localhost/v1.1"
COMPLEX = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"
PERCENT = {"name": "percent", "symbol": "%", "definition": "http://qudt.org/vocab/unit/PERCENT"}
HPA = {"name": "hectopascal", "symbol": "hPa", "definition": "http://qudt.org/vocab/unit/HectoPA"}
TIMES = [f"2025-01-15T{hour:02d}:00:00Z" for hour in (10, 11, 12, 13, 14)]
RESULTS = [[21.5 + i, 40 + i, 1013 - i] for i in range(5)]


@dataclass
class World:
    rig: Rig
    ids: dict[str, int]

    def get(self, path: str, status: int = 200) -> Any:
        return self.rig.get(path, status)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The world of the module docstring, built once per backend (its tests only read)."""
    admin = None
    name = ""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('multi') / 'hub.sqlite3'}"
    else:
        problem = _pg_reachable()
        require(problem is None, f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}")
        name = f"auasu_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE " + name))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    rig, pipeline = make_rig(url, with_pipeline=True)
    try:
        yield World(rig, _build(rig))
    finally:
        if pipeline is not None:
            pipeline.stop()
        rig.store.close()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"))
            admin.dispose()


def _build(rig: Rig) -> dict[str, int]:
    ids: dict[str, int] = {}
    ids["thing"] = rig.create("Things", {**THING, "Locations": [LOCATION]})
    ids["sensor"] = rig.create("Sensors", SENSOR)
    ids["temperature"] = rig.create("ObservedProperties", {**OBSERVED_PROPERTY, "name": "Temp"})
    ids["humidity"] = rig.create("ObservedProperties", {**OBSERVED_PROPERTY, "name": "Humidity"})
    response = rig.send(
        "POST",
        "MultiDatastreams",
        {
            "name": "Weather",
            "description": "Humidity, temperature and pressure",
            "unitOfMeasurements": [PERCENT, UNIT, HPA],
            "observationType": COMPLEX,
            "multiObservationDataTypes": [MEASUREMENT] * 3,
            "properties": {"mast": "north"},
            "Thing": {"@iot.id": ids["thing"]},
            "Sensor": {"@iot.id": ids["sensor"]},
            "ObservedProperties": [
                {"@iot.id": ids["humidity"]},
                {"@iot.id": ids["temperature"]},
                {**OBSERVED_PROPERTY, "name": "Pressure"},
            ],
        },
        status=201,
    )
    created = response.get_json()
    ids["weather"] = created["@iot.id"]
    # The 201 body is the entity as a GET renders it, not only its control information.
    assert created["unitOfMeasurements"] == [PERCENT, UNIT, HPA]
    assert created["ObservedProperties@iot.navigationLink"].endswith("/ObservedProperties")
    with rig.store.connect() as conn:
        ids["pressure"] = conn.execute(
            text("SELECT id FROM observed_properties WHERE name = 'Pressure'")
        ).scalar_one()
    path = f"MultiDatastreams({ids['weather']})/Observations"
    for index, (time, result) in enumerate(zip(TIMES[:4], RESULTS[:4], strict=True)):
        ids[f"obs{index}"] = rig.create(path, {"phenomenonTime": time, "result": result})
    # The fifth through the entity set, linked by id.
    ids["obs4"] = rig.create(
        "Observations",
        {
            "phenomenonTime": TIMES[4],
            "resultTime": TIMES[4],
            "result": RESULTS[4],
            "MultiDatastream": {"@iot.id": ids["weather"]},
        },
    )
    ids["wind"] = rig.create(
        "MultiDatastreams",
        {
            "name": "Wind",
            "description": "Wind speed",
            "unitOfMeasurements": [UNIT],
            "observationType": COMPLEX,
            "multiObservationDataTypes": [MEASUREMENT],
            "Thing": {"@iot.id": ids["thing"]},
            "Sensor": {"@iot.id": ids["sensor"]},
            "ObservedProperties": [{"@iot.id": ids["temperature"]}],
        },
    )
    ids["wind_obs"] = rig.create(
        f"MultiDatastreams({ids['wind']})/Observations",
        {"phenomenonTime": TIMES[0], "result": [3.5]},
    )
    ids["datastream"] = rig.create(
        "Datastreams",
        datastream(
            Thing={"@iot.id": ids["thing"]},
            Sensor={"@iot.id": ids["sensor"]},
            ObservedProperty={"@iot.id": ids["temperature"]},
        ),
    )
    ids["plain_obs"] = rig.create(
        f"Datastreams({ids['datastream']})/Observations",
        {"phenomenonTime": TIMES[0], "result": 20.0},
    )
    return ids


def _ids(body: Any) -> list[int]:
    return [entity["@iot.id"] for entity in body["value"]]


def _link(entity: str, entity_id: int, nav: str = "") -> str:
    return f"{ROOT}/{entity}({entity_id})" + (f"/{nav}" if nav else "")


def test_collection_and_entity(world: World) -> None:
    ids = world.ids
    assert _ids(world.get("MultiDatastreams")) == [ids["weather"], ids["wind"]]
    weather = world.get(f"MultiDatastreams({ids['weather']})")
    assert weather == {
        "@iot.id": ids["weather"],
        "@iot.selfLink": _link("MultiDatastreams", ids["weather"]),
        "name": "Weather",
        "description": "Humidity, temperature and pressure",
        "unitOfMeasurements": [PERCENT, UNIT, HPA],
        "observationType": COMPLEX,
        "multiObservationDataTypes": [MEASUREMENT] * 3,
        # Extents as a Datastream's: the first start to the last start's end.
        "phenomenonTime": f"{TIMES[0]}/{TIMES[4]}",
        # resultTime is left out: the first observation has none (as for Datastreams).
        # observedArea: the box of the features of its observations (one point here).
        "observedArea": LOCATION["location"],
        "properties": {"mast": "north"},
        **{
            f"{nav}@iot.navigationLink": _link("MultiDatastreams", ids["weather"], nav)
            for nav in ("Thing", "Sensor", "ObservedProperties", "Observations")
        },
    }
    # The same entity in the collection, with its extents read for the whole page at once.
    assert world.get("MultiDatastreams")["value"][0] == weather
    wind = world.get(f"MultiDatastreams({ids['wind']})")
    assert wind["phenomenonTime"] == TIMES[0]
    world.get("MultiDatastreams(999999)", 404)


def test_properties_and_values(world: World) -> None:
    base = f"MultiDatastreams({world.ids['weather']})"
    assert world.get(f"{base}/unitOfMeasurements") == {"unitOfMeasurements": [PERCENT, UNIT, HPA]}
    assert world.get(f"{base}/multiObservationDataTypes") == {
        "multiObservationDataTypes": [MEASUREMENT] * 3
    }
    assert world.get(f"{base}/phenomenonTime") == {"phenomenonTime": f"{TIMES[0]}/{TIMES[4]}"}
    response = world.rig.client.get(f"/v1.1/{base}/name/$value")
    assert response.status_code == 200 and response.get_data(as_text=True) == "Weather"
    assert world.get(f"{base}/observedArea") == {"observedArea": LOCATION["location"]}
    obs = world.get(f"Observations({world.ids['obs2']})/result")
    assert obs == {"result": RESULTS[2]}


def test_navigation_both_ways(world: World) -> None:
    ids = world.ids
    weather, wind = ids["weather"], ids["wind"]
    base = f"MultiDatastreams({weather})"
    assert world.get(f"{base}/Thing")["@iot.id"] == ids["thing"]
    assert world.get(f"{base}/Sensor")["@iot.id"] == ids["sensor"]
    # In the order of the result's elements, not by id.
    properties = world.get(f"{base}/ObservedProperties")
    assert _ids(properties) == [ids["humidity"], ids["temperature"], ids["pressure"]]
    assert [p["name"] for p in properties["value"]] == ["Humidity", "Temp", "Pressure"]
    assert world.get(f"{base}/ObservedProperties?$orderby=id")["value"][0]["@iot.id"] == min(
        ids["humidity"], ids["temperature"], ids["pressure"]
    )
    page = world.get(f"{base}/ObservedProperties?$top=2")
    assert _ids(page) == [ids["humidity"], ids["temperature"]]
    assert _ids(world.get(page["@iot.nextLink"].removeprefix(ROOT + "/"))) == [ids["pressure"]]
    observations = world.get(f"{base}/Observations")
    assert _ids(observations) == [ids[f"obs{i}"] for i in range(5)]
    assert [o["result"] for o in observations["value"]] == RESULTS
    assert world.get(f"{base}/Observations({ids['obs1']})")["result"] == RESULTS[1]
    world.get(f"{base}/Observations({ids['wind_obs']})", 404)
    assert world.get(f"{base}/Thing/MultiDatastreams/$ref") == {
        "value": [{"@iot.selfLink": _link("MultiDatastreams", m)} for m in (weather, wind)]
    }
    # The inverse links.
    assert _ids(world.get(f"Things({ids['thing']})/MultiDatastreams")) == [weather, wind]
    assert _ids(world.get(f"Sensors({ids['sensor']})/MultiDatastreams")) == [weather, wind]
    assert _ids(world.get(f"ObservedProperties({ids['temperature']})/MultiDatastreams")) == [
        weather,
        wind,
    ]
    assert _ids(world.get(f"ObservedProperties({ids['pressure']})/MultiDatastreams")) == [weather]
    assert world.get(f"Observations({ids['obs0']})/MultiDatastream")["@iot.id"] == weather
    assert (
        world.get(f"Observations({ids['obs0']})/MultiDatastream/Thing")["@iot.id"] == (ids["thing"])
    )
    # An Observation of a MultiDatastream has no Datastream, and the other way round.
    world.get(f"Observations({ids['obs0']})/Datastream", 404)
    world.get(f"Observations({ids['plain_obs']})/MultiDatastream", 404)
    assert world.get(f"Observations({ids['obs0']})/Datastream/Observations", 404)


def test_refs(world: World) -> None:
    ids = world.ids
    assert world.get("MultiDatastreams/$ref")["value"] == [
        {"@iot.selfLink": _link("MultiDatastreams", m)} for m in (ids["weather"], ids["wind"])
    ]
    assert world.get(f"MultiDatastreams({ids['wind']})/$ref") == {
        "@iot.selfLink": _link("MultiDatastreams", ids["wind"])
    }
    refs = world.get(f"MultiDatastreams({ids['weather']})/ObservedProperties/$ref")["value"]
    assert refs == [
        {"@iot.selfLink": _link("ObservedProperties", ids[name])}
        for name in ("humidity", "temperature", "pressure")
    ]


def test_observation_links_only_the_stream_it_belongs_to(world: World) -> None:
    ids = world.ids
    multi = world.get(f"Observations({ids['obs0']})")
    assert multi["MultiDatastream@iot.navigationLink"] == _link(
        "Observations", ids["obs0"], "MultiDatastream"
    )
    assert "Datastream@iot.navigationLink" not in multi
    assert "FeatureOfInterest@iot.navigationLink" in multi
    plain = world.get(f"Observations({ids['plain_obs']})")
    assert "Datastream@iot.navigationLink" in plain
    assert "MultiDatastream@iot.navigationLink" not in plain
    selected = world.get(f"Observations({ids['obs0']})?$select=result,Datastream,MultiDatastream")
    assert selected == {
        "result": RESULTS[0],
        "MultiDatastream@iot.navigationLink": multi["MultiDatastream@iot.navigationLink"],
    }


def _filter(world: World, entity_set: str, expression: str, extra: str = "") -> list[int]:
    return _ids(world.get(f"{entity_set}?$filter={quote(expression)}{extra}"))


def test_filter_and_orderby(world: World) -> None:
    ids = world.ids
    weather, wind = ids["weather"], ids["wind"]
    assert _filter(world, "MultiDatastreams", "name eq 'Wind'") == [wind]
    assert _filter(world, "MultiDatastreams", f"observationType eq '{COMPLEX}'") == [weather, wind]
    assert _filter(world, "MultiDatastreams", "properties/mast eq 'north'") == [weather]
    assert _filter(world, "MultiDatastreams", "ObservedProperties/name eq 'Pressure'") == [weather]
    assert _filter(world, "MultiDatastreams", "ObservedProperties/name eq 'Temp'") == [
        weather,
        wind,
    ]
    assert _filter(world, "MultiDatastreams", "Thing/name eq 'Weather station'") == [
        weather,
        wind,
    ]
    assert _filter(world, "MultiDatastreams", f"Observations/phenomenonTime gt {TIMES[0]}") == [
        weather
    ]
    assert _filter(world, "Observations", f"MultiDatastream/id eq {wind}") == [ids["wind_obs"]]
    assert _filter(world, "Observations", "MultiDatastream/name eq 'Weather'") == [
        ids[f"obs{i}"] for i in range(5)
    ]
    assert _filter(world, "Observations", "Datastream/id ne -1") == [ids["plain_obs"]]
    assert _filter(world, "Things", "MultiDatastreams/name eq 'Wind'") == [ids["thing"]]
    assert _filter(world, "ObservedProperties", "MultiDatastreams/name eq 'Weather'") == [
        ids["temperature"],
        ids["humidity"],
        ids["pressure"],
    ]
    assert _filter(world, "Sensors", "MultiDatastreams/name eq 'Nothing'") == []
    path = f"MultiDatastreams({weather})/Observations"
    assert _filter(world, path, f"phenomenonTime ge {TIMES[3]}") == [ids["obs3"], ids["obs4"]]
    assert _ids(world.get("MultiDatastreams?$orderby=name desc")) == [wind, weather]
    newest = world.get(f"{path}?$orderby=phenomenonTime desc&$top=2")
    assert _ids(newest) == [ids["obs4"], ids["obs3"]]
    by_stream = _ids(world.get("Observations?$orderby=MultiDatastream/name desc,id&$top=2"))
    # NULL (the Datastream's observation has no MultiDatastream) sorts as the largest value.
    assert by_stream == [ids["plain_obs"], ids["wind_obs"]]
    # Computed, not stored: an honest 501, as for Datastreams.
    assert world.get(f"MultiDatastreams?$filter={quote('phenomenonTime gt now()')}", 501)
    world.get("MultiDatastreams?$orderby=resultTime", 501)
    world.get(f"MultiDatastreams?$filter={quote('nothing eq 1')}", 400)


def test_expand_both_ways(world: World) -> None:
    ids = world.ids
    weather, wind = ids["weather"], ids["wind"]
    items = (
        "Thing,Sensor,ObservedProperties($select=name),"
        "Observations($top=2;$orderby=phenomenonTime desc;$count=true)"
    )
    body = world.get(f"MultiDatastreams?$expand={quote(items)}")
    first, second = body["value"]
    assert first["Thing"]["@iot.id"] == ids["thing"] and first["Sensor"]["@iot.id"] == ids["sensor"]
    assert first["ObservedProperties"] == [
        {"name": "Humidity"},
        {"name": "Temp"},
        {"name": "Pressure"},
    ]
    assert second["ObservedProperties"] == [{"name": "Temp"}]
    assert [o["@iot.id"] for o in first["Observations"]] == [ids["obs4"], ids["obs3"]]
    assert first["Observations@iot.count"] == 5 and second["Observations@iot.count"] == 1
    assert first["Observations@iot.nextLink"].startswith(
        _link("MultiDatastreams", weather, "Observations?")
    )
    assert "Observations@iot.nextLink" not in second
    more = world.get(first["Observations@iot.nextLink"].removeprefix(ROOT + "/"))
    assert _ids(more) == [ids["obs2"], ids["obs1"]]
    things = world.get(
        f"Things?$expand={quote('MultiDatastreams($orderby=name;$expand=ObservedProperties)')}"
    )
    (thing,) = things["value"]
    assert [m["@iot.id"] for m in thing["MultiDatastreams"]] == [weather, wind]
    assert [p["@iot.id"] for p in thing["MultiDatastreams"][0]["ObservedProperties"]] == [
        ids["humidity"],
        ids["temperature"],
        ids["pressure"],
    ]
    observations = world.get("Observations?$expand=MultiDatastream($select=name),Datastream")
    by_id = {o["@iot.id"]: o for o in observations["value"]}
    assert by_id[ids["obs0"]]["MultiDatastream"] == {"name": "Weather"}
    assert "Datastream" not in by_id[ids["obs0"]]
    assert by_id[ids["plain_obs"]]["Datastream"]["@iot.id"] == ids["datastream"]
    assert "MultiDatastream" not in by_id[ids["plain_obs"]]
    properties = world.get(
        f"ObservedProperties({ids['temperature']})?$expand=MultiDatastreams($select=id)"
    )
    assert [m["@iot.id"] for m in properties["MultiDatastreams"]] == [weather, wind]
    sensor = world.get(f"Sensors({ids['sensor']})?$expand=MultiDatastreams($top=1)")
    assert [m["@iot.id"] for m in sensor["MultiDatastreams"]] == [weather]
    assert sensor["MultiDatastreams@iot.nextLink"].startswith(
        _link("Sensors", ids["sensor"], "MultiDatastreams?")
    )


def test_newest_observation_per_multi_datastream_fast_path_matches(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = "MultiDatastreams?$expand=" + quote(
        "Observations($top=1;$orderby=phenomenonTime desc;$select=id,result)"
    )
    fast = world.get(query)
    monkeypatch.setattr(expand, "USE_LATEST", False)
    assert world.get(query) == fast
    assert [m["Observations"] for m in fast["value"]] == [
        [{"@iot.id": o, "@iot.selfLink": _link("Observations", o), "result": r}]
        for o, r in ((world.ids["obs4"], RESULTS[4]), (world.ids["wind_obs"], [3.5]))
    ]


def test_select(world: World) -> None:
    weather = world.ids["weather"]
    body = world.get(
        f"MultiDatastreams({weather})?$select=id,unitOfMeasurements,phenomenonTime,Observations"
    )
    assert body == {
        "@iot.id": weather,
        "@iot.selfLink": _link("MultiDatastreams", weather),
        "unitOfMeasurements": [PERCENT, UNIT, HPA],
        "phenomenonTime": f"{TIMES[0]}/{TIMES[4]}",
        "Observations@iot.navigationLink": _link("MultiDatastreams", weather, "Observations"),
    }
    names = world.get("MultiDatastreams?$select=name")["value"]
    assert names == [{"name": "Weather"}, {"name": "Wind"}]


def test_paging_and_count(world: World) -> None:
    ids = world.ids
    path = f"MultiDatastreams({ids['weather']})/Observations"
    seen: list[int] = []
    body = world.get(f"{path}?$top=2&$count=true&$orderby=phenomenonTime desc")
    assert body["@iot.count"] == 5
    while True:
        seen += _ids(body)
        if "@iot.nextLink" not in body:
            break
        assert "$skiptoken=" in body["@iot.nextLink"]  # keyset paging on the index
        body = world.get(body["@iot.nextLink"].removeprefix(ROOT + "/"))
    assert seen == [ids[f"obs{i}"] for i in (4, 3, 2, 1, 0)]
    assert world.get("MultiDatastreams?$count=true&$top=1")["@iot.count"] == 2
    assert world.get(f"Things({ids['thing']})/MultiDatastreams?$count=true")["@iot.count"] == 2


def test_data_array(world: World) -> None:
    ids = world.ids
    weather = ids["weather"]
    path = f"MultiDatastreams({weather})/Observations"
    body = world.get(f"{path}?$resultFormat=dataArray&$select=id,phenomenonTime,result&$top=3")
    assert body["value"] == [
        {
            "MultiDatastream@iot.navigationLink": _link("MultiDatastreams", weather),
            "components": ["id", "phenomenonTime", "result"],
            "dataArray": [[ids[f"obs{i}"], TIMES[i], RESULTS[i]] for i in range(3)],
        }
    ]
    assert "@iot.nextLink" in body
    mixed = world.get("Observations?$resultFormat=dataArray&$select=result")["value"]
    streams = {
        group.get("MultiDatastream@iot.navigationLink") or group["Datastream@iot.navigationLink"]
        for group in mixed
    }
    assert streams == {
        _link("MultiDatastreams", weather),
        _link("MultiDatastreams", ids["wind"]),
        _link("Datastreams", ids["datastream"]),
    }


def test_other_formats(world: World) -> None:
    weather = world.ids["weather"]
    response = world.rig.client.get(
        f"/v1.1/MultiDatastreams({weather})/Observations?$resultFormat=csv&$select=id,result&$top=1"
    )
    assert response.status_code == 200
    lines = response.get_data(as_text=True).splitlines()
    assert lines == ["@iot.id,result", f'{world.ids["obs0"]},"[21.5,40,1013]"']
    features = world.get(f"MultiDatastreams({weather})/Observations?$resultFormat=GeoJSON&$top=1")
    assert features["features"][0]["geometry"]["type"] == "Point"
    world.get("MultiDatastreams?$resultFormat=GeoJSON", 400)
