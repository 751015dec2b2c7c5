"""The hub's store: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL + PostGIS.

:class:`Store` is the one object the rest of the hub talks to; the modules beside it hold the
schema, migrations and the SQL for each concern.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

from adapters.base import Aggregation, DeviceProfile
from hub.mapping import ObservedPropertyDef
from hub.model.registry import StationRecord
from hub.store import queries, registry
from hub.store.batches import (
    BatchSummary,
    FrameIssue,
    FrameRecord,
    ObservationRow,
    pending_frames,
    reject_frames,
    write_batch,
)
from hub.store.engine import StoreError, default_url, make_engine
from hub.store.migrations import LATEST_VERSION, current_version, migrate
from hub.store.queries import QuarantineEntry, StationStats
from hub.store.registry import StationEntities
from hub.store.sealing import BatchSealer

__all__ = [
    "LATEST_VERSION",
    "BatchSummary",
    "FrameIssue",
    "FrameRecord",
    "ObservationRow",
    "QuarantineEntry",
    "StationEntities",
    "StationStats",
    "Store",
    "StoreError",
    "default_url",
]


class Store:
    """The hub's persistent state. Thread-safe; each call runs in its own transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(sqlite_immediate=True)
        self._datastreams: dict[tuple[str, str, str], tuple[int, int]] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True) -> Store:
        """Connect and (by default) bring the schema up to date."""
        store = cls(make_engine(url))
        if migrate_schema:
            migrate(store.engine)
        return store

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return current_version(conn)

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # any driver error means "not ready"
            return False
        return True

    def import_stations(self, records: Sequence[StationRecord]) -> list[StationEntities]:
        """Create or update stations and their SensorThings entities, all or nothing."""
        now = datetime.now(UTC)
        with self._writer.begin() as conn:
            entities = [registry.upsert_station(conn, record, now) for record in records]
        with self._lock:
            self._datastreams.clear()  # a moved station has a new feature of interest
        return entities

    def stations(self) -> list[StationRecord]:
        with self.engine.connect() as conn:
            return registry.station_records(conn)

    def device_profiles(self) -> list[DeviceProfile]:
        return [p for p in (r.device_profile() for r in self.stations()) if p is not None]

    def ensure_datastream(
        self,
        station_key: str,
        definition: ObservedPropertyDef,
        aggregation: Aggregation,
        factor: str,
    ) -> tuple[int, int]:
        """(datastream id, feature-of-interest id), created on first use; KeyError when the
        station is not registered."""
        self.ensure_datastreams([(station_key, definition, aggregation, factor)])
        found = self.cached_datastream(station_key, definition.key, aggregation)
        if found is None:
            raise KeyError(f"station {station_key!r} is not registered")
        return found

    def ensure_datastreams(
        self, requests: Iterable[tuple[str, ObservedPropertyDef, Aggregation, str]]
    ) -> None:
        """Create every missing datastream of ``requests`` in one committed transaction.

        Separate from the batch transaction so cached ids stay valid if a batch that needed
        them is rolled back; one transaction for all, because each commit costs an fsync.
        Requests for unregistered stations are skipped (:meth:`cached_datastream` says None).
        """
        with self._lock:
            missing = {
                (station, definition.key, str(aggregation)): (
                    station,
                    definition,
                    aggregation,
                    factor,
                )
                for station, definition, aggregation, factor in requests
                if (station, definition.key, str(aggregation)) not in self._datastreams
            }
        if not missing:
            return
        created: dict[tuple[str, str, str], tuple[int, int]] = {}
        stations: dict[str, tuple[registry.StationEntities, str] | None] = {}
        properties: dict[str, int] = {}
        with self._writer.begin() as conn:
            for key, (station, definition, aggregation, factor) in missing.items():
                if station not in stations:
                    entities = registry.station_entities(conn, station)
                    stations[station] = (
                        None
                        if entities is None
                        else (entities, registry.thing_name(conn, entities.thing_id))
                    )
                known = stations[station]
                if known is None:
                    continue
                entities, thing_name = known
                if definition.key not in properties:
                    properties[definition.key] = registry.ensure_observed_property(conn, definition)
                datastream_id = registry.ensure_datastream(
                    conn,
                    entities=entities,
                    thing_name=thing_name,
                    property_id=properties[definition.key],
                    definition=definition,
                    aggregation=aggregation,
                    factor=factor,
                )
                created[key] = (datastream_id, entities.feature_of_interest_id)
        with self._lock:
            self._datastreams.update(created)

    def cached_datastream(
        self, station_key: str, property_key: str, aggregation: Aggregation
    ) -> tuple[int, int] | None:
        """Ids made known by :meth:`ensure_datastreams`, without touching the database."""
        # No lock: a dict lookup is atomic, and entries are only ever added.
        return self._datastreams.get((station_key, property_key, aggregation))

    def write_batch(
        self, frames: Sequence[FrameRecord], sealer: BatchSealer | None = None
    ) -> BatchSummary:
        """Archive frames and store their observations in one durable transaction (with their
        signed provenance record when a ``sealer`` is given)."""
        with self._writer.begin() as conn:
            return write_batch(conn, frames, sealer)

    def reject_frames(self, shas: Sequence[str], issue: FrameIssue) -> None:
        """Quarantine already archived frames with ``issue``."""
        with self._writer.begin() as conn:
            reject_frames(conn, shas, issue, datetime.now(UTC))

    def pending_frames(self, *, limit: int) -> list[tuple[str, bytes, datetime]]:
        with self.engine.connect() as conn:
            return pending_frames(conn, limit)

    def quarantine(
        self, *, limit: int = 50, code: str | None = None, station: str | None = None
    ) -> list[QuarantineEntry]:
        with self.engine.connect() as conn:
            return queries.quarantine(conn, limit=limit, code=code, station=station)

    def datastream_extent(self, datastream_id: int) -> queries.Extent:
        with self.engine.connect() as conn:
            return queries.datastream_extent(conn, datastream_id)

    def station_stats(self) -> list[StationStats]:
        with self.engine.connect() as conn:
            return queries.station_stats(conn)

    def unattributed_rejections(self) -> int:
        with self.engine.connect() as conn:
            return queries.unattributed_rejections(conn)

    def observation_total(self) -> int:
        with self.engine.connect() as conn:
            return queries.observation_total(conn)

    def frame_content(self, sha256: str) -> bytes | None:
        with self.engine.connect() as conn:
            return queries.frame_content(conn, sha256)

    def connect(self) -> Connection:
        """A raw connection for read-side modules (APIs) that build their own queries."""
        return self.engine.connect()
