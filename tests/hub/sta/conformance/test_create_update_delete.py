"""Conformance: create, update, delete (ets-sta10 Capability2Tests, FROST c02).

Requirement class (18-088 Annex A.3, ``sta.md`` §1.5):
``http://www.opengis.net/spec/iot_sensing/1.1/req/create-update-delete`` (create-entity,
link-to-existing-entities, deep-insert, deep-insert-status-code, update-entity, delete-entity,
historical-location-auto-creation, update-entity-put, update-entity-jsonpatch).

As ets-sta10 checks them: every entity type is created with exactly 201 and a ``Location``
header whose id parses as a long and answers a GET with 200; deep inserts create and link every
inline entity, and a deep insert that fails creates nothing; entities that break the integrity
rules are refused with 400 or 409; PATCH changes exactly what it names, refuses inline related
entities and leaves the entity as it was; PUT replaces; JSON Patch applies its operations;
DELETE answers 200, then 404, and cascades as 18-088 §10.4 implies; a FeatureOfInterest is made
from the Thing's Location when an Observation names none; a Thing that gets a Location gets a
HistoricalLocation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.hub.sta.conformance.bodies import (
    GEOJSON,
    absent,
    assert_holds,
    creatable,
    datastream,
    feature,
    fresh,
    location,
    made_with,
    observation,
    observed_property,
    properties_of,
    ref,
    sensor,
    stream_world,
    thing,
)
from tests.hub.sta.conformance.cases import (
    CASCADES,
    INVALID_DEEP_INSERTS,
    INVALID_ENTITIES,
    INVALID_PATCHES,
    PATCHES,
)
from tests.hub.sta.conformance.client import MISSING_ID, Sta, parse_location
from tests.hub.sta.conformance.spec import SETS, missing_requirements, parse_time, time_start

CUD = [
    f"create-update-delete/{name}"
    for name in (
        "create-entity",
        "link-to-existing-entities",
        "deep-insert",
        "deep-insert-status-code",
        "update-entity",
        "delete-entity",
        "historical-location-auto-creation",
        "update-entity-put",
        "update-entity-jsonpatch",
    )
]
REFUSED = (400, 409)  # what ets-sta10 accepts for an entity that breaks integrity rules


def test_service_root_advertises_create_update_delete(sta: Sta) -> None:
    conformance = sta.get("")["serverSettings"]["conformance"]
    assert missing_requirements(conformance, CUD) == [], conformance


# --- create -------------------------------------------------------------------------------------


@pytest.mark.parametrize("set_name", SETS)
def test_create_each_entity_type(sta: Sta, set_name: str) -> None:
    """ets-sta10 createEntities: exactly 201, a Location header parsed as a long, a GET of
    it answers 200 -- and holds what was posted, linked as posted."""
    body = creatable(sta, fresh())[set_name]
    response = sta.request("POST", set_name, body, status=201)
    assert parse_location(sta, response)[0] == set_name
    entity_id = parse_location(sta, response)[1]
    if response.content:
        assert response.json()["@iot.id"] == entity_id, response.text
    served = sta.get(response.headers["Location"])
    assert_holds(served, body)
    for navigation, link in body.items():
        if not navigation[:1].isupper():
            continue
        path = f"{set_name}({entity_id})/{navigation}"
        if isinstance(link, dict):
            assert sta.get(path)["@iot.id"] == link["@iot.id"], navigation
        else:
            assert sta.ids(path) == [item["@iot.id"] for item in link], navigation


def test_create_through_a_navigation_link_links_the_new_entity(sta: Sta) -> None:
    tag = fresh()
    base = stream_world(sta, tag)
    stream = sta.create(
        f"Things({base['Things']})/Datastreams",
        datastream(
            tag, Sensor=ref(base["Sensors"]), ObservedProperty=ref(base["ObservedProperties"])
        ),
    )
    assert sta.get(f"Datastreams({stream})/Thing")["@iot.id"] == base["Things"]
    made = sta.create(
        f"Datastreams({stream})/Observations",
        observation(1, 7, FeatureOfInterest=ref(base["FeaturesOfInterest"])),
    )
    assert sta.get(f"Observations({made})/Datastream")["@iot.id"] == stream
    via_feature = sta.create(
        f"FeaturesOfInterest({base['FeaturesOfInterest']})/Observations",
        observation(2, 8, Datastream=ref(stream)),
    )
    assert (
        sta.get(f"Observations({via_feature})/FeatureOfInterest")["@iot.id"]
        == (base["FeaturesOfInterest"])
    )
    placed = sta.create(f"Things({base['Things']})/Locations", location(tag + "n", 70.0, 50.0))
    assert placed in sta.ids(f"Things({base['Things']})/Locations")


def test_link_to_existing_entities(sta: Sta) -> None:
    tag = fresh()
    base = stream_world(sta, tag)
    other = sta.create("Things", thing(tag + "o", Locations=[ref(base["Locations"])]))
    assert sta.ids(f"Things({other})/Locations") == [base["Locations"]]
    assert sorted(sta.ids(f"Locations({base['Locations']})/Things")) == sorted(
        [base["Things"], other]
    )


def test_deep_insert_creates_and_links_everything(sta: Sta) -> None:
    """ets-sta10 createEntitiesWithDeepInsert: a Thing with its Location, and a Datastream
    with a new Sensor, ObservedProperty and Observations, one with a new FeatureOfInterest."""
    tag = fresh()
    body = thing(
        tag,
        Locations=[location(tag)],
        Datastreams=[
            datastream(
                tag,
                Sensor=sensor(tag),
                ObservedProperty=observed_property(tag),
                Observations=[
                    observation(0, 10, FeatureOfInterest=feature(tag)),
                    observation(1, 11),
                ],
            )
        ],
    )
    thing_id = sta.create("Things", body)
    assert_holds(sta.get(f"Things({thing_id})"), body)
    (loc,) = sta.collect(f"Things({thing_id})/Locations")
    assert_holds(loc, body["Locations"][0])
    (stream,) = sta.collect(f"Things({thing_id})/Datastreams")
    inline = body["Datastreams"][0]
    assert_holds(stream, inline)
    assert_holds(sta.get(f"Datastreams({stream['@iot.id']})/Sensor"), inline["Sensor"])
    assert_holds(
        sta.get(f"Datastreams({stream['@iot.id']})/ObservedProperty"), inline["ObservedProperty"]
    )
    made = sta.collect(f"Datastreams({stream['@iot.id']})/Observations?$orderby=phenomenonTime")
    assert [o["result"] for o in made] == [10, 11]
    first_feature = sta.get(f"Observations({made[0]['@iot.id']})/FeatureOfInterest")
    assert_holds(first_feature, inline["Observations"][0]["FeatureOfInterest"])
    # The second names no FeatureOfInterest: one made from the Thing's Location (or reused).
    sta.get(f"Observations({made[1]['@iot.id']})/FeatureOfInterest")
    assert len(sta.ids(f"Things({thing_id})/HistoricalLocations")) == 1


def test_deep_insert_of_an_observation_and_of_a_datastream(sta: Sta) -> None:
    tag = fresh()
    base = stream_world(sta, tag)
    made = sta.create(
        "Observations",
        observation(
            3, 12, Datastream=ref(base["Datastreams"]), FeatureOfInterest=feature(tag + "f")
        ),
    )
    assert_holds(sta.get(f"Observations({made})/FeatureOfInterest"), feature(tag + "f"))
    body = datastream(
        tag + "d",
        Thing=ref(base["Things"]),
        Sensor=sensor(tag + "d"),
        ObservedProperty=observed_property(tag + "d"),
        Observations=[observation(4, 13, FeatureOfInterest=ref(base["FeaturesOfInterest"]))],
    )
    stream = sta.create("Datastreams", body)
    assert_holds(sta.get(f"Datastreams({stream})/Sensor"), body["Sensor"])
    assert [o["result"] for o in sta.collect(f"Datastreams({stream})/Observations")] == [13]


@pytest.mark.parametrize("case", list(INVALID_DEEP_INSERTS))
def test_a_failing_deep_insert_creates_nothing(sta: Sta, case: str) -> None:
    """ets-sta10 createInvalidEntitiesWithDeepInsert: refused, and all or nothing."""
    base = stream_world(sta, fresh())
    tag = fresh()
    set_name, body = INVALID_DEEP_INSERTS[case](tag, base)
    response = sta.request("POST", set_name, body)
    assert response.status_code in (*REFUSED, 404), response.text
    assert made_with(sta, tag) == [], case


@pytest.mark.parametrize("case", list(INVALID_ENTITIES))
def test_an_entity_that_breaks_the_rules_is_refused(sta: Sta, case: str) -> None:
    """ets-sta10 createInvalidEntities: 400 or 409, and nothing created."""
    base = stream_world(sta, fresh())
    unplaced = sta.create("Things", thing(fresh()))
    base["Unplaced"] = sta.create(
        "Datastreams",
        datastream(
            fresh(),
            Thing=ref(unplaced),
            Sensor=ref(base["Sensors"]),
            ObservedProperty=ref(base["ObservedProperties"]),
        ),
    )
    tag = fresh()
    set_name, body = INVALID_ENTITIES[case](tag, base)
    before = sta.count(set_name)
    response = sta.request("POST", set_name, body)
    assert response.status_code in REFUSED, response.text
    assert sta.count(set_name) == before, case


def test_a_link_to_a_missing_entity_is_refused(sta: Sta) -> None:
    base = stream_world(sta, fresh())
    tag = fresh()
    body = datastream(
        tag,
        Thing=ref(MISSING_ID),
        Sensor=ref(base["Sensors"]),
        ObservedProperty=ref(base["ObservedProperties"]),
    )
    response = sta.request("POST", "Datastreams", body)
    assert response.status_code in (*REFUSED, 404), response.text
    assert absent(sta, "Datastreams", f"{tag} datastream")


def test_observation_defaults(sta: Sta) -> None:
    """18-088 §10.2: no phenomenonTime -> the server's time; no resultTime -> null."""
    base = stream_world(sta, fresh())
    before = datetime.now(UTC) - timedelta(seconds=5)
    made = sta.create(
        f"Datastreams({base['Datastreams']})/Observations",
        {"result": 3, "FeatureOfInterest": ref(base["FeaturesOfInterest"])},
    )
    served = sta.get(f"Observations({made})")
    assert (
        before <= time_start(served["phenomenonTime"]) <= datetime.now(UTC) + timedelta(seconds=5)
    )
    assert served["resultTime"] is None


