"""POST: every entity type plainly and by deep insert, links by id, integrity, all or nothing."""

from __future__ import annotations

from typing import Any

import pytest

from hub.store.schema import (
    datastreams,
    features_of_interest,
    locations,
    multi_datastreams,
    observations,
    observed_properties,
    sensors,
    things,
)
from tests.hub.sta.write.conftest import (
    LOCATION,
    OBSERVED_PROPERTY,
    ROOT,
    SENSOR,
    THING,
    UNIT,
    Rig,
    datastream,
)

FEATURE = {
    "name": "Roof air",
    "description": "The air above the roof",
    "encodingType": "application/geo+json",
    "feature": {"type": "Point", "coordinates": [71.42, 51.17]},
}
COMPLEX = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"


def _ids(rig: Rig) -> dict[str, int]:
    """One of each entity a Datastream needs."""
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    sensor = rig.create("Sensors", SENSOR)
    prop = rig.create("ObservedProperties", OBSERVED_PROPERTY)
    stream = rig.create(
        "Datastreams",
        datastream(
            Thing={"@iot.id": thing},
            Sensor={"@iot.id": sensor},
            ObservedProperty={"@iot.id": prop},
        ),
    )
    return {"thing": thing, "sensor": sensor, "property": prop, "datastream": stream}


@pytest.mark.parametrize(
    ("entity_set", "payload"),
    [
        ("Things", THING),
        ("Locations", LOCATION),
        ("Sensors", SENSOR),
        ("ObservedProperties", OBSERVED_PROPERTY),
        ("FeaturesOfInterest", FEATURE),
    ],
)
def test_create_answers_201_with_location_and_the_entity(
    rig: Rig, entity_set: str, payload: dict[str, Any]
) -> None:
    response = rig.send("POST", entity_set, payload, status=201)
    body = response.get_json()
    assert (
        response.headers["Location"]
        == body["@iot.selfLink"]
        == f"{ROOT}/{entity_set}({body['@iot.id']})"
    )
    for key, value in payload.items():
        assert body[key] == value
    assert rig.get(f"{entity_set}({body['@iot.id']})") == body


def test_datastream_and_observation_by_links(rig: Rig) -> None:
    ids = _ids(rig)
    stream = rig.get(f"Datastreams({ids['datastream']})")
    assert stream["unitOfMeasurement"] == UNIT
    assert rig.get(f"Datastreams({ids['datastream']})/Thing")["@iot.id"] == ids["thing"]
    feature = rig.create("FeaturesOfInterest", FEATURE)
    observation = rig.create(
        "Observations",
        {
            "phenomenonTime": "2025-01-15T10:00:00Z",
            "result": 21.5,
            "resultTime": "2025-01-15T10:00:05Z",
            "resultQuality": "good",
            "validTime": "2025-01-15T10:00:00Z/2025-01-15T11:00:00Z",
            "parameters": {"operator": "A"},
            "Datastream": {"@iot.id": ids["datastream"]},
            "FeatureOfInterest": {"@iot.id": feature},
        },
    )
    body = rig.get(f"Observations({observation})")
    assert body["result"] == 21.5 and body["resultTime"] == "2025-01-15T10:00:05Z"
    assert body["phenomenonTime"] == "2025-01-15T10:00:00Z"
    assert body["parameters"] == {"operator": "A"} and body["resultQuality"] == "good"
    assert rig.get(f"Observations({observation})/FeatureOfInterest")["@iot.id"] == feature


def test_post_to_a_navigation_collection_links_the_parent(rig: Rig) -> None:
    ids = _ids(rig)
    second = rig.create(
        f"Things({ids['thing']})/Datastreams",
        datastream(
            Sensor={"@iot.id": ids["sensor"]}, ObservedProperty={"@iot.id": ids["property"]}
        ),
    )
    assert rig.get(f"Datastreams({second})/Thing")["@iot.id"] == ids["thing"]
    observation = rig.create(f"Datastreams({second})/Observations", {"result": 3})
    assert rig.get(f"Observations({observation})/Datastream")["@iot.id"] == second
    nested = rig.create(f"Things({ids['thing']})/Datastreams({second})/Observations", {"result": 4})
    assert rig.get(f"Observations({nested})/Datastream")["@iot.id"] == second
    rig.send("POST", "Things(999999)/Datastreams", datastream(), status=404)
    rig.send("POST", f"Things({ids['thing'] + 1000})/Datastreams({second})/Observations",
             {"result": 5}, status=404)  # fmt: skip


