"""Prometheus figures of the MQTT extension, registered into the hub's registry.

``auasu_mqtt_creates_total{outcome}`` counts PUBLISHes to creation topics by what became of
them: ``created``, ``rejected`` (the write path refused the Observation), ``bad_topic``,
``bad_payload`` (not a JSON object, or too large) and ``failed`` (the write path raised until
the bridge gave up). Notifications count entities queued, commits dropped when the queue was
full, and every PUBLISH the hub attempted by result.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class MqttMetrics:
    """The counters and gauges of one hub's MQTT bridge and notifier."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.connected = Gauge(
            "auasu_mqtt_connected", "1 while connected to the broker", registry=r
        )
        self.connects = Counter(
            "auasu_mqtt_connects_total", "Successful (re)connections to the broker", registry=r
        )
        self.creates = Counter(
            "auasu_mqtt_creates_total",
            "PUBLISHes on Observation creation topics, by outcome",
            ["outcome"],
            registry=r,
        )
        self.create_retries = Counter(
            "auasu_mqtt_create_retries_total",
            "Creates retried because the write path could not commit",
            registry=r,
        )
        self.notified = Counter(
            "auasu_mqtt_notified_entities_total",
            "Created or updated entities handed to the notifier",
            registry=r,
        )
        self.notify_dropped = Counter(
            "auasu_mqtt_notify_dropped_entities_total",
            "Entities not notified because the notifier queue was full",
            registry=r,
        )
        self.notify_queue = Gauge(
            "auasu_mqtt_notify_queue_commits", "Commits waiting for the notifier", registry=r
        )
        self.publishes = Counter(
            "auasu_mqtt_publishes_total",
            "Notification PUBLISHes the hub attempted, by result",
            ["result"],
            registry=r,
        )
        self.learned_topics = Gauge(
            "auasu_mqtt_learned_topics",
            "Subscription topics learned from the broker's log ($select and long paths)",
            registry=r,
        )
        self.learned_refused = Counter(
            "auasu_mqtt_learned_refused_total",
            "Subscriptions not learned, by reason (invalid, cap, deep_cap)",
            ["reason"],
            registry=r,
        )
