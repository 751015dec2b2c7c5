"""Configuration of the SensorThings MQTT extension: where the broker is and how the hub uses it.

:class:`MqttSettings` is meant to become the ``[mqtt]`` table of the hub's TOML configuration
(``hub.config.HubConfig.mqtt``). Everything has a working default for a broker on the same host;
MQTT stays off until ``enabled = true``.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DAY_S = 86_400
# Client ids travel in the broker's log lines and must survive a round trip through them.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_ENDPOINT = re.compile(r"^(mqtt|mqtts|ws|wss)://[^\s/]+(:[0-9]{1,5})?(/\S*)?$")
TOPIC_PREFIX = "v1.1"


class MqttSettings(BaseModel):
    """How the hub connects to Mosquitto and what it does there.

    ``password`` (or the file at ``password_path``) is the hub's *own* broker secret, the one
    :mod:`hub.sta.mqtt.broker` writes into Mosquitto's password file for ``username``. When
    neither is set the hub generates one into ``password_path`` on first start (see
    :func:`load_or_create_secret`).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str = "auasu-hub"
    password: SecretStr | None = None
    password_path: Path | None = None
    # Fixed, so that the broker keeps the hub's session (its subscriptions and the creates that
    # arrive while the hub is down) from one run to the next.
    client_id: str = "auasu-hub"
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=7 * DAY_S, ge=0)
    reconnect_min_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=60.0, gt=0)
    # Notifications paho keeps while the broker is unreachable; beyond it they are counted and
    # dropped (auasu_mqtt_publishes_total{result="queue_full"}).
    max_queued_messages: int = Field(default=100_000, ge=1)
    # Commits waiting for the notifier thread; beyond it a commit's notifications are dropped
    # and counted, so ingest never waits for MQTT.
    notify_queue_commits: int = Field(default=10_000, ge=1)
    learned_topics_max: int = Field(default=10_000, ge=0)
    learned_deep_topics_max: int = Field(default=100, ge=0)
    learned_topic_expiry_s: float = Field(default=7 * DAY_S, gt=0)
    # Where learned $select/long-path topics are kept across hub restarts (None: memory only).
    learned_topics_path: Path | None = None
    # Largest MQTT packet either way: creates above it are refused, notifications above it are
    # not sent. Keep it equal to the broker's max_packet_size (BrokerOptions.max_packet_bytes).
    max_payload_bytes: int = Field(default=1_048_576, ge=1024)
    # Absolute service root written into selfLinks (``https://hub.example.org/v1.1``); the
    # server fills it from the HTTP settings when unset.
    service_root_url: str | None = None
    # What the service root advertises; empty means ``mqtt://host:port``.
    endpoints: list[str] = Field(default_factory=list)
    # Where the hub keeps the broker's password and ACL files up to date with its users
    # (None: <data_dir>/mqtt/auth); point Mosquitto's password_file and acl_file at them.
    auth_dir: Path | None = None
    # The broker's pid file (Mosquitto's pid_file): after rewriting the files the hub sends
    # that process SIGHUP, so it re-reads them. None: reload it yourself (or the hub started
    # the broker itself, as ``auasu demo`` does).
    broker_pid_file: Path | None = None
    # How often the hub compares its users with what it last wrote into the files.
    auth_sync_s: float = Field(default=5.0, gt=0)

    @field_validator("client_id", "username")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if _CLIENT_ID.fullmatch(value) is None:
            raise ValueError("use 1-64 characters from A-Z a-z 0-9 . _ -")
        return value

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, value: list[str]) -> list[str]:
        for entry in value:
            if _ENDPOINT.fullmatch(entry) is None:
                raise ValueError(f"not an mqtt://, mqtts://, ws:// or wss:// URL: {entry!r}")
        return value

    @field_validator("service_root_url")
    @classmethod
    def _root(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("service_root_url must be an absolute http(s) URL")
        return value.rstrip("/")

    def advertised_endpoints(self) -> list[str]:
        """The endpoints for the service root: the configured ones, else the broker address."""
        if self.endpoints:
            return list(self.endpoints)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return [f"mqtt://{host}:{self.port}"]

    def hub_password(self) -> str:
        """The hub's broker secret: ``password``, else the file at ``password_path``."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_path is None:
            raise ValueError("mqtt: set password or password_path for the hub's broker account")
        return load_or_create_secret(self.password_path)


def load_or_create_secret(path: Path) -> str:
    """Read the secret stored at ``path``; create a random one (mode 0600) when it is missing.

    Kept in a file rather than regenerated per start so that a broker running apart from the
    hub (Docker) keeps accepting the hub without being reconfigured.
    """
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    if text:
        return text
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    # O_EXCL: two processes starting at once must not both write (and one lose) a secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret
