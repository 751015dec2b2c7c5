"""Conformance: creating Observations over MQTT (FROST-Server c07 Capability7Tests).

Requirement class (18-088 Annex A.7, ``sta.md`` §1.8):
``http://www.opengis.net/spec/iot_sensing/1.1/req/create-observations-via-mqtt/observations-creation``.

A live hub connected to a private Mosquitto (the session broker of
``tests/hub/sta/mqtt/conftest.py``, whose ``alice`` may create and ``rita`` may only read). An
Observation published (QoS 1) to ``v1.1/Observations``, ``v1.1/Datastreams(n)/Observations`` or
``v1.1/FeaturesOfInterest(n)/Observations`` is created with the same rules as an HTTP POST:
linked to the Datastream or FeatureOfInterest of its topic, with a deep-inserted or automatic
FeatureOfInterest; an invalid one creates nothing; a client without the create role cannot
create; the stored Observation reaches subscribers. The service root advertises the broker.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from tests.hub.sta.conformance.bodies import feature, fresh, ref, stream_world
from tests.hub.sta.conformance.client import Sta, wait_until
from tests.hub.sta.conformance.listen import WAIT_S, wait_for
from tests.hub.sta.conformance.spec import REQ, missing_requirements
from tests.hub.sta.mqtt.conftest import ClientFactory

CREATE = "create-observations-via-mqtt/observations-creation"
NOT_AUTHORISED = 135  # MQTT v5 PUBACK reason code
ACCEPTED = (0, 16)  # success, or "no matching subscribers"
_DAYS = itertools.count(1)


@pytest.fixture(scope="module")
def world(mqtt_sta: Sta) -> dict[str, int]:
    return mqtt_sta.keep("world", lambda: stream_world(mqtt_sta, fresh()))


def observation(result: Any, **links: Any) -> dict[str, Any]:
    """An Observation at a time no other test of this module uses (one per stream and time)."""
    day = next(_DAYS)
    return {"phenomenonTime": f"2020-01-{day:02d}T00:00:00Z", "result": result, **links}


def created(sta: Sta, path: str, result: Any) -> list[dict[str, Any]]:
    """Wait until an Observation with ``result`` appears at ``path``; what appeared."""
    found: list[dict[str, Any]] = []

    def check() -> bool:
        found[:] = [o for o in sta.collect(path) if o["result"] == result]
        return bool(found)

    wait_until(check, WAIT_S, interval=0.1)
    return found


def test_service_root_advertises_mqtt_creation(mqtt_sta: Sta) -> None:
    """The class, and under its URI (as FROST-Server does) the broker's endpoints."""
    settings = mqtt_sta.get("")["serverSettings"]
    assert missing_requirements(settings["conformance"], [CREATE]) == [], settings
    member = settings.get(REQ + CREATE)
    assert isinstance(member, dict), settings
    endpoints = member.get("endpoints")
    assert isinstance(endpoints, list) and endpoints, member
    assert all(e.startswith(("mqtt://", "mqtts://", "ws://", "wss://")) for e in endpoints)


def test_create_through_a_datastreams_topic(
    mqtt_sta: Sta, world: dict[str, int], mqtt_client: ClientFactory
) -> None:
    """FROST checkCreateObservationDirect / via Datastream."""
    alice = mqtt_client("alice")
    body = observation(4101, FeatureOfInterest=ref(world["FeaturesOfInterest"]))
    topic = f"v1.1/Datastreams({world['Datastreams']})/Observations"
    assert alice.publish(topic, json.dumps(body).encode()) in ACCEPTED
    (made,) = created(mqtt_sta, f"Datastreams({world['Datastreams']})/Observations", 4101)
    served = mqtt_sta.get(f"Observations({made['@iot.id']})/FeatureOfInterest")
    assert served["@iot.id"] == world["FeaturesOfInterest"]
    assert made["phenomenonTime"].startswith(body["phenomenonTime"][:10])


def test_create_through_the_observations_topic(
    mqtt_sta: Sta, world: dict[str, int], mqtt_client: ClientFactory
) -> None:
    alice = mqtt_client("alice")
    body = observation(
        4102,
        Datastream=ref(world["Datastreams"]),
        FeatureOfInterest=ref(world["FeaturesOfInterest"]),
    )
    assert alice.publish("v1.1/Observations", json.dumps(body).encode()) in ACCEPTED
    assert created(mqtt_sta, f"Datastreams({world['Datastreams']})/Observations", 4102)


