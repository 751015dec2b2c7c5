"""The MQTT extension in a whole running hub (``HubServer``), on both stores.

1. observations a logger sends over HJ 212 TCP reach a subscriber of
   ``v1.1/Datastreams(n)/Observations``;
2. an Observation published by a user with the ``create`` role and a broker secret
   (``auasu users mqtt-secret``) is created and readable over HTTP; anonymous and read-only
   publishes are refused by the broker and create nothing;
3. a Thing created over HTTP reaches ``v1.1/Things`` subscribers, its PATCH ``v1.1/Things(n)``.

Tests 1 and 3 use the session broker; test 2 a private one whose password and ACL files the hub
rewrites from its users and then reloads through the broker's pid file, as ``auasu serve`` does
with a deployed Mosquitto.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hub.cli import _demo_broker, main
from hub.config import load_config
from hub.server import HubServer
from hub.sta.mqtt import MosquittoProcess
from hub.sta.mqtt.process import free_port
from hub.store import Store
from hub.store.users import add_user
from tests.hub.conftest import running_hub
from tests.hub.ingest.test_pipeline import saryarka_frame
from tests.hub.sta.mqtt.conftest import SECRETS, WAIT_S, Broker, ClientFactory, start_broker

NOT_AUTHORIZED = 135  # MQTT v5 PUBACK reason code


def hub_settings(broker: Broker, **extra: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "host": broker.host,
        "port": broker.port,
        "username": "auasu-hub",
        "password": SECRETS["hub"],
        "client_id": f"hub-{uuid.uuid4().hex[:12]}",
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5,
        "auth_sync_s": 0.2,
        **extra,
    }


@contextmanager
def mqtt_hub(data_dir: Path, store_url: str, settings: dict[str, Any]) -> Iterator[HubServer]:
    with running_hub(data_dir, db=store_url, mqtt=settings) as server:
        assert server.mqtt is not None and server.mqtt.wait_connected(WAIT_S)
        yield server


def send_frame(server: HubServer, frame: bytes) -> bytes:
    """One HJ 212 frame over TCP; the hub's reply (sent after the commit)."""
    with socket.create_connection(("127.0.0.1", server.hj212_port), timeout=WAIT_S) as sock:
        sock.sendall(frame)
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            assert chunk, "the hub closed the connection without a reply"
            reply += chunk
    return reply


def reading(minute: int, value: str) -> bytes:
    return saryarka_frame(
        [{"DataTime": f"202501151{minute:03d}00"}, {"a34004-Rtd": value}],
        qn=f"20250115{minute:06d}001",
    )


def http(
    server: HubServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    user: tuple[str, str] | None = None,
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.http_port}/v1.1/{path}", data=data, method=method
    )
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if user is not None:
        token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode() or "null")


def pilot_datastream(server: HubServer) -> int:
    """Ingest one reading over TCP and return the id of the Datastream it went to, once its
    notifications (the new Datastream's, the Observation's) have gone out: a subscriber made
    after this gets none of them."""
    assert b"CN=9014" in send_frame(server, reading(0, "41"))
    status, page = http(server, "GET", "Observations?$expand=Datastream($select=id)&$top=1")
    assert status == 200, page
    mqtt = server.mqtt
    assert mqtt is not None and mqtt.notifier.flush(WAIT_S)
    assert eventually(lambda: mqtt.unacknowledged == 0)  # the broker has them
    return int(page["value"][0]["Datastream"]["@iot.id"])


