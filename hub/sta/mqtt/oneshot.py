"""MQTT notifications from a process that is not the running hub (``auasu stations import``).

A registry import runs in its own short-lived process and commits straight to the store, so the
hub's MQTT connection never learns of the Things, Locations, HistoricalLocations, Sensors and
FeaturesOfInterest it created or changed. The choice made here: when the hub's configuration
enables MQTT, that process publishes the notifications itself, after its commit, with the hub's
own notifier (:class:`~hub.sta.mqtt.notifier.MqttNotifier`, through a publish-only
:class:`~hub.sta.mqtt.service.MqttService`), so subscribers get exactly what the hub would have
sent for the same commit. (Telling the hub instead -- a table it polls, a control topic -- would
add a moving part that the hub must keep running for an event this rare.)

How that process connects, and why:

* with the hub's broker account (``[mqtt] username`` and ``password`` or ``password_path``,
  by default ``<data_dir>/mqtt/hub.secret``): only that account may publish notifications. A
  missing secret file is *not* created here, as the hub does on its first start: the broker
  would not know a fresh one;
* with a client id of its own (``<client_id>-cli-<pid>``): connecting with the hub's fixed id
  would take over, and so end, the hub's session;
* with a session that ends on disconnect, no subscriptions and no create bridge;
* with the ``$select`` and long-path topics the hub learned (read from its file, never written
  back), so those subscribers are served too; selfLinks use ``[mqtt] service_root_url``, else
  the configured HTTP listener, as the hub's do.

The import is committed before any of this starts, so a broker that cannot be reached (or does
not acknowledge within the timeout) costs only the notifications: :func:`publish_changes` says
so in its result and the command still succeeds. Subscribers who missed them see the changes on
their next read. Observation topics are never published here: the hub subscribes to them for
creates and would take such a message for one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.config import HubConfig
from hub.ingest.contracts import EntityChange
from hub.sta.mqtt.metrics import MqttMetrics
from hub.sta.mqtt.service import MqttService
from hub.sta.mqtt.settings import MqttSettings
from hub.store import Store

CONNECT_TIMEOUT_S = 5.0
PUBLISH_TIMEOUT_S = 10.0
# The one entity set whose topics the hub also subscribes to (Observation creates).
_NEVER_PUBLISHED = frozenset({"Observations"})


@dataclass(frozen=True, slots=True)
class OneShotResult:
    """What became of one commit's notifications: ``published`` when the broker accepted every
    message, ``messages`` how many it accepted; ``message`` is one line for the operator."""

    published: bool
    messages: int
    message: str


def public_root(config: HubConfig, http_port: int | None = None) -> str:
    """The service root in selfLinks: ``[mqtt] service_root_url``, else the HTTP listener
    (``http_port``, when the listener's actual port is known, else the configured one)."""
    configured = config.mqtt.service_root_url
    if configured is not None:
        return configured
    host = config.http.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # a wildcard is not an address; set service_root_url instead
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.http.port if http_port is None else http_port}/v1.1"


def client_settings(config: HubConfig) -> MqttSettings:
    """The hub's ``[mqtt]`` settings as a one-shot publisher uses them (see the module)."""
    settings = config.mqtt
    suffix = f"-cli-{os.getpid()}"
    return settings.model_copy(
        update={
            "client_id": settings.client_id[: 64 - len(suffix)] + suffix,
            "session_expiry_s": 0,
            "learned_topics_path": None,  # the hub's file is read below, never written
            "password_path": settings.password_path or _mqtt_dir(config) / "hub.secret",
        }
    )


def publish_changes(
    config: HubConfig,
    store: Store,
    changes: Sequence[EntityChange],
    *,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    publish_timeout_s: float = PUBLISH_TIMEOUT_S,
) -> OneShotResult:
    """Publish the notifications of ``changes`` (one committed transaction) to the broker of
    ``config``; call only after the commit. Never raises for the broker's sake."""
    changes = [c for c in changes if c.ids and c.entity_set not in _NEVER_PUBLISHED]
    if not changes:
        return OneShotResult(True, 0, "mqtt: nothing to notify")
    settings = client_settings(config)
    where = f"mqtt://{settings.host}:{settings.port}"
    password = _hub_password(settings)
    if password is None:
        return OneShotResult(
            False,
            0,
            f"mqtt: notifications not published: no broker secret for {settings.username!r} "
            f"at {settings.password_path} (start the hub once, or set [mqtt] password)",
        )
    metrics = MqttMetrics()
    service = MqttService(
        settings,
        store,
        root_url=public_root(config),
        metrics=metrics,
        password=password,
        listen=False,
    )
    learned_path = config.mqtt.learned_topics_path or _mqtt_dir(config) / "learned-topics.json"
    service.learned.load(learned_path)
    service.start()
    try:
        if not service.wait_connected(connect_timeout_s):
            return OneShotResult(
                False,
                0,
                f"mqtt: notifications not published: no connection to {where} within "
                f"{connect_timeout_s:g} s",
            )
        service.notifier.committed(changes)
        flushed = service.notifier.flush(publish_timeout_s)
    finally:
        service.stop(publish_timeout_s)
    # Handed to paho (sent, or queued while the connection had dropped), then acknowledged by
    # the broker (accepted, or refused by its ACL); or not even handed over.
    handed = _publishes(metrics, "sent") + _publishes(metrics, "queued")
    accepted = handed - service.unacknowledged - _publishes(metrics, "refused")
    dropped = sum(_publishes(metrics, r) for r in ("too_large", "queue_full", "error"))
    if not flushed or dropped or accepted < handed:
        return OneShotResult(
            False,
            accepted,
            f"mqtt: only {accepted} of {handed + dropped} notifications accepted by {where}",
        )
    return OneShotResult(True, accepted, f"mqtt: {accepted} notifications published to {where}")


def _publishes(metrics: MqttMetrics, result: str) -> int:
    value = metrics.registry.get_sample_value("auasu_mqtt_publishes_total", {"result": result})
    return int(value or 0)


def _mqtt_dir(config: HubConfig) -> Path:
    """Where the hub keeps its MQTT files by default (``HubServer.mqtt_settings``)."""
    return config.data_dir / "mqtt"


def _hub_password(settings: MqttSettings) -> str | None:
    """The hub's broker secret, read only: None when it is nowhere to be found."""
    if settings.password is not None:
        return settings.password.get_secret_value()
    assert settings.password_path is not None  # client_settings fills it in
    try:
        text = settings.password_path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None