def test_create_through_a_features_topic(
    mqtt_sta: Sta, world: dict[str, int], mqtt_client: ClientFactory
) -> None:
    """FROST checkCreateObservationViaFoi: the topic's FeatureOfInterest is linked."""
    alice = mqtt_client("alice")
    body = observation(4103, Datastream=ref(world["Datastreams"]))
    topic = f"v1.1/FeaturesOfInterest({world['FeaturesOfInterest']})/Observations"
    assert alice.publish(topic, json.dumps(body).encode()) in ACCEPTED
    assert created(
        mqtt_sta, f"FeaturesOfInterest({world['FeaturesOfInterest']})/Observations", 4103
    )


def test_create_with_deep_insert_and_automatic_feature(
    mqtt_sta: Sta, world: dict[str, int], mqtt_client: ClientFactory
) -> None:
    """FROST checkCreateObservationDeepInsert; and a FeatureOfInterest made from the Thing's
    Location when the Observation names none."""
    alice = mqtt_client("alice")
    tag = fresh()
    topic = f"v1.1/Datastreams({world['Datastreams']})/Observations"
    body = observation(4104, FeatureOfInterest=feature(tag, 70.5, 50.5))
    assert alice.publish(topic, json.dumps(body).encode()) in ACCEPTED
    path = f"Datastreams({world['Datastreams']})/Observations"
    (made,) = created(mqtt_sta, path, 4104)
    new_feature = mqtt_sta.get(f"Observations({made['@iot.id']})/FeatureOfInterest")
    assert new_feature["name"] == f"{tag} foi"
    assert alice.publish(topic, json.dumps(observation(4105)).encode()) in ACCEPTED
    (auto,) = created(mqtt_sta, path, 4105)
    made_feature = mqtt_sta.get(f"Observations({auto['@iot.id']})/FeatureOfInterest")
    place = mqtt_sta.get(f"Locations({world['Locations']})")
    assert made_feature["feature"] == place["location"]


def test_an_invalid_observation_creates_nothing(
    mqtt_sta: Sta, world: dict[str, int], mqtt_client: ClientFactory
) -> None:
    """The same validation as HTTP: no result, a missing Datastream, a body that is not an
    Observation. A valid one published afterwards is created (creates run in order), so by
    then the invalid ones had their chance."""
    alice = mqtt_client("alice")
    stream = world["Datastreams"]
    topic = f"v1.1/Datastreams({stream})/Observations"
    invalid: list[bytes] = [
        json.dumps({"phenomenonTime": "2021-01-01T00:00:00Z"}).encode(),
        json.dumps(observation(4106, Datastream=ref(987654321))).encode(),
        b"not json at all",
        json.dumps([observation(4107)]).encode(),
    ]
    assert alice.publish(topic, invalid[0]) in ACCEPTED
    alice.publish("v1.1/Observations", invalid[1])
    for payload in invalid[2:]:
        alice.publish(topic, payload)
    before = mqtt_sta.count(f"Datastreams({stream})/Observations")
    assert alice.publish(topic, json.dumps(observation(4108)).encode()) in ACCEPTED
    assert created(mqtt_sta, f"Datastreams({stream})/Observations", 4108)
    assert mqtt_sta.count(f"Datastreams({stream})/Observations") == before + 1
    assert mqtt_sta.count("Observations?$filter=result eq 4106 or result eq 4107") == 0


@pytest.mark.parametrize("user", [None, "rita"], ids=["anonymous", "read role"])
def test_a_client_without_the_create_role_cannot_create(
    mqtt_sta: Sta, world: dict[str, int], mqtt_client: ClientFactory, user: str | None
) -> None:
    """The same authorisation as HTTP: the broker refuses the publish (PUBACK 135 to an
    MQTT v5 client) and nothing is created."""
    client = mqtt_client(user)
    result = 4200 + (0 if user is None else 1)
    topic = f"v1.1/Datastreams({world['Datastreams']})/Observations"
    assert client.publish(topic, json.dumps(observation(result)).encode()) == NOT_AUTHORISED
    alice = mqtt_client("alice")
    assert alice.publish(topic, json.dumps(observation(result + 10)).encode()) in ACCEPTED
    assert created(mqtt_sta, f"Datastreams({world['Datastreams']})/Observations", result + 10)
    assert mqtt_sta.count(f"Observations?$filter=result eq {result}") == 0


def test_a_created_observation_reaches_subscribers(
    mqtt_sta: Sta, world: dict[str, int], mqtt_client: ClientFactory
) -> None:
    """What the hub stored (with ``@iot.id``), not only the publish, reaches subscribers."""
    listener = mqtt_client()
    listener.subscribe("v1.1/Observations")
    alice = mqtt_client("alice")
    topic = f"v1.1/Datastreams({world['Datastreams']})/Observations"
    assert alice.publish(topic, json.dumps(observation(4109)).encode()) in ACCEPTED
    message = wait_for(
        listener, "v1.1/Observations", lambda p: isinstance(p, dict) and p.get("result") == 4109
    )
    assert message == mqtt_sta.get(f"Observations({message['@iot.id']})")
