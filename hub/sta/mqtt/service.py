"""The hub's one MQTT connection: receives creates, learns subscriptions, publishes notifications.

One paho client (MQTT v5) carries all three, because ``no_local`` -- which keeps the hub from
receiving its own notifications on ``v1.1/Observations`` and then trying to create them again --
only applies to messages published on the same connection.

Connection settings and why:

* fixed client id, ``clean_start=False`` and a session expiry: the broker keeps the hub's
  subscriptions and queues creates (and subscription log lines) while the hub is down;
* QoS 1 subscriptions with manual acks (:mod:`hub.sta.mqtt.bridge` acknowledges after commit);
* a Receive Maximum, so the broker never has more unacknowledged creates in flight to the hub
  than that;
* notifications are QoS 1; while the broker is unreachable paho keeps up to
  ``max_queued_messages`` of them and sends them after reconnecting (with backoff between
  ``reconnect_min_s`` and ``reconnect_max_s``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from hub.sta.mqtt.bridge import CreateBridge, CreateObservation, Inbound
from hub.sta.mqtt.learned import LearnedTopics
from hub.sta.mqtt.metrics import MqttMetrics
from hub.sta.mqtt.notifier import MqttNotifier
from hub.sta.mqtt.settings import TOPIC_PREFIX, MqttSettings
from hub.sta.mqtt.topics import SUBSCRIBE_LOG, UNSUBSCRIBE_LOG, parse_log_line
from hub.store import Store

log = logging.getLogger(__name__)

# 18-088 requirement URIs the extension implements; the service root lists its endpoints
# under each (as FROST-Server does) once the MQTT conformance tests pass.
MQTT_CREATE_REQ = (
    "http://www.opengis.net/spec/iot_sensing/1.1/req/create-observations-via-mqtt/"
    "observations-creation"
)
MQTT_RECEIVE_REQ = (
    "http://www.opengis.net/spec/iot_sensing/1.1/req/receive-updates-via-mqtt/receive-updates"
)
RECEIVE_MAXIMUM = 100
# Fixed header, topic length, packet id and our two properties, rounded up.
PUBLISH_OVERHEAD = 64
# Learned topics are written to their file at most this often while they change.
SAVE_LEARNED_EVERY_S = 30.0


def server_settings(settings: MqttSettings) -> dict[str, Any]:
    """The ``serverSettings`` members that advertise the MQTT endpoints (none when disabled)."""
    if not settings.enabled:
        return {}
    endpoints = settings.advertised_endpoints()
    return {
        MQTT_CREATE_REQ: {"endpoints": list(endpoints)},
        MQTT_RECEIVE_REQ: {"endpoints": list(endpoints)},
    }


class MqttService:
    """Owns the connection, the create bridge, the learned topics and the notifier.

    ``create_observation`` may be None (a read-only hub): then the hub does not subscribe to the
    creation topics and only publishes. ``listen=False`` subscribes to nothing at all, not even
    the broker's subscribe log: a process that only publishes what it committed
    (:mod:`hub.sta.mqtt.oneshot`) and loads its learned topics from the hub's file.
    """

    def __init__(
        self,
        settings: MqttSettings,
        store: Store,
        *,
        root_url: str,
        create_observation: CreateObservation | None = None,
        metrics: MqttMetrics | None = None,
        password: str | None = None,
        listen: bool = True,
    ) -> None:
        self.settings = settings
        self.listen = listen
        self.metrics = metrics or MqttMetrics()
        self.prefix = TOPIC_PREFIX
        self.learned = LearnedTopics(
            max_topics=settings.learned_topics_max,
            max_deep=settings.learned_deep_topics_max,
            expiry_s=settings.learned_topic_expiry_s,
            metrics=self.metrics,
        )
        self.notifier = MqttNotifier(
            store,
            self,
            root_url=settings.service_root_url or root_url,
            learned=self.learned,
            metrics=self.metrics,
            queue_commits=settings.notify_queue_commits,
        )
        self.bridge = (
            CreateBridge(
                create_observation,
                self._acknowledge,
                metrics=self.metrics,
                max_payload_bytes=settings.max_payload_bytes,
            )
            if create_observation is not None
            else None
        )
        # Set once connected *and* subscribed (creates published before that would be lost).
        self.connected = threading.Event()
        self._subscribe_mid: int | None = None
        # Bumped whenever the connection drops: an ack for a message of an earlier connection
        # must not go out on a later one (the packet id may by then belong to another message).
        self._generation = 0
        self._ack_lock = threading.Lock()
        # Notifications handed to paho and not yet acknowledged by the broker (for a clean stop).
        self._unacked = 0
        self._unacked_changed = threading.Condition()
        self._client = self._make_client(password or settings.hub_password())
        self._started = False
        self._next_save = 0.0
        # The generated broker config sets max_packet_size to the same default.
        self._max_packet = settings.max_payload_bytes
        # MQTT v5 subscribers see what the payload is; one shared instance (paho only reads it).
        self._json_properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        self._json_properties.PayloadFormatIndicator = 1  # UTF-8
        self._json_properties.ContentType = "application/json"

    def _make_client(self, password: str) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.username_pw_set(self.settings.username, password)
        client.max_queued_messages_set(self.settings.max_queued_messages)
        # paho takes whole seconds in its type hints but sleeps on floats; tests use fractions.
        client.reconnect_delay_set(
            self.settings.reconnect_min_s,  # type: ignore[arg-type]
            self.settings.reconnect_max_s,  # type: ignore[arg-type]
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.enable_logger(logging.getLogger("hub.sta.mqtt.paho"))
        return client

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (retrying until the broker answers) and start the workers."""
        if self._started:
            return
        self._started = True
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.settings.session_expiry_s
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        if self.settings.learned_topics_path is not None:
            count = self.learned.load(self.settings.learned_topics_path)
            log.info("mqtt: %d learned topics restored", count)
        self.notifier.start()
        if self.bridge is not None:
            self.bridge.start()
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        """Wait until the hub is connected and its subscriptions are in place."""
        return self.connected.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking creates, publish what is queued, disconnect, save the learned topics.

        Messages not yet acknowledged stay in the broker's session for the next start. Stop the
        producers (ingest, HTTP) first: a ``notify`` after this is never published.
        """
        if not self._started:
            return
        self._started = False
        # Creates first: their write path notifies, and those notifications must still go out.
        if self.bridge is not None:
            self.bridge.stop(timeout)
        self.notifier.stop(timeout)
        self._drain_outgoing(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()
        self.metrics.connected.set(0)
        self._save_learned(force=True)

    def _save_learned(self, *, force: bool = False) -> None:
        path = self.settings.learned_topics_path
        if path is None or not (force or self.learned.changed):
            return
        now = time.monotonic()
        if not force and now < self._next_save:
            return
        self._next_save = now + SAVE_LEARNED_EVERY_S
        try:
            self.learned.save(path)
        except OSError as exc:
            log.warning("mqtt: learned topics not saved to %s: %s", path, exc)

    @property
    def unacknowledged(self) -> int:
        """Notifications handed to paho that the broker has not acknowledged (yet)."""
        with self._unacked_changed:
            return self._unacked

    def _drain_outgoing(self, timeout: float) -> None:
        """Give in-flight notifications up to ``timeout`` to be acknowledged by the broker."""
        with self._unacked_changed:
            if self.connected.is_set():
                self._unacked_changed.wait_for(lambda: self._unacked == 0, timeout)

    # --- Publisher ------------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes) -> bool:
        """Publish QoS 1; queued by paho while disconnected. False when its queue is full or
        the message is larger than the broker takes."""
        if len(payload) + len(topic.encode("utf-8")) + PUBLISH_OVERHEAD > self._max_packet:
            # The broker would drop the connection over it, and paho would send it again after
            # every reconnect: refuse it here.
            self.metrics.publishes.labels("too_large").inc()
            log.warning("mqtt: notification on %.200r too large (%d bytes)", topic, len(payload))
            return False
        # Counted before the call: the PUBACK (and _on_publish) can arrive before it returns.
        # Never hold our lock across paho's publish: paho calls _on_publish with its own lock
        # held, and that callback takes ours.
        with self._unacked_changed:
            self._unacked += 1
        info = self._client.publish(topic, payload, qos=1, properties=self._json_properties)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            self._settled()
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.metrics.publishes.labels("sent").inc()
            return True
        if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            self.metrics.publishes.labels("queued").inc()  # kept; sent after reconnecting
            return True
        result = "queue_full" if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE else "error"
        self.metrics.publishes.labels(result).inc()
        return False

    # --- paho callbacks (network thread) --------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("mqtt: broker refused the hub's connection: %s", reason)
            return
        own = SubscribeOptions(qos=1, noLocal=True)
        topics: list[tuple[str, SubscribeOptions]] = []
        if self.listen:
            topics += [
                (SUBSCRIBE_LOG, SubscribeOptions(qos=1)),
                (UNSUBSCRIBE_LOG, SubscribeOptions(qos=1)),
            ]
        if self.bridge is not None:
            topics += [(f"{self.prefix}/Observations", own), (f"{self.prefix}/+/Observations", own)]
        if topics:
            _result, self._subscribe_mid = client.subscribe(topics)
        self.metrics.connects.inc()
        self.metrics.connected.set(1)
        log.info(
            "mqtt: connected to %s:%d (session %s)",
            self.settings.host,
            self.settings.port,
            "resumed" if flags.session_present else "new",
        )
        if not topics:
            self.connected.set()  # nothing to wait for

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            # The ACL file does not grant the hub's account what it needs.
            log.error("mqtt: broker refused the hub's subscriptions: %s", ", ".join(refused))
        self.connected.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._ack_lock:
            self._generation += 1
        self.connected.clear()
        self.metrics.connected.set(0)
        if self._started:
            log.warning("mqtt: disconnected from the broker (%s); reconnecting", reason)

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _mid: int,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            # The ACL or a broker limit refused a notification: a misconfigured broker.
            self.metrics.publishes.labels("refused").inc()
            log.warning("mqtt: broker refused a notification: %s", reason)
        self._settled()

    def _settled(self) -> None:
        with self._unacked_changed:
            self._unacked -= 1
            if self._unacked <= 0:
                self._unacked_changed.notify_all()

    def _on_message(self, client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = ""
        inbound = Inbound(topic, bytes(message.payload), message.mid, message.qos, self._generation)
        try:
            if topic in (SUBSCRIBE_LOG, UNSUBSCRIBE_LOG):
                line = parse_log_line(topic, inbound.payload, self.prefix)
                if line is not None:
                    self.learned.observe(line)
                    self._save_learned()
            elif self.bridge is not None and topic.startswith(self.prefix + "/"):
                self.bridge.submit(inbound)
                return  # acknowledged by the bridge after the create
        except Exception:  # a callback exception would kill paho's network loop
            log.exception("mqtt: error handling a message on %.200r", topic)
        self._acknowledge(inbound)

    def _acknowledge(self, inbound: Inbound) -> None:
        if inbound.qos == 0:
            return
        with self._ack_lock:
            if inbound.generation != self._generation:
                return  # that connection is gone; the broker sends the message again
            self._client.ack(inbound.mid, inbound.qos)