@pytest.mark.parametrize(
    "result", [42, 4.25, -0.5, "clear sky", True, False, {"a": 1, "b": [1, 2]}, [1.5, "x"]]
)
def test_observation_results_keep_their_type(sta: Sta, result: Any) -> None:
    base = stream_world(sta, fresh())
    made = sta.create(
        f"Datastreams({base['Datastreams']})/Observations",
        observation(9, result, FeatureOfInterest=ref(base["FeaturesOfInterest"])),
    )
    served = sta.get(f"Observations({made})")["result"]
    assert served == result and type(served) is type(result), (served, result)


def test_an_interval_phenomenon_time_round_trips(sta: Sta) -> None:
    base = stream_world(sta, fresh())
    interval = "2015-03-01T00:00:00Z/2015-03-01T01:00:00Z"
    made = sta.create(
        f"Datastreams({base['Datastreams']})/Observations",
        {
            "phenomenonTime": interval,
            "result": 1,
            "FeatureOfInterest": ref(base["FeaturesOfInterest"]),
        },
    )
    start, end = sta.get(f"Observations({made})")["phenomenonTime"].split("/")
    assert (parse_time(start), parse_time(end)) == tuple(parse_time(t) for t in interval.split("/"))


# --- update -------------------------------------------------------------------------------------


