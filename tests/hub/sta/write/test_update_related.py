"""Related entities inside an update's body: links with extra fields, restated (echoed)
entities without ids, and what stays refused (18-088 §10.3; ``hub.sta.write.echoes``)."""

from __future__ import annotations

from typing import Any

from hub.store.schema import (
    datastreams,
    historical_locations,
    locations,
    observations,
    observed_properties,
    sensors,
    things,
)
from tests.hub.sta.write.conftest import (
    LOCATION,
    OBSERVED_PROPERTY,
    SENSOR,
    THING,
    Rig,
    datastream,
)

TABLES = (
    things,
    locations,
    historical_locations,
    datastreams,
    sensors,
    observed_properties,
    observations,
)
ELSEWHERE = {**LOCATION, "name": "Yard", "location": {"type": "Point", "coordinates": [71.5, 51.2]}}
DEEP_THING: dict[str, Any] = {
    **THING,
    "Locations": [LOCATION],
    "Datastreams": [datastream(Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY)],
}


def _counts(rig: Rig) -> list[int]:
    return [rig.count(table) for table in TABLES]


def _ids(rig: Rig, path: str) -> list[int]:
    return sorted(item["@iot.id"] for item in rig.get(path)["value"])


def test_a_link_with_other_fields_links_and_ignores_them(rig: Rig) -> None:
    thing = rig.create("Things", DEEP_THING)
    (stream,) = _ids(rig, f"Things({thing})/Datastreams")
    other = rig.create("Things", {**THING, "name": "Other"})
    # The fields beside the id would rename the Thing: they are not applied, the link is.
    linked = {"@iot.id": other, "name": "Renamed through a link", "description": "x"}
    rig.send("PATCH", f"Datastreams({stream})", {"Thing": linked}, status=200)
    assert rig.get(f"Datastreams({stream})/Thing")["@iot.id"] == other
    assert rig.get(f"Things({other})")["name"] == "Other"
    collection = {"Datastreams": [{"@iot.id": stream, "name": "ignored", "extra": 1}]}
    rig.send("PATCH", f"Things({thing})", collection, status=200)
    assert rig.get(f"Datastreams({stream})")["name"] == datastream()["name"]
    assert rig.get(f"Datastreams({stream})/Thing")["@iot.id"] == thing


def test_a_deep_insert_body_sent_back_as_an_update_creates_nothing(rig: Rig) -> None:
    thing = rig.create("Things", DEEP_THING)
    before = _counts(rig)
    # What frost-sta-client's update() sends after a deep insert: the body again, the children
    # without ids (it never learnt them), one property changed.
    rig.send("PUT", f"Things({thing})", {**DEEP_THING, "name": "Renamed"}, status=200)
    moved = {**DEEP_THING, "name": "Renamed", "description": "Moved"}
    rig.send("PATCH", f"Things({thing})", moved, status=200)
    body = rig.get(f"Things({thing})")
    assert (body["name"], body["description"]) == ("Renamed", "Moved")
    assert _counts(rig) == before
    (history,) = rig.get(f"Things({thing})/HistoricalLocations")["value"]
    assert len(rig.get(f"Things({thing})/Locations")["value"]) == 1
    assert history["@iot.id"]


def test_an_echo_may_omit_properties_and_spell_values_differently(rig: Rig) -> None:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    before = _counts(rig)
    echo = {
        "name": LOCATION["name"],
        "encodingType": "application/vnd.geo+json",  # the 1.0 spelling of the stored one
        "location": {"type": "Point", "coordinates": [71.42, 51.17]},
    }
    rig.send("PATCH", f"Things({thing})", {"name": "N", "Locations": [echo]}, status=200)
    assert _counts(rig) == before


def test_a_changed_or_new_related_entity_without_id_is_refused(rig: Rig) -> None:
    thing = rig.create("Things", DEEP_THING)
    (stream,) = _ids(rig, f"Things({thing})/Datastreams")
    before = _counts(rig)
    changed = {**DEEP_THING, "name": "Renamed", "Locations": [{**LOCATION, "name": "Moved"}]}
    response = rig.send("PUT", f"Things({thing})", changed, status=400)
    message = response.get_json()["message"]
    assert message.startswith("Thing/Locations[0]: ") and "cannot create or change" in message
    assert rig.get(f"Things({thing})")["name"] == THING["name"]  # the whole update refused
    new_sensor = {**SENSOR, "name": "Another sensor"}
    rig.send("PATCH", f"Datastreams({stream})", {"Sensor": new_sensor}, status=400)
    rig.send("PATCH", f"Things({thing})", {"Datastreams": [datastream(name="New")]}, status=400)
    rig.send("PATCH", f"Things({thing})", {"Locations": [{}]}, status=400)
    rig.send("PATCH", f"Things({thing})", {"Locations": ["Roof"]}, status=400)
    unknown = rig.send("PATCH", f"Things({thing})",
                       {"Locations": [{**LOCATION, "colour": "red"}]}, status=400)  # fmt: skip
    assert "colour" in unknown.get_json()["message"]
    assert _counts(rig) == before


