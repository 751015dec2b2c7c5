"""A private Mosquitto per test session, MQTT test clients, and a small store to notify about.

The broker is the real binary (Mosquitto 2.0) with the configuration, password file and ACL the
hub generates; with ``CI=true`` a missing binary fails the run instead of skipping.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from adapters.base import Aggregation
from hub.mapping import MappingSet
from hub.sta.mqtt import (
    BrokerUser,
    CreateObservation,
    MosquittoProcess,
    MqttMetrics,
    MqttService,
    MqttSettings,
    find_mosquitto,
)
from hub.store import Store
from tests.conftest import require
from tests.hub.sta.conftest import frame_record, observation_row, station_record

ROOT = "http://hub.test/v1.1"
T0 = datetime(2025, 1, 14, 19, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
WAIT_S = 5.0
SECRETS = {
    "hub": "hub-secret-0123456789abcdef",
    "alice": "alice-secret-0123456789",  # create role
    "rita": "rita-secret-0123456789ab",  # read role
}


@dataclass
class Broker:
    """The session's broker and the credentials it accepts."""

    process: MosquittoProcess
    host: str
    port: int

    def settings(self, **overrides: Any) -> MqttSettings:
        """Hub settings for this broker with a fresh client id (a fresh broker session)."""
        values: dict[str, Any] = {
            "enabled": True,
            "host": self.host,
            "port": self.port,
            "username": "auasu-hub",
            "client_id": f"hub-{uuid.uuid4().hex[:12]}",
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
            "keepalive_s": 10,
        }
        values.update(overrides)
        return MqttSettings.model_validate(values)


def broker_users() -> tuple[BrokerUser, list[BrokerUser]]:
    hub = BrokerUser.from_secret("auasu-hub", "admin", SECRETS["hub"])
    users = [
        BrokerUser.from_secret("alice", "create", SECRETS["alice"]),
        BrokerUser.from_secret("rita", "read", SECRETS["rita"]),
    ]
    return hub, users


def start_broker(directory: Path) -> MosquittoProcess:
    binary = find_mosquitto()
    require(binary is not None, "mosquitto is not installed")
    hub, users = broker_users()
    process = MosquittoProcess(directory, hub, users, binary=binary)
    process.start()
    return process


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    process = start_broker(tmp_path_factory.mktemp("mosquitto"))
    yield Broker(process, process.host, process.port)
    process.stop()