def eventually(check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_observations_ingested_over_hj212_reach_subscribers(
    store_url: str, tmp_path: Path, broker: Broker, mqtt_client: ClientFactory
) -> None:
    with mqtt_hub(tmp_path, store_url, hub_settings(broker)) as server:
        stream = pilot_datastream(server)
        topic = f"v1.1/Datastreams({stream})/Observations"
        subscriber = mqtt_client()
        subscriber.subscribe(topic, "v1.1/Observations")
        assert b"CN=9014" in send_frame(server, reading(1, "43.5"))
        (payload,) = subscriber.received.wait_on(topic)
        observation = json.loads(payload)
        assert observation["result"] == 43.5
        assert observation["phenomenonTime"].startswith("2025-01-15T05:01:00")  # 10:01 +05:00
        root = server.public_root()
        assert observation["@iot.selfLink"] == f"{root}/Observations({observation['@iot.id']})"
        status, stored = http(server, "GET", f"Observations({observation['@iot.id']})")
        assert status == 200 and stored["result"] == 43.5
        assert len(subscriber.received.wait_on("v1.1/Observations")) == 1
        # A replay stores nothing new and so tells nobody anything.
        send_frame(server, reading(1, "43.5"))
        time.sleep(0.3)  # the writer announces just after the ack
        assert len(subscriber.received.on(topic)) == 1


@pytest.fixture
def managed_broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    process = start_broker(tmp_path / "broker")
    yield process
    process.stop()


def test_publishing_creates_with_a_broker_secret_only(
    store_url: str,
    tmp_path: Path,
    managed_broker: MosquittoProcess,
    mqtt_client: ClientFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert managed_broker.files is not None and managed_broker.pid is not None
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{managed_broker.pid}\n")
    target = Broker(managed_broker, managed_broker.host, managed_broker.port)
    settings = hub_settings(
        target,
        auth_dir=str(managed_broker.files.password_file.parent),
        broker_pid_file=str(pid_file),
    )
    with mqtt_hub(tmp_path / "hub", store_url, settings) as server:
        stream = pilot_datastream(server)
        add_user(server.store, "logger", "create", "http password")
        add_user(server.store, "viewer", "read", "http password")
        secrets = {}
        for name in ("logger", "viewer"):
            assert main(["users", "mqtt-secret", name, "--db", server.config.database_url]) == 0
            secrets[name] = capsys.readouterr().out.strip()
        # The hub rewrites the broker's files and reloads it within auth_sync_s.
        password_file = managed_broker.files.password_file
        assert eventually(lambda: "logger:" in password_file.read_text())
        topic = f"v1.1/Datastreams({stream})/Observations"
        watcher = mqtt_client(port=target.port)
        watcher.subscribe(topic)

        logger = eventually(lambda: _connect(mqtt_client, target, "logger", secrets["logger"]))
        assert logger is not None, "the broker never accepted the new secret"
        created = {"phenomenonTime": "2026-03-01T12:00:00Z", "result": 15.2}
        assert logger.publish(topic, json.dumps(created).encode()) == 0
        notified = eventually(lambda: [p for p in watcher.received.on(topic) if b"@iot.id" in p])
        (observation,) = [json.loads(p) for p in notified]
        status, stored = http(server, "GET", f"Observations({observation['@iot.id']})")
        assert status == 200 and stored["result"] == 15.2
        assert stored["phenomenonTime"].startswith("2026-03-01T12:00:00")

        anonymous = mqtt_client(port=target.port)
        viewer = _connect(mqtt_client, target, "viewer", secrets["viewer"])
        assert viewer is not None
        for client, value in ((anonymous, 77.7), (viewer, 88.8)):
            refused = {"phenomenonTime": "2026-03-01T13:00:00Z", "result": value}
            assert client.publish(topic, json.dumps(refused).encode()) == NOT_AUTHORIZED
        status, page = http(server, "GET", f"{topic[len('v1.1/') :]}?$select=result")
        assert status == 200
        assert sorted(o["result"] for o in page["value"]) == [15.2, 41.0]


def _connect(factory: ClientFactory, broker: Broker, user: str, secret: str) -> Any:
    """A client logged in as ``user``, or None while the broker does not know the secret."""
    client = factory(user, port=broker.port, password=secret, wait=False)
    if not client.connected.wait(1.0):
        client.client.disconnect()
        client.client.loop_stop()
        return None
    return client


def test_things_created_and_patched_over_http_reach_subscribers(
    store_url: str, tmp_path: Path, broker: Broker, mqtt_client: ClientFactory
) -> None:
    with mqtt_hub(tmp_path, store_url, hub_settings(broker)) as server:
        add_user(server.store, "ops", "admin", "ops password")
        ops = ("ops", "ops password")
        things = mqtt_client()
        things.subscribe("v1.1/Things")
        thing = {"name": "School 12 roof", "description": "citizen sensor"}
        status, body = http(server, "POST", "Things", thing, user=ops)
        assert status == 201, body
        thing_id = body["@iot.id"]
        (payload,) = things.received.wait_on("v1.1/Things")
        assert json.loads(payload)["@iot.id"] == thing_id
        assert json.loads(payload)["name"] == "School 12 roof"

        one = mqtt_client()
        one.subscribe(f"v1.1/Things({thing_id})", f"v1.1/Things({thing_id})/description")
        status, body = http(
            server, "PATCH", f"Things({thing_id})", {"description": "moved"}, user=ops
        )
        assert status == 200, body
        (payload,) = one.received.wait_on(f"v1.1/Things({thing_id})")
        assert json.loads(payload)["description"] == "moved"
        (payload,) = one.received.wait_on(f"v1.1/Things({thing_id})/description")
        assert json.loads(payload) == {"description": "moved"}
        # The update also reaches the collection's subscribers; anonymous writes reach nobody.
        assert len(things.received.wait_on("v1.1/Things", 2)) == 2
        assert http(server, "POST", "Things", thing)[0] == 401


def test_the_demo_broker_follows_the_hubs_users(
    tmp_path: Path, mqtt_client: ClientFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # `auasu demo`: a private Mosquitto the hub manages (users rewritten, then SIGHUP).
    config = load_config(
        None,
        {
            "data_dir": str(tmp_path),
            "http.port": 0,
            "hj212.port": 0,
            "mqtt.port": free_port(),
            "mqtt.auth_sync_s": 0.2,
        },
    )
    config, broker = _demo_broker(config)
    assert broker is not None and broker.running
    try:
        assert config.mqtt.enabled and config.mqtt.port == broker.port
        store = Store.open(config.database_url)
        add_user(store, "logger", "create", "http password")
        assert main(["users", "mqtt-secret", "logger", "--db", config.database_url]) == 0
        secret = capsys.readouterr().out.strip()
        server = HubServer(config, store=store, broker=broker)
        server.start()
        try:
            assert server.mqtt is not None and server.mqtt.wait_connected(WAIT_S)
            target = Broker(broker, broker.host, broker.port)
            assert eventually(lambda: _connect(mqtt_client, target, "logger", secret))
            assert (tmp_path / "mqtt" / "hub.secret").stat().st_mode & 0o077 == 0
        finally:
            server.stop()
    finally:
        broker.stop()