def test_deep_insert_of_a_thing_with_everything(rig: Rig) -> None:
    payload = {
        **THING,
        "Locations": [LOCATION],
        "Datastreams": [
            datastream(
                Sensor=SENSOR,
                ObservedProperty=OBSERVED_PROPERTY,
                Observations=[
                    {
                        "phenomenonTime": "2025-01-15T10:00:00Z",
                        "result": 1,
                        "FeatureOfInterest": FEATURE,
                    },
                    {"phenomenonTime": "2025-01-15T10:10:00Z", "result": 2},
                ],
            )
        ],
    }
    thing = rig.create("Things", payload)
    (stream,) = rig.get(f"Things({thing})/Datastreams")["value"]
    assert rig.get(f"Datastreams({stream['@iot.id']})/Sensor")["name"] == SENSOR["name"]
    values = rig.get(f"Datastreams({stream['@iot.id']})/Observations?$orderby=phenomenonTime")[
        "value"
    ]
    assert [v["result"] for v in values] == [1, 2]
    assert len(rig.get(f"Things({thing})/Locations")["value"]) == 1
    assert len(rig.get(f"Things({thing})/HistoricalLocations")["value"]) == 1


def test_deep_insert_of_an_observation_with_its_datastream(rig: Rig) -> None:
    thing = rig.create("Things", THING)
    observation = rig.create(
        "Observations",
        {
            "result": "cloudy",
            "phenomenonTime": "2025-01-15T10:00:00Z",
            "FeatureOfInterest": FEATURE,
            "Datastream": datastream(
                Thing={"@iot.id": thing}, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY
            ),
        },
    )
    assert rig.get(f"Observations({observation})")["result"] == "cloudy"
    assert rig.get(f"Observations({observation})/Datastream/Thing")["@iot.id"] == thing


def test_the_new_entitys_id_and_annotations_are_ignored(rig: Rig) -> None:
    existing = rig.create("Things", THING)
    created = rig.create(
        "Things",
        {**THING, "@iot.id": existing, "@iot.selfLink": "x", "Datastreams@iot.navigationLink": "y"},
    )
    assert created != existing


def test_a_nested_object_with_an_id_links_that_entity(rig: Rig) -> None:
    """As FROST-Server reads it, and as frost-sta-client sends it (an earlier entity's state)."""
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    full = rig.get(f"Things({thing})")
    stream = rig.create(
        "Datastreams",
        datastream(Thing=full, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY),
    )
    assert rig.count(things) == 1
    assert rig.get(f"Datastreams({stream})/Thing")["@iot.id"] == thing


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"description": "no name"}, "'name'"),
        ({"name": "x", "description": "d", "colour": "red"}, "'colour'"),
        ({"name": 5, "description": "d"}, "'name'"),
        ({"name": "x" * 201, "description": "d"}, "'name'"),
        ({"name": "x", "description": "d", "properties": [1]}, "'properties'"),
    ],
)
def test_bad_properties_are_refused_naming_them(
    rig: Rig, payload: dict[str, Any], named: str
) -> None:
    message = rig.send("POST", "Things", payload, status=400).get_json()["message"]
    assert named in message


def test_integrity_rules(rig: Rig) -> None:
    ids = _ids(rig)
    message = rig.send("POST", "Datastreams", datastream(Thing={"@iot.id": ids["thing"]}),
                       status=400).get_json()["message"]  # fmt: skip
    assert "Sensor" in message
    message = rig.send("POST", "Observations", {"result": 1}, status=400).get_json()["message"]
    assert "Datastream" in message
    missing = datastream(
        Thing={"@iot.id": 987654}, Sensor={"@iot.id": ids["sensor"]},
        ObservedProperty={"@iot.id": ids["property"]},
    )  # fmt: skip
    assert "987654" in rig.send("POST", "Datastreams", missing, status=404).get_json()["message"]
    rig.send("POST", "Datastreams", datastream(Thing={"@iot.id": "7"}), status=400)
    rig.send("POST", "Datastreams", datastream(Thing={"@iot.id": 2**63}), status=400)


