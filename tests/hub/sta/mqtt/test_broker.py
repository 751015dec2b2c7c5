"""The generated Mosquitto setup: password hashes, the ACL, the config, and the real broker
enforcing them (anonymous read, no anonymous or read-role publish, create role may create)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hub.sta.mqtt.broker import (
    BrokerOptions,
    BrokerUser,
    Role,
    acl_file_text,
    generate_secret,
    hash_password,
    password_file_text,
    render_config,
    verify_password,
)
from tests.conftest import require
from tests.hub.sta.mqtt.conftest import SECRETS, WAIT_S, Broker, ClientFactory, broker_users

REPO = Path(__file__).resolve().parents[4]
ACCEPTED = (0, 16)  # PUBACK: success / no matching subscribers
NOT_AUTHORIZED = 135


def test_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    tool = Path(shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd")
    require(tool.exists(), "mosquitto_passwd is not installed")
    secret = "a-secret-of-some-length"
    subprocess.run([str(tool), "-b", "-c", str(tmp_path / "p"), "u", secret], check=True)
    theirs = (tmp_path / "p").read_text().strip().split(":", 1)[1]
    assert theirs.startswith("$7$101$")
    assert verify_password(secret, theirs)
    assert not verify_password(secret + "x", theirs)
    # Same salt and count as the tool chose → the same line, byte for byte.
    _, _, count, salt, _ = theirs.split("$")
    ours = hash_password(secret, iterations=int(count), salt=base64.b64decode(salt))
    assert ours == theirs


def test_secrets_are_long_and_hashes_salted() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        hash_password("short")
    with pytest.raises(ValueError, match="line breaks"):
        hash_password("0123456789abcdef\nuser x")
    secret = generate_secret()
    assert len(secret) >= 43
    assert hash_password(secret) != hash_password(secret)
    assert verify_password(secret, hash_password(secret))
    assert not verify_password(secret, "$6$notours")


def test_acl_grants_by_role() -> None:
    hub, _ = broker_users()
    roles: list[tuple[str, Role]] = [("r", "read"), ("c", "create"), ("u", "update")]
    roles.append(("a", "admin"))
    users = [BrokerUser.from_secret(name, role, generate_secret()) for name, role in roles]
    acl = acl_file_text(users, hub)
    blocks = {block.splitlines()[0]: block.splitlines()[1:] for block in acl.split("\n\n")}
    anonymous = [line for line in acl.split("\n\n")[0].splitlines() if not line.startswith("#")]
    assert anonymous == ["topic read v1.1/#"]
    assert blocks["user auasu-hub"] == ["topic readwrite v1.1/#", "topic read $SYS/#"]
    assert blocks["user r"] == ["topic read v1.1/#"]
    creates = [
        "topic read v1.1/#",
        "topic write v1.1/Observations",
        "topic write v1.1/+/Observations",
    ]
    for name in ("c", "u", "a"):
        assert blocks[f"user {name}"] == creates


def test_unusable_users_are_left_out(caplog: pytest.LogCaptureFixture) -> None:
    hub, _ = broker_users()
    good = BrokerUser.from_secret("ok.user@example", "create", generate_secret())
    bad = [
        BrokerUser("with space", "create", good.password_hash),
        BrokerUser("new\nuser evil", "admin", good.password_hash),
        BrokerUser("colon:name", "create", good.password_hash),
        BrokerUser("plain", "create", "plaintext-password"),
        BrokerUser("auasu-hub", "create", good.password_hash),  # would shadow the hub
        BrokerUser("ok.user@example", "read", good.password_hash),  # duplicate
    ]
    text = password_file_text([good, *bad], hub)
    assert [line.split(":")[0] for line in text.splitlines()] == ["auasu-hub", "ok.user@example"]
    acl = acl_file_text([good, *bad], hub)
    assert "evil" not in acl and "with space" not in acl and acl.count("user ") == 2
    assert "left out" in caplog.text
    with pytest.raises(ValueError, match="not usable"):
        password_file_text([], BrokerUser("bad name", "admin", good.password_hash))


def test_config_refuses_whitespace_in_paths() -> None:
    with pytest.raises(ValueError, match="whitespace"):
        render_config(
            BrokerOptions(port=1883), password_file="/a b", acl_file="/acl", persistence_dir="/d"
        )


def test_docker_config_is_the_rendered_template() -> None:
    """docker/mosquitto/mosquitto.conf is the template rendered for the container's paths."""
    expected = render_config(
        BrokerOptions(port=1883, host="0.0.0.0", user="mosquitto", log_to_stderr=True),
        password_file="/mosquitto/config/auth/passwd",
        acl_file="/mosquitto/config/auth/acl",
        persistence_dir="/mosquitto/data",
    )
    assert (REPO / "docker/mosquitto/mosquitto.conf").read_text() == expected


def test_anonymous_may_subscribe_but_not_publish(mqtt_client: ClientFactory) -> None:
    listener = mqtt_client()
    listener.subscribe("v1.1/#")
    anonymous = mqtt_client()
    assert anonymous.publish("v1.1/Observations", b'{"result": 1}') == NOT_AUTHORIZED
    reader = mqtt_client("rita")
    assert reader.publish("v1.1/Datastreams(1)/Observations", b'{"result": 1}') == NOT_AUTHORIZED
    # Nothing reached the subscriber: the broker dropped both.
    assert not listener.received.wait(lambda: bool(listener.received.messages), timeout=0.3)


def test_create_role_publishes_only_creation_topics(mqtt_client: ClientFactory) -> None:
    alice = mqtt_client("alice")
    for topic in ("v1.1/Observations", "v1.1/Datastreams(1)/Observations"):
        assert alice.publish(topic, b"{}") in ACCEPTED, topic
    for topic in ("v1.1/Things", "v1.1/Observations(1)", "v1.1/Datastreams(1)/Thing", "other"):
        assert alice.publish(topic, b"{}") == NOT_AUTHORIZED, topic


def test_sys_topics_are_the_hubs_alone(mqtt_client: ClientFactory) -> None:
    anonymous = mqtt_client()
    anonymous.subscribe("$SYS/broker/log/M/#")
    hub = mqtt_client("auasu-hub", password=SECRETS["hub"])
    hub.subscribe("$SYS/broker/log/M/#")
    mqtt_client().subscribe("v1.1/Things?$select=name")
    lines = hub.received.wait_on("$SYS/broker/log/M/subscribe", count=2)
    assert any(line.endswith(b" 1 v1.1/Things?$select=name") for line in lines)
    assert anonymous.received.messages == []


def test_wrong_password_is_refused(mqtt_client: ClientFactory) -> None:
    client = mqtt_client("alice", password="alice-secret-WRONG-0000", wait=False)
    deadline = time.monotonic() + WAIT_S
    while ("connect", NOT_AUTHORIZED) not in client.results and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ("connect", NOT_AUTHORIZED) in client.results
    assert not client.connected.is_set()


def test_new_user_works_after_reload(broker: Broker, mqtt_client: ClientFactory) -> None:
    _, users = broker_users()
    secret = generate_secret()
    broker.process.update_users([*users, BrokerUser.from_secret("bob", "create", secret)])
    try:
        # SIGHUP is handled asynchronously: a connection right after it may still be refused.
        for _attempt in range(20):
            bob = mqtt_client("bob", password=secret, wait=False)
            if bob.connected.wait(WAIT_S / 10):
                break
            bob.client.disconnect()
        assert bob.connected.is_set(), bob.results
        assert bob.publish("v1.1/Observations", b"{}") in ACCEPTED
    finally:
        broker.process.update_users(users)