@pytest.mark.parametrize("set_name", SETS)
def test_patch_changes_exactly_what_it_names(sta: Sta, set_name: str) -> None:
    """ets-sta10 patchEntities: 200, the named properties changed, every other one kept."""
    entity_id = stream_world(sta, fresh())[set_name]
    for patch in PATCHES[set_name]:
        before = properties_of(sta.get(f"{set_name}({entity_id})"))
        sta.request("PATCH", f"{set_name}({entity_id})", patch, status=200)
        after = properties_of(sta.get(f"{set_name}({entity_id})"))
        assert_holds(after, patch)
        unchanged = {k: v for k, v in before.items() if k not in patch}
        assert {k: after.get(k) for k in unchanged} == unchanged, (patch, before, after)


def test_patch_replaces_single_links(sta: Sta) -> None:
    """18-088 §10.3.1: a binding link (``{"@iot.id": n}``) replaces a to-one relation."""
    tag = fresh()
    base = stream_world(sta, tag)
    other_sensor = sta.create("Sensors", sensor(tag + "s"))
    other_feature = sta.create("FeaturesOfInterest", feature(tag + "f"))
    path = f"Datastreams({base['Datastreams']})"
    sta.request("PATCH", path, {"Sensor": ref(other_sensor)}, status=200)
    assert sta.get(f"{path}/Sensor")["@iot.id"] == other_sensor
    observation_path = f"Observations({base['Observations']})"
    sta.request("PATCH", observation_path, {"FeatureOfInterest": ref(other_feature)}, status=200)
    assert sta.get(f"{observation_path}/FeatureOfInterest")["@iot.id"] == other_feature