def test_a_failing_deep_insert_creates_nothing(rig: Rig) -> None:
    before = {
        t.name: rig.count(t)
        for t in (
            things,
            locations,
            datastreams,
            sensors,
            observed_properties,
            observations,
            features_of_interest,
        )
    }
    payload = {
        **THING,
        "Locations": [LOCATION],
        "Datastreams": [
            datastream(
                Sensor=SENSOR,
                ObservedProperty=OBSERVED_PROPERTY,
                Observations=[{"result": 1, "phenomenonTime": "2025-01-15T10:00:00Z"}],
            ),
            # The second Datastream lacks its ObservedProperty: everything is refused.
            datastream(Sensor=SENSOR),
        ],
    }
    rig.send("POST", "Things", payload, status=400)
    rig.send(
        "POST",
        "Things",
        {
            **THING,
            "Datastreams": [
                datastream(Sensor={"@iot.id": 424242}, ObservedProperty=OBSERVED_PROPERTY)
            ],
        },
        status=404,
    )
    after = {t.name: rig.count(t) for t in before_tables()}
    assert after == before


def before_tables() -> tuple[Any, ...]:
    return (
        things,
        locations,
        datastreams,
        sensors,
        observed_properties,
        observations,
        features_of_interest,
    )


def test_a_parent_link_may_not_be_repeated(rig: Rig) -> None:
    ids = _ids(rig)
    rig.send("POST", f"Datastreams({ids['datastream']})/Observations",
             {"result": 1, "Datastream": {"@iot.id": ids["datastream"]}}, status=400)  # fmt: skip


def test_historical_location_needs_a_thing_and_a_location(rig: Rig) -> None:
    thing = rig.create("Things", THING)
    location = rig.create("Locations", LOCATION)
    rig.send(
        "POST",
        "HistoricalLocations",
        {"time": "2025-01-01T00:00:00Z", "Locations": [{"@iot.id": location}]},
        status=400,
    )
    rig.send(
        "POST", f"Things({thing})/HistoricalLocations", {"time": "2025-01-01T00:00:00Z"}, status=400
    )
    posted = {"time": "2025-01-01T00:00:00Z", "Locations": [{"@iot.id": location}]}
    history = rig.create(f"Things({thing})/HistoricalLocations", posted)
    assert rig.get(f"HistoricalLocations({history})")["time"] == "2025-01-01T00:00:00Z"


def test_geometry_and_encoding_are_checked(rig: Rig) -> None:
    feature = {
        **LOCATION,
        "location": {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}},
    }
    assert (
        "not a Feature" in rig.send("POST", "Locations", feature, status=400).get_json()["message"]
    )
    short = {**LOCATION, "location": {"type": "Point", "coordinates": [1]}}
    rig.send("POST", "Locations", short, status=400)
    ring = {**LOCATION, "location": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}}
    rig.send("POST", "Locations", ring, status=400)  # not closed
    line = {**LOCATION, "location": {"type": "LineString", "coordinates": [[0, 0]]}}
    rig.send("POST", "Locations", line, status=400)
    rig.send("POST", "Locations", {**LOCATION, "encodingType": "text/plain"}, status=400)
    old = rig.create("Locations", {**LOCATION, "encodingType": "application/vnd.geo+json"})
    assert rig.get(f"Locations({old})")["encodingType"] == "application/geo+json"


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (21.5, 21.5),
        (42, 42),
        (True, True),
        ("text", "text"),
        ({"a": [1, 2]}, {"a": [1, 2]}),
        (None, None),
        (2**60, 2**60),
    ],
)
def test_any_json_result_reads_back_as_posted(rig: Rig, result: Any, expected: Any) -> None:
    ids = _ids(rig)
    observation = rig.create(
        f"Datastreams({ids['datastream']})/Observations",
        {"result": result, "phenomenonTime": "2025-01-15T10:00:00Z"},
    )
    assert rig.get(f"Observations({observation})")["result"] == expected


def test_times_with_and_without_colon_in_the_offset(rig: Rig) -> None:
    ids = _ids(rig)
    path = f"Datastreams({ids['datastream']})/Observations"
    first = rig.create(path, {"result": 1, "phenomenonTime": "2025-01-15T10:00:00-0700"})
    second = rig.create(path, {"result": 2, "phenomenonTime": "2025-01-15T11:00:00-07:00"})
    third = rig.create(
        path, {"result": 3, "phenomenonTime": "2025-01-15T19:00:00"}
    )  # no offset: UTC
    assert rig.get(f"Observations({first})")["phenomenonTime"] == "2025-01-15T17:00:00Z"
    assert rig.get(f"Observations({second})")["phenomenonTime"] == "2025-01-15T18:00:00Z"
    assert rig.get(f"Observations({third})")["phenomenonTime"] == "2025-01-15T19:00:00Z"
    interval = rig.create(
        path, {"result": 4, "phenomenonTime": "2025-01-15T20:00:00Z/2025-01-15T21:00:00Z"}
    )
    assert (
        rig.get(f"Observations({interval})")["phenomenonTime"]
        == "2025-01-15T20:00:00Z/2025-01-15T21:00:00Z"
    )
    rig.send(
        "POST",
        path,
        {"result": 5, "phenomenonTime": "2025-01-15T21:00:00Z/2025-01-15T20:00:00Z"},
        status=400,
    )
    rig.send("POST", path, {"result": 5, "phenomenonTime": "yesterday"}, status=400)


