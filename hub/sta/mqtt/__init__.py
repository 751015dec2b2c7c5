"""The SensorThings MQTT extension (18-088 §14; ``sta.md`` §1.8) on Mosquitto.

Clients subscribe to ``v1.1/...`` topics and receive every creation and update, whether it came
from HTTP, from MQTT or from a device adapter; clients with the ``create`` role publish
Observations to ``v1.1/Observations``, ``v1.1/Datastreams(n)/Observations`` or
``v1.1/FeaturesOfInterest(n)/Observations`` and the hub creates them through the same write path
as HTTP. QoS 1 throughout; persistent sessions get everything across a broker restart.

Modules:

=============  ==================================================================================
``broker``     Mosquitto's password file, ACL file and configuration, generated from the users
``process``    a private Mosquitto process on a free port (tests, ``auasu demo``)
``service``    :class:`MqttService`, the hub's one connection; :func:`server_settings`
``bridge``     received creates → :class:`CreateObservation`; ack after commit
``notifier``   :class:`MqttNotifier`: committed changes → published entities
``learned``    ``$select`` and long-path topics learned from Mosquitto's subscribe log
``topics``     topic grammar (on :mod:`hub.sta.paths` and :mod:`hub.sta.options`)
``settings``   :class:`MqttSettings`, the ``[mqtt]`` configuration table
``wiring``     the running hub's side: write path adapter, broker account sync, service root,
               ``auasu demo``'s private broker
``oneshot``    notifications published by another process after its commit
               (``auasu stations import``), through the same notifier
=============  ==================================================================================

Wiring (done by ``hub.server.HubServer`` when ``[mqtt] enabled``)::

    service = MqttService(settings, store, root_url=public_root,   # http://host:port/v1.1
                          create_observation=WritePathCreate(store, pipeline, ...),
                          metrics=MqttMetrics(hub_metrics.registry))
    pipeline.add_observer(service.notifier)   # MqttNotifier.committed(changes) after commits
    BrokerAuthSync(store, apply).start()      # passwd/acl follow the users; broker reloaded
    service.start()                           # connects in the background, retries until it can
    ...
    service.stop()                            # after ingest and HTTP: publishes what is queued

Every producer announces **after** its transaction committed, with every entity the commit
created or updated, including the ones created implicitly (an automatic FeatureOfInterest, a
HistoricalLocation): the ingest pipeline for device batches and for the Datastreams and
ObservedProperties it creates when a logger first reports a factor, the SensorThings write path
(:mod:`hub.sta.write.changes`) for HTTP, ``$batch`` and MQTT writes, both through
:meth:`hub.ingest.pipeline.IngestPipeline.announce`; ``auasu stations import``, a process of
its own, publishes its commit itself (:mod:`hub.sta.mqtt.oneshot`). The notifier only queues (it
never blocks and never raises for a full queue). The bridge does not notify on its own: MQTT
creates reach subscribers because the write path it calls announces them.

The service root advertises the endpoints with :func:`server_settings` (two members keyed by the
MQTT requirement URIs, each ``{"endpoints": ["mqtt://host:port"]}``);
:func:`hub.sta.mqtt.wiring.mqtt_server_settings` gives them for the current Flask app.

Limits worth knowing:

* The broker, not the hub, refuses unauthorised publishes: an MQTT v5 client gets PUBACK 135
  (not authorised); an MQTT 3.1.1 client cannot be told and its message is silently dropped.
* A create's own PUBLISH is forwarded by the broker to whoever subscribed to that exact topic,
  next to the hub's notification of the stored entity (only the latter has ``@iot.id``).
* One MQTT-enabled hub per broker: the hub's session is keyed by its fixed client id, and a
  shared subscription cannot spread creates over several hubs because MQTT forbids ``no_local``
  on shared subscriptions.
* Deletes are not published (18-088 §14 defines no notification for them).
* Mosquitto writes its state every ``autosave_interval`` and on a clean stop; a broker *crash*
  loses the QoS 1 messages queued since the last save.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.sta.mqtt.bridge import CreateBridge, CreateObservation, CreateOutcome
    from hub.sta.mqtt.broker import (
        BrokerOptions,
        BrokerUser,
        generate_secret,
        hash_password,
        write_auth_files,
        write_broker_config,
    )
    from hub.sta.mqtt.learned import LearnedTopics
    from hub.sta.mqtt.metrics import MqttMetrics
    from hub.sta.mqtt.notifier import Change, MqttNotifier
    from hub.sta.mqtt.process import MosquittoProcess, find_mosquitto
    from hub.sta.mqtt.service import MQTT_CREATE_REQ, MQTT_RECEIVE_REQ, MqttService, server_settings
    from hub.sta.mqtt.settings import MqttSettings

# Where each public name lives. Loaded on first use, so that the configuration (which needs
# only ``settings``) does not pull paho and the SensorThings query machinery into every command.
_HOMES = {
    "CreateBridge": "bridge",
    "CreateObservation": "bridge",
    "CreateOutcome": "bridge",
    "BrokerOptions": "broker",
    "BrokerUser": "broker",
    "generate_secret": "broker",
    "hash_password": "broker",
    "write_auth_files": "broker",
    "write_broker_config": "broker",
    "LearnedTopics": "learned",
    "MqttMetrics": "metrics",
    "Change": "notifier",
    "MqttNotifier": "notifier",
    "MosquittoProcess": "process",
    "find_mosquitto": "process",
    "MQTT_CREATE_REQ": "service",
    "MQTT_RECEIVE_REQ": "service",
    "MqttService": "service",
    "server_settings": "service",
    "MqttSettings": "settings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "MQTT_CREATE_REQ",
    "MQTT_RECEIVE_REQ",
    "BrokerOptions",
    "BrokerUser",
    "Change",
    "CreateBridge",
    "CreateObservation",
    "CreateOutcome",
    "LearnedTopics",
    "MosquittoProcess",
    "MqttMetrics",
    "MqttNotifier",
    "MqttService",
    "MqttSettings",
    "find_mosquitto",
    "generate_secret",
    "hash_password",
    "server_settings",
    "write_auth_files",
    "write_broker_config",
]
