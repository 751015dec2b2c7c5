"""The topics clients subscribed to that the notifier cannot derive on its own.

Entity-set, entity and property topics are fixed by each changed entity, so the notifier simply
publishes to them. ``$select`` topics (``v1.1/Datastreams(1)/Observations?$select=result``) and
longer paths (``v1.1/Observations(7)/Datastream/Thing``) are not: MQTT delivers only to exact
topic matches, so the hub has to know the exact text a client subscribed to. Mosquitto tells
it: with ``log_dest topic`` and ``log_type subscribe``/``unsubscribe`` every SUBSCRIBE and
UNSUBSCRIBE is published on ``$SYS/broker/log/M/...`` (readable by the hub's account only).

:class:`LearnedTopics` keeps what those lines teach, in memory, bounded:

* at most ``max_topics`` topics (``max_deep`` of them long paths, which each cost a query per
  notified batch); a subscription beyond the cap is refused and counted, never evicting one
  learned earlier (anyone may subscribe, so anyone can fill the cap: the counter
  ``auasu_mqtt_learned_refused_total{reason="cap"}`` is the thing to alert on);
* a topic is dropped when its last known subscriber unsubscribes, or ``expiry_s`` after the last
  SUBSCRIBE seen for it. Mosquitto does not log session ends, so a subscriber that keeps a
  persistent session for longer than the expiry should subscribe again now and then (most
  clients do on every reconnect).

Across hub restarts: :meth:`LearnedTopics.save` writes the registry to a JSON file (the service
does so on stop and at most every 30 s while it changes) and :meth:`~LearnedTopics.load` reads
it back, re-validating every topic; the broker queues the log lines of subscriptions made while
the hub was down (QoS 2, the hub's persistent session), so those are learned on reconnect.
Without the file a restarted hub knows only what clients subscribe to from then on.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.sta.mqtt.metrics import MqttMetrics
from hub.sta.mqtt.settings import TOPIC_PREFIX
from hub.sta.mqtt.topics import (
    LogLine,
    Subscription,
    TopicError,
    parse_subscription,
    strip_shared,
)

log = logging.getLogger(__name__)

# Per topic; beyond it further subscribers only refresh the topic's expiry.
MAX_CLIENTS_PER_TOPIC = 1000


@dataclass(slots=True)
class _Entry:
    subscription: Subscription
    clients: set[str] = field(default_factory=set)
    last_seen: float = 0.0


class LearnedTopics:
    """Thread-safe registry of learned subscription topics (written by the MQTT network thread,
    read by the notifier thread)."""

    def __init__(
        self,
        *,
        max_topics: int = 10_000,
        max_deep: int = 100,
        expiry_s: float = 7 * 86_400,
        prefix: str = TOPIC_PREFIX,
        metrics: MqttMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_topics = max_topics
        self.max_deep = max_deep
        self.expiry_s = expiry_s
        self.prefix = prefix
        self.metrics = metrics
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._deep = 0
        self._next_expiry_scan = 0.0
        # Set by every change, cleared by save(): whether the file is behind.
        self.changed = False
        # Indexes the notifier reads: path text -> $select topics on it; entity -> long paths.
        self._by_path: dict[str, dict[str, Subscription]] = {}
        self._deep_by_entity: dict[str, dict[str, Subscription]] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def observe(self, line: LogLine) -> None:
        """Apply one subscribe/unsubscribe log line."""
        if line.subscribed:
            self.subscribed(line.client_id, line.topic)
        else:
            self.unsubscribed(line.client_id, line.topic)

    def subscribed(self, client_id: str, topic: str, *, age_s: float = 0.0) -> bool:
        """Record a subscription (seen ``age_s`` ago); False when the topic is not one to learn,
        or the cap is hit."""
        try:
            subscription = parse_subscription(topic, self.prefix)
        except TopicError as exc:
            if "+" not in topic and "#" not in topic:
                # Wildcards are normal ("v1.1/#"); a malformed STA topic is worth a line.
                log.info("mqtt: ignoring subscription %.200r: %s", topic, exc)
                self._refused("invalid")
            return False
        if subscription.direct:
            return False  # published to anyway
        now = self._clock()
        with self._lock:
            self._expire(now)
            entry = self._entries.get(subscription.topic)
            if entry is None:
                deep = subscription.deep
                if len(self._entries) >= self.max_topics or (deep and self._deep >= self.max_deep):
                    reason = "deep_cap" if deep and self._deep >= self.max_deep else "cap"
                    log.warning("mqtt: not learning %.200r: %s reached", topic, reason)
                    self._refused(reason)
                    return False
                entry = _Entry(subscription)
                self._add(entry)
            if len(entry.clients) < MAX_CLIENTS_PER_TOPIC:
                entry.clients.add(client_id)
            entry.last_seen = max(entry.last_seen, now - age_s)
            self.changed = True
            self._gauge()
        return True

    def unsubscribed(self, client_id: str, topic: str) -> None:
        """Forget ``client_id`` on ``topic``; the topic goes when nobody known is left."""
        with self._lock:
            key = strip_shared(topic)
            entry = self._entries.get(key)
            if entry is None:
                return
            entry.clients.discard(client_id)
            if not entry.clients:
                self._remove(key)
            self.changed = True
            self._gauge()

    def select_topics(self, path_text: str) -> list[Subscription]:
        """The learned ``$select`` topics on the one-hop path ``path_text``."""
        with self._lock:
            self._expire(self._clock())
            found = self._by_path.get(path_text)
            return list(found.values()) if found else []

    def deep_topics(self, entity_name: str) -> list[Subscription]:
        """The learned long-path topics that report changes of ``entity_name``."""
        with self._lock:
            self._expire(self._clock())
            found = self._deep_by_entity.get(entity_name)
            return list(found.values()) if found else []

    # --- persistence ------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write every learned topic with its subscribers and age to ``path`` (atomically)."""
        now = self._clock()
        with self._lock:
            entries = [
                {"topic": t, "clients": sorted(e.clients), "age_s": round(now - e.last_seen, 1)}
                for t, e in self._entries.items()
            ]
            self.changed = False
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"version": 1, "topics": entries}), encoding="utf-8")
        os.replace(temporary, path)

    def load(self, path: Path) -> int:
        """Learn the topics saved in ``path`` again (each re-validated, caps and expiry applied);
        the number learned. A missing or unreadable file is an empty registry."""
        try:
            document: Any = json.loads(path.read_text(encoding="utf-8"))
            entries = document["topics"] if isinstance(document, dict) else []
        except (OSError, ValueError, KeyError) as exc:
            if not isinstance(exc, FileNotFoundError):
                log.warning("mqtt: learned topics in %s not read: %s", path, exc)
            return 0
        learned = 0
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("topic"), str):
                continue
            age = entry.get("age_s")
            age_s = float(age) if isinstance(age, int | float) else 0.0
            if age_s > self.expiry_s:
                continue
            clients = [c for c in entry.get("clients", []) if isinstance(c, str)] or ["?"]
            ok = [self.subscribed(client, entry["topic"], age_s=age_s) for client in clients]
            learned += any(ok)
        self.changed = False
        return learned

    # --- internals (called with the lock held) ---------------------------------------------------

    def _add(self, entry: _Entry) -> None:
        sub = entry.subscription
        self._entries[sub.topic] = entry
        if sub.deep:
            self._deep += 1
            self._deep_by_entity.setdefault(sub.entity_name, {})[sub.topic] = sub
        else:
            self._by_path.setdefault(sub.path_text, {})[sub.topic] = sub

    def _remove(self, topic: str) -> None:
        sub = self._entries.pop(topic).subscription
        if sub.deep:
            self._deep -= 1
            index, key = self._deep_by_entity, sub.entity_name
        else:
            index, key = self._by_path, sub.path_text
        bucket = index.get(key, {})
        bucket.pop(topic, None)
        if not bucket:
            index.pop(key, None)

    def _expire(self, now: float) -> None:
        # A full scan, so not on every lookup: often enough that expiry is late by at most a
        # tenth of its period (and a minute).
        if now < self._next_expiry_scan:
            return
        self._next_expiry_scan = now + min(60.0, self.expiry_s / 10)
        stale = [t for t, e in self._entries.items() if now - e.last_seen > self.expiry_s]
        for topic in stale:
            self._remove(topic)
        if stale:
            log.info("mqtt: %d learned topics expired", len(stale))
            self._gauge()

    def _refused(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.learned_refused.labels(reason).inc()

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.learned_topics.set(len(self._entries))
