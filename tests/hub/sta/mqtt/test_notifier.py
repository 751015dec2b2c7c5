"""Notifications: what subscribers of each kind of topic receive after ``notify`` (both stores).

Payloads are compared with :func:`hub.sta.serialize.entity_json` over the row
:func:`hub.sta.query.fetch_entity` loads -- i.e. with what ``GET /v1.1/...`` answers.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.sta.entities import entity_by_set
from hub.sta.mqtt import Change, MqttMetrics, MqttNotifier
from hub.sta.observed_area import observed_areas
from hub.sta.paths import parse_resource_path
from hub.sta.query import fetch_entity
from hub.sta.serialize import Extras, entity_json
from hub.store.queries import datastream_extent
from tests.hub.sta.mqtt.conftest import ROOT, Client, ClientFactory, Hub, World


def expected(world: World, entity_set: str, entity_id: int, *select: str) -> dict[str, Any]:
    with world.store.engine.connect() as conn:
        row = fetch_entity(conn, parse_resource_path(f"{entity_set}({entity_id})"))
        assert row is not None
        extras = Extras(
            lambda ds: datastream_extent(conn, ds),
            observed_areas=lambda ids, multi: observed_areas(conn, ids, multi=multi),
        )
        return entity_json(entity_by_set(entity_set), row._mapping, ROOT, select, extras)


def learned(started: Hub, count: int) -> None:
    """Wait until the hub learned ``count`` topics from the broker's subscribe log."""
    deadline = time.monotonic() + 5
    while len(started.service.learned) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(started.service.learned) == count


def payloads(client: Client, topic: str, count: int = 1) -> list[Any]:
    return [json.loads(p) for p in client.received.wait_on(topic, count)]


def test_created_observation_reaches_set_navigation_and_select_topics(
    world: World, hub: Callable[..., Hub], mqtt_client: ClientFactory
) -> None:
    started = hub(world.store)
    ds, foi, first = world.ids["D"], world.ids["F"], world.observations[0]
    select = f"v1.1/Datastreams({ds})/Observations?$select=result,phenomenonTime"
    subscriber = mqtt_client()
    subscriber.subscribe(
        "v1.1/Observations",
        f"v1.1/Datastreams({ds})/Observations",
        f"v1.1/FeaturesOfInterest({foi})/Observations",
        f"v1.1/Datastreams({world.ids['Dph']})/Observations",  # another datastream
        f"v1.1/Observations({first})",
        f"v1.1/Observations({first})/result",
        select,
    )
    learned(started, 1)
    assert started.service.notifier.notify("Observations", world.observations[:2], "create")
    assert started.service.notifier.flush()

    whole = [expected(world, "Observations", i) for i in world.observations[:2]]
    assert payloads(subscriber, "v1.1/Observations", 2) == whole
    assert payloads(subscriber, f"v1.1/Datastreams({ds})/Observations", 2) == whole
    assert payloads(subscriber, f"v1.1/FeaturesOfInterest({foi})/Observations", 2) == whole
    assert payloads(subscriber, select, 2) == [
        expected(world, "Observations", i, "result", "phenomenonTime")
        for i in world.observations[:2]
    ]
    assert payloads(subscriber, select, 2)[0] == {
        "phenomenonTime": "2025-01-14T19:00:00Z",
        "result": 10.0,
    }
    # A create is not an update of an entity anybody could have watched: no entity topics.
    topics = {topic for topic, _ in subscriber.received.messages}
    assert f"v1.1/Observations({first})" not in topics
    assert f"v1.1/Datastreams({world.ids['Dph']})/Observations" not in topics
    assert started.metrics.registry.get_sample_value("auasu_mqtt_notified_entities_total") == 2


def test_update_reaches_entity_and_changed_property_topics(
    world: World, hub: Callable[..., Hub], mqtt_client: ClientFactory
) -> None:
    started = hub(world.store)
    first = world.observations[0]
    subscriber = mqtt_client()
    subscriber.subscribe(
        "v1.1/Observations",
        f"v1.1/Observations({first})",
        f"v1.1/Observations({first})/result",
        f"v1.1/Observations({first})/resultTime",
        f"v1.1/Observations({first})?$select=id,result",
    )
    learned(started, 1)
    started.service.notifier.notify("Observations", [first], "update", changed=["result"])
    whole = expected(world, "Observations", first)
    assert payloads(subscriber, f"v1.1/Observations({first})") == [whole]
    assert payloads(subscriber, f"v1.1/Observations({first})/result") == [{"result": 10.0}]
    assert payloads(subscriber, f"v1.1/Observations({first})?$select=id,result") == [
        {"@iot.id": first, "@iot.selfLink": f"{ROOT}/Observations({first})", "result": 10.0}
    ]
    assert payloads(subscriber, "v1.1/Observations") == [whole]
    started.service.notifier.flush()
    # resultTime did not change: its topic stays quiet.
    assert subscriber.received.on(f"v1.1/Observations({first})/resultTime") == []


