"""QoS 1 without loss across a broker restart (issue 3 item 5).

A private broker (not the session one) is restarted while the hub publishes a stream of
notifications; a subscriber with a persistent session must end up with every one of them:
those paho queued while the broker was down, those the broker held for the subscriber while it
was reconnecting, and those in flight when the broker stopped.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.sta.mqtt import MosquittoProcess, MqttService
from hub.sta.mqtt.process import free_port
from tests.hub.sta.conftest import frame_record, observation_row
from tests.hub.sta.mqtt.conftest import (
    HOUR,
    ROOT,
    SECRETS,
    T0,
    WAIT_S,
    Broker,
    ClientFactory,
    Hub,
    World,
    broker_users,
    observation_ids,
    start_broker,
)

STREAM = 60


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    process = start_broker(tmp_path / "broker")
    yield process
    process.stop()


@pytest.mark.slow
def test_persistent_subscriber_gets_every_notification_across_a_restart(
    sqlite_world: World,
    private_broker: MosquittoProcess,
    hub: Callable[..., Hub],
    mqtt_client: ClientFactory,
) -> None:
    store, ds, foi = sqlite_world.store, sqlite_world.ids["D"], sqlite_world.ids["F"]
    rows = [observation_row((ds, foi), T0 + (10 + i) * HOUR, float(i)) for i in range(STREAM)]
    store.write_batch([frame_record("b", "air-one", rows, T0)])
    ids = observation_ids(store, ds)[-STREAM:]

    target = Broker(private_broker, private_broker.host, private_broker.port)
    started = hub(store, target=target)
    subscriber = mqtt_client(
        client_id="persistent-subscriber",
        clean_start=False,
        session_expiry=300,
        port=private_broker.port,
    )
    subscriber.subscribe("v1.1/Observations")

    restarted = threading.Event()

    def stream() -> None:
        for position, entity_id in enumerate(ids):
            started.service.notifier.notify("Observations", [entity_id], "create")
            if position == STREAM // 3:
                private_broker.stop()  # SIGTERM: Mosquitto saves sessions and queues
            if position == STREAM // 2:  # the ones in between wait in paho's queue
                private_broker.start()
                restarted.set()
            time.sleep(0.005)

    producer = threading.Thread(target=stream)
    producer.start()
    producer.join(30)
    assert restarted.is_set()

    def received_ids() -> set[int]:
        return {json.loads(p)["@iot.id"] for p in subscriber.received.on("v1.1/Observations")}

    subscriber.received.wait(lambda: received_ids() >= set(ids), timeout=20)
    missing = sorted(set(ids) - received_ids())
    assert missing == [], f"lost across the restart: {missing}"
    # The hub reconnected (a second CONNACK) and nothing was refused or dropped.
    assert (started.metrics.registry.get_sample_value("auasu_mqtt_connects_total") or 0) >= 2
    for result in ("queue_full", "error", "refused"):
        value = started.metrics.registry.get_sample_value(
            "auasu_mqtt_publishes_total", {"result": result}
        )
        assert not value, result


def test_hub_started_before_the_broker_connects_when_it_comes_up(
    sqlite_world: World, tmp_path: Path
) -> None:
    port = free_port()
    settings = Broker(None, "127.0.0.1", port).settings()  # type: ignore[arg-type]
    service = MqttService(settings, sqlite_world.store, root_url=ROOT, password=SECRETS["hub"])
    service.start()
    try:
        assert not service.wait_connected(0.3)
        hub_account, users = broker_users()
        with MosquittoProcess(tmp_path / "late", hub_account, users, port=port):
            assert service.wait_connected(WAIT_S)
    finally:
        service.stop(timeout=1.0)
