"""How the running hub uses the MQTT extension: its write path, its users, its service root.

* :class:`WritePathCreate` is the :class:`~hub.sta.mqtt.bridge.CreateObservation` the bridge
  calls: :func:`hub.sta.write.messages.create_observation`, i.e. the validation, automatic
  FeatureOfInterest, archive and pipeline commit of ``POST …/Observations``, whose commit is
  then announced to subscribers like any other.
* :class:`BrokerAuthSync` keeps Mosquitto's password and ACL files equal to the hub's users
  (``auasu users add/remove/mqtt-secret`` may run in another process at any time): it compares
  the users with what it last wrote every ``auth_sync_s`` and, when they differ, rewrites the
  files and makes the broker re-read them.
* :func:`mqtt_server_settings` is what the service root adds to ``serverSettings``.
* :func:`demo_broker` starts the private Mosquitto of ``auasu demo``.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context

from hub.ingest.pipeline import IngestPipeline
from hub.sta.mqtt.bridge import CreateOutcome
from hub.sta.mqtt.broker import ROLES, BrokerUser, write_auth_files
from hub.sta.mqtt.process import BrokerStartError, MosquittoProcess, find_mosquitto, free_port
from hub.sta.mqtt.service import server_settings
from hub.sta.mqtt.settings import MqttSettings, load_or_create_secret
from hub.sta.write.messages import create_observation
from hub.store import Store
from hub.store.users import broker_accounts

log = logging.getLogger(__name__)

APP_CONFIG_KEY = "AUASU_MQTT_SETTINGS"
"""``Flask.config`` key under which ``create_app`` keeps the hub's :class:`MqttSettings`."""


def mqtt_server_settings() -> dict[str, Any]:
    """The ``serverSettings`` members advertising the MQTT endpoints, for the service root of
    the current app; empty when MQTT is off (or outside an app)."""
    if not has_app_context():
        return {}
    settings = current_app.config.get(APP_CONFIG_KEY)
    if not isinstance(settings, MqttSettings):
        return {}
    return server_settings(settings)


class WritePathCreate:
    """Creates an Observation published over MQTT through the HTTP write path."""

    def __init__(
        self, store: Store, pipeline: IngestPipeline | None, *, root_url: str, peer: str
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.root_url = root_url
        self.peer = peer

    def __call__(self, path: str, payload: bytes) -> CreateOutcome:
        result = create_observation(
            self.store, self.pipeline, path, payload, root=self.root_url, peer=self.peer
        )
        return CreateOutcome(result.status, result.message, result.ids)


ApplyUsers = Callable[[Sequence[BrokerUser]], None]


def file_writer(directory: Path, hub: BrokerUser, pid_file: Path | None) -> ApplyUsers:
    """Write the files into ``directory``; then SIGHUP the process named in ``pid_file``."""

    def apply(users: Sequence[BrokerUser]) -> None:
        write_auth_files(directory, users, hub)
        if pid_file is not None:
            reload_broker(pid_file)

    return apply


def reload_broker(pid_file: Path) -> bool:
    """SIGHUP the broker whose pid is in ``pid_file``; False (logged) when that fails."""
    try:
        pid = int(pid_file.read_text(encoding="ascii").strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        log.warning("mqtt: could not make the broker re-read its users (%s): %s", pid_file, exc)
        return False
    return True


class BrokerAuthSync:
    """Keeps the broker's accounts equal to the hub's users with broker secrets (see module)."""

    def __init__(self, store: Store, apply: ApplyUsers, *, interval_s: float = 5.0) -> None:
        self.store = store
        self.apply = apply
        self.interval_s = interval_s
        self._last: tuple[tuple[str, str, str], ...] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sync(self) -> bool:
        """Apply the users if they changed since the last call; True when it wrote."""
        accounts = tuple(
            (a.name, a.role, a.broker_hash)
            for a in broker_accounts(self.store)
            if a.role in ROLES  # the ladder of hub.store.users; anything else is not a role
        )
        if accounts == self._last:
            return False
        self.apply([BrokerUser(name, role, hashed) for name, role, hashed in accounts])
        self._last = accounts
        log.info("mqtt: broker accounts updated (%d users with a broker secret)", len(accounts))
        return True

    def start(self) -> None:
        """Sync now (errors propagate: a hub whose broker files cannot be written should not
        start), then keep syncing in the background."""
        if self._thread is not None:
            return
        self.sync()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="auasu-mqtt-auth", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(self.interval_s + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sync()
            except Exception:  # the store is down, a disk is full: try again next round
                log.warning("mqtt: broker accounts not synchronised", exc_info=True)


def demo_broker(
    settings: MqttSettings, data_dir: Path
) -> tuple[MqttSettings, MosquittoProcess | None]:
    """Start a private Mosquitto in ``data_dir/mqtt/broker`` and return the settings that point
    the hub at it, with the process (the caller stops it; the hub manages its users). Nothing
    is started when ``settings`` already enable a broker, or when mosquitto is not installed
    (a line on stdout says so, and the demo runs without MQTT)."""
    if settings.enabled:
        return settings, None
    binary = find_mosquitto()
    if binary is None:
        print("auasu: demo without MQTT (mosquitto not installed: apt-get install mosquitto)")
        return settings, None
    # The usual port when it is free, so that mosquitto_sub works without -p; else any.
    port = settings.port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            port = free_port()
    secret = (
        settings.password.get_secret_value()
        if settings.password is not None
        else load_or_create_secret(settings.password_path or data_dir / "mqtt" / "hub.secret")
    )
    hub = BrokerUser.from_secret(settings.username, "admin", secret)
    # No users yet: the hub's BrokerAuthSync hands them over as soon as it starts.
    process = MosquittoProcess(data_dir / "mqtt" / "broker", hub, port=port, binary=binary)
    try:
        process.start()
    except BrokerStartError as exc:
        print(f"auasu: demo without MQTT: {exc}")
        return settings, None
    update = {"enabled": True, "host": process.host, "port": port}
    return settings.model_copy(update=update), process
