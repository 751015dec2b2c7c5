"""Sealing ingest batches: one signed provenance record per batch and adapter, appended to the
hub's log in the batch's own transaction (provenance.md §5.2-§5.5).

The store calls :class:`Sealer` through its :class:`hub.store.sealing.BatchSealer` hook: first
:meth:`Sealer.reserve` (the log entry the record will take, so every observation row is
written with its ``prov_entry``/``prov_leaf``), then :meth:`Sealer.seal` once the rows are
written. Sealing rebuilds each observation's canonical core (:func:`observation_core`), hashes
it into a binding, builds the batch's Merkle root over the bindings, signs the in-toto
statement as a DSSE envelope and appends the envelope to the log: a batch's observations and
its record commit together or not at all.

This is the ingest hot path: per observation it costs one canonical encoding of the core, two
SHA-256 and one Merkle node; everything else is per batch.
"""

from __future__ import annotations

import hashlib
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, select

from adapters.base import Adapter, DeviceAuth
from hub.provenance import dsse, merkle
from hub.provenance.canonical import binding_bytes, canonical_json, core_bytes, utc_text
from hub.provenance.log import StoredLog
from hub.provenance.records import (
    PREDICATE_TYPE,
    Activity,
    AdapterRef,
    AgentRef,
    DeviceRef,
    Digest,
    Envelope,
    IngestPredicate,
    ObservationsSummary,
    RawMessage,
    Statement,
    Subject,
    statement_payload,
)
from hub.store.batches import FrameRecord, ObservationRow
from hub.store.schema import datastreams, observed_properties, prov_log_entries, prov_records
from hub.store.sealing import BatchToSeal

# Hub bookkeeping kept in an observation's parameters that is not part of what was observed:
# the pointer to its record, and the history of values a correction replaced (those values
# are bound by the earlier records the correcting record supersedes).
UNSIGNED_PARAMETERS = frozenset({"auasu:prov", "corrections"})


@dataclass(frozen=True, slots=True)
class HubIdentity:
    """Who seals: the hub and the agency it acts for, under which licence, with which key.

    ``hub.id`` is the hub's stable URI (its public URL when it has one): entity URIs in the
    records (``<hub id>/v1.1/Datastreams(7)``) and archive links are built from it.
    """

    hub: AgentRef
    agency: AgentRef
    license: str
    signing_key: Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class StreamContext:
    """What a core needs of a Datastream: its URI, observed property definition and unit."""

    uri: str
    observed_property: str
    unit: str | None


def entity_uri(hub_id: str, entity_set: str, entity_id: int) -> str:
    """The URI of a SensorThings entity of this hub, as records name it."""
    return f"{hub_id.rstrip('/')}/v1.1/{entity_set}({entity_id})"


def phenomenon_text(start: datetime, end: datetime) -> str:
    """A phenomenon time as a core holds it: an instant, or ``start/end``."""
    return utc_text(start) if start == end else f"{utc_text(start)}/{utc_text(end)}"


