"""A round trip with FROST's own Python client (PyPI ``frost-sta-client``) against a live hub.

What partner harvesters do with it: create every entity type (plain and by deep insert, with
HTTP Basic auth), query with filter, expand, orderby and select, iterate pages through
``@iot.nextLink``, create observations through the dataArray call, update and delete. Runs on
both stores over real HTTP (waitress), as a client would.

``update()`` is a PUT of the whole client object. After a deep insert that object still holds
its inline children, without ids (the client learns only the top entity's id), and the PUT
re-sends them: the hub takes them for the related entities they restate and creates nothing
(``hub.sta.write.echoes``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import frost_sta_client as fsc
import geojson
import pytest
import requests

from hub.server import HubServer
from hub.store.users import add_user
from tests.hub.conftest import running_hub

USER, PASSWORD = "harvester", "correct horse battery staple"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


@pytest.fixture
def hub(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    monkeypatch.setenv("AUASU_RATE_LIMITS", "off")
    with running_hub(tmp_path, db=store_url) as server:
        add_user(server.store, USER, "delete", PASSWORD)
        yield server


def _service(hub: HubServer, password: str = PASSWORD) -> fsc.SensorThingsService:
    url = f"http://127.0.0.1:{hub.http_port}/v1.1"
    return fsc.SensorThingsService(url, auth_handler=fsc.AuthHandler(USER, password))


def _stream_parts() -> tuple[fsc.Sensor, fsc.ObservedProperty, fsc.UnitOfMeasurement]:
    sensor = fsc.Sensor(
        name="SDS011",
        description="laser particle counter",
        encoding_type="application/pdf",
        metadata="https://example.org/sds011.pdf",
    )
    prop = fsc.ObservedProperty(
        name="PM2.5",
        definition="http://vocab.nerc.ac.uk/collection/P01/current/PMPARTSZ/",
        description="particulate matter below 2.5 µm",
    )
    unit = fsc.UnitOfMeasurement(
        name="microgram per cubic metre", symbol="ug/m3", definition="http://unitsofmeasure.org"
    )
    return sensor, prop, unit


def test_round_trip(hub: HubServer) -> None:
    service = _service(hub)
    # Plain creates, linked by id.
    thing = fsc.Thing(name="Roof box", description="school roof", properties={"district": "Esil"})
    service.create(thing)
    assert isinstance(thing.id, int)
    location = fsc.Location(
        name="School 12",
        description="roof",
        encoding_type="application/geo+json",
        location=geojson.Point((71.4304, 51.1282)),
        things=[thing],
    )
    service.create(location)
    sensor, prop, unit = _stream_parts()
    service.create(sensor)
    service.create(prop)
    stream = fsc.Datastream(
        name="PM2.5 roof",
        description="hourly",
        observation_type=OM_MEASUREMENT,
        unit_of_measurement=unit,
        thing=thing,
        sensor=sensor,
        observed_property=prop,
    )
    service.create(stream)
    for hour in range(3):
        obs = fsc.Observation(
            phenomenon_time=(T0 + timedelta(hours=hour)).isoformat(),
            result=10.0 + hour,
            datastream=stream,
        )
        service.create(obs)
        assert isinstance(obs.id, int)

    # The automatic feature of interest and historical location exist.
    base = f"http://127.0.0.1:{hub.http_port}/v1.1"
    foi = requests.get(f"{base}/Observations({obs.id})/FeatureOfInterest", timeout=10).json()
    assert foi["feature"]["coordinates"] == [71.4304, 51.1282]
    moves = service.historical_locations().query().filter(f"Thing/id eq {thing.id}").list()
    assert len(list(moves)) == 1

    # Deep insert: a Thing with its Location and a Datastream with new Sensor and property.
    deep_sensor, deep_prop, deep_unit = _stream_parts()
    deep = fsc.Thing(
        name="River post",
        description="Ishim embankment",
        locations=[
            fsc.Location(
                name="Embankment",
                description="gauge",
                encoding_type="application/geo+json",
                location=geojson.Point((71.4460, 51.1605)),
            )
        ],
        datastreams=[
            fsc.Datastream(
                name="PM2.5 river",
                description="hourly",
                observation_type=OM_MEASUREMENT,
                unit_of_measurement=deep_unit,
                sensor=deep_sensor,
                observed_property=deep_prop,
            )
        ],
    )
    service.create(deep)
    fetched = service.things().find(deep.id)
    assert fetched.name == "River post"

    # Query: filter, orderby, select, expand.
    found = service.things().query().filter("name eq 'Roof box'").list()
    assert [t.id for t in found] == [thing.id]
    ordered = (
        service.observations()
        .query()
        .filter(f"Datastream/id eq {stream.id}")
        .orderby("phenomenonTime", "DESC")
        .select("result", "phenomenonTime", "id")
        .list()
    )
    assert [o.result for o in ordered] == [12.0, 11.0, 10.0]
    expanded = service.things().query().filter(f"id eq {thing.id}").expand("Datastreams").list()
    (with_streams,) = list(expanded)
    assert [d.name for d in with_streams.datastreams] == ["PM2.5 roof"]

    # dataArray create: 250 observations through CreateObservations.
    value = fsc.DataArrayValue()
    value.datastream = stream
    value.components = {
        fsc.DataArrayValue.Property.PHENOMENON_TIME,
        fsc.DataArrayValue.Property.RESULT,
    }
    for minute in range(250):
        when = (T0 + timedelta(days=1, minutes=minute)).isoformat()
        value.add_observation(fsc.Observation(phenomenon_time=when, result=float(minute)))
    document = fsc.DataArrayDocument()
    document.add_data_array_value(value)
    created = service.observations().create(document)
    assert len(created) == 250

    # Several pages through @iot.nextLink.
    pages = service.observations().query().filter(f"Datastream/id eq {stream.id}").top(40).list()
    results = [o.result for o in pages]
    assert len(results) == 253

    # Update (JSON Patch and full update) and delete.
    service.things().patch(thing, [{"op": "replace", "path": "/name", "value": "Roof box 2"}])
    assert service.things().find(thing.id).name == "Roof box 2"
    sensor.description = "laser particle counter, recalibrated"
    service.update(sensor)
    assert service.sensors().find(sensor.id).description.endswith("recalibrated")
    service.delete(stream)
    with pytest.raises(Exception):  # noqa: B017 - the client raises its own error types on 404
        service.datastreams().find(stream.id)
    remaining = service.observations().query().filter(f"Datastream/id eq {stream.id}").count()
    assert remaining.list().count == 0


def test_wrong_password_is_refused(hub: HubServer) -> None:
    service = _service(hub, password="wrong")
    with pytest.raises(requests.exceptions.HTTPError) as refused:
        service.create(fsc.Thing(name="x", description="y"))
    response = refused.value.response
    assert response is not None and response.status_code == 401


SETS = (
    "Things",
    "Locations",
    "HistoricalLocations",
    "Datastreams",
    "Sensors",
    "ObservedProperties",
    "Observations",
    "FeaturesOfInterest",
)


def _counts(base: str) -> dict[str, int]:
    counts = {}
    for name in SETS:
        body = requests.get(f"{base}/{name}?$count=true&$top=1", timeout=10).json()
        counts[name] = body["@iot.count"]
    return counts


def _place(name: str, x: float) -> fsc.Location:
    return fsc.Location(
        name=name,
        description="gauge",
        encoding_type="application/geo+json",
        location=geojson.Point((x, 51.16)),
    )


def _feature(name: str) -> fsc.FeatureOfInterest:
    return fsc.FeatureOfInterest(
        name=name,
        description="river bank",
        encoding_type="application/geo+json",
        feature=geojson.Point((71.45, 51.16)),
    )


def test_update_after_deep_insert(hub: HubServer) -> None:
    """Each entity type created by deep insert, changed on the client object, ``update()``d,
    and read back: the change is stored and no related entity is created twice."""
    service = _service(hub)
    base = f"http://127.0.0.1:{hub.http_port}/v1.1"

    # Creates, each with related entities inline.
    sensor, prop, unit = _stream_parts()
    stream_inline = fsc.Datastream(
        name="PM2.5 river",
        description="hourly",
        observation_type=OM_MEASUREMENT,
        unit_of_measurement=unit,
        sensor=sensor,
        observed_property=prop,
    )
    thing = fsc.Thing(
        name="River post",
        description="Ishim embankment",
        locations=[_place("Embankment", 71.446)],
        datastreams=[stream_inline],
    )
    service.create(thing)
    stream_sensor, stream_prop, _unit = _stream_parts()
    stream = fsc.Datastream(
        name="PM2.5 bridge",
        description="hourly",
        observation_type=OM_MEASUREMENT,
        unit_of_measurement=unit,
        thing=fsc.Thing(name="Bridge post", description="on the bridge"),
        sensor=stream_sensor,
        observed_property=stream_prop,
    )
    service.create(stream)
    location = fsc.Location(
        name="Park",
        description="city park",
        encoding_type="application/geo+json",
        location=geojson.Point((71.41, 51.15)),
        things=[fsc.Thing(name="Park post", description="by the pond")],
    )
    service.create(location)
    _sensor, op_of_sensor, _unit = _stream_parts()
    equipped = fsc.Sensor(
        name="OPC-N3",
        description="optical counter",
        encoding_type="application/pdf",
        metadata="https://example.org/opc-n3.pdf",
        datastreams=[
            fsc.Datastream(
                name="PM10 river",
                description="hourly",
                observation_type=OM_MEASUREMENT,
                unit_of_measurement=unit,
                thing=thing,
                observed_property=op_of_sensor,
            )
        ],
    )
    service.create(equipped)
    sensor_of_op, _prop, _unit = _stream_parts()
    measured = fsc.ObservedProperty(
        name="NO2",
        definition="http://vocab.nerc.ac.uk/collection/P01/current/NO2/",
        description="nitrogen dioxide",
        datastreams=[
            fsc.Datastream(
                name="NO2 river",
                description="hourly",
                observation_type=OM_MEASUREMENT,
                unit_of_measurement=unit,
                thing=thing,
                sensor=sensor_of_op,
            )
        ],
    )
    service.create(measured)
    feature = _feature("Bank")
    feature.observations = [
        fsc.Observation(phenomenon_time=T0.isoformat(), result=7.0, datastream=stream)
    ]
    service.create(feature)
    observation = fsc.Observation(
        phenomenon_time=(T0 + timedelta(hours=1)).isoformat(),
        result=8.0,
        datastream=stream,
        feature_of_interest=_feature("Pier"),
    )
    service.create(observation)
    before = _counts(base)

    # Change each on the client object and update() it: a PUT that re-sends the inline
    # children the object still holds, without ids.
    thing.description = "Ishim embankment, north"
    stream.description = "every 30 minutes"
    location.name = "Central park"
    equipped.description = "optical counter, recalibrated"
    measured.description = "nitrogen dioxide (NO2)"
    feature.name = "Left bank"
    observation.result = 8.5
    for entity in (thing, stream, location, equipped, measured, feature, observation):
        service.update(entity)

    # Read back: the changes are there, nothing was created, the links are as they were.
    assert service.things().find(thing.id).description == "Ishim embankment, north"
    assert service.datastreams().find(stream.id).description == "every 30 minutes"
    found = service.locations().query().filter("name eq 'Central park'").list()
    assert [item.id for item in found] == [location.id]
    assert service.sensors().find(equipped.id).description.endswith("recalibrated")
    assert service.observed_properties().find(measured.id).description.endswith("(NO2)")
    assert service.features_of_interest().find(feature.id).name == "Left bank"
    assert service.observations().find(observation.id).result == 8.5
    assert _counts(base) == before
    located = requests.get(f"{base}/Things({thing.id})/Locations", timeout=10).json()["value"]
    assert [item["name"] for item in located] == ["Embankment"]
    streams = requests.get(f"{base}/Sensors({equipped.id})/Datastreams", timeout=10).json()
    assert [item["name"] for item in streams["value"]] == ["PM10 river"]
    pier = requests.get(f"{base}/Observations({observation.id})/FeatureOfInterest", timeout=10)
    assert pier.json()["name"] == "Pier"
