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
=============  ==================================================================================

Wiring (for ``hub.server``)::

    service = MqttService(config.mqtt, store, root_url=public_root + "/v1.1",
                          create_observation=write_path_for_mqtt,   # (path, payload) -> outcome
                          metrics=MqttMetrics(hub_metrics.registry))
    service.start()                      # connects in the background, retries until it can
    ...
    service.notifier.notify("Observations", new_ids, "create")          # after each commit
    service.notifier.notify_batch([Change("Things", (1,), "update", frozenset({"name"})),
                                   Change("HistoricalLocations", (7,), "create")])
    ...
    service.stop()                       # publishes what is queued, then disconnects

Producers call the notifier **after** their transaction committed, with every entity the commit
created or updated, including the ones created implicitly (an automatic FeatureOfInterest, a
HistoricalLocation); ``notify`` never blocks and never raises for a full queue. The bridge does
not notify on its own: MQTT creates reach subscribers because the write path it calls notifies.

The service root advertises the endpoints with :func:`server_settings` (two members keyed by the
MQTT requirement URIs, each ``{"endpoints": ["mqtt://host:port"]}``).

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
