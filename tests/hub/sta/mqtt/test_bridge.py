"""Observations created over MQTT: from a create-role client through the broker to the write path.

The write path is a recording fake here (the bridge's contract is the call it makes); the last
test goes through a minimal real implementation that commits to the store and notifies.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from hub.sta.mqtt import CreateOutcome, MqttNotifier
from hub.store import ObservationRow
from hub.store.schema import observations
from tests.hub.sta.conftest import frame_record
from tests.hub.sta.mqtt.conftest import WAIT_S, ClientFactory, Hub, World


@dataclass
class FakeWritePath:
    """Records every call; answers with ``outcomes`` in turn (then 201)."""

    outcomes: list[CreateOutcome | Exception] = field(default_factory=list)
    calls: list[tuple[str, bytes]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, path: str, payload: bytes) -> CreateOutcome:
        with self.changed:
            self.calls.append((path, payload))
            self.changed.notify_all()
        if self.outcomes:
            outcome = self.outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return CreateOutcome(201, ids=(len(self.calls),))

    def wait(self, count: int, timeout: float = WAIT_S) -> list[tuple[str, bytes]]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.calls) >= count, timeout)
            return list(self.calls)


def counter(hub: Hub, outcome: str) -> float:
    value = hub.metrics.registry.get_sample_value("auasu_mqtt_creates_total", {"outcome": outcome})
    return value or 0.0


def test_create_role_publish_reaches_the_write_path(
    sqlite_world: World, hub: Callable[..., Hub], mqtt_client: ClientFactory
) -> None:
    write = FakeWritePath()
    started = hub(sqlite_world.store, write)
    alice = mqtt_client("alice")
    topics = [
        "v1.1/Observations",
        "v1.1/Datastreams(5)/Observations",
        "v1.1/FeaturesOfInterest(9)/Observations",
    ]
    for number, topic in enumerate(topics):
        assert alice.publish(topic, json.dumps({"result": number}).encode()) == 0
    calls = write.wait(3)
    assert calls == [
        ("Observations", b'{"result": 0}'),
        ("Datastreams(5)/Observations", b'{"result": 1}'),
        ("FeaturesOfInterest(9)/Observations", b'{"result": 2}'),
    ]
    assert counter(started, "created") == 3


def test_bad_topics_and_payloads_do_not_stop_the_bridge(
    sqlite_world: World, hub: Callable[..., Hub], mqtt_client: ClientFactory
) -> None:
    write = FakeWritePath(outcomes=[CreateOutcome(400, "result is required")])
    started = hub(sqlite_world.store, write, max_payload_bytes=2048)
    alice = mqtt_client("alice")
    alice.publish("v1.1/Things(1)/Observations", b'{"result": 1}')  # ACL lets it through
    alice.publish("v1.1/Datastreams(01)/Observations", b'{"result": 1}')
    for bad in (
        b"not json",
        b"[1, 2]",
        b"\xff\xfe",
        b"[" * 100_000,
        b'{"a": "' + b"x" * 4096 + b'"}',
    ):
        alice.publish("v1.1/Observations", bad)
    alice.publish("v1.1/Observations", b'{"phenomenonTime": "2025-01-01T00:00:00Z"}')  # 400
    alice.publish("v1.1/Observations", b'{"result": 42}')
    calls = write.wait(2)
    assert [payload for _path, payload in calls] == [
        b'{"phenomenonTime": "2025-01-01T00:00:00Z"}',
        b'{"result": 42}',
    ]
    assert counter(started, "bad_topic") == 2
    assert counter(started, "bad_payload") == 5
    assert counter(started, "rejected") == 1
    assert counter(started, "created") == 1


def test_unavailable_store_is_retried_and_exceptions_are_bounded(
    sqlite_world: World, hub: Callable[..., Hub], mqtt_client: ClientFactory
) -> None:
    write = FakeWritePath(
        outcomes=[
            CreateOutcome(503, "store unavailable"),
            RuntimeError("database went away"),
            CreateOutcome(201, ids=(1,)),
            *[RuntimeError("a bug") for _ in range(5)],
        ]
    )
    started = hub(sqlite_world.store, write)
    started.service.bridge.retry_initial_s = 0.01  # type: ignore[union-attr]
    alice = mqtt_client("alice")
    alice.publish("v1.1/Observations", b'{"result": 1}')
    alice.publish("v1.1/Observations", b'{"result": 2}')
    alice.publish("v1.1/Observations", b'{"result": 3}')
    calls = write.wait(3 + 5 + 1)
    assert [p for _path, p in calls] == [b'{"result": 1}'] * 3 + [b'{"result": 2}'] * 5 + [
        b'{"result": 3}'
    ]
    assert counter(started, "created") == 2 and counter(started, "failed") == 1
    assert started.metrics.registry.get_sample_value("auasu_mqtt_create_retries_total") == 6


def test_unacknowledged_create_is_delivered_again_after_a_hub_restart(
    sqlite_world: World, hub: Callable[..., Hub], mqtt_client: ClientFactory
) -> None:
    """The PUBACK waits for the commit: a hub that stops before committing gets it again."""
    never = FakeWritePath(outcomes=[CreateOutcome(503, "store down")] * 1000)
    first = hub(sqlite_world.store, never, client_id="hub-restart")
    first.service.bridge.retry_initial_s = 0.01  # type: ignore[union-attr]
    alice = mqtt_client("alice")
    alice.publish("v1.1/Observations", b'{"result": 7}')
    never.wait(2)
    first.service.stop(timeout=2.0)

    write = FakeWritePath()
    second = hub(sqlite_world.store, write, client_id="hub-restart")  # same session
    assert write.wait(1) == [("Observations", b'{"result": 7}')]
    second.service.stop(timeout=2.0)  # (two clients with one id would take the session in turns)
    # Acknowledged now: a third run with the same session gets nothing.
    third = FakeWritePath()
    hub(sqlite_world.store, third, client_id="hub-restart")
    assert third.wait(1, timeout=0.5) == [] and len(write.calls) == 1


def test_hub_never_receives_its_own_notifications(
    sqlite_world: World, hub: Callable[..., Hub], mqtt_client: ClientFactory
) -> None:
    write = FakeWritePath()
    started = hub(sqlite_world.store, write)
    watcher = mqtt_client()
    watcher.subscribe("v1.1/Observations")
    started.service.notifier.notify("Observations", sqlite_world.observations[:2], "create")
    assert len(watcher.received.wait_on("v1.1/Observations", 2)) == 2
    assert write.wait(1, timeout=0.5) == []


class StoreWritePath:
    """A minimal real write path: one Observation into the store, then the notification.

    Enough to show the whole loop (publish → create → commit → notify → subscriber); the real
    one is the HTTP write path with its full validation.
    """

    def __init__(self, world: World, notifier: Callable[[], MqttNotifier]) -> None:
        self.world = world
        self.notifier = notifier

    def __call__(self, path: str, payload: bytes) -> CreateOutcome:
        body = json.loads(payload)
        if path != f"Datastreams({self.world.ids['D']})/Observations":
            return CreateOutcome(404, "only the test datastream")
        if not isinstance(body.get("result"), int | float):
            return CreateOutcome(400, "result must be a number")
        time = datetime.fromisoformat(body["phenomenonTime"]).astimezone(UTC)
        row = ObservationRow(
            self.world.ids["D"],
            self.world.ids["F"],
            time,
            time,
            time,
            float(body["result"]),
            "valid",
            {},
        )
        self.world.store.write_batch([frame_record("m", "air-one", [row], time)])
        with self.world.store.engine.connect() as conn:
            new_id = conn.execute(
                select(observations.c.id).where(
                    observations.c.datastream_id == self.world.ids["D"],
                    observations.c.phenomenon_time_start == time,
                )
            ).scalar_one()
        self.notifier().notify("Observations", [new_id], "create")
        return CreateOutcome(201, ids=(new_id,))


def test_mqtt_create_through_a_store_reaches_subscribers(
    world: World, hub: Callable[..., Hub], mqtt_client: ClientFactory
) -> None:
    holder: list[Hub] = []
    started = hub(world.store, StoreWritePath(world, lambda: holder[0].service.notifier))
    holder.append(started)
    ds = world.ids["D"]
    watcher = mqtt_client()
    watcher.subscribe(f"v1.1/Datastreams({ds})/Observations")
    alice = mqtt_client("alice")
    body = {"result": 55.5, "phenomenonTime": "2025-02-01T10:00:00Z"}
    assert alice.publish(f"v1.1/Datastreams({ds})/Observations", json.dumps(body).encode()) == 0
    got = watcher.received.wait_on(f"v1.1/Datastreams({ds})/Observations", 2)
    # The raw PUBLISH itself reaches subscribers of the same topic too (MQTT forwards it; the
    # broker cannot hold it back), then the hub's notification with the stored entity.
    entities = [json.loads(p) for p in got if b"@iot.id" in p]
    assert len(entities) == 1
    entity = entities[0]
    assert entity["result"] == 55.5 and entity["phenomenonTime"] == "2025-02-01T10:00:00Z"
    assert entity["@iot.selfLink"] == f"http://hub.test/v1.1/Observations({entity['@iot.id']})"
    assert entity["Datastream@iot.navigationLink"].endswith(f"({entity['@iot.id']})/Datastream")
