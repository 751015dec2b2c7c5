"""Creations and updates published to MQTT subscribers (18-088 §14.2; ``sta.md`` §1.8).

Whoever commits entities -- the ingest pipeline after each batch, the HTTP write path after each
request, the MQTT create bridge through that write path -- calls :meth:`MqttNotifier.notify`
(or :meth:`~MqttNotifier.notify_batch` with everything one commit changed) *after the commit*.
That only queues the ids (bounded; a full queue drops and counts, it never blocks ingest); a
background thread loads the entities from the store, serialises them exactly as
``GET /v1.1/...`` does, and publishes QoS 1 to:

==========================================  ====================  ===========================
topic                                       when                  payload
==========================================  ====================  ===========================
``v1.1/Observations``                       create, update        the entity
``v1.1/Datastreams(5)/Observations``,       create, update        the entity
``v1.1/FeaturesOfInterest(9)/Observations``
(every one-hop collection it belongs to)
``v1.1/Observations(123)``                  update                the entity
``v1.1/Observations(123)/result``           update (of result)    ``{"result": ...}``
learned ``...?$select=a,b`` on the above    as the topic above    the selected properties
learned longer paths                        as their kind         as their kind
(``v1.1/Observations(7)/Datastream``)
==========================================  ====================  ===========================

Entity and property topics report changes of an existing entity, as 18-088 §14.2.2-14.2.3
describe them; nobody can have subscribed to an entity's own topic before it existed, so creates
skip them and ingest publishes two or three messages per observation instead of ten.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, select

from hub.ingest.contracts import EntityChange
from hub.sta.columns import TABLES, Link, entity_table
from hub.sta.entities import EntityType, UnknownEntity, entity_by_name, entity_by_set
from hub.sta.mqtt.learned import LearnedTopics
from hub.sta.mqtt.metrics import MqttMetrics
from hub.sta.mqtt.settings import TOPIC_PREFIX
from hub.sta.mqtt.topics import Subscription
from hub.sta.observed_area import observed_areas
from hub.sta.query import base_conditions
from hub.sta.serialize import Extras, entity_json
from hub.store import Store
from hub.store.queries import datastream_extent

log = logging.getLogger(__name__)

Event = Literal["create", "update"]
# Ids per SELECT ... WHERE id IN (...): well under every driver's bound-parameter limit.
_CHUNK = 500
# Commits merged into one round of loading and publishing when the queue is backed up.
_MERGE = 100
_DROP_LOG_EVERY_S = 10.0


class Publisher(Protocol):
    """Sends one QoS 1 message; False when it could not even be queued (counted by the caller)."""

    def publish(self, topic: str, payload: bytes) -> bool: ...


@dataclass(frozen=True, slots=True)
class Change:
    """Entities of one entity set that one commit created or updated.

    ``changed`` names the properties an update changed (property topics are published for those
    only); None means unknown, i.e. all of them.
    """

    entity_set: str
    ids: tuple[int, ...]
    event: Event
    changed: frozenset[str] | None = None

    def __post_init__(self) -> None:
        entity_by_set(self.entity_set)  # UnknownEntity for a typo, at the caller
        if self.event not in ("create", "update"):
            raise ValueError(f"event must be 'create' or 'update', not {self.event!r}")


class MqttNotifier:
    """Queue of committed changes and the thread that publishes them."""

    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        *,
        root_url: str,
        learned: LearnedTopics | None = None,
        metrics: MqttMetrics | None = None,
        prefix: str = TOPIC_PREFIX,
        queue_commits: int = 10_000,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.root_url = root_url.rstrip("/")
        self.learned = learned
        self.metrics = metrics or MqttMetrics()
        self.prefix = prefix
        self._queue: queue.Queue[tuple[Change, ...] | None] = queue.Queue(maxsize=queue_commits)
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._last_drop_log = 0.0

    # --- producer API -------------------------------------------------------------------------

    def notify(
        self,
        entity_set: str,
        ids: Sequence[int],
        event: Event,
        *,
        changed: Iterable[str] | None = None,
    ) -> bool:
        """Queue one entity set's committed changes; False when the queue was full (dropped)."""
        frozen = frozenset(changed) if changed is not None else None
        return self.notify_batch([Change(entity_set, tuple(ids), event, frozen)])

    def committed(self, changes: Sequence[EntityChange]) -> None:
        """:class:`hub.ingest.contracts.CommitObserver`: queue what one commit changed (the
        ingest pipeline and the SensorThings write path call this after their commits)."""
        self.notify_batch(
            [
                Change(change.entity_set, change.ids, change.event, change.changed)
                for change in changes
            ]
        )

    def notify_batch(self, changes: Sequence[Change]) -> bool:
        """Queue everything one commit changed; never blocks. False when dropped (counted)."""
        batch = tuple(change for change in changes if change.ids)
        if not batch:
            return True
        count = sum(len(change.ids) for change in batch)
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self._done(1)
            self.metrics.notify_dropped.inc(count)
            now = time.monotonic()
            if now - self._last_drop_log >= _DROP_LOG_EVERY_S:
                self._last_drop_log = now
                log.warning("mqtt: notifier queue full, notifications dropped")
            return False
        self.metrics.notified.inc(count)
        self.metrics.notify_queue.set(self._queue.qsize())
        return True

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="auasu-mqtt-notify", daemon=True)
            self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far has been handed to the publisher."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Publish what is queued (up to ``timeout``), then stop the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.flush(timeout)
        # If flush timed out with a full queue, the daemon thread dies with the process.
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=1.0)
        thread.join(timeout)

    # --- worker ---------------------------------------------------------------------------------

    def _done(self, commits: int) -> None:
        with self._idle:
            self._pending -= commits
            if self._pending <= 0:
                self._idle.notify_all()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batches = [first]
            while len(batches) < _MERGE:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # seen after this round
                    break
                batches.append(more)
            self.metrics.notify_queue.set(self._queue.qsize())
            try:
                self._publish_all([change for batch in batches for change in batch])
            except Exception:  # a bad round must not end notifications for good
                log.exception("mqtt: notifications of %d commits lost", len(batches))
            finally:
                self._done(len(batches))

    def _publish_all(self, changes: list[Change]) -> None:
        with self.store.engine.connect() as conn:
            extras = Extras(
                lambda ds: datastream_extent(conn, ds),
                observed_areas=lambda ids, multi: observed_areas(conn, ids, multi=multi),
                hub_root=self.root_url.removesuffix("/v1.1"),
            )
            for change in changes:
                entity = entity_by_set(change.entity_set)
                if entity.name not in TABLES:
                    continue
                for start in range(0, len(change.ids), _CHUNK):
                    ids = change.ids[start : start + _CHUNK]
                    for topic, payload in self._messages(conn, entity, ids, change, extras):
                        self.publisher.publish(topic, payload)

    def _messages(
        self,
        conn: Connection,
        entity: EntityType,
        ids: Sequence[int],
        change: Change,
        extras: Extras,
    ) -> Iterator[tuple[str, bytes]]:
        table: Any = entity_table(entity).table
        found = conn.execute(select(table).where(table.c.id.in_(ids)))
        rows: dict[int, Any] = {r.id: r._mapping for r in found}
        if not rows:
            return
        parents = _parent_paths(conn, entity, list(rows))
        update = change.event == "update"
        for entity_id, row in rows.items():
            full = entity_json(entity, row, self.root_url, (), extras)
            body = _dumps(full)
            paths = [entity.set_name, *parents.get(entity_id, ())]
            if update:
                paths.append(f"{entity.set_name}({entity_id})")
            for path in paths:
                yield self._topic(path), body
                yield from self._selected(path, entity, row, extras)
            if update:
                for name, value in _properties(full, change.changed):
                    yield (
                        self._topic(f"{entity.set_name}({entity_id})/{name}"),
                        _dumps({name: value}),
                    )
        yield from self._deep(conn, entity, rows, change, extras)

    def _selected(
        self, path: str, entity: EntityType, row: Mapping[str, Any], extras: Extras
    ) -> Iterator[tuple[str, bytes]]:
        if self.learned is None:
            return
        for sub in self.learned.select_topics(path):
            yield sub.topic, _dumps(entity_json(entity, row, self.root_url, sub.select, extras))

    def _deep(
        self,
        conn: Connection,
        entity: EntityType,
        rows: Mapping[int, Mapping[str, Any]],
        change: Change,
        extras: Extras,
    ) -> Iterator[tuple[str, bytes]]:
        """Learned long paths: which of ``rows`` each one addresses, asked of the database."""
        if self.learned is None:
            return
        table: Any = entity_table(entity).table
        for sub in self.learned.deep_topics(entity.name):
            if sub.kind != "collection" and change.event != "update":
                continue
            wanted = sub.path.property.name if sub.path.property is not None else None
            if wanted is not None and change.changed is not None and wanted not in change.changed:
                continue
            found = conn.execute(
                select(table.c.id).where(table.c.id.in_(list(rows)), *base_conditions(sub.path))
            )
            for (entity_id,) in found:
                yield sub.topic, self._deep_payload(sub, entity, rows[entity_id], extras)

    def _deep_payload(
        self, sub: Subscription, entity: EntityType, row: Mapping[str, Any], extras: Extras
    ) -> bytes:
        if sub.path.property is None:
            return _dumps(entity_json(entity, row, self.root_url, sub.select, extras))
        name = sub.path.property.name
        full = entity_json(entity, row, self.root_url, (name,), extras)
        return _dumps({name: full.get(name)})

    def _topic(self, path: str) -> str:
        return f"{self.prefix}/{path}"