@pytest.mark.parametrize("case", list(INVALID_PATCHES))
def test_an_invalid_patch_is_refused_and_changes_nothing(sta: Sta, case: str) -> None:
    """ets-sta10 invalidPatchEntities: an update may not carry new related entities (18-088
    §10.3.1) nor unset a mandatory property."""
    set_name, make = INVALID_PATCHES[case]
    entity_id = stream_world(sta, fresh())[set_name]
    path = f"{set_name}({entity_id})"
    before = sta.get(path)
    tag = fresh()
    sta.request("PATCH", path, make(tag), status=400)
    assert sta.get(path) == before
    assert made_with(sta, tag) == [], case


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("set_name", SETS)
def test_updating_a_missing_entity_is_404(sta: Sta, set_name: str, method: str) -> None:
    sta.request(method, f"{set_name}({MISSING_ID})", {"name": "nothing"}, status=404)


def test_put_replaces_the_entity(sta: Sta) -> None:
    """req/create-update-delete/update-entity-put: omitted optional properties are reset."""
    tag = fresh()
    base = stream_world(sta, tag)
    path = f"Things({base['Things']})"
    replacement = {"name": f"{tag} replaced", "description": "replaced by PUT"}
    sta.request("PUT", path, replacement, status=200)
    served = sta.get(path)
    assert_holds(served, replacement)
    assert served.get("properties") in (None, {}), served
    assert sta.ids(f"{path}/Datastreams") == [base["Datastreams"]]  # relations are kept
    sensor_path = f"Sensors({base['Sensors']})"
    new_sensor = {**sensor(tag + "p"), "properties": {"calibrated": True}}
    sta.request("PUT", sensor_path, new_sensor, status=200)
    assert_holds(sta.get(sensor_path), new_sensor)


def test_put_without_a_mandatory_property_is_400(sta: Sta) -> None:
    base = stream_world(sta, fresh())
    path = f"Things({base['Things']})"
    before = sta.get(path)
    sta.request("PUT", path, {"name": "only a name"}, status=400)
    assert sta.get(path) == before


def test_json_patch(sta: Sta) -> None:
    """req/create-update-delete/update-entity-jsonpatch (RFC 6902)."""
    tag = fresh()
    base = stream_world(sta, tag)
    path = f"Things({base['Things']})"
    operations = [
        {"op": "replace", "path": "/name", "value": f"{tag} json patched"},
        {"op": "add", "path": "/properties/owner", "value": "city"},
        {"op": "remove", "path": "/properties/floor"},
        {"op": "test", "path": "/description", "value": "a thing"},
    ]
    sta.request("PATCH", path, operations, content_type="application/json-patch+json", status=200)
    served = sta.get(path)
    assert served["name"] == f"{tag} json patched"
    assert served["properties"] == {"owner": "city"}
    failing = [
        {"op": "replace", "path": "/name", "value": "must not stick"},
        {"op": "test", "path": "/description", "value": "something else"},
    ]
    response = sta.request("PATCH", path, failing, content_type="application/json-patch+json")
    assert response.status_code in (400, 409, 422), response.text
    assert sta.get(path) == served


# --- delete -------------------------------------------------------------------------------------


@pytest.mark.parametrize("set_name", SETS)
def test_delete_each_entity_type(sta: Sta, set_name: str) -> None:
    """ets-sta10 deleteEntities: 200, then the entity is 404."""
    entity_id = stream_world(sta, fresh())[set_name]
    sta.request("DELETE", f"{set_name}({entity_id})", status=200)
    sta.request("GET", f"{set_name}({entity_id})", status=404)


@pytest.mark.parametrize("set_name", SETS)
def test_delete_cascades(sta: Sta, set_name: str) -> None:
    """18-088 §10.4 and ets-sta10 deleteEntities: what can no longer exist without the deleted
    entity (a Datastream without its Thing, an Observation without its Datastream or
    FeatureOfInterest, a HistoricalLocation without its Thing or Location) goes with it."""
    world = stream_world(sta, fresh())
    gone, kept = CASCADES[set_name]
    sta.request("DELETE", f"{set_name}({world[set_name]})", status=200)
    for other in gone:
        sta.request("GET", f"{other}({world[other]})", status=404)
    for other in kept:
        sta.request("GET", f"{other}({world[other]})", status=200)


@pytest.mark.parametrize("set_name", SETS)
def test_deleting_a_missing_entity_is_404(sta: Sta, set_name: str) -> None:
    """ets-sta10 deleteNoneexistentEntities."""
    sta.request("DELETE", f"{set_name}({MISSING_ID})", status=404)