def test_what_an_echo_holds_below_it_is_not_looked_at(rig: Rig) -> None:
    thing = rig.create("Things", DEEP_THING)
    (stream,) = _ids(rig, f"Things({thing})/Datastreams")
    sensor = rig.get(f"Datastreams({stream})/Sensor")
    before = _counts(rig)
    echo = datastream(Sensor={**SENSOR, "name": "Not applied"}, ObservedProperty={"x": 1})
    rig.send("PATCH", f"Things({thing})", {"Datastreams": [echo]}, status=200)
    assert rig.get(f"Datastreams({stream})/Sensor") == sensor
    assert _counts(rig) == before


def test_echoes_alone_leave_a_navigation_as_it_is(rig: Rig) -> None:
    # A Thing in two places; its Location restated with the Thing echoed does not move it.
    thing = rig.create("Things", {**THING, "Locations": [LOCATION, ELSEWHERE]})
    places = _ids(rig, f"Things({thing})/Locations")
    first = places[0]
    body = {**LOCATION, "description": "Renamed roof", "Things": [THING]}
    rig.send("PUT", f"Locations({first})", body, status=200)
    assert _ids(rig, f"Things({thing})/Locations") == places
    assert rig.count(historical_locations) == 1
    assert rig.get(f"Locations({first})")["description"] == "Renamed roof"


def test_echoes_beside_links_count_as_links(rig: Rig) -> None:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    (home,) = _ids(rig, f"Things({thing})/Locations")
    yard = rig.create("Locations", ELSEWHERE)
    body = {"Locations": [{"@iot.id": yard}, LOCATION]}
    rig.send("PATCH", f"Things({thing})", body, status=200)
    assert _ids(rig, f"Things({thing})/Locations") == sorted([home, yard])
    rig.send("PATCH", f"Things({thing})", {"Locations": [{"@iot.id": yard}]}, status=200)
    assert _ids(rig, f"Things({thing})/Locations") == [yard]


def test_single_and_observation_echoes(rig: Rig) -> None:
    stream = rig.create(
        "Datastreams", datastream(Thing=THING, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY)
    )
    feature = {
        "name": "Gauge",
        "description": "A river gauge",
        "encodingType": "application/geo+json",
        "feature": {"type": "Point", "coordinates": [71.44, 51.16]},
    }
    reading = {"phenomenonTime": "2025-01-15T10:00:00+00:00", "result": 3}
    made = {**feature, "Observations": [{**reading, "Datastream": {"@iot.id": stream}}]}
    place = rig.create("FeaturesOfInterest", made)
    before = _counts(rig)
    echoed = datastream(Thing=THING, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY)
    rig.send("PUT", f"Datastreams({stream})", {**echoed, "name": "Renamed"}, status=200)
    rig.send("PUT", f"FeaturesOfInterest({place})", {**made, "name": "Gauge 2"}, status=200)
    assert rig.get(f"FeaturesOfInterest({place})")["name"] == "Gauge 2"
    (observation,) = _ids(rig, f"FeaturesOfInterest({place})/Observations")
    now = {**feature, "name": "Gauge 2"}  # an echo restates what is stored now
    body = {**reading, "result": 4, "FeatureOfInterest": now, "Datastream": {"@iot.id": stream}}
    rig.send("PUT", f"Observations({observation})", body, status=200)
    assert rig.get(f"Observations({observation})")["result"] == 4
    assert _counts(rig) == before
    # The same phenomenon time with another result is not the stored Observation.
    changed = {**feature, "Observations": [{**reading, "result": 5}]}
    rig.send("PUT", f"FeaturesOfInterest({place})", changed, status=400)


def test_a_multi_datastream_may_restate_its_properties_in_order(rig: Rig) -> None:
    thing = rig.create("Things", THING)
    complex_type = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"
    second = {**OBSERVED_PROPERTY, "name": "Humidity"}
    body = {
        "name": "m",
        "description": "d",
        "unitOfMeasurements": [datastream()["unitOfMeasurement"]] * 2,
        "observationType": complex_type,
        "multiObservationDataTypes": [complex_type] * 2,
        "Thing": {"@iot.id": thing},
        "Sensor": SENSOR,
        "ObservedProperties": [OBSERVED_PROPERTY, second],
    }
    multi = rig.create("MultiDatastreams", body)
    measured = [
        item["@iot.id"]
        for item in rig.get(f"MultiDatastreams({multi})/ObservedProperties?$orderby=id")["value"]
    ]
    rig.send("PUT", f"MultiDatastreams({multi})", {**body, "name": "n"}, status=200)
    in_order = {"ObservedProperties": [{"@iot.id": ident} for ident in measured]}
    rig.send("PATCH", f"MultiDatastreams({multi})", in_order, status=200)
    reversed_order = {"ObservedProperties": [{"@iot.id": ident} for ident in measured[::-1]]}
    rig.send("PATCH", f"MultiDatastreams({multi})", reversed_order, status=400)
    assert rig.get(f"MultiDatastreams({multi})")["name"] == "n"