@dataclass
class Received:
    """Messages one test client received, waitable."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, topic: str, payload: bytes) -> None:
        with self.changed:
            self.messages.append((topic, payload))
            self.changed.notify_all()

    def on(self, topic: str) -> list[bytes]:
        with self.changed:
            return [payload for t, payload in self.messages if t == topic]

    def wait(self, check: Callable[[], bool], timeout: float = WAIT_S) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not check():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
        return True

    def wait_on(self, topic: str, count: int = 1, timeout: float = WAIT_S) -> list[bytes]:
        self.wait(lambda: len(self.on(topic)) >= count, timeout)
        return self.on(topic)


@dataclass
class Client:
    """A connected test client: what it received, and the broker's answers to it."""

    client: mqtt.Client
    received: Received
    connected: threading.Event
    results: list[tuple[str, int]]  # ("connect", reason code value)
    acks: list[tuple[str, int, int]]  # ("pub", mid, PUBACK reason code value)
    properties: dict[str, list[Any]]  # topic -> the MQTT v5 properties of each message

    def subscribe(self, *topics: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_args: done.set()
        self.client.subscribe([(t, SubscribeOptions(qos=1)) for t in topics])
        assert done.wait(WAIT_S), "SUBACK not received"

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish QoS 1 and return the PUBACK reason code (0 or 16: accepted)."""
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(WAIT_S)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for kind, mid, code in list(self.acks):
                if kind == "pub" and mid == info.mid:
                    return code
            time.sleep(0.005)
        raise AssertionError("PUBACK not received")


ClientFactory = Callable[..., Client]


@pytest.fixture
def mqtt_client(broker: Broker) -> Iterator[ClientFactory]:
    """Connect test clients (MQTT v5); all are disconnected at the end of the test."""
    made: list[mqtt.Client] = []

    def connect(
        username: str | None = None,
        *,
        client_id: str | None = None,
        clean_start: bool = True,
        session_expiry: int = 0,
        port: int | None = None,
        password: str | None = None,
        wait: bool = True,
    ) -> Client:
        acks: list[tuple[str, int, int]] = []
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
            userdata=acks,
        )
        if username is not None:
            client.username_pw_set(username, password or SECRETS[username])
        received = Received()
        connected = threading.Event()
        results: list[tuple[str, int]] = []

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            results.append(("connect", reason.value))
            if not reason.is_failure:
                connected.set()

        client.on_connect = on_connect
        seen_properties: dict[str, list[Any]] = {}

        def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
            seen_properties.setdefault(message.topic, []).append(message.properties)
            received.add(message.topic, bytes(message.payload))

        client.on_message = on_message
        client.on_publish = lambda _c, u, mid, reason, _p: u.append(("pub", mid, reason.value))
        client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = session_expiry
        client.connect_async(
            broker.host, port or broker.port, clean_start=clean_start, properties=properties
        )
        client.loop_start()
        made.append(client)
        if wait:
            assert connected.wait(WAIT_S), f"test client did not connect: {results}"
        return Client(client, received, connected, results, acks, seen_properties)

    yield connect
    for client in made:
        client.disconnect()
        client.loop_stop()


@dataclass
class Hub:
    service: MqttService
    metrics: MqttMetrics


@pytest.fixture
def hub(broker: Broker) -> Iterator[Callable[..., Hub]]:
    """Start MqttServices against the session broker; stopped at the end of the test."""
    started: list[MqttService] = []

    def start(
        store: Store,
        create: CreateObservation | None = None,
        *,
        target: Broker | None = None,
        **overrides: Any,
    ) -> Hub:
        metrics = MqttMetrics()
        settings = (target or broker).settings(**overrides)
        service = MqttService(
            settings,
            store,
            root_url=ROOT,
            create_observation=create,
            metrics=metrics,
            password=SECRETS["hub"],
        )
        service.start()
        started.append(service)
        assert service.wait_connected(WAIT_S), "hub did not connect to the broker"
        return Hub(service, metrics)

    yield start
    for service in started:
        service.stop(timeout=2.0)


@dataclass
class World:
    store: Store
    ids: dict[str, int]
    observations: list[int]


def build_world(url: str) -> World:
    """One air station with a PM2.5 datastream and four observations, one water station."""
    store = Store.open(url)
    air, river = store.import_stations(
        [station_record("air-one", "air", "Air One"), station_record("river-two", "water", "Two")]
    )
    mapping = MappingSet.load()
    pm25, ph = mapping.observed_property("pm2_5"), mapping.observed_property("ph")
    assert pm25 is not None and ph is not None
    d25 = store.ensure_datastream("air-one", pm25, Aggregation.MEAN, "a34004")
    dph = store.ensure_datastream("river-two", ph, Aggregation.INSTANT, "w01001")
    rows = [observation_row(d25, T0 + i * HOUR, 10.0 * (i + 1), result_time=T0) for i in range(4)]
    store.write_batch([frame_record("a", "air-one", rows, T0)])
    ids = {"T": air.thing_id, "D": d25[0], "F": d25[1], "Dph": dph[0], "TB": river.thing_id}
    ids |= {"L": air.location_id, "S": air.sensor_id}
    return World(store, ids, observation_ids(store, d25[0]))


def observation_ids(store: Store, datastream_id: int) -> list[int]:
    from sqlalchemy import select

    from hub.store.schema import observations

    with store.engine.connect() as conn:
        query = (
            select(observations.c.id)
            .where(observations.c.datastream_id == datastream_id)
            .order_by(observations.c.phenomenon_time_start)
        )
        return [row[0] for row in conn.execute(query)]


@pytest.fixture
def world(store_url: str) -> Iterator[World]:
    built = build_world(store_url)
    yield built
    built.store.close()


@pytest.fixture
def sqlite_world(sqlite_url: str) -> Iterator[World]:
    """For tests where the store does not matter (the bridge, the broker)."""
    built = build_world(sqlite_url)
    yield built
    built.store.close()