def test_observations_without_a_time_stay_distinct(rig: Rig) -> None:
    ids = _ids(rig)
    stream = datastream(
        Thing={"@iot.id": ids["thing"]}, Sensor={"@iot.id": ids["sensor"]},
        ObservedProperty={"@iot.id": ids["property"]},
        Observations=[{"result": 1}, {"result": 2}, {"result": 3}],
    )  # fmt: skip
    created = rig.create("Datastreams", stream)
    assert len(rig.get(f"Datastreams({created})/Observations")["value"]) == 3


def test_the_same_time_again_is_the_same_observation(rig: Rig) -> None:
    """The store's rule (README guarantees): datastream + phenomenon time is one observation;
    a different value is a correction that keeps the old value."""
    ids = _ids(rig)
    path = f"Datastreams({ids['datastream']})/Observations"
    first = rig.create(path, {"result": 1.5, "phenomenonTime": "2025-01-15T10:00:00Z"})
    again = rig.create(path, {"result": 1.5, "phenomenonTime": "2025-01-15T10:00:00Z"})
    corrected = rig.create(path, {"result": 2.5, "phenomenonTime": "2025-01-15T10:00:00Z"})
    assert first == again == corrected
    body = rig.get(f"Observations({first})")
    assert body["result"] == 2.5
    assert [c["result"] for c in body["parameters"]["corrections"]] == [1.5]


def test_multi_datastream_and_its_observations(rig: Rig) -> None:
    ids = _ids(rig)
    second_property = rig.create("ObservedProperties", {**OBSERVED_PROPERTY, "name": "Humidity"})
    payload: dict[str, Any] = {
        "name": "Weather",
        "description": "Temperature and humidity",
        "unitOfMeasurements": [UNIT, {"name": "percent", "symbol": "%", "definition": "ucum:%"}],
        "observationType": COMPLEX,
        "multiObservationDataTypes": [
            "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
            "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        ],
        "Thing": {"@iot.id": ids["thing"]},
        "Sensor": {"@iot.id": ids["sensor"]},
        "ObservedProperties": [{"@iot.id": ids["property"]}, {"@iot.id": second_property}],
    }
    response = rig.send("POST", "MultiDatastreams", payload, status=201)
    multi = response.get_json()["@iot.id"]
    assert response.headers["Location"] == f"{ROOT}/MultiDatastreams({multi})"
    posted = {"result": [21.5, 40], "phenomenonTime": "2025-01-15T10:00:00Z"}
    observation = rig.create(f"MultiDatastreams({multi})/Observations", posted)
    assert rig.count(multi_datastreams) == 1
    with rig.store.connect() as conn:
        row = (
            conn.execute(observations.select().where(observations.c.id == observation))
            .mappings()
            .one()
        )
    assert row["multi_datastream_id"] == multi and row["datastream_id"] is None
    assert row["result_json"] == [21.5, 40] and row["result"] is None
    path = f"MultiDatastreams({multi})/Observations"
    rig.send("POST", path, {"result": [1], "phenomenonTime": "2025-01-15T11:00:00Z"}, status=400)
    rig.send("POST", path, {"result": 1, "phenomenonTime": "2025-01-15T11:00:00Z"}, status=400)
    wrong = {**payload, "ObservedProperties": [{"@iot.id": ids["property"]}]}
    assert (
        "ObservedProperties"
        in rig.send("POST", "MultiDatastreams", wrong, status=400).get_json()["message"]
    )
    wrong = {**payload, "multiObservationDataTypes": payload["multiObservationDataTypes"][:1]}
    rig.send("POST", "MultiDatastreams", wrong, status=400)
    wrong = {**payload, "observationType": "OM_Measurement"}
    rig.send("POST", "MultiDatastreams", wrong, status=400)
    both = {
        "result": [1, 2],
        "Datastream": {"@iot.id": ids["datastream"]},
        "MultiDatastream": {"@iot.id": multi},
    }
    rig.send("POST", "Observations", both, status=400)