# --- automatic FeaturesOfInterest and HistoricalLocations -----------------------------------------


def test_feature_of_interest_from_the_things_location(sta: Sta) -> None:
    """18-088 §10.2: an Observation without FeatureOfInterest gets one made from (or reused
    for) the Location of its Datastream's Thing; after the Thing moves, the new Location's."""
    tag = fresh()
    base = stream_world(sta, tag)
    stream = f"Datastreams({base['Datastreams']})/Observations"
    first = sta.create(stream, observation(10, 1))
    made = sta.get(f"Observations({first})/FeatureOfInterest")
    assert made["feature"] == location(tag)["location"], made
    assert made["encodingType"] in (GEOJSON, "application/vnd.geo+json"), made
    second = sta.create(stream, observation(11, 2))
    assert sta.get(f"Observations({second})/FeatureOfInterest")["feature"] == made["feature"]
    moved = location(tag + "m", 72.0, 52.0)
    new_place = sta.create("Locations", moved)
    sta.request("PATCH", f"Things({base['Things']})", {"Locations": [ref(new_place)]}, status=200)
    third = sta.create(stream, observation(12, 3))
    assert sta.get(f"Observations({third})/FeatureOfInterest")["feature"] == moved["location"]


def test_historical_locations_follow_the_things_locations(sta: Sta) -> None:
    """req/create-update-delete/historical-location-auto-creation."""
    tag = fresh()
    start = datetime.now(UTC) - timedelta(seconds=5)
    thing_id = sta.create("Things", thing(tag, Locations=[location(tag)]))
    first_place = sta.ids(f"Things({thing_id})/Locations")[0]
    (first,) = sta.collect(f"Things({thing_id})/HistoricalLocations")
    assert time_start(first["time"]) >= start
    assert sta.ids(f"HistoricalLocations({first['@iot.id']})/Locations") == [first_place]
    second_place = sta.create("Locations", location(tag + "2", 70.0, 50.0))
    sta.request("PATCH", f"Things({thing_id})", {"Locations": [ref(second_place)]}, status=200)
    assert sta.ids(f"Things({thing_id})/Locations") == [second_place]
    history = sta.collect(f"Things({thing_id})/HistoricalLocations?$orderby=time desc")
    assert len(history) == 2, history
    assert time_start(history[0]["time"]) >= time_start(history[1]["time"])
    assert sta.ids(f"HistoricalLocations({history[0]['@iot.id']})/Locations") == [second_place]
    third_place = sta.create(f"Things({thing_id})/Locations", location(tag + "3", 69.0, 49.0))
    assert third_place in sta.ids(f"Things({thing_id})/Locations")
    latest = sta.collect(f"Things({thing_id})/HistoricalLocations?$orderby=time desc&$top=1")
    assert third_place in sta.ids(f"HistoricalLocations({latest[0]['@iot.id']})/Locations")
    assert sta.count(f"Things({thing_id})/HistoricalLocations") == 3


def test_a_location_created_for_a_thing_makes_a_historical_location(sta: Sta) -> None:
    tag = fresh()
    thing_id = sta.create("Things", thing(tag))
    assert sta.count(f"Things({thing_id})/HistoricalLocations") == 0
    place = sta.create("Locations", {**location(tag), "Things": [ref(thing_id)]})
    (history,) = sta.collect(f"Things({thing_id})/HistoricalLocations")
    assert sta.ids(f"HistoricalLocations({history['@iot.id']})/Locations") == [place]


def test_a_newer_historical_location_moves_the_thing(sta: Sta) -> None:
    """18-088 §8.2.3: posting a HistoricalLocation newer than the Thing's latest one makes its
    Locations the Thing's current ones; an older one changes nothing."""
    tag = fresh()
    base = stream_world(sta, tag)
    elsewhere = sta.create("Locations", location(tag + "e", 60.0, 45.0))
    older = {"time": "2001-01-01T00:00:00Z", "Thing": ref(base["Things"])}
    sta.create("HistoricalLocations", {**older, "Locations": [ref(elsewhere)]})
    assert sta.ids(f"Things({base['Things']})/Locations") == [base["Locations"]]
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sta.create(
        "HistoricalLocations",
        {"time": future, "Thing": ref(base["Things"]), "Locations": [ref(elsewhere)]},
    )
    assert sta.ids(f"Things({base['Things']})/Locations") == [elsewhere]
