"""The automatic FeatureOfInterest and the automatic HistoricalLocations (18-088 §10.2)."""

from __future__ import annotations

from hub.store.schema import features_of_interest, historical_locations
from tests.hub.sta.write.conftest import (
    LOCATION,
    OBSERVED_PROPERTY,
    SENSOR,
    THING,
    Rig,
    datastream,
)

ELSEWHERE = {**LOCATION, "name": "Yard", "location": {"type": "Point", "coordinates": [71.5, 51.2]}}


def _stream(rig: Rig, thing: int) -> int:
    return rig.create(
        "Datastreams",
        datastream(Thing={"@iot.id": thing}, Sensor=SENSOR, ObservedProperty=OBSERVED_PROPERTY),
    )


def test_a_feature_is_derived_from_the_things_location_and_reused(rig: Rig) -> None:
    thing = rig.create(
        "Things", {**THING, "Locations": [{**LOCATION, "properties": {"roof": True}}]}
    )
    stream = _stream(rig, thing)
    first = rig.create(f"Datastreams({stream})/Observations", {"result": 1})
    second = rig.create(f"Datastreams({stream})/Observations", {"result": 2})
    feature = rig.get(f"Observations({first})/FeatureOfInterest")
    assert feature == rig.get(f"Observations({second})/FeatureOfInterest")
    assert feature["name"] == LOCATION["name"]
    assert feature["description"] == LOCATION["description"]
    assert feature["properties"] == {"roof": True}
    assert feature["feature"] == LOCATION["location"]
    assert feature["encodingType"] == "application/geo+json"
    assert rig.count(features_of_interest) == 1


def test_a_moved_thing_gets_a_new_feature(rig: Rig) -> None:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    stream = _stream(rig, thing)
    before = rig.create(f"Datastreams({stream})/Observations", {"result": 1})
    rig.send("PATCH", f"Things({thing})", {"Locations": [ELSEWHERE]}, status=400)  # inline: no
    elsewhere = rig.create("Locations", ELSEWHERE)
    rig.send("PATCH", f"Things({thing})", {"Locations": [{"@iot.id": elsewhere}]}, status=200)
    after = rig.create(f"Datastreams({stream})/Observations", {"result": 2})
    old = rig.get(f"Observations({before})/FeatureOfInterest")
    new = rig.get(f"Observations({after})/FeatureOfInterest")
    assert old["@iot.id"] != new["@iot.id"] and new["feature"] == ELSEWHERE["location"]


def test_a_1_0_encoding_is_accepted_for_the_derivation(rig: Rig) -> None:
    thing = rig.create(
        "Things", {**THING, "Locations": [{**LOCATION, "encodingType": "application/vnd.geo+json"}]}
    )
    stream = _stream(rig, thing)
    observation = rig.create(f"Datastreams({stream})/Observations", {"result": 1})
    assert rig.get(f"Observations({observation})/FeatureOfInterest")["name"] == LOCATION["name"]


def test_without_a_location_a_feature_must_be_given(rig: Rig) -> None:
    thing = rig.create("Things", THING)
    stream = _stream(rig, thing)
    message = rig.send("POST", f"Datastreams({stream})/Observations", {"result": 1}, status=400)
    assert "FeatureOfInterest" in message.get_json()["message"]


def test_a_thing_created_with_locations_gets_its_history(rig: Rig) -> None:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    (history,) = rig.get(f"Things({thing})/HistoricalLocations")["value"]
    (where,) = rig.get(f"HistoricalLocations({history['@iot.id']})/Locations")["value"]
    assert where["name"] == LOCATION["name"]
    plain = rig.create("Things", THING)
    assert rig.get(f"Things({plain})/HistoricalLocations")["value"] == []


def test_new_locations_replace_the_current_ones_and_are_recorded(rig: Rig) -> None:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    # A Location posted under the Thing: the Thing moves there.
    yard = rig.create(f"Things({thing})/Locations", ELSEWHERE)
    assert [v["@iot.id"] for v in rig.get(f"Things({thing})/Locations")["value"]] == [yard]
    # Linking the Thing from a new Location does the same; relinking the same does nothing.
    third = rig.create("Locations", {**LOCATION, "name": "Third", "Things": [{"@iot.id": thing}]})
    rig.send("PATCH", f"Things({thing})", {"Locations": [{"@iot.id": third}]}, status=200)
    histories = rig.get(f"Things({thing})/HistoricalLocations?$orderby=id")["value"]
    assert len(histories) == 3
    places = [
        [v["@iot.id"] for v in rig.get(f"HistoricalLocations({h['@iot.id']})/Locations")["value"]]
        for h in histories
    ]
    assert places[1:] == [[yard], [third]]


def test_a_newer_posted_history_moves_the_thing_an_older_one_does_not(rig: Rig) -> None:
    thing = rig.create("Things", {**THING, "Locations": [LOCATION]})
    (home,) = [v["@iot.id"] for v in rig.get(f"Things({thing})/Locations")["value"]]
    yard = rig.create("Locations", ELSEWHERE)
    old = {"time": "2001-01-01T00:00:00Z", "Locations": [{"@iot.id": yard}]}
    rig.create(f"Things({thing})/HistoricalLocations", old)
    assert [v["@iot.id"] for v in rig.get(f"Things({thing})/Locations")["value"]] == [home]
    new = {
        "time": "2999-01-01T00:00:00Z",
        "Thing": {"@iot.id": thing},
        "Locations": [{"@iot.id": yard}],
    }
    rig.create("HistoricalLocations", new)
    assert [v["@iot.id"] for v in rig.get(f"Things({thing})/Locations")["value"]] == [yard]
    assert rig.count(historical_locations) == 3  # the posted ones made no further history
