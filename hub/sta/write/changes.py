"""What one write transaction created and updated, for the commit observers (MQTT notifications).

:func:`hub.sta.write.execute.transact` binds a :class:`ChangeLog` to the connection for the
duration of the work (:func:`tracking`); every place that inserts or updates an entity --
explicit creates, automatic FeaturesOfInterest and HistoricalLocations, observations of a
CreateObservations or ``$batch``, updates, and entities re-linked by a binding -- records it
with :func:`record`. After the commit ``transact`` hands :meth:`ChangeLog.changes` to
:meth:`hub.ingest.pipeline.IngestPipeline.announce`; a rollback discards the log.

The log lives in ``Connection.info`` rather than in an argument because the recording places
(:mod:`.locations`, :mod:`.links`) are plain store helpers that only get a connection. Outside
:func:`tracking` (store tools, tests) :func:`record` does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from hub.ingest.contracts import ChangeEvent, EntityChange

_KEY = "auasu_sta_changes"


class ChangeLog:
    """Entity ids by (entity set, event), in the order first recorded, with the properties
    each update changed."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, ChangeEvent], dict[int, None]] = {}
        # Per updated entity: the properties changed (None: all of them, unknown).
        self._changed: dict[tuple[str, int], frozenset[str] | None] = {}

    def add(
        self,
        entity_set: str,
        ids: Iterable[int],
        event: ChangeEvent,
        changed: Iterable[str] | None = None,
    ) -> None:
        bucket = self._ids.setdefault((entity_set, event), {})
        names = frozenset(changed) if changed is not None else None
        for entity_id in ids:
            bucket[int(entity_id)] = None
            if event == "update":
                key = (entity_set, int(entity_id))
                if key in self._changed:
                    before = self._changed[key]
                    names_now = None if before is None or names is None else before | names
                    self._changed[key] = names_now
                else:
                    self._changed[key] = names

    def changes(self) -> list[EntityChange]:
        """One change per entity set and event (updates grouped by their changed properties).

        An entity created in this transaction is announced once, as a create, even when later
        work of the same transaction updated it: subscribers get its committed state either way.
        """
        created = {
            (entity_set, entity_id)
            for (entity_set, event), ids in self._ids.items()
            if event == "create"
            for entity_id in ids
        }
        found: list[EntityChange] = []
        for (entity_set, event), ids in self._ids.items():
            if event == "create":
                found.append(EntityChange(entity_set, tuple(ids), "create"))
                continue
            groups: dict[frozenset[str] | None, list[int]] = {}
            for entity_id in ids:
                if (entity_set, entity_id) in created:
                    continue
                groups.setdefault(self._changed[(entity_set, entity_id)], []).append(entity_id)
            found += [
                EntityChange(entity_set, tuple(group), "update", names)
                for names, group in groups.items()
            ]
        return found


@contextmanager
def tracking(conn: Connection, log: ChangeLog) -> Iterator[ChangeLog]:
    """Record into ``log`` what runs on ``conn`` inside the block."""
    previous = conn.info.get(_KEY)
    conn.info[_KEY] = log
    try:
        yield log
    finally:
        # Connection.info outlives the checkout (it belongs to the pooled connection).
        if previous is None:
            conn.info.pop(_KEY, None)
        else:
            conn.info[_KEY] = previous


def record(
    conn: Connection,
    entity_set: str,
    ids: Iterable[int],
    event: ChangeEvent,
    changed: Iterable[str] | None = None,
) -> None:
    """Note that the running transaction created or updated these entities."""
    log = conn.info.get(_KEY)
    if isinstance(log, ChangeLog):
        log.add(entity_set, ids, event, changed)