def test_other_entity_types_and_learned_long_paths(
    world: World, hub: Callable[..., Hub], mqtt_client: ClientFactory
) -> None:
    started = hub(world.store)
    ids = world.ids
    first = world.observations[0]
    subscriber = mqtt_client()
    deep = [
        f"v1.1/Observations({first})/Datastream",
        f"v1.1/Observations({first})/Datastream/name",
        f"v1.1/Locations({ids['L']})/Things(9999)/Datastreams",  # another thing: nothing
        f"v1.1/Sensors({ids['S']})/Datastreams?$select=name",
    ]
    subscriber.subscribe(
        f"v1.1/Things({ids['T']})/Datastreams",
        f"v1.1/Sensors({ids['S']})/Datastreams",
        f"v1.1/Locations({ids['L']})/Things",
        f"v1.1/Things({ids['T']})/Locations",
        *deep,
    )
    learned(started, len(deep))
    notifier = started.service.notifier
    notifier.notify_batch(
        [
            Change("Datastreams", (ids["D"],), "update"),
            Change("Things", (ids["T"],), "update", frozenset({"name"})),
            Change("Locations", (ids["L"],), "create"),
        ]
    )
    stream = expected(world, "Datastreams", ids["D"])
    assert payloads(subscriber, f"v1.1/Things({ids['T']})/Datastreams") == [stream]
    assert payloads(subscriber, f"v1.1/Sensors({ids['S']})/Datastreams") == [stream]
    assert payloads(subscriber, deep[0]) == [stream]
    assert payloads(subscriber, deep[1]) == [{"name": stream["name"]}]
    assert payloads(subscriber, deep[3]) == [{"name": stream["name"]}]
    thing = expected(world, "Things", ids["T"])
    assert payloads(subscriber, f"v1.1/Locations({ids['L']})/Things") == [thing]
    location = expected(world, "Locations", ids["L"])
    assert payloads(subscriber, f"v1.1/Things({ids['T']})/Locations") == [location]
    notifier.flush()
    assert subscriber.received.on(deep[2]) == []


def test_invalid_subscriptions_are_ignored_and_logged(
    world: World,
    hub: Callable[..., Hub],
    mqtt_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hub.sta.mqtt")
    started = hub(world.store)
    subscriber = mqtt_client()
    subscriber.subscribe(
        "v1.1/Observations?$select=nonsense",
        "v1.1/Observations?$filter=result gt 1",
        "v1.1/Nothings(1)",
        "v1.1/Datastreams(1)/Observations?$select=result",
    )
    learned(started, 1)
    assert [r.getMessage() for r in caplog.records if "ignoring subscription" in r.getMessage()]
    value = started.metrics.registry.get_sample_value(
        "auasu_mqtt_learned_refused_total", {"reason": "invalid"}
    )
    assert value == 3
    subscriber.client.unsubscribe("v1.1/Datastreams(1)/Observations?$select=result")
    deadline = time.monotonic() + 5
    while len(started.service.learned) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(started.service.learned) == 0


class BlockedPublisher:
    """Holds the notifier thread inside publish until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.sent: list[str] = []

    def publish(self, topic: str, payload: bytes) -> bool:
        self.release.wait(5)
        self.sent.append(topic)
        return True


def test_full_queue_drops_and_counts_without_blocking(sqlite_world: World) -> None:
    metrics = MqttMetrics()
    publisher = BlockedPublisher()
    notifier = MqttNotifier(
        sqlite_world.store, publisher, root_url=ROOT, metrics=metrics, queue_commits=2
    )
    notifier.start()
    try:
        ids = sqlite_world.observations
        started = time.monotonic()
        results = [notifier.notify("Observations", [i], "create") for i in ids]
        assert time.monotonic() - started < 1.0
        # One in the thread's hands, two queued, the fourth dropped.
        assert results.count(False) >= 1
        dropped = metrics.registry.get_sample_value("auasu_mqtt_notify_dropped_entities_total")
        assert dropped == results.count(False)
        publisher.release.set()
        assert notifier.flush(5)
        assert len(publisher.sent) == 3 * results.count(True)  # set + Datastream + FoI topics
    finally:
        publisher.release.set()
        notifier.stop()


def test_unknown_entity_sets_and_vanished_rows(world: World) -> None:
    from hub.sta.entities import UnknownEntity

    publisher = BlockedPublisher()
    publisher.release.set()
    notifier = MqttNotifier(world.store, publisher, root_url=ROOT)
    with pytest.raises(UnknownEntity):
        notifier.notify("Nothings", [1], "create")
    with pytest.raises(ValueError, match="event"):
        Change("Things", (1,), "delete")  # type: ignore[arg-type]
    notifier.start()
    try:
        assert notifier.notify("Observations", [987654321], "update")  # deleted meanwhile
        assert notifier.notify("Observations", [], "create")  # nothing to do
        assert notifier.flush(5)
        assert publisher.sent == []
    finally:
        notifier.stop()


def test_learned_topics_survive_a_hub_restart(
    sqlite_world: World, hub: Callable[..., Hub], mqtt_client: ClientFactory, tmp_path: Path
) -> None:
    path = tmp_path / "learned.json"
    first = hub(sqlite_world.store, learned_topics_path=path)
    topic = "v1.1/Observations?$select=result"
    subscriber = mqtt_client()
    subscriber.subscribe(topic)
    learned(first, 1)
    first.service.stop(timeout=2.0)
    assert path.exists()

    second = hub(sqlite_world.store, learned_topics_path=path)
    assert len(second.service.learned) == 1  # known without a new SUBSCRIBE
    second.service.notifier.notify("Observations", sqlite_world.observations[:1], "create")
    got = subscriber.received.wait_on(topic)
    assert json.loads(got[0]) == {"result": 10.0}
    # MQTT v5 subscribers are told the payload is JSON.
    assert subscriber.properties[topic][0].ContentType == "application/json"


def test_oversized_notification_is_refused_not_resent(
    sqlite_world: World, hub: Callable[..., Hub]
) -> None:
    started = hub(sqlite_world.store, max_payload_bytes=1024)
    assert not started.service.publish("v1.1/Things", b"x" * 1024)
    assert started.service.publish("v1.1/Things", b"x" * 512)
    value = started.metrics.registry.get_sample_value(
        "auasu_mqtt_publishes_total", {"result": "too_large"}
    )
    assert value == 1 and started.service.connected.is_set()
