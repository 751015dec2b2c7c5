"""Conformance: the sensing core -- data model and resource paths (ets-sta10 Capability1Tests).

Requirement classes (18-088 Annex A.1, ``sta.md`` §1.1-1.3):

* ``http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel`` (thing, location,
  historical-location, datastream, sensor, observed-property, observation,
  feature-of-interest, entity-control-information)
* ``http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities``

Black box, over HTTP, on both stores: the service root lists every entity set at exactly
``root + "/<Set>"``; every entity of every set carries its mandatory properties, a numeric
``@iot.id``, an absolute ``@iot.selfLink`` and one absolute navigationLink per relation;
entities, properties, raw values, navigation paths (one and several hops) and ``$ref`` links
answer as 18-088 §9.2 describes, and what does not exist is a 404.
"""

from __future__ import annotations

import json

import pytest

from tests.hub.sta.conformance.client import MISSING_ID, Sta
from tests.hub.sta.conformance.seed import (
    POINTS,
    World,
    build_world,
    phenomenon_time,
    result_time,
)
from tests.hub.sta.conformance.spec import (
    MANDATORY,
    RELATIONS,
    SETS,
    TO_ONE,
    check_control_information,
    check_mandatory,
    missing_requirements,
    parse_time,
    target_set,
)

DATAMODEL = [
    f"datamodel/{entity}/{aspect}"
    for entity in (
        "thing",
        "location",
        "historical-location",
        "datastream",
        "sensor",
        "observed-property",
        "observation",
        "feature-of-interest",
    )
    for aspect in ("properties", "relations")
] + ["datamodel/entity-control-information/common-control-information"]
RESOURCE_PATH = ["resource-path/resource-path-to-entities"]
NAVIGATIONS = [(s, n) for s in SETS for n in RELATIONS[s]]
PROPERTIES = [(s, p) for s in SETS for p in MANDATORY[s]]


@pytest.fixture(scope="module")
def world(sta: Sta) -> World:
    return sta.keep("world", lambda: build_world(sta, "cnfcore"))


def test_service_root_lists_every_entity_set_at_root_slash_name(sta: Sta) -> None:
    response = sta.request("GET", "", status=200, anonymous=True)
    body = response.json()
    assert isinstance(body.get("value"), list), body
    for entry in body["value"]:
        assert set(entry) >= {"name", "url"}, entry
    urls = {entry["name"]: entry["url"] for entry in body["value"]}
    for set_name in SETS:
        # ets-sta10 checkServiceRootUri compares each url to root + "/<Set>" exactly.
        assert urls.get(set_name) == f"{sta.root}/{set_name}", (set_name, body["value"])
    names = [entry["name"] for entry in body["value"]]
    assert len(names) == len(set(names)), names


def test_service_root_urls_answer(sta: Sta) -> None:
    for entry in sta.get("")["value"]:
        assert isinstance(sta.get(entry["url"])["value"], list), entry


def test_service_root_has_a_conformance_list(sta: Sta) -> None:
    settings = sta.get("").get("serverSettings")
    assert isinstance(settings, dict), settings
    conformance = settings.get("conformance")
    assert isinstance(conformance, list), settings
    assert all(isinstance(item, str) and item.startswith("http") for item in conformance)


def test_service_root_advertises_the_core_classes(sta: Sta) -> None:
    conformance = sta.get("")["serverSettings"]["conformance"]
    assert missing_requirements(conformance, DATAMODEL + RESOURCE_PATH) == [], conformance


@pytest.mark.parametrize("set_name", SETS)
def test_every_entity_of_a_set_is_complete(sta: Sta, world: World, set_name: str) -> None:
    """ets-sta10 readEntitiesAndCheckResponse, over the whole set (pilot stations included)."""
    entities = sta.collect(set_name)
    assert set(world.ids_of(set_name)) <= {e["@iot.id"] for e in entities}
    for entity in entities:
        check_mandatory(set_name, entity)
        check_control_information(sta.root, set_name, entity)


@pytest.mark.parametrize("set_name", SETS)
def test_entity_by_id(sta: Sta, world: World, set_name: str) -> None:
    """ets-sta10 readEntityAndCheckResponse."""
    for entity_id in world.ids_of(set_name):
        entity = sta.get(f"{set_name}({entity_id})")
        assert entity["@iot.id"] == entity_id
        check_mandatory(set_name, entity)
        check_control_information(sta.root, set_name, entity)


@pytest.mark.parametrize("set_name", SETS)
def test_a_missing_entity_is_404(sta: Sta, world: World, set_name: str) -> None:
    """ets-sta10 readNonexistentEntity, and every path below a missing entity."""
    sta.request("GET", f"{set_name}({MISSING_ID})", status=404)
    sta.request("GET", f"{set_name}({MISSING_ID})/{MANDATORY[set_name][0]}", status=404)
    for navigation in RELATIONS[set_name]:
        sta.request("GET", f"{set_name}({MISSING_ID})/{navigation}", status=404)