def observation_core(
    stream: StreamContext,
    foi_uri: str,
    phenomenon_time: str,
    result: Any,
    *,
    result_time: str | None,
    result_quality: Any,
    valid_time: str | None,
    parameters: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """An observation's canonical core (provenance.md §5.2 ``ObservationCore``) as a dict.

    The same function serves the sealer (from store rows) and the verifier (from harvested STA
    or Features JSON), so both hash exactly the same thing. ``obs_id`` is the stream's URI with
    the phenomenon time as fragment: the store's identity of an observation (one value per
    stream and phenomenon time), the same on every hub that holds a copy.
    """
    core: dict[str, Any] = {
        "obs_id": f"{stream.uri}#{phenomenon_time}",
        "datastream": stream.uri,
        "foi": foi_uri,
        "observed_property": stream.observed_property,
        "phenomenon_time": phenomenon_time,
        "result": result,
    }
    if stream.unit is not None:
        core["unit"] = stream.unit
    if result_time is not None:
        core["result_time"] = result_time
    if result_quality is not None:
        core["result_quality"] = result_quality
    if valid_time is not None:
        core["valid_time"] = valid_time
    if parameters:
        kept = {k: v for k, v in parameters.items() if k not in UNSIGNED_PARAMETERS}
        if kept:
            core["parameters"] = kept
    return core


class Sealer:
    """Implements :class:`hub.store.sealing.BatchSealer` for device ingest."""

    def __init__(
        self,
        identity: HubIdentity,
        log: StoredLog,
        adapters: Mapping[str, Adapter],
        *,
        qc_level: str = "raw",
    ) -> None:
        self.identity = identity
        self.log = log
        self.hub_id = identity.hub.id.rstrip("/")
        self.qc_level = qc_level
        self._adapters = dict(adapters)
        self._adapter_refs: dict[str, AdapterRef] = {}
        self._streams: dict[int, StreamContext] = {}

    def reserve(self, conn: Connection) -> int:
        return self.log.reserve(conn)

    def seal(self, conn: Connection, entry: int, batch: BatchToSeal) -> None:
        ended = datetime.now(UTC)
        frames = list(batch.frames)
        raw_index = {frame.sha256: index for index, frame in enumerate(frames)}
        streams = self._stream_contexts(conn, {sealed.row.datastream_id for sealed in batch.rows})
        lines: list[bytes] = []
        leaves: list[bytes] = []
        sha256 = hashlib.sha256
        leaf_hash = merkle.leaf_hash
        foi_base = f"{self.hub_id}/v1.1/FeaturesOfInterest("
        for sealed in batch.rows:
            row = sealed.row
            core = self._core(row, streams[row.datastream_id], foi_base)
            binding = binding_bytes(
                core["obs_id"], sha256(core_bytes(core)).hexdigest(), raw_index[sealed.frame_sha256]
            )
            lines.append(binding)
            leaves.append(leaf_hash(binding))
        root = merkle.root(leaves)
        record_id = str(uuid.uuid4())
        adapter_name = frames[0].adapter
        predicate = IngestPredicate(
            record_id=record_id,
            hub=self.identity.hub,
            agency=self.identity.agency,
            activity=Activity(
                id=f"{self.hub_id}/prov/activities/{record_id}",
                started_at=min(frame.received_at for frame in frames),
                ended_at=ended,
            ),
            adapter=self._adapter_ref(adapter_name, frames[0].adapter_version),
            devices=self._devices(frames, adapter_name),
            raw_messages=self._raw_messages(frames, adapter_name),
            observations=ObservationsSummary(count=len(leaves), root=Digest(sha256=root.hex())),
            qc_level=self.qc_level,  # type: ignore[arg-type]
            supersedes=self._record_digests(conn, batch.supersedes),
            license=self.identity.license,
        )
        statement = Statement(
            subject=[Subject(name=f"urn:uuid:{record_id}", digest={"sha256": root.hex()})],
            predicateType=PREDICATE_TYPE,
            predicate=predicate,
        )
        envelope = dsse.sign(
            statement_payload(statement), "application/vnd.in-toto+json", self.identity.signing_key
        )
        leaf = envelope_bytes(envelope)
        self.log.append(conn, entry, leaf, record_id, now=ended)
        conn.execute(
            prov_records.insert().values(
                entry=entry,
                record_id=record_id,
                created_at=ended,
                adapter=adapter_name,
                agency=self.identity.agency.name,
                observations=len(leaves),
                root=root,
                bindings=zlib.compress(b"\n".join(lines), 1),
                supersedes=list(batch.supersedes),
            )
        )

    @staticmethod
    def _core(row: ObservationRow, stream: StreamContext, foi_base: str) -> dict[str, Any]:
        return observation_core(
            stream,
            f"{foi_base}{row.feature_of_interest_id})",
            phenomenon_text(row.phenomenon_time_start, row.phenomenon_time_end),
            row.result,
            result_time=utc_text(row.result_time) if row.result_time is not None else None,
            result_quality=row.result_quality,
            valid_time=None,
            parameters=row.parameters,
        )

    def _stream_contexts(self, conn: Connection, ids: set[int]) -> dict[int, StreamContext]:
        missing = ids - self._streams.keys()
        if missing:
            rows = conn.execute(
                select(datastreams.c.id, datastreams.c.unit, observed_properties.c.definition)
                .join(
                    observed_properties,
                    observed_properties.c.id == datastreams.c.observed_property_id,
                )
                .where(datastreams.c.id.in_(sorted(missing)))
            )
            for stream_id, unit, definition in rows:
                symbol = (unit or {}).get("symbol") if isinstance(unit, dict) else None
                self._streams[int(stream_id)] = StreamContext(
                    entity_uri(self.hub_id, "Datastreams", int(stream_id)), definition, symbol
                )
        return {stream_id: self._streams[stream_id] for stream_id in ids}

    def _adapter_ref(self, name: str, version: str) -> AdapterRef:
        found = self._adapter_refs.get(name)
        if found is None or found.version != version:
            adapter = self._adapters.get(name)
            config = dict(adapter.provenance_config()) if adapter is not None else {}
            digest = hashlib.sha256(canonical_json(config)).hexdigest()
            found = AdapterRef(name=name, version=version, config=Digest(sha256=digest))
            self._adapter_refs[name] = found
        return found

    def _devices(self, frames: Sequence[FrameRecord], adapter_name: str) -> list[DeviceRef]:
        auth = self._auth(adapter_name)
        stations = dict.fromkeys(frame.station_key for frame in frames if frame.station_key)
        return [
            DeviceRef(id=self.station_uri(key), auth=auth, assurance=assurance(auth))
            for key in stations
        ]

    def _raw_messages(self, frames: Sequence[FrameRecord], adapter_name: str) -> list[RawMessage]:
        adapter = self._adapters.get(adapter_name)
        media_type = adapter.media_type if adapter is not None else "application/octet-stream"
        stations = list(dict.fromkeys(frame.station_key for frame in frames if frame.station_key))
        return [
            RawMessage(
                digest=Digest(sha256=frame.sha256),
                size=len(frame.content),
                media_type=media_type,
                received_at=frame.received_at,
                channel=frame.channel,
                device=stations.index(frame.station_key) if frame.station_key else None,
                archive=f"{self.hub_id}/raw/sha256/{frame.sha256}",
            )
            for frame in frames
        ]

    def _auth(self, adapter_name: str) -> DeviceAuth:
        adapter = self._adapters.get(adapter_name)
        return adapter.device_auth if adapter is not None else "none"

    def station_uri(self, station_key: str) -> str:
        return f"{self.hub_id}/oapi/collections/stations/items/{station_key}"

    @staticmethod
    def _record_digests(conn: Connection, entries: Sequence[int]) -> list[Digest]:
        if not entries:
            return []
        rows = conn.execute(
            select(prov_log_entries.c.idx, prov_log_entries.c.leaf)
            .where(prov_log_entries.c.idx.in_(list(entries)))
            .order_by(prov_log_entries.c.idx)
        )
        return [Digest(sha256=hashlib.sha256(bytes(leaf)).hexdigest()) for _idx, leaf in rows]


def assurance(auth: DeviceAuth) -> Literal["L1", "L2", "L3"]:
    """The assurance level a device authentication gives (provenance.md §5.1)."""
    if auth == "device-sig":
        return "L3"
    return "L2" if auth == "mtls" else "L1"


def envelope_bytes(envelope: Envelope) -> bytes:
    """A record's log leaf: the canonical bytes of its envelope (its digest names the record)."""
    return canonical_json(envelope.model_dump(mode="json", exclude_none=True))