def _dumps(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _properties(
    full: Mapping[str, Any], changed: frozenset[str] | None
) -> Iterator[tuple[str, Any]]:
    """The entity's own properties (no control information, no navigation links)."""
    for name, value in full.items():
        if name.startswith("@") or "@" in name:
            continue
        if changed is None or name in changed:
            yield name, value


@functools.cache
def _parent_links(entity_name: str) -> tuple[tuple[str, str, Link], ...]:
    """(parent entity set, navigation name, link) for each to-many navigation that lists
    ``entity_name`` entities: ``("Datastreams", "Observations", reverse datastream_id)``."""
    found: list[tuple[str, str, Link]] = []
    for parent_name, storage in TABLES.items():
        try:
            parent = entity_by_name(parent_name)
        except UnknownEntity:
            continue
        for nav in parent.navigations:
            hop = storage.links.get(nav.name)
            if nav.to_many and nav.target.name == entity_name and hop is not None:
                found.append((parent.set_name, nav.name, hop))
    return tuple(found)


def _parent_paths(conn: Connection, entity: EntityType, ids: list[int]) -> dict[int, list[str]]:
    """For each id, the one-hop collection paths it belongs to (``Datastreams(5)/Observations``)."""
    paths: dict[int, list[str]] = defaultdict(list)
    links = _parent_links(entity.name)
    if not links:
        return paths
    table: Any = entity_table(entity).table
    reverse = [(s, n, h) for s, n, h in links if h.kind == "reverse"]
    if reverse:
        columns = [table.c.id, *(table.c[h.column] for _s, _n, h in reverse)]
        for row in conn.execute(select(*columns).where(table.c.id.in_(ids))):
            for (parent_set, nav, _hop), parent_id in zip(reverse, row[1:], strict=True):
                if parent_id is not None:
                    paths[row[0]].append(f"{parent_set}({parent_id})/{nav}")
    for parent_set, nav, hop in links:
        if hop.kind != "through" or hop.through is None:
            continue
        via: Any = hop.through
        query = select(via.c[hop.target_key], via.c[hop.source_key]).where(
            via.c[hop.target_key].in_(ids)
        )
        for entity_id, parent_id in conn.execute(query):
            paths[entity_id].append(f"{parent_set}({parent_id})/{nav}")
    return paths