@pytest.mark.parametrize(("set_name", "name"), PROPERTIES)
def test_property_and_its_raw_value(sta: Sta, world: World, set_name: str, name: str) -> None:
    """ets-sta10 readPropertyOfEntityAndCheckResponse: ``/Set(id)/prop`` is ``{prop: value}``,
    ``/Set(id)/prop/$value`` the bare value."""
    entity_id = world.ids_of(set_name)[0]
    entity = sta.get(f"{set_name}({entity_id})")
    assert sta.get(f"{set_name}({entity_id})/{name}") == {name: entity[name]}
    raw = sta.request("GET", f"{set_name}({entity_id})/{name}/$value", status=200).text
    if isinstance(entity[name], str):
        assert raw == entity[name]
    else:
        assert json.loads(raw) == entity[name]


@pytest.mark.parametrize(("set_name", "navigation"), NAVIGATIONS)
def test_navigation_property(sta: Sta, world: World, set_name: str, navigation: str) -> None:
    """ets-sta10 checkResourcePaths: ``/Set(id)/Nav`` leads exactly to the related entities."""
    related_set = target_set(navigation)
    for entity_id in world.ids_of(set_name):
        expected = world.links[(set_name, entity_id, navigation)]
        body = sta.get(f"{set_name}({entity_id})/{navigation}")
        if navigation in TO_ONE:
            assert body["@iot.id"] == expected[0], (set_name, entity_id, navigation, body)
            related = [body]
        else:
            related = body["value"]
            found = sorted(e["@iot.id"] for e in related)
            assert found == sorted(expected), (set_name, entity_id, navigation, found)
        for entity in related:
            check_mandatory(related_set, entity)
            check_control_information(sta.root, related_set, entity)


def test_nested_resource_paths(sta: Sta, world: World) -> None:
    """Paths of several hops (18-088 §9.2.2 usage 8), ending in a collection, an entity, a
    property or a raw value."""
    ds1, t1 = world.datastreams[0], world.things[0]
    assert sta.ids(f"Datastreams({ds1})/Sensor/Datastreams") == [ds1]
    assert sta.ids(f"Observations({world.observations[0]})/Datastream/Thing/Locations") == [
        world.locations[1]
    ]
    assert sorted(
        sta.ids(f"HistoricalLocations({world.historical_locations[0]})/Thing/Datastreams")
    ) == [
        world.datastreams[0],
        world.datastreams[1],
    ]
    assert sorted(sta.ids(f"FeaturesOfInterest({world.features[1]})/Observations")) == sorted(
        world.observations[6:]
    )
    thing = sta.get(f"Datastreams({ds1})/Thing")
    assert thing["@iot.id"] == t1
    assert sta.get(f"Datastreams({ds1})/Thing/name") == {"name": thing["name"]}
    raw = sta.request("GET", f"Datastreams({ds1})/Thing/name/$value", status=200)
    assert raw.text == thing["name"]
    assert (
        sta.get(f"Observations({world.observations[4]})/Datastream/ObservedProperty")["@iot.id"]
        == world.observed_properties[1]
    )


def test_datastream_extents_summarise_its_observations(sta: Sta, world: World) -> None:
    """18-088 §8.2.4: a Datastream's phenomenonTime and resultTime (optional, made by the
    server) span its Observations'; its observedArea, when served, covers their features."""
    stream = sta.get(f"Datastreams({world.datastreams[1]})")
    for name, first, last in (
        ("phenomenonTime", phenomenon_time(4), phenomenon_time(6)),
        ("resultTime", result_time(4), result_time(6)),
    ):
        assert name in stream, (name, stream)
        start, _, end = stream[name].partition("/")
        assert (parse_time(start), parse_time(end)) == (parse_time(first), parse_time(last))
    if "observedArea" in stream:
        area = stream["observedArea"]
        assert area["type"] == "Point" and area["coordinates"] == list(POINTS[1]), stream


def test_association_links(sta: Sta, world: World) -> None:
    """``$ref`` (18-088 §9.2.2 usage 7) answers only the related entities' selfLinks."""
    ds1 = world.datastreams[0]
    body = sta.get(f"Datastreams({ds1})/Observations/$ref")
    expected = {f"{sta.root}/Observations({o})" for o in world.observations[:3]}
    assert all(set(item) == {"@iot.selfLink"} for item in body["value"]), body
    assert {item["@iot.selfLink"] for item in body["value"]} == expected
    single = sta.get(f"Datastreams({ds1})/Thing/$ref")
    assert single == {"@iot.selfLink": f"{sta.root}/Things({world.things[0]})"}
    every = sta.collect(f"Things/$ref?$filter={world.scope('Things')}")
    assert sorted(item["@iot.selfLink"] for item in every) == sorted(
        f"{sta.root}/Things({t})" for t in world.things
    )


def test_an_empty_navigation_collection_is_an_empty_value(sta: Sta, world: World) -> None:
    others = sta.ids(f"Things?$filter=not {world.scope('Things')}&$top=1")
    assert others, "the pilot Things are missing"
    body = sta.get(f"Things({others[0]})/Datastreams")
    assert body["value"] == []


def test_what_does_not_exist_is_404(sta: Sta, world: World) -> None:
    sta.request("GET", "NoSuchEntities", status=404)
    sta.request("GET", f"Things({world.things[0]})/NoSuchThing", status=404)
