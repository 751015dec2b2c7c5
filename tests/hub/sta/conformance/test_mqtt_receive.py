"""Conformance: receiving updates over MQTT (FROST-Server c08 Capability8Tests).

Requirement class (18-088 Annex A.8, ``sta.md`` §1.8):
``http://www.opengis.net/spec/iot_sensing/1.1/req/receive-updates-via-mqtt/receive-updates``.

A live hub connected to a private Mosquitto; subscribers are anonymous MQTT clients (QoS 1).
18-088 §14.2 topics: an entity set (``v1.1/Things``) or a navigation collection
(``v1.1/Datastreams(n)/Observations``) delivers every created entity as ``GET`` shows it; an
entity (``v1.1/Things(n)``) its new state after each update; a property
(``v1.1/Things(n)/description``) ``{"description": ...}`` when that property changes; an entity
set with ``?$select=`` only the selected properties. Entities created implicitly -- by deep
insert, as an automatic FeatureOfInterest or HistoricalLocation -- are announced too.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.hub.sta.conformance.bodies import (
    creatable,
    datastream,
    fresh,
    location,
    observation,
    observed_property,
    ref,
    sensor,
    stream_world,
    thing,
)
from tests.hub.sta.conformance.client import Sta
from tests.hub.sta.conformance.listen import payloads, wait_for, with_id
from tests.hub.sta.conformance.spec import REQ, SETS, missing_requirements
from tests.hub.sta.mqtt.conftest import ClientFactory

RECEIVE = "receive-updates-via-mqtt/receive-updates"


@pytest.fixture(scope="module")
def world(mqtt_sta: Sta) -> dict[str, int]:
    return mqtt_sta.keep("world", lambda: stream_world(mqtt_sta, fresh()))


def test_service_root_advertises_mqtt_updates(mqtt_sta: Sta) -> None:
    settings = mqtt_sta.get("")["serverSettings"]
    assert missing_requirements(settings["conformance"], [RECEIVE]) == [], settings
    member = settings.get(REQ + RECEIVE)
    assert isinstance(member, dict) and member.get("endpoints"), settings


@pytest.mark.parametrize("set_name", SETS)
def test_an_entity_set_topic_delivers_each_created_entity(
    mqtt_sta: Sta, mqtt_client: ClientFactory, set_name: str
) -> None:
    """FROST checkSubscribeToEntitySetInsert: the message is the entity as GET shows it."""
    listener = mqtt_client()
    topic = f"v1.1/{set_name}"
    listener.subscribe(topic)
    body = creatable(mqtt_sta, fresh())[set_name]
    entity_id = mqtt_sta.create(set_name, body)
    message = wait_for(listener, topic, with_id(entity_id))
    assert message == mqtt_sta.get(f"{set_name}({entity_id})")


def test_navigation_collection_topics(
    mqtt_sta: Sta, world: dict[str, int], mqtt_client: ClientFactory
) -> None:
    """``v1.1/Datastreams(n)/Observations`` delivers that Datastream's new Observations and no
    other; ``v1.1/FeaturesOfInterest(n)/Observations`` and ``v1.1/Things(n)/Datastreams`` too."""
    listener = mqtt_client()
    mine = f"v1.1/Datastreams({world['Datastreams']})/Observations"
    by_feature = f"v1.1/FeaturesOfInterest({world['FeaturesOfInterest']})/Observations"
    by_thing = f"v1.1/Things({world['Things']})/Datastreams"
    listener.subscribe(mine, by_feature, by_thing)
    other = stream_world(mqtt_sta, fresh())
    elsewhere = mqtt_sta.create(
        f"Datastreams({other['Datastreams']})/Observations",
        observation(30, 30, FeatureOfInterest=ref(other["FeaturesOfInterest"])),
    )
    here = mqtt_sta.create(
        f"Datastreams({world['Datastreams']})/Observations",
        observation(31, 31, FeatureOfInterest=ref(world["FeaturesOfInterest"])),
    )
    assert wait_for(listener, mine, with_id(here))["result"] == 31
    assert wait_for(listener, by_feature, with_id(here))["result"] == 31
    assert all(p["@iot.id"] != elsewhere for p in payloads(listener, mine))
    stream = mqtt_sta.create(
        f"Things({world['Things']})/Datastreams",
        datastream(
            fresh(),
            Sensor=ref(world["Sensors"]),
            ObservedProperty=ref(world["ObservedProperties"]),
        ),
    )
    assert wait_for(listener, by_thing, with_id(stream))["@iot.id"] == stream


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_an_entity_topic_delivers_updates(
    mqtt_sta: Sta, mqtt_client: ClientFactory, method: str
) -> None:
    """FROST checkSubscribeToEntityUpdate and checkSubscribeToEntitySetUpdate (PATCH and PUT):
    the entity's topic and its entity set's topic deliver its new state."""
    thing_id = mqtt_sta.create("Things", thing(fresh()))
    listener = mqtt_client()
    topic = f"v1.1/Things({thing_id})"
    listener.subscribe(topic, "v1.1/Things")
    change: dict[str, Any] = {"description": f"changed by {method}"}
    if method == "PUT":
        change["name"] = f"{fresh()} put"
    mqtt_sta.request(method, f"Things({thing_id})", change, status=200)
    message = wait_for(listener, topic, lambda p: p.get("description") == change["description"])
    assert message == mqtt_sta.get(f"Things({thing_id})")
    in_set = wait_for(
        listener,
        "v1.1/Things",
        lambda p: p.get("@iot.id") == thing_id and p.get("description") == change["description"],
    )
    assert in_set == message


def test_a_property_topic_delivers_changes_of_that_property(
    mqtt_sta: Sta, mqtt_client: ClientFactory
) -> None:
    """FROST checkSubscribeToEntityUpdatePropertyTopic: ``{"description": ...}`` when the
    description changes, nothing when only another property does."""
    thing_id = mqtt_sta.create("Things", thing(fresh()))
    listener = mqtt_client()
    topic = f"v1.1/Things({thing_id})/description"
    listener.subscribe(topic)
    mqtt_sta.request("PATCH", f"Things({thing_id})", {"name": f"{fresh()} renamed"}, status=200)
    mqtt_sta.request("PATCH", f"Things({thing_id})", {"description": "new words"}, status=200)
    message = wait_for(listener, topic, lambda p: True)
    assert message == {"description": "new words"}
    assert payloads(listener, topic) == [{"description": "new words"}]


def test_a_select_topic_delivers_the_selected_properties(
    mqtt_sta: Sta, mqtt_client: ClientFactory
) -> None:
    """FROST checkSubscribeToEntitySetsWithSelect. The hub learns such topics from the broker
    after the SUBACK, so creates are repeated until the first message arrives."""
    listener = mqtt_client()
    topic = "v1.1/Things?$select=name,description"
    listener.subscribe(topic)
    made: list[int] = []
    for _ in range(10):
        made.append(mqtt_sta.create("Things", thing(fresh())))
        if listener.received.wait(lambda: bool(listener.received.on(topic)), 1.0):
            break
    messages = payloads(listener, topic)
    assert messages, f"nothing on {topic!r}"
    for message in messages:
        assert {k for k in message if not k.startswith("@iot.")} == {"name", "description"}
    names = {mqtt_sta.get(f"Things({t})")["name"] for t in made}
    assert {m["name"] for m in messages} <= names


def test_entities_of_a_deep_insert_are_announced(mqtt_sta: Sta, mqtt_client: ClientFactory) -> None:
    """FROST checkSubscribeToEntitySetsWithDeepInsert: every entity the insert created."""
    listener = mqtt_client()
    topics = [f"v1.1/{s}" for s in ("Things", "Locations", "Datastreams", "Sensors")]
    topics += ["v1.1/ObservedProperties", "v1.1/HistoricalLocations"]
    listener.subscribe(*topics)
    tag = fresh()
    thing_id = mqtt_sta.create(
        "Things",
        thing(
            tag,
            Locations=[location(tag)],
            Datastreams=[
                datastream(tag, Sensor=sensor(tag), ObservedProperty=observed_property(tag))
            ],
        ),
    )
    wait_for(listener, "v1.1/Things", with_id(thing_id))
    (stream,) = mqtt_sta.ids(f"Things({thing_id})/Datastreams")
    (place,) = mqtt_sta.ids(f"Things({thing_id})/Locations")
    (history,) = mqtt_sta.ids(f"Things({thing_id})/HistoricalLocations")
    wait_for(listener, "v1.1/Datastreams", with_id(stream))
    wait_for(listener, "v1.1/Locations", with_id(place))
    wait_for(listener, "v1.1/HistoricalLocations", with_id(history))
    wait_for(
        listener, "v1.1/Sensors", with_id(mqtt_sta.get(f"Datastreams({stream})/Sensor")["@iot.id"])
    )
    op = mqtt_sta.get(f"Datastreams({stream})/ObservedProperty")["@iot.id"]
    wait_for(listener, "v1.1/ObservedProperties", with_id(op))


def test_automatic_entities_are_announced(mqtt_sta: Sta, mqtt_client: ClientFactory) -> None:
    """FROST checkSubscribeToEntitySetInsert with an automatic FeatureOfInterest, and
    checkSubscribeToHistoricalLocationsAfterThingLocationChange."""
    world = stream_world(mqtt_sta, fresh())
    listener = mqtt_client()
    listener.subscribe("v1.1/FeaturesOfInterest", "v1.1/HistoricalLocations")
    made = mqtt_sta.create(f"Datastreams({world['Datastreams']})/Observations", observation(40, 40))
    foi = mqtt_sta.get(f"Observations({made})/FeatureOfInterest")["@iot.id"]
    if foi != world["FeaturesOfInterest"]:
        wait_for(listener, "v1.1/FeaturesOfInterest", with_id(foi))
    place = mqtt_sta.create("Locations", location(fresh(), 65.0, 45.0))
    mqtt_sta.request("PATCH", f"Things({world['Things']})", {"Locations": [ref(place)]}, status=200)
    history = mqtt_sta.ids(
        f"Things({world['Things']})/HistoricalLocations?$orderby=time desc&$top=1"
    )
    wait_for(listener, "v1.1/HistoricalLocations", with_id(history[0]))


def test_observations_of_every_channel_reach_subscribers(
    mqtt_sta: Sta, world: dict[str, int], mqtt_client: ClientFactory
) -> None:
    """Observations created by CreateObservations and by $batch are announced like any."""
    listener = mqtt_client()
    topic = f"v1.1/Datastreams({world['Datastreams']})/Observations"
    listener.subscribe(topic)
    urls = mqtt_sta.request(
        "POST",
        "CreateObservations",
        [
            {
                "Datastream": ref(world["Datastreams"]),
                "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
                "dataArray": [["2021-05-01T00:00:00Z", 51, world["FeaturesOfInterest"]]],
            }
        ],
        status=201,
    ).json()
    created = int(urls[0][urls[0].rindex("(") + 1 : -1])
    assert wait_for(listener, topic, with_id(created))["result"] == 51
    responses = mqtt_sta.request(
        "POST",
        "$batch",
        {
            "requests": [
                {
                    "id": "o",
                    "method": "post",
                    "url": f"Datastreams({world['Datastreams']})/Observations",
                    "body": observation(52, 52, FeatureOfInterest=ref(world["FeaturesOfInterest"])),
                }
            ]
        },
        status=200,
    ).json()["responses"]
    assert responses[0]["status"] == 201, responses
    wait_for(listener, topic, lambda p: isinstance(p, dict) and p.get("result") == 52)
